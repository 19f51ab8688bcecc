//! Sessions, CSRF tokens and the password check: plain functions over
//! bytes and times, no platform types, so they are tested natively.
//!
//! A session is a cookie `v1.<expires unix>.<nonce hex>.<HMAC-SHA256 hex>`
//! signed with `SESSION_SECRET`; nothing is stored server-side, so logout
//! clears the cookie and a stolen cookie stays valid until it expires (12 h).
//! The CSRF token of a form is an HMAC of the session's nonce (or, on the
//! login form, of a short-lived pre-session cookie), so a page from another
//! origin can neither read nor forge it.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

type HmacSha256 = Hmac<Sha256>;

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "cos_session";
/// The login form's pre-session cookie (its CSRF anchor).
pub(crate) const LOGIN_COOKIE: &str = "cos_login";
/// How long a session lasts.
pub(crate) const SESSION_SECS: i64 = 12 * 3600;
/// How long a login form stays usable.
pub(crate) const LOGIN_FORM_SECS: i64 = 15 * 60;

/// A signed-in session, as read back from its cookie.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Session {
    pub(crate) nonce: String,
    pub(crate) expires: i64,
}

/// Signs and checks sessions and tokens with one secret.
#[derive(Clone)]
pub(crate) struct Keys {
    secret: Vec<u8>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(***)")
    }
}

impl Keys {
    pub(crate) fn new(secret: &str) -> Self {
        Self {
            secret: secret.as_bytes().to_vec(),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> HmacSha256 {
        // HMAC takes keys of any length.
        let mut mac = HmacSha256::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                mac.update(b"|");
            }
            mac.update(part);
        }
        mac
    }

    fn sign(&self, parts: &[&[u8]]) -> String {
        hex::encode(self.mac(parts).finalize().into_bytes())
    }

    /// Constant-time check of a hex MAC over `parts`.
    fn verify(&self, parts: &[&[u8]], mac_hex: &str) -> bool {
        let Ok(given) = hex::decode(mac_hex) else {
            return false;
        };
        self.mac(parts).verify_slice(&given).is_ok()
    }

    /// A new session cookie value for `nonce` (random, hex), valid until
    /// `now + SESSION_SECS`.
    pub(crate) fn issue(&self, nonce: &str, now: OffsetDateTime) -> String {
        let expires = (now.unix_timestamp() + SESSION_SECS).to_string();
        let mac = self.sign(&[b"session", b"v1", expires.as_bytes(), nonce.as_bytes()]);
        format!("v1.{expires}.{nonce}.{mac}")
    }

    /// The session a cookie value stands for, if it is ours and not expired.
    pub(crate) fn verify_session(&self, value: &str, now: OffsetDateTime) -> Option<Session> {
        let mut parts = value.split('.');
        let (Some("v1"), Some(expires), Some(nonce), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        if !self.verify(
            &[b"session", b"v1", expires.as_bytes(), nonce.as_bytes()],
            mac,
        ) {
            return None;
        }
        let expires: i64 = expires.parse().ok()?;
        (expires > now.unix_timestamp()).then(|| Session {
            nonce: nonce.to_owned(),
            expires,
        })
    }

    /// The CSRF token of a session's forms.
    pub(crate) fn csrf_token(&self, session: &Session) -> String {
        self.sign(&[b"csrf", session.nonce.as_bytes()])
    }

    pub(crate) fn verify_csrf(&self, session: &Session, token: &str) -> bool {
        self.verify(&[b"csrf", session.nonce.as_bytes()], token)
    }

    /// The login form's token, bound to its pre-session cookie.
    pub(crate) fn login_token(&self, login_nonce: &str) -> String {
        self.sign(&[b"login-csrf", login_nonce.as_bytes()])
    }

    pub(crate) fn verify_login_token(&self, login_nonce: &str, token: &str) -> bool {
        !login_nonce.is_empty() && self.verify(&[b"login-csrf", login_nonce.as_bytes()], token)
    }

    /// Whether `given` is the admin password, in time that depends on
    /// neither: both are MACed first, then the MACs compared in constant
    /// time, so neither the length nor a matching prefix shows.
    pub(crate) fn password_matches(&self, given: &str, expected: &str) -> bool {
        let expected = self.mac(&[b"password", expected.as_bytes()]).finalize();
        self.mac(&[b"password", given.as_bytes()])
            .verify_slice(&expected.into_bytes())
            .is_ok()
    }
}

/// A cookie's value from a `Cookie` header.
pub(crate) fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a session-class cookie: HttpOnly, Secure, SameSite=Strict.
pub(crate) fn set_cookie(name: &str, value: &str, path: &str, max_age: i64) -> String {
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict")
}

/// `Set-Cookie` that removes a cookie.
pub(crate) fn clear_cookie(name: &str, path: &str) -> String {
    set_cookie(name, "", path, 0)
}

/// Who is asking, for the login rate limit: Cloudflare's connecting IP,
/// else the first X-Forwarded-For hop (local proxies), else "unknown". An
/// IPv6 address stands for its /64: one subscriber usually holds the whole
/// /64, and counting each address apart would give them billions of tries.
pub(crate) fn client_key(cf_connecting_ip: Option<&str>, forwarded_for: Option<&str>) -> String {
    let ip = cf_connecting_ip
        .map(str::trim)
        .filter(|ip| !ip.is_empty())
        .or_else(|| {
            forwarded_for
                .and_then(|list| list.split(',').next())
                .map(str::trim)
                .filter(|ip| !ip.is_empty())
        });
    let Some(ip) = ip else {
        return "unknown".to_owned();
    };
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{a:x}:{b:x}:{c:x}:{d:x}::/64")
            }
        },
        Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Err(_) => ip.chars().take(64).collect(),
    }
}

/// Where to go after logging in: only a path on this site.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && !path.starts_with("/login")
                && !path.starts_with("/logout") =>
        {
            path.to_owned()
        }
        _ => "/".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-11-30 12:00 UTC);

    fn keys() -> Keys {
        Keys::new("a-session-secret-of-at-least-32-bytes!")
    }

    #[test]
    fn an_issued_session_verifies_until_it_expires() {
        let cookie = keys().issue("00ff", NOW);
        let session = keys().verify_session(&cookie, NOW).expect("valid");
        assert_eq!(session.nonce, "00ff");
        assert_eq!(session.expires, NOW.unix_timestamp() + SESSION_SECS);
        let later = NOW + time::Duration::seconds(SESSION_SECS);
        assert_eq!(keys().verify_session(&cookie, later), None);
    }

    #[test]
    fn a_tampered_or_foreign_session_is_refused() {
        let cookie = keys().issue("00ff", NOW);
        let longer = cookie.replacen(
            &(NOW.unix_timestamp() + SESSION_SECS).to_string(),
            "9999999999",
            1,
        );
        let other_nonce = cookie.replacen("00ff", "00fe", 1);
        let other_key = Keys::new("another-secret-another-secret-another").issue("00ff", NOW);
        for bad in [
            longer.as_str(),
            other_nonce.as_str(),
            other_key.as_str(),
            "",
            "v1",
            "v1.1.2.zz",
            &format!("{cookie}.extra"),
        ] {
            assert_eq!(keys().verify_session(bad, NOW), None, "{bad}");
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_their_session() {
        let session = Session {
            nonce: "abcd".to_owned(),
            expires: 0,
        };
        let other = Session {
            nonce: "abce".to_owned(),
            expires: 0,
        };
        let token = keys().csrf_token(&session);
        assert!(keys().verify_csrf(&session, &token));
        assert!(!keys().verify_csrf(&other, &token));
        assert!(!keys().verify_csrf(&session, ""));
        assert!(!keys().verify_csrf(&session, "not hex"));
        let login = keys().login_token("1234");
        assert!(keys().verify_login_token("1234", &login));
        assert!(!keys().verify_login_token("", &keys().login_token("")));
        // A session token does not pass as a login token.
        assert!(!keys().verify_login_token("abcd", &token));
    }

    #[test]
    fn password_check_matches_exactly() {
        let keys = keys();
        assert!(keys.password_matches("correct horse", "correct horse"));
        for wrong in ["correct hors", "correct horse ", "", "Correct horse"] {
            assert!(!keys.password_matches(wrong, "correct horse"), "{wrong}");
        }
    }

    #[test]
    fn cookies_are_read_by_name() {
        let header = Some("a=1; cos_session=v1.2.3.4 ; b=");
        assert_eq!(cookie(header, "cos_session"), Some("v1.2.3.4"));
        assert_eq!(cookie(header, "a"), Some("1"));
        assert_eq!(cookie(header, "b"), None);
        assert_eq!(cookie(header, "cos"), None);
        assert_eq!(cookie(None, "a"), None);
        let set = set_cookie(SESSION_COOKIE, "x", "/", 60);
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Max-Age=60"] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(clear_cookie(SESSION_COOKIE, "/").contains("Max-Age=0"));
    }

    #[test]
    fn the_client_is_cloudflares_ip_else_the_first_forwarded_hop() {
        assert_eq!(
            client_key(Some("203.0.113.9"), Some("198.51.100.1")),
            "203.0.113.9"
        );
        assert_eq!(
            client_key(None, Some(" 198.51.100.1 , 10.0.0.1")),
            "198.51.100.1"
        );
        assert_eq!(client_key(Some(" "), None), "unknown");
        // IPv6: the /64 the address is in.
        assert_eq!(
            client_key(Some("2001:db8:85a3:8d3:1319:8a2e:370:7348"), None),
            "2001:db8:85a3:8d3::/64"
        );
        assert_eq!(
            client_key(Some("2001:db8:85a3:8d3::1"), None),
            client_key(Some("2001:db8:85a3:8d3:ffff::2"), None)
        );
        assert_eq!(client_key(Some("::ffff:203.0.113.9"), None), "203.0.113.9");
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/churn?silent=21")), "/churn?silent=21");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/login",
            "",
            "/a\nb",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
