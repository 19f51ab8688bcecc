//! The Community OS data layer: typed calls over PostgREST (Supabase), shared
//! by both workers and usable natively.
//!
//! Every database call the system makes goes through [`Store`]. Writes and
//! heavy reads are SQL functions in `database/` called as RPC, so each write
//! is one transaction and analytics are computed next to the data.
//!
//! ```no_run
//! # async fn demo() -> Result<(), community_store::Error> {
//! let store = community_store::Store::new("http://127.0.0.1:54321", "service-role-key")?;
//! let health = store.database_health().await?;
//! println!("schema version {:?}", health.schema_version);
//! # Ok(()) }
//! ```

mod dashboard;
mod error;
mod tickets;
mod types;

pub use dashboard::*;
pub use error::Error;
pub use tickets::*;
pub use types::*;

use community_core::config::ConfigError;
use postgrest::Postgrest;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A handle on the database API, authenticated as the service role.
#[derive(Clone)]
pub struct Store {
    /// Builds table queries (filters, ordering, ranges).
    client: Postgrest,
    http: community_fetch::Client,
    /// `{rest_url}/rpc/`: function calls are plain POSTs, built directly.
    rpc_base: String,
    /// The key's headers, as every request carries them (see [`Store::new`]).
    auth: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Store {
    // The key never appears in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// `rest_url` is the PostgREST endpoint (`https://<project>.supabase.co/rest/v1`
    /// on Supabase); `service_role_key` the project's secret key: an
    /// `sb_secret_…` key, or the legacy `service_role` JWT.
    ///
    /// Supabase's gateway takes an `sb_secret_…` key in the `apikey` header
    /// only (it is not a JWT, and a request carrying it as a bearer token is
    /// refused); the legacy JWT goes in both `apikey` and `Authorization`, as
    /// PostgREST itself reads it there. A publishable key is refused here by
    /// name: it cannot write what the workers write. A refusal names its
    /// variable, as the workers report configuration.
    pub fn new(rest_url: &str, service_role_key: &str) -> Result<Self, ConfigError> {
        let rest_url = rest_url.trim().trim_end_matches('/');
        if !(rest_url.starts_with("http://") || rest_url.starts_with("https://")) {
            return Err(ConfigError::single(
                "SUPABASE_REST_URL",
                "must be an http(s) URL",
            ));
        }
        let key = service_role_key.trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return Err(ConfigError::single(
                "SUPABASE_SERVICE_ROLE_KEY",
                "must be a non-empty key without spaces",
            ));
        }
        if key.starts_with("sb_publishable_") {
            return Err(ConfigError::single(
                "SUPABASE_SERVICE_ROLE_KEY",
                "is a publishable key; use the project's secret key (sb_secret_...) \
                 or its legacy service_role key",
            ));
        }
        let mut auth = vec![("apikey", key.to_owned())];
        if !key.starts_with("sb_") {
            auth.push(("authorization", format!("Bearer {key}")));
        }
        let client = auth
            .iter()
            .fold(Postgrest::new(rest_url), |client, (name, value)| {
                client.insert_header(*name, value.as_str())
            });
        Ok(Self {
            client,
            http: community_fetch::Client::new(),
            rpc_base: format!("{rest_url}/rpc/"),
            auth,
        })
    }

    /// Ingest one batch of scored events in one transaction. Events already
    /// stored (by idempotency key) change nothing.
    pub async fn ingest_events(&self, events: &[ScoredEvent]) -> Result<IngestReport, Error> {
        self.rpc("ingest_events", &Args { events }).await
    }

    /// The settings a guild runs with (its row, or the defaults).
    pub async fn guild_settings(&self, guild_id: GuildId) -> Result<GuildSettings, Error> {
        #[derive(Serialize)]
        struct A {
            p_guild_id: GuildId,
        }
        self.rpc(
            "guild_settings_for",
            &A {
                p_guild_id: guild_id,
            },
        )
        .await
    }

    /// Set some of a guild's settings and return others to their defaults
    /// (`/settings`), in one call; the settings as they now stand.
    /// `values` maps columns to values (ids as strings), as
    /// [`community_core::settings::SettingsChange::values`] gives them.
    pub async fn set_guild_settings(
        &self,
        guild_id: GuildId,
        values: &serde_json::Map<String, serde_json::Value>,
        reset: &[&str],
    ) -> Result<GuildSettings, Error> {
        #[derive(Serialize)]
        struct A<'a> {
            p_guild_id: GuildId,
            p_settings: &'a serde_json::Map<String, serde_json::Value>,
            p_reset: &'a [&'a str],
        }
        self.rpc(
            "set_guild_settings",
            &A {
                p_guild_id: guild_id,
                p_settings: values,
                p_reset: reset,
            },
        )
        .await
    }

    /// A member's daily activity between two days (inclusive), oldest first.
    pub async fn member_daily_scores(
        &self,
        guild_id: GuildId,
        member_id: MemberId,
        from: Day,
        to: Day,
    ) -> Result<Vec<DailyScore>, Error> {
        #[derive(Serialize)]
        struct A {
            p_guild_id: GuildId,
            p_member_id: MemberId,
            p_from: Day,
            p_to: Day,
        }
        self.rpc(
            "member_daily_scores",
            &A {
                p_guild_id: guild_id,
                p_member_id: member_id,
                p_from: from,
                p_to: to,
            },
        )
        .await
    }

    /// Report a service's liveness and status for the health check.
    pub async fn record_heartbeat(&self, beat: &Heartbeat) -> Result<(), Error> {
        self.rpc_unit("record_heartbeat", beat).await
    }

    /// The last heartbeat of every service.
    pub async fn heartbeats(&self) -> Result<Vec<ServiceHeartbeat>, Error> {
        let query = self
            .client
            .from("service_heartbeats")
            .select("service,instance,started_at,beat_at,status")
            .order("service.asc");
        self.decode("service_heartbeats", query).await
    }

    /// Append a line to the application log; returns its id.
    pub async fn append_log(&self, entry: &LogEntry<'_>) -> Result<i64, Error> {
        self.rpc("append_log", entry).await
    }

    /// The newest log lines, newest first, optionally only one level.
    pub async fn recent_logs(
        &self,
        level: Option<LogLevel>,
        limit: usize,
    ) -> Result<Vec<LogLine>, Error> {
        let mut query = self
            .client
            .from("app_logs")
            .select("id,at,level,source,message,fields")
            .order("id.desc")
            .limit(limit);
        if let Some(level) = level {
            query = query.eq("level", level.as_str());
        }
        self.decode("app_logs", query).await
    }

    /// The database answers, and at which schema version.
    pub async fn database_health(&self) -> Result<DatabaseHealth, Error> {
        self.rpc("database_health", &serde_json::json!({})).await
    }

    pub(crate) async fn rpc<A: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        call: &'static str,
        args: &A,
    ) -> Result<T, Error> {
        let text = self.exchange(call, &self.rpc_request(call, args)?).await?;
        serde_json::from_str(&text).map_err(|source| Error::Malformed { call, source })
    }

    pub(crate) async fn rpc_unit<A: Serialize + ?Sized>(
        &self,
        call: &'static str,
        args: &A,
    ) -> Result<(), Error> {
        self.exchange(call, &self.rpc_request(call, args)?)
            .await
            .map(drop)
    }

    /// `POST /rpc/{call}` with `args` as its JSON body: what postgrest's
    /// `rpc` sends, without going through a `reqwest::Request` (a URL parse
    /// and a header map, taken apart again to be sent) on every call.
    fn rpc_request<A: Serialize + ?Sized>(
        &self,
        call: &'static str,
        args: &A,
    ) -> Result<community_fetch::Request, Error> {
        let body = serde_json::to_vec(args).map_err(|source| Error::Malformed { call, source })?;
        let mut request = community_fetch::Request::new("POST", format!("{}{call}", self.rpc_base));
        for (name, value) in &self.auth {
            request = request.header(*name, value.as_str());
        }
        Ok(request
            .header("accept", "application/json")
            .header("content-type", "application/json")
            .body(body))
    }

    /// A table query postgrest built, sent; its answer turned into `T` or a
    /// typed error.
    async fn decode<T: DeserializeOwned>(
        &self,
        call: &'static str,
        query: postgrest::Builder,
    ) -> Result<T, Error> {
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| Error::Unreachable { call, source };
        let built = query
            .build()
            .build()
            .map_err(|err| unreachable(Box::new(err)))?;
        let mut request =
            community_fetch::Request::new(built.method().as_str(), built.url().as_str());
        for (name, value) in built.headers() {
            let value = value.to_str().map_err(|err| unreachable(Box::new(err)))?;
            request = request.header(name.as_str(), value);
        }
        if let Some(body) = built.body().and_then(|body| body.as_bytes()) {
            request = request.body(body.to_vec());
        }
        let text = self.exchange(call, &request).await?;
        serde_json::from_str(&text).map_err(|source| Error::Malformed { call, source })
    }

    /// One exchange with the API through `community-fetch` (reqwest
    /// natively, the runtime's fetch in a worker): the body of a 2xx
    /// response, or the error the response stands for. (Read even when
    /// unused: PostgREST's answers are small, and a body read to its end
    /// leaves the connection free for the next call, where a cancelled one
    /// closes it.)
    async fn exchange(
        &self,
        call: &'static str,
        outgoing: &community_fetch::Request,
    ) -> Result<String, Error> {
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| Error::Unreachable { call, source };
        let response = self
            .http
            .send(outgoing)
            .await
            .map_err(|err| unreachable(Box::new(err)))?;
        let text = String::from_utf8(response.body)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        if (200..300).contains(&response.status) {
            return Ok(text);
        }
        let body: error::ApiErrorBody = serde_json::from_str(&text).unwrap_or_default();
        Err(body.into_error(call, response.status, &text))
    }
}

#[derive(Serialize)]
struct Args<'a> {
    events: &'a [ScoredEvent],
}
