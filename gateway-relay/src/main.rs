//! The `gateway-relay` binary: configuration from the environment, logging,
//! signals, exit codes. Everything else is in the library.
//!
//! Exit codes: 0 after SIGTERM/Ctrl-C (the open batch flushed to the spool,
//! the state saved); 2 when a variable is missing or malformed (named on
//! stderr); 3 when Discord closed the gateway for good (4004 bad token,
//! 4010–4014 shards/intents); 1 for anything else (state directory, spool).
//!
//! `gateway-relay replay-rejected` (with `RELAY_STATE_DIR` set, the relay
//! stopped) puts the batches the endpoint refused as malformed back in the
//! spool, for the next run to send first.

use std::process::ExitCode;

use gateway_relay::config::{Config, LogFormat};
use gateway_relay::{Hooks, run};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("replay-rejected") => return replay_rejected(),
        Some(other) => {
            eprintln!(
                "gateway-relay: unknown argument {other:?}; run it without arguments, or \
                 `gateway-relay replay-rejected` to send the set-aside batches again"
            );
            return ExitCode::from(2);
        }
    }
    let config = match Config::from_process_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("gateway-relay: {err}");
            return ExitCode::from(2);
        }
    };
    init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("gateway-relay: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        gateway = %config.gateway_url,
        endpoint = %config.scoring_endpoint_url,
        state_dir = %config.state_dir.display(),
        shards = config.shards,
        batch_size = config.batch_size,
        batch_interval_ms = config.batch_interval.as_millis(),
        parser = ?config.parser,
        instance = %config.instance,
        "gateway-relay starting"
    );
    let result = runtime.block_on(run(config, Hooks::default(), shutdown_signal()));
    match result {
        Ok(()) => {
            tracing::info!("gateway-relay stopped");
            ExitCode::SUCCESS
        }
        Err(err) => {
            let chain = community_core::error_chain(&err);
            tracing::error!(error = %chain, "gateway-relay failed");
            eprintln!("gateway-relay: {chain}");
            if err.is_fatal_close() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// `gateway-relay replay-rejected`: needs only `RELAY_STATE_DIR`.
fn replay_rejected() -> ExitCode {
    let Some(state_dir) = std::env::var_os("RELAY_STATE_DIR").filter(|dir| !dir.is_empty()) else {
        eprintln!(
            "gateway-relay: RELAY_STATE_DIR is missing: the state directory of the relay whose set-aside batches to send again"
        );
        return ExitCode::from(2);
    };
    match gateway_relay::replay_rejected(std::path::Path::new(&state_dir)) {
        Ok(replayed) => {
            println!(
                "gateway-relay: {} set-aside batches ({} events) are back in the spool; the next run sends them first",
                replayed.batches, replayed.events
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("gateway-relay: {}", community_core::error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// SIGTERM (container stop) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("Ctrl-C"),
        () = terminate => tracing::info!("SIGTERM"),
    }
}
