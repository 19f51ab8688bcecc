//! Relay throughput: the fake gateway's firehose of ~1 KB MESSAGE_CREATEs →
//! the relay (the real binary, as a child process, so its peak RSS is its
//! own) → a local sink that checks each batch's MAC and acknowledges at once.
//!
//! Measured in the same run, each as its own child process on the same fake
//! gateway:
//! - `twilight typed`: a bare twilight shard, `next_event(MESSAGE_CREATE)`
//!   into twilight-model's `Message` (the reference figure in
//!   MEASUREMENTS.md), forwarding nothing;
//! - `relay (typed)`: the relay with `RELAY_PARSER=typed`;
//! - `relay (fast)`: the relay as shipped (`RELAY_PARSER=fast`).
//!
//! ```text
//! cargo bench -p gateway-relay --bench relay --profile relay -- \
//!     [--events N] [--runs R] [--batch-size B] [--frame-bytes B] [--relay-threads N] [--only KIND]
//! ```
//! (the workspace's release profile is `opt-level = "z"` for the workers; the
//! relay's dependencies need 3, as the Dockerfile builds them.)
//! Prints a table (median of the runs), the ratios, and a last line of JSON
//! for `cargo xtask bench`. Not a test: nothing here asserts a time.

use std::future::IntoFuture as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::Ipv4Addr;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use community_core::relay::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use fake_gateway::FakeGateway;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const SECRET: &str = "relay-bench-shared-secret-0123456789abcdef";

#[derive(Clone, Debug)]
struct Args {
    events: u64,
    runs: usize,
    batch_size: usize,
    frame_bytes: usize,
    relay_threads: usize,
    /// Measure only this one (`baseline`, `typed`, `fast`), e.g. under perf.
    only: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        events: 200_000,
        runs: 3,
        batch_size: 500,
        frame_bytes: 1024,
        relay_threads: 1,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or_else(|| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--events" => args.events = value()?,
            "--runs" => args.runs = usize::try_from(value()?).map_err(|e| e.to_string())?,
            "--batch-size" => {
                args.batch_size = usize::try_from(value()?).map_err(|e| e.to_string())?;
            }
            "--only" => args.only = it.next(),
            "--relay-threads" => {
                args.relay_threads = usize::try_from(value()?).map_err(|e| e.to_string())?;
            }
            "--frame-bytes" => {
                args.frame_bytes = usize::try_from(value()?).map_err(|e| e.to_string())?;
            }
            // cargo bench passes --bench; filters are ignored.
            _ => {}
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("--typed-baseline") {
        return typed_baseline(&argv[2], argv[3].parse().unwrap_or(0));
    }
    let args = match parse_args() {
        Ok(args) => args,
        Err(why) => {
            eprintln!("relay bench: {why}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench(args))
}

/// One measurement.
#[derive(Clone, Copy, Debug)]
struct Sample {
    events_per_sec: f64,
    peak_rss_kb: u64,
    /// CPU time the measured process spent per event (user + system): what
    /// the process costs, whatever else the machine is doing.
    cpu_us_per_event: f64,
}

fn median(samples: &mut [Sample]) -> Sample {
    samples.sort_by(|a, b| a.events_per_sec.total_cmp(&b.events_per_sec));
    let mut rss: Vec<u64> = samples.iter().map(|s| s.peak_rss_kb).collect();
    rss.sort_unstable();
    let mut cpu: Vec<f64> = samples.iter().map(|s| s.cpu_us_per_event).collect();
    cpu.sort_by(f64::total_cmp);
    Sample {
        events_per_sec: samples[samples.len() / 2].events_per_sec,
        peak_rss_kb: rss[rss.len() / 2],
        cpu_us_per_event: cpu[cpu.len() / 2],
    }
}

async fn bench(args: Args) -> ExitCode {
    println!(
        "relay bench: {} events of ~{} B per run, {} runs, batch size {}, {} CPUs",
        args.events,
        args.frame_bytes,
        args.runs,
        args.batch_size,
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    let kinds = [
        ("twilight typed (next_event)", Kind::Baseline),
        ("relay (typed parser)", Kind::Relay("typed")),
        ("relay (fast parser)", Kind::Relay("fast")),
    ];
    let mut results = Vec::new();
    for (name, kind) in kinds {
        let skip = args.only.as_deref().is_some_and(|only| match kind {
            Kind::Baseline => only != "baseline",
            Kind::Relay(parser) => only != parser,
        });
        if skip {
            continue;
        }
        let mut samples = Vec::new();
        for _ in 0..args.runs {
            match run_once(kind, &args).await {
                Ok(sample) => samples.push(sample),
                Err(why) => {
                    eprintln!("relay bench: {name}: {why}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let sample = median(&mut samples);
        println!(
            "  {name:<30} {:>10.0} events/s   peak RSS {:>6.1} MB   CPU {:>5.2} µs/event   (runs: {})",
            sample.events_per_sec,
            sample.peak_rss_kb as f64 / 1024.0,
            sample.cpu_us_per_event,
            samples
                .iter()
                .map(|s| format!("{:.0}", s.events_per_sec))
                .collect::<Vec<_>>()
                .join(", ")
        );
        results.push(sample);
    }
    let [baseline, typed, fast] = results[..] else {
        return ExitCode::SUCCESS;
    };
    println!(
        "  relay (fast) / twilight typed: {:.2}× events/s, {:.2}× CPU per event   relay (fast) / relay (typed): {:.2}× events/s, {:.2}× CPU per event",
        fast.events_per_sec / baseline.events_per_sec,
        fast.cpu_us_per_event / baseline.cpu_us_per_event,
        fast.events_per_sec / typed.events_per_sec,
        fast.cpu_us_per_event / typed.cpu_us_per_event
    );
    println!(
        "  targets: ≥ 150000 events/s {}, ≤ 12 MB peak RSS {}",
        if fast.events_per_sec >= 150_000.0 {
            "met"
        } else {
            "MISSED"
        },
        if fast.peak_rss_kb <= 12 * 1024 {
            "met"
        } else {
            "MISSED"
        },
    );
    println!(
        "{{\"relay_events_per_sec\":{:.0},\"relay_peak_rss_kb\":{},\"relay_typed_events_per_sec\":{:.0},\"relay_typed_peak_rss_kb\":{},\"twilight_typed_events_per_sec\":{:.0},\"twilight_typed_peak_rss_kb\":{},\"relay_cpu_us_per_event\":{:.3},\"twilight_typed_cpu_us_per_event\":{:.3},\"ratio_vs_twilight_typed\":{:.3}}}",
        fast.events_per_sec,
        fast.peak_rss_kb,
        typed.events_per_sec,
        typed.peak_rss_kb,
        baseline.events_per_sec,
        baseline.peak_rss_kb,
        fast.cpu_us_per_event,
        baseline.cpu_us_per_event,
        fast.events_per_sec / baseline.events_per_sec
    );
    ExitCode::SUCCESS
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Baseline,
    Relay(&'static str),
}

/// User + system CPU time of a process so far, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at state.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

/// Peak resident set of a process, from `/proc/PID/status`.
fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn run_once(kind: Kind, args: &Args) -> Result<Sample, String> {
    let gateway = FakeGateway::start().await.map_err(|e| e.to_string())?;
    let sink = Sink::start(args.events).await?;
    let state = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut command = match kind {
        Kind::Baseline => {
            let mut command = Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            command
                .arg("--typed-baseline")
                .arg(gateway.url())
                .arg(args.events.to_string())
                .stdout(Stdio::piped());
            command
        }
        Kind::Relay(parser) => {
            let mut command = Command::new(env!("CARGO_BIN_EXE_gateway-relay"));
            command
                .env_clear()
                .env("DISCORD_BOT_TOKEN", "bench-token")
                .env("DISCORD_GATEWAY_URL", gateway.url())
                .env("SCORING_ENDPOINT_URL", sink.url())
                .env("RELAY_SHARED_SECRET", SECRET)
                .env("RELAY_STATE_DIR", state.path())
                .env("RELAY_BATCH_SIZE", args.batch_size.to_string())
                .env("RELAY_IDENTIFY_UNTHROTTLED", "true")
                .env("RELAY_PARSER", parser)
                .env("RELAY_WORKER_THREADS", args.relay_threads.to_string())
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null());
            command
        }
    };
    let mut child = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start: {e}"))?;
    let pid = child.id();
    let result = async {
        tokio::time::timeout(
            Duration::from_secs(30),
            gateway.wait_for(|c| c.attached == 1),
        )
        .await
        .map_err(|_| "the client never identified".to_owned())?;
        let started = Instant::now();
        let cpu_before = cpu_time(pid).ok_or("cannot read the CPU time")?;
        let written = gateway
            .firehose(args.events, args.frame_bytes)
            .await
            .map_err(|e| e.to_string())?;
        let elapsed = match kind {
            Kind::Relay(_) => {
                tokio::time::timeout(Duration::from_secs(120), sink.done())
                    .await
                    .map_err(|_| format!("the sink got {} events", sink.count()))?;
                let elapsed = started.elapsed();
                if sink.bad() > 0 {
                    return Err(format!("{} requests failed the MAC check", sink.bad()));
                }
                elapsed
            }
            Kind::Baseline => {
                let stdout = child.stdout.take().ok_or("no stdout")?;
                let line = tokio::task::spawn_blocking(move || {
                    let mut line = String::new();
                    BufReader::new(stdout).read_line(&mut line).map(|_| line)
                });
                let line = tokio::time::timeout(Duration::from_secs(120), line)
                    .await
                    .map_err(|_| "the shard never finished".to_owned())?
                    .map_err(|e| e.to_string())?
                    .map_err(|e| e.to_string())?;
                if !line.starts_with("done") {
                    return Err(format!("unexpected baseline output {line:?}"));
                }
                started.elapsed()
            }
        };
        let cpu = cpu_time(pid).ok_or("cannot read the CPU time")? - cpu_before;
        written.wait().await.map_err(|e| e.to_string())?;
        let peak_rss_kb = vm_hwm_kb(pid).ok_or("cannot read VmHWM")?;
        Ok(Sample {
            events_per_sec: args.events as f64 / elapsed.as_secs_f64(),
            peak_rss_kb,
            cpu_us_per_event: cpu.as_secs_f64() * 1e6 / args.events as f64,
        })
    }
    .await;
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// The baseline child: a bare twilight shard reading typed MESSAGE_CREATEs.
fn typed_baseline(url: &str, events: u64) -> ExitCode {
    use twilight_gateway::{
        ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt as _,
        queue::InMemoryQueue,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let config = ConfigBuilder::new(
            "bench-token".to_owned(),
            Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT,
        )
        .proxy_url(url.to_owned())
        .queue(InMemoryQueue::new(0, 0, Duration::ZERO, 0))
        .build();
        let mut shard = Shard::with_config(ShardId::ONE, config);
        let mut seen = 0_u64;
        let mut ids = 0_u64;
        while let Some(item) = shard.next_event(EventTypeFlags::MESSAGE_CREATE).await {
            if let Ok(Event::MessageCreate(message)) = item {
                ids ^= message.id.get();
                seen += 1;
                if seen == events {
                    break;
                }
            }
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "done {seen} {ids}");
        let _ = stdout.flush();
        // Stay up so the parent can read VmHWM before it kills us.
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    ExitCode::SUCCESS
}

/// Acknowledges every batch whose MAC checks out and counts its events.
struct Sink {
    url: String,
    shared: Arc<SinkShared>,
    server: tokio::task::JoinHandle<()>,
}

struct SinkShared {
    target: u64,
    events: AtomicU64,
    bad: AtomicU64,
    done: Notify,
}

impl Sink {
    async fn start(target: u64) -> Result<Self, String> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}/events",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let shared = Arc::new(SinkShared {
            target,
            events: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            done: Notify::new(),
        });
        let app = Router::new()
            .route("/events", post(receive))
            .with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).into_future().await;
        });
        Ok(Self {
            url,
            shared,
            server,
        })
    }

    fn url(&self) -> &str {
        &self.url
    }

    fn count(&self) -> u64 {
        self.shared.events.load(Ordering::Relaxed)
    }

    fn bad(&self) -> u64 {
        self.shared.bad.load(Ordering::Relaxed)
    }

    async fn done(&self) {
        loop {
            let notified = self.shared.done.notified();
            if self.count() >= self.shared.target {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(shared): State<Arc<SinkShared>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    if verify(
        SECRET.as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &body,
        now,
        300,
    )
    .is_err()
    {
        shared.bad.fetch_add(1, Ordering::Relaxed);
        return StatusCode::UNAUTHORIZED;
    }
    // Each event has exactly one dedupe key.
    let events = body.windows(9).filter(|w| *w == b"\"dedupe\":").count() as u64;
    let total = shared.events.fetch_add(events, Ordering::Relaxed) + events;
    if total >= shared.target {
        shared.done.notify_waiters();
    }
    StatusCode::OK
}
