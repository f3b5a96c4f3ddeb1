//! The address of an SMP queue for notifications: the SMP server and the queue's notifier id.
//!
//! ```text
//! smp-queue-ntf      = smp-server notifier-id            ; binary
//! notifier-id        = short-bytes
//! smp-queue-ntf-text = smp-server-text "/" base64url     ; text
//! ```
//!
//! Both decoders apply the reference's `updateSMPServerHosts`: a server address with exactly
//! one host that is one of the preset `smpN.simplex.im` relays gets that relay's onion host
//! appended ([`update_smp_server_hosts`]). Encoders write the server as it is.

use alloc::vec::Vec;

use smallvec::SmallVec;
use smp_proto::coding::{put_short, Decode, Encode, Reader};
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::server::SmpServer;
use smp_proto::text::put_base64url;

use crate::command::{compact, inline_bytes};

pub use crate::new_subscription_ref::SmpQueueNtfRef;

/// Preset SMP relays and their onion hosts (defined once, in `smp_proto::server`).
pub use smp_proto::server::EXTRA_SMP_SERVER_HOSTS as PRESET_ONION_HOSTS;

/// Adds the onion host of a preset relay (the reference's `updateSMPServerHosts`); see
/// [`SmpServer::with_extra_preset_hosts`].
pub fn update_smp_server_hosts(server: SmpServer) -> SmpServer {
    server.with_extra_preset_hosts()
}

/// An SMP queue address for notifications.
///
/// ```text
/// binary: smp-server short-bytes                ; notifier id
/// text:   smp-server-text "/" base64url          ; notifier id
/// ```
///
/// The notifier id is at most 255 bytes by construction. An empty notifier id encodes in both
/// forms, but only the binary form decodes it back (the text form needs at least one
/// base64url character). Ids up to [`SmpQueueNtf::INLINE_ID_LEN`] bytes are held inline.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SmpQueueNtf {
    /// The SMP relay.
    pub server: SmpServer,
    pub(crate) notifier_id: SmallVec<[u8; SmpQueueNtf::INLINE_ID_LEN]>,
}

impl SmpQueueNtf {
    /// Longest notifier id (1-byte length).
    pub const MAX_ID_LEN: usize = 255;

    /// Longest notifier id held without a heap allocation (the reference's ids have 24 bytes).
    pub const INLINE_ID_LEN: usize = 24;

    /// A queue address; `None` when `notifier_id` is longer than 255 bytes. The server is kept
    /// as given (no preset host expansion).
    pub fn new(server: SmpServer, notifier_id: impl Into<Vec<u8>>) -> Option<Self> {
        let notifier_id = notifier_id.into();
        (notifier_id.len() <= Self::MAX_ID_LEN).then(|| Self {
            server,
            notifier_id: compact(notifier_id),
        })
    }

    /// A queue address from a decoded server and a notifier id of short bytes (at most 255
    /// bytes by the length prefix).
    #[inline]
    pub(crate) fn from_short(server: SmpServer, notifier_id: &[u8]) -> Self {
        Self {
            server,
            notifier_id: inline_bytes(notifier_id),
        }
    }

    /// The queue's notifier id.
    pub fn notifier_id(&self) -> &[u8] {
        &self.notifier_id
    }

    /// Appends the text form.
    ///
    /// ```text
    /// smp-queue-ntf-text = smp-server-text "/" base64url
    /// ```
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        self.server.put_text(out);
        out.push(b'/');
        put_base64url(out, &self.notifier_id);
    }

    /// The text form as a new vector.
    pub fn to_text(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode_text(&mut v);
        v
    }

    /// Parses the text form from the front of `r`, expanding preset hosts.
    ///
    /// # Errors
    /// The server's errors; `Truncated`/`BadValue` when `/` or the id is missing; `BadBase64`
    /// for an id that does not decode; `BadLength` for an id over 255 bytes (a cap the
    /// reference's text parser does not have; its binary form could not carry it).
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let server = update_smp_server_hosts(SmpServer::read_text(r)?);
        r.expect(b'/', "'/' before the notifier id")?;
        let at = r.offset();
        let notifier_id = r.base64url("notifier id")?;
        if notifier_id.len() > Self::MAX_ID_LEN {
            return Err(DecodeError::new(
                DecodeErrorKind::BadLength,
                at,
                "notifier id of at most 255 bytes",
            ));
        }
        Ok(Self {
            server,
            notifier_id: compact(notifier_id),
        })
    }

    /// Parses a text form that must span the whole input.
    ///
    /// # Errors
    /// As [`SmpQueueNtf::parse_text`], or `TrailingBytes`.
    pub fn from_text(text: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(text);
        let q = Self::parse_text(&mut r)?;
        r.finish()?;
        Ok(q)
    }
}

impl Encode for SmpQueueNtf {
    fn encode(&self, out: &mut Vec<u8>) {
        self.server.encode(out);
        put_short(out, &self.notifier_id);
    }
}

impl<'a> Decode<'a> for SmpQueueNtf {
    /// The server (with preset hosts expanded), then the notifier id. [`SmpQueueNtfRef`]
    /// reads the same bytes with the same errors.
    #[inline]
    fn decode(r: &mut Reader<'a>) -> DecodeResult<Self> {
        // the address is built where it stays: it is too large to move cheaply
        let mut server = SmpServer::decode(r)?;
        server.add_extra_preset_hosts();
        let notifier_id = r.short_bytes("notifier id")?;
        Ok(Self {
            server,
            notifier_id: inline_bytes(notifier_id),
        })
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for SmpQueueNtf {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let server = <SmpServer as arbitrary::Arbitrary>::arbitrary(u)?;
        let n = u.int_in_range(0..=255usize)?;
        let notifier_id = u.bytes(n.min(u.len()))?;
        Ok(Self::from_short(server, notifier_id))
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON form: `{"server": SMP_SERVER, "notifier_id": HEX}`.
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct QueueJson {
        server: SmpServer,
        #[serde(with = "smp_proto::json::hex_bytes")]
        notifier_id: Vec<u8>,
    }

    impl Serialize for SmpQueueNtf {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            QueueJson {
                server: self.server.clone(),
                notifier_id: self.notifier_id.to_vec(),
            }
            .serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for SmpQueueNtf {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = QueueJson::deserialize(d)?;
            SmpQueueNtf::new(j.server, j.notifier_id)
                .ok_or_else(|| D::Error::custom("notifier id longer than 255 bytes"))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::string::String;
    use proptest::prelude::*;
    use smp_proto::server::TransportHost;

    pub(crate) fn server(hosts: &[&str], port: &str, key_hash: &str) -> SmpServer {
        let hosts = hosts
            .iter()
            .map(|h| TransportHost::parse(h.as_bytes()).unwrap())
            .collect();
        SmpServer::new(
            hosts,
            port,
            smp_proto::server::KeyHash::new(hex::decode(key_hash).unwrap()).unwrap(),
        )
        .unwrap()
    }

    pub(crate) fn queue(
        hosts: &[&str],
        port: &str,
        key_hash: &str,
        notifier_id: &str,
    ) -> SmpQueueNtf {
        SmpQueueNtf::new(
            server(hosts, port, key_hash),
            hex::decode(notifier_id).unwrap(),
        )
        .unwrap()
    }

    const SMP8_ONION: &str = "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion";

    fn check_text(text: &str, canonical: Option<&str>, expected: &SmpQueueNtf) {
        assert_eq!(
            &SmpQueueNtf::from_text(text.as_bytes()).unwrap(),
            expected,
            "{text}"
        );
        assert_eq!(expected.to_text(), canonical.unwrap_or(text).as_bytes());
    }

    #[test]
    fn decode_smp_queue_text_vectors() {
        // smp_queue/str/preset_smp8/1/p: the preset relay gets its onion host
        check_text(
            "smp://IUpVSH44PCls6Xj5t_bdLpLx-BFzzIagSEtw6j9AoHU=@smp8.simplex.im:5223/WbMxmAroFhkr0fplt5kbOe5Wd_lWuboE",
            Some("smp://IUpVSH44PCls6Xj5t_bdLpLx-BFzzIagSEtw6j9AoHU=@smp8.simplex.im,beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion:5223/WbMxmAroFhkr0fplt5kbOe5Wd_lWuboE"),
            &queue(
                &["smp8.simplex.im", SMP8_ONION],
                "5223",
                "214a55487e383c296ce978f9b7f6dd2e92f1f81173cc86a0484b70ea3f40a075",
                "59b331980ae816192bd1fa65b7991b39ee5677f956b9ba04",
            ),
        );
        // smp_queue/str/unpadded_id/p
        check_text(
            "smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com/YWJjZA",
            Some("smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com/YWJjZA=="),
            &queue(
                &["a.example.com"],
                "",
                "991c6d7a4c975193021b6484e671e875ff9da755acb409755d9fef3853f4f286",
                "61626364",
            ),
        );
        // smp_queue/str/domain/1/p
        check_text(
            "smp://pbJx8ZCj16yDil_nsexOhBJEFxLEg24FHKQW5J6rFjk=@smp.example.com:443/PuzTl632FZFKj2y60_IFrM_l4w1uBXCv",
            None,
            &queue(
                &["smp.example.com"],
                "443",
                "a5b271f190a3d7ac838a5fe7b1ec4e8412441712c4836e051ca416e49eab1639",
                "3eecd397adf615914a8f6cbad3f205accfe5e30d6e0570af",
            ),
        );
        // smp_queue/str/ipv4/1/p
        check_text(
            "smp://YKipUK92j0OdMplZZHzM6kk6HDThqb62sqY9z_9durM=@192.168.1.10:7001/xpnPenaRivAwH52zcO1_VPW1FvFSGacG",
            None,
            &queue(
                &["192.168.1.10"],
                "7001",
                "60a8a950af768f439d329959647cccea493a1c34e1a9beb6b2a63dcfff5dbab3",
                "c699cf7a76918af0301f9db370ed7f54f5b516f15219a706",
            ),
        );
        // smp_queue/str/ipv6/1/p
        check_text(
            "smp://a7CxWRwiFb_1kv2shlV-7maUwaCXaDJTHz2ryXdwODY=@2001:db8::1/prQXQwjKRWPCwMLLpeCO-ln4b4upkZsF",
            None,
            &queue(
                &["2001:db8::1"],
                "",
                "6bb0b1591c2215bff592fdac86557eee6694c1a0976832531f3dabc977703836",
                "a6b4174308ca4563c2c0c2cba5e08efa59f86f8ba9919b05",
            ),
        );
        // smp_queue/str/domain_onion/1/p
        check_text(
            "smp://A_jwkMI3-_GsOVTz4JfB20hr9UuJU5eQ_PXVC50GCs4=@relay1.simplex.example,jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion:7001/eoXQT4tU9uw51nQoaap23jm5db5s0I9M",
            None,
            &queue(
                &["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"],
                "7001",
                "03f8f090c237fbf1ac3954f3e097c1db486bf54b89539790fcf5d50b9d060ace",
                "7a85d04f8b54f6ec39d6742869aa76de39b975be6cd08f4c",
            ),
        );
        // smp_queue/str/three_hosts/1/p
        check_text(
            "smp://_Bjvv9VflXhW5syzsGZ7wg_fw12-gQz0L7hDs9KGGwM=@a.example.org,::1,10.0.0.1/6cYI1kvLxRw1yU0p-veoVrGgyEOidNzA",
            None,
            &queue(
                &["a.example.org", "::1", "10.0.0.1"],
                "",
                "fc18efbfd55f957856e6ccb3b0667bc20fdfc35dbe810cf42fb843b3d2861b03",
                "e9c608d64bcbc51c35c94d29faf7a856b1a0c843a274dcc0",
            ),
        );
    }

    #[test]
    fn rejects_invalid_smp_queue_text() {
        // smp_queue/str/invalid/no_id/p
        assert!(SmpQueueNtf::from_text(
            b"smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com"
        )
        .is_err());
        // smp_queue/str/invalid/bad_id/p
        assert!(SmpQueueNtf::from_text(
            b"smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com/#"
        )
        .is_err());
        // an ntf:// server is not an SMP server
        assert!(SmpQueueNtf::from_text(
            b"ntf://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com/YWJj"
        )
        .is_err());
        assert_eq!(
            SmpQueueNtf::from_text(
                b"smp://mRxtekyXUZMCG2SE5nHodf-dp1WstAl1XZ_vOFP08oY=@a.example.com/YWJj "
            )
            .unwrap_err()
            .kind,
            DecodeErrorKind::TrailingBytes
        );
    }

    #[test]
    fn preset_hosts_expand_only_single_host() {
        let kh = "214a55487e383c296ce978f9b7f6dd2e92f1f81173cc86a0484b70ea3f40a075";
        for (domain, onion) in PRESET_ONION_HOSTS {
            let s = update_smp_server_hosts(server(&[domain], "", kh));
            assert_eq!(s, server(&[domain, onion], "", kh));
        }
        // already two hosts: unchanged
        let two = server(&["smp8.simplex.im", "a.example.com"], "5223", kh);
        assert_eq!(update_smp_server_hosts(two.clone()), two);
        // not a preset
        let other = server(&["smp7.simplex.im"], "", kh);
        assert_eq!(update_smp_server_hosts(other.clone()), other);
    }

    #[test]
    fn binary_applies_preset_hosts() {
        // the queue part of ntf/command/SNEW/preset_smp8/ed25519/1/p
        let hex_in = "010f736d70382e73696d706c65782e696d03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f8";
        let canonical = "020f736d70382e73696d706c65782e696d3e6265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e03343433205ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee18ff7d8448109bf51e659c77b4027d7507b9c94596692520f8";
        let q = queue(
            &["smp8.simplex.im", SMP8_ONION],
            "443",
            "5ab6f405ba7e2ff9c24b9b9f6a57ff0942fb870bf9fdd98b7e12f56df7dd1dee",
            "ff7d8448109bf51e659c77b4027d7507b9c94596692520f8",
        );
        assert_eq!(
            SmpQueueNtf::decode_exact(&hex::decode(hex_in).unwrap()).unwrap(),
            q
        );
        assert_eq!(q.to_bytes(), hex::decode(canonical).unwrap());
        assert_eq!(
            SmpQueueNtf::decode_exact(&hex::decode(canonical).unwrap()).unwrap(),
            q
        );
    }

    pub(crate) fn smp_server() -> impl Strategy<Value = SmpServer> {
        let host = prop_oneof![
            any::<[u8; 4]>().prop_map(TransportHost::Ipv4),
            "[a-z][a-z0-9]{0,10}\\.example\\.com".prop_map(TransportHost::Domain),
            "[a-z2-7]{56}".prop_map(|s| TransportHost::Onion(s + ".onion")),
            Just(TransportHost::Domain("smp5.simplex.im".into())),
        ];
        (
            prop::collection::vec(host, 1..4),
            prop_oneof![
                Just(String::new()),
                (0u16..).prop_map(|p| alloc::format!("{p}"))
            ],
            prop::collection::vec(any::<u8>(), 1..40),
        )
            .prop_map(|(hosts, port, kh)| {
                SmpServer::new(hosts, port, smp_proto::server::KeyHash::new(kh).unwrap()).unwrap()
            })
    }

    /// Queues as decoders produce them (preset hosts already expanded), with non-empty ids.
    pub(crate) fn smp_queue() -> impl Strategy<Value = SmpQueueNtf> {
        (smp_server(), prop::collection::vec(any::<u8>(), 1..=255))
            .prop_map(|(s, id)| SmpQueueNtf::new(update_smp_server_hosts(s), id).unwrap())
    }

    proptest! {
        #[test]
        fn smp_queue_binary_round_trip(q in smp_queue()) {
            prop_assert_eq!(SmpQueueNtf::decode_exact(&q.to_bytes()).unwrap(), q);
        }

        #[test]
        fn smp_queue_text_round_trip(q in smp_queue()) {
            prop_assert_eq!(SmpQueueNtf::from_text(&q.to_text()).unwrap(), q);
        }

        #[test]
        fn smp_queue_text_never_panics(s in "smp://[A-Za-z0-9_=-]{0,8}@[a-z0-9.,:/=-]{0,30}") {
            let _ = SmpQueueNtf::from_text(s.as_bytes());
        }
    }
    /// The conformance vectors of type `smp_queue.str`: (name, version, hex, canonical hex, value JSON or "" when invalid).
    #[cfg(feature = "serde")]
    const VECTORS: &[(&str, u16, &str, &str, &str)] = &[
        ("smp_queue/str/preset_smp8/1/p", 0, "736d703a2f2f495570565348343450436c7336586a35745f62644c704c782d42467a7a49616753457477366a39416f48553d40736d70382e73696d706c65782e696d3a353232332f57624d786d41726f46686b723066706c74356b624f653557645f6c5775626f45", "736d703a2f2f495570565348343450436c7336586a35745f62644c704c782d42467a7a49616753457477366a39416f48553d40736d70382e73696d706c65782e696d2c6265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e3a353232332f57624d786d41726f46686b723066706c74356b624f653557645f6c5775626f45", r#"{"notifier_id": "59b331980ae816192bd1fa65b7991b39ee5677f956b9ba04", "server": {"hosts": ["smp8.simplex.im", "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"], "key_hash": "214a55487e383c296ce978f9b7f6dd2e92f1f81173cc86a0484b70ea3f40a075", "port": "5223"}}"#),
        ("smp_queue/str/unpadded_id/p", 0, "736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40612e6578616d706c652e636f6d2f59574a6a5a41", "736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40612e6578616d706c652e636f6d2f59574a6a5a413d3d", r#"{"notifier_id": "61626364", "server": {"hosts": ["a.example.com"], "key_hash": "991c6d7a4c975193021b6484e671e875ff9da755acb409755d9fef3853f4f286", "port": ""}}"#),
        ("smp_queue/str/domain/1/p", 0, "736d703a2f2f70624a78385a436a31367944696c5f6e7365784f68424a4546784c4567323446484b5157354a3672466a6b3d40736d702e6578616d706c652e636f6d3a3434332f50757a546c363332465a464b6a327936305f4946724d5f6c3477317542584376", "", r#"{"notifier_id": "3eecd397adf615914a8f6cbad3f205accfe5e30d6e0570af", "server": {"hosts": ["smp.example.com"], "key_hash": "a5b271f190a3d7ac838a5fe7b1ec4e8412441712c4836e051ca416e49eab1639", "port": "443"}}"#),
        ("smp_queue/str/ipv4/1/p", 0, "736d703a2f2f594b6970554b39326a304f644d706c5a5a487a4d366b6b364844546871623632737159397a5f396475724d3d403139322e3136382e312e31303a373030312f78706e50656e6152697641774835327a634f315f565057314676465347616347", "", r#"{"notifier_id": "c699cf7a76918af0301f9db370ed7f54f5b516f15219a706", "server": {"hosts": ["192.168.1.10"], "key_hash": "60a8a950af768f439d329959647cccea493a1c34e1a9beb6b2a63dcfff5dbab3", "port": "7001"}}"#),
        ("smp_queue/str/ipv6/1/p", 0, "736d703a2f2f613743785752776946625f316b763273686c562d376d61557761435861444a54487a3272795864774f44593d40323030313a6462383a3a312f7072515851776a4b52575043774d4c4c7065434f2d6c6e34623475706b5a7346", "", r#"{"notifier_id": "a6b4174308ca4563c2c0c2cba5e08efa59f86f8ba9919b05", "server": {"hosts": ["2001:db8::1"], "key_hash": "6bb0b1591c2215bff592fdac86557eee6694c1a0976832531f3dabc977703836", "port": ""}}"#),
        ("smp_queue/str/domain_onion/1/p", 0, "736d703a2f2f415f6a776b4d49332d5f47734f56547a344a6642323068723955754a553565515f505856433530474373343d4072656c6179312e73696d706c65782e6578616d706c652c6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e3a373030312f656f58515434745539757735316e516f61617032336a6d35646235733049394d", "", r#"{"notifier_id": "7a85d04f8b54f6ec39d6742869aa76de39b975be6cd08f4c", "server": {"hosts": ["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"], "key_hash": "03f8f090c237fbf1ac3954f3e097c1db486bf54b89539790fcf5d50b9d060ace", "port": "7001"}}"#),
        ("smp_queue/str/three_hosts/1/p", 0, "736d703a2f2f5f426a76763956666c5868573573797a73475a3777675f667731322d67517a304c37684473394b4747774d3d40612e6578616d706c652e6f72672c3a3a312c31302e302e302e312f36635949316b764c78527731795530702d76656f5672476779454f69644e7a41", "", r#"{"notifier_id": "e9c608d64bcbc51c35c94d29faf7a856b1a0c843a274dcc0", "server": {"hosts": ["a.example.org", "::1", "10.0.0.1"], "key_hash": "fc18efbfd55f957856e6ccb3b0667bc20fdfc35dbe810cf42fb843b3d2861b03", "port": ""}}"#),
        ("smp_queue/str/invalid/no_id/p", 0, "736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40612e6578616d706c652e636f6d", "", r#""#),
        ("smp_queue/str/invalid/bad_id/p", 0, "736d703a2f2f6d527874656b7958555a4d4347325345356e486f64662d647031577374416c31585a5f764f465030386f593d40612e6578616d706c652e636f6d2f23", "", r#""#),
    ];

    #[cfg(feature = "serde")]
    #[test]
    fn json_vectors() {
        crate::test_vectors::check_json_vectors(
            VECTORS,
            smp_proto::version::Version(0),
            |b, _| SmpQueueNtf::from_text(b),
            |x, _| x.to_text(),
        );
    }
}
