//! The dashboard worker under `wrangler dev` with a small hand-built
//! community, and a client that signs in the way a browser does. Shared by
//! the dashboard's end-to-end tests and its browser test
//! (`mod dashboard_common;`).

#![allow(dead_code, unreachable_pub)] // each test file uses its own part

use anyhow::{Context as _, Result, bail, ensure};
use local_stack::testing::TestDatabase;
use local_stack::{WranglerDev, http};

use e2e::Worker;

pub const GUILD: u64 = 1_500_000_000_000_000_001;
pub const CHANNEL: u64 = 1_500_000_000_000_000_101;
/// A rising member whose display name is an attempt at script injection.
pub const SCRIPT_MEMBER: u64 = 1_500_000_000_000_001_001;
pub const SCRIPT_NAME: &str = "<script>alert(1)</script>";
/// Active for weeks, then silent: a churn risk.
pub const QUIET_MEMBER: u64 = 1_500_000_000_000_001_002;
pub const QUIET_NAME: &str = "quiet_owl";
/// Steady, with a ticket and an audit.
pub const STEADY_MEMBER: u64 = 1_500_000_000_000_001_003;
pub const STEADY_NAME: &str = "steady & \"sure\"";
pub const STAFF_MEMBER: u64 = 1_500_000_000_000_001_009;
pub const STAFF_NAME: &str = "mod-ash";

pub const PASSWORD: &str = "correct horse battery staple";
pub const SESSION_SECRET: &str = "dashboard-session-secret-0123456789abcdef";

/// The community the dashboard tests look at: scored events through the
/// real `ingest_events`, plus tickets, audits, ledger rows, log lines and a
/// relay heartbeat. Days are relative to today (UTC), as the pages are.
pub const COMMUNITY_SQL: &str = r#"
select ingest_events(coalesce((select jsonb_agg(e) from (
    -- the script-named member: 3 messages a day this week, 1 a day the week before
    select jsonb_build_object(
        'idempotency_key', 'message:s' || d || ':' || n, 'guild_id', '{GUILD}',
        'member_id', '{SCRIPT_MEMBER}', 'member_name', '{SCRIPT_NAME}', 'channel_id', '{CHANNEL}',
        'message_id', (1700000000000000000 + d * 100 + n)::text, 'kind', 'message',
        'occurred_at', (current_date - d)::timestamp + interval '9 hours' + n * interval '1 minute',
        'points', 1) as e
    from generate_series(0, 13) d, generate_series(1, 3) n
    where d <= 6 or n = 1
    union all
    -- the quiet member: 2 a day from 40 to 20 days ago, nothing since
    select jsonb_build_object(
        'idempotency_key', 'message:q' || d || ':' || n, 'guild_id', '{GUILD}',
        'member_id', '{QUIET_MEMBER}', 'member_name', '{QUIET_NAME}', 'channel_id', '{CHANNEL}',
        'message_id', (1710000000000000000 + d * 100 + n)::text, 'kind', 'message',
        'occurred_at', (current_date - d)::timestamp + interval '10 hours' + n * interval '1 minute',
        'points', 1)
    from generate_series(20, 40) d, generate_series(1, 2) n
    union all
    -- the steady member: 1 message and 1 reaction every day for 60 days
    select jsonb_build_object(
        'idempotency_key', 'message:t' || d, 'guild_id', '{GUILD}',
        'member_id', '{STEADY_MEMBER}', 'member_name', '{STEADY_NAME}', 'channel_id', '{CHANNEL}',
        'message_id', (1720000000000000000 + d)::text, 'kind', 'message',
        'occurred_at', (current_date - d)::timestamp + interval '11 hours', 'points', 1)
    from generate_series(0, 59) d
    union all
    select jsonb_build_object(
        'idempotency_key', 'reaction_add:t' || d, 'guild_id', '{GUILD}',
        'member_id', '{STEADY_MEMBER}', 'channel_id', '{CHANNEL}',
        'message_id', (1700000000000000000 + d * 100 + 1)::text, 'kind', 'reaction_add', 'emoji', '👍',
        'occurred_at', (current_date - d)::timestamp + interval '12 hours', 'points', 0.5)
    from generate_series(0, 59) d
) x), '[]'::jsonb));

insert into guild_members (guild_id, member_id, display_name) values ({GUILD}, {STAFF_MEMBER}, '{STAFF_NAME}');
insert into guild_settings (guild_id, ai_daily_budget_usd) values ({GUILD}, 0.01);

insert into tickets (guild_id, channel_id, opener_id, opener_name, reason, status, opened_at, claimed_by,
                     claimed_at, first_response_at, closed_by, closed_at, close_note)
values ({GUILD}, 1500000000000009001, {STEADY_MEMBER}, '{STEADY_NAME}', 'Cannot see the rules channel', 'closed',
        now() - interval '3 days', {STAFF_MEMBER}, now() - interval '3 days' + interval '15 minutes',
        now() - interval '3 days' + interval '15 minutes', {STAFF_MEMBER}, now() - interval '2 days', 'resolved'),
       ({GUILD}, 1500000000000009002, {QUIET_MEMBER}, '{QUIET_NAME}', 'Appeal a mute', 'open',
        now() - interval '5 hours', null, null, null, null, null, null);
insert into ticket_messages (ticket_id, message_id, author_id, author_name, content, attachments, sent_at)
select t.id, v.n, v.author, v.name, v.content, v.attachments::jsonb, t.opened_at + v.n * interval '10 minutes'
from tickets t,
     (values (1, {STEADY_MEMBER}, '{STEADY_NAME}', 'I cannot see <b>#rules</b>', '[]'),
             (2, {STAFF_MEMBER}, '{STAFF_NAME}', 'Fixed your role, try now', '[{"filename":"roles.png","url":"https://cdn.example.invalid/roles.png"}]'),
             (3, {STEADY_MEMBER}, '{STEADY_NAME}', 'Works, thanks!', '[]')) as v(n, author, name, content, attachments)
where t.guild_id = {GUILD} and t.status = 'closed';

insert into audits (guild_id, requested_by, channel_id, source, text_hash, text_length, verdict, reasons,
                    suggested_fixes, model, input_tokens, output_tokens, cost_usd, status, error, created_at)
values ({GUILD}, {STEADY_MEMBER}, {CHANNEL}, 'command', 'h1', 120, 'red', '["Asks for passwords"]',
        '["Remove the login link"]', 'gemini-2.5-flash', 500, 90, 0.000375, 'ok', null, now() - interval '1 day'),
       ({GUILD}, {STAFF_MEMBER}, {CHANNEL}, 'message', 'h2', 80, 'green', '["No issues found"]',
        '[]', 'gemini-2.5-flash', 400, 40, 0.00022, 'ok', null, now() - interval '2 days'),
       ({GUILD}, {STAFF_MEMBER}, {CHANNEL}, 'command', 'h3', 80, null, '[]',
        '[]', 'gemini-2.5-pro', 300, 0, 0.02, 'failed', 'Gemini answered HTTP 503', now() - interval '1 day');
insert into ai_usage_ledger (guild_id, audit_id, model, input_tokens, output_tokens, cost_usd, succeeded, error_kind, created_at)
select guild_id, id, model, input_tokens, output_tokens, cost_usd, status = 'ok',
       case when status = 'failed' then 'unavailable' end, created_at
from audits where guild_id = {GUILD};

insert into app_logs (level, source, message, fields) values
    ('info', 'interactions-worker', 'ticket opened', '{"ticket": 1}'),
    ('error', 'interactions-worker', 'Gemini call failed: HTTP 503', '{}'),
    ('warn', 'gateway-relay', 'batch retried <after> a timeout', '{}');

select record_heartbeat('gateway-relay', 'relay-test', now() - interval '2 hours',
    '{"instance": "relay-test", "spool_batches": 0, "spool_events": 0, "events_forwarded": 160}');
"#;

/// `COMMUNITY_SQL` with its placeholders filled.
pub fn community_sql() -> String {
    [
        ("{GUILD}", GUILD.to_string()),
        ("{CHANNEL}", CHANNEL.to_string()),
        ("{SCRIPT_MEMBER}", SCRIPT_MEMBER.to_string()),
        ("{SCRIPT_NAME}", SCRIPT_NAME.to_owned()),
        ("{QUIET_MEMBER}", QUIET_MEMBER.to_string()),
        ("{QUIET_NAME}", QUIET_NAME.to_owned()),
        ("{STEADY_MEMBER}", STEADY_MEMBER.to_string()),
        ("{STEADY_NAME}", STEADY_NAME.to_owned()),
        ("{STAFF_MEMBER}", STAFF_MEMBER.to_string()),
        ("{STAFF_NAME}", STAFF_NAME.to_owned()),
    ]
    .iter()
    .fold(COMMUNITY_SQL.to_owned(), |sql, (key, value)| {
        sql.replace(key, value)
    })
}

/// The variables the dashboard needs besides the database's.
pub fn dashboard_vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ADMIN_PASSWORD", PASSWORD),
        ("SESSION_SECRET", SESSION_SECRET),
    ]
}

/// The community in a fresh database, and the dashboard serving it.
#[derive(Debug)]
pub struct Dashboard {
    pub db: TestDatabase,
    pub worker: WranglerDev,
}

impl Dashboard {
    /// A fresh database with [`COMMUNITY_SQL`] loaded, and the worker.
    pub fn start(extra: &[(&str, &str)]) -> Result<Self> {
        let db = TestDatabase::create()?;
        db.try_sql(&community_sql())
            .context("loading the test community")?;
        let mut vars = dashboard_vars();
        vars.extend_from_slice(extra);
        let worker = Worker::Dashboard.start_with_database(&db, &vars)?;
        Ok(Self { db, worker })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.worker.url())
    }

    /// `GET path` with an optional `Cookie` header.
    pub fn get(&self, path: &str, cookie: Option<&str>) -> Result<http::Response> {
        let mut headers = Vec::new();
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        http::get(&self.url(path), &headers)
    }

    /// `POST path` with a form body, as `client` (CF-Connecting-IP).
    pub fn post_form(
        &self,
        path: &str,
        cookie: Option<&str>,
        client: &str,
        form: &[(&str, &str)],
    ) -> Result<http::Response> {
        let body = form_body(form);
        let mut headers = vec![
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("CF-Connecting-IP", client),
        ];
        if let Some(cookie) = cookie {
            headers.push(("Cookie", cookie));
        }
        http::request("POST", &self.url(path), &headers, Some(body.as_bytes()))
    }

    /// Opens the login form: its pre-session cookie and CSRF token.
    pub fn login_form(&self) -> Result<(String, String)> {
        let page = self.get("/login", None)?;
        ensure!(page.status == 200, "GET /login answered {}", page.status);
        let cookie = set_cookies(&page)
            .into_iter()
            .find(|c| c.starts_with("cos_login="))
            .context("no login cookie")?;
        let token = hidden_field(&page.text(), "csrf").context("no csrf field")?;
        Ok((cookie_pair(&cookie), token))
    }

    /// Signs in as `client`; returns the `Cookie` header value of the session.
    pub fn login(&self, client: &str) -> Result<String> {
        let (login_cookie, token) = self.login_form()?;
        let answer = self.post_form(
            "/login",
            Some(&login_cookie),
            client,
            &[("csrf", &token), ("password", PASSWORD), ("next", "/")],
        )?;
        if answer.status != 303 {
            bail!(
                "login answered {}: {}",
                answer.status,
                answer.text().chars().take(500).collect::<String>()
            );
        }
        let session = set_cookies(&answer)
            .into_iter()
            .find(|c| c.starts_with("cos_session="))
            .context("no session cookie")?;
        Ok(cookie_pair(&session))
    }
}

/// Every `Set-Cookie` of a response.
pub fn set_cookies(response: &http::Response) -> Vec<String> {
    response
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.clone())
        .collect()
}

/// `name=value` of a `Set-Cookie`.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

/// The value of `<input type="hidden" name="NAME" value="...">`.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_owned())
}

/// `application/x-www-form-urlencoded`.
pub fn form_body(form: &[(&str, &str)]) -> String {
    form.iter()
        .map(|(key, value)| format!("{}={}", encode(key), encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
