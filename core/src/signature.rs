//! Discord interaction verification.
//!
//! Discord signs every interaction webhook with the application's Ed25519 key:
//! `X-Signature-Ed25519` is the hex signature over the bytes of
//! `X-Signature-Timestamp` followed by the raw request body. Discord also sends
//! badly signed requests on purpose and removes endpoints that accept them, so
//! every failure here is a 401 with no side effect.
//!
//! The public key is parsed once ([`InteractionKey::from_hex`]) at startup, not
//! per request: decompressing the curve point is the expensive part of a key.

use ed25519_dalek::{PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, Signature, VerifyingKey};

/// Header carrying the hex Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "X-Signature-Ed25519";
/// Header carrying the timestamp that is signed together with the body.
pub const TIMESTAMP_HEADER: &str = "X-Signature-Timestamp";

/// The application's public key, from the developer portal (64 hex characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InteractionKey(VerifyingKey);

/// The configured public key is unusable. A deployment problem, never the
/// caller's: report it at startup with the variable's name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("public key must be {expected} hex characters, got {actual}")]
    WrongLength { expected: usize, actual: usize },
    #[error("public key is not hex")]
    NotHex(#[source] hex::FromHexError),
    #[error("public key is not a valid Ed25519 key")]
    NotAKey(#[source] ed25519_dalek::SignatureError),
}

/// Why a request's signature was refused. Every variant is the sender's doing
/// and maps to 401; the text is safe to log and to return.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    #[error("missing {SIGNATURE_HEADER} header")]
    MissingSignature,
    #[error("missing {TIMESTAMP_HEADER} header")]
    MissingTimestamp,
    #[error("signature must be {expected} hex characters, got {actual}")]
    WrongLength { expected: usize, actual: usize },
    #[error("signature is not hex")]
    NotHex(#[source] hex::FromHexError),
    #[error("signature does not match the body and timestamp")]
    Invalid(#[source] ed25519_dalek::SignatureError),
}

impl InteractionKey {
    /// Parses the application public key as the developer portal shows it.
    pub fn from_hex(key_hex: &str) -> Result<Self, KeyError> {
        let key_hex = key_hex.trim();
        let mut bytes = [0_u8; PUBLIC_KEY_LENGTH];
        if key_hex.len() != PUBLIC_KEY_LENGTH * 2 {
            return Err(KeyError::WrongLength {
                expected: PUBLIC_KEY_LENGTH * 2,
                actual: key_hex.len(),
            });
        }
        hex::decode_to_slice(key_hex, &mut bytes).map_err(KeyError::NotHex)?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(KeyError::NotAKey)
    }

    /// Checks `signature_hex` (the `X-Signature-Ed25519` header) over
    /// `timestamp` (the `X-Signature-Timestamp` header) followed by `body`.
    ///
    /// Uses strict verification: non-canonical signatures and weak keys are
    /// refused, so a signature cannot be altered into another valid one.
    pub fn verify(
        &self,
        signature_hex: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let signature_hex = signature_hex.ok_or(SignatureError::MissingSignature)?;
        let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;

        if signature_hex.len() != SIGNATURE_LENGTH * 2 {
            return Err(SignatureError::WrongLength {
                expected: SIGNATURE_LENGTH * 2,
                actual: signature_hex.len(),
            });
        }
        let mut signature = [0_u8; SIGNATURE_LENGTH];
        hex::decode_to_slice(signature_hex, &mut signature).map_err(SignatureError::NotHex)?;
        let signature = Signature::from_bytes(&signature);

        let mut message = Vec::with_capacity(timestamp.len() + body.len());
        message.extend_from_slice(timestamp.as_bytes());
        message.extend_from_slice(body);

        self.0
            .verify_strict(&message, &signature)
            .map_err(SignatureError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    const TIMESTAMP: &str = "1795000000";
    const BODY: &[u8] = br#"{"type":1,"id":"1","application_id":"2","token":"t"}"#;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn key_of(signer: &SigningKey) -> InteractionKey {
        InteractionKey::from_hex(&hex::encode(signer.verifying_key().as_bytes()))
            .expect("a generated key parses")
    }

    fn sign(signer: &SigningKey, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(signer.sign(&message).to_bytes())
    }

    #[derive(Debug)]
    enum Expect {
        Ok,
        MissingSignature,
        MissingTimestamp,
        WrongLength,
        NotHex,
        Invalid,
    }

    #[test]
    fn verify_table() {
        let signer = signing_key(7);
        let key = key_of(&signer);
        let good = sign(&signer, TIMESTAMP, BODY);
        let other_key = sign(&signing_key(8), TIMESTAMP, BODY);
        let mut bad_hex = good.clone();
        bad_hex.replace_range(0..2, "zz");
        let upper = good.to_uppercase();

        type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8], Expect);
        let cases: [Case<'_>; 11] = [
            ("valid", Some(&good), Some(TIMESTAMP), BODY, Expect::Ok),
            (
                "uppercase hex is hex",
                Some(&upper),
                Some(TIMESTAMP),
                BODY,
                Expect::Ok,
            ),
            (
                "tampered body",
                Some(&good),
                Some(TIMESTAMP),
                br#"{"type":2,"id":"1","application_id":"2","token":"t"}"#,
                Expect::Invalid,
            ),
            (
                "tampered timestamp",
                Some(&good),
                Some("1795000001"),
                BODY,
                Expect::Invalid,
            ),
            (
                "other key",
                Some(&other_key),
                Some(TIMESTAMP),
                BODY,
                Expect::Invalid,
            ),
            (
                "bad hex",
                Some(&bad_hex),
                Some(TIMESTAMP),
                BODY,
                Expect::NotHex,
            ),
            (
                "short",
                Some(&good[..100]),
                Some(TIMESTAMP),
                BODY,
                Expect::WrongLength,
            ),
            (
                "empty",
                Some(""),
                Some(TIMESTAMP),
                BODY,
                Expect::WrongLength,
            ),
            (
                "missing signature",
                None,
                Some(TIMESTAMP),
                BODY,
                Expect::MissingSignature,
            ),
            (
                "missing timestamp",
                Some(&good),
                None,
                BODY,
                Expect::MissingTimestamp,
            ),
            ("missing both", None, None, BODY, Expect::MissingSignature),
        ];

        for (name, signature, timestamp, body, expect) in cases {
            let result = key.verify(signature, timestamp, body);
            let matches = matches!(
                (&expect, &result),
                (Expect::Ok, Ok(()))
                    | (
                        Expect::MissingSignature,
                        Err(SignatureError::MissingSignature)
                    )
                    | (
                        Expect::MissingTimestamp,
                        Err(SignatureError::MissingTimestamp)
                    )
                    | (Expect::WrongLength, Err(SignatureError::WrongLength { .. }))
                    | (Expect::NotHex, Err(SignatureError::NotHex(_)))
                    | (Expect::Invalid, Err(SignatureError::Invalid(_)))
            );
            assert!(matches, "{name}: expected {expect:?}, got {result:?}");
        }
    }

    #[test]
    fn zeroed_signature_is_refused() {
        let key = key_of(&signing_key(7));
        let zeros = "0".repeat(128);
        assert!(matches!(
            key.verify(Some(&zeros), Some(TIMESTAMP), BODY),
            Err(SignatureError::Invalid(_))
        ));
    }

    #[test]
    fn key_parsing_table() {
        let valid = hex::encode(signing_key(1).verifying_key().as_bytes());
        let mut not_hex = valid.clone();
        not_hex.replace_range(0..1, "g");
        let cases: [(&str, String, bool); 5] = [
            ("valid", valid.clone(), true),
            ("surrounding whitespace", format!(" {valid}\n"), true),
            ("short", valid[..62].to_owned(), false),
            ("not hex", not_hex, false),
            ("empty", String::new(), false),
        ];
        for (name, input, ok) in cases {
            assert_eq!(InteractionKey::from_hex(&input).is_ok(), ok, "{name}");
        }
        assert!(matches!(
            InteractionKey::from_hex(&valid[..62]),
            Err(KeyError::WrongLength {
                expected: 64,
                actual: 62
            })
        ));
    }
}
