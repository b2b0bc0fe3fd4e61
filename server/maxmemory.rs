//! `maxmemory`: how much memory the server uses, and eviction to stay
//! under the limit (Redis's `evict.c`).
//!
//! # Accounting
//! The figure is jemalloc's `stats.allocated`, the same one INFO's
//! `used_memory` shows. Reading it needs an epoch advance that merges every
//! arena's statistics (tens of microseconds), far too slow before each
//! command. So [`Meter`] keeps that figure as a base, refreshed by the cron
//! and by INFO, plus a delta: jemalloc also keeps per-thread counters of the
//! bytes each thread allocated and freed (`thread.allocatedp` /
//! `thread.deallocatedp`, maintained on its fast path anyway). Every check
//! runs under the data lock; it folds what the calling thread allocated
//! net since that thread's last check into the delta. Reading costs two
//! loads through thread-local pointers and an add. Allocations of threads
//! that never check (snapshot serializers, RDB loaders) reach the figure at
//! the next refresh. A thread whose last check predates a refresh starts
//! over from the refresh (its bytes since then are in the new base).
//!
//! Memory that exists only for replicas (their client buffers, and the
//! pre-images a full sync's snapshot keeps: what Redis's fork would hold as
//! copied pages) is `mem_not_counted_for_evict` and is subtracted before
//! comparing with `maxmemory`, as Redis's `freeMemoryGetNotCountedMemory`
//! does. The backlog ring is mapped outside the allocator, so it is in
//! neither figure.
//!
//! # Eviction
//! Before each top-level command ([`crate::exec::execute`]) and in the cron,
//! while over the limit, keys are chosen per `maxmemory-policy`
//! ([`tandem_storage::evict`]), deleted, and propagated as `DEL` (`UNLINK`
//! with `lazyfree-lazy-eviction`), each on its own, before the command that
//! caused them; watchers of an evicted key are touched, blocked clients are
//! not woken (a deletion makes no key ready). The time spent per command is
//! bounded per `maxmemory-eviction-tenacity`; when it runs out, the cron
//! goes on. If nothing can be evicted, the command is refused when it has
//! the `denyoom` flag (see `crate::exec::run_command`).
//!
//! A replica evicts nothing of its own unless `replica-ignore-maxmemory` is
//! `no`: its primary's `DEL`s keep it equal.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tandem_storage::evict::{EvictionPool, Policy};
use tandem_storage::keyspace::Lfu;

use crate::config::Config;
use crate::state::{Data, Server};

/// Redis's reply when a `denyoom` command meets a full memory.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// Keys evicted between checks of the time limit.
const KEYS_PER_TIME_CHECK: u64 = 16;

type Counter = tikv_jemalloc_ctl::thread::ThreadLocal<u64>;

/// A thread's view of the meter.
#[derive(Clone, Copy)]
struct ThreadView {
    /// This thread's jemalloc counters (allocated, deallocated), once known.
    counters: Option<(Counter, Counter)>,
    /// The meter's refresh generation at this thread's last check.
    generation: u64,
    /// Net bytes (allocated minus freed, wrapping) at that check.
    net: u64,
}

thread_local! {
    static VIEW: Cell<ThreadView> = const {
        Cell::new(ThreadView {
            counters: None,
            generation: u64::MAX,
            net: 0,
        })
    };
}

impl ThreadView {
    /// This thread's net bytes now.
    fn current_net(&mut self) -> u64 {
        if self.counters.is_none() {
            let allocated = tikv_jemalloc_ctl::thread::allocatedp::read();
            let deallocated = tikv_jemalloc_ctl::thread::deallocatedp::read();
            if let (Ok(a), Ok(d)) = (allocated, deallocated) {
                self.counters = Some((a, d));
            }
        }
        self.counters
            .map_or(0, |(a, d)| a.get().wrapping_sub(d.get()))
    }
}

/// Used memory: a refreshed allocator figure plus the delta of the threads
/// that checked since (see the module docs). Plain cells: the meter is only
/// used under the data lock.
#[derive(Debug, Default)]
pub struct Meter {
    base: Cell<u64>,
    delta: Cell<i64>,
    generation: Cell<u64>,
    /// Replica-only memory, measured at the last refresh.
    not_counted: Cell<u64>,
}

impl Meter {
    /// The used memory now. Call under the data lock.
    #[inline]
    pub fn used(&self) -> u64 {
        let generation = self.generation.get();
        let mut view = VIEW.get();
        let net = view.current_net();
        let mut delta = self.delta.get();
        if view.generation == generation {
            delta += net.wrapping_sub(view.net) as i64;
            self.delta.set(delta);
        }
        view.generation = generation;
        view.net = net;
        VIEW.set(view);
        (self.base.get() as i64 + delta).max(0) as u64
    }

    /// Takes a fresh allocator figure as the base (INFO, the cron). Call
    /// under the data lock; `allocated` is jemalloc's after an epoch advance.
    pub fn refresh(&self, allocated: u64, not_counted: u64) {
        // Unique across meters, so a thread that served another server
        // (tests run several in one process) never mixes their deltas.
        static GENERATIONS: AtomicU64 = AtomicU64::new(1);
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed);
        self.generation.set(generation);
        self.base.set(allocated);
        self.delta.set(0);
        self.not_counted.set(not_counted);
        let mut view = VIEW.get();
        view.net = view.current_net();
        view.generation = generation;
        VIEW.set(view);
    }

    pub fn not_counted(&self) -> u64 {
        self.not_counted.get()
    }
}

/// What an eviction pass achieved (Redis's `EVICT_OK` / `RUNNING` / `FAIL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evicted {
    /// Under the limit (or not limited here).
    Ok,
    /// Still over, out of time: the cron goes on.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Fail,
}

/// The maxmemory settings and state, kept with the data.
#[derive(Debug)]
pub struct MaxMemory {
    /// `maxmemory` in bytes; 0 = no limit.
    pub limit: u64,
    pub policy: Policy,
    pub samples: usize,
    pub tenacity: u32,
    pub lfu: Lfu,
    /// `lazyfree-lazy-eviction`: propagate as UNLINK.
    pub lazy: bool,
    /// `replica-ignore-maxmemory`.
    pub replica_ignore: bool,
    pub meter: Meter,
    pool: EvictionPool,
    next_random_db: usize,
    /// Keys evicted since start (INFO evicted_keys).
    pub evicted_keys: u64,
    /// Since when memory has stayed over the limit (eviction running or failing).
    pub exceeded_since: Option<Instant>,
    /// Past periods over the limit, summed.
    pub exceeded_total: Duration,
    /// The last check before a command found memory full (Redis's
    /// `pre_command_oom_state`): scripts refuse their first `denyoom` call.
    pub oom: bool,
    /// The next top-level command must be checked against `oom` (consumed
    /// by `run_command`, so a transaction's or a script's inner commands are
    /// not checked again).
    pub check_pending: bool,
}

impl Default for MaxMemory {
    fn default() -> Self {
        MaxMemory {
            limit: 0,
            policy: Policy::NoEviction,
            samples: 5,
            tenacity: 10,
            lfu: Lfu {
                log_factor: 10,
                decay_minutes: 1,
            },
            lazy: false,
            replica_ignore: true,
            meter: Meter::default(),
            pool: EvictionPool::default(),
            next_random_db: 0,
            evicted_keys: 0,
            exceeded_since: None,
            exceeded_total: Duration::ZERO,
            oom: false,
            check_pending: false,
        }
    }
}

impl MaxMemory {
    /// Copies the settings from `config`; returns the LFU settings the
    /// keyspace must keep counters with (`None` under other policies).
    pub fn configure(&mut self, config: &Config) -> Option<Lfu> {
        let number = |name: &str, default: i64| config.number(name).unwrap_or(default).max(0);
        let limit = number("maxmemory", 0) as u64;
        if limit != self.limit {
            // Off, the meter is left alone (INFO alone refreshes it): take
            // a fresh figure before the first comparison.
            let allocated = crate::info::mem_stats().allocated;
            self.meter.refresh(allocated, self.meter.not_counted());
            if limit != 0 && limit < allocated {
                tracing::warn!(
                    "WARNING: the new maxmemory value set via CONFIG SET ({limit}) is smaller than \
                     the current memory usage ({allocated}). This will result in key eviction \
                     and/or the inability to accept new write commands depending on the \
                     maxmemory-policy."
                );
            }
        }
        self.limit = limit;
        let policy = config
            .value("maxmemory-policy")
            .and_then(|p| Policy::from_name(&p))
            .unwrap_or_default();
        if policy != self.policy {
            self.pool.clear();
        }
        self.policy = policy;
        self.samples = number("maxmemory-samples", 5).max(1) as usize;
        self.tenacity = number("maxmemory-eviction-tenacity", 10) as u32;
        self.lfu = Lfu {
            log_factor: number("lfu-log-factor", 10).min(u32::MAX.into()) as u32,
            decay_minutes: number("lfu-decay-time", 1).min(u32::MAX.into()) as u32,
        };
        self.lazy = config.flag("lazyfree-lazy-eviction").unwrap_or(false);
        self.replica_ignore = config.flag("replica-ignore-maxmemory").unwrap_or(true);
        policy.is_lfu().then_some(self.lfu)
    }

    /// How long one pass may evict (Redis's `evictionTimeLimitUs`): 50us at
    /// the default tenacity 10, growing 15% a step above it, unlimited at 100.
    fn time_limit(&self) -> Option<Duration> {
        let t = self.tenacity;
        if t <= 10 {
            return Some(Duration::from_micros(50 * u64::from(t) / 10));
        }
        if t < 100 {
            return Some(Duration::from_micros(
                (500.0 * 1.15f64.powi(t as i32 - 10)) as u64,
            ));
        }
        None
    }

    /// `total_eviction_exceeded_time` and `current_eviction_exceeded_time`.
    pub fn exceeded_ms(&self) -> (u64, u64) {
        let current = self.exceeded_since.map_or(Duration::ZERO, |s| s.elapsed());
        (
            (self.exceeded_total + current).as_millis() as u64,
            current.as_millis() as u64,
        )
    }

    fn note_result(&mut self, result: Evicted) {
        match result {
            Evicted::Ok => {
                if let Some(since) = self.exceeded_since.take() {
                    self.exceeded_total += since.elapsed();
                }
            }
            Evicted::Running | Evicted::Fail => {
                self.exceeded_since.get_or_insert_with(Instant::now);
            }
        }
    }
}

/// Replica-only memory (see the module docs): replica clients' buffers and
/// pending snapshot images.
pub fn not_counted_memory(server: &Server, data: &Data) -> u64 {
    replica_buffers(server) + data.keyspace.snapshot_pending_bytes() as u64
}

/// Bytes in replica clients' buffers (INFO mem_clients_slaves).
pub fn replica_buffers(server: &Server) -> u64 {
    server
        .clients
        .lock()
        .iter()
        .map(|client| {
            let info = client.info.lock();
            if info.kind == crate::client::ClientKind::Replica {
                (info.qbuf + info.obl) as u64
            } else {
                0
            }
        })
        .sum()
}

/// Refreshes the meter from the allocator; returns jemalloc's figure.
pub fn refresh(server: &Server, data: &Data) -> u64 {
    let allocated = crate::info::mem_stats().allocated;
    data.maxmemory
        .meter
        .refresh(allocated, not_counted_memory(server, data));
    allocated
}

/// Whether this node may evict now (Redis's `isSafeToPerformEvictions`).
fn may_evict(data: &Data, now_ms: u64) -> bool {
    let ignored = data.replica_of && data.maxmemory.replica_ignore;
    !ignored && !data.failover.is_active() && data.expiry_paused_until_ms <= now_ms
}

/// Evicts until memory is under the limit, the time runs out or nothing is
/// left to evict (Redis's `performEvictions`). Propagates each eviction.
pub fn perform_evictions(data: &mut Data, now_ms: u64) -> Evicted {
    if data.maxmemory.limit == 0 || !may_evict(data, now_ms) {
        return Evicted::Ok;
    }
    let result = evict_pass(data, now_ms);
    data.maxmemory.note_result(result);
    result
}

fn evict_pass(data: &mut Data, now_ms: u64) -> Evicted {
    let mm = &data.maxmemory;
    let used = mm.meter.used().saturating_sub(mm.meter.not_counted());
    if used <= mm.limit {
        return Evicted::Ok;
    }
    if mm.policy == Policy::NoEviction {
        return Evicted::Fail;
    }
    let to_free = used - mm.limit;
    let limit = mm.time_limit();
    let started = Instant::now();
    let mut freed = 0u64;
    let mut keys = 0u64;
    while freed < to_free {
        let before = data.maxmemory.meter.used();
        let Some((db, key, size)) = evict_one(data, now_ms) else {
            return Evicted::Fail;
        };
        let after = data.maxmemory.meter.used();
        // While a snapshot runs, the key's pre-image stays with it (not
        // counted, like Redis's copy-on-write pages): count what the key
        // itself held as freed.
        freed += if data.keyspace.snapshot_active() {
            size as u64
        } else {
            before.saturating_sub(after)
        };
        keys += 1;
        data.maxmemory.evicted_keys += 1;
        data.notify
            .raise(crate::notify::EVICTED, "evicted", db, &key);
        let key = Bytes::from(key.to_vec());
        crate::multi::touch_key_by(data, db, &key, false);
        let command: &'static [u8] = if data.maxmemory.lazy {
            b"UNLINK"
        } else {
            b"DEL"
        };
        data.repl
            .feed_call(&[(db, vec![Bytes::from_static(command), key])]);
        if keys.is_multiple_of(KEYS_PER_TIME_CHECK) && limit.is_some_and(|l| started.elapsed() > l)
        {
            return Evicted::Running;
        }
    }
    Evicted::Ok
}

/// Chooses a key per the policy and deletes it: (database, key, its
/// estimated size), or `None` when there is none to evict.
fn evict_one(data: &mut Data, now_ms: u64) -> Option<(usize, tandem_storage::SmallBytes, usize)> {
    let mm = &mut data.maxmemory;
    let policy = mm.policy;
    let volatile = policy.volatile_only();
    let dbs = data.keyspace.db_count();
    let candidates = |db: &tandem_storage::Db| {
        if volatile {
            db.volatile_len()
        } else {
            db.len()
        }
    };
    if policy.is_random() {
        for _ in 0..dbs {
            let index = mm.next_random_db % dbs;
            mm.next_random_db = mm.next_random_db.wrapping_add(1);
            let db = data.keyspace.db_ref(index);
            if candidates(db) == 0 {
                continue;
            }
            let key = db.sample(1, volatile).first()?.key().clone();
            let size = data.keyspace.db(index).evict(&key)?.estimated_size();
            return Some((index, key, size));
        }
        return None;
    }
    // Bounded: every round samples existing keys, so one normally suffices.
    for _ in 0..100 {
        let mut any = false;
        for index in 0..dbs {
            let db = data.keyspace.db_ref(index);
            if candidates(db) == 0 {
                continue;
            }
            any = true;
            mm.pool
                .populate(policy, index, db, mm.samples, now_ms, mm.lfu);
        }
        if !any {
            return None;
        }
        // The best pooled key that still exists (a pooled key may have been
        // deleted, or lost its expiry, since it was sampled).
        while let Some(best) = mm.pool.pop_best() {
            let db = data.keyspace.db(best.db);
            if volatile
                && db
                    .peek_raw(&best.key)
                    .is_none_or(|e| e.expire_at().is_none())
            {
                continue;
            }
            if let Some(entry) = db.evict(&best.key) {
                return Some((best.db, best.key, entry.estimated_size()));
            }
        }
    }
    None
}

/// The cron's share: a fresh figure, then eviction while over the limit,
/// within one cron period at most.
pub fn cron(server: &Server, budget: Duration) {
    let mut data = server.lock_data();
    if data.maxmemory.limit == 0 {
        return;
    }
    refresh(server, &data);
    let now = crate::state::unix_ms();
    let started = Instant::now();
    let offset = data.repl.offset;
    loop {
        let result = perform_evictions(&mut data, now);
        if result != Evicted::Running || started.elapsed() > budget {
            break;
        }
    }
    if data.notify.has_pending() {
        crate::notify::publish_pending(server, &mut data, None);
    }
    crate::tracking::end_of_call(server, &mut data, None);
    if data.repl.offset != offset {
        drop(data);
        server.repl_notify.notify_waiters();
    }
}
