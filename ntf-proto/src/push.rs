//! The message notifications carried, encrypted, inside a push notification to the device.
//!
//! ```text
//! pn-messages = pn-message *(";" pn-message)
//! pn-message  = smp-queue-ntf-text " " ts " " nonce " " enc-meta
//! ts          = ["-" / "+"] 1*DIGIT      ; seconds since the Unix epoch (int64, wrapping)
//! nonce       = base64url                 ; padded with zeros or cut to 24 bytes
//! enc-meta    = base64url                 ; encrypted message metadata, not empty
//! ```
//!
//! The list is separated by `;` rather than `,` because the host list inside a server address
//! already uses commas.

use alloc::vec::Vec;

use smp_proto::coding::Reader;
use smp_proto::error::{DecodeError, DecodeErrorKind, DecodeResult};
use smp_proto::text::{put_base64url, put_decimal};

use crate::queue::SmpQueueNtf;

pub use smp_proto::crypto::{cb_nonce, NONCE_LEN};

/// One message notification: which queue got a message, when, and its encrypted metadata
/// (as received in the SMP `NMSG`).
///
/// ```text
/// pn-message = smp-queue-ntf-text " " ts " " nonce " " enc-meta
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PnMessageData {
    /// The SMP queue the message arrived in.
    pub queue: SmpQueueNtf,
    /// When the notification server received the message, seconds since the Unix epoch.
    pub ts: i64,
    /// The nonce of the encrypted metadata.
    pub nonce: [u8; NONCE_LEN],
    enc_meta: Vec<u8>,
}

impl PnMessageData {
    /// A message notification; `None` when `enc_meta` is empty (its text form could not be parsed).
    pub fn new(
        queue: SmpQueueNtf,
        ts: i64,
        nonce: [u8; NONCE_LEN],
        enc_meta: impl Into<Vec<u8>>,
    ) -> Option<Self> {
        let enc_meta = enc_meta.into();
        (!enc_meta.is_empty()).then_some(Self {
            queue,
            ts,
            nonce,
            enc_meta,
        })
    }

    /// The encrypted message metadata (never empty).
    pub fn enc_meta(&self) -> &[u8] {
        &self.enc_meta
    }

    /// Appends the text form.
    ///
    /// ```text
    /// pn-message = smp-queue-ntf-text " " ts " " nonce " " enc-meta
    /// ```
    pub fn encode_text(&self, out: &mut Vec<u8>) {
        self.queue.encode_text(out);
        out.push(b' ');
        put_decimal(out, self.ts);
        out.push(b' ');
        put_base64url(out, &self.nonce);
        out.push(b' ');
        put_base64url(out, &self.enc_meta);
    }

    /// Parses the text form from the front of `r`.
    ///
    /// # Errors
    /// The queue's errors; `Truncated`/`BadValue` for a missing separator, number or
    /// base64url token; `BadBase64` for base64url that does not decode.
    pub fn parse_text(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let queue = SmpQueueNtf::parse_text(r)?;
        r.space()?;
        let ts = r.signed_decimal_wrapping("timestamp")?;
        r.space()?;
        let nonce = cb_nonce(&r.base64url("nonce")?);
        r.space()?;
        // a base64url token has at least one character, so it decodes to at least one byte
        let enc_meta = r.base64url("encrypted message metadata")?;
        Ok(Self {
            queue,
            ts,
            nonce,
            enc_meta,
        })
    }
}

/// A non-empty list of message notifications (the reference's `encodePNMessages` and
/// `pnMessagesP`).
///
/// ```text
/// pn-messages = pn-message *(";" pn-message)
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PnMessages(Vec<PnMessageData>);

impl PnMessages {
    /// A list; `None` when empty.
    pub fn new(messages: Vec<PnMessageData>) -> Option<Self> {
        (!messages.is_empty()).then_some(Self(messages))
    }

    /// The messages (at least one).
    pub fn messages(&self) -> &[PnMessageData] {
        &self.0
    }

    /// The messages, by value.
    pub fn into_vec(self) -> Vec<PnMessageData> {
        self.0
    }

    /// Appends the text form: the messages joined by `;`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(b';');
            }
            m.encode_text(out);
        }
    }

    /// The text form as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// Parses a text form that must span the whole input.
    ///
    /// # Errors
    /// A message's error (also for a `;` not followed by a message), or `TrailingBytes`.
    pub fn decode(bytes: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let mut v = Vec::new();
        v.push(PnMessageData::parse_text(&mut r)?);
        while r.eat(b';') {
            v.push(PnMessageData::parse_text(&mut r)?);
        }
        if !r.is_empty() {
            return Err(DecodeError::new(
                DecodeErrorKind::TrailingBytes,
                r.offset(),
                "';' or end of input",
            ));
        }
        Ok(Self(v))
    }
}

#[cfg(feature = "arbitrary")]
mod arb {
    use super::*;
    use arbitrary::{Arbitrary, Result, Unstructured};

    impl<'a> Arbitrary<'a> for PnMessageData {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let mut queue = SmpQueueNtf::arbitrary(u)?;
            if queue.notifier_id().is_empty() {
                // the text form needs a non-empty notifier id to parse back
                queue = SmpQueueNtf::new(queue.server.clone(), alloc::vec![0]).unwrap_or(queue);
            }
            let ts = i64::arbitrary(u)?;
            let nonce = <[u8; NONCE_LEN]>::arbitrary(u)?;
            let mut enc_meta = Vec::<u8>::arbitrary(u)?;
            if enc_meta.is_empty() {
                enc_meta.push(0);
            }
            Ok(Self {
                queue,
                ts,
                nonce,
                enc_meta,
            })
        }
    }

    impl<'a> Arbitrary<'a> for PnMessages {
        fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
            let first = PnMessageData::arbitrary(u)?;
            let mut v = Vec::<PnMessageData>::arbitrary(u)?;
            v.insert(0, first);
            Ok(Self(v))
        }
    }
}

#[cfg(feature = "serde")]
mod json {
    //! JSON form (`pn.messages`): an array of
    //! `{"queue": SMP_QUEUE, "ts": SECONDS, "nonce": HEX, "enc_meta": HEX}`.
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct MessageJson {
        queue: SmpQueueNtf,
        ts: i64,
        #[serde(with = "smp_proto::json::hex_array")]
        nonce: [u8; NONCE_LEN],
        #[serde(with = "smp_proto::json::hex_bytes")]
        enc_meta: Vec<u8>,
    }

    impl Serialize for PnMessageData {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let j = MessageJson {
                queue: self.queue.clone(),
                ts: self.ts,
                nonce: self.nonce,
                enc_meta: self.enc_meta.clone(),
            };
            j.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for PnMessageData {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let j = MessageJson::deserialize(d)?;
            PnMessageData::new(j.queue, j.ts, j.nonce, j.enc_meta)
                .ok_or_else(|| D::Error::custom("empty enc_meta"))
        }
    }

    impl Serialize for PnMessages {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            self.0.serialize(s)
        }
    }

    impl<'de> Deserialize<'de> for PnMessages {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            PnMessages::new(Vec::deserialize(d)?)
                .ok_or_else(|| D::Error::custom("empty message list"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::tests::{queue, smp_queue};
    use proptest::prelude::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    fn msg(q: SmpQueueNtf, ts: i64, nonce: &str, enc_meta: &str) -> PnMessageData {
        PnMessageData::new(q, ts, h(nonce), hex::decode(enc_meta).unwrap()).unwrap()
    }

    fn check(text: &str, canonical: Option<&str>, expected: &[PnMessageData]) {
        let m = PnMessages::decode(text.as_bytes()).unwrap();
        assert_eq!(m.messages(), expected);
        assert_eq!(m.to_bytes(), canonical.unwrap_or(text).as_bytes());
    }

    const KH: &str = "518631ad25600cf5e1331ab8b970b87507d4e5f5904fc30c2b9f433955f50d2f";
    const NONCE: &str = "6e6f6e63652d6e6f6e63652d6e6f6e63652d6e6f6e636521";

    #[test]
    fn decode_pn_messages_vectors() {
        // pn/messages/preset_host_expanded/p
        check(
            "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp4.simplex.im/bmlk 1 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==",
            Some("smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp4.simplex.im,o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion/bmlk 1 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ=="),
            &[msg(
                queue(&["smp4.simplex.im", "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion"], "", KH, "6e6964"),
                1,
                NONCE,
                "6d657461",
            )],
        );
        // pn/messages/negative_ts/p
        check(
            "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com:5223/bm90aWZpZXItaWQtMDEyMzQ1Njc4OWFi -5 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==",
            None,
            &[msg(queue(&["smp.example.com"], "5223", KH, "6e6f7469666965722d69642d303132333435363738396162"), -5, NONCE, "6d657461")],
        );
        // pn/messages/count1/1/p
        check(
            "smp://V_ctMg6tjUY5Sn-wS_Ddf6YnwaR_VrLkDhwKAEnEB5s=@relay1.simplex.example,jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion:7001/a5AE51tNu1X6eEzk7cSd6G3oIRxKIHUP 1773727142 JMaRoPJrixHL0PfdF0aBthkEDdURAMNE 8dzVPpCUdOzUPEbrhrdCTJQgUysSnhrs6EFb9LukmrHOLcacpqhaTjHoCPRu7Jqt-uAAliO5bhLF11ty",
            None,
            &[msg(
                queue(
                    &["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"],
                    "7001",
                    "57f72d320ead8d46394a7fb04bf0dd7fa627c1a47f56b2e40e1c0a0049c4079b",
                    "6b9004e75b4dbb55fa784ce4edc49de86de8211c4a20750f",
                ),
                1773727142,
                "24c691a0f26b8b11cbd0f7dd174681b619040dd51100c344",
                "f1dcd53e909474ecd43c46eb86b7424c9420532b129e1aece8415bf4bba49ab1ce2dc69ca6a85a4e31e808f46eec9aadfae0009623b96e12c5d75b72",
            )],
        );
        // pn/messages/count2/1/p
        check(
            "smp://Un6-iohzlXlGBjnY3NJ8wV3EidCmRl9XFdIHIx28WJQ=@relay1.simplex.example,jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion:5223/H0vbwBpXcCREPcGm24ICFjwRIkmTL7Gl 1778225552 3C3mMaTytKtDpkv8rNmJgitvinv6OGYP dfpnpEka8m6KSsuySeJ4fgBNEJwgZyyGAyJmLkMqkrHSO5R9GjH481Wev9EqfvSQXyOb;smp://fUc13Q0RT2xs0hGr6kOo8n8dRC-1ZfsrqVpqSIXy49M=@beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion:7001/8cdrwrOnaFRVTG1B2OuwSdVHEmsj0Cdq 1724897865 QUiuLg_6UMdwZx3aqwyw4Jp4MkZISy8t _qcLKXrRhKI7mv3yqrFeAx1PSJ1sfoQAXhLXxH9b5ZfmmhZwXn1HbkmTE_hLH-DZn7rkARpgj4Lt-m_UDNqkCgjSaoDgeJKesb_XK7t9qwclKo1vNMlw217dSiOmv5XR1DmWU1mmMXXp5w==",
            None,
            &[
                msg(
                    queue(
                        &["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"],
                        "5223",
                        "527ebe8a88739579460639d8dcd27cc15dc489d0a6465f5715d207231dbc5894",
                        "1f4bdbc01a577024443dc1a6db8202163c112249932fb1a5",
                    ),
                    1778225552,
                    "dc2de631a4f2b4ab43a64bfcacd989822b6f8a7bfa38660f",
                    "75fa67a4491af26e8a4acbb249e2787e004d109c20672c860322662e432a92b1d23b947d1a31f8f3559ebfd12a7ef4905f239b",
                ),
                msg(
                    queue(
                        &["beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"],
                        "7001",
                        "7d4735dd0d114f6c6cd211abea43a8f27f1d442fb565fb2ba95a6a4885f2e3d3",
                        "f1c76bc2b3a76854554c6d41d8ebb049d547126b23d0276a",
                    ),
                    1724897865,
                    "4148ae2e0ffa50c770671ddaab0cb0e09a783246484b2f2d",
                    "fea70b297ad184a23b9afdf2aab15e031d4f489d6c7e84005e12d7c47f5be597e69a16705e7d476e499313f84b1fe0d99fbae4011a608f82edfa6fd40cdaa40a08d26a80e078929eb1bfd72bbb7dab07252a8d6f34c970db5edd4a23a6bf95d1d439965359a63175e9e7",
                ),
            ],
        );
        // pn/messages/count3/1/p
        check(
            "smp://ezVMZbb-sL_ZqjbRixTgTbqndULjlCF59blmHCVYpOg=@192.168.1.10/8LVGHOOcn8gZeOXbaglN4qv3XP3uPIXp 1726777767 FMo6RQGfpA1QSw8-QeQDlb8puorNEJTV qqfUlVLQiMON3PfLgErX0shSkE26_Ghq9zz0KpY5fbX1p7Ksa79Abtb5TUgMQDQ1-jBEU2WGxuEX;smp://5-yYn1jrPMrC3knymppImcQ2MXzLF0ecLyJSVEKsE1A=@a.example.org,::1,10.0.0.1:7001/g5iaA8xtduIM7ALWsbBDXc39aeVhLrbw 1770635281 Yux0bHV3kiJQk_DsxMPIS33N6LHLHD4l iGy6gvSnBY4=;smp://HqfQ5y5Dh5gAN3_OHzcYIW4RXojSBDz3fnbPWk5H4b0=@relay1.simplex.example,jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion:7001/gXa7Dn6BHwwRs2M3iYSYF4va5i0aATXB 1791844186 8xnWcWNtt-6p5l75o6IZavRNsIEp-Jmz aCxrvaseFPWK97XJaAMFFoAECG6DsgFN0DHa_oBNk-fSs3YnM9NQtPbw05XErOqVCUWoIL27Dg==",
            None,
            &[
                msg(
                    queue(&["192.168.1.10"], "", "7b354c65b6feb0bfd9aa36d18b14e04dbaa77542e3942179f5b9661c2558a4e8", "f0b5461ce39c9fc81978e5db6a094de2abf75cfdee3c85e9"),
                    1726777767,
                    "14ca3a45019fa40d504b0f3e41e40395bf29ba8acd1094d5",
                    "aaa7d49552d088c38ddcf7cb804ad7d2c852904dbafc686af73cf42a96397db5f5a7b2ac6bbf406ed6f94d480c403435fa3044536586c6e117",
                ),
                msg(
                    queue(&["a.example.org", "::1", "10.0.0.1"], "7001", "e7ec989f58eb3ccac2de49f29a9a4899c436317ccb17479c2f22525442ac1350", "83989a03cc6d76e20cec02d6b1b0435dcdfd69e5612eb6f0"),
                    1770635281,
                    "62ec746c757792225093f0ecc4c3c84b7dcde8b1cb1c3e25",
                    "886cba82f4a7058e",
                ),
                msg(
                    queue(
                        &["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"],
                        "7001",
                        "1ea7d0e72e43879800377fce1f3718216e115e88d2043cf77e76cf5a4e47e1bd",
                        "8176bb0e7e811f0c11b36337898498178bdae62d1a0135c1",
                    ),
                    1791844186,
                    "f319d671636db7eea9e65ef9a3a2196af44db08129f899b3",
                    "682c6bbdab1e14f58af7b5c9680305168004086e83b2014dd031dafe804d93e7d2b3762733d350b4f6f0d395c4acea950945a820bdbb0e",
                ),
            ],
        );
    }

    #[test]
    fn decode_pn_messages_count5() {
        // pn/messages/count5/1/p: the last server is a preset relay, so the encoding adds its onion host
        let text = "smp://tVqg7t2xRIOLd671H2Fzk__pzwqAbc3jKycuwWlhuxw=@a.example.org,::1,10.0.0.1:7001/82zHe9Cy30wZxybZ53trgspiLjCdLPIn 1791893257 IDYzJ5cL0Q84bvxR5anE6bKBj_foHBs9 x2hOAc0rqESBK0MnF-POA2uUt42bBe3ZgQ2eXfh0M0-oZU_hhLDFRhZ4HjrNy_f_GJZmks7Ie6asC3Ncdmm2ErHPrX_6E2cQqStuJpiunN0UljqfqA==;smp://0Pg5mAOvwWWSHaaaBEJKeyOIqIiVQO9jMJ3tEdWC2zw=@smp.example.com:443/ty2a29NLmfrImvkF8aFootv3VvieZkGs 1713887675 d0UW8i-b4D9sUk2hic_TzORZsEt_ERL0 4XDylkTbmqRir70n2o7ia1hx;smp://pe7kK-eOFIxhDKYMJwEJpLCtogG7_lIZu--EcQk0Kf4=@192.168.1.10:5223/T01o07mrM8Q00KPVO838c0U8RddGQy7i 1720372828 iKc2Z1tRov-qxt93cAyiZnyciJnZ0109 JRS_MSDrs-ja6RkIAKNUUCxXMFzoBYOrNIeM4ZSHRfNRP8LR33WRmzgDC0U=;smp://bqHjGeit17XJNIKCdC9b2ub6lntOWSQRPhmGhBgfwtg=@smp.example.com:443/3VvmudoOtHJvoZvtByPMQEZLp3ANH9bf 1785504410 czwX-FF_L_imNXNl19mpa1gNn0sh-OW6 ye_CrOH-yAZriHzJ1SVy02ZPxdBfvWYUdqFtVFdjcKh11aVY4omi_ZnnvMWlFZd_TySIUJnhSja2990rM-TQ7b6or2EfFF49vmsph8U3jXkw;smp://MxGn_6P7pxO-VDgqPcaAcw5dZ8saDmIi1PcTXDsFsmI=@smp10.simplex.im/EgshddOxkXQ0FzF4drrjXhDEMOrIiTJh 1735104987 mZf-xP0V5g3Pi2eSItnPaD6eCoacKP39 xw4-FGfq204Nf-qGM9-RJGEhAkdxhdcf2OEAK0nc5U9HflqI66VZ_B-MEqt_49DsxAzBLw-Nrtev040l5bhfiaI=";
        let canonical = text.replace(
            "@smp10.simplex.im/",
            "@smp10.simplex.im,rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion/",
        );
        let m = PnMessages::decode(text.as_bytes()).unwrap();
        assert_eq!(m.messages().len(), 5);
        assert_eq!(
            m.messages()[4],
            msg(
                queue(
                    &["smp10.simplex.im", "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion"],
                    "",
                    "3311a7ffa3fba713be54382a3dc680730e5d67cb1a0e6222d4f7135c3b05b262",
                    "120b2175d3b191743417317876bae35e10c430eac8893261",
                ),
                1735104987,
                "9997fec4fd15e60dcf8b679222d9cf683e9e0a869c28fdfd",
                "c70e3e1467eadb4e0d7fea8633df9124612102477185d71fd8e1002b49dce54f477e5a88eba559fc1f8c12ab7fe3d0ecc40cc12f0f8daed7afd38d25e5b85f89a2",
            )
        );
        assert_eq!(
            m.messages()[1],
            msg(
                queue(
                    &["smp.example.com"],
                    "443",
                    "d0f8399803afc165921da69a04424a7b2388a8889540ef63309ded11d582db3c",
                    "b72d9adbd34b99fac89af905f1a168a2dbf756f89e6641ac"
                ),
                1713887675,
                "774516f22f9be03f6c524da189cfd3cce459b04b7f1112f4",
                "e170f29644db9aa462afbd27da8ee26b5871",
            )
        );
        assert_eq!(m.to_bytes(), canonical.as_bytes());
    }

    #[test]
    fn rejects_invalid_pn_messages() {
        // pn/messages/count1/1/trailing_semicolon/p
        let s = "smp://V_ctMg6tjUY5Sn-wS_Ddf6YnwaR_VrLkDhwKAEnEB5s=@relay1.simplex.example,jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion:7001/a5AE51tNu1X6eEzk7cSd6G3oIRxKIHUP 1773727142 JMaRoPJrixHL0PfdF0aBthkEDdURAMNE 8dzVPpCUdOzUPEbrhrdCTJQgUysSnhrs6EFb9LukmrHOLcacpqhaTjHoCPRu7Jqt-uAAliO5bhLF11ty;";
        assert!(PnMessages::decode(s.as_bytes()).is_err());
        // pn/messages/invalid/no_notifier_id/p
        let s = "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com:5223 1 bm9uY2Utbm9uY2Utbm9uY2Utbm9uY2Uh bWV0YQ==";
        assert!(PnMessages::decode(s.as_bytes()).is_err());
        assert!(PnMessages::decode(b"").is_err());
        // empty enc_meta
        let s =
            "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com/bmlk 1 bm9uY2U ";
        assert!(PnMessages::decode(s.as_bytes()).is_err());
    }

    #[test]
    fn nonce_is_padded_or_cut() {
        assert_eq!(cb_nonce(b"ab")[..3], [b'a', b'b', 0]);
        assert_eq!(cb_nonce(&[7; 30]), [7; 24]);
        // a short nonce and a plus sign on the timestamp are accepted, then written canonically
        let s = "smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com/bmlk +7 bm9uY2U bWV0YQ";
        let m = PnMessages::decode(s.as_bytes()).unwrap();
        assert_eq!(m.messages()[0].ts, 7);
        assert_eq!(m.messages()[0].nonce, cb_nonce(b"nonce"));
        assert_eq!(
            m.to_bytes(),
            b"smp://UYYxrSVgDPXhMxq4uXC4dQfU5fWQT8MMK59DOVX1DS8=@smp.example.com/bmlk 7 bm9uY2UAAAAAAAAAAAAAAAAAAAAAAAAA bWV0YQ=="
        );
    }

    fn pn_message() -> impl Strategy<Value = PnMessageData> {
        (
            smp_queue(),
            any::<i64>(),
            any::<[u8; 24]>(),
            prop::collection::vec(any::<u8>(), 1..100),
        )
            .prop_map(|(q, ts, n, m)| PnMessageData::new(q, ts, n, m).unwrap())
    }

    proptest! {
        #[test]
        fn pn_messages_round_trip(v in prop::collection::vec(pn_message(), 1..5)) {
            let m = PnMessages::new(v).unwrap();
            prop_assert_eq!(PnMessages::decode(&m.to_bytes()).unwrap(), m);
        }
    }
    /// The conformance vectors of type `pn.messages`: (name, version, hex, canonical hex, value JSON or "" when invalid).
    #[cfg(feature = "serde")]
    const VECTORS: &[(&str, u16, &str, &str, &str)] = &[
        ("pn/messages/count5/1/p", 0, "736d703a2f2f745671673774327852494f4c643637314832467a6b5f5f707a7771416263336a4b79637577576c687578773d40612e6578616d706c652e6f72672c3a3a312c31302e302e302e313a373030312f38327a48653943793330775a7879625a35337472677370694c6a43644c50496e2031373931383933323537204944597a4a35634c305138346276785235616e4536624b426a5f666f48427339207832684f41633072714553424b304d6e462d504f41327555743432624265335a67513265586668304d302d6f5a555f68684c444652685a34486a724e795f665f474a5a6d6b7337496536617343334e63646d6d324572485072585f3645326351715374754a7069756e4e30556c6a716671413d3d3b736d703a2f2f305067356d414f76775757534861616142454a4b65794f4971496956514f396a4d4a337445645743327a773d40736d702e6578616d706c652e636f6d3a3434332f7479326132394e4c6d6672496d766b463861466f6f747633567669655a6b47732031373133383837363735206430555738692d6234443973556b326869635f547a4f525a7345745f45524c3020345844796c6b54626d7152697237306e326f3769613168783b736d703a2f2f7065376b4b2d654f46497868444b594d4a77454a704c43746f6747375f6c495a752d2d4563516b304b66343d403139322e3136382e312e31303a353232332f5430316f30376d724d385130304b50564f383338633055385264644751793769203137323033373238323820694b63325a3174526f762d7178743933634179695a6e7963694a6e5a30313039204a52535f4d534472732d6a6136526b49414b4e55554378584d467a6f42594f724e49654d345a534852664e5250384c52333357526d7a67444330553d3b736d703a2f2f6271486a476569743137584a4e494b4364433962327562366c6e744f5753515250686d47684267667774673d40736d702e6578616d706c652e636f6d3a3434332f3356766d75646f4f74484a766f5a76744279504d51455a4c7033414e48396266203137383535303434313020637a77582d46465f4c5f696d4e584e6c31396d706131674e6e3073682d4f57362079655f43724f482d79415a7269487a4a3153567930325a507864426676575955647146745646646a634b683131615659346f6d695f5a6e6e764d576c465a645f54795349554a6e68536a6132393930724d2d54513762366f7232456646463439766d7370683855336a586b773b736d703a2f2f4d78476e5f36503770784f2d5644677150636141637735645a387361446d49693150635458447346736d493d40736d7031302e73696d706c65782e696d2f4567736864644f786b585130467a46346472726a586844454d4f724969544a682031373335313034393837206d5a662d78503056356733506932655349746e5061443665436f61634b503339207877342d464766713230344e662d71474d392d524a474568416b647868646366324f45414b306e6335553948666c71493636565a5f422d4d4571745f3439447378417a424c772d4e727465763034306c356268666961493d", "736d703a2f2f745671673774327852494f4c643637314832467a6b5f5f707a7771416263336a4b79637577576c687578773d40612e6578616d706c652e6f72672c3a3a312c31302e302e302e313a373030312f38327a48653943793330775a7879625a35337472677370694c6a43644c50496e2031373931383933323537204944597a4a35634c305138346276785235616e4536624b426a5f666f48427339207832684f41633072714553424b304d6e462d504f41327555743432624265335a67513265586668304d302d6f5a555f68684c444652685a34486a724e795f665f474a5a6d6b7337496536617343334e63646d6d324572485072585f3645326351715374754a7069756e4e30556c6a716671413d3d3b736d703a2f2f305067356d414f76775757534861616142454a4b65794f4971496956514f396a4d4a337445645743327a773d40736d702e6578616d706c652e636f6d3a3434332f7479326132394e4c6d6672496d766b463861466f6f747633567669655a6b47732031373133383837363735206430555738692d6234443973556b326869635f547a4f525a7345745f45524c3020345844796c6b54626d7152697237306e326f3769613168783b736d703a2f2f7065376b4b2d654f46497868444b594d4a77454a704c43746f6747375f6c495a752d2d4563516b304b66343d403139322e3136382e312e31303a353232332f5430316f30376d724d385130304b50564f383338633055385264644751793769203137323033373238323820694b63325a3174526f762d7178743933634179695a6e7963694a6e5a30313039204a52535f4d534472732d6a6136526b49414b4e55554378584d467a6f42594f724e49654d345a534852664e5250384c52333357526d7a67444330553d3b736d703a2f2f6271486a476569743137584a4e494b4364433962327562366c6e744f5753515250686d47684267667774673d40736d702e6578616d706c652e636f6d3a3434332f3356766d75646f4f74484a766f5a76744279504d51455a4c7033414e48396266203137383535303434313020637a77582d46465f4c5f696d4e584e6c31396d706131674e6e3073682d4f57362079655f43724f482d79415a7269487a4a3153567930325a507864426676575955647146745646646a634b683131615659346f6d695f5a6e6e764d576c465a645f54795349554a6e68536a6132393930724d2d54513762366f7232456646463439766d7370683855336a586b773b736d703a2f2f4d78476e5f36503770784f2d5644677150636141637735645a387361446d49693150635458447346736d493d40736d7031302e73696d706c65782e696d2c726232706274746f63766e62726e676e777a69636c70326634636b6a7136356b6562616677733667346879323263646169763564776a71642e6f6e696f6e2f4567736864644f786b585130467a46346472726a586844454d4f724969544a682031373335313034393837206d5a662d78503056356733506932655349746e5061443665436f61634b503339207877342d464766713230344e662d71474d392d524a474568416b647868646366324f45414b306e6335553948666c71493636565a5f422d4d4571745f3439447378417a424c772d4e727465763034306c356268666961493d", r#"[{"enc_meta": "c7684e01cd2ba844812b432717e3ce036b94b78d9b05edd9810d9e5df874334fa8654fe184b0c54616781e3acdcbf7ff18966692cec87ba6ac0b735c7669b612b1cfad7ffa136710a92b6e2698ae9cdd14963a9fa8", "nonce": "20363327970bd10f386efc51e5a9c4e9b2818ff7e81c1b3d", "queue": {"notifier_id": "f36cc77bd0b2df4c19c726d9e77b6b82ca622e309d2cf227", "server": {"hosts": ["a.example.org", "::1", "10.0.0.1"], "key_hash": "b55aa0eeddb144838b77aef51f617393ffe9cf0a806dcde32b272ec16961bb1c", "port": "7001"}}, "ts": 1791893257}, {"enc_meta": "e170f29644db9aa462afbd27da8ee26b5871", "nonce": "774516f22f9be03f6c524da189cfd3cce459b04b7f1112f4", "queue": {"notifier_id": "b72d9adbd34b99fac89af905f1a168a2dbf756f89e6641ac", "server": {"hosts": ["smp.example.com"], "key_hash": "d0f8399803afc165921da69a04424a7b2388a8889540ef63309ded11d582db3c", "port": "443"}}, "ts": 1713887675}, {"enc_meta": "2514bf3120ebb3e8dae9190800a354502c57305ce80583ab34878ce1948745f3513fc2d1df75919b38030b45", "nonce": "88a736675b51a2ffaac6df77700ca2667c9c8899d9d35d3d", "queue": {"notifier_id": "4f4d68d3b9ab33c434d0a3d53bcdfc73453c45d746432ee2", "server": {"hosts": ["192.168.1.10"], "key_hash": "a5eee42be78e148c610ca60c270109a4b0ada201bbfe5219bbef8471093429fe", "port": "5223"}}, "ts": 1720372828}, {"enc_meta": "c9efc2ace1fec8066b887cc9d52572d3664fc5d05fbd661476a16d54576370a875d5a558e289a2fd99e7bcc5a515977f4f24885099e14a36b6f7dd2b33e4d0edbea8af611f145e3dbe6b2987c5378d7930", "nonce": "733c17f8517f2ff8a6357365d7d9a96b580d9f4b21f8e5ba", "queue": {"notifier_id": "dd5be6b9da0eb4726fa19bed0723cc40464ba7700d1fd6df", "server": {"hosts": ["smp.example.com"], "key_hash": "6ea1e319e8add7b5c9348282742f5bdae6fa967b4e5924113e198684181fc2d8", "port": "443"}}, "ts": 1785504410}, {"enc_meta": "c70e3e1467eadb4e0d7fea8633df9124612102477185d71fd8e1002b49dce54f477e5a88eba559fc1f8c12ab7fe3d0ecc40cc12f0f8daed7afd38d25e5b85f89a2", "nonce": "9997fec4fd15e60dcf8b679222d9cf683e9e0a869c28fdfd", "queue": {"notifier_id": "120b2175d3b191743417317876bae35e10c430eac8893261", "server": {"hosts": ["smp10.simplex.im", "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion"], "key_hash": "3311a7ffa3fba713be54382a3dc680730e5d67cb1a0e6222d4f7135c3b05b262", "port": ""}}, "ts": 1735104987}]"#),
        ("pn/messages/preset_host_expanded/p", 0, "736d703a2f2f5559597872535667445058684d78713475584334645166553566575154384d4d4b3539444f5658314453383d40736d70342e73696d706c65782e696d2f626d6c6b203120626d397559325574626d397559325574626d397559325574626d397559325568206257563059513d3d", "736d703a2f2f5559597872535667445058684d78713475584334645166553566575154384d4d4b3539444f5658314453383d40736d70342e73696d706c65782e696d2c6f35766d79776d726e6178616c767a367769337a696379667467696f3670737576796e6969733667636f36627036656b6c3463716a3469642e6f6e696f6e2f626d6c6b203120626d397559325574626d397559325574626d397559325574626d397559325568206257563059513d3d", r#"[{"enc_meta": "6d657461", "nonce": "6e6f6e63652d6e6f6e63652d6e6f6e63652d6e6f6e636521", "queue": {"notifier_id": "6e6964", "server": {"hosts": ["smp4.simplex.im", "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion"], "key_hash": "518631ad25600cf5e1331ab8b970b87507d4e5f5904fc30c2b9f433955f50d2f", "port": ""}}, "ts": 1}]"#),
        ("pn/messages/count1/1/p", 0, "736d703a2f2f565f63744d6736746a555935536e2d77535f44646636596e7761525f56724c6b4468774b41456e454235733d4072656c6179312e73696d706c65782e6578616d706c652c6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e3a373030312f613541453531744e7531583665457a6b376353643647336f4952784b494855502031373733373237313432204a4d61526f504a726978484c305066644630614274686b4544645552414d4e452038647a5650704355644f7a555045627268726443544a5167557973536e68727336454662394c756b6d72484f4c63616370716861546a486f43505275374a71742d7541416c694f3562684c4631317479", "", r#"[{"enc_meta": "f1dcd53e909474ecd43c46eb86b7424c9420532b129e1aece8415bf4bba49ab1ce2dc69ca6a85a4e31e808f46eec9aadfae0009623b96e12c5d75b72", "nonce": "24c691a0f26b8b11cbd0f7dd174681b619040dd51100c344", "queue": {"notifier_id": "6b9004e75b4dbb55fa784ce4edc49de86de8211c4a20750f", "server": {"hosts": ["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"], "key_hash": "57f72d320ead8d46394a7fb04bf0dd7fa627c1a47f56b2e40e1c0a0049c4079b", "port": "7001"}}, "ts": 1773727142}]"#),
        ("pn/messages/count2/1/p", 0, "736d703a2f2f556e362d696f687a6c586c47426a6e59334e4a38775633456964436d526c39584664494849783238574a513d4072656c6179312e73696d706c65782e6578616d706c652c6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e3a353232332f4830766277427058634352455063476d32344943466a7752496b6d544c37476c2031373738323235353532203343336d4d615479744b7444706b7638724e6d4a67697476696e76364f475950206466706e70456b61386d364b5373757953654a346667424e454a77675a79794741794a6d4c6b4d716b7248534f355239476a483438315765763945716676535158794f623b736d703a2f2f66556331335130525432787330684772366b4f6f386e386452432d315a667372715670715349587934394d3d406265636378347966787862767968717970616176656d71757279746c36686f7a723437776663377575656361636a716476777077327869642e6f6e696f6e3a373030312f3863647277724f6e6146525654473142324f757753645648456d736a30436471203137323438393738363520515569754c675f36554d64775a78336171777977344a70344d6b5a4953793874205f71634c4b587252684b49376d7633797172466541783150534a3173666f514158684c5878483962355a666d6d685a77586e3148626b6d54455f684c482d445a6e37726b415270676a344c742d6d5f55444e716b43676a53616f4467654a4b6573625f584b3774397177636c4b6f31764e4d6c773231376453694f6d7635585231446d5755316d6d4d58587035773d3d", "", r#"[{"enc_meta": "75fa67a4491af26e8a4acbb249e2787e004d109c20672c860322662e432a92b1d23b947d1a31f8f3559ebfd12a7ef4905f239b", "nonce": "dc2de631a4f2b4ab43a64bfcacd989822b6f8a7bfa38660f", "queue": {"notifier_id": "1f4bdbc01a577024443dc1a6db8202163c112249932fb1a5", "server": {"hosts": ["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"], "key_hash": "527ebe8a88739579460639d8dcd27cc15dc489d0a6465f5715d207231dbc5894", "port": "5223"}}, "ts": 1778225552}, {"enc_meta": "fea70b297ad184a23b9afdf2aab15e031d4f489d6c7e84005e12d7c47f5be597e69a16705e7d476e499313f84b1fe0d99fbae4011a608f82edfa6fd40cdaa40a08d26a80e078929eb1bfd72bbb7dab07252a8d6f34c970db5edd4a23a6bf95d1d439965359a63175e9e7", "nonce": "4148ae2e0ffa50c770671ddaab0cb0e09a783246484b2f2d", "queue": {"notifier_id": "f1c76bc2b3a76854554c6d41d8ebb049d547126b23d0276a", "server": {"hosts": ["beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion"], "key_hash": "7d4735dd0d114f6c6cd211abea43a8f27f1d442fb565fb2ba95a6a4885f2e3d3", "port": "7001"}}, "ts": 1724897865}]"#),
        ("pn/messages/count3/1/p", 0, "736d703a2f2f657a564d5a62622d734c5f5a716a6252697854675462716e64554c6a6c43463539626c6d48435659704f673d403139322e3136382e312e31302f384c5647484f4f636e38675a654f586261676c4e347176335850337550495870203137323637373737363720464d6f3652514766704131515377382d516551446c623870756f724e454a545620717166556c564c51694d4f4e3350664c67457258307368536b4532365f476871397a7a304b7059356662583170374b7361373941627462355455674d514451312d6a424555325747787545583b736d703a2f2f352d79596e316a72504d7243336b6e796d7070496d6351324d587a4c463065634c794a5356454b734531413d40612e6578616d706c652e6f72672c3a3a312c31302e302e302e313a373030312f67356961413878746475494d37414c577362424458633339616556684c72627720313737303633353238312059757830624856336b694a516b5f4473784d50495333334e364c484c4844346c20694779366776536e4259343d3b736d703a2f2f4871665135793544683567414e335f4f487a635949573452586f6a5342447a33666e6250576b35483462303d4072656c6179312e73696d706c65782e6578616d706c652c6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e3a373030312f67586137446e36424877775273324d336959535946347661356930614154584220313739313834343138362038786e5763574e74742d3670356c37356f36495a6176524e734945702d4a6d7a2061437872766173654650574b3937584a61414d46466f4145434736447367464e304448615f6f424e6b2d66537333596e4d394e517450627730355845724f71564355576f494c323744673d3d", "", r#"[{"enc_meta": "aaa7d49552d088c38ddcf7cb804ad7d2c852904dbafc686af73cf42a96397db5f5a7b2ac6bbf406ed6f94d480c403435fa3044536586c6e117", "nonce": "14ca3a45019fa40d504b0f3e41e40395bf29ba8acd1094d5", "queue": {"notifier_id": "f0b5461ce39c9fc81978e5db6a094de2abf75cfdee3c85e9", "server": {"hosts": ["192.168.1.10"], "key_hash": "7b354c65b6feb0bfd9aa36d18b14e04dbaa77542e3942179f5b9661c2558a4e8", "port": ""}}, "ts": 1726777767}, {"enc_meta": "886cba82f4a7058e", "nonce": "62ec746c757792225093f0ecc4c3c84b7dcde8b1cb1c3e25", "queue": {"notifier_id": "83989a03cc6d76e20cec02d6b1b0435dcdfd69e5612eb6f0", "server": {"hosts": ["a.example.org", "::1", "10.0.0.1"], "key_hash": "e7ec989f58eb3ccac2de49f29a9a4899c436317ccb17479c2f22525442ac1350", "port": "7001"}}, "ts": 1770635281}, {"enc_meta": "682c6bbdab1e14f58af7b5c9680305168004086e83b2014dd031dafe804d93e7d2b3762733d350b4f6f0d395c4acea950945a820bdbb0e", "nonce": "f319d671636db7eea9e65ef9a3a2196af44db08129f899b3", "queue": {"notifier_id": "8176bb0e7e811f0c11b36337898498178bdae62d1a0135c1", "server": {"hosts": ["relay1.simplex.example", "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion"], "key_hash": "1ea7d0e72e43879800377fce1f3718216e115e88d2043cf77e76cf5a4e47e1bd", "port": "7001"}}, "ts": 1791844186}]"#),
        ("pn/messages/negative_ts/p", 0, "736d703a2f2f5559597872535667445058684d78713475584334645166553566575154384d4d4b3539444f5658314453383d40736d702e6578616d706c652e636f6d3a353232332f626d393061575a705a584974615751744d4445794d7a51314e6a63344f574669202d3520626d397559325574626d397559325574626d397559325574626d397559325568206257563059513d3d", "", r#"[{"enc_meta": "6d657461", "nonce": "6e6f6e63652d6e6f6e63652d6e6f6e63652d6e6f6e636521", "queue": {"notifier_id": "6e6f7469666965722d69642d303132333435363738396162", "server": {"hosts": ["smp.example.com"], "key_hash": "518631ad25600cf5e1331ab8b970b87507d4e5f5904fc30c2b9f433955f50d2f", "port": "5223"}}, "ts": -5}]"#),
        ("pn/messages/count1/1/trailing_semicolon/p", 0, "736d703a2f2f565f63744d6736746a555935536e2d77535f44646636596e7761525f56724c6b4468774b41456e454235733d4072656c6179312e73696d706c65782e6578616d706c652c6a6a6279766f656d7879736d3771786170376d3564356d33356a7a7635717136676e6c7637733472736e37746477776d75716369777069642e6f6e696f6e3a373030312f613541453531744e7531583665457a6b376353643647336f4952784b494855502031373733373237313432204a4d61526f504a726978484c305066644630614274686b4544645552414d4e452038647a5650704355644f7a555045627268726443544a5167557973536e68727336454662394c756b6d72484f4c63616370716861546a486f43505275374a71742d7541416c694f3562684c46313174793b", "", r#""#),
        ("pn/messages/invalid/no_notifier_id/p", 0, "736d703a2f2f5559597872535667445058684d78713475584334645166553566575154384d4d4b3539444f5658314453383d40736d702e6578616d706c652e636f6d3a35323233203120626d397559325574626d397559325574626d397559325574626d397559325568206257563059513d3d", "", r#""#),
    ];

    #[cfg(feature = "serde")]
    #[test]
    fn json_vectors() {
        crate::test_vectors::check_json_vectors(
            VECTORS,
            smp_proto::version::Version(0),
            |b, _| PnMessages::decode(b),
            |x, _| x.to_bytes(),
        );
    }
}
