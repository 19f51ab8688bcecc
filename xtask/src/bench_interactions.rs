//! The interactions benchmark (`cargo xtask bench --interactions`, or
//! `cargo xtask bench-interactions`): the
//! interactions worker side by side with a reference worker written the way
//! Discord's Cloudflare tutorial writes one (`bench/reference-worker`), in
//! the same run, on the same machine. Method and figures: `bench/README.md`.
//!
//! (a) CPU per signed PING inside the isolate: each worker wrapped by
//!     `bench/loop/loop.js`, whose `POST /__bench/ping` calls the worker's
//!     own fetch handler n times on a pre-signed PING. workerd freezes the
//!     clocks a worker can read during CPU work, so the CPU time comes from
//!     the kernel's count for the workerd processes (`schedstat`, in ns),
//!     before and after, minus
//!     the same loop without the handler; median of several rounds.
//! (b) requests/s, p50 and p99 of a signed PING and of a signed `/audit`
//!     (the deferral, whose work goes on after the answer: Gemini and
//!     Discord are the local stand-ins, the database a throwaway local one
//!     which both workers keep the audit's books in) through `wrangler dev`
//!     on loopback, at concurrency 1 and 8. The reference also runs without
//!     books (the tutorial's shape) for `/audit`, as context.
//! (c) each worker's upload size, gzipped, as `wrangler deploy --dry-run`
//!     reports it.
//!
//! Knobs (environment): `BENCH_NO_BUILD=1` uses the bundles already built;
//! `BENCH_LOOP_N` (calls per loop, default 3000), `BENCH_ROUNDS` (default 12),
//! `BENCH_REQUESTS` (PINGs per HTTP run, default 2000),
//! `BENCH_AUDIT_REQUESTS` (audits per HTTP run, default 500),
//! `BENCH_HTTP_RUNS` (runs of each HTTP measurement, default 6),
//! `BENCH_PARTS` (which of a, b, c; default all). Rounds and runs are split
//! evenly over the [`SITTINGS`], so they are rounded up to a multiple of it.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use e2e::discord::{self as payload, GENERAL, GUILD, Member, STAFF_ROLE, Signer};
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::pg::Cluster;
use local_stack::postrust::{self, Postrust, PostrustOptions};
use local_stack::process::{free_port, group_members};
use local_stack::supabase::{AUTHENTICATOR, AUTHENTICATOR_PASSWORD};
use local_stack::{WranglerDev, http};
use serde_json::Value;

use crate::build_workers::{Profile, build_workers};
use crate::migrate::migrate;
use crate::shell::{progress, run as run_command, stdout_of};
use crate::workspace::Workspace;

/// Signed over by every request (any value works: neither worker checks age).
const TIMESTAMP: &str = "1764100000";
const DATABASE: &str = "bench";
const CONCURRENCIES: [usize; 2] = [1, 8];

/// The workers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    Ours,
    /// The reference worker; for `/audit` it keeps the same books as ours
    /// (the same two SQL functions) so both do the same job.
    Reference,
    /// The reference worker as the tutorial has it, storing nothing: for
    /// `/audit` only, as context.
    ReferenceBare,
}

impl Subject {
    const BOTH: [Self; 2] = [Self::Ours, Self::Reference];

    fn label(self) -> &'static str {
        match self {
            Self::Ours => "interactions-worker",
            Self::Reference => "reference (JS)",
            Self::ReferenceBare => "reference, no books",
        }
    }

    /// For interaction tokens and texts.
    fn slug(self) -> &'static str {
        match self {
            Self::Ours => "ours",
            Self::Reference => "reference",
            Self::ReferenceBare => "bare",
        }
    }

    /// Where each serves Discord's interactions.
    fn interactions_path(self) -> &'static str {
        match self {
            Self::Ours => "/interactions",
            Self::Reference | Self::ReferenceBare => "/",
        }
    }

    /// Answers 200 once the worker is up.
    fn health_path(self) -> &'static str {
        match self {
            Self::Ours => "/health",
            Self::Reference | Self::ReferenceBare => "/",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    loop_n: u32,
    /// Audits per in-isolate loop (0 skips the audit loop).
    audit_loop_n: u32,
    rounds: usize,
    requests: usize,
    audit_requests: usize,
    /// Each HTTP measurement is repeated, rotating who goes first, and half
    /// the runs in each sitting; the table shows the run with the median
    /// requests/s.
    http_runs: usize,
    /// Which of (a), (b), (c) to run (`BENCH_PARTS`, e.g. "a" or "bc").
    parts: [bool; 3],
}

impl Settings {
    fn from_env() -> Result<Self> {
        fn var<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
            match std::env::var(name) {
                Ok(value) if !value.is_empty() => value
                    .parse()
                    .map_err(|_| anyhow::anyhow!("{name}={value} is not a number")),
                _ => Ok(default),
            }
        }
        Ok(Self {
            loop_n: var("BENCH_LOOP_N", 3000)?,
            audit_loop_n: var("BENCH_AUDIT_LOOP_N", 1000)?,
            rounds: var("BENCH_ROUNDS", 12_usize)?.next_multiple_of(SITTINGS),
            requests: var("BENCH_REQUESTS", 2000)?,
            audit_requests: var("BENCH_AUDIT_REQUESTS", 500)?,
            http_runs: var("BENCH_HTTP_RUNS", 6_usize)?.next_multiple_of(SITTINGS),
            parts: {
                let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "abc".into());
                anyhow::ensure!(
                    parts.chars().all(|c| "abc".contains(c)),
                    "BENCH_PARTS={parts}: use letters of \"abc\""
                );
                ['a', 'b', 'c'].map(|part| parts.contains(part))
            },
        })
    }
}

/// Runs the whole benchmark and prints the table.
pub(crate) fn run(workspace: &Workspace, no_build: bool) -> Result<()> {
    let settings = Settings::from_env()?;
    if !no_build && std::env::var_os("BENCH_NO_BUILD").is_none() {
        build_workers(workspace, Profile::Release)?;
    }
    let reference = reference_dir(workspace);
    ensure_reference_packages(&reference)?;

    let [part_a, part_b, part_c] = settings.parts;
    let sizes = if part_c {
        progress("(c) bundle sizes (wrangler deploy --dry-run)");
        bundle_sizes(workspace)?
    } else {
        Vec::new()
    };

    let signer = Signer::default();
    let cpu = if part_a {
        progress(format!(
            "(a) CPU in the isolate: {} rounds of {} signed PINGs and of {} audits",
            settings.rounds, settings.loop_n, settings.audit_loop_n
        ));
        Some(cpu_in_isolate(workspace, &signer, settings)?)
    } else {
        None
    };

    let http = if part_b {
        progress(format!(
            "(b) signed requests through wrangler dev: {} PINGs, {} audits per run, concurrency {CONCURRENCIES:?}, {} runs each",
            settings.requests, settings.audit_requests, settings.http_runs
        ));
        http_runs(workspace, &signer, settings)?
    } else {
        Vec::new()
    };

    print_table(&sizes, cpu.as_ref(), &http);
    Ok(())
}

fn reference_dir(workspace: &Workspace) -> PathBuf {
    workspace.root().join("bench").join("reference-worker")
}

/// `npm ci` for the reference worker when its packages are missing or older
/// than its lock file.
fn ensure_reference_packages(dir: &Path) -> Result<()> {
    let installed = dir.join("node_modules").join(".package-lock.json");
    let lock = dir.join("package-lock.json");
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified(&installed).is_none() || modified(&installed) < modified(&lock) {
        progress("installing the reference worker's packages (npm ci)");
        run_command(Command::new("npm").arg("ci").current_dir(dir))?;
    }
    Ok(())
}

// ---------------------------------------------------------------- (c) sizes

#[derive(Debug)]
struct BundleSize {
    name: &'static str,
    gzip_kib: f64,
    total_kib: f64,
}

fn bundle_sizes(workspace: &Workspace) -> Result<Vec<BundleSize>> {
    let root_config = workspace.wrangler_config();
    let reference_config = reference_dir(workspace).join("wrangler.toml");
    let bundles: [(&str, &Path, Option<&str>); 3] = [
        ("interactions-worker", &root_config, Some("interactions")),
        ("dashboard-worker", &root_config, Some("dashboard")),
        ("reference (JS)", &reference_config, None),
    ];
    let out = tempfile::tempdir()?;
    let mut sizes = Vec::new();
    for (name, config, env) in bundles {
        let mut command = wrangler(workspace);
        command
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(out.path().join(name))
            .arg("--config")
            .arg(config);
        if let Some(env) = env {
            command.args(["--env", env]);
        }
        let output = command
            .output()
            .with_context(|| format!("wrangler deploy --dry-run for {name}"))?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let (total_kib, gzip_kib) = upload_size(&text)
            .with_context(|| format!("no upload size for {name} in wrangler's output:\n{text}"))?;
        println!("    {name}: {total_kib:.0} KiB, gzip {gzip_kib:.0} KiB");
        sizes.push(BundleSize {
            name,
            gzip_kib,
            total_kib,
        });
    }
    Ok(sizes)
}

/// `Total Upload: 2717.34 KiB / gzip: 868.65 KiB` → (2717.34, 868.65).
fn upload_size(wrangler_output: &str) -> Option<(f64, f64)> {
    let line = wrangler_output
        .lines()
        .find(|line| line.contains("Total Upload:"))?;
    let mut numbers = line
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|part| !part.is_empty() && part.contains(|c: char| c.is_ascii_digit()))
        .filter_map(|part| part.parse::<f64>().ok());
    Some((numbers.next()?, numbers.next()?))
}

fn wrangler(workspace: &Workspace) -> Command {
    let mut command = Command::new(workspace.node_bin("wrangler"));
    command
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
        .env("CI", "true")
        .env("NO_COLOR", "1");
    command
}

// ------------------------------------------------------------------ (a) CPU

#[derive(Debug)]
struct CpuResult {
    /// Median CPU per call, µs.
    median_us: f64,
    /// Every round's figure, in the order the rounds ran.
    rounds_us: Vec<f64>,
}

impl CpuResult {
    fn new(rounds_us: Vec<f64>) -> Self {
        let mut sorted = rounds_us.clone();
        sorted.sort_by(f64::total_cmp);
        Self {
            median_us: median(&sorted),
            rounds_us,
        }
    }
}

/// Each round's ratio, ours over the reference's: the two ran back to back
/// in it, so what drifts on the machine over a run (seconds long on a
/// shared VM) weighs on both alike. Sorted.
fn paired_rounds([ours, reference]: &[CpuResult; 2]) -> Vec<f64> {
    let mut ratios: Vec<f64> = ours
        .rounds_us
        .iter()
        .zip(&reference.rounds_us)
        .map(|(ours, reference)| ours / reference)
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

/// (a) for both workers: per signed PING, and (as context) per whole audit.
#[derive(Debug)]
struct CpuResults {
    ping: [CpuResult; 2],
    audit: Option<[CpuResult; 2]>,
}

/// What the in-isolate loop calls the handler with (`bench/loop/loop.js`).
#[derive(Debug, Clone, Copy)]
enum LoopKind {
    /// `POST /__bench/ping`: a signed PING.
    Ping,
    /// `POST /__bench/audit`: a signed `/audit`, its deferred work included,
    /// the four requests answered from canned responses.
    Audit,
}

impl LoopKind {
    fn route(self) -> &'static str {
        match self {
            Self::Ping => "/__bench/ping",
            Self::Audit => "/__bench/audit",
        }
    }
}

fn cpu_in_isolate(
    workspace: &Workspace,
    signer: &Signer,
    settings: Settings,
) -> Result<CpuResults> {
    let key = signer.public_key_hex();
    let application = payload::APPLICATION.to_string();
    let dead = format!("http://127.0.0.1:{}", free_port()?);
    let config = workspace
        .root()
        .join("bench")
        .join("loop")
        .join("wrangler.toml");
    let start = |subject: Subject| -> Result<WranglerDev> {
        let env = match subject {
            Subject::Ours => "interactions",
            Subject::Reference | Subject::ReferenceBare => "reference",
        };
        // A PING touches neither the database nor any API, and the audit
        // loop answers an audit's requests itself: dead addresses do.
        WranglerDev::builder(&config)
            .env(env)
            .health_path(subject.health_path())
            .vars([
                ("BENCH_LOOP", "1"),
                ("DISCORD_PUBLIC_KEY", key.as_str()),
                ("DISCORD_APPLICATION_ID", application.as_str()),
                ("DISCORD_BOT_TOKEN", "bench-token"),
                ("DISCORD_API_BASE", dead.as_str()),
                ("GEMINI_API_BASE", dead.as_str()),
                ("GEMINI_API_KEY", "bench-key"),
                ("GEMINI_MODEL", "gemini-2.5-flash"),
                ("SUPABASE_REST_URL", dead.as_str()),
                ("SUPABASE_SERVICE_ROLE_KEY", "bench-key"),
                (
                    "RELAY_SHARED_SECRET",
                    "bench-relay-secret-bench-relay-secret",
                ),
            ])
            .start()
            .with_context(|| format!("starting {} for the CPU loop", subject.label()))
    };
    let ping = serde_json::to_vec(&payload::ping())?;
    let member = Member::ordinary(1_000_000_000_000_000_002, "bench");
    let audit = serde_json::to_vec(&payload::slash(
        "audit",
        &[("text", "Movie night on Friday, everyone welcome!")],
        &member,
        GENERAL,
        "bench-token-loop",
    ))?;
    // As in (b), each worker is started first in half the sittings.
    let rounds = settings.rounds.div_ceil(SITTINGS);
    let (mut ping_rounds, mut audit_rounds) = ([vec![], vec![]], [vec![], vec![]]);
    for sitting in 0..SITTINGS {
        let workers = if sitting_order(sitting)[0] == Subject::Ours {
            let ours = start(Subject::Ours)?;
            [ours, start(Subject::Reference)?]
        } else {
            let reference = start(Subject::Reference)?;
            [start(Subject::Ours)?, reference]
        };
        let figures = loop_rounds(
            &workers,
            signer,
            &ping,
            LoopKind::Ping,
            settings.loop_n,
            rounds,
        )?;
        for (all, some) in ping_rounds.iter_mut().zip(figures) {
            all.extend(some);
        }
        if settings.audit_loop_n > 0 {
            let figures = loop_rounds(
                &workers,
                signer,
                &audit,
                LoopKind::Audit,
                settings.audit_loop_n,
                rounds,
            )?;
            for (all, some) in audit_rounds.iter_mut().zip(figures) {
                all.extend(some);
            }
        }
        for worker in workers {
            worker.stop();
        }
    }
    Ok(CpuResults {
        ping: ping_rounds.map(CpuResult::new),
        audit: (settings.audit_loop_n > 0).then(|| audit_rounds.map(CpuResult::new)),
    })
}

/// CPU per handler call for both workers, µs: `rounds` rounds of `n`
/// calls, each minus the same loop without the handler.
fn loop_rounds(
    workers: &[WranglerDev; 2],
    signer: &Signer,
    body: &[u8],
    kind: LoopKind,
    n: u32,
    rounds: usize,
) -> Result<[Vec<f64>; 2]> {
    let signature = signer.sign(TIMESTAMP, body);
    let body = std::str::from_utf8(body)?;
    let specs = Subject::BOTH.map(|subject| {
        serde_json::json!({
            "path": subject.interactions_path(),
            "signature": signature,
            "timestamp": TIMESTAMP,
            "body": body,
        })
        .to_string()
    });
    // Warm up (JIT, the key import, the application) before measuring.
    for (worker, spec) in workers.iter().zip(&specs) {
        loop_request(worker, kind, spec, n, false)?;
    }
    let mut figures: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        // Alternate who goes first, so drift on a shared machine hits both.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let (worker, spec) = (&workers[index], &specs[index]);
            let before = workerd_cpu(worker)?;
            loop_request(worker, kind, spec, n, false)?;
            let looped = workerd_cpu(worker)?;
            loop_request(worker, kind, spec, n, true)?;
            let empty = workerd_cpu(worker)?;
            let handler = looped.saturating_sub(before).as_secs_f64()
                - empty.saturating_sub(looped).as_secs_f64();
            let micros = handler * 1e6 / f64::from(n);
            figures[index].push(micros);
        }
    }
    Ok(figures)
}

fn loop_request(
    worker: &WranglerDev,
    kind: LoopKind,
    spec: &str,
    n: u32,
    empty: bool,
) -> Result<()> {
    let url = format!(
        "{}{}?n={n}{}",
        worker.url(),
        kind.route(),
        if empty { "&empty=1" } else { "" }
    );
    let response = http::post_json(&url, &[], spec)?;
    ensure!(
        response.status == 200,
        "{url}: {} {}\n{}",
        response.status,
        response.text(),
        worker.log_tail(20)
    );
    Ok(())
}

/// CPU time of every workerd process wrangler started.
fn workerd_cpu(worker: &WranglerDev) -> Result<Duration> {
    wrangler_cpu(worker).map(|split| split.workerd)
}

/// CPU time of one `wrangler dev` and the processes it started.
#[derive(Debug, Clone, Copy, Default)]
struct WranglerCpu {
    /// Every workerd process.
    workerd: Duration,
    /// The workerd process that runs the worker itself (started with an
    /// inspector; the other is wrangler's proxy, which also relays the
    /// worker's devtools events).
    runtime: Duration,
    /// wrangler's own Node.js process and its helpers (esbuild): where the
    /// proxy's devtools events end up.
    wrangler: Duration,
}

impl WranglerCpu {
    fn since(self, before: Self) -> Self {
        Self {
            workerd: self.workerd.saturating_sub(before.workerd),
            runtime: self.runtime.saturating_sub(before.runtime),
            wrangler: self.wrangler.saturating_sub(before.wrangler),
        }
    }
}

fn wrangler_cpu(worker: &WranglerDev) -> Result<WranglerCpu> {
    let mut split = WranglerCpu::default();
    let mut found = false;
    for pid in group_members(worker.pid()) {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "workerd" {
            split.wrangler += process_cpu(pid).unwrap_or_default();
            continue;
        }
        let cpu = process_cpu(pid).with_context(|| format!("no CPU time for workerd {pid}"))?;
        split.workerd += cpu;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("--inspector-addr") {
            split.runtime += cpu;
        }
        found = true;
    }
    ensure!(found, "no workerd process under wrangler {}", worker.pid());
    Ok(split)
}

/// Busy CPU time of the whole machine (every core), from `/proc/stat`.
fn machine_busy() -> Duration {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks = busy_ticks(&stat).unwrap_or_default();
    Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second())
}

/// The busy clock ticks of `/proc/stat`'s first line (all cores): user,
/// nice, system, irq, softirq and steal; not idle or iowait, and not guest
/// time, which the kernel already counts in user.
fn busy_ticks(stat: &str) -> Option<u64> {
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(|field| field.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, _idle, _iowait, irq, softirq, rest @ ..] = fields.as_slice() else {
        return None;
    };
    let steal = rest.first().copied().unwrap_or(0);
    Some(user + nice + system + irq + softirq + steal)
}

/// CPU time a process has used, all its threads: nanoseconds from each
/// thread's `/proc/<pid>/task/<tid>/schedstat` (the scheduler's own count),
/// or where the kernel does not offer it, utime + stime from
/// `/proc/<pid>/stat` in clock ticks (10 ms each on most kernels: too coarse
/// for short measurements, so only the fallback).
///
/// A thread (or a database backend) that exits takes its time out of the
/// sum, so a count can go down between two reads: callers subtract with
/// `saturating_sub`. workerd's threads and the API's pooled connections
/// live as long as a run, so this is rare, and it can only make a figure
/// smaller.
fn process_cpu(pid: u32) -> Option<Duration> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut nanos: u64 = 0;
    let mut counted = false;
    for thread in threads.flatten() {
        // A thread may end between listing and reading: skip it.
        let Ok(text) = std::fs::read_to_string(thread.path().join("schedstat")) else {
            continue;
        };
        if let Some(ran) = schedstat_nanos(&text) {
            nanos += ran;
            counted = true;
        }
    }
    if counted {
        return Some(Duration::from_nanos(nanos));
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(Duration::from_secs_f64(
        ticks as f64 / clock_ticks_per_second(),
    ))
}

/// The first field of a `schedstat` line: nanoseconds spent on a CPU.
fn schedstat_nanos(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// utime + stime (fields 14 and 15) of a `/proc/<pid>/stat` line.
fn cpu_ticks(stat: &str) -> Option<u64> {
    // The command name may contain spaces: count fields after its `)`.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        stdout_of(Command::new("getconf").arg("CLK_TCK"))
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

// ----------------------------------------------------------------- (b) HTTP

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Ping,
    Audit,
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Self::Ping => "PING",
            Self::Audit => "/audit",
        }
    }

    /// The interaction response type each worker must answer with.
    fn answer_type(self) -> u64 {
        match self {
            Self::Ping => 1,
            Self::Audit => 5,
        }
    }
}

#[derive(Debug)]
struct HttpResult {
    scenario: Scenario,
    concurrency: usize,
    /// Which run of this scenario and concurrency (runs of one round are
    /// side by side in time, and PINGs of one round interleaved).
    round: usize,
    subject: Subject,
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU of the workerd processes per request, ms (deferred work included).
    workerd_ms: f64,
    /// The part of it in the process that runs the worker (audits only).
    runtime_ms: Option<f64>,
    /// CPU of wrangler's Node.js process and helpers per request (audits).
    wrangler_ms: Option<f64>,
    /// Busy CPU of the whole machine per request (audits): the workers,
    /// wrangler, the database, the stand-ins and the load generator.
    machine_ms: Option<f64>,
    /// CPU of PostgreSQL and the REST API per request, ms.
    database_ms: f64,
}

/// A throwaway cluster with the schema, and the API over it.
struct Database {
    // Field order is drop order: the API before the database under it.
    api: Postrust,
    cluster: Cluster,
    _dir: tempfile::TempDir,
}

fn database(workspace: &Workspace) -> Result<Database> {
    let dir = tempfile::Builder::new()
        .prefix("community-os-bench-")
        .tempdir()?;
    let cluster = Cluster::start(dir.path().join("postgres"), free_port()?)?;
    cluster.create_database(DATABASE, None)?;
    migrate(workspace, &cluster.psql(DATABASE), false)?;
    cluster.psql(DATABASE).execute(&format!(
        // Thousands of audits per run: a budget they cannot spend.
        "insert into guild_settings (guild_id, staff_role_id, ai_daily_budget_usd) \
         values ({GUILD}, {STAFF_ROLE}, 100000)"
    ))?;
    let api = Postrust::start(&PostrustOptions {
        bin: postrust::locate_postrust()?,
        db_url: format!(
            "postgres://{AUTHENTICATOR}:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{}/{DATABASE}",
            cluster.port()
        ),
        jwt_secret: LOCAL_JWT_SECRET.to_owned(),
        port: None,
        log_file: dir.path().join("postrust.log"),
        own_process_group: false,
    })?;
    Ok(Database {
        api,
        cluster,
        _dir: dir,
    })
}

/// CPU time of the REST API, the postmaster and its backends.
fn database_cpu(database: &Database) -> Duration {
    let postmaster =
        std::fs::read_to_string(database.cluster.dir().join("data").join("postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid: u32 = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            let ours =
                pid == database.api.pid() || Some(pid) == postmaster || Some(ppid) == postmaster;
            if ours { process_cpu(pid) } else { None }
        })
        .sum()
}

/// How many times (a) and (b) start the workers, each time in another
/// order: on this machine the `wrangler dev` started first spends a few per
/// cent more CPU per request than one started after it, whichever worker it
/// runs (bench/README.md, eighth round). Every sitting runs its share of the
/// rounds and runs, so ours and the reference are each started first in
/// half of them.
const SITTINGS: usize = 2;

/// The order a sitting starts the workers in: ours and the reference take
/// turns at being first; the reference without books, which is context
/// only, comes last.
fn sitting_order(sitting: usize) -> [Subject; 3] {
    if sitting.is_multiple_of(2) {
        [Subject::Ours, Subject::Reference, Subject::ReferenceBare]
    } else {
        [Subject::Reference, Subject::Ours, Subject::ReferenceBare]
    }
}

/// The three workers of one sitting.
struct Started {
    ours: WranglerDev,
    reference: WranglerDev,
    reference_bare: WranglerDev,
}

impl Started {
    /// Starts every subject, one after the other in `order`.
    fn start(order: [Subject; 3], start: impl Fn(Subject) -> Result<WranglerDev>) -> Result<Self> {
        let (mut ours, mut reference, mut reference_bare) = (None, None, None);
        for subject in order {
            let worker = Some(start(subject)?);
            match subject {
                Subject::Ours => ours = worker,
                Subject::Reference => reference = worker,
                Subject::ReferenceBare => reference_bare = worker,
            }
        }
        let (Some(ours), Some(reference), Some(reference_bare)) = (ours, reference, reference_bare)
        else {
            bail!("the start order {order:?} must name every worker");
        };
        Ok(Self {
            ours,
            reference,
            reference_bare,
        })
    }

    fn of(&self, subject: Subject) -> &WranglerDev {
        match subject {
            Subject::Ours => &self.ours,
            Subject::Reference => &self.reference,
            Subject::ReferenceBare => &self.reference_bare,
        }
    }

    fn all(&self) -> [&WranglerDev; 3] {
        [&self.ours, &self.reference, &self.reference_bare]
    }

    fn stop(self) {
        self.reference_bare.stop();
        self.ours.stop();
        self.reference.stop();
    }
}

fn http_runs(
    workspace: &Workspace,
    signer: &Signer,
    settings: Settings,
) -> Result<Vec<HttpResult>> {
    let database = database(workspace)?;
    let service_key = jwt::service_role_key(LOCAL_JWT_SECRET);
    let key = signer.public_key_hex();
    let application = payload::APPLICATION.to_string();
    // Discord's API and Gemini: the local stand-ins, answering as documented,
    // so the deferred work takes its everyday path (a verdict, an edit).
    let stand_ins = stand_ins::StandIns::start().context("starting the stand-ins")?;
    let (discord, gemini) = (stand_ins.discord_api_base(), stand_ins.gemini_api_base());
    let ours_vars = [
        ("DISCORD_PUBLIC_KEY", key.as_str()),
        ("DISCORD_APPLICATION_ID", application.as_str()),
        ("DISCORD_BOT_TOKEN", "bench-token"),
        ("DISCORD_API_BASE", discord.as_str()),
        ("GEMINI_API_BASE", gemini.as_str()),
        ("GEMINI_API_KEY", "bench-key"),
        ("SUPABASE_REST_URL", database.api.url()),
        ("SUPABASE_SERVICE_ROLE_KEY", service_key.as_str()),
        (
            "RELAY_SHARED_SECRET",
            "bench-relay-secret-bench-relay-secret",
        ),
    ];
    let reference_vars = [
        ("DISCORD_PUBLIC_KEY", key.as_str()),
        ("DISCORD_APPLICATION_ID", application.as_str()),
        ("DISCORD_API_BASE", discord.as_str()),
        ("GEMINI_API_BASE", gemini.as_str()),
        ("GEMINI_API_KEY", "bench-key"),
    ];
    let start = |subject: Subject| -> Result<WranglerDev> {
        let reference = || {
            WranglerDev::builder(reference_dir(workspace).join("wrangler.toml"))
                .health_path(subject.health_path())
                .vars(reference_vars)
        };
        let builder = match subject {
            Subject::Ours => WranglerDev::builder(workspace.wrangler_config())
                .env("interactions")
                .vars(ours_vars),
            Subject::Reference => reference().vars([
                ("SUPABASE_REST_URL", database.api.url()),
                ("SUPABASE_SERVICE_ROLE_KEY", service_key.as_str()),
            ]),
            Subject::ReferenceBare => reference(),
        };
        builder
            .start()
            .with_context(|| format!("starting {}", subject.label()))
    };

    let runs = settings.http_runs.div_ceil(SITTINGS);
    let mut results = Vec::new();
    for sitting in 0..SITTINGS {
        let order = sitting_order(sitting);
        progress(format!(
            "(b) sitting {} of {SITTINGS}: {runs} runs each, the workers started in this order: {}",
            sitting + 1,
            order.map(Subject::label).join(", ")
        ));
        let workers = Started::start(order, start)?;
        let first_round = sitting * runs * CONCURRENCIES.len();
        let sitting_results = sitting_runs(
            &workers,
            signer,
            settings,
            (sitting, first_round, runs),
            &database,
            &stand_ins,
        );
        workers.stop();
        results.extend(sitting_results?);
    }
    // The books both workers kept: one audit and one ledger row per request.
    let rows = database
        .cluster
        .psql(DATABASE)
        .query("select count(*) filter (where status = 'ok') || '/' || count(*) from audits")?;
    println!("    audits recorded (ok/all): {}", rows.trim());
    // Any that were not: what each worker recorded as the reason.
    let failures = database.cluster.psql(DATABASE).query(
        "select status || ': ' || coalesce(left(error, 160), '-') || ' (' || count(*) || ')' \
         from audits where status <> 'ok' group by status, left(error, 160) order by count(*) desc",
    )?;
    for line in failures.lines().filter(|line| !line.trim().is_empty()) {
        println!("      not ok: {}", line.trim());
    }
    drop(database);
    Ok(results)
}

/// One sitting's warm-up and runs: `runs` of each scenario at each
/// concurrency, numbered from `first_round`.
fn sitting_runs(
    workers: &Started,
    signer: &Signer,
    settings: Settings,
    (sitting, first_round, runs): (usize, usize, usize),
    database: &Database,
    stand_ins: &stand_ins::StandIns,
) -> Result<Vec<HttpResult>> {
    let all = workers.all();
    let worker_of = |subject: Subject| workers.of(subject);
    let member = Member::ordinary(1_000_000_000_000_000_002, "bench");
    let mut results = Vec::new();
    for scenario in [Scenario::Ping, Scenario::Audit] {
        let subjects: &[Subject] = match scenario {
            Scenario::Ping => &Subject::BOTH,
            Scenario::Audit => &[Subject::Ours, Subject::Reference, Subject::ReferenceBare],
        };
        let count = match scenario {
            Scenario::Ping => settings.requests,
            Scenario::Audit => settings.audit_requests,
        };
        // A fresh interaction token each; for audits a text no run has sent
        // before, so none is answered from the cache.
        let build = |subject: Subject, tag: &str, count: usize| -> Vec<Vec<u8>> {
            let port = worker_of(subject).port();
            (0..count)
                .map(|i| {
                    let body = match scenario {
                        Scenario::Ping => payload::ping(),
                        Scenario::Audit => payload::slash(
                            "audit",
                            &[(
                                "text",
                                &format!("Movie night on Friday, everyone welcome! ({tag}.{i})"),
                            )],
                            &member,
                            GENERAL,
                            &format!("bench-token-{tag}-{i}"),
                        ),
                    };
                    let body = serde_json::to_vec(&body).unwrap_or_default();
                    let signature = signer.sign(TIMESTAMP, &body);
                    raw_request(port, subject.interactions_path(), &body, &signature)
                })
                .collect()
        };
        // Warm up every worker first (connections, V8's first compiles), so
        // no measured run pays for them. Our wasm keeps tiering up slowly
        // for thousands of audits after this (bench/README.md, sixth round):
        // the runs measure a worker a few thousand requests old.
        for &subject in subjects {
            let warm = build(
                subject,
                &format!("warm{sitting}-{}", subject.slug()),
                count / 5,
            );
            load(worker_of(subject).port(), &warm, 8, scenario)
                .with_context(|| format!("warming up {}", subject.label()))?;
            settle(&all, database);
        }
        for (round, concurrency) in CONCURRENCIES
            .into_iter()
            .flat_map(|c| std::iter::repeat_n(c, runs))
            .enumerate()
            .map(|(index, c)| (first_round + index, c))
        {
            if scenario == Scenario::Ping {
                results.extend(interleaved_pings(
                    subjects,
                    &worker_of,
                    &build,
                    round,
                    count,
                    concurrency,
                )?);
                continue;
            }
            // Rotate who goes first, so drift on a shared machine hits all.
            for turn in 0..subjects.len() {
                let subject = subjects[(round + turn) % subjects.len()];
                let worker = worker_of(subject);
                let requests = build(subject, &format!("{round}.{turn}"), count);
                settle(&all, database);
                stand_ins.clear();
                let cpu_before = (
                    wrangler_cpu(worker)?,
                    database_cpu(database),
                    machine_busy(),
                );
                let result =
                    load(worker.port(), &requests, concurrency, scenario).with_context(|| {
                        format!(
                            "{} {} at concurrency {concurrency}\n{}",
                            subject.label(),
                            scenario.label(),
                            worker.log_tail(20)
                        )
                    })?;
                // The deferred work finishes after the answers: wait for it.
                settle(&all, database);
                let per_request = |cpu: Duration| cpu.as_secs_f64() * 1e3 / requests.len() as f64;
                let spent = wrangler_cpu(worker)?.since(cpu_before.0);
                let database_ms = per_request(database_cpu(database).saturating_sub(cpu_before.1));
                let machine_ms = per_request(machine_busy().saturating_sub(cpu_before.2));
                // Every audit reached its end: its message edited.
                let edits = stand_ins
                    .discord_requests()
                    .into_iter()
                    .filter(|r| r.method == "PATCH")
                    .map(|r| r.path)
                    .collect::<std::collections::HashSet<_>>()
                    .len();
                ensure!(
                    edits == requests.len(),
                    "{}: {edits} of {} audits were finished\n{}",
                    subject.label(),
                    requests.len(),
                    worker.log_tail(20)
                );
                results.push(HttpResult {
                    scenario,
                    concurrency,
                    round,
                    subject,
                    requests_per_second: result.0,
                    p50_ms: result.1,
                    p99_ms: result.2,
                    workerd_ms: per_request(spent.workerd),
                    runtime_ms: Some(per_request(spent.runtime)),
                    wrangler_ms: Some(per_request(spent.wrangler)),
                    machine_ms: Some(machine_ms),
                    database_ms,
                });
                print_run(&results[results.len() - 1]);
            }
        }
    }
    Ok(results)
}

/// PINGs per block when the workers take turns.
const PING_BLOCK: usize = 200;

/// Builds a run's signed requests for a subject: `(subject, tag, count)`.
type Build<'a> = dyn Fn(Subject, &str, usize) -> Vec<Vec<u8>> + 'a;

/// One PING run for every subject at once: they take turns in blocks of
/// [`PING_BLOCK`] requests, alternating who goes first, so that the
/// machine's drift (seconds long on a shared VM) falls on both alike. A PING
/// leaves no work behind, so blocks can follow each other at once. Each
/// subject's requests/s is its requests over the time of its own blocks.
fn interleaved_pings<'w>(
    subjects: &[Subject],
    worker_of: &dyn Fn(Subject) -> &'w WranglerDev,
    build: &Build<'_>,
    round: usize,
    count: usize,
    concurrency: usize,
) -> Result<Vec<HttpResult>> {
    let requests: Vec<Vec<Vec<u8>>> = subjects
        .iter()
        .map(|&subject| build(subject, &round.to_string(), count))
        .collect();
    let mut measured: Vec<(Measured, Duration)> = subjects
        .iter()
        .map(|_| {
            (
                Measured {
                    latencies: Vec::with_capacity(count),
                    elapsed: Duration::ZERO,
                },
                Duration::ZERO,
            )
        })
        .collect();
    for (index, subject) in subjects.iter().enumerate() {
        // The answer is checked once, outside the timing.
        let first = requests[index].first().context("no PINGs to send")?;
        check_answer(worker_of(*subject).port(), first, Scenario::Ping)?;
    }
    for (block, start) in (0..count).step_by(PING_BLOCK).enumerate() {
        let end = (start + PING_BLOCK).min(count);
        for turn in 0..subjects.len() {
            let index = (block + turn) % subjects.len();
            let worker = worker_of(subjects[index]);
            let before = workerd_cpu(worker)?;
            let part = drive_load(worker.port(), &requests[index][start..end], concurrency)
                .with_context(|| {
                    format!(
                        "{} PING at concurrency {concurrency}\n{}",
                        subjects[index].label(),
                        worker.log_tail(20)
                    )
                })?;
            let (total, cpu) = &mut measured[index];
            total.latencies.extend(part.latencies);
            total.elapsed += part.elapsed;
            *cpu += workerd_cpu(worker)?.saturating_sub(before);
        }
    }
    let mut results = Vec::new();
    for (subject, (total, cpu)) in subjects.iter().zip(measured) {
        let (requests_per_second, p50_ms, p99_ms) = summarize(&total)?;
        let workerd_ms = cpu.as_secs_f64() * 1e3 / total.latencies.len() as f64;
        results.push(HttpResult {
            scenario: Scenario::Ping,
            concurrency,
            round,
            subject: *subject,
            requests_per_second,
            p50_ms,
            p99_ms,
            workerd_ms,
            runtime_ms: None,
            wrangler_ms: None,
            machine_ms: None,
            database_ms: 0.0,
        });
        print_run(&results[results.len() - 1]);
    }
    Ok(results)
}

/// One run's line, printed as it ends.
fn print_run(run: &HttpResult) {
    let runtime = run
        .runtime_ms
        .map(|ms| format!(" (its runtime {ms:.2})"))
        .unwrap_or_default();
    let wrangler = run
        .wrangler_ms
        .map(|ms| format!(", wrangler {ms:.2} ms"))
        .unwrap_or_default();
    let machine = run
        .machine_ms
        .map(|ms| format!(", machine {ms:.2} ms"))
        .unwrap_or_default();
    println!(
        "    {:<6} c={} {:<20} {:>7.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  \
         CPU/request: workerd {:.2} ms{runtime}, database {:.2} ms{wrangler}{machine}",
        run.scenario.label(),
        run.concurrency,
        run.subject.label(),
        run.requests_per_second,
        run.p50_ms,
        run.p99_ms,
        run.workerd_ms,
        run.database_ms,
    );
}

/// Waits (at most 30 s) until the workers' deferred work has drained: their
/// workerd processes and the database use at most 10 ms of CPU over 300 ms.
fn settle(workers: &[&WranglerDev], database: &Database) {
    let busy = || -> Duration {
        workers
            .iter()
            .filter_map(|w| workerd_cpu(w).ok())
            .sum::<Duration>()
            + database_cpu(database)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = busy();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
        let now = busy();
        if now.saturating_sub(last) <= Duration::from_millis(10) {
            return;
        }
        last = now;
    }
}

fn raw_request(port: u16, path: &str, body: &[u8], signature: &str) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n\
         X-Signature-Ed25519: {signature}\r\nX-Signature-Timestamp: {TIMESTAMP}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// Sends every request once, over `concurrency` keep-alive connections;
/// returns (requests/s, p50 ms, p99 ms).
fn load(
    port: u16,
    requests: &[Vec<u8>],
    concurrency: usize,
    scenario: Scenario,
) -> Result<(f64, f64, f64)> {
    // Every answer must be a 200; the first one's type is checked too, outside
    // the timing. It is not sent again: the same audit text twice would be
    // answered from the cache.
    let (first, rest) = requests.split_first().context("no requests to send")?;
    check_answer(port, first, scenario)?;
    summarize(&drive_load(port, rest, concurrency)?)
}

/// Sends one request: it must be answered 200 with the scenario's type.
fn check_answer(port: u16, request: &[u8], scenario: Scenario) -> Result<()> {
    let (status, body) = Connection::open(port)?.send(request)?;
    ensure!(
        status == 200,
        "answered {status}: {}",
        String::from_utf8_lossy(&body)
    );
    let answer: Value = serde_json::from_slice(&body)?;
    ensure!(
        answer["type"].as_u64() == Some(scenario.answer_type()),
        "expected type {}, got {answer}",
        scenario.answer_type()
    );
    Ok(())
}

/// What one stretch of load measured.
struct Measured {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

/// requests/s, p50 and p99 (ms) of what was measured.
fn summarize(measured: &Measured) -> Result<(f64, f64, f64)> {
    let mut millis: Vec<f64> = measured
        .latencies
        .iter()
        .map(|latency| latency.as_secs_f64() * 1e3)
        .collect();
    millis.sort_by(f64::total_cmp);
    ensure!(!millis.is_empty(), "no requests were measured");
    Ok((
        millis.len() as f64 / measured.elapsed.as_secs_f64(),
        percentile(&millis, 0.50),
        percentile(&millis, 0.99),
    ))
}

/// Sends `requests` over `concurrency` keep-alive connections; every answer
/// must be a 200.
fn drive_load(port: u16, requests: &[Vec<u8>], concurrency: usize) -> Result<Measured> {
    let started = Instant::now();
    let chunks: Vec<&[Vec<u8>]> = requests
        .chunks(requests.len().div_ceil(concurrency).max(1))
        .collect();
    let latencies = std::thread::scope(|scope| -> Result<Vec<Duration>> {
        let handles: Vec<_> = chunks
            .iter()
            .map(|chunk| {
                scope.spawn(move || -> Result<Vec<Duration>> {
                    let mut connection = Connection::open(port)?;
                    let mut latencies = Vec::with_capacity(chunk.len());
                    for request in *chunk {
                        let sent = Instant::now();
                        let (status, body) = connection.send(request)?;
                        ensure!(
                            status == 200,
                            "answered {status}: {}",
                            String::from_utf8_lossy(&body)
                        );
                        latencies.push(sent.elapsed());
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut all = Vec::with_capacity(requests.len());
        for handle in handles {
            match handle.join() {
                Ok(latencies) => all.extend(latencies?),
                Err(_) => bail!("a load thread panicked"),
            }
        }
        Ok(all)
    })?;
    Ok(Measured {
        latencies,
        elapsed: started.elapsed(),
    })
}

/// A keep-alive HTTP/1.1 connection, reopened when the server closes it.
struct Connection {
    port: u16,
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(port: u16) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        Ok(Self {
            port,
            reader: BufReader::new(stream),
        })
    }

    fn send(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        match self.try_send(request) {
            Ok(answer) => Ok(answer),
            // The server may close an idle keep-alive connection: once more, fresh.
            Err(_) => {
                *self = Self::open(self.port)?;
                self.try_send(request)
            }
        }
    }

    fn try_send(&mut self, request: &[u8]) -> Result<(u16, Vec<u8>)> {
        self.reader.get_mut().write_all(request)?;
        let mut line = String::new();
        ensure!(self.reader.read_line(&mut line)? > 0, "connection closed");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let (mut length, mut chunked, mut close) = (None, false, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse::<usize>().ok(),
                "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                    .with_context(|| format!("bad chunk size {line:?}"))?;
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk)?;
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        } else if let Some(length) = length {
            body.resize(length, 0);
            self.reader.read_exact(&mut body)?;
        } else {
            self.reader.read_to_end(&mut body)?;
            close = true;
        }
        if close {
            *self = Self::open(self.port)?;
        }
        Ok((status, body))
    }
}

// ------------------------------------------------------------------- report

fn median(sorted: &[f64]) -> f64 {
    percentile(sorted, 0.5)
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn print_table(sizes: &[BundleSize], cpu: Option<&CpuResults>, http: &[HttpResult]) {
    println!("\n==> interactions benchmark (ratio = interactions-worker / reference)");
    println!(
        "    {:<34} {:>20} {:>16} {:>7}  target",
        "", "interactions-worker", "reference (JS)", "ratio"
    );
    if let Some(cpu) = cpu {
        print_cpu(cpu);
    }
    print_http(http);
    print_sizes(sizes);
}

fn print_cpu(cpu: &CpuResults) {
    let [ours, reference] = &cpu.ping;
    let paired = paired_rounds(&cpu.ping);
    let ratio = ours.median_us / reference.median_us;
    println!(
        "    {:<34} {:>20.0} {:>16.0} {:>7}  <= 0.80 {}",
        "(a) CPU per signed PING, µs",
        ours.median_us,
        reference.median_us,
        ratio_toward(ratio, Bound::AtMost),
        verdict(ratio <= 0.8)
    );
    print_rounds(ours, reference);
    print_paired(&paired, "round");
    if let Some([ours, reference]) = &cpu.audit {
        println!(
            "    {:<34} {:>20.0} {:>16.0} {:>7.2}  (context: the whole audit, deferred work included)",
            "    CPU per /audit, µs",
            ours.median_us,
            reference.median_us,
            ours.median_us / reference.median_us,
        );
        print_rounds(ours, reference);
    }
}

/// The median of sorted paired ratios, then every one of them.
fn print_paired(paired: &[f64], each: &str) {
    println!(
        "    {:<34} {:>46.2}  (each {each} against the reference's in the same round: {})",
        "      paired, median",
        median(paired),
        paired
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

fn print_rounds(ours: &CpuResult, reference: &CpuResult) {
    let rounds = |figures: &[f64]| {
        figures
            .iter()
            .map(|f| format!("{f:.0}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!(
        "        rounds, in order: ours [{}]  reference [{}]",
        rounds(&ours.rounds_us),
        rounds(&reference.rounds_us)
    );
}

fn print_http(http: &[HttpResult]) {
    for scenario in [Scenario::Ping, Scenario::Audit] {
        for concurrency in CONCURRENCIES {
            let find = |subject| {
                let mut runs: Vec<&HttpResult> = http
                    .iter()
                    .filter(|r| {
                        r.scenario == scenario
                            && r.concurrency == concurrency
                            && r.subject == subject
                    })
                    .collect();
                runs.sort_by(|a, b| a.requests_per_second.total_cmp(&b.requests_per_second));
                runs.get(runs.len() / 2).copied()
            };
            let (Some(a), Some(b)) = (find(Subject::Ours), find(Subject::Reference)) else {
                continue;
            };
            let ratio = a.requests_per_second / b.requests_per_second;
            println!(
                "    {:<34} {:>20.0} {:>16.0} {:>7}  >= 1.00 {}",
                format!("(b) {} c={concurrency} req/s", scenario.label()),
                a.requests_per_second,
                b.requests_per_second,
                ratio_toward(ratio, Bound::AtLeast),
                verdict(ratio >= 1.0)
            );
            let paired = paired_ratios(http, scenario, concurrency);
            if !paired.is_empty() {
                print_paired(&paired, "run");
            }
            println!(
                "    {:<34} {:>20} {:>16} {:>7.2}",
                "      p50 / p99 ms",
                format!("{:.2} / {:.2}", a.p50_ms, a.p99_ms),
                format!("{:.2} / {:.2}", b.p50_ms, b.p99_ms),
                a.p50_ms / b.p50_ms
            );
            println!(
                "    {:<34} {:>20} {:>16}",
                "      CPU/request ms: workerd + db",
                format!("{:.2} + {:.2}", a.workerd_ms, a.database_ms),
                format!("{:.2} + {:.2}", b.workerd_ms, b.database_ms),
            );
            if let (Some(ours), Some(theirs)) = (a.runtime_ms, b.runtime_ms) {
                println!(
                    "    {:<34} {:>20.2} {:>16.2}",
                    "        of which the worker's runtime", ours, theirs
                );
            }
            if let (Some(ours), Some(theirs)) = (a.machine_ms, b.machine_ms) {
                println!(
                    "    {:<34} {:>20.2} {:>16.2}",
                    "      CPU/request ms: whole machine", ours, theirs
                );
            }
            if let Some(bare) = find(Subject::ReferenceBare) {
                println!(
                    "    {:<34} {:>20} {:>16.0} {:>7.2}  (context: stores nothing; {:.2} ms CPU)",
                    "      vs the tutorial without books",
                    "",
                    bare.requests_per_second,
                    a.requests_per_second / bare.requests_per_second,
                    bare.workerd_ms
                );
            }
        }
    }
}

/// Ours over the reference's requests/s, round by round, sorted.
fn paired_ratios(http: &[HttpResult], scenario: Scenario, concurrency: usize) -> Vec<f64> {
    let of = |subject: Subject, round: usize| {
        http.iter().find(|r| {
            r.scenario == scenario
                && r.concurrency == concurrency
                && r.subject == subject
                && r.round == round
        })
    };
    let mut ratios: Vec<f64> = http
        .iter()
        .filter(|r| r.scenario == scenario && r.concurrency == concurrency)
        .filter(|r| r.subject == Subject::Ours)
        .filter_map(|ours| {
            let reference = of(Subject::Reference, ours.round)?;
            Some(ours.requests_per_second / reference.requests_per_second)
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

fn print_sizes(sizes: &[BundleSize]) {
    let reference_size = sizes
        .iter()
        .find(|s| s.name == "reference (JS)")
        .map_or(f64::NAN, |s| s.gzip_kib);
    for size in sizes.iter().filter(|s| s.name != "reference (JS)") {
        let within = size.gzip_kib <= 1024.0;
        println!(
            "    {:<34} {:>20.0} {:>16.0} {:>7.1}  <= 1024 {}",
            format!("(c) {} gzip KiB", size.name),
            size.gzip_kib,
            reference_size,
            size.gzip_kib / reference_size,
            verdict(within)
        );
        println!(
            "    {:<34} {:>20.0}",
            "      uncompressed KiB", size.total_kib
        );
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

/// Which side of its target a ratio must be on.
#[derive(Clone, Copy)]
enum Bound {
    AtMost,
    AtLeast,
}

/// A ratio to two decimals, rounded away from its target's side, so that
/// what is printed never reads as met when it is not: 0.996 against
/// "≥ 1.00" prints 0.99, and 0.801 against "≤ 0.80" prints 0.81.
fn ratio_toward(ratio: f64, bound: Bound) -> String {
    let hundredths = match bound {
        Bound::AtLeast => (ratio * 100.0).floor(),
        Bound::AtMost => (ratio * 100.0).ceil(),
    };
    format!("{:.2}", hundredths / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference worker asks Gemini what ours asks, from a copy of the
    /// request kept next to its source. Regenerate it with
    /// `BLESS=1 cargo test -p xtask reference_asks_gemini`.
    #[test]
    fn reference_asks_gemini_what_ours_asks() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../bench/reference-worker/src/audit-request.json");
        let template = community_core::audit::gemini_request_template();
        let expected = format!(
            "{}\n",
            serde_json::to_string_pretty(&template).expect("serializable")
        );
        if std::env::var_os("BLESS").is_some() {
            std::fs::write(&path, &expected).expect("writable");
        }
        let kept = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            kept == expected,
            "{} is not the request the interactions worker sends: \
             BLESS=1 cargo test -p xtask reference_asks_gemini",
            path.display()
        );
    }

    #[test]
    fn reads_wranglers_upload_size() {
        let output = "Attaching additional modules:\n\
                      Total Upload: 2717.34 KiB / gzip: 868.65 KiB\n\
                      --dry-run: exiting now.";
        assert_eq!(upload_size(output), Some((2717.34, 868.65)));
        assert_eq!(upload_size("nothing here"), None);
    }

    #[test]
    fn reads_cpu_ticks_after_the_command_name() {
        // pid (comm with spaces) state ppid pgrp ... utime=14th stime=15th
        let stat = "4242 (work erd) S 1 4242 4242 0 -1 4194560 100 0 0 0 371 29 0 0 20 0 9 0";
        assert_eq!(cpu_ticks(stat), Some(400));
        assert_eq!(cpu_ticks("garbage"), None);
    }

    #[test]
    fn a_printed_ratio_never_reads_as_met_when_it_is_not() {
        assert_eq!(ratio_toward(0.996, Bound::AtLeast), "0.99");
        assert_eq!(ratio_toward(1.0, Bound::AtLeast), "1.00");
        assert_eq!(ratio_toward(1.129, Bound::AtLeast), "1.12");
        assert_eq!(ratio_toward(0.801, Bound::AtMost), "0.81");
        assert_eq!(ratio_toward(0.8, Bound::AtMost), "0.80");
        assert_eq!(ratio_toward(0.7449, Bound::AtMost), "0.75");
    }

    #[test]
    fn counts_the_machines_busy_ticks() {
        let stat = "cpu  100 5 30 900 40 2 3 7 50 0\ncpu0 50 2 15 450 20 1 1 3 25 0\n";
        assert_eq!(busy_ticks(stat), Some(100 + 5 + 30 + 2 + 3 + 7));
        assert_eq!(busy_ticks("cpu0 1 2 3 4 5 6 7\n"), None);
        assert_eq!(busy_ticks("cpu  1 2 x\n"), None);
    }

    #[test]
    fn reads_nanoseconds_from_schedstat() {
        // time on a CPU (ns), time waiting to run (ns), timeslices
        assert_eq!(
            schedstat_nanos("300947646 249917415 794\n"),
            Some(300_947_646)
        );
        assert_eq!(schedstat_nanos(""), None);
    }

    #[test]
    fn counts_a_busy_process_cpu_time() {
        let pid = std::process::id();
        let before = process_cpu(pid).expect("this process's CPU time");
        let mut spin = 0u64;
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(50) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let after = process_cpu(pid).expect("this process's CPU time");
        // 50 ms of spinning: at least most of it was on a CPU.
        assert!(
            after.saturating_sub(before) >= Duration::from_millis(20),
            "{before:?} → {after:?}"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&values, 0.5), 50.0);
        assert_eq!(percentile(&values, 0.99), 99.0);
        assert_eq!(percentile(&[3.0], 0.99), 3.0);
        assert!(percentile(&[], 0.5).is_nan());
    }

    #[test]
    fn a_request_carries_the_signature_headers_and_body() {
        let request = raw_request(8787, "/interactions", br#"{"type":1}"#, "ab");
        let text = String::from_utf8(request).expect("ascii");
        assert!(
            text.starts_with("POST /interactions HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(text.contains("X-Signature-Ed25519: ab\r\n"), "{text}");
        assert!(text.contains(&format!("X-Signature-Timestamp: {TIMESTAMP}\r\n")));
        assert!(
            text.ends_with("Content-Length: 10\r\n\r\n{\"type\":1}"),
            "{text}"
        );
    }
}
