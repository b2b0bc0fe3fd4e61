//! Command handlers, one file per family. Each family exports its table
//! entries as a `COMMANDS` slice; [`FAMILIES`] lists them for the command table.
//!
//! Handlers are plain synchronous functions `(&mut ExecCtx, &[Bytes]) -> Reply`:
//! they read and change the keyspace through the context and never touch a
//! socket. Shared argument parsing lives in [`args`].

pub mod acl;
pub mod args;
pub mod bits;
pub mod cluster;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod keys;
pub mod latency;
pub mod lists;
pub mod memory;
pub mod persistence;
pub(crate) mod pqsort;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod sort;
pub mod streams;
pub mod strings;
#[cfg(test)]
pub(crate) mod testing;
pub mod transactions;
pub mod zsets;

use crate::command::CommandSpec;

/// Every family's table entries.
pub const FAMILIES: &[&[CommandSpec]] = &[
    strings::COMMANDS,
    keys::COMMANDS,
    lists::COMMANDS,
    server::COMMANDS,
    hashes::COMMANDS,
    sets::COMMANDS,
    transactions::COMMANDS,
    persistence::COMMANDS,
    replication::COMMANDS,
    crate::failover::COMMANDS,
    pubsub::COMMANDS,
    zsets::COMMANDS,
    geo::COMMANDS,
    memory::COMMANDS,
    scripting::COMMANDS,
    bits::COMMANDS,
    hyperloglog::COMMANDS,
    cluster::COMMANDS,
    sort::COMMANDS,
    dump::COMMANDS,
    latency::COMMANDS,
    streams::COMMANDS,
    acl::COMMANDS,
];
