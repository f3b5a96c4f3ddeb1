//! Which Web Push tokens the server takes: the endpoint rule, a P-256 `p256dh`, and the push
//! hosts the configuration allows.
//!
//! The branch `dev-wp` (commit `ea9adf1ac`) accepts any `https` push service: the scheme is
//! fixed by the token's form, redirects are not followed (`redirectCount = 0`), and its
//! comment on `wpHTTPManager` notes that non-public addresses are not refused. That is our
//! default (`allowed_hosts = ["*"]`); operators narrow it to the push services they trust.

use ntf_proto::token::DeviceToken;
use ntf_proto::webpush::{P256dhKey, WebPushToken};

/// A pattern of allowed push hosts: `*` (any host), `*.example.com` (subdomains of
/// `example.com`, not itself), or a host name compared without case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPattern(String);

impl HostPattern {
    /// A pattern from its text (see the type's docs).
    ///
    /// # Errors
    /// A message naming the pattern when it is empty, has a `*` other than a leading `*.` or
    /// the whole pattern, or characters a host cannot have.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("*.").unwrap_or(s);
        let ok = s == "*"
            || (!rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b)));
        if ok {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(format!("push host pattern {s:?}: expected \"*\", \"*.domain\" or a host name"))
        }
    }

    /// Whether `host` matches.
    pub fn matches(&self, host: &[u8]) -> bool {
        let host = host.to_ascii_lowercase();
        match self.0.strip_prefix('*') {
            Some("") => true,
            Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_bytes()),
            None => host == self.0.as_bytes(),
        }
    }
}

/// Why a Web Push token is refused at `TNEW` / `TRPL` (all answered `ERR CMD SYNTAX`, the
/// branch's answer to a token it cannot parse).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The server has no Web Push configuration.
    NotConfigured,
    /// The endpoint is not a URL a push can go to.
    Endpoint(ntf_proto::webpush::EndpointError),
    /// `p256dh` is not a point on P-256.
    Key,
    /// The configuration does not allow the push host.
    Host,
}

/// The rule for Web Push tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebPushPolicy {
    /// Hosts pushes may go to; a token for another host is refused.
    pub allowed_hosts: Vec<HostPattern>,
}

impl Default for WebPushPolicy {
    /// Any host, as the branch.
    fn default() -> Self {
        Self {
            allowed_hosts: vec![HostPattern("*".into())],
        }
    }
}

impl WebPushPolicy {
    /// Whether pushes may go to `host`.
    pub fn allows_host(&self, host: &[u8]) -> bool {
        self.allowed_hosts.iter().any(|p| p.matches(host))
    }

    /// Checks a Web Push token: endpoint, key, host.
    ///
    /// # Errors
    /// The first [`Refusal`] that applies.
    pub fn check(&self, t: &WebPushToken) -> Result<(), Refusal> {
        t.check_endpoint().map_err(Refusal::Endpoint)?;
        if p256dh_point(&t.key().p256dh).is_none() {
            return Err(Refusal::Key);
        }
        if !self.allows_host(t.provider().host()) {
            return Err(Refusal::Host);
        }
        Ok(())
    }
}

/// The subscriber's public key as a P-256 point; `None` for the point at infinity or bytes
/// that are not on the curve.
pub fn p256dh_point(k: &P256dhKey) -> Option<p256::PublicKey> {
    match k {
        P256dhKey::Infinity => None,
        P256dhKey::Uncompressed(b) => p256::PublicKey::from_sec1_bytes(b).ok(),
    }
}

/// Checks a device token against an optional policy: APNS tokens pass; a Web Push token
/// needs a policy that accepts it.
///
/// # Errors
/// The [`Refusal`].
pub fn check_token(policy: Option<&WebPushPolicy>, token: &DeviceToken) -> Result<(), Refusal> {
    match (token.web_push(), policy) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(Refusal::NotConfigured),
        (Some(t), Some(p)) => p.check(t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ntf_proto::webpush::{WebPushKey, WebPushProvider};

    const RFC8291_UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";

    fn token(host: &str, key: P256dhKey) -> WebPushToken {
        WebPushToken::new(WebPushProvider::new(host, "").unwrap(), "/p", WebPushKey { auth: [1; 16], p256dh: key }).unwrap()
    }

    fn good_key() -> P256dhKey {
        let b = smp_proto::text::base64url_decode(RFC8291_UA_PUBLIC.as_bytes()).unwrap();
        P256dhKey::from_bytes(&b).unwrap()
    }

    #[test]
    fn patterns() {
        let p = |s| HostPattern::parse(s).unwrap();
        assert!(p("*").matches(b"anything.example"));
        assert!(p("*.mozilla.com").matches(b"updates.push.services.Mozilla.com"));
        assert!(!p("*.mozilla.com").matches(b"mozilla.com"));
        assert!(!p("*.mozilla.com").matches(b"evilmozilla.com"));
        assert!(p("fcm.googleapis.com").matches(b"FCM.googleapis.com"));
        assert!(!p("fcm.googleapis.com").matches(b"fcm.googleapis.com.evil"));
        for bad in ["", "*.", "a*b", "**", "x y", "*foo"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refusals() {
        let any = WebPushPolicy::default();
        assert_eq!(any.check(&token("push.example", good_key())), Ok(()));
        assert_eq!(any.check(&token("push.example", P256dhKey::Infinity)), Err(Refusal::Key));
        let mut off = [4u8; 65];
        off[1] = 9;
        assert_eq!(any.check(&token("push.example", P256dhKey::Uncompressed(off))), Err(Refusal::Key));
        assert!(matches!(any.check(&token("bad host", good_key())), Err(Refusal::Endpoint(_))));
        let only = WebPushPolicy { allowed_hosts: vec![HostPattern::parse("*.push.example").unwrap()] };
        assert_eq!(only.check(&token("a.push.example", good_key())), Ok(()));
        assert_eq!(only.check(&token("other.example", good_key())), Err(Refusal::Host));
        let wp = DeviceToken::WebPush(token("a.push.example", good_key()));
        assert_eq!(check_token(None, &wp), Err(Refusal::NotConfigured));
        let apns = DeviceToken::new(ntf_proto::token::PushProvider::ApnsTest, b"ab".to_vec()).unwrap();
        assert_eq!(check_token(None, &apns), Ok(()));
    }
}
