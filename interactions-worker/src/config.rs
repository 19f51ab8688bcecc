//! The interactions worker's configuration, read from its bindings.

use community_core::audit::{GenerationLimits, PriceTable};
use community_core::config::{ConfigError, Reader, Secret};
use community_core::signature::InteractionKey;
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

/// Discord's v10 REST API.
pub const DEFAULT_DISCORD_API_BASE: &str = "https://discord.com/api/v10";
/// Google's Generative Language API.
pub const DEFAULT_GEMINI_API_BASE: &str = "https://generativelanguage.googleapis.com/v1beta";
pub const DEFAULT_GEMINI_MODEL: &str = "gemini-2.5-flash";
/// How long an audit waits for Gemini (`GEMINI_TIMEOUT_MS`).
pub const DEFAULT_GEMINI_TIMEOUT: std::time::Duration = community_clients::gemini::DEFAULT_TIMEOUT;
/// The longest `GEMINI_TIMEOUT_MS` allowed: Cloudflare keeps `waitUntil`
/// work alive for 30 s after the response, and an audit also reads its
/// books before the call and records itself and replies after it.
pub const MAX_GEMINI_TIMEOUT_MS: u64 = 20_000;
/// USD per million input/output tokens.
pub const DEFAULT_AI_PRICES: &str = "gemini-2.5-flash=0.30/2.50;gemini-2.5-pro=1.25/10.00";

#[derive(Debug)]
pub struct Config {
    pub public_key: Option<InteractionKey>,
    pub application_id: Option<Id<ApplicationMarker>>,
    pub bot_token: Secret,
    pub discord_api_base: String,
    pub gemini_api_base: String,
    pub gemini_api_key: Option<Secret>,
    pub gemini_model: String,
    /// How long an audit waits for Gemini before telling the member it failed.
    pub gemini_timeout: std::time::Duration,
    /// What one audit's call may spend on output (`GEMINI_MAX_OUTPUT_TOKENS`,
    /// `GEMINI_THINKING_BUDGET`).
    pub gemini_limits: GenerationLimits,
    pub prices: Option<PriceTable>,
    pub supabase_rest_url: String,
    pub supabase_service_role_key: Secret,
    pub relay_shared_secret: Secret,
    pub relay_max_skew_secs: i64,
}

impl Config {
    pub fn read(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut read = Reader::new(lookup);
        let config = Self {
            public_key: read.parse_with("DISCORD_PUBLIC_KEY", |v| {
                InteractionKey::from_hex(v).map_err(|e| e.to_string())
            }),
            application_id: read.parse_with("DISCORD_APPLICATION_ID", |v| {
                v.parse::<u64>()
                    .ok()
                    .and_then(Id::new_checked)
                    .ok_or_else(|| "not a Discord id".to_owned())
            }),
            bot_token: read.secret("DISCORD_BOT_TOKEN", 1),
            discord_api_base: read.url("DISCORD_API_BASE", Some(DEFAULT_DISCORD_API_BASE)),
            gemini_api_base: read.url("GEMINI_API_BASE", Some(DEFAULT_GEMINI_API_BASE)),
            gemini_api_key: read.optional_secret("GEMINI_API_KEY"),
            gemini_model: read
                .optional("GEMINI_MODEL")
                .unwrap_or_else(|| DEFAULT_GEMINI_MODEL.to_owned()),
            gemini_timeout: read
                .optional_with("GEMINI_TIMEOUT_MS", |v| match v.trim().parse::<u64>() {
                    Ok(ms @ 1..=MAX_GEMINI_TIMEOUT_MS) => Ok(std::time::Duration::from_millis(ms)),
                    _ => Err(format!(
                        "milliseconds, from 1 to {MAX_GEMINI_TIMEOUT_MS} (an audit runs in the \
                         30 s Cloudflare gives a worker after it answers, and still has to \
                         record itself and reply)"
                    )),
                })
                .unwrap_or(DEFAULT_GEMINI_TIMEOUT),
            gemini_limits: GenerationLimits {
                max_output_tokens: read.parse_or(
                    "GEMINI_MAX_OUTPUT_TOKENS",
                    GenerationLimits::DEFAULT_MAX_OUTPUT_TOKENS,
                ),
                thinking_budget: read.optional_with("GEMINI_THINKING_BUDGET", |v| {
                    match v.trim().parse::<i32>() {
                        Ok(budget @ -1..=32_768) => Ok(budget),
                        _ => {
                            Err("tokens, from 0 to 32768, or -1 to let the model decide".to_owned())
                        }
                    }
                }),
            },
            prices: match read.optional("AI_PRICES") {
                None => PriceTable::parse(DEFAULT_AI_PRICES).ok(),
                Some(_) => read.parse_with("AI_PRICES", |v| {
                    PriceTable::parse(v).map_err(|e| e.to_string())
                }),
            },
            supabase_rest_url: read.url("SUPABASE_REST_URL", None),
            supabase_service_role_key: read.secret("SUPABASE_SERVICE_ROLE_KEY", 1),
            relay_shared_secret: read.secret("RELAY_SHARED_SECRET", 32),
            relay_max_skew_secs: read.parse_or("RELAY_MAX_SKEW_SECS", 300),
        };
        let limits = config.gemini_limits;
        if !(256..=65_536).contains(&limits.max_output_tokens) {
            read.problem(
                "GEMINI_MAX_OUTPUT_TOKENS",
                "must be from 256 to 65536 tokens (a verdict takes up to about 1,000)".to_owned(),
            );
        } else if let Some(problem) = limits.thinking_budget.and_then(|budget| {
            community_core::audit::thinking_budget_problem(&config.gemini_model, budget)
        }) {
            read.problem("GEMINI_THINKING_BUDGET", problem);
        } else if let Some(budget) = limits.thinking_budget
            && i64::from(budget) + 256 > i64::from(limits.max_output_tokens)
        {
            read.problem(
                "GEMINI_THINKING_BUDGET",
                format!(
                    "leaves no room for the verdict: thinking counts against \
                     GEMINI_MAX_OUTPUT_TOKENS ({}), so keep the budget at least 256 tokens below it",
                    limits.max_output_tokens
                ),
            );
        }
        // A model the price table leaves out would be charged $0, and the
        // guild's daily budget would never stop its calls.
        if let Some(prices) = &config.prices
            && prices.price(&config.gemini_model).is_none()
        {
            read.problem(
                "AI_PRICES",
                format!(
                    "has no price for GEMINI_MODEL ({:?}), so its calls would cost nothing \
                     against the daily AI budget; add `{}=<input>/<output>` (USD per million tokens)",
                    config.gemini_model, config.gemini_model
                ),
            );
        }
        read.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn complete() -> HashMap<&'static str, String> {
        HashMap::from([
            ("DISCORD_PUBLIC_KEY", "a".repeat(64)),
            ("DISCORD_APPLICATION_ID", "1100000000000000001".to_owned()),
            ("DISCORD_BOT_TOKEN", "token".to_owned()),
            ("SUPABASE_REST_URL", "http://127.0.0.1:54321".to_owned()),
            ("SUPABASE_SERVICE_ROLE_KEY", "key".to_owned()),
            ("RELAY_SHARED_SECRET", "s".repeat(32)),
        ])
    }

    #[test]
    fn every_missing_variable_is_named() {
        let err = Config::read(&|_| None).expect_err("nothing set");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "DISCORD_PUBLIC_KEY",
                "DISCORD_APPLICATION_ID",
                "DISCORD_BOT_TOKEN",
                "SUPABASE_REST_URL",
                "SUPABASE_SERVICE_ROLE_KEY",
                "RELAY_SHARED_SECRET"
            ]
        );
    }

    #[test]
    fn defaults_point_at_the_real_services() {
        let vars = complete();
        let config = Config::read(&|n| vars.get(n).cloned()).expect("valid");
        assert_eq!(config.discord_api_base, DEFAULT_DISCORD_API_BASE);
        assert_eq!(config.gemini_api_base, DEFAULT_GEMINI_API_BASE);
        assert_eq!(config.gemini_model, DEFAULT_GEMINI_MODEL);
        assert!(config.gemini_api_key.is_none());
        assert!(config.prices.is_some());
        assert_eq!(config.gemini_timeout, DEFAULT_GEMINI_TIMEOUT);
    }

    #[test]
    fn the_gemini_time_limit_is_milliseconds() {
        let mut vars = complete();
        vars.insert("GEMINI_TIMEOUT_MS", "1500".to_owned());
        let config = Config::read(&|n| vars.get(n).cloned()).expect("valid");
        assert_eq!(
            config.gemini_timeout,
            std::time::Duration::from_millis(1500)
        );
        vars.insert("GEMINI_TIMEOUT_MS", "20000".to_owned());
        assert!(Config::read(&|n| vars.get(n).cloned()).is_ok());
        for bad in ["0", "soon", "-5", "20001", "600000"] {
            vars.insert("GEMINI_TIMEOUT_MS", bad.to_owned());
            let err = Config::read(&|n| vars.get(n).cloned()).expect_err(bad);
            assert!(err.to_string().contains("GEMINI_TIMEOUT_MS"), "{err}");
        }
    }

    #[test]
    fn output_limits_are_bounded_and_leave_room_for_the_verdict() {
        let mut vars = complete();
        let read = |vars: &HashMap<&'static str, String>| Config::read(&|n| vars.get(n).cloned());
        let limits = read(&vars).expect("valid").gemini_limits;
        assert_eq!(limits, GenerationLimits::default());
        vars.insert("GEMINI_MAX_OUTPUT_TOKENS", "2048".to_owned());
        vars.insert("GEMINI_THINKING_BUDGET", "1024".to_owned());
        let limits = read(&vars).expect("valid").gemini_limits;
        assert_eq!(
            (limits.max_output_tokens, limits.thinking_budget),
            (2048, Some(1024))
        );
        for (name, bad) in [
            ("GEMINI_MAX_OUTPUT_TOKENS", "100"),
            ("GEMINI_MAX_OUTPUT_TOKENS", "lots"),
            ("GEMINI_MAX_OUTPUT_TOKENS", "100000"),
            ("GEMINI_THINKING_BUDGET", "-2"),
            ("GEMINI_THINKING_BUDGET", "none"),
            // 2048 output tokens, of which 1900 thinking: no room to answer.
            ("GEMINI_THINKING_BUDGET", "1900"),
        ] {
            let mut vars = vars.clone();
            vars.insert(name, bad.to_owned());
            let err = read(&vars).expect_err(bad);
            assert!(err.to_string().contains(name), "{bad}: {err}");
        }
        // Pro cannot turn thinking off.
        vars.insert("GEMINI_MODEL", "gemini-2.5-pro".to_owned());
        vars.insert("GEMINI_THINKING_BUDGET", "0".to_owned());
        let err = read(&vars).expect_err("pro needs 128");
        assert!(
            err.to_string().contains("GEMINI_THINKING_BUDGET") && err.to_string().contains("128"),
            "{err}"
        );
        vars.insert("GEMINI_THINKING_BUDGET", "128".to_owned());
        assert!(read(&vars).is_ok());
    }

    #[test]
    fn malformed_values_are_named_without_secrets() {
        let mut vars = complete();
        vars.insert("DISCORD_PUBLIC_KEY", "zz".to_owned());
        vars.insert("AI_PRICES", "gemini=free".to_owned());
        vars.insert("RELAY_SHARED_SECRET", "too-short-secret".to_owned());
        let err = Config::read(&|n| vars.get(n).cloned()).expect_err("three problems");
        let text = err.to_string();
        for name in ["DISCORD_PUBLIC_KEY", "AI_PRICES", "RELAY_SHARED_SECRET"] {
            assert!(text.contains(name), "{text}");
        }
        assert!(!text.contains("too-short-secret"), "{text}");
    }

    #[test]
    fn the_model_must_have_a_price() {
        let mut vars = complete();
        vars.insert("GEMINI_MODEL", "gemini-2.5-flash-lite".to_owned());
        let err = Config::read(&|n| vars.get(n).cloned()).expect_err("unpriced model");
        let text = err.to_string();
        assert!(text.contains("AI_PRICES"), "{text}");
        assert!(text.contains("gemini-2.5-flash-lite"), "{text}");

        vars.insert(
            "AI_PRICES",
            "gemini-2.5-flash-lite=0.10/0.40;gemini-2.5-flash=0.30/2.50".to_owned(),
        );
        let config = Config::read(&|n| vars.get(n).cloned()).expect("priced now");
        assert_eq!(config.gemini_model, "gemini-2.5-flash-lite");
    }
}
