//! The engagement pipeline end to end, under faults: the fake gateway (real
//! protocol) → the gateway-relay binary → the scoring endpoint of the built
//! interactions worker under `wrangler dev` → Postgres. Each test ends with
//! the database holding exactly the events sent: no more, no less.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::Worker;
use e2e::discord::{GUILD, Signer};
use fake_gateway::payloads::{MessageCreate, Reaction};
use fake_gateway::{FakeGateway, Options};
use local_stack::WranglerDev;
use local_stack::process::free_port;
use local_stack::testing::TestDatabase;

const SECRET: &str = "pipeline-secret-pipeline-secret-pipeline!";
const CHANNEL: u64 = 1_000_000_000_000_000_003;
const ANN: u64 = 1_000_000_000_000_000_100;
const BOB: u64 = 1_000_000_000_000_000_101;

/// The relay binary `cargo nextest run --workspace` built next to this test.
fn relay_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let binary = dir.join("gateway-relay");
    assert!(
        binary.is_file(),
        "{} not built: run through cargo xtask test",
        binary.display()
    );
    binary
}

struct Pipeline {
    runtime: tokio::runtime::Runtime,
    gateway: FakeGateway,
    db: TestDatabase,
    worker: Option<WranglerDev>,
    worker_port: u16,
    relay: Option<Child>,
    state: tempfile::TempDir,
    next_id: u64,
    sent: u64,
}

impl Pipeline {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let gateway = runtime
            .block_on(FakeGateway::start_with(Options {
                heartbeat_interval: Duration::from_millis(500),
                ..Options::default()
            }))
            .expect("fake gateway");
        let db = TestDatabase::create().expect("test database");
        let mut pipeline = Self {
            runtime,
            gateway,
            db,
            worker: None,
            worker_port: free_port().expect("port"),
            relay: None,
            state: tempfile::tempdir().expect("state dir"),
            next_id: 1_200_000_000_000_000_000,
            sent: 0,
        };
        pipeline.start_worker();
        pipeline.start_relay();
        pipeline
    }

    fn start_worker(&mut self) {
        let key = Signer::default().public_key_hex();
        let vars = [
            ("SUPABASE_REST_URL", self.db.api_url().to_owned()),
            (
                "SUPABASE_SERVICE_ROLE_KEY",
                self.db.service_key().to_owned(),
            ),
            ("DISCORD_PUBLIC_KEY", key),
            ("DISCORD_APPLICATION_ID", "1300000000000000001".to_owned()),
            ("DISCORD_BOT_TOKEN", "bot-token".to_owned()),
            // Nothing here calls Discord; a dead port makes sure of it.
            ("DISCORD_API_BASE", "http://127.0.0.1:9/api/v10".to_owned()),
            ("RELAY_SHARED_SECRET", SECRET.to_owned()),
        ];
        let dev = WranglerDev::builder(e2e::root().join("wrangler.toml"))
            .env(Worker::Interactions.env())
            .port(self.worker_port)
            .vars(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .start()
            .expect("interactions worker");
        self.worker = Some(dev);
    }

    fn stop_worker(&mut self) {
        if let Some(worker) = self.worker.take() {
            worker.stop();
        }
    }

    fn start_relay(&mut self) {
        let env: HashMap<&str, String> = HashMap::from([
            ("DISCORD_BOT_TOKEN", "bot-token".to_owned()),
            ("DISCORD_GATEWAY_URL", self.gateway.url().to_owned()),
            (
                "SCORING_ENDPOINT_URL",
                format!("http://127.0.0.1:{}/events", self.worker_port),
            ),
            ("RELAY_SHARED_SECRET", SECRET.to_owned()),
            ("RELAY_STATE_DIR", self.state.path().display().to_string()),
            ("RELAY_BATCH_SIZE", "25".to_owned()),
            ("RELAY_BATCH_INTERVAL_MS", "50".to_owned()),
            ("RELAY_IDENTIFY_UNTHROTTLED", "true".to_owned()),
            ("RELAY_STATE_INTERVAL_MS", "100".to_owned()),
            ("RELAY_RETRY_MIN_MS", "200".to_owned()),
            ("RELAY_RETRY_MAX_MS", "1000".to_owned()),
            ("RELAY_REQUEST_TIMEOUT_MS", "3000".to_owned()),
            ("RELAY_STATUS_INTERVAL_SECS", "1".to_owned()),
            ("RUST_LOG", "info".to_owned()),
        ]);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.state.path().join("relay.log"))
            .expect("log");
        let child = Command::new(relay_binary())
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("relay starts");
        self.relay = Some(child);
    }

    fn kill_relay(&mut self) {
        if let Some(mut relay) = self.relay.take() {
            let _ = relay.kill(); // SIGKILL: no chance to flush anything
            let _ = relay.wait();
        }
    }

    /// `n` messages from Ann, each reacted to by Bob: 2n scored events.
    fn chatter(&mut self, n: u64) {
        for _ in 0..n {
            self.next_id += 1;
            let id = self.next_id;
            self.gateway.message_create(
                &MessageCreate::new(id, GUILD, CHANNEL, ANN)
                    .content("hello")
                    .timestamp("2026-11-24T12:00:00.000000+00:00"),
            );
            self.gateway
                .reaction_add(&Reaction::new(id, GUILD, CHANNEL, BOB, ANN));
            self.sent += 2;
        }
    }

    fn stored(&self) -> u64 {
        self.db
            .sql("select count(*) from activity_logs")
            .parse()
            .unwrap_or(0)
    }

    /// Waits until every event sent is stored, then checks nothing more comes.
    fn assert_exactly_sent(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.stored() < self.sent {
            assert!(
                Instant::now() < deadline,
                "stored {} of {} events; relay log:\n{}",
                self.stored(),
                self.sent,
                std::fs::read_to_string(self.state.path().join("relay.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(1500));
        assert_eq!(self.stored(), self.sent, "no more than was sent");
        let n = self.sent / 2;
        assert_eq!(
            self.db.sql(&format!(
                "select sum(messages), sum(reactions), sum(points)::float8 from member_daily_activity where guild_id = {GUILD}"
            )),
            format!("{n}|{n}|{}", n as f64 * 1.5),
            "rollups match: messages × 1 + reactions × 0.5"
        );
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.kill_relay();
        self.stop_worker();
        let _ = &self.runtime;
    }
}

#[test]
fn events_flow_once_from_gateway_to_database() {
    let mut p = Pipeline::start();
    p.chatter(40);
    p.assert_exactly_sent();
    // The relay reports its heartbeat through the endpoint.
    let deadline = Instant::now() + Duration::from_secs(10);
    while p
        .db
        .sql("select count(*) from service_heartbeats where service = 'gateway-relay'")
        != "1"
    {
        assert!(Instant::now() < deadline, "no relay heartbeat recorded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn endpoint_down_mid_stream_then_back() {
    let mut p = Pipeline::start();
    p.chatter(20);
    p.stop_worker();
    p.chatter(30);
    std::thread::sleep(Duration::from_secs(2));
    p.start_worker();
    p.chatter(10);
    p.assert_exactly_sent();
}

#[test]
fn database_api_down_then_back() {
    let mut p = Pipeline::start();
    p.chatter(20);
    p.db.stop_api();
    p.chatter(30);
    std::thread::sleep(Duration::from_secs(2));
    p.db.restart_api().expect("API back");
    p.assert_exactly_sent();
}

#[test]
fn relay_killed_mid_stream_resumes_and_replays() {
    let mut p = Pipeline::start();
    p.chatter(30);
    std::thread::sleep(Duration::from_millis(300));
    p.kill_relay();
    // Sent while the relay is down: Discord replays them on RESUME.
    p.chatter(30);
    p.start_relay();
    p.chatter(10);
    p.assert_exactly_sent();
    let counts = p.gateway.counts();
    assert!(
        counts.resumes >= 1,
        "the restarted relay resumed: {counts:?}"
    );
}

#[test]
fn reconnect_requests_lose_nothing() {
    let mut p = Pipeline::start();
    p.chatter(20);
    std::thread::sleep(Duration::from_millis(300));
    p.gateway.reconnect();
    p.chatter(20);
    std::thread::sleep(Duration::from_millis(300));
    p.gateway.invalidate_session(true);
    p.chatter(20);
    p.assert_exactly_sent();
}
