//! The dashboard worker's configuration, read from its bindings.

use community_core::config::{ConfigError, Reader, Secret};
use community_store::GuildId;
use twilight_model::id::Id;

/// Discord's v10 REST API.
pub(crate) const DEFAULT_DISCORD_API_BASE: &str = "https://discord.com/api/v10";
/// Google's Generative Language API.
pub(crate) const DEFAULT_GEMINI_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) supabase_rest_url: String,
    pub(crate) supabase_service_role_key: Secret,
    /// The dashboard password (at least 12 characters).
    pub(crate) admin_password: Secret,
    /// Signs session cookies and CSRF tokens (at least 32 bytes).
    pub(crate) session_secret: Secret,
    /// The relay's heartbeat counts as stale after this long.
    pub(crate) relay_stale_after_minutes: u32,
    /// Checked for reachability by the health page.
    pub(crate) discord_api_base: String,
    pub(crate) gemini_api_base: String,
    /// Optional: sent on the health page's Discord check.
    pub(crate) discord_bot_token: Option<Secret>,
    /// Optional: sent on the health page's Gemini check.
    pub(crate) gemini_api_key: Option<Secret>,
    /// Optional: show only this guild (else the busiest, or the one picked).
    pub(crate) guild_id: Option<GuildId>,
}

impl Config {
    pub(crate) fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = Reader::new(lookup);
        let guild_id = read.optional_with("DASHBOARD_GUILD_ID", |v| {
            v.parse::<u64>()
                .ok()
                .and_then(Id::new_checked)
                .ok_or_else(|| "not a Discord id".to_owned())
        });
        let config = Self {
            supabase_rest_url: read.url("SUPABASE_REST_URL", None),
            supabase_service_role_key: read.secret("SUPABASE_SERVICE_ROLE_KEY", 1),
            admin_password: read.secret("ADMIN_PASSWORD", 12),
            session_secret: read.secret("SESSION_SECRET", 32),
            relay_stale_after_minutes: read.parse_or("RELAY_STALE_AFTER_MINUTES", 5),
            discord_api_base: read.url("DISCORD_API_BASE", Some(DEFAULT_DISCORD_API_BASE)),
            gemini_api_base: read.url("GEMINI_API_BASE", Some(DEFAULT_GEMINI_API_BASE)),
            discord_bot_token: read.optional_secret("DISCORD_BOT_TOKEN"),
            gemini_api_key: read.optional_secret("GEMINI_API_KEY"),
            guild_id,
        };
        read.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn complete() -> HashMap<&'static str, String> {
        HashMap::from([
            ("SUPABASE_REST_URL", "http://127.0.0.1:54321".to_owned()),
            ("SUPABASE_SERVICE_ROLE_KEY", "key".to_owned()),
            ("ADMIN_PASSWORD", "a long admin password".to_owned()),
            ("SESSION_SECRET", "s".repeat(32)),
        ])
    }

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::read(&|_| None).expect_err("nothing set");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "SUPABASE_REST_URL",
                "SUPABASE_SERVICE_ROLE_KEY",
                "ADMIN_PASSWORD",
                "SESSION_SECRET"
            ]
        );
    }

    #[test]
    fn defaults_point_at_the_real_services() {
        let vars = complete();
        let config = Config::read(&|n| vars.get(n).cloned()).expect("valid");
        assert_eq!(config.discord_api_base, DEFAULT_DISCORD_API_BASE);
        assert_eq!(config.gemini_api_base, DEFAULT_GEMINI_API_BASE);
        assert_eq!(config.relay_stale_after_minutes, 5);
        assert_eq!(config.guild_id, None);
    }

    #[test]
    fn weak_secrets_are_named_without_their_values() {
        let mut vars = complete();
        vars.insert("ADMIN_PASSWORD", "hunter2".to_owned());
        vars.insert("SESSION_SECRET", "short-session-secret".to_owned());
        vars.insert("DASHBOARD_GUILD_ID", "zero".to_owned());
        let err = Config::read(&|n| vars.get(n).cloned()).expect_err("three problems");
        let text = err.to_string();
        for name in ["ADMIN_PASSWORD", "SESSION_SECRET", "DASHBOARD_GUILD_ID"] {
            assert!(text.contains(name), "{text}");
        }
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("short-session-secret"), "{text}");
    }
}
