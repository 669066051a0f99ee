//! oxray Node addon: thin napi-rs glue over `oxray-core`.
//!
//! The JavaScript layer (`node/lib/`) owns context (AsyncLocalStorage), decorators, JSON
//! serialization of user values and library instrumentation. This crate exposes the core's
//! recorder and entities as plain functions over integer handles ([`slab`]), a diagnostics
//! bridge ([`diag`]) and the parsers the shared test vectors exercise ([`parse`]). Native
//! functions report problems by return value and through the core's counted warnings; none
//! throws into JavaScript.

// napi-derive registers exports only outside `cfg(test)`; unit tests see them as unused.
#![cfg_attr(test, allow(dead_code))]

mod cli;
mod diag;
mod emitter;
mod entity;
mod fast;
mod invocation;
mod names;
mod parse;
mod recorder;
mod sampling;
mod server;
mod server_fast;
mod slab;
mod state;

pub use diag::install_diagnostics;
pub use parse::{parse_daemon_address, parse_trace_header};
