//! Discord's signature check, behind one small port.
//!
//! The application only asks a [`Verifier`] whether a request is signed; how
//! depends on where it runs:
//!
//! - [`Verifier::Dalek`] (native: tests and tools) checks in process with
//!   ed25519-dalek, through the core's [`InteractionKey`].
//! - [`Verifier::WebCrypto`] (the Worker) hands the check to the runtime's own
//!   Ed25519, `crypto.subtle.verify`: native code rather than curve arithmetic
//!   compiled to wasm, which is most of the CPU a signed PING costs (see
//!   `bench/README.md`). The public key is imported once per isolate, not per
//!   request.
//!
//! Both refuse the same inputs before any cryptography runs: a missing
//! header, a signature that is not 128 hex characters. Every refusal is the
//! sender's doing (401, no side effect); only a runtime that cannot run the
//! check at all is ours ([`VerifyError::Unavailable`]).

use community_core::signature::{InteractionKey, SignatureError};

/// Bytes in an Ed25519 signature.
pub const SIGNATURE_LENGTH: usize = 64;
/// Bytes in an Ed25519 public key.
pub const PUBLIC_KEY_LENGTH: usize = 32;

/// Why a request was not accepted as Discord's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Missing or malformed headers, or (ed25519-dalek) a wrong signature.
    #[error(transparent)]
    Refused(#[from] SignatureError),
    /// Well-formed, checked by WebCrypto, and wrong.
    #[error("signature does not match the body and timestamp")]
    Mismatch,
    /// The runtime could not run the check (refused the key or the
    /// algorithm). A deployment problem, not the sender's.
    #[error("signature check unavailable: {0}")]
    Unavailable(String),
}

impl VerifyError {
    /// Whether the sender caused it (401) rather than us (503).
    pub fn is_senders_fault(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

/// How the application checks `X-Signature-Ed25519`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Verifier {
    /// ed25519-dalek in process.
    Dalek(InteractionKey),
    /// The Workers runtime's WebCrypto Ed25519.
    #[cfg(target_arch = "wasm32")]
    WebCrypto(web_crypto::WebCryptoKey),
}

impl Verifier {
    /// The WebCrypto verifier for the application key as the developer
    /// portal shows it (64 hex characters). Nothing is imported yet: the
    /// first request does that, once per isolate.
    #[cfg(target_arch = "wasm32")]
    pub fn web_crypto(public_key_hex: &str) -> Result<Self, String> {
        let mut raw = [0_u8; PUBLIC_KEY_LENGTH];
        hex::decode_to_slice(public_key_hex.trim(), &mut raw)
            .map_err(|err| format!("public key: {err}"))?;
        Ok(Self::WebCrypto(web_crypto::WebCryptoKey::new(raw)))
    }

    /// Checks `signature` (the `X-Signature-Ed25519` header) over
    /// `timestamp` (`X-Signature-Timestamp`) followed by the raw `body`.
    pub async fn verify(
        &self,
        signature: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        match self {
            Self::Dalek(key) => Ok(key.verify(signature, timestamp, body)?),
            #[cfg(target_arch = "wasm32")]
            Self::WebCrypto(key) => {
                let (signature, timestamp) = check_headers(signature, timestamp)?;
                key.verify(&signature, &signed_message(timestamp, body))
                    .await
            }
        }
    }
}

/// The checks that come before any cryptography, as the core's
/// [`InteractionKey::verify`] makes them: both headers present, the
/// signature exactly 128 hex characters. Returns the signature's bytes.
pub fn check_headers<'a>(
    signature: Option<&str>,
    timestamp: Option<&'a str>,
) -> Result<([u8; SIGNATURE_LENGTH], &'a str), SignatureError> {
    let signature = signature.ok_or(SignatureError::MissingSignature)?;
    let timestamp = timestamp.ok_or(SignatureError::MissingTimestamp)?;
    if signature.len() != SIGNATURE_LENGTH * 2 {
        return Err(SignatureError::WrongLength {
            expected: SIGNATURE_LENGTH * 2,
            actual: signature.len(),
        });
    }
    let mut bytes = [0_u8; SIGNATURE_LENGTH];
    hex::decode_to_slice(signature, &mut bytes).map_err(SignatureError::NotHex)?;
    Ok((bytes, timestamp))
}

/// What Discord signs: the timestamp's bytes, then the body's.
pub fn signed_message(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(timestamp.len() + body.len());
    message.extend_from_slice(timestamp.as_bytes());
    message.extend_from_slice(body);
    message
}

/// The signature's bytes followed by the signed message, in one buffer:
/// how the JS entry receives what to hand `crypto.subtle.verify` (the first
/// [`SIGNATURE_LENGTH`] bytes, then the rest) in a single crossing.
pub fn signature_then_message(
    signature: &[u8; SIGNATURE_LENGTH],
    timestamp: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIGNATURE_LENGTH + timestamp.len() + body.len());
    out.extend_from_slice(signature);
    out.extend_from_slice(timestamp.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(target_arch = "wasm32")]
pub mod web_crypto {
    use std::cell::OnceCell;

    use wasm_bindgen::{JsCast as _, JsValue};
    use wasm_bindgen_futures::JsFuture;
    use web_sys::{CryptoKey, SubtleCrypto, WorkerGlobalScope};

    use super::{PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, VerifyError};

    const ALGORITHM: &str = "Ed25519";

    /// The application key, imported into WebCrypto on first use and kept
    /// for the isolate's lifetime, with the `SubtleCrypto` it belongs to and
    /// the algorithm object (each JS value built once, not per request).
    pub struct WebCryptoKey {
        raw: [u8; PUBLIC_KEY_LENGTH],
        subtle: OnceCell<(SubtleCrypto, js_sys::Object)>,
        key: OnceCell<CryptoKey>,
    }

    impl std::fmt::Debug for WebCryptoKey {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("WebCryptoKey")
                .field("imported", &self.key.get().is_some())
                .finish_non_exhaustive()
        }
    }

    /// What `crypto.subtle.verify` settled with, as the application reads
    /// it: `true` passes, `false` is the sender's mismatch, anything else
    /// (an exception) means the runtime could not check.
    pub fn outcome(settled: JsValue) -> Result<(), VerifyError> {
        match settled.as_bool() {
            Some(true) => Ok(()),
            Some(false) => Err(VerifyError::Mismatch),
            None => Err(unavailable(settled)),
        }
    }

    fn unavailable(err: JsValue) -> VerifyError {
        VerifyError::Unavailable(community_fetch::js_error_message(&err))
    }

    impl WebCryptoKey {
        pub(super) fn new(raw: [u8; PUBLIC_KEY_LENGTH]) -> Self {
            Self {
                raw,
                subtle: OnceCell::new(),
                key: OnceCell::new(),
            }
        }

        /// `crypto.subtle` and `{name: "Ed25519"}`.
        fn subtle(&self) -> Result<&(SubtleCrypto, js_sys::Object), VerifyError> {
            if let Some(subtle) = self.subtle.get() {
                return Ok(subtle);
            }
            let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
            let subtle = scope.crypto().map_err(unavailable)?.subtle();
            let algorithm = js_sys::Object::new();
            js_sys::Reflect::set(&algorithm, &"name".into(), &ALGORITHM.into())
                .map_err(unavailable)?;
            Ok(self.subtle.get_or_init(|| (subtle, algorithm)))
        }

        /// `crypto.subtle.importKey` of the application key, for verifying:
        /// a promise of the `CryptoKey` (what the JS entry keeps).
        pub fn import(&self) -> Result<js_sys::Promise, VerifyError> {
            let raw = js_sys::Uint8Array::from(&self.raw[..]);
            let usages = js_sys::Array::of1(&JsValue::from_str("verify"));
            let (subtle, algorithm) = self.subtle()?;
            subtle
                .import_key_with_object("raw", &raw, algorithm, false, &usages)
                .map_err(unavailable)
        }

        async fn key(&self) -> Result<&CryptoKey, VerifyError> {
            if let Some(key) = self.key.get() {
                return Ok(key);
            }
            let key: CryptoKey = JsFuture::from(self.import()?)
                .await
                .map_err(unavailable)?
                .unchecked_into();
            // Two first requests may both import; either key will do.
            Ok(self.key.get_or_init(|| key))
        }

        pub(super) async fn verify(
            &self,
            signature: &[u8; SIGNATURE_LENGTH],
            message: &[u8],
        ) -> Result<(), VerifyError> {
            let key = self.key().await?;
            // The slices reach JS as views into wasm memory; WebCrypto copies
            // them when called, before anything else can run.
            let (subtle, algorithm) = self.subtle()?;
            let promise = subtle
                .verify_with_object_and_u8_array_and_u8_array(algorithm, key, signature, message)
                .map_err(unavailable)?;
            // Settled either way, read as the entry module's verdicts are.
            outcome(JsFuture::from(promise).await.unwrap_or_else(|err| err))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMESTAMP: &str = "1795000000";
    const BODY: &[u8] = br#"{"type":1}"#;

    /// A key that parses: the Ed25519 base point's encoding.
    fn key() -> InteractionKey {
        InteractionKey::from_hex("5866666666666666666666666666666666666666666666666666666666666666")
            .expect("the base point is a valid key")
    }

    /// Malformed headers are refused before any cryptography, exactly as the
    /// core's dalek path refuses them: the WebCrypto path relies on it.
    #[test]
    fn header_checks_agree_with_the_core() {
        let good = "ab".repeat(SIGNATURE_LENGTH);
        let mut not_hex = good.clone();
        not_hex.replace_range(0..2, "zz");
        let upper = good.to_uppercase();
        let long = format!("{good}00");
        let cases: [(&str, Option<&str>, Option<&str>); 8] = [
            ("missing signature", None, Some(TIMESTAMP)),
            ("missing timestamp", Some(&good), None),
            ("missing both", None, None),
            ("empty", Some(""), Some(TIMESTAMP)),
            ("short", Some(&good[..100]), Some(TIMESTAMP)),
            ("long", Some(&long), Some(TIMESTAMP)),
            ("not hex", Some(&not_hex), Some(TIMESTAMP)),
            (
                "non-ascii",
                Some(&"é".repeat(SIGNATURE_LENGTH)),
                Some(TIMESTAMP),
            ),
        ];
        for (name, signature, timestamp) in cases {
            let ours = check_headers(signature, timestamp).expect_err(name);
            let core = key().verify(signature, timestamp, BODY).expect_err(name);
            assert_eq!(ours.to_string(), core.to_string(), "{name}");
        }
        for signature in [&good, &upper] {
            let (bytes, timestamp) =
                check_headers(Some(signature), Some(TIMESTAMP)).expect("well-formed");
            assert_eq!(bytes, [0xab; SIGNATURE_LENGTH]);
            assert_eq!(timestamp, TIMESTAMP);
        }
    }

    #[test]
    fn the_signed_message_is_timestamp_then_body() {
        assert_eq!(signed_message(TIMESTAMP, BODY), b"1795000000{\"type\":1}");
        assert_eq!(signed_message("", b""), b"");
    }

    #[test]
    fn the_entry_gets_the_signature_then_the_message() {
        let signature = [7_u8; SIGNATURE_LENGTH];
        let joined = signature_then_message(&signature, TIMESTAMP, BODY);
        assert_eq!(joined[..SIGNATURE_LENGTH], signature);
        assert_eq!(joined[SIGNATURE_LENGTH..], signed_message(TIMESTAMP, BODY));
    }

    #[test]
    fn only_an_unavailable_check_is_ours() {
        assert!(VerifyError::Mismatch.is_senders_fault());
        assert!(VerifyError::Refused(SignatureError::MissingSignature).is_senders_fault());
        assert!(!VerifyError::Unavailable("no Ed25519".into()).is_senders_fault());
    }

    #[tokio::test]
    async fn the_dalek_verifier_refuses_a_well_formed_wrong_signature() {
        let verifier = Verifier::Dalek(key());
        let err = verifier
            .verify(Some(&"00".repeat(SIGNATURE_LENGTH)), Some(TIMESTAMP), BODY)
            .await
            .expect_err("zeros are no signature");
        assert!(err.is_senders_fault(), "{err}");
    }
}
