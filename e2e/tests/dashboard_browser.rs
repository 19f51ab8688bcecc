//! The dashboard in headless Chromium: `e2e/browser/dashboard.mjs`
//! (playwright-core) signs in, visits every page, checks what they show
//! against this test database, and saves a light and a dark screenshot of
//! each page (plus phone-sized ones) in a folder this test prints.

mod dashboard_common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use dashboard_common::{
    Dashboard, GUILD, PASSWORD, QUIET_NAME, SCRIPT_MEMBER, SCRIPT_NAME, STAFF_NAME,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const LIVE_LINE: &str = "a line written while the browser watches <b>";

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots")
}

#[test]
fn a_browser_signs_in_visits_every_page_and_sees_the_databases_figures() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: `cargo xtask setup` installs Debian's chromium"
    );
    let script = e2e::root().join("e2e/browser/dashboard.mjs");
    assert!(
        e2e::root().join("node_modules/playwright-core").is_dir(),
        "playwright-core is missing: run `npm ci` (cargo xtask setup does)"
    );
    let d = Dashboard::start(&[]).expect("dashboard with its community");
    let one = |sql: &str| d.db.sql(sql);
    let expect = serde_json::json!({
        "messages_30d": one(&format!(
            "select sum(messages) from guild_daily_activity where guild_id = {GUILD} and day > current_date - 30")),
        "points_30d": one(&format!(
            "select trim_scale(sum(points)) from guild_daily_activity where guild_id = {GUILD} and day > current_date - 30")),
        "active_30d": one(&format!("select guild_distinct_active({GUILD}, current_date - 29, current_date)")),
        "script_member_id": SCRIPT_MEMBER.to_string(),
        "script_member_name": SCRIPT_NAME,
        "top_rising_score": one(&format!(
            "select trim_scale(score) from rising_stars('{GUILD}', current_date, 7, 1)")),
        "rising_rows": one(&format!("select count(*) from rising_stars('{GUILD}', current_date, 7, 25)"))
            .parse::<u32>().expect("count"),
        "churn_name": QUIET_NAME,
        "churn_lost": one(&format!(
            "select trim_scale(score_lost) from churn_risks('{GUILD}', current_date, 30, 14, 20, 75, 50)
             where display_name = '{QUIET_NAME}'")),
        "staff_name": STAFF_NAME,
        "closed_ticket_id": one(&format!("select id from tickets where guild_id = {GUILD} and status = 'closed'")),
        "transcript_line": "I cannot see <b>#rules</b>",
        "red_audits": one(&format!("select count(*) from audits where guild_id = {GUILD} and verdict = 'red'"))
            .parse::<u32>().expect("count"),
        "live_line": LIVE_LINE,
    });
    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);

    let mut node = Command::new("node")
        .arg(&script)
        .current_dir(e2e::root())
        .env("DASHBOARD_URL", d.worker.url())
        .env("DASHBOARD_PASSWORD", PASSWORD)
        .env("EXPECT", expect.to_string())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs");
    let stdout = node.stdout.take().expect("stdout");
    let mut output = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("utf-8 output");
        println!("{line}");
        if line == "WAITING_FOR_LOG_LINE" {
            d.db.sql(&format!(
                "insert into app_logs (level, source, message) values ('warn', 'gateway-relay', '{LIVE_LINE}')"
            ));
        }
        output.push(line);
    }
    let status = node.wait().expect("node exits");
    let output = output.join("\n");
    assert!(
        status.success(),
        "the browser test failed ({status}):\n{output}"
    );
    assert!(output.contains("OK "), "{output}");

    println!("screenshots: {}", shots.display());
    for page in [
        "overview", "rising", "churn", "member", "tickets", "audits", "health", "ledger", "logs",
    ] {
        for theme in ["light", "dark"] {
            let file = shots.join(format!("{page}-{theme}.png"));
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(size > 10_000, "{} is missing or empty", file.display());
        }
    }
}
