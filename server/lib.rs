//! tandem-server: the network-facing half of tandem.
//!
//! This crate owns every socket, task and timer: the RESP codec, client
//! connections, the command table and its handlers, configuration, logging,
//! `INFO`, and (later) the tokio drivers of the replication state machines. The
//! data itself lives in `tandem-storage`; protocol rules of replication live in
//! `tandem-replication`.
//!
//! Modules:
//! - [`acl`]: ACL users, their rules, the permission check and the ACL log.
//! - [`resp`]: request parsing (multibulk and inline) and the general RESP2/RESP3 frame decoder.
//! - [`reply`]: `Reply`, what a command answers, and its RESP2/RESP3 encoding.
//! - [`config`]: every redis.conf directive, the config file parser, CONFIG GET/SET/REWRITE.
//! - [`command`]: the command table (name, arity, flags, keys, docs, handler).
//! - [`commands`]: the handlers, one file per command family.
//! - [`keyspecs`]: Redis 7.0's key specs and the GETKEYS search over them.
//! - [`exec`]: executing one command: checks, handler, stats, propagation.
//! - [`maxmemory`]: used-memory accounting and eviction under `maxmemory`.
//! - [`multi`]: MULTI queueing and WATCH bookkeeping.
//! - [`blocking`]: clients blocked on keys, served in FIFO order when a key is ready.
//! - [`connection`]: one client's socket loop (read, batch-execute, write).
//! - [`client`]: per-client state and the registry CLIENT LIST reads.
//! - [`state`]: the shared `Server` and the data lock.
//! - [`pubsub`]: channel and pattern subscriptions, message delivery.
//! - [`persist`]: SAVE/BGSAVE from fork-free snapshots, save points, loading at startup.
//! - [`primary`]: the primary role: serving SYNC/PSYNC replicas from snapshots and the backlog.
//! - [`replica`]: the replica role: the link to a primary, full sync load, stream apply and proxy.
//! - [`failover`]: the FAILOVER command's coordinated switch of a primary with one of its replicas.
//! - [`net`]: listening sockets and accept loops.
//! - [`cron`]: periodic work (active expiry, timeouts, stats).
//! - [`info`]: the INFO text.
//! - [`log`]: Redis-shaped log lines.

pub mod acl;
pub mod aof;
pub mod blocking;
pub mod client;
pub mod command;
pub mod commands;
pub mod config;
pub mod connection;
pub mod cron;
pub mod diskless;
pub mod exec;
pub mod failover;
pub mod info;
pub mod keyspecs;
pub mod log;
pub mod maxmemory;
pub mod multi;
pub mod net;
pub mod notify;
pub mod persist;
pub mod primary;
pub mod pubsub;
pub mod recovery;
pub mod replica;
pub mod reply;
pub mod resp;
pub mod scripting;
pub mod shutdown;
pub mod state;
pub mod tracking;

/// tandem's own version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Redis version whose behaviour tandem matches; INFO's `redis_version`
/// reports it so that clients gate features correctly.
pub const REDIS_VERSION: &str = "7.0.15";
