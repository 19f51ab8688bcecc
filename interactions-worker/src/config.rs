//! The interactions worker's configuration, read from its bindings.

use community_core::config::{ConfigError, Reader, Secret};
use worker::Env;

/// Discord's v10 REST API.
pub(crate) const DEFAULT_DISCORD_API_BASE: &str = "https://discord.com/api/v10";
/// Google's Generative Language API.
pub(crate) const DEFAULT_GEMINI_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta";

#[derive(Debug)]
#[allow(dead_code)] // fields are read by the handlers as they land
pub(crate) struct Config {
    pub(crate) supabase_rest_url: String,
    pub(crate) supabase_service_role_key: Secret,
    pub(crate) discord_api_base: String,
    pub(crate) gemini_api_base: String,
}

impl Config {
    pub(crate) fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let lookup = |name: &str| env.var(name).ok().map(|v| v.to_string());
        Self::read(&lookup)
    }

    fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = Reader::new(lookup);
        let config = Self {
            supabase_rest_url: read.url("SUPABASE_REST_URL", None),
            supabase_service_role_key: read.secret("SUPABASE_SERVICE_ROLE_KEY", 1),
            discord_api_base: read.url("DISCORD_API_BASE", Some(DEFAULT_DISCORD_API_BASE)),
            gemini_api_base: read.url("GEMINI_API_BASE", Some(DEFAULT_GEMINI_API_BASE)),
        };
        read.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_store_settings_are_named() {
        let err = Config::read(&|_| None).expect_err("nothing set");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["SUPABASE_REST_URL", "SUPABASE_SERVICE_ROLE_KEY"]);
    }

    #[test]
    fn api_bases_default_to_the_real_services() {
        let lookup = |name: &str| match name {
            "SUPABASE_REST_URL" => Some("http://127.0.0.1:54321".to_owned()),
            "SUPABASE_SERVICE_ROLE_KEY" => Some("k".to_owned()),
            _ => None,
        };
        let config = Config::read(&lookup).expect("valid");
        assert_eq!(config.discord_api_base, DEFAULT_DISCORD_API_BASE);
        assert_eq!(config.gemini_api_base, DEFAULT_GEMINI_API_BASE);
    }
}
