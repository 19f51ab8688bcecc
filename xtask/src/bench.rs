//! `cargo xtask bench [--dashboard] [--interactions]`: benchmarks that print
//! ratios against a baseline measured in the same run. Each section is a
//! flag; with none, all sections run. Sections so far:
//!
//! * `--dashboard`: Rising Stars, Churn Risks and Overview at the seeded size
//!   (100k members, 10M events: `cargo xtask seed`), (a) in Postgres, our SQL
//!   functions against the naive method (summing `points_value` over
//!   `activity_logs` at query time), medians of warm runs; (b) as full pages
//!   through `wrangler dev` with a session cookie, p50/p95 over sequential
//!   requests, next to the naive query's time alone.
//! * `--interactions`: the interactions worker against a reference worker
//!   written the way Discord's Cloudflare tutorial writes one (the same as
//!   `cargo xtask bench-interactions`; knobs and method in `bench/README.md`).
//!
//! To add a section: a flag in [`BenchArgs`], a function, a line in
//! [`command`].

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::{Psql, WranglerDev, http};

use crate::build_workers::{Profile, build_workers};
use crate::seed;
use crate::shell::{check_interrupted, progress};
use crate::stack::{DevStack, Ports};
use crate::workspace::Workspace;

#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// The dashboard's analytics, in Postgres and as pages, against the naive method.
    #[arg(long)]
    dashboard: bool,
    /// The interactions worker against the tutorial-shaped reference worker (bench/README.md).
    #[arg(long)]
    interactions: bool,
    #[command(flatten)]
    dashboard_options: DashboardOptions,
    #[command(flatten)]
    ports: Ports,
    /// Serve the workers' existing build/ output instead of building them.
    #[arg(long)]
    no_build: bool,
}

#[derive(Debug, Clone, clap::Args)]
struct DashboardOptions {
    /// The seeded guild to measure (seeded with `cargo xtask seed` defaults when empty).
    #[arg(long, default_value_t = seed::DEFAULT_GUILD)]
    guild: u64,
    /// Timed runs of each of our SQL functions (after one warm-up).
    #[arg(long, default_value_t = 30)]
    runs: u32,
    /// Timed runs of each naive query (after one warm-up).
    #[arg(long, default_value_t = 5)]
    naive_runs: u32,
    /// Sequential requests per page through wrangler dev (after ten warm-ups).
    #[arg(long, default_value_t = 200)]
    requests: u32,
}

pub(crate) fn command(workspace: &Workspace, args: &BenchArgs) -> Result<()> {
    let all = !(args.dashboard || args.interactions);
    if args.dashboard || all {
        dashboard(workspace, args)?;
    }
    if args.interactions || all {
        crate::bench_interactions::run(workspace, args.no_build)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Dashboard
// ---------------------------------------------------------------------------

const PASSWORD: &str = "bench-dashboard-password";
const SESSION_SECRET: &str = "bench-session-secret-0123456789abcdef";

/// One analytics question, our way and the naive way. `{g}` is the guild,
/// `{d}` the day the page is as of (today, UTC).
struct Query {
    name: &'static str,
    page: &'static str,
    ours: &'static str,
    naive: &'static str,
}

const QUERIES: [Query; 3] = [
    Query {
        name: "Rising Stars (top 25, 7 d vs previous 7 d)",
        page: "/rising",
        ours: "select count(*) from rising_stars('{g}', '{d}', 7, 25)",
        naive: "with s as (
              select member_id,
                     sum(points_value) filter (where occurred_at >= ('{d}'::date - 6)::timestamp at time zone 'UTC') as cur,
                     sum(points_value) filter (where occurred_at < ('{d}'::date - 6)::timestamp at time zone 'UTC') as prev
              from activity_logs
              where guild_id = {g} and occurred_at >= ('{d}'::date - 13)::timestamp at time zone 'UTC'
                and occurred_at < ('{d}'::date + 1)::timestamp at time zone 'UTC'
              group by member_id)
            select count(*) from (select * from s where cur > 0 order by cur desc, member_id limit 25) x",
    },
    Query {
        name: "Churn Risks (30 d baseline >= 20, 14 d recent, -75%)",
        page: "/churn",
        ours: "select count(*) from churn_risks('{g}', '{d}', 30, 14, 20, 75, 50)",
        naive: "with s as (
              select member_id,
                     coalesce(sum(points_value) filter (where occurred_at < ('{d}'::date - 13)::timestamp at time zone 'UTC'), 0) as base,
                     coalesce(sum(points_value) filter (where occurred_at >= ('{d}'::date - 13)::timestamp at time zone 'UTC'), 0) as recent
              from activity_logs
              where guild_id = {g} and occurred_at >= ('{d}'::date - 43)::timestamp at time zone 'UTC'
                and occurred_at < ('{d}'::date + 1)::timestamp at time zone 'UTC'
              group by member_id)
            select count(*) from (
              select * from s where base >= 20 and (recent = 0 or recent <= base * 14 / 30 * 0.25)
              order by base * 14 / 30 - recent desc, member_id limit 50) x",
    },
    Query {
        name: "Overview (30 days per day, distinct active)",
        page: "/",
        ours: "select length(dashboard_overview('{g}', '{d}'::date - 29, '{d}')::text)",
        naive: "select count(*) from (
              select (occurred_at at time zone 'UTC')::date as day,
                     count(*) filter (where kind = 'message') as messages,
                     count(*) filter (where kind = 'reaction_add') - count(*) filter (where kind = 'reaction_remove') as reactions,
                     sum(points_value) as points, count(distinct member_id) as active
              from activity_logs
              where guild_id = {g} and occurred_at >= ('{d}'::date - 29)::timestamp at time zone 'UTC'
                and occurred_at < ('{d}'::date + 1)::timestamp at time zone 'UTC'
              group by 1
              union all
              select null, null, null, null, count(distinct member_id)
              from activity_logs
              where guild_id = {g} and occurred_at >= ('{d}'::date - 29)::timestamp at time zone 'UTC'
                and occurred_at < ('{d}'::date + 1)::timestamp at time zone 'UTC') x",
    },
];

/// Extra pages timed end to end (no naive counterpart).
const OTHER_PAGES: [&str; 4] = ["/tickets", "/audits", "/admin/ledger", "/admin/logs"];

fn dashboard(workspace: &Workspace, args: &BenchArgs) -> Result<()> {
    let options = &args.dashboard_options;
    if !args.no_build {
        build_workers(workspace, Profile::Release)?;
    }
    check_interrupted()?;
    let stack = DevStack::up(workspace, args.ports, false)?;
    let psql = Psql::new(stack.db_url());
    let guild = options.guild;

    let events: u64 = psql
        .query(&format!(
            "select count(*) from activity_logs where guild_id = {guild}"
        ))?
        .trim()
        .parse()
        .context("counting events")?;
    if events == 0 {
        progress(format!(
            "guild {guild} is empty: seeding it first (cargo xtask seed defaults)"
        ));
        seed::seed(
            &psql,
            &seed::SeedArgs {
                members: 100_000,
                events: 10_000_000,
                days: 90,
                guild,
                database_url: None,
                no_check: false,
                db_port: args.ports.db,
            },
        )?;
    }
    let size = psql.query(&format!(
        "select (select count(*) from activity_logs where guild_id = {guild}) || ' events, '
             || (select count(*) from member_activity_state where guild_id = {guild}) || ' members, '
             || (select count(*) from member_daily_activity where guild_id = {guild}) || ' member-days'"
    ))?;
    let today = psql.query("select (now() at time zone 'UTC')::date")?;
    let fill = |sql: &str| {
        sql.replace("{g}", &guild.to_string())
            .replace("{d}", today.trim())
    };

    progress(format!("Postgres: {size} (guild {guild}, as of {today})"));
    let mut postgres = Vec::new();
    for query in &QUERIES {
        check_interrupted()?;
        let ours = time_sql(&psql, &fill(query.ours), options.runs)
            .with_context(|| format!("timing {}", query.name))?;
        let naive = time_sql(&psql, &fill(query.naive), options.naive_runs)
            .with_context(|| format!("timing the naive {}", query.name))?;
        println!(
            "    {:<52} ours {:>8.1} ms   naive {:>8.0} ms   {:>6.0}x",
            query.name,
            median(&ours),
            median(&naive),
            median(&naive) / median(&ours)
        );
        postgres.push((query, ours, naive));
    }

    check_interrupted()?;
    progress("end to end: the dashboard under wrangler dev, with a session cookie");
    let dev = WranglerDev::builder(workspace.wrangler_config())
        .wrangler(workspace.node_bin("wrangler"))
        .env("dashboard")
        .var("SUPABASE_REST_URL", stack.api_url())
        .var(
            "SUPABASE_SERVICE_ROLE_KEY",
            jwt::service_role_key(LOCAL_JWT_SECRET),
        )
        .var("ADMIN_PASSWORD", PASSWORD)
        .var("SESSION_SECRET", SESSION_SECRET)
        .var("DASHBOARD_GUILD_ID", guild.to_string())
        .start()?;
    let cookie = login(dev.url())?;
    let mut pages = Vec::new();
    for path in QUERIES
        .iter()
        .map(|q| q.page)
        .chain(OTHER_PAGES.iter().copied())
    {
        check_interrupted()?;
        let times = time_page(dev.url(), path, &cookie, options.requests)?;
        println!(
            "    {:<14} p50 {:>6.1} ms   p95 {:>6.1} ms   p99 {:>6.1} ms   max {:>6.1} ms",
            path,
            percentile(&times, 0.50),
            percentile(&times, 0.95),
            percentile(&times, 0.99),
            percentile(&times, 1.0),
        );
        pages.push((path, times));
    }
    drop(dev);

    println!();
    println!("Dashboard at {size}");
    println!(
        "{:<52} {:>10} {:>10} {:>9} {:>10} {:>10} {:>12}",
        "", "ours (ms)", "naive (ms)", "speed-up", "page p50", "page p95", "naive/p95"
    );
    let mut misses = Vec::new();
    for (query, ours, naive) in &postgres {
        let page = pages
            .iter()
            .find(|(path, _)| *path == query.page)
            .map(|(_, times)| times.as_slice())
            .unwrap_or_default();
        let (p50, p95) = (percentile(page, 0.50), percentile(page, 0.95));
        let speedup = median(naive) / median(ours);
        println!(
            "{:<52} {:>10.1} {:>10.0} {:>8.0}x {:>10.1} {:>10.1} {:>11.0}x",
            query.name,
            median(ours),
            median(naive),
            speedup,
            p50,
            p95,
            median(naive) / p95
        );
        if speedup < 50.0 {
            misses.push(format!("{}: {speedup:.0}x < 50x", query.name));
        }
        if p95 > 100.0 {
            misses.push(format!("{} page p95 {p95:.1} ms > 100 ms", query.page));
        }
    }
    println!(
        "(Postgres: medians of {} runs of ours and {} of the naive query, warm; pages: {} sequential \
         requests over loopback, new connection each, after 10 warm-ups)",
        options.runs, options.naive_runs, options.requests
    );
    if misses.is_empty() {
        println!("targets met: every page p95 <= 100 ms, every query >= 50x faster than naive");
    } else {
        println!("targets missed: {}", misses.join("; "));
    }
    Ok(())
}

/// `sql` once to warm up, then `runs` times; the server-side times in ms
/// (psql's `\timing`, which includes the round trip over loopback).
fn time_sql(psql: &Psql, sql: &str, runs: u32) -> Result<Vec<f64>> {
    let sql = sql.trim().trim_end_matches(';');
    let mut script = String::from("\\timing on\n");
    for _ in 0..=runs {
        script.push_str(sql);
        script.push_str(";\n");
    }
    let output = psql.query(&script)?;
    let times: Vec<f64> = output
        .lines()
        .filter_map(|line| line.strip_prefix("Time: "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter_map(|ms| ms.parse().ok())
        .skip(1)
        .collect();
    ensure!(
        times.len() == runs as usize,
        "expected {runs} timings, got {}:\n{output}",
        times.len()
    );
    Ok(times)
}

/// Signs in the way a browser does; the session's `Cookie` header value.
fn login(base: &str) -> Result<String> {
    let form = http::get(&format!("{base}/login"), &[])?;
    let login_cookie = set_cookie(&form, "cos_login").context("no login cookie")?;
    let html = form.text();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).context("no csrf field")? + marker.len();
    let token = &html[start..start + html[start..].find('"').context("csrf")?];
    let body = format!("csrf={token}&password={PASSWORD}");
    let answer = http::request(
        "POST",
        &format!("{base}/login"),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &login_cookie),
        ],
        Some(body.as_bytes()),
    )?;
    if answer.status != 303 {
        bail!("login answered {}: {}", answer.status, answer.text());
    }
    set_cookie(&answer, "cos_session").context("no session cookie")
}

fn set_cookie(response: &http::Response, name: &str) -> Option<String> {
    response
        .headers
        .iter()
        .filter(|(header, _)| header == "set-cookie")
        .map(|(_, value)| value.split(';').next().unwrap_or_default().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")))
}

/// Latencies in ms of `requests` sequential GETs, after ten warm-ups.
fn time_page(base: &str, path: &str, cookie: &str, requests: u32) -> Result<Vec<f64>> {
    let url = format!("{base}{path}");
    let headers = [("Cookie", cookie)];
    let mut times = Vec::with_capacity(requests as usize);
    for i in 0..requests + 10 {
        let started = Instant::now();
        let response = http::get(&url, &headers)?;
        let took = started.elapsed();
        ensure!(
            response.status == 200,
            "{path} answered {}: {}",
            response.status,
            response.text().chars().take(300).collect::<String>()
        );
        if i >= 10 {
            times.push(as_ms(took));
        }
    }
    Ok(times)
}

fn as_ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// The nearest-rank percentile (`q` in 0..=1) of unsorted values.
fn percentile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.95), 95.0);
        assert_eq!(percentile(&values, 1.0), 100.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(percentile(&[], 0.5).is_nan());
    }
}
