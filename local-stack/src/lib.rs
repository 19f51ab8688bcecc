//! The local stack behind `cargo xtask` and the tests: a PostgreSQL 15
//! cluster with Supabase's roles ([`pg`], [`supabase`]), the migrations runner
//! ([`migrations`]), API keys ([`jwt`]), a PostgREST-compatible API
//! ([`postrust`]), workers under `wrangler dev` ([`wrangler`]), and a fresh
//! database per test ([`testing`]).
//!
//! Native tooling only; nothing here ships in a worker.

pub mod env;
pub mod http;
pub mod jwt;
pub mod migrations;
pub mod pg;
pub mod postrust;
pub mod process;
pub mod supabase;
pub mod testing;
pub mod wrangler;

pub use migrations::{Migration, Migrator};
pub use pg::{Cluster, PgBinaries, Psql};
pub use postrust::{Postrust, PostrustOptions};
pub use testing::TestDatabase;
pub use wrangler::{WranglerDev, WranglerDevBuilder};
