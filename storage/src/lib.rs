//! tandem-storage: the data tandem keeps, and nothing about how it travels.
//!
//! This crate owns the keyspace (databases, keys, values, expiry metadata), the
//! value types and their encodings, Redis-compatible number formatting, glob
//! matching, `DEBUG DIGEST`, fork-free snapshots and the RDB codec. It knows
//! nothing of sockets, replication, clocks or threads: every
//! operation that depends on time takes `now_ms` as an argument.
//!
//! Modules:
//! - [`bytes_small`]: `SmallBytes`, a 24-byte byte string with inline storage.
//! - [`value`]: `Value` and the per-type encodings.
//! - [`types`]: the aggregate types (list, hash, set, sorted set) and their encodings.
//! - [`keyspace`]: `Keyspace`, `Db`, sharded key tables, expiry, SCAN cursors.
//! - [`evict`]: `maxmemory` policies and Redis's sampled eviction pool.
//! - [`snapshot`]: fork-free point-in-time snapshots (copy-before-write per shard).
//! - [`digest`]: Redis's `DEBUG DIGEST` algorithm.
//! - [`num`]: integer and float parsing/formatting exactly as Redis does it.
//! - [`glob`]: Redis's glob-style pattern matching (KEYS, SCAN MATCH, CONFIG GET).
//! - [`longdouble`]: software x87 `long double` for INCRBYFLOAT/HINCRBYFLOAT.
//! - [`rdb`]: the RDB format (version 10) both ways: streaming writer, reader, load/save.

pub mod bytes_small;
pub mod digest;
pub mod evict;
pub mod glob;
pub mod keyspace;
pub mod longdouble;
pub mod num;
pub mod rdb;
pub mod snapshot;
pub mod types;
pub mod value;

pub use bytes_small::SmallBytes;
pub use keyspace::{Db, Keyspace};
pub use value::Value;
