//! The server's shared state: what every connection and timer reaches.
//!
//! [`Server`] is created once and shared by `Arc`. The data lock
//! ([`Server::data`]) guards the keyspace and everything that must change in
//! the same total order as the keyspace: command statistics, the slow log, and
//! the replication feed. A command's apply and its propagation happen under one
//! guard, which is how the write order the backlog records is the order in
//! which writes changed the keyspace.
//!
//! # Deadlock safety
//! Lock order: `data` -> `acl` -> `clients` -> `config` -> a client handle's
//! `info`.
//! `pause` and `monitors` are leaves. None is held across `.await`.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tandem_storage::Keyspace;
use tokio::sync::Notify;

use crate::client::{ClientHandle, Registry};
use crate::command::table;
use crate::config::Config;
use crate::exec::ReplFeed;

/// Unix time in milliseconds.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Unix time in microseconds.
pub fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Per-command statistics (INFO commandstats).
#[derive(Clone, Debug, Default)]
pub struct CmdStat {
    pub calls: u64,
    pub usec: u64,
    pub rejected_calls: u64,
    pub failed_calls: u64,
    /// Latency distribution (LATENCY HISTOGRAM), kept while latency-tracking is on.
    pub histogram: crate::commands::latency::CommandHistogram,
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct SlowlogEntry {
    pub id: u64,
    pub unix_secs: u64,
    pub duration_us: u64,
    pub argv: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

/// The slow log, newest first.
#[derive(Debug, Default)]
pub struct Slowlog {
    pub entries: std::collections::VecDeque<SlowlogEntry>,
    pub next_id: u64,
}

/// Everything guarded by the data lock.
/// What `DEBUG` subcommands set: test hooks, all off by default.
#[derive(Debug, Default)]
pub struct DebugSwitches {
    /// `DEBUG SET-SKIP-CHECKSUM-VALIDATION`: RESTORE and DEBUG RELOAD accept
    /// a payload whose CRC does not match.
    pub skip_checksum_validation: bool,
    /// `DEBUG PAUSE-CRON`: the periodic jobs (active expiry, ...) stand still.
    pub cron_paused: bool,
    /// `DEBUG SET-DISABLE-DENY-SCRIPTS`: scripts may call `noscript` commands.
    pub deny_scripts_disabled: bool,
    /// `DEBUG QUICKLIST-PACKED-THRESHOLD`: accepted and kept; tandem's lists
    /// have no packed/plain node split for it to move.
    pub quicklist_packed_threshold: u64,
}

#[derive(Debug)]
pub struct Data {
    pub keyspace: Keyspace,
    pub cmdstats: Vec<CmdStat>,
    pub slowlog: Slowlog,
    pub repl: ReplFeed,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_commands: u64,
    pub active_expire_enabled: bool,
    /// Switches that only DEBUG turns (for Redis's own test suite).
    pub debug: DebugSwitches,
    /// Error replies by code (INFO errorstats), in Redis's sorted order.
    pub error_stats: std::collections::BTreeMap<String, u64>,
    /// Keys that clients of a writable replica gave a TTL (Redis's
    /// `slaveKeysWithExpire`): the primary's DELs never cover them, so the
    /// replica's cron expires them itself.
    pub replica_own_expires: std::collections::HashSet<(usize, Bytes)>,
    pub last_save_unix: u64,
    pub dirty_at_last_save: u64,
    /// Keys signalled ready by the current command for blocked clients: (db, key).
    pub ready_keys: Vec<(usize, Bytes)>,
    /// Clients waiting in blocking commands.
    pub blocked: crate::blocking::Blocked,
    /// WATCHed keys.
    pub watches: crate::multi::Watches,
    /// `slowlog-log-slower-than` and `slowlog-max-len`, copied here so the hot
    /// path does not take the config lock (refreshed by CONFIG SET).
    pub slowlog_threshold_us: i64,
    pub slowlog_max_len: u64,
    /// `latency-monitor-threshold` in ms (0: off) and `latency-tracking`
    /// (same refresh).
    pub latency_threshold_ms: u64,
    pub latency_tracking: bool,
    /// Latency events (LATENCY LATEST, HISTORY, ...).
    pub latency: crate::commands::latency::LatencyMonitor,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (same refresh).
    pub min_replicas_to_write: u64,
    pub min_replicas_max_lag: u64,
    /// `replica-serve-stale-data` (same refresh).
    pub serve_stale_data: bool,
    /// Until when a CLIENT PAUSE holds expiry still (Unix ms; 0 = no pause):
    /// as in Redis 7, no key is deleted by expiry and nothing is fed to the
    /// stream while clients are paused, so the dataset and offset stay put.
    pub expiry_paused_until_ms: u64,
    /// Since when the primary has had a backlog but no replica (repl-backlog-ttl).
    pub backlog_idle_since_ms: Option<u64>,
    /// When the previous command of the current batch ended (see exec).
    pub clock: Option<Instant>,
    /// SAVE/BGSAVE state.
    pub persist: crate::persist::PersistState,
    /// This node replicates a primary: clients see expired keys as absent but
    /// never delete them, and writes are refused when replica-read-only.
    pub replica_of: bool,
    /// The FAILOVER under way, if any.
    pub failover: crate::failover::Failover,
    /// The Lua interpreter and the script cache (EVAL, SCRIPT).
    pub scripts: crate::scripting::Scripts,
    /// `maxmemory` settings, the used-memory meter and eviction state.
    pub maxmemory: crate::maxmemory::MaxMemory,
    /// Keyspace notifications enabled, and those raised but not published.
    pub notify: crate::notify::Notifications,
    /// The append-only file's manifest, rewrite and statistics.
    pub aof: crate::aof::AofState,
    /// `DEL`s of keys the current call found expired, propagated before
    /// its own operations (see `exec::collect_expired`).
    pub expired_dels: Vec<crate::exec::Op>,
    /// Client-side caching: who tracks what (CLIENT TRACKING).
    pub tracking: crate::tracking::Tracking,
}

impl Data {
    /// Copies the configuration values the command path reads on every call.
    pub fn refresh_hot_config(&mut self, config: &Config) {
        self.slowlog_threshold_us = config.slowlog_log_slower_than;
        self.slowlog_max_len = config.slowlog_max_len;
        self.latency_threshold_ms = latency_threshold_ms(config);
        self.latency_tracking = config.flag("latency-tracking").unwrap_or(true);
        self.min_replicas_to_write =
            config.number("min-replicas-to-write").unwrap_or(0).max(0) as u64;
        self.min_replicas_max_lag =
            config.number("min-replicas-max-lag").unwrap_or(10).max(0) as u64;
        self.serve_stale_data = config.flag("replica-serve-stale-data").unwrap_or(true);
        self.notify.flags = crate::notify::effective(
            config
                .value("notify-keyspace-events")
                .and_then(|v| crate::notify::parse_classes(&v))
                .unwrap_or(0),
        );
        self.keyspace
            .set_track_created(self.notify.flags & crate::notify::NEW != 0);
        self.tracking.max_keys = config
            .number("tracking-table-max-keys")
            .unwrap_or(1_000_000)
            .max(0) as u64;
        let lfu = self.maxmemory.configure(config);
        self.keyspace.set_lfu(lfu);
        self.repl.configured_size = config.repl_backlog_size as usize;
        self.repl.pin_limit = config.client_output_buffer_limit.replica.hard_bytes;
        let lineage_size = config.number("repl-lineage-size").unwrap_or(16).max(1);
        if self.repl.lineage.capacity() as i64 != lineage_size {
            self.repl.lineage.set_capacity(lineage_size as usize);
            self.repl.lineage_changed();
        }
    }
}

fn latency_threshold_ms(config: &Config) -> u64 {
    config
        .number("latency-monitor-threshold")
        .unwrap_or(0)
        .max(0) as u64
}

/// CLIENT PAUSE state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pause {
    /// Unix ms until which clients are paused; 0 = not paused.
    pub until_ms: u64,
    /// True for `WRITE` pauses, false for `ALL`.
    pub writes_only: bool,
    /// A FAILOVER pauses writes until it ends, whatever CLIENT PAUSE and
    /// CLIENT UNPAUSE do (see `crate::failover`).
    pub failover: bool,
    /// A shutdown waiting for its replicas pauses writes likewise (see
    /// `crate::shutdown`).
    pub shutdown: bool,
}

/// Counters read by INFO stats, updated without the data lock.
#[derive(Debug, Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
    pub client_query_buffer_limit_disconnections: AtomicU64,
    /// Last cron sample: (unix ms, total commands) for instantaneous_ops_per_sec.
    pub ops_sample: Mutex<(u64, u64, u64)>,
    pub ops_per_sec: AtomicU64,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
}

/// The shared server.
#[derive(Debug)]
pub struct Server {
    pub data: Mutex<Data>,
    pub config: RwLock<Config>,
    pub clients: Mutex<Registry>,
    pub stats: Stats,
    pub run_id: String,
    pub started: Instant,
    pub start_unix_ms: u64,
    pub next_client_id: AtomicU64,
    pub pause: Mutex<Pause>,
    pub unpaused: Notify,
    /// Connections in MONITOR mode (checked without a lock on the hot path).
    pub monitor_count: AtomicUsize,
    /// Snapshots being serialized now (BGSAVE, full syncs): Redis's
    /// `rdb_bgsave_in_progress` counts its RDB child for either.
    pub snapshot_writers: AtomicUsize,
    /// Connections held by CLIENT PAUSE (or a FAILOVER's pause) right now.
    pub paused_clients: AtomicUsize,
    pub monitors: Mutex<Vec<Arc<ClientHandle>>>,
    pub pubsub: Mutex<crate::pubsub::PubSub>,
    /// ACL users and the ACL log (`crate::acl`).
    pub acl: Mutex<crate::acl::Acl>,
    /// The default user is on and nopass: connections need no AUTH (read
    /// without the ACL lock; refreshed whenever the default user changes).
    pub auth_open: AtomicBool,
    /// Connected replicas (INFO, ROLE, WAIT).
    pub replicas: Mutex<crate::primary::Replicas>,
    /// Woken when the replication stream grows (replica senders wait on it).
    pub repl_notify: Notify,
    /// Woken when a replica acknowledges an offset (WAIT waits on it).
    pub acks: Notify,
    /// The link to our primary, when we are a replica.
    /// Bumped by every CONFIG SET, so connections re-read the few settings
    /// they cache (protocol limits) only when something changed.
    pub config_epoch: AtomicU64,
    /// The diskless full sync waiting for more replicas (`crate::diskless`).
    pub diskless: Mutex<crate::diskless::Groups>,
    pub link: Mutex<crate::replica::LinkState>,
    pub shutdown_requested: AtomicBool,
    /// The script holding the data lock, as other connections see it.
    pub running_script: Arc<crate::scripting::busy::RunningScript>,
    /// The listening sockets, closed first when the process exits.
    pub listener_fds: Mutex<Vec<std::os::fd::RawFd>>,
    /// The shutdown in progress, if any (see `crate::shutdown`).
    pub shutdown_state: Mutex<crate::shutdown::ShutdownState>,
    pub shutdown: Notify,
    /// The TCP port actually bound (differs from config when it was 0).
    pub tcp_port: AtomicU64,
    pub executable: String,
    /// A handle on ourselves for work that outlives a command (BGSAVE).
    self_ref: std::sync::OnceLock<std::sync::Weak<Server>>,
}

/// The ACL a server starts with: the default user, with `requirepass`
/// (`crate::acl::load_at_startup` adds `user` directives and the ACL file).
fn initial_acl(config: &Config) -> crate::acl::Acl {
    let mut acl = crate::acl::Acl::new();
    acl.pubsub_all = config.value("acl-pubsub-default").as_deref() == Some("allchannels");
    acl.log_max_len = config.number("acllog-max-len").unwrap_or(128).max(0) as usize;
    acl.set_requirepass(config.requirepass.as_deref());
    acl
}

fn random_hex40() -> String {
    let mut s = String::with_capacity(40);
    for _ in 0..40 {
        s.push(char::from(b"0123456789abcdef"[fastrand::usize(..16)]));
    }
    s
}

impl Server {
    pub fn new(config: Config) -> Arc<Server> {
        let databases = config.databases;
        let acl = initial_acl(&config);
        let now = unix_ms();
        let (slowlog_threshold_us, slowlog_max_len) =
            (config.slowlog_log_slower_than, config.slowlog_max_len);
        let server = Arc::new(Server {
            data: Mutex::new(Data {
                keyspace: {
                    let mut keyspace = Keyspace::new(databases);
                    keyspace.db(0).allocate_shards();
                    keyspace
                },
                cmdstats: vec![CmdStat::default(); table().flat.len()],
                slowlog: Slowlog::default(),
                repl: ReplFeed::default(),
                keyspace_hits: 0,
                keyspace_misses: 0,
                total_commands: 0,
                active_expire_enabled: true,
                debug: DebugSwitches::default(),
                error_stats: Default::default(),
                replica_own_expires: Default::default(),
                last_save_unix: now / 1000,
                dirty_at_last_save: 0,
                ready_keys: Vec::new(),
                blocked: Default::default(),
                watches: Default::default(),
                slowlog_threshold_us,
                slowlog_max_len,
                latency_threshold_ms: latency_threshold_ms(&config),
                latency_tracking: config.flag("latency-tracking").unwrap_or(true),
                latency: Default::default(),
                min_replicas_to_write: 0,
                min_replicas_max_lag: 10,
                serve_stale_data: true,
                expiry_paused_until_ms: 0,
                backlog_idle_since_ms: None,
                clock: None,
                persist: Default::default(),
                replica_of: false,
                failover: Default::default(),
                scripts: Default::default(),
                maxmemory: Default::default(),
                notify: Default::default(),
                aof: Default::default(),
                expired_dels: Vec::new(),
                tracking: Default::default(),
            }),
            config: RwLock::new(config),
            clients: Mutex::new(Registry::default()),
            stats: Stats::default(),
            run_id: random_hex40(),
            started: Instant::now(),
            start_unix_ms: now,
            next_client_id: AtomicU64::new(1),
            pause: Mutex::new(Pause::default()),
            unpaused: Notify::new(),
            monitor_count: AtomicUsize::new(0),
            snapshot_writers: AtomicUsize::new(0),
            paused_clients: AtomicUsize::new(0),
            monitors: Mutex::new(Vec::new()),
            pubsub: Mutex::new(Default::default()),
            auth_open: AtomicBool::new(acl.default_open()),
            acl: Mutex::new(acl),
            replicas: Mutex::new(Default::default()),
            repl_notify: Notify::new(),
            acks: Notify::new(),
            config_epoch: AtomicU64::new(0),
            diskless: Mutex::new(Default::default()),
            link: Mutex::new(Default::default()),
            shutdown_requested: AtomicBool::new(false),
            running_script: Default::default(),
            listener_fds: Mutex::new(Vec::new()),
            shutdown_state: Default::default(),
            shutdown: Notify::new(),
            tcp_port: AtomicU64::new(0),
            executable: std::env::current_exe()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            self_ref: std::sync::OnceLock::new(),
        });
        let _ = server.self_ref.set(Arc::downgrade(&server));
        {
            let config = server.config.read();
            server.data.lock().refresh_hot_config(&config);
        }
        server
    }

    /// A shared handle on this server, for threads that outlive a command.
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.self_ref.get().and_then(std::sync::Weak::upgrade)
    }

    /// Stops listening (an exit is under way): a client that saw its
    /// connection end finds the port refusing, not a half-dead server.
    pub fn close_listeners(&self) {
        for fd in self.listener_fds.lock().drain(..) {
            // SAFETY: shutdown(2) on a descriptor this process owns; the
            // listener stays open (its accept loop just fails) until exit.
            unsafe {
                libc::shutdown(fd, libc::SHUT_RDWR);
            }
        }
    }

    /// The data lock, for code outside a command (connections, cron, the
    /// replication tasks). While a script holds it past
    /// busy-reply-threshold, the wait moves off the runtime's worker so the
    /// other connections are still served (see `scripting::busy`).
    pub fn lock_data(&self) -> parking_lot::MutexGuard<'_, Data> {
        if let Some(data) = self.data.try_lock() {
            return data;
        }
        loop {
            if self.running_script.is_busy() {
                return crate::scripting::busy::off_worker(|| self.data.lock());
            }
            if let Some(data) = self.data.try_lock_for(std::time::Duration::from_millis(10)) {
                return data;
            }
        }
    }

    /// Re-reads whether the default user lets connections in without AUTH.
    pub fn refresh_auth_open(&self, acl: &crate::acl::Acl) {
        self.auth_open.store(acl.default_open(), Ordering::Relaxed);
    }

    /// Whether connections that have not authenticated need AUTH first.
    pub fn auth_required(&self) -> bool {
        !self.auth_open.load(Ordering::Relaxed)
    }

    /// Closes every connection authenticated as one of `slots` (a deleted or
    /// replaced user); `current` (the caller) closes after its reply.
    pub fn disconnect_users(
        &self,
        slots: &[Arc<crate::acl::UserSlot>],
        current: &mut crate::client::ClientState,
    ) {
        if slots.is_empty() {
            return;
        }
        if slots.iter().any(|s| Arc::ptr_eq(s, &current.user)) {
            current.close_after_reply = true;
        }
        let clients = self.clients.lock();
        for handle in clients.iter() {
            if handle.id == current.id {
                continue;
            }
            let user = handle.info.lock().user.clone();
            if slots.iter().any(|s| Arc::ptr_eq(s, &user)) {
                handle.kill();
            }
        }
    }

    /// Asks the main task to shut the server down.
    pub fn request_shutdown(&self) {
        self.shutdown_requested.store(true, Ordering::SeqCst);
        self.shutdown.notify_waiters();
        self.shutdown.notify_one();
    }

    pub fn uptime_secs(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}
