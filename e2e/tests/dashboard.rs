//! The dashboard end to end: built to wasm, served by real workerd under
//! `wrangler dev`, reading a real database through the local PostgREST
//! stand-in. Sessions, CSRF, the login rate limit, security headers, what
//! each page shows against what the database holds, CSV exports, the live
//! log's event stream and the health checks.

mod dashboard_common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use dashboard_common::{
    Dashboard, GUILD, QUIET_MEMBER, QUIET_NAME, SCRIPT_MEMBER, STEADY_MEMBER, cookie_pair,
    hidden_field, set_cookies,
};
use e2e::Worker;
use local_stack::http;
use stand_ins::StandIns;

/// Every page that shows member data or admin figures.
const PAGES: [&str; 16] = [
    "/",
    "/rising",
    "/rising.csv",
    "/churn",
    "/churn.csv",
    "/tickets",
    "/tickets.csv",
    "/tickets/1",
    "/audits",
    "/settings",
    "/guilds",
    "/admin/health",
    "/admin/ledger",
    "/admin/logs",
    "/admin/logs/stream",
    "/members/1500000000000001001",
];

const CLIENT: &str = "203.0.113.10";

fn start() -> Dashboard {
    Dashboard::start(&[]).expect("dashboard with its community")
}

fn assert_security_headers(response: &http::Response, what: &str) {
    let csp = response
        .header("content-security-policy")
        .unwrap_or_default();
    for part in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: CSP {csp:?} lacks {part}");
    }
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert_eq!(
        response.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        response.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
}

/// `text` as askama writes it into HTML (it escapes `<`, `>`, `&`, quotes).
fn escaped(text: &str) -> Vec<String> {
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    let numeric = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;");
    vec![named, numeric]
}

fn contains_escaped(html: &str, text: &str) -> bool {
    escaped(text).iter().any(|form| html.contains(form))
}

#[test]
fn every_page_needs_a_session() {
    let d = start();
    for path in PAGES {
        let response = d.get(path, None).expect("answers");
        assert_eq!(response.status, 303, "{path} without a session");
        let location = response.header("location").unwrap_or_default();
        assert!(location.starts_with("/login?next="), "{path}: {location}");
        assert_security_headers(&response, path);
    }
    // A forged or tampered session is no session.
    let real = d.login(CLIENT).expect("login");
    let tampered = real.replacen("v1.", "v1.9", 1);
    for cookie in ["cos_session=v1.9999999999.00ff.deadbeef", tampered.as_str()] {
        let response = d.get("/", Some(cookie)).expect("answers");
        assert_eq!(response.status, 303, "{cookie}");
    }
    // The login page and the assets are public, with the same headers.
    for path in ["/login", "/static/app.css", "/static/app.js", "/health"] {
        let response = d.get(path, None).expect("answers");
        assert_eq!(response.status, 200, "{path}");
        assert_security_headers(&response, path);
    }
    let missing = d.get("/no-such-page", Some(&real)).expect("answers");
    assert_eq!(missing.status, 404);
    assert_security_headers(&missing, "404");
}

#[test]
fn login_sets_a_strict_expiring_cookie_and_logout_clears_it() {
    let d = start();
    let (login_cookie, token) = d.login_form().expect("login form");

    let wrong = d
        .post_form(
            "/login",
            Some(&login_cookie),
            CLIENT,
            &[("csrf", &token), ("password", "not the password")],
        )
        .expect("answers");
    assert_eq!(wrong.status, 401);
    assert!(wrong.text().contains("That password is not right."));
    assert!(
        set_cookies(&wrong)
            .iter()
            .all(|c| !c.starts_with("cos_session=")),
        "no session for a wrong password"
    );
    assert_eq!(
        d.db.sql(&format!(
            "select count(*) from app_logs where message = 'failed dashboard login' and fields->>'client' = '{CLIENT}'"
        )),
        "1"
    );

    let forged = d
        .post_form(
            "/login",
            Some(&login_cookie),
            CLIENT,
            &[("csrf", "0000"), ("password", dashboard_common::PASSWORD)],
        )
        .expect("answers");
    assert_eq!(forged.status, 403, "a login without its CSRF token");

    let ok = d
        .post_form(
            "/login",
            Some(&login_cookie),
            CLIENT,
            &[
                ("csrf", &token),
                ("password", dashboard_common::PASSWORD),
                ("next", "/churn?silent=21"),
            ],
        )
        .expect("answers");
    assert_eq!(ok.status, 303);
    assert_eq!(ok.header("location"), Some("/churn?silent=21"));
    let session = set_cookies(&ok)
        .into_iter()
        .find(|c| c.starts_with("cos_session="))
        .expect("session cookie");
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Max-Age=43200",
        "Path=/",
    ] {
        assert!(session.contains(attribute), "{session}");
    }
    let cookie = cookie_pair(&session);
    let page = d.get("/churn?silent=21", Some(&cookie)).expect("answers");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    // Secrets never reach a page.
    let html = page.text();
    for secret in [
        dashboard_common::PASSWORD,
        dashboard_common::SESSION_SECRET,
        d.db.service_key(),
    ] {
        assert!(!html.contains(secret));
    }

    let logout_token = hidden_field(&html, "csrf").expect("logout form token");
    let refused = d
        .post_form("/logout", Some(&cookie), CLIENT, &[("csrf", "1234")])
        .expect("answers");
    assert_eq!(refused.status, 403, "logout without its CSRF token");
    let out = d
        .post_form("/logout", Some(&cookie), CLIENT, &[("csrf", &logout_token)])
        .expect("answers");
    assert_eq!(out.status, 303);
    assert_eq!(out.header("location"), Some("/login"));
    let cleared = set_cookies(&out)
        .into_iter()
        .find(|c| c.starts_with("cos_session="))
        .expect("cleared cookie");
    assert!(
        cleared.starts_with("cos_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
}

#[test]
fn failed_logins_are_rate_limited_per_client() {
    let d = start();
    let blocked_client = "198.51.100.20";
    let (login_cookie, token) = d.login_form().expect("login form");
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let answer = d
            .post_form(
                "/login",
                Some(&login_cookie),
                blocked_client,
                &[("csrf", &token), ("password", "guess")],
            )
            .expect("answers");
        statuses.push(answer.status);
    }
    assert_eq!(statuses, vec![401, 401, 401, 401, 429]);
    // Even the right password waits now, and is told for how long.
    let right = d
        .post_form(
            "/login",
            Some(&login_cookie),
            blocked_client,
            &[("csrf", &token), ("password", dashboard_common::PASSWORD)],
        )
        .expect("answers");
    assert_eq!(right.status, 429);
    assert!(right.header("retry-after").is_some());
    assert!(right.text().contains("Too many failed sign-ins"));
    // Another client is not affected.
    d.login("198.51.100.21").expect("another client logs in");
    assert_eq!(
        d.db.sql(
            "select count(*) from app_logs where message = 'failed dashboard login; client blocked'"
        ),
        "1"
    );
}

#[test]
fn settings_are_changed_from_the_dashboard_with_its_form() {
    let d = start();
    let cookie = d.login(CLIENT).expect("login");
    let html = d.get("/settings", Some(&cookie)).expect("answers").text();
    let token = hidden_field(&html, "csrf").expect("csrf");
    assert!(html.contains("name=\"open-ticket-limit\""), "the form");
    // Roles and channels are picked in Discord, not typed here.
    assert!(!html.contains("name=\"staff-role\""));
    let guild = GUILD.to_string();
    // The form as the page sends it: each field beside the value it was
    // shown with (the defaults and the guild's budget; the limit as given).
    let form = |limit: &str, shown_limit: &str, token: &str| {
        let mut fields = vec![
            ("csrf".to_owned(), token.to_owned()),
            ("guild".to_owned(), guild.clone()),
            ("open-ticket-limit".to_owned(), limit.to_owned()),
            ("shown-open-ticket-limit".to_owned(), shown_limit.to_owned()),
        ];
        for (name, shown, value) in [
            ("close-action", "delete", "archive"),
            ("ai-daily-budget", "0.01", "0.01"),
            ("audit-cache-hours", "24", "24"),
            ("message-points", "1", "1"),
            ("reaction-points", "0.5", "0.5"),
            ("message-cooldown", "0", "0"),
        ] {
            fields.push((name.to_owned(), value.to_owned()));
            fields.push((format!("shown-{name}"), shown.to_owned()));
        }
        fields
    };
    let post = |fields: Vec<(String, String)>| {
        let fields: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        d.post_form("/settings", Some(&cookie), CLIENT, &fields)
            .expect("answers")
    };
    let stored = || {
        d.db.sql(&format!(
            "select max_open_tickets, ticket_close_action from guild_settings where guild_id = {GUILD}"
        ))
    };

    // Two values changed: written, logged, and said on the page it returns to.
    assert!(html.contains("name=\"shown-open-ticket-limit\" value=\"1\""));
    let saved = post(form("3", "1", &token));
    assert_eq!(saved.status, 303, "{}", saved.text());
    let location = saved
        .headers
        .iter()
        .find(|(name, _)| name == "location")
        .map(|(_, value)| value.clone())
        .expect("a redirect");
    assert_eq!(location, "/settings?updated=open-ticket-limit,close-action");
    assert_eq!(stored(), "3|archive");
    assert_eq!(
        d.db.sql(
            "select count(*) from app_logs where source = 'dashboard-worker' and message = 'settings changed'"
        ),
        "1"
    );
    let shown = d.get(&location, Some(&cookie)).expect("answers").text();
    assert!(
        shown.contains("Updated: Open tickets per member, Closed tickets."),
        "{shown}"
    );
    assert!(shown.contains("<th scope=\"row\">Open tickets per member</th><td>3</td>"));

    // Out of its limits: refused with the reason, what was typed kept,
    // nothing written.
    let refused = post(form("99", "3", &token));
    assert_eq!(refused.status, 400);
    let text = refused.text();
    assert!(
        text.contains("Open tickets per member must be between 1 and 25."),
        "{text}"
    );
    assert!(text.contains("value=\"99\""));
    assert_eq!(stored(), "3|archive");

    // Without the session's token: refused, nothing written.
    let forged = post(form("5", "3", "0000"));
    assert_eq!(forged.status, 403);
    assert_eq!(stored(), "3|archive");

    // Changed in Discord after the page was shown: a field left as shown
    // does not put the old value back.
    d.db.sql(&format!(
        "update guild_settings set message_cooldown_secs = 30, ticket_close_action = 'delete' where guild_id = {GUILD}"
    ));
    let stale = post(form("4", "3", &token));
    assert_eq!(stale.status, 303);
    assert_eq!(
        d.db.sql(&format!(
            "select max_open_tickets, message_cooldown_secs from guild_settings where guild_id = {GUILD}"
        )),
        "4|30"
    );

    // A guild the dashboard does not show: refused, saying so.
    let mut elsewhere = form("2", "4", &token);
    elsewhere[1].1 = "1999999999999999999".to_owned();
    let refused = post(elsewhere);
    assert_eq!(refused.status, 400);
    assert!(
        refused
            .text()
            .contains("does not show guild 1999999999999999999")
    );
    assert_eq!(
        d.db.sql("select count(*) from guild_settings where guild_id = 1999999999999999999"),
        "0"
    );
}

#[test]
fn pages_show_what_the_database_holds() {
    let d = start();
    let cookie = d.login(CLIENT).expect("login");
    let page = |path: &str| {
        let response = d.get(path, Some(&cookie)).expect("answers");
        assert_eq!(response.status, 200, "{path}: {}", response.text());
        assert_security_headers(&response, path);
        response.text()
    };

    // Overview, 30 days: 78 messages, 30 reactions, score 93, 3 members.
    let overview = page("/");
    for value in [
        "<span class=\"value\">78</span>",
        "<span class=\"value\">30</span>",
        "<span class=\"value\">93</span>",
        "<span class=\"value\">3</span>",
    ] {
        assert!(overview.contains(value), "overview lacks {value}");
    }
    assert_eq!(overview.matches("<svg class=\"chart").count(), 3);
    assert!(!overview.contains("<script>"), "no inline script");
    assert!(!overview.contains(" style="), "no inline style");

    // Rising Stars: the script-named member first, as text, then the steady one.
    let rising = page("/rising");
    assert!(!rising.contains("<script>alert(1)</script>"));
    assert!(contains_escaped(&rising, "<script>alert(1)</script>"));
    let first = rising
        .find(&format!("/members/{SCRIPT_MEMBER}"))
        .expect("listed");
    let second = rising
        .find(&format!("/members/{STEADY_MEMBER}"))
        .expect("listed");
    assert!(first < second);
    assert!(!rising.contains(&format!("/members/{QUIET_MEMBER}")));
    assert!(rising.contains(">21</td>") && rising.contains(">10.5</td>"));

    // Churn Risks: the quiet member, silent, 42 × 14/30 = 19.6 lost; the rule stated.
    let churn = page("/churn");
    assert!(churn.contains(QUIET_NAME) && churn.contains(">19.6</td>"));
    assert!(churn.contains("badge silent"));
    assert!(!churn.contains(&format!("/members/{STEADY_MEMBER}")));
    assert!(
        churn.contains("<strong>30 days</strong>") && churn.contains("<strong>14 days</strong>")
    );
    // A stricter rule excludes them.
    assert!(!page("/churn?min_score=50").contains(QUIET_NAME));

    // The member page.
    let member = page(&format!("/members/{STEADY_MEMBER}"));
    assert!(contains_escaped(&member, dashboard_common::STEADY_NAME));
    assert!(member.contains(&dashboard_common::CHANNEL.to_string()));
    assert!(member.contains("Cannot see the rules channel"));
    assert!(member.contains("Asks for passwords"));

    // Tickets: figures and the transcript, escaped, with a safe link.
    let tickets = page("/tickets");
    assert!(tickets.contains("15 min"), "average first response");
    assert!(tickets.contains(dashboard_common::STAFF_NAME));
    let closed_id = d.db.sql(&format!(
        "select id from tickets where guild_id = {GUILD} and status = 'closed'"
    ));
    let transcript = page(&format!("/tickets/{closed_id}"));
    assert!(contains_escaped(&transcript, "I cannot see <b>#rules</b>"));
    assert!(transcript.contains("rel=\"noopener noreferrer nofollow\""));

    // Audits filtered by verdict.
    let red = page("/audits?verdict=red");
    assert!(red.contains("Asks for passwords") && !red.contains("No issues found"));
    assert!(page("/audits").contains("Gemini answered HTTP 503"));

    // The settings, as the guild set them and the defaults for the rest.
    let settings = page("/settings");
    assert!(settings.contains("<th scope=\"row\">AI budget per day</th><td>$0.01</td>"));
    assert!(settings.contains("<td>not set: staff are the members with Manage Channels</td>"));
    assert!(settings.contains("<th scope=\"row\">Open tickets per member</th><td>1</td>"));
    assert!(settings.contains("<code>/settings ai-daily-budget:</code>"));
    assert!(settings.contains("aria-current=\"page\">Settings</a>"));

    // The ledger against a 0.01 budget: yesterday is over.
    let ledger = page("/admin/ledger");
    assert!(ledger.contains("over budget") && ledger.contains("$0.02"));

    // The live log, filtered.
    let logs = page("/admin/logs?level=warn");
    assert!(contains_escaped(&logs, "batch retried <after> a timeout"));
    assert!(logs.contains("Gemini call failed") && !logs.contains("ticket opened"));
    assert!(logs.contains("http-equiv=\"refresh\""), "no-JS fallback");
    assert!(logs.contains("/static/app.js"));

    // CSV exports.
    let csv = |path: &str| {
        let response = d.get(path, Some(&cookie)).expect("answers");
        assert_eq!(response.status, 200, "{path}");
        assert!(
            response
                .header("content-type")
                .unwrap_or_default()
                .starts_with("text/csv")
        );
        assert!(
            response
                .header("content-disposition")
                .unwrap_or_default()
                .starts_with("attachment")
        );
        response.text()
    };
    let rising_csv = csv("/rising.csv");
    let rows: Vec<&str> = rising_csv.lines().collect();
    assert!(rows[0].starts_with("rank,member_id,display_name,score"));
    assert!(
        rows[1].starts_with(&format!(
            "1,{SCRIPT_MEMBER},<script>alert(1)</script>,21,7,14"
        )),
        "{rising_csv}"
    );
    assert_eq!(rows.len(), 3);
    let churn_csv = csv("/churn.csv");
    assert!(
        churn_csv.contains(&format!("1,{QUIET_MEMBER},{QUIET_NAME},42,19.6")),
        "{churn_csv}"
    );
    assert_eq!(csv("/tickets.csv").lines().count(), 3);

    // Parameters out of range say what to fix; unknown things are 404s.
    let bad = d.get("/rising?window=99", Some(&cookie)).expect("answers");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("window must be a number from 1 to 45"));
    for missing in ["/members/42", "/tickets/999999", "/members/x"] {
        assert_eq!(
            d.get(missing, Some(&cookie)).expect("answers").status,
            404,
            "{missing}"
        );
    }
}

/// Reads a server-sent event stream until `wanted` shows up.
fn read_stream_until(
    url: &str,
    headers: &[(&str, &str)],
    wanted: &str,
    on_open: impl FnOnce(),
) -> String {
    let target = url.strip_prefix("http://").expect("http URL");
    let (host, path) = target.split_once('/').expect("path");
    let mut stream = TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut request =
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("request");
    let mut received = String::new();
    let mut on_open = Some(on_open);
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut chunk = [0_u8; 4096];
    while Instant::now() < deadline && !received.contains(wanted) {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => received.push_str(&String::from_utf8_lossy(&chunk[..n])),
            Err(_) => {} // read timeout: keep waiting
        }
        if received.contains("retry: 1000")
            && let Some(open) = on_open.take()
        {
            open();
        }
    }
    received
}

#[test]
fn the_live_log_streams_new_lines() {
    let d = start();
    let cookie = d.login(CLIENT).expect("login");
    let newest = d.db.sql("select max(id) from app_logs");
    let received = read_stream_until(
        &d.url(&format!("/admin/logs/stream?level=warn&after={newest}")),
        &[("Cookie", &cookie)],
        "relay reconnected",
        || {
            d.db.sql(
                "insert into app_logs (level, source, message) values
                 ('info', 'gateway-relay', 'an info line the filter drops'),
                 ('warn', 'gateway-relay', 'relay reconnected')",
            );
        },
    );
    assert!(received.contains("text/event-stream"), "{received}");
    assert!(received.contains("event: log"), "{received}");
    assert!(received.contains("relay reconnected"), "{received}");
    assert!(
        !received.contains("an info line the filter drops"),
        "{received}"
    );

    // Reconnecting with Last-Event-ID resumes after it: nothing twice.
    let last: i64 =
        d.db.sql("select max(id) from app_logs")
            .parse()
            .expect("id");
    let again = read_stream_until(
        &d.url("/admin/logs/stream"),
        &[("Cookie", &cookie), ("Last-Event-ID", &last.to_string())],
        "after the reconnect",
        || {
            d.db.sql("insert into app_logs (level, source, message) values ('error', 'relay', 'after the reconnect')");
        },
    );
    assert!(again.contains("after the reconnect"), "{again}");
    assert!(!again.contains("relay reconnected"), "{again}");
}

#[test]
fn health_checks_the_database_the_relay_discord_and_gemini() {
    let stand_ins = StandIns::start().expect("stand-ins");
    let (discord, gemini) = (stand_ins.discord_api_base(), stand_ins.gemini_api_base());
    let d = Dashboard::start(&[
        ("DISCORD_API_BASE", &discord),
        ("GEMINI_API_BASE", &gemini),
        ("GEMINI_API_KEY", "gemini-test-key"),
        ("RELAY_STALE_AFTER_MINUTES", "5"),
    ])
    .expect("dashboard");
    let cookie = d.login(CLIENT).expect("login");
    let health = || {
        let response = d.get("/admin/health", Some(&cookie)).expect("answers");
        assert_eq!(response.status, 200);
        response.text()
    };
    let page = health();
    assert_eq!(page.matches("class=\"check ok\"").count(), 5, "{page}");
    let newest =
        d.db.sql("select max(version) from community_meta.schema_migrations");
    assert!(page.contains(&format!("schema version {newest}")), "{page}");
    assert!(page.contains("relay-test reported"));
    assert!(!page.contains("gemini-test-key"), "the key never shows");

    // A stale heartbeat and a spool backing up turn red.
    d.db.sql(
        "update service_heartbeats set beat_at = now() - interval '12 minutes',
             status = status || '{\"spool_events\": 40, \"spool_batches\": 2}'
         where service = 'gateway-relay'",
    );
    let page = health();
    assert_eq!(page.matches("class=\"check failing\"").count(), 2, "{page}");
    assert!(page.contains("Stale"));
    assert!(page.contains("40 events in 2 batches"));
    // What was checked is kept, for the last error of each check.
    assert!(
        d.db.sql("select status->'checks'->'relay'->>'last_error' from service_heartbeats where service = 'dashboard-checks'")
            .contains("Stale")
    );

    // Services that cannot be reached are red with the reason.
    let dead = Dashboard::start(&[
        ("DISCORD_API_BASE", "http://127.0.0.1:9"),
        ("GEMINI_API_BASE", "http://127.0.0.1:9/v1beta"),
    ])
    .expect("dashboard");
    let cookie = dead.login(CLIENT).expect("login");
    let page = dead
        .get("/admin/health", Some(&cookie))
        .expect("answers")
        .text();
    assert!(page.contains("http://127.0.0.1:9 is unreachable"), "{page}");
    assert!(page.contains("GEMINI_API_KEY is not set"), "{page}");
}

#[test]
fn a_misconfigured_dashboard_names_what_is_missing_without_values() {
    let dev = Worker::Dashboard
        .start_misconfigured(&[("SESSION_SECRET", "too-short-session-secret")])
        .expect("worker starts");
    let health = http::get(&format!("{}/health", dev.url()), &[]).expect("answers");
    assert_eq!(health.status, 503);
    let page = http::get(&format!("{}/rising", dev.url()), &[]).expect("answers");
    assert_eq!(page.status, 503);
    let html = page.text();
    for name in ["SUPABASE_REST_URL", "ADMIN_PASSWORD", "SESSION_SECRET"] {
        assert!(html.contains(name), "{name} missing from {html}");
        assert!(health.text().contains(name));
    }
    assert!(!html.contains("too-short-session-secret"));
    assert_security_headers(&page, "misconfigured page");
}
