//! A fresh database and API per test.
//!
//! `cargo xtask test` runs one cluster and a template database with every
//! migration applied (see [`crate::env`]). [`TestDatabase::create`] clones the
//! template (a few milliseconds) and serves the clone through its own
//! postrust, so tests run in parallel without seeing each other's rows.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let db = local_stack::testing::TestDatabase::create()?;
//! // Point the code under test at db.api_url() with db.service_key() ...
//! assert_eq!(db.sql("select 1, 'a'"), "1|a");
//! # Ok(())
//! # }
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context as _, Result};

use crate::pg::{self, Psql, quote_ident};
use crate::postrust::{Postrust, PostrustOptions};
use crate::supabase::{AUTHENTICATOR, AUTHENTICATOR_PASSWORD};
use crate::{env, jwt};

/// Distinguishes databases created by one process.
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(0);

/// A database cloned from the migrated template, with a PostgREST-compatible
/// API over it. Dropping it stops the API and drops the database.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    admin: Psql,
    db: Psql,
    api: Option<Postrust>,
    /// How the API was started, to start it again on the same port.
    api_options: Option<PostrustOptions>,
    api_url: String,
    log_file: PathBuf,
    service_key: String,
    anon_key: String,
}

impl TestDatabase {
    /// Clones the template and starts the API; blocks until it answers
    /// (typically well under a second).
    pub fn create() -> Result<Self> {
        let admin_url = env::required(env::PG_URL)?;
        let template = env::required(env::PG_TEMPLATE)?;
        let postrust_bin = PathBuf::from(env::required(env::POSTRUST_BIN)?);
        let jwt_secret = env::required(env::JWT_SECRET)?;

        let name = unique_name();
        let admin = Psql::new(&admin_url);
        admin
            .execute(&format!(
                "create database {} template {}",
                quote_ident(&name),
                quote_ident(&template)
            ))
            .with_context(|| format!("cloning test database {name} from {template}"))?;
        let db_url = pg::with_database(&admin_url, &name)?;
        let log_file = std::env::temp_dir().join(format!("{name}.postrust.log"));
        let mut database = Self {
            db: Psql::new(&db_url),
            admin,
            api: None,
            api_options: None,
            api_url: String::new(),
            log_file,
            service_key: jwt::service_role_key(&jwt_secret),
            anon_key: jwt::anon_key(&jwt_secret),
            name,
        };
        // Built after `database` exists, so its drop cleans up if this fails.
        let api_db_url = authenticator_url(&db_url)?;
        let options = PostrustOptions {
            bin: postrust_bin,
            db_url: api_db_url,
            jwt_secret,
            port: None,
            log_file: database.log_file.clone(),
            own_process_group: false,
        };
        let api = Postrust::start(&options)?;
        database.api_url = api.url().to_owned();
        database.api_options = Some(PostrustOptions {
            port: Some(api.port()),
            ..options
        });
        database.api = Some(api);
        Ok(database)
    }

    /// The REST endpoint (what `SUPABASE_REST_URL` is on Supabase). It stays
    /// the same across [`Self::stop_api`] and [`Self::restart_api`].
    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Stop the API, keeping the database: what "the database API is down"
    /// looks like to its clients.
    pub fn stop_api(&mut self) {
        if let Some(api) = self.api.take() {
            api.stop();
        }
    }

    /// Start the API again on the same port.
    pub fn restart_api(&mut self) -> Result<()> {
        self.stop_api();
        let options = self
            .api_options
            .as_ref()
            .context("the API was never started")?;
        self.api = Some(Postrust::start(options)?);
        Ok(())
    }

    /// A service-role key the API accepts (bypasses RLS).
    pub fn service_key(&self) -> &str {
        &self.service_key
    }

    /// An anon key the API accepts (RLS applies).
    pub fn anon_key(&self) -> &str {
        &self.anon_key
    }

    /// Superuser URL of this database, for direct SQL assertions.
    pub fn db_url(&self) -> &str {
        self.db.url()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs SQL as the superuser; returns rows unaligned (`psql -At`: columns
    /// `|`-separated, one row per line). Panics with psql's error on failure.
    pub fn sql(&self, query: &str) -> String {
        match self.db.query(query) {
            Ok(rows) => rows,
            Err(error) => panic!("SQL failed in {}: {error:#}\n{query}", self.name),
        }
    }

    /// Like [`Self::sql`], returning the error instead of panicking.
    pub fn try_sql(&self, query: &str) -> Result<String> {
        self.db.query(query)
    }

    /// The API's log so far (kept after a failing test, path printed).
    pub fn api_log(&self) -> String {
        crate::process::log_tail(&self.log_file, 200)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(api) = self.api.take() {
            api.stop();
        }
        let drop_sql = format!(
            "drop database if exists {} with (force)",
            quote_ident(&self.name)
        );
        if let Err(error) = self.admin.execute(&drop_sql) {
            eprintln!("warning: dropping test database {}: {error:#}", self.name);
        }
        if std::thread::panicking() {
            eprintln!("postrust log of {}: {}", self.name, self.log_file.display());
        } else {
            let _ = std::fs::remove_file(&self.log_file);
        }
    }
}

/// Unique across the parallel test processes of one run and across runs.
fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "test_{}_{}_{nanos:09}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
    )
}

/// The same database, as the role the API logs in with.
fn authenticator_url(db_url: &str) -> Result<String> {
    let mut url = url::Url::parse(db_url).context("invalid database URL")?;
    url.set_username(AUTHENTICATOR)
        .and_then(|()| url.set_password(Some(AUTHENTICATOR_PASSWORD)))
        .map_err(|()| anyhow::anyhow!("cannot set credentials on {}", pg::redact(db_url)))?;
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_within_a_process() {
        let first = unique_name();
        let second = unique_name();
        assert_ne!(first, second);
        assert!(first.starts_with(&format!("test_{}_", std::process::id())));
        assert!(
            first.len() < 63,
            "Postgres truncates identifiers at 63 bytes"
        );
    }

    #[test]
    fn api_connects_as_the_authenticator() {
        let url = authenticator_url("postgres://postgres@127.0.0.1:5432/test_1").expect("valid");
        assert_eq!(
            url,
            format!("postgres://authenticator:{AUTHENTICATOR_PASSWORD}@127.0.0.1:5432/test_1")
        );
    }
}
