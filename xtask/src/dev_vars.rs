//! The workers' local secrets for `cargo xtask dev`: `.dev.vars.<env>` (or
//! `.dev.vars`, the same lookup as wrangler), each value overridable from the
//! process environment.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result};

/// Reads the dotenv file wrangler would use for `env` next to the config.
pub(crate) fn load(config_dir: &Path, env: &str) -> Result<BTreeMap<String, String>> {
    let specific = config_dir.join(format!(".dev.vars.{env}"));
    let shared = config_dir.join(".dev.vars");
    let Some(file) = [specific, shared].into_iter().find(|file| file.is_file()) else {
        return Ok(BTreeMap::new());
    };
    let text = fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let mut vars = parse(&text);
    for (key, value) in &mut vars {
        if let Ok(from_env) = std::env::var(key) {
            *value = from_env;
        }
    }
    Ok(vars)
}

/// `KEY=VALUE` lines; `#` comments, `export ` prefixes and matching quotes
/// around values are dropped.
pub(crate) fn parse(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            Some((key.trim().to_owned(), unquote(value.trim()).to_owned()))
        })
        .collect()
}

fn unquote(value: &str) -> &str {
    for quote in ['"', '\'', '`'] {
        if let Some(inner) = value
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner;
        }
    }
    // Unquoted: an inline comment ends the value.
    value.split(" #").next().unwrap_or(value).trim_end()
}

/// Dotenv text wrangler reads back to the same values: each value in a quote
/// character it does not contain.
pub(crate) fn render(vars: &BTreeMap<String, String>) -> String {
    vars.iter()
        .map(|(key, value)| {
            let quote = ['\'', '"', '`']
                .into_iter()
                .find(|quote| !value.contains(*quote))
                .unwrap_or('\'');
            format!("{key}={quote}{value}{quote}\n")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dotenv_lines() {
        let vars = parse(
            "# secrets\nDISCORD_BOT_TOKEN=abc.def\nexport GEMINI_API_KEY = \"k y\"\n\
             QUOTED='it \"is\"'\nINLINE=value # comment\nnot a pair\n",
        );
        let expected: BTreeMap<String, String> = [
            ("DISCORD_BOT_TOKEN", "abc.def"),
            ("GEMINI_API_KEY", "k y"),
            ("INLINE", "value"),
            ("QUOTED", "it \"is\""),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(vars, expected);
    }

    #[test]
    fn rendered_values_parse_back_unchanged() {
        let vars: BTreeMap<String, String> = [
            ("A", "plain"),
            ("B", "has 'single' quotes"),
            ("C", "has 'both' \"quotes\""),
            ("D", "a=b # not a comment"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        assert_eq!(parse(&render(&vars)), vars);
    }

    #[test]
    fn prefers_the_env_specific_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(".dev.vars"), "SHARED=1\n").expect("write");
        assert_eq!(load(dir.path(), "dashboard").expect("load")["SHARED"], "1");
        fs::write(dir.path().join(".dev.vars.dashboard"), "ONLY_DASHBOARD=2\n").expect("write");
        let vars = load(dir.path(), "dashboard").expect("load");
        assert_eq!(vars.keys().collect::<Vec<_>>(), ["ONLY_DASHBOARD"]);
        assert!(
            load(dir.path(), "interactions")
                .expect("load")
                .contains_key("SHARED")
        );
    }
}
