//! The INFO text: Redis 7.0's sections, field names and field order, so that
//! Sentinel, exporters, redis-cli and test suites parse it unchanged.
//!
//! Every line ends in `\r\n`; each section starts with `# Name` and sections
//! are separated by one empty line. With no argument INFO prints the default
//! sections; `all` adds commandstats and latencystats; `everything` is `all`
//! plus module-generated sections (tandem has none, so it equals `all`).
//! Section names are matched without regard to case.
//!
//! Fields whose subsystem tandem does not have (Lua, AOF, forks, defrag,
//! tracking, cluster) are printed with the value an idle Redis shows for them.
//!
//! Called under the data lock ([`Data`] is borrowed); the clients registry and
//! the config lock are taken one at a time, never nested, so the documented
//! lock order holds.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use bytes::Bytes;

use crate::client::ClientKind;
use crate::command::table;
use crate::state::{unix_ms, unix_us, Data, Server};

/// `INFO` with no argument: Redis's default section list.
const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "module_list",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Which sections a request asked for.
#[derive(Debug, Default)]
pub struct Selection {
    all: bool,
    names: HashSet<String>,
}

impl Selection {
    /// Parses INFO's arguments (everything after `INFO`).
    pub fn parse(args: &[Bytes]) -> Selection {
        let mut sel = Selection::default();
        if args.is_empty() {
            sel.add_defaults();
            return sel;
        }
        for arg in args {
            let name = String::from_utf8_lossy(arg).to_ascii_lowercase();
            match name.as_str() {
                "default" => sel.add_defaults(),
                "all" | "everything" => sel.all = true,
                _ => {
                    sel.names.insert(name);
                }
            }
        }
        sel
    }

    /// Every section, as `INFO everything`.
    pub fn everything() -> Selection {
        Selection {
            all: true,
            names: HashSet::new(),
        }
    }

    fn add_defaults(&mut self) {
        self.names
            .extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
    }

    fn wants(&self, section: &str) -> bool {
        self.all || self.names.contains(section)
    }
}

/// Builds the INFO text for `sel`.
pub fn generate(server: &Server, data: &Data, sel: &Selection) -> String {
    let mut out = String::with_capacity(4096);
    let mut sections = 0usize;
    let mut begin = |out: &mut String, title: &str| {
        if sections > 0 {
            out.push_str("\r\n");
        }
        sections += 1;
        out.push_str("# ");
        out.push_str(title);
        out.push_str("\r\n");
    };
    if sel.wants("server") {
        begin(&mut out, "Server");
        server_section(&mut out, server);
    }
    if sel.wants("clients") {
        begin(&mut out, "Clients");
        clients_section(&mut out, server, data);
    }
    if sel.wants("memory") {
        begin(&mut out, "Memory");
        memory_section(&mut out, server, data);
    }
    if sel.wants("persistence") {
        begin(&mut out, "Persistence");
        persistence_section(&mut out, server, data);
    }
    if sel.wants("stats") {
        begin(&mut out, "Stats");
        stats_section(&mut out, server, data);
    }
    if sel.wants("replication") {
        begin(&mut out, "Replication");
        replication_section(&mut out, server, data);
    }
    if sel.wants("repl_lineage") {
        begin(&mut out, "Repl_lineage");
        repl_lineage_section(&mut out, data);
    }
    if sel.wants("cpu") {
        begin(&mut out, "CPU");
        cpu_section(&mut out);
    }
    if sel.wants("module_list") || sel.wants("modules") {
        begin(&mut out, "Modules");
    }
    if sel.wants("commandstats") {
        begin(&mut out, "Commandstats");
        commandstats_section(&mut out, data);
    }
    if sel.wants("errorstats") {
        begin(&mut out, "Errorstats");
        for (code, count) in &data.error_stats {
            let _ = write!(out, "errorstat_{code}:count={count}\r\n");
        }
    }
    if sel.wants("latencystats") {
        begin(&mut out, "Latencystats");
        latencystats_section(&mut out, server, data);
    }
    if sel.wants("cluster") {
        begin(&mut out, "Cluster");
        out.push_str("cluster_enabled:0\r\n");
    }
    if sel.wants("keyspace") {
        begin(&mut out, "Keyspace");
        keyspace_section(&mut out, data);
    }
    out
}

/// Appends `name:value\r\n`.
macro_rules! field {
    ($out:expr, $name:expr, $($arg:tt)*) => {{
        let _ = write!($out, "{}:", $name);
        let _ = write!($out, $($arg)*);
        $out.push_str("\r\n");
    }};
}

/// tandem's own section: the replication ids this node can still serve
/// PSYNC for. Offsets count stream bytes like `master_repl_offset`: a replica
/// that holds `replid` continues when its offset is at most `last` (and the
/// backlog still has it).
fn repl_lineage_section(out: &mut String, data: &Data) {
    let lineage = &data.repl.lineage;
    field!(out, "lineage_capacity", "{}", lineage.capacity());
    field!(out, "lineage_past_ids", "{}", lineage.len());
    field!(
        out,
        "lineage_current",
        "replid={},first={}",
        lineage.current(),
        lineage.current_since().0
    );
    for (i, e) in lineage.past().enumerate() {
        field!(
            out,
            &format!("lineage_past{i}"),
            "replid={},first={},last={}",
            e.replid,
            e.first.0,
            e.last.0
        );
    }
    let file = data
        .repl
        .backlog
        .as_ref()
        .and_then(|b| b.path())
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    field!(out, "repl_backlog_file", "{file}");
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// `uname` as Redis prints it: sysname, release, machine.
fn os_name() -> &'static str {
    static OS: OnceLock<String> = OnceLock::new();
    OS.get_or_init(|| {
        // SAFETY: `uname` fills the zeroed struct we own; its fields are
        // NUL-terminated C strings within their fixed-size arrays.
        let name = unsafe {
            let mut u: libc::utsname = std::mem::zeroed();
            if libc::uname(&mut u) != 0 {
                return "Linux".to_string();
            }
            u
        };
        let text = |field: &[libc::c_char]| -> String {
            let bytes: Vec<u8> = field
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        };
        format!(
            "{} {} {}",
            text(&name.sysname),
            text(&name.release),
            text(&name.machine)
        )
    })
}

/// A stable build id: a hash of the version, 16 hex digits like Redis's.
fn build_id() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in crate::VERSION.bytes().chain(crate::REDIS_VERSION.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:x}")
}

/// Redis's LRU clock: seconds, modulo 2^24.
pub fn lru_clock(now_ms: u64) -> u64 {
    (now_ms / 1000) & ((1 << 24) - 1)
}

fn server_section(out: &mut String, server: &Server) {
    let (hz, config_file, config_port) = {
        let config = server.config.read();
        (
            config.hz,
            config
                .config_file()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            config.port,
        )
    };
    let port = match server.tcp_port.load(Ordering::Relaxed) {
        0 => u64::from(config_port),
        p => p,
    };
    let uptime = server.uptime_secs();
    field!(out, "redis_version", "{}", crate::REDIS_VERSION);
    field!(out, "redis_git_sha1", "00000000");
    field!(out, "redis_git_dirty", "0");
    field!(out, "redis_build_id", "{}", build_id());
    field!(out, "redis_mode", "standalone");
    field!(out, "os", "{}", os_name());
    field!(out, "arch_bits", "{}", usize::BITS);
    field!(out, "monotonic_clock", "POSIX clock_gettime");
    field!(out, "multiplexing_api", "epoll");
    field!(out, "atomicvar_api", "c11-builtin");
    field!(out, "gcc_version", "0.0.0");
    field!(out, "process_id", "{}", std::process::id());
    field!(out, "process_supervised", "no");
    field!(out, "run_id", "{}", server.run_id);
    field!(out, "tcp_port", "{port}");
    field!(out, "server_time_usec", "{}", unix_us());
    field!(out, "uptime_in_seconds", "{uptime}");
    field!(out, "uptime_in_days", "{}", uptime / 86_400);
    field!(out, "hz", "{hz}");
    field!(out, "configured_hz", "{hz}");
    field!(out, "lru_clock", "{}", lru_clock(unix_ms()));
    field!(out, "executable", "{}", server.executable);
    field!(out, "config_file", "{config_file}");
    field!(out, "io_threads_active", "0");
    let shutdown_in = server.shutdown_state.lock().remaining_ms();
    if shutdown_in > 0 {
        field!(out, "shutdown_in_milliseconds", "{shutdown_in}");
    }
    field!(out, "tandem_version", "{}", crate::VERSION);
}

// ---------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------

fn clients_section(out: &mut String, server: &Server, data: &Data) {
    let maxclients = server.config.read().maxclients;
    let (mut connected, mut max_in, mut max_out) = (0usize, 0usize, 0usize);
    for client in server.clients.lock().iter() {
        let info = client.info.lock();
        if info.kind != ClientKind::Replica {
            connected += 1;
        }
        max_in = max_in.max(info.qbuf);
        max_out = max_out.max(info.obl);
    }
    field!(out, "connected_clients", "{connected}");
    field!(out, "cluster_connections", "0");
    field!(out, "maxclients", "{maxclients}");
    field!(out, "client_recent_max_input_buffer", "{max_in}");
    field!(out, "client_recent_max_output_buffer", "{max_out}");
    field!(
        out,
        "blocked_clients",
        "{}",
        data.blocked.len()
            + server.paused_clients.load(Ordering::Relaxed)
            + server.shutdown_state.lock().waiters.len()
    );
    field!(
        out,
        "tracking_clients",
        "{}",
        data.tracking.tracking_clients()
    );
    field!(out, "clients_in_timeout_table", "0");
}

// ---------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------

/// Allocator and process memory figures, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemStats {
    /// Bytes the program holds (Redis's `used_memory`).
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    pub retained: u64,
    /// Resident set size of the process.
    pub rss: u64,
}

static PEAK_MEMORY: AtomicU64 = AtomicU64::new(0);
static STARTUP_MEMORY: OnceLock<u64> = OnceLock::new();

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as u64
    } else {
        4096
    }
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

/// The process RSS from `/proc/self/statm` (0 where unavailable).
fn process_rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * page_size())
}

/// Current memory figures from jemalloc (epoch advanced first) and the kernel.
pub fn mem_stats() -> MemStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    let read = |r: tikv_jemalloc_ctl::Result<usize>| r.map_or(0, |v| v as u64);
    let m = MemStats {
        allocated: read(stats::allocated::read()),
        active: read(stats::active::read()),
        resident: read(stats::resident::read()),
        retained: read(stats::retained::read()),
        rss: process_rss(),
    };
    STARTUP_MEMORY.get_or_init(|| m.allocated);
    PEAK_MEMORY.fetch_max(m.allocated, Ordering::Relaxed);
    m
}

/// The allocation measured at startup (Redis's `used_memory_startup`).
pub fn startup_memory() -> u64 {
    STARTUP_MEMORY.get().copied().unwrap_or(0)
}

/// The highest allocation seen (Redis's `used_memory_peak`).
pub fn peak_memory() -> u64 {
    PEAK_MEMORY.load(Ordering::Relaxed)
}

/// Asks jemalloc to return every arena's unused dirty pages to the kernel
/// now (MEMORY PURGE, and after a synchronous FLUSHDB/FLUSHALL, as Redis
/// does: without traffic jemalloc would keep them for a while).
pub fn purge_allocator() {
    // SAFETY: "arena.<MALLCTL_ARENAS_ALL>.purge" takes and returns nothing,
    // so every pointer is null and the length 0, as jemalloc requires.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// Redis's `bytesToHuman`: `100B`, `1.02K`, `3.50M`, ...
pub fn bytes_to_human(n: u64) -> String {
    const UNITS: [(u64, &str); 5] = [
        (1 << 10, "K"),
        (1 << 20, "M"),
        (1 << 30, "G"),
        (1 << 40, "T"),
        (1 << 50, "P"),
    ];
    if n < 1024 {
        return format!("{n}B");
    }
    for (i, (unit, suffix)) in UNITS.iter().enumerate() {
        let next = UNITS.get(i + 1).map_or(1u64 << 60, |u| u.0);
        if n < next {
            return format!("{:.2}{suffix}", n as f64 / *unit as f64);
        }
    }
    format!("{n}B")
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn signed_diff(a: u64, b: u64) -> i64 {
    a as i64 - b as i64
}

fn memory_section(out: &mut String, server: &Server, data: &Data) {
    let lua = data.scripts.lua_memory() as u64;
    let scripts = data.scripts.cached_bytes() as u64;
    let m = mem_stats();
    let used = m.allocated;
    let replica_buffers = crate::maxmemory::replica_buffers(server);
    let not_counted = replica_buffers + data.keyspace.snapshot_pending_bytes() as u64;
    // The figure eviction compares with maxmemory starts from this one.
    data.maxmemory.meter.refresh(used, not_counted);
    let peak = PEAK_MEMORY.load(Ordering::Relaxed).max(used);
    let startup = STARTUP_MEMORY.get().copied().unwrap_or(used).min(used);
    let (maxmemory, policy) = {
        let config = server.config.read();
        (
            data.maxmemory.limit,
            config
                .value("maxmemory-policy")
                .unwrap_or_else(|| "noeviction".to_string()),
        )
    };
    let mut clients_normal = 0u64;
    for client in server.clients.lock().iter() {
        let info = client.info.lock();
        if info.kind != ClientKind::Replica {
            clients_normal += (info.qbuf + info.obl) as u64;
        }
    }
    let overhead = startup + clients_normal;
    let dataset = used.saturating_sub(overhead);
    let net_usage = used.saturating_sub(startup).max(1);
    let system = total_system_memory();
    field!(out, "used_memory", "{used}");
    field!(out, "used_memory_human", "{}", bytes_to_human(used));
    field!(out, "used_memory_rss", "{}", m.rss);
    field!(out, "used_memory_rss_human", "{}", bytes_to_human(m.rss));
    field!(out, "used_memory_peak", "{peak}");
    field!(out, "used_memory_peak_human", "{}", bytes_to_human(peak));
    field!(
        out,
        "used_memory_peak_perc",
        "{:.2}%",
        ratio(used, peak) * 100.0
    );
    field!(out, "used_memory_overhead", "{overhead}");
    field!(out, "used_memory_startup", "{startup}");
    field!(out, "used_memory_dataset", "{dataset}");
    field!(
        out,
        "used_memory_dataset_perc",
        "{:.2}%",
        dataset as f64 * 100.0 / net_usage as f64
    );
    field!(out, "allocator_allocated", "{}", m.allocated);
    field!(out, "allocator_active", "{}", m.active);
    field!(out, "allocator_resident", "{}", m.resident);
    field!(out, "total_system_memory", "{system}");
    field!(
        out,
        "total_system_memory_human",
        "{}",
        bytes_to_human(system)
    );
    field!(out, "used_memory_lua", "{lua}");
    field!(out, "used_memory_vm_eval", "{lua}");
    field!(out, "used_memory_lua_human", "{}", bytes_to_human(lua));
    field!(out, "used_memory_scripts_eval", "{scripts}");
    field!(
        out,
        "number_of_cached_scripts",
        "{}",
        data.scripts.cached_count()
    );
    field!(
        out,
        "number_of_functions",
        "{}",
        data.scripts.functions.function_count()
    );
    field!(
        out,
        "number_of_libraries",
        "{}",
        data.scripts.functions.libraries().len()
    );
    field!(out, "used_memory_vm_functions", "0");
    field!(out, "used_memory_vm_total", "{lua}");
    field!(out, "used_memory_vm_total_human", "{}", bytes_to_human(lua));
    field!(out, "used_memory_functions", "0");
    field!(out, "used_memory_scripts", "{scripts}");
    field!(
        out,
        "used_memory_scripts_human",
        "{}",
        bytes_to_human(scripts)
    );
    field!(out, "maxmemory", "{maxmemory}");
    field!(out, "maxmemory_human", "{}", bytes_to_human(maxmemory));
    field!(out, "maxmemory_policy", "{policy}");
    field!(
        out,
        "allocator_frag_ratio",
        "{:.2}",
        ratio(m.active, m.allocated)
    );
    field!(
        out,
        "allocator_frag_bytes",
        "{}",
        m.active.saturating_sub(m.allocated)
    );
    field!(
        out,
        "allocator_rss_ratio",
        "{:.2}",
        ratio(m.resident, m.active)
    );
    field!(
        out,
        "allocator_rss_bytes",
        "{}",
        signed_diff(m.resident, m.active)
    );
    field!(out, "rss_overhead_ratio", "{:.2}", ratio(m.rss, m.resident));
    field!(
        out,
        "rss_overhead_bytes",
        "{}",
        signed_diff(m.rss, m.resident)
    );
    field!(out, "mem_fragmentation_ratio", "{:.2}", ratio(m.rss, used));
    field!(
        out,
        "mem_fragmentation_bytes",
        "{}",
        signed_diff(m.rss, used)
    );
    field!(out, "mem_not_counted_for_evict", "{not_counted}");
    // The ring is the one replication buffer: the backlog's share is what
    // repl-backlog-size asks for, the rest is held for lagging replicas.
    let ring = data.repl.backlog.as_ref().map_or(0, |b| b.size() as u64);
    let backlog_share = ring.min(data.repl.configured_size as u64);
    field!(out, "mem_replication_backlog", "{backlog_share}");
    field!(out, "mem_total_replication_buffers", "{ring}");
    field!(
        out,
        "mem_clients_slaves",
        "{}",
        ring - backlog_share + replica_buffers
    );
    field!(out, "mem_clients_normal", "{clients_normal}");
    field!(out, "mem_cluster_links", "0");
    field!(out, "mem_aof_buffer", "0");
    field!(out, "mem_allocator", "jemalloc-5.3.0");
    field!(out, "active_defrag_running", "0");
    field!(out, "lazyfree_pending_objects", "0");
    field!(out, "lazyfreed_objects", "0");
}

// ---------------------------------------------------------------------------
// Persistence
// ---------------------------------------------------------------------------

fn persistence_section(out: &mut String, server: &Server, data: &Data) {
    let changes = data
        .keyspace
        .dirty()
        .saturating_sub(data.dirty_at_last_save);
    field!(out, "loading", "0");
    field!(out, "async_loading", "0");
    field!(out, "current_cow_peak", "0");
    field!(out, "current_cow_size", "0");
    field!(out, "current_cow_size_age", "0");
    field!(out, "current_fork_perc", "0.00");
    field!(out, "current_save_keys_processed", "0");
    field!(out, "current_save_keys_total", "0");
    let p = &data.persist;
    field!(out, "rdb_changes_since_last_save", "{changes}");
    field!(
        out,
        "rdb_bgsave_in_progress",
        "{}",
        u8::from(p.bgsave_started.is_some() || server.snapshot_writers.load(Ordering::Relaxed) > 0)
    );
    field!(out, "rdb_last_save_time", "{}", data.last_save_unix);
    field!(
        out,
        "rdb_last_bgsave_status",
        "{}",
        if p.last_bgsave_ok { "ok" } else { "err" }
    );
    field!(out, "rdb_last_bgsave_time_sec", "{}", p.last_bgsave_secs);
    field!(
        out,
        "rdb_current_bgsave_time_sec",
        "{}",
        p.bgsave_started
            .map_or(-1, |t| t.elapsed().as_secs() as i64)
    );
    field!(out, "rdb_saves", "{}", p.saves);
    field!(out, "rdb_last_cow_size", "0");
    field!(
        out,
        "rdb_last_load_keys_expired",
        "{}",
        p.keys_expired_on_load
    );
    field!(out, "rdb_last_load_keys_loaded", "{}", p.keys_loaded);
    for (name, value) in crate::aof::info_fields(data) {
        field!(out, name, "{}", value);
    }
}

// ---------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------

fn stats_section(out: &mut String, server: &Server, data: &Data) {
    let s = &server.stats;
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    field!(
        out,
        "total_connections_received",
        "{}",
        load(&s.connections_received)
    );
    field!(out, "total_commands_processed", "{}", data.total_commands);
    field!(out, "instantaneous_ops_per_sec", "{}", load(&s.ops_per_sec));
    field!(out, "total_net_input_bytes", "{}", load(&s.net_input_bytes));
    field!(
        out,
        "total_net_output_bytes",
        "{}",
        load(&s.net_output_bytes)
    );
    field!(out, "total_net_repl_input_bytes", "0");
    field!(out, "total_net_repl_output_bytes", "0");
    field!(out, "instantaneous_input_kbps", "0.00");
    field!(out, "instantaneous_output_kbps", "0.00");
    field!(out, "instantaneous_input_repl_kbps", "0.00");
    field!(out, "instantaneous_output_repl_kbps", "0.00");
    field!(
        out,
        "rejected_connections",
        "{}",
        load(&s.rejected_connections)
    );
    field!(
        out,
        "sync_full",
        "{}",
        server.stats.sync_full.load(Ordering::Relaxed)
    );
    field!(
        out,
        "sync_partial_ok",
        "{}",
        server.stats.sync_partial_ok.load(Ordering::Relaxed)
    );
    field!(
        out,
        "sync_partial_err",
        "{}",
        server.stats.sync_partial_err.load(Ordering::Relaxed)
    );
    field!(out, "expired_keys", "{}", data.keyspace.expired_total());
    field!(out, "expired_stale_perc", "0.00");
    field!(out, "expired_time_cap_reached_count", "0");
    field!(out, "expire_cycle_cpu_milliseconds", "0");
    field!(out, "evicted_keys", "{}", data.maxmemory.evicted_keys);
    field!(out, "evicted_clients", "0");
    let (exceeded_total, exceeded_current) = data.maxmemory.exceeded_ms();
    field!(out, "total_eviction_exceeded_time", "{exceeded_total}");
    field!(out, "current_eviction_exceeded_time", "{exceeded_current}");
    field!(out, "keyspace_hits", "{}", data.keyspace_hits);
    field!(out, "keyspace_misses", "{}", data.keyspace_misses);
    let (channels, patterns, shard_channels) = {
        let ps = server.pubsub.lock();
        (ps.channel_count(), ps.numpat(), ps.shard_channel_count())
    };
    field!(out, "pubsub_channels", "{channels}");
    field!(out, "pubsub_patterns", "{patterns}");
    field!(out, "pubsubshard_channels", "{shard_channels}");
    field!(out, "latest_fork_usec", "0");
    field!(out, "total_forks", "0");
    field!(out, "migrate_cached_sockets", "0");
    field!(out, "slave_expires_tracked_keys", "0");
    field!(out, "active_defrag_hits", "0");
    field!(out, "active_defrag_misses", "0");
    field!(out, "active_defrag_key_hits", "0");
    field!(out, "active_defrag_key_misses", "0");
    field!(out, "total_active_defrag_time", "0");
    field!(out, "current_active_defrag_time", "0");
    field!(out, "tracking_total_keys", "{}", data.tracking.total_keys());
    field!(
        out,
        "tracking_total_items",
        "{}",
        data.tracking.total_items()
    );
    field!(
        out,
        "tracking_total_prefixes",
        "{}",
        data.tracking.total_prefixes()
    );
    field!(
        out,
        "unexpected_error_replies",
        "{}",
        load(&s.unexpected_error_replies)
    );
    field!(
        out,
        "total_error_replies",
        "{}",
        load(&s.total_error_replies)
    );
    field!(out, "dump_payload_sanitizations", "0");
    field!(out, "total_reads_processed", "0");
    field!(out, "total_writes_processed", "0");
    field!(out, "io_threaded_reads_processed", "0");
    field!(out, "io_threaded_writes_processed", "0");
    field!(out, "reply_buffer_shrinks", "0");
    field!(out, "reply_buffer_expands", "0");
    // tandem's own counter, after Redis's fields.
    field!(
        out,
        "client_query_buffer_limit_disconnections",
        "{}",
        load(&s.client_query_buffer_limit_disconnections)
    );
}

// ---------------------------------------------------------------------------
// Replication
// ---------------------------------------------------------------------------

fn replication_section(out: &mut String, server: &Server, data: &Data) {
    struct ReplicaConf {
        master: Option<(String, u16)>,
        priority: i64,
        read_only: bool,
        announced: bool,
        min_to_write: i64,
        min_max_lag: i64,
        backlog_size: u64,
    }
    let conf = {
        let config = server.config.read();
        ReplicaConf {
            master: config.replicaof.clone(),
            priority: config.number("replica-priority").unwrap_or(100),
            read_only: config.flag("replica-read-only").unwrap_or(true),
            announced: config.flag("replica-announced").unwrap_or(true),
            min_to_write: config.number("min-replicas-to-write").unwrap_or(0),
            min_max_lag: config.number("min-replicas-max-lag").unwrap_or(10),
            backlog_size: config.repl_backlog_size,
        }
    };
    let replicas: Vec<crate::primary::ReplicaStatus> =
        server.replicas.lock().values().cloned().collect();
    let link = server.link.lock().clone();
    match (&conf.master, data.replica_of) {
        (Some((host, port)), true) => {
            let now_s = unix_ms() / 1000;
            field!(out, "role", "slave");
            field!(out, "master_host", "{host}");
            field!(out, "master_port", "{port}");
            field!(
                out,
                "master_link_status",
                "{}",
                if link.up { "up" } else { "down" }
            );
            field!(
                out,
                "master_last_io_seconds_ago",
                "{}",
                if link.up {
                    now_s.saturating_sub(link.last_io_ms / 1000) as i64
                } else {
                    -1
                }
            );
            field!(
                out,
                "master_sync_in_progress",
                "{}",
                u8::from(link.sync_in_progress)
            );
            field!(out, "slave_read_repl_offset", "{}", data.repl.offset);
            field!(out, "slave_repl_offset", "{}", data.repl.offset);
            if link.sync_in_progress {
                let total = link.sync_total_bytes;
                let read = link.sync_read_bytes;
                field!(out, "master_sync_total_bytes", "{total}");
                field!(out, "master_sync_read_bytes", "{read}");
                field!(
                    out,
                    "master_sync_left_bytes",
                    "{}",
                    if total < 0 { -1 } else { total - read as i64 }
                );
                field!(
                    out,
                    "master_sync_perc",
                    "{:.2}",
                    if total > 0 {
                        read as f64 * 100.0 / total as f64
                    } else {
                        0.0
                    }
                );
                field!(
                    out,
                    "master_sync_last_io_seconds_ago",
                    "{}",
                    now_s.saturating_sub(link.sync_last_io_ms / 1000)
                );
            }
            if !link.up {
                field!(
                    out,
                    "master_link_down_since_seconds",
                    "{}",
                    now_s.saturating_sub(link.down_since_ms / 1000)
                );
            }
            field!(out, "slave_priority", "{}", conf.priority);
            field!(out, "slave_read_only", "{}", u8::from(conf.read_only));
            field!(out, "replica_announced", "{}", u8::from(conf.announced));
        }
        _ => field!(out, "role", "master"),
    }
    let now = unix_ms();
    field!(out, "connected_slaves", "{}", replicas.len());
    if conf.min_to_write != 0 && conf.min_max_lag != 0 {
        let good = replicas
            .iter()
            .filter(|r| now.saturating_sub(r.ack_time_ms) / 1000 <= conf.min_max_lag as u64)
            .count();
        field!(out, "min_slaves_good_slaves", "{good}");
    }
    for (i, r) in replicas.iter().enumerate() {
        field!(
            out,
            &format!("slave{i}"),
            "ip={},port={},state={},offset={},lag={}",
            r.ip,
            r.port,
            r.state,
            r.ack_offset,
            now.saturating_sub(r.ack_time_ms) / 1000
        );
    }
    let repl = &data.repl;
    field!(
        out,
        "master_failover_state",
        "{}",
        data.failover.state().as_str()
    );
    field!(out, "master_replid", "{}", repl.lineage.current());
    field!(out, "master_replid2", "{}", repl.lineage.replid2());
    field!(out, "master_repl_offset", "{}", repl.offset);
    field!(
        out,
        "second_repl_offset",
        "{}",
        repl.lineage.second_repl_offset()
    );
    match &repl.backlog {
        Some(b) => {
            field!(out, "repl_backlog_active", "1");
            field!(out, "repl_backlog_size", "{}", b.size());
            field!(
                out,
                "repl_backlog_first_byte_offset",
                "{}",
                b.info_first_byte_offset()
            );
            field!(out, "repl_backlog_histlen", "{}", b.histlen());
        }
        None => {
            field!(out, "repl_backlog_active", "0");
            field!(out, "repl_backlog_size", "{}", conf.backlog_size);
            field!(out, "repl_backlog_first_byte_offset", "0");
            field!(out, "repl_backlog_histlen", "0");
        }
    }
}

// ---------------------------------------------------------------------------
// CPU
// ---------------------------------------------------------------------------

fn rusage(who: libc::c_int) -> (libc::timeval, libc::timeval) {
    // SAFETY: getrusage writes only into the zeroed struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    (ru.ru_stime, ru.ru_utime)
}

fn push_time(out: &mut String, name: &str, t: libc::timeval) {
    field!(out, name, "{}.{:06}", t.tv_sec, t.tv_usec);
}

fn cpu_section(out: &mut String) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    push_time(out, "used_cpu_sys", sys);
    push_time(out, "used_cpu_user", user);
    push_time(out, "used_cpu_sys_children", csys);
    push_time(out, "used_cpu_user_children", cuser);
    // The thread running this command stands in for Redis's main thread.
    let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
    push_time(out, "used_cpu_sys_main_thread", tsys);
    push_time(out, "used_cpu_user_main_thread", tuser);
}

// ---------------------------------------------------------------------------
// Commandstats, Keyspace
// ---------------------------------------------------------------------------

/// Redis's `getSafeInfoString`: `#`, `:`, `\r`, `\n` become `_`.
fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if matches!(c, '#' | ':' | '\r' | '\n') {
                '_'
            } else {
                c
            }
        })
        .collect()
}

fn commandstats_section(out: &mut String, data: &Data) {
    for (i, (name, _)) in table().flat.iter().enumerate() {
        let Some(stat) = data.cmdstats.get(i) else {
            continue;
        };
        if stat.calls == 0 && stat.failed_calls == 0 && stat.rejected_calls == 0 {
            continue;
        }
        let per_call = if stat.calls == 0 {
            0.0
        } else {
            stat.usec as f64 / stat.calls as f64
        };
        let _ = write!(
            out,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            safe_name(name),
            stat.calls,
            stat.usec,
            per_call,
            stat.rejected_calls,
            stat.failed_calls
        );
    }
}

/// `latency_percentiles_usec_<command>:p50=...,p99=...` for every command
/// with a recorded latency, at `latency-tracking-info-percentiles`.
fn latencystats_section(out: &mut String, server: &Server, data: &Data) {
    let percentiles: Vec<f64> = server
        .config
        .read()
        .value("latency-tracking-info-percentiles")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    for (i, (name, _)) in table().flat.iter().enumerate() {
        let Some(stat) = data.cmdstats.get(i) else {
            continue;
        };
        if stat.histogram.total() == 0 {
            continue;
        }
        let _ = write!(out, "latency_percentiles_usec_{}:", safe_name(name));
        for (j, p) in percentiles.iter().enumerate() {
            let sep = if j == 0 { "" } else { "," };
            let us = stat.histogram.percentile_ns(*p) as f64 / 1000.0;
            // `{}` prints 50 and 99.9 as Redis's trimmed "%f" does.
            let _ = write!(out, "{sep}p{p}={us:.3}");
        }
        out.push_str("\r\n");
    }
}

fn keyspace_section(out: &mut String, data: &Data) {
    let now = unix_ms();
    for (i, db) in data.keyspace.dbs().iter().enumerate() {
        if db.is_empty() && db.volatile_len() == 0 {
            continue;
        }
        let _ = write!(
            out,
            "db{i}:keys={},expires={},avg_ttl={}\r\n",
            db.len(),
            db.volatile_len(),
            db.avg_ttl(now)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes_like_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1024), "1.00K");
        assert_eq!(bytes_to_human(990_448), "967.23K");
        assert_eq!(bytes_to_human(12_218_368), "11.65M");
        assert_eq!(bytes_to_human(25_276_514_304), "23.54G");
        assert_eq!(bytes_to_human(1 << 40), "1.00T");
    }

    #[test]
    fn selection_rules() {
        let none = Selection::parse(&[]);
        assert!(none.wants("server") && none.wants("keyspace") && !none.wants("commandstats"));
        let one = Selection::parse(&[Bytes::from_static(b"SERVER")]);
        assert!(one.wants("server") && !one.wants("clients"));
        let all = Selection::parse(&[Bytes::from_static(b"all")]);
        assert!(all.wants("commandstats") && all.wants("latencystats"));
        let mixed = Selection::parse(&[
            Bytes::from_static(b"default"),
            Bytes::from_static(b"commandstats"),
        ]);
        assert!(mixed.wants("cpu") && mixed.wants("commandstats"));
    }

    #[test]
    fn lru_clock_wraps_at_24_bits() {
        assert_eq!(lru_clock(1_795_305_656_068), 143_544);
    }

    #[test]
    fn safe_names() {
        assert_eq!(safe_name("config|get"), "config|get");
        assert_eq!(safe_name("a:b#c"), "a_b_c");
    }
}
