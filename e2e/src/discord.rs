//! Interactions as Discord sends them: real payload shapes (the core's
//! fixtures), signed with a test application key.

use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

/// The test guild, application and channels.
pub const GUILD: u64 = 1_000_000_000_000_000_001;
pub const APPLICATION: u64 = 1_300_000_000_000_000_001;
pub const GENERAL: u64 = 1_000_000_000_000_000_003;
pub const STAFF_ROLE: u64 = 1_000_000_000_000_000_050;

/// Permission bits (as Discord sends them, decimal strings).
pub const MANAGE_CHANNELS: u64 = 1 << 4;
pub const MANAGE_GUILD: u64 = 1 << 5;
pub const VIEW_AND_SEND: u64 = (1 << 10) | (1 << 11);

/// Who presses the button.
#[derive(Clone, Debug)]
pub struct Member {
    pub id: u64,
    pub name: String,
    pub permissions: u64,
    pub roles: Vec<u64>,
    /// The guild they act in.
    pub guild: u64,
}

impl Member {
    /// An ordinary member.
    pub fn ordinary(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            permissions: VIEW_AND_SEND,
            roles: vec![],
            guild: GUILD,
        }
    }

    /// The same member acting in another guild.
    #[must_use]
    pub fn in_guild(mut self, guild: u64) -> Self {
        self.guild = guild;
        self
    }

    /// A staff member: holds the staff role (no Manage Channels).
    pub fn staff(id: u64, name: impl Into<String>) -> Self {
        Self {
            roles: vec![STAFF_ROLE],
            ..Self::ordinary(id, name)
        }
    }

    /// A staff member holding `role`.
    #[must_use]
    pub fn with_role(mut self, role: u64) -> Self {
        self.roles = vec![role];
        self
    }

    /// A server admin: Manage Server (and Manage Channels), no staff role.
    pub fn admin(id: u64, name: impl Into<String>) -> Self {
        Self {
            permissions: VIEW_AND_SEND | MANAGE_CHANNELS | MANAGE_GUILD,
            ..Self::ordinary(id, name)
        }
    }

    /// A moderator with Manage Channels (staff without the role).
    pub fn moderator(id: u64, name: impl Into<String>) -> Self {
        Self {
            permissions: VIEW_AND_SEND | MANAGE_CHANNELS,
            ..Self::ordinary(id, name)
        }
    }
}

fn fixture(name: &str) -> Value {
    let path = crate::root()
        .join("core/tests/fixtures")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A fixture re-addressed: who, where, with which interaction token.
fn addressed(mut payload: Value, member: &Member, channel: u64, token: &str) -> Value {
    payload["application_id"] = json!(APPLICATION.to_string());
    payload["guild_id"] = json!(member.guild.to_string());
    if payload["data"]["guild_id"].is_string() {
        payload["data"]["guild_id"] = json!(member.guild.to_string());
    }
    payload["channel"]["guild_id"] = json!(member.guild.to_string());
    payload["channel_id"] = json!(channel.to_string());
    payload["channel"]["id"] = json!(channel.to_string());
    payload["token"] = json!(token);
    let m = &mut payload["member"];
    m["user"]["id"] = json!(member.id.to_string());
    m["user"]["username"] = json!(member.name);
    m["user"]["global_name"] = json!(member.name);
    m["permissions"] = json!(member.permissions.to_string());
    m["roles"] = json!(
        member
            .roles
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    payload
}

pub fn ping() -> Value {
    fixture("ping")
}

/// A slash command with string options.
pub fn slash(
    name: &str,
    options: &[(&str, &str)],
    member: &Member,
    channel: u64,
    token: &str,
) -> Value {
    let mut payload = addressed(fixture("slash_audit"), member, channel, token);
    payload["data"]["name"] = json!(name);
    payload["data"]["options"] = json!(
        options
            .iter()
            .map(|(n, v)| json!({ "name": n, "type": 3, "value": v }))
            .collect::<Vec<_>>()
    );
    payload
}

/// `/settings` with these options, each `(name, type, value)` as Discord
/// sends them (the roles and channels they name are in `resolved`).
pub fn settings(
    options: &[(&str, u8, Value)],
    member: &Member,
    channel: u64,
    token: &str,
) -> Value {
    let mut payload = addressed(fixture("slash_settings"), member, channel, token);
    payload["data"]["options"] = json!(
        options
            .iter()
            .map(|(n, t, v)| json!({ "name": n, "type": t, "value": v }))
            .collect::<Vec<_>>()
    );
    payload
}

/// "Audit message" on a message with this content.
pub fn audit_message(content: &str, member: &Member, channel: u64, token: &str) -> Value {
    let mut payload = addressed(fixture("message_context_audit"), member, channel, token);
    let target = payload["data"]["target_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    payload["data"]["resolved"]["messages"][&target]["content"] = json!(content);
    payload
}

/// A button press.
pub fn button(custom_id: &str, member: &Member, channel: u64, token: &str) -> Value {
    let mut payload = addressed(fixture("button_claim"), member, channel, token);
    payload["data"]["custom_id"] = json!(custom_id);
    payload
}

/// The "Open ticket" modal submitted with a reason.
pub fn open_ticket_modal(reason: &str, member: &Member, channel: u64, token: &str) -> Value {
    let mut payload = addressed(fixture("modal_open_ticket"), member, channel, token);
    payload["data"]["components"][0]["component"]["value"] = json!(reason);
    payload
}

/// The test application's signing key (fixed seed).
#[derive(Debug)]
pub struct Signer(SigningKey);

impl Default for Signer {
    fn default() -> Self {
        Self(SigningKey::from_bytes(&[7; 32]))
    }
}

impl Signer {
    /// Another application's key, for "signed by someone else".
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(SigningKey::from_bytes(&seed))
    }

    /// `DISCORD_PUBLIC_KEY` for the worker under test.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.0.verifying_key().as_bytes())
    }

    /// `X-Signature-Ed25519` for `timestamp` + `body`.
    pub fn sign(&self, timestamp: &str, body: &[u8]) -> String {
        let mut message = timestamp.as_bytes().to_vec();
        message.extend_from_slice(body);
        hex::encode(self.0.sign(&message).to_bytes())
    }
}
