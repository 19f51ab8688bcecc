//! gateway-relay: the always-on process that holds Discord's gateway
//! connection and forwards engagement events to the scoring endpoint.
//!
//! This first cut reads and validates its configuration, reports every
//! problem by name, and then waits for a shutdown signal; the gateway and
//! forwarding loops land with the engagement pipeline (issue 4).

mod config;

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let config = match config::Config::from_process_env() {
        Ok(config) => config,
        Err(err) => {
            tracing::error!("{err}");
            eprintln!("gateway-relay: {err}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        gateway = %config.gateway_url,
        endpoint = %config.scoring_endpoint_url,
        state_dir = %config.state_dir.display(),
        batch_size = config.batch_size,
        batch_interval_ms = config.batch_interval_ms,
        "gateway-relay configured; waiting for shutdown signal"
    );
    match tokio::signal::ctrl_c().await {
        Ok(()) => {
            tracing::info!("shutting down");
            ExitCode::SUCCESS
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for shutdown signal");
            ExitCode::FAILURE
        }
    }
}
