//! Supabase-shaped API keys: HS256 JWTs carrying a `role` claim, signed with
//! the project's JWT secret. Locally we sign our own with a local secret, so
//! the keys the workers send have the same shape as in production.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// JWT secret of local stacks (at least 32 characters, like Supabase's).
pub const LOCAL_JWT_SECRET: &str = "community-os-local-jwt-secret-at-least-32-characters";

/// `iss` of keys signed here.
pub const ISSUER: &str = "community-os-local";

/// Keys expire at 2100-01-01T00:00:00Z: long-lived, like Supabase's API keys.
pub const EXPIRES_AT: u64 = 4_102_444_800;

/// The database role PostgREST switches to for a request carrying the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Bypasses row level security: what the workers use.
    ServiceRole,
    /// The public role: row level security applies.
    Anon,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceRole => "service_role",
            Self::Anon => "anon",
        }
    }
}

/// Signs `{"role", "iss", "iat", "exp"}` with HS256.
pub fn sign(secret: &str, role: Role, issued_at: u64) -> String {
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = serde_json::json!({
        "role": role.as_str(),
        "iss": ISSUER,
        "iat": issued_at,
        "exp": EXPIRES_AT,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{claims}");
    let signature = hs256(secret, &signing_input);
    format!("{signing_input}.{signature}")
}

/// The base64url HS256 signature of a JWT's `header.claims`.
fn hs256(secret: &str, signing_input: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(signing_input.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// A service-role key (bypasses RLS) issued now.
pub fn service_role_key(secret: &str) -> String {
    sign(secret, Role::ServiceRole, now())
}

/// An anon key (subject to RLS) issued now.
pub fn anon_key(secret: &str) -> String {
    sign(secret, Role::Anon, now())
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_json(part: &str) -> serde_json::Value {
        let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[test]
    fn claims_carry_the_role_and_a_far_expiry() {
        let key = sign("secret", Role::ServiceRole, 1_700_000_000);
        let parts: Vec<&str> = key.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(
            decode_json(parts[0]),
            serde_json::json!({"alg": "HS256", "typ": "JWT"})
        );
        assert_eq!(
            decode_json(parts[1]),
            serde_json::json!({
                "role": "service_role",
                "iss": "community-os-local",
                "iat": 1_700_000_000,
                "exp": 4_102_444_800u64,
            })
        );
        let anon = decode_json(anon_key("secret").split('.').nth(1).expect("claims"));
        assert_eq!(anon["role"], "anon");
    }

    #[test]
    fn signature_matches_the_jwt_io_example() {
        let input = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.\
                     eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ";
        assert_eq!(
            hs256("your-256-bit-secret", input),
            "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
        );
    }

    #[test]
    fn keys_are_signed_with_the_given_secret() {
        let key = sign("secret", Role::Anon, 0);
        let (input, signature) = key.rsplit_once('.').expect("three parts");
        assert_eq!(hs256("secret", input), signature);
        assert_ne!(hs256("other secret", input), signature);
    }
}
