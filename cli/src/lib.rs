//! oxray-cli: the local collector and trace viewer behind the `oxray` command.
//!
//! `oxray collect` listens where the X-Ray daemon listens, checks each datagram as the daemon
//! and the service would ([`frame`], [`validate`]), appends everything to a JSONL file as it
//! arrives ([`store`]), reassembles traces ([`assemble`], [`open_traces`]) and prints each one
//! as a waterfall ([`waterfall`]) once it has been idle for a while ([`collect`]). `oxray show`
//! prints the same waterfalls from the file, optionally narrowed by an X-Ray filter expression
//! ([`filter`]); `oxray map` prints the service graph ([`map`]). [`run`] is the whole command
//! line as a function, for embedding.

pub mod assemble;
pub mod filter;
pub mod frame;
pub mod map;
pub mod open_traces;
pub mod store;
pub mod validate;
pub mod waterfall;
