//! The `gateway-relay` binary as a child process, against the fake gateway
//! and the sink in this test process: exit codes, SIGTERM, SIGKILL.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{Reply, Sink, files, relay_env, saved_sequence};
use fake_gateway::payloads::{MessageCreate, Reaction};
use fake_gateway::{FakeGateway, Options};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const GUILD: u64 = 1_000_000_000_000_000_001;
const CHANNEL: u64 = 1_000_000_000_000_000_003;
const AUTHOR: u64 = 1_000_000_000_000_000_002;
const MEMBER: u64 = 1_000_000_000_000_000_009;

/// The relay binary running with `env` (and nothing else from ours), its
/// stderr in a file shown when a test fails.
struct Process {
    child: Child,
    log: PathBuf,
}

impl Process {
    fn start(env: &HashMap<String, String>, log: &Path) -> Self {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_gateway-relay"))
            .env_clear()
            .envs(env)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("starts the relay");
        Self {
            child,
            log: log.to_owned(),
        }
    }

    fn signal(&self, signal: Signal) {
        let pid = i32::try_from(self.child.id()).expect("a pid");
        kill(Pid::from_raw(pid), signal).expect("signals the relay");
    }

    async fn exit(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waits") {
                return status;
            }
            assert!(
                started.elapsed() < within,
                "the relay did not exit; its log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_variable_exits_2_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = relay_env("ws://127.0.0.1:9", "http://127.0.0.1:9/events", dir.path());
    env.remove("RELAY_SHARED_SECRET");
    env.insert("RELAY_BATCH_SIZE".to_owned(), "lots".to_owned());
    let log = dir.path().join("relay.log");
    let mut relay = Process::start(&env, &log);
    let status = relay.exit(Duration::from_secs(30)).await;
    assert_eq!(status.code(), Some(2));
    let log = relay.log();
    assert!(log.contains("RELAY_SHARED_SECRET is missing"), "{log}");
    assert!(log.contains("RELAY_BATCH_SIZE is not valid"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejected_token_exits_3_with_a_clear_message() {
    let gateway = FakeGateway::start_with(Options {
        token: Some("the-real-token".to_owned()),
        ..Options::default()
    })
    .await
    .expect("fake gateway");
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = relay_env(gateway.url(), &sink.url(), dir.path());
    env.insert("RELAY_LOG_FORMAT".to_owned(), "json".to_owned());
    let mut relay = Process::start(&env, &dir.path().join("relay.log"));
    let status = relay.exit(Duration::from_secs(60)).await;
    let log = relay.log();
    assert_eq!(status.code(), Some(3), "{log}");
    assert!(
        log.contains("4004") && log.contains("DISCORD_BOT_TOKEN"),
        "{log}"
    );
    // Structured logs: one JSON object per line (the last line is the plain
    // message for whoever reads stderr).
    let lines: Vec<&str> = log.lines().collect();
    let (last, json) = lines.split_last().expect("log lines");
    assert!(last.starts_with("gateway-relay: Discord closed"), "{last}");
    for line in json {
        let value: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_the_open_batch_to_the_spool_and_exits_0() {
    let gateway = FakeGateway::start().await.expect("fake gateway");
    let sink = Sink::start().await;
    sink.set_default(Reply::Status(503));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = relay_env(gateway.url(), &sink.url(), dir.path());
    env.insert("RELAY_BATCH_SIZE".to_owned(), "100".to_owned());
    env.insert("RELAY_BATCH_INTERVAL_MS".to_owned(), "600000".to_owned());
    let mut relay = Process::start(&env, &dir.path().join("relay.log"));
    within(
        "the relay identifies",
        gateway.wait_for(|c| c.attached == 1),
    )
    .await;
    for id in 0..7 {
        gateway.message_create(&MessageCreate::new(3_000 + id, GUILD, CHANNEL, AUTHOR));
    }
    let last = gateway.sequence(0).expect("a session");
    // Real time: give the relay a moment to read them (nothing tells us
    // it has; the restart below shows nothing is lost either way).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    relay.signal(Signal::SIGTERM);
    let status = relay.exit(Duration::from_secs(30)).await;
    let log = relay.log();
    assert_eq!(status.code(), Some(0), "{log}");
    assert_eq!(
        files(dir.path(), "spool"),
        ["00000000000000000001-7.json"],
        "{log}"
    );
    assert_eq!(saved_sequence(dir.path()), Some(last), "{log}");
    assert!(sink.events().is_empty());

    // Back up with the endpoint answering: the spool drains, the session
    // resumes, each event arrives once.
    sink.set_default(Reply::Accept);
    env.insert("RELAY_BATCH_INTERVAL_MS".to_owned(), "50".to_owned());
    let _relay = Process::start(&env, &dir.path().join("relay.log"));
    within("the spooled events", sink.wait_for_keys(7)).await;
    gateway.message_create(&MessageCreate::new(3_100, GUILD, CHANNEL, AUTHOR));
    within("one more", sink.wait_for_keys(8)).await;
    assert_eq!(sink.events().len(), 8);
    let counts = gateway.counts();
    assert_eq!((counts.identifies, counts.resumes), (1, 1));
}

/// SIGKILL while events stream in: nothing is flushed, nothing is saved
/// beyond what is safe. The restarted relay drains its spool, RESUMEs, and
/// the sink (deduplicating by key) ends with exactly the events sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_ends_with_exactly_the_events_sent() {
    let gateway = FakeGateway::start().await.expect("fake gateway");
    let sink = Sink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = relay_env(gateway.url(), &sink.url(), dir.path());
    env.insert("RELAY_BATCH_SIZE".to_owned(), "25".to_owned());
    env.insert("RELAY_BATCH_INTERVAL_MS".to_owned(), "20".to_owned());
    env.insert("RELAY_STATE_INTERVAL_MS".to_owned(), "50".to_owned());
    let log = dir.path().join("relay.log");
    let relay = Process::start(&env, &log);
    within(
        "the relay identifies",
        gateway.wait_for(|c| c.attached == 1),
    )
    .await;

    let mut keys = Vec::new();
    let mut send = |gateway: &FakeGateway, i: u64| {
        let id = 4_000_000 + i;
        gateway.message_create(&MessageCreate::new(id, GUILD, CHANNEL, AUTHOR));
        keys.push(id.to_string());
        if i.is_multiple_of(5) {
            let reaction = Reaction::new(id, GUILD, CHANNEL, MEMBER, AUTHOR);
            let seq = gateway
                .reaction_add(&reaction)
                .sequence()
                .expect("a session");
            let session = gateway.session_id(0).expect("a session");
            keys.push(format!("{id}:{MEMBER}:👍:{session}:{seq}"));
        }
    };
    for i in 0..600 {
        send(&gateway, i);
        if i.is_multiple_of(50) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    within(
        "some events delivered",
        sink.wait_until("200 events", |s| s.stored_keys().len() >= 200),
    )
    .await;
    relay.signal(Signal::SIGKILL);
    drop(relay);
    let delivered_before = sink.stored_keys().len();
    for i in 600..900 {
        send(&gateway, i);
    }

    let _relay = Process::start(&env, &log);
    let arrived =
        tokio::time::timeout(Duration::from_secs(60), sink.wait_for_keys(keys.len())).await;
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        arrived.is_ok(),
        "{} of {} events arrived; bad requests {:?}; spool {:?}; rejected {:?}; gateway {:?}\n{log}",
        sink.stored_keys().len(),
        keys.len(),
        sink.bad_requests(),
        files(dir.path(), "spool"),
        files(dir.path(), "rejected"),
        gateway.counts(),
    );
    let stored = sink.stored_keys();
    if stored != keys {
        let at = stored.iter().zip(&keys).position(|(a, b)| a != b);
        let around = at.map(|i| (i.saturating_sub(3), (i + 3).min(keys.len())));
        let batches: Vec<String> = sink
            .accepted()
            .iter()
            .map(|r| {
                format!(
                    "{}..{} ({})",
                    r.events.first().map_or("", |e| e.dedupe.as_str()),
                    r.events.last().map_or("", |e| e.dedupe.as_str()),
                    r.events.len()
                )
            })
            .collect();
        panic!(
            "stored {} keys, sent {}; first difference at {at:?}: stored {:?} sent {:?}\nbatches: {batches:#?}\n{log}",
            stored.len(),
            keys.len(),
            around.map(|(a, b)| &stored[a..b]),
            around.map(|(a, b)| &keys[a..b]),
        );
    }
    assert_eq!(sink.bad_requests(), (0, 0));
    let counts = gateway.counts();
    assert_eq!((counts.identifies, counts.resumes_refused), (1, 0), "{log}");
    assert!(counts.resumes >= 1, "{log}");
    assert!(delivered_before < keys.len());
}

#[test]
fn replay_rejected_puts_set_aside_batches_back_in_the_spool() {
    let run = |env: &[(&str, &Path)]| {
        Command::new(env!("CARGO_BIN_EXE_gateway-relay"))
            .arg("replay-rejected")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v.as_os_str())))
            .output()
            .expect("runs")
    };
    let missing = run(&[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("RELAY_STATE_DIR"));

    let dir = tempfile::tempdir().expect("temp dir");
    // Not a relay's state directory: said so, nothing created.
    let wrong = dir.path().join("typo");
    let refused = run(&[("RELAY_STATE_DIR", &wrong)]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("no spool here"));
    assert!(!wrong.exists());

    let rejected = dir.path().join("rejected");
    std::fs::create_dir_all(&rejected).expect("mkdir");
    std::fs::create_dir_all(dir.path().join("spool")).expect("mkdir");
    let event = |id: u32| {
        format!(
            r#"{{"kind":"message_create","guild_id":"1","channel_id":"3","message_id":"{id}","user_id":"2","occurred_at":"2026-11-20T10:00:00.000000+00:00","is_bot":false,"is_close_command":false,"dedupe":"{id}"}}"#
        )
    };
    for (name, ids) in [
        ("00000000000000000003-2.json", 10..12),
        ("00000000000000000007-5.json", 20..25),
    ] {
        let events: Vec<String> = ids.map(event).collect();
        let batch = format!(r#"{{"events":[{}]}}"#, events.join(","));
        community_core::relay::RelayBatch::parse(batch.as_bytes()).expect("a valid batch");
        std::fs::write(rejected.join(name), batch).expect("writes");
    }
    let done = run(&[("RELAY_STATE_DIR", dir.path())]);
    assert_eq!(done.status.code(), Some(0), "{done:?}");
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("2 set-aside batches (7 events)"),
        "{done:?}"
    );
    assert!(files(dir.path(), "rejected").is_empty());
    assert_eq!(
        files(dir.path(), "spool"),
        ["00000000000000000003-2.json", "00000000000000000007-5.json"]
    );

    let unknown = Command::new(env!("CARGO_BIN_EXE_gateway-relay"))
        .arg("replay")
        .env_clear()
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
}
