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
//! - [`audit`]: the `/audit` policy: the Gemini request, reading its verdict,
//!   the cache key and the price table.
//! - [`relay`]: the relay → scoring endpoint wire format and its HMAC.
//! - [`scoring`], [`engagement`]: turning relay events into scored events.
//! - [`config`]: reading configuration and naming every bad variable.
//!
//! Each concern has its own error type. Errors a member or a caller caused
//! say so in their message, safe to show; internal failures keep their
//! source chain for the log.

pub mod audit;
pub mod commands;
pub mod config;
pub mod engagement;
pub mod relay;
pub mod responses;
pub mod routing;
pub mod scoring;
pub mod signature;
pub mod ticket;
