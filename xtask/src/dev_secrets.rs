//! The local secrets `cargo xtask dev` runs with when no real ones are given:
//! generated once into `.state/dev-secrets.json`, reused by later runs and by
//! `cargo xtask interact` (which signs interactions with the same key).

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use anyhow::{Context as _, Result};
use serde_json::json;

#[derive(Clone)]
pub(crate) struct DevSecrets {
    /// Seed of the local Discord application's signing key.
    pub(crate) signer_seed: [u8; 32],
    pub(crate) relay_secret: String,
    pub(crate) admin_password: String,
    pub(crate) session_secret: String,
}

impl std::fmt::Debug for DevSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DevSecrets(***)")
    }
}

const FILE: &str = "dev-secrets.json";

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0_u8; N];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The secrets in `state_dir`, created on first use.
pub(crate) fn load_or_create(state_dir: &Path) -> Result<DevSecrets> {
    let file = state_dir.join(FILE);
    if let Ok(text) = fs::read_to_string(&file) {
        let value: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("reading {}", file.display()))?;
        let field = |name: &str| value[name].as_str().map(str::to_owned);
        let seed_hex = field("signer_seed").unwrap_or_default();
        let mut signer_seed = [0_u8; 32];
        for (i, byte) in signer_seed.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(seed_hex.get(i * 2..i * 2 + 2).unwrap_or("00"), 16).unwrap_or(0);
        }
        if let (Some(relay_secret), Some(admin_password), Some(session_secret)) = (
            field("relay_secret"),
            field("admin_password"),
            field("session_secret"),
        ) {
            return Ok(DevSecrets {
                signer_seed,
                relay_secret,
                admin_password,
                session_secret,
            });
        }
    }
    let secrets = DevSecrets {
        signer_seed: random_bytes::<32>()?,
        relay_secret: hex(&random_bytes::<32>()?),
        admin_password: hex(&random_bytes::<8>()?),
        session_secret: hex(&random_bytes::<32>()?),
    };
    fs::create_dir_all(state_dir)?;
    let text = json!({
        "signer_seed": hex(&secrets.signer_seed),
        "relay_secret": secrets.relay_secret,
        "admin_password": secrets.admin_password,
        "session_secret": secrets.session_secret,
    })
    .to_string();
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(secrets)
}

/// The secrets an earlier `cargo xtask dev` made, if any.
pub(crate) fn existing(state_dir: &Path) -> Option<DevSecrets> {
    state_dir
        .join(FILE)
        .is_file()
        .then(|| load_or_create(state_dir).ok())
        .flatten()
}
