//! Reading configuration from name → value lookups (a worker's `Env`, the
//! process environment, a test map), reporting every problem by name at once.
//!
//! ```
//! use community_core::config::Reader;
//! let vars = |name: &str| (name == "PORT").then(|| "80x".to_owned());
//! let mut read = Reader::new(&vars);
//! let _port: u16 = read.parse_or("PORT", 8080);
//! let _token = read.secret("TOKEN", 1);
//! let err = read.finish().unwrap_err();
//! assert_eq!(err.to_string(), "configuration: PORT is not valid (\"80x\"); TOKEN is missing");
//! ```

use std::fmt;
use std::str::FromStr;

/// One thing wrong with one variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The variable's name.
    pub name: String,
    /// What is wrong, never including a secret's value.
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.what)
    }
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl ConfigError {
    /// One problem with one variable.
    pub fn single(name: &str, what: impl Into<String>) -> Self {
        Self {
            problems: vec![Problem {
                name: name.to_owned(),
                what: what.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("configuration: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A secret value: usable, never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

/// Reads variables and collects problems; call [`Reader::finish`] at the end.
pub struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<Problem>,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("problems", &self.problems)
            .finish_non_exhaustive()
    }
}

impl<'a> Reader<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            lookup,
            problems: Vec::new(),
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// Report a problem with `name` found by a check of its own (one that
    /// looks at several variables together, say).
    pub fn problem(&mut self, name: &str, what: impl Into<String>) {
        self.problems.push(Problem {
            name: name.to_owned(),
            what: what.into(),
        });
    }

    /// A plain value that must be set.
    pub fn required(&mut self, name: &str) -> String {
        self.get(name).unwrap_or_else(|| {
            self.problem(name, "is missing");
            String::new()
        })
    }

    /// A plain value that may be absent.
    pub fn optional(&mut self, name: &str) -> Option<String> {
        self.get(name)
    }

    /// A secret that must be set and at least `min_len` bytes long.
    pub fn secret(&mut self, name: &str, min_len: usize) -> Secret {
        match self.get(name) {
            None => {
                self.problem(name, "is missing");
                Secret::default()
            }
            Some(v) if v.len() < min_len => {
                self.problem(
                    name,
                    format!("is too short (at least {min_len} characters)"),
                );
                Secret::default()
            }
            Some(v) => Secret(v),
        }
    }

    /// A secret that may be absent (the feature it enables is then off).
    pub fn optional_secret(&mut self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret)
    }

    /// An http(s) base URL without a trailing slash; `default` when unset.
    pub fn url(&mut self, name: &str, default: Option<&str>) -> String {
        self.url_with_schemes(name, default, &["http", "https"])
    }

    /// A URL whose scheme is one of `schemes`, without a trailing slash;
    /// `default` when unset.
    pub fn url_with_schemes(
        &mut self,
        name: &str,
        default: Option<&str>,
        schemes: &[&str],
    ) -> String {
        let Some(value) = self.get(name).or_else(|| default.map(str::to_owned)) else {
            self.problem(name, "is missing");
            return String::new();
        };
        let valid = value
            .split_once("://")
            .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && !rest.is_empty());
        if !valid || value.contains(char::is_whitespace) {
            self.problem(
                name,
                format!("is not a {} URL ({value:?})", schemes.join("/")),
            );
            return String::new();
        }
        value.trim_end_matches('/').to_owned()
    }

    /// A value parsed with `FromStr`; `default` when unset.
    pub fn parse_or<T: FromStr>(&mut self, name: &str, default: T) -> T {
        match self.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|_| {
                self.problem(name, format!("is not valid ({v:?})"));
                default
            }),
        }
    }

    /// A value parsed by `parse`, which says what is wrong; must be set.
    pub fn parse_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let value = self.get(name);
        match value {
            None => {
                self.problem(name, "is missing");
                None
            }
            Some(v) => match parse(&v) {
                Ok(t) => Some(t),
                Err(why) => {
                    self.problem(name, format!("is not valid: {why}"));
                    None
                }
            },
        }
    }

    /// A value parsed by `parse`, which says what is wrong, when it is set;
    /// `None` when it is not (or is malformed: then reported).
    pub fn optional_with<T>(
        &mut self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.get(name)?;
        self.parse_with(name, parse)
    }

    /// `Ok` when nothing was wrong, else every problem by name.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: self.problems,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_problem_is_reported_by_name_without_secret_values() {
        let map = vars(&[
            ("API", "ftp://x"),
            ("N", "twelve"),
            ("KEY", "short-secret-value"),
        ]);
        let lookup = |n: &str| map.get(n).cloned();
        let mut read = Reader::new(&lookup);
        read.url("API", None);
        read.parse_or("N", 3_u32);
        read.secret("KEY", 32);
        read.required("MISSING");
        let err = read.finish().expect_err("four problems");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["API", "N", "KEY", "MISSING"]);
        assert!(!err.to_string().contains("short-secret-value"));
    }

    #[test]
    fn defaults_apply_when_unset_or_blank() {
        let map = vars(&[("BLANK", "  ")]);
        let lookup = |n: &str| map.get(n).cloned();
        let mut read = Reader::new(&lookup);
        assert_eq!(
            read.url("BLANK", Some("https://discord.com/api/v10/")),
            "https://discord.com/api/v10"
        );
        assert_eq!(read.parse_or("UNSET", 7_u8), 7);
        assert_eq!(read.optional("UNSET"), None);
        assert_eq!(read.optional_with("UNSET", |_| Ok(1)), None);
        assert!(read.finish().is_ok());
    }

    #[test]
    fn an_optional_value_is_parsed_only_when_set() {
        let map = vars(&[("N", "12"), ("BAD", "x")]);
        let lookup = |n: &str| map.get(n).cloned();
        let mut read = Reader::new(&lookup);
        let number = |v: &str| v.parse::<u8>().map_err(|_| "a number".to_owned());
        assert_eq!(read.optional_with("N", number), Some(12));
        assert_eq!(read.optional_with("BAD", number), None);
        assert_eq!(read.optional_with("UNSET", number), None);
        let err = read.finish().expect_err("BAD is malformed");
        let names: Vec<_> = err.problems.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["BAD"]);
    }

    #[test]
    fn urls_table() {
        for (value, ok) in [
            ("http://127.0.0.1:54321", true),
            ("https://x.supabase.co/rest/v1", true),
            ("https://", false),
            ("127.0.0.1:54321", false),
            ("http://a b", false),
        ] {
            let lookup = |_: &str| Some(value.to_owned());
            let mut read = Reader::new(&lookup);
            read.url("U", None);
            assert_eq!(read.finish().is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn secrets_do_not_debug_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(\"***\")");
    }
}
