//! Community OS domain logic, shared by the interactions worker, the dashboard
//! worker and the gateway relay.
//!
//! Everything here is plain functions over plain data: no clock, no network, no
//! platform types. Time and randomness are arguments. The crate builds for
//! `wasm32-unknown-unknown`.
//!
//! - [`signature`]: Discord's Ed25519 interaction signatures.
//! - [`routing`], [`commands`], [`responses`]: what an interaction asks for,
//!   the command definitions, and the answers, as twilight-model values.
//! - [`ticket`]: the ticket state machine, channel names and button ids.
//! - [`settings`]: a guild's settings, what `/settings` changes and how
//!   they read.
//! - [`audit`]: the `/audit` policy: the Gemini request, reading its verdict,
//!   the cache key and the price table.
//! - [`relay`]: the relay → scoring endpoint wire format and its HMAC.
//! - [`scoring`], [`engagement`]: turning relay events into scored events.
//! - [`config`]: reading configuration and naming every bad variable.
//! - [`error_chain`]: an error and its causes as one log line.
//!
//! Each concern has its own error type. Errors a member or a caller caused
//! say so in their message, safe to show; internal failures keep their
//! source chain for the log.

pub mod audit;
pub mod commands;
pub mod config;
pub mod engagement;
pub mod interaction;
pub mod relay;
pub mod responses;
pub mod routing;
pub mod scoring;
pub mod settings;
pub mod signature;
pub mod ticket;

/// An error and its causes, as one line: `outer: cause: root cause`. How
/// internal failures are written to logs, everywhere.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn an_error_chain_is_one_line_outermost_first() {
        let err = Outer(std::io::Error::other("root cause"));
        assert_eq!(super::error_chain(&err), "outer: root cause");
    }
}
