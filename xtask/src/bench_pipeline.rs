//! `cargo xtask bench-pipeline`: events/s ingested end to end into Postgres:
//! the fake gateway's firehose of ~1 KB MESSAGE_CREATEs → the gateway-relay
//! binary (relay profile) → `POST /events` of the built interactions worker
//! under `wrangler dev` → `ingest_events` → Postgres, timed until every event
//! is a row. Baseline in the same run: the same number of events sent straight
//! to `ingest_events` through the store (no relay, no worker).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use community_core::engagement::{EventKind, ScoredEvent};
use community_store::Store;
use fake_gateway::FakeGateway;
use local_stack::WranglerDev;
use local_stack::jwt::{self, LOCAL_JWT_SECRET};
use local_stack::pg::Cluster;
use local_stack::postrust::{Postrust, PostrustOptions, locate_postrust};
use local_stack::process::{ChildProcess, free_port};
use local_stack::supabase::{AUTHENTICATOR, AUTHENTICATOR_PASSWORD};
use twilight_model::id::Id;
use twilight_model::util::Timestamp;

use crate::migrate::migrate;
use crate::shell::progress;
use crate::workspace::Workspace;

const SECRET: &str = "bench-relay-secret-bench-relay-secret!!";
/// The guild the fake gateway's firehose posts in.
const FIREHOSE_GUILD: u64 = 1_000_000_000_000_000_001;
const BASELINE_GUILD: u64 = 1_000_000_000_000_000_777;

#[derive(Debug, clap::Args)]
pub(crate) struct PipelineArgs {
    /// Events per run.
    #[arg(long, default_value_t = 50_000)]
    events: u64,
    /// The relay's batch size.
    #[arg(long, default_value_t = 500)]
    batch: usize,
}

pub(crate) fn command(workspace: &Workspace, args: &PipelineArgs) -> Result<()> {
    let relay_binary = crate::build_workers::build_relay(workspace)?;
    let bundle = workspace.root().join("interactions-worker/build/index.js");
    if !bundle.is_file() {
        bail!(
            "{} is not built: run `cargo xtask build-workers`",
            bundle.display()
        );
    }

    let temp = tempfile::Builder::new()
        .prefix("community-os-bench-")
        .tempdir()?;
    let port = free_port()?;
    progress(format!("throwaway PostgreSQL on 127.0.0.1:{port}"));
    let cluster = Cluster::start(temp.path().join("postgres"), port)?;
    cluster.create_database("bench", None)?;
    migrate(workspace, &cluster.psql("bench"), false)?;
    let db = cluster.psql("bench");
    let api = Postrust::start(&PostrustOptions {
        bin: locate_postrust()?,
        db_url: format!(
            "postgres://{AUTHENTICATOR}:{AUTHENTICATOR_PASSWORD}@127.0.0.1:{port}/bench"
        ),
        jwt_secret: LOCAL_JWT_SECRET.to_owned(),
        port: None,
        log_file: temp.path().join("postrust.log"),
        own_process_group: true,
    })?;
    let service_key = jwt::service_role_key(LOCAL_JWT_SECRET);

    // Baseline: straight into ingest_events, batch by batch.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let store = Store::new(api.url(), &service_key)?;
    let occurred = Timestamp::parse("2026-11-24T12:00:00.000000+00:00").context("timestamp")?;
    let started = Instant::now();
    runtime.block_on(async {
        let mut next = 0_u64;
        while next < args.events {
            let batch: Vec<ScoredEvent> = (next..(next + args.batch as u64).min(args.events))
                .map(|i| ScoredEvent {
                    idempotency_key: format!("message:{}", 1_500_000_000_000_000_000 + i),
                    guild_id: Id::new(BASELINE_GUILD),
                    member_id: Id::new(1_000_000_000_000_000_002 + i % 1_000),
                    member_name: None,
                    channel_id: Id::new(1_000_000_000_000_000_003),
                    message_id: Id::new(1_500_000_000_000_000_000 + i),
                    kind: EventKind::Message,
                    emoji: None,
                    occurred_at: occurred,
                    points: 1.0,
                })
                .collect();
            next += batch.len() as u64;
            store.ingest_events(&batch).await?;
        }
        anyhow::Ok(())
    })?;
    let baseline = args.events as f64 / started.elapsed().as_secs_f64();

    // The pipeline.
    let public_key = e2e::discord::Signer::default().public_key_hex();
    let worker = WranglerDev::builder(workspace.wrangler_config())
        .wrangler(workspace.node_bin("wrangler"))
        .env("interactions")
        .vars([
            ("SUPABASE_REST_URL", api.url()),
            ("SUPABASE_SERVICE_ROLE_KEY", service_key.as_str()),
            ("DISCORD_PUBLIC_KEY", public_key.as_str()),
            ("DISCORD_APPLICATION_ID", "1300000000000000001"),
            ("DISCORD_BOT_TOKEN", "bench"),
            ("RELAY_SHARED_SECRET", SECRET),
        ])
        .start()?;
    let gateway = runtime.block_on(FakeGateway::start())?;
    let state = temp.path().join("relay");
    std::fs::create_dir_all(&state)?;
    let mut relay_command = Command::new(&relay_binary);
    relay_command
        .env_clear()
        .env("DISCORD_BOT_TOKEN", "bench")
        .env("DISCORD_GATEWAY_URL", gateway.url())
        .env("SCORING_ENDPOINT_URL", format!("{}/events", worker.url()))
        .env("RELAY_SHARED_SECRET", SECRET)
        .env("RELAY_STATE_DIR", &state)
        .env("RELAY_BATCH_SIZE", args.batch.to_string())
        .env("RELAY_BATCH_INTERVAL_MS", "50")
        .env("RELAY_IDENTIFY_UNTHROTTLED", "true")
        .env("RUST_LOG", "warn");
    let relay = ChildProcess::spawn(
        "gateway-relay",
        relay_command,
        &temp.path().join("relay.log"),
        true,
    )?;
    runtime.block_on(gateway.wait_for(|counts| counts.identifies >= 1));

    progress(format!(
        "firehose: {} events through relay → worker → Postgres",
        args.events
    ));
    let started = Instant::now();
    let done = runtime.block_on(gateway.firehose(args.events, 1024))?;
    let count_sql = format!("select count(*) from activity_logs where guild_id = {FIREHOSE_GUILD}");
    let deadline = started + Duration::from_secs(600);
    loop {
        let stored: u64 = db.query(&count_sql)?.trim().parse().unwrap_or(0);
        if stored >= args.events {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "only {stored} of {} events stored after 10 minutes; relay log:\n{}",
                args.events,
                relay.log_tail(30)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let pipeline = args.events as f64 / started.elapsed().as_secs_f64();
    runtime.block_on(done.wait())?;
    let exact: u64 = db.query(&count_sql)?.trim().parse().unwrap_or(0);

    println!();
    println!(
        "  end-to-end ingest ({} events of ~1 KB, relay batches of {})",
        args.events, args.batch
    );
    println!("    straight to ingest_events (baseline)      {baseline:>10.0} events/s");
    println!(
        "    gateway → relay → worker → Postgres        {pipeline:>10.0} events/s   ({:.2}× baseline; target ≥ 10,000)",
        pipeline / baseline
    );
    println!(
        "    rows stored: {exact} of {} sent (exactly once: {})",
        args.events,
        exact == args.events
    );
    drop(relay);
    drop(worker);
    drop(api);
    drop(cluster);
    Ok(())
}
