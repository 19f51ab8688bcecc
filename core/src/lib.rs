//! Community OS domain logic, shared by the interactions worker, the dashboard
//! worker and the gateway relay.
//!
//! Everything here is plain functions over plain data: no clock, no network, no
//! platform types. Time and randomness are arguments.

pub mod config;
pub mod engagement;
pub mod relay;
pub mod scoring;
pub mod signature;
pub mod ticket;
pub mod audit;
pub mod commands;
pub mod routing;
