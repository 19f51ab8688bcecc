//! The dashboard worker's configuration, read from its bindings.

use community_core::config::{ConfigError, Reader, Secret};
use worker::Env;

#[derive(Debug)]
#[allow(dead_code)] // fields are read by the pages as they land
pub(crate) struct Config {
    pub(crate) supabase_rest_url: String,
    pub(crate) supabase_service_role_key: Secret,
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
}
