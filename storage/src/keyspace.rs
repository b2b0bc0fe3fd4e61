//! The keyspace: numbered databases of keys, their values and expiry times.
//!
//! Each [`Db`] is split into `2^SHARD_BITS` shards. A shard's table holds
//! boxed entries: a table slot costs 8 bytes, so the empty slots of a
//! power-of-two table (up to half of them right after it grows) cost little,
//! while the entry itself sits in one exact-size allocation. One 64-bit hash of a key
//! picks its shard (top bits) and its bucket, and also orders SCAN: a SCAN
//! cursor is a position in hash order, so every key present for the whole scan
//! is returned at least once however the tables grow or shrink. Shards are also
//! the unit a fork-free snapshot walks (see [`crate::snapshot`]).
//!
//! Invariants:
//! - `Db::len` equals the number of entries in all shards; `Db::volatile` the
//!   number of those with an expiry, and `shard_volatile[i]` per shard.
//! - Every change to a key goes through `Db::shard_mut(shard, key)`, where an
//!   active snapshot keeps the key's pre-image before the change happens;
//!   whole-database changes (FLUSHDB, SWAPDB) hand over whole shards first.
//! - This module never reads a clock: callers pass `now_ms`.
//! - Keys whose stream was deleted or replaced are logged for
//!   [`Keyspace::take_gone_streams`] (XREADGROUP waiters learn of it).
//! - Keys deleted because they expired are appended to `Db::expired` so the
//!   caller can propagate them as `DEL` in the same order.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hashbrown::{DefaultHashBuilder, HashTable};
use std::hash::BuildHasher;

use crate::glob::glob_match;
use crate::snapshot::{DbCapture, DbSizes, ShardImage, SnapshotId};
use crate::value::{Kind, Value};
use crate::SmallBytes;

/// log2 of the number of shards per database.
pub const SHARD_BITS: u32 = 14;
const SHARDS: usize = 1 << SHARD_BITS;
/// Bits of a SCAN position (positions are the top 63 bits of the key hash, so
/// cursors stay positive for clients that parse them as signed 64-bit numbers).
const POS_BITS: u32 = 63;

/// How lookups treat keys whose expiry time has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ExpireMode {
    /// A primary: expired keys are deleted on access and reported in `expired`.
    #[default]
    Delete,
    /// A replica serving its own clients: expired keys look absent but stay,
    /// because only the primary's `DEL` may remove them.
    HideOnly,
    /// The primary's own stream applied on a replica: expiry is the primary's
    /// business, so keys are visible until it deletes them.
    Ignore,
}

/// One key with its value and metadata.
#[derive(Clone, Debug)]
pub struct Entry {
    key: SmallBytes,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means none.
    expire_at: u64,
    /// Last access, in seconds of the caller's clock (OBJECT IDLETIME).
    access_secs: u32,
    /// Logarithmic access counter (OBJECT FREQ), kept while an LFU policy
    /// is selected ([`Keyspace::set_lfu`]); it sits in what was padding.
    lfu_counter: u8,
    /// When `lfu_counter` was last decremented or incremented, in minutes of
    /// the caller's clock modulo 2^16 (Redis's LFU "decrement time").
    lfu_minutes: u16,
}

impl Entry {
    pub fn key(&self) -> &SmallBytes {
        &self.key
    }

    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    pub fn access_secs(&self) -> u32 {
        self.access_secs
    }

    fn is_expired(&self, now_ms: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now_ms
    }

    /// About how many bytes the entry occupies: itself, its key and value.
    pub fn estimated_size(&self) -> usize {
        size_of::<Entry>() + self.key.heap_size() + self.value.heap_size()
    }

    /// The LFU counter as decayed to `now_ms` (Redis's `LFUDecrAndReturn`):
    /// one less per `decay_minutes` elapsed since it last changed.
    pub fn lfu_counter(&self, now_ms: u64, lfu: Lfu) -> u8 {
        let periods = match lfu.decay_minutes {
            0 => 0,
            d => u64::from(lfu_elapsed_minutes(self.lfu_minutes, now_ms)) / u64::from(d),
        };
        self.lfu_counter.saturating_sub(periods.min(255) as u8)
    }

    /// Records an access: the access time, and under LFU the decayed
    /// counter incremented logarithmically (Redis's `updateLFU`).
    #[inline]
    fn touch(&mut self, now_ms: u64, lfu: Option<Lfu>) {
        self.access_secs = (now_ms / 1000) as u32;
        if let Some(lfu) = lfu {
            let counter = self.lfu_counter(now_ms, lfu);
            self.lfu_counter = lfu_log_incr(counter, lfu.log_factor);
            self.lfu_minutes = lfu_minutes(now_ms);
        }
    }
}

/// The LFU settings (`lfu-log-factor`, `lfu-decay-time`), given to the
/// keyspace while an LFU `maxmemory-policy` is selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfu {
    pub log_factor: u32,
    pub decay_minutes: u32,
}

/// The counter of a key just created (Redis's `LFU_INIT_VAL`): new keys get
/// a chance to be accessed before they look like the least used.
pub const LFU_INIT_VAL: u8 = 5;

/// Minutes of the caller's clock, modulo 2^16.
fn lfu_minutes(now_ms: u64) -> u16 {
    (now_ms / 60_000) as u16
}

/// Minutes since `then` (a [`lfu_minutes`] value), assuming at most one wrap.
fn lfu_elapsed_minutes(then: u16, now_ms: u64) -> u16 {
    lfu_minutes(now_ms).wrapping_sub(then)
}

/// Redis's `LFULogIncr`: the counter grows with probability
/// `1 / ((counter - LFU_INIT_VAL) * factor + 1)`, so it takes about
/// `factor * 10^k`-many accesses to reach the high counts; 255 saturates.
fn lfu_log_incr(counter: u8, factor: u32) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(factor) + 1.0);
    if fastrand::f64() < p {
        counter + 1
    } else {
        counter
    }
}

/// How a SCAN filters what it examined.
#[derive(Debug, Default)]
pub struct ScanFilter<'a> {
    pub pattern: Option<&'a [u8]>,
    pub kind: Option<Kind>,
}

/// One numbered database.
#[derive(Debug)]
pub struct Db {
    shards: Vec<HashTable<Box<Entry>>>,
    shard_volatile: Vec<u32>,
    hasher: DefaultHashBuilder,
    len: usize,
    volatile: usize,
    mode: ExpireMode,
    /// Set while an LFU policy is selected: accesses update the counter.
    lfu: Option<Lfu>,
    /// Writes applied since start (for `dirty` accounting by the server).
    dirty: u64,
    /// Shared by every database of a keyspace: the sum of their `dirty`, so
    /// that [`Keyspace::dirty`] (read twice per command) is one load.
    dirty_total: Arc<AtomicU64>,
    /// Keys removed by expiry, oldest first, not yet propagated.
    pub(crate) expired: Vec<SmallBytes>,
    /// Shared by every database of a keyspace: how many keys wait in the
    /// `expired` logs, so callers can skip looking at each database.
    expired_pending: Arc<AtomicUsize>,
    /// Keys removed by expiry since start (INFO stats expired_keys).
    pub expired_total: u64,
    /// Keys whose stream was deleted or replaced, not yet taken: clients
    /// blocked in XREADGROUP on them must learn it (Redis signals such keys
    /// ready).
    gone_streams: Vec<SmallBytes>,
    /// Shared like `expired_pending`: how many keys wait in `gone_streams`.
    gone_pending: Arc<AtomicUsize>,
    /// Set while someone listens for `new` keyspace events: keys created
    /// are then logged in `created`.
    track_created: bool,
    /// Keys created since the last [`Keyspace::take_created`].
    created: Vec<SmallBytes>,
    /// Active-expire cursor: the next shard to examine.
    expire_cursor: usize,
    /// Active snapshots' capture state for this database (index-bound: it
    /// stays with the database number across SWAPDB).
    captures: Vec<DbCapture>,
}

/// Copies a shard's entries (but `skip`'s) for a snapshot, under the data
/// lock: the time clients may wait. Each entry sits behind its own pointer,
/// so the copy is a chain of cache misses; touching the entries a few ahead
/// first lets those misses overlap instead of following one another.
fn clone_entries(
    table: &HashTable<Box<Entry>>,
    skip: &std::collections::HashSet<SmallBytes>,
) -> Vec<Entry> {
    const AHEAD: usize = 8;
    let boxes: Vec<&Entry> = table.iter().map(|e| &**e).collect();
    let mut out = Vec::with_capacity(boxes.len());
    for (i, entry) in boxes.iter().enumerate() {
        if let Some(next) = boxes.get(i + AHEAD) {
            prefetch::<Entry>(next);
        }
        if skip.is_empty() || !skip.contains(entry.key.as_slice()) {
            out.push((*entry).clone());
        }
    }
    out
}

/// Hints the CPU to start loading `value`'s cache line.
#[inline(always)]
fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint: it reads nothing into the program
    // and cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(
            (value as *const T).cast::<i8>(),
            std::arch::x86_64::_MM_HINT_T0,
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// The hash a shard's table sees. A shard is chosen by the top bits of the
/// key hash, so every key of a shard shares them; the table takes its 7-bit
/// probe tag from the top bits too, which would make every tag match and
/// every probe compare keys. Rotated, the tag and the bucket come from bits
/// the shard choice does not use.
fn table_hash(h: u64) -> u64 {
    h.rotate_right(SHARD_BITS)
}

fn shard_of(pos: u64) -> usize {
    (pos >> (POS_BITS - SHARD_BITS)) as usize
}

impl Db {
    fn new(
        hasher: DefaultHashBuilder,
        expired_pending: Arc<AtomicUsize>,
        gone_pending: Arc<AtomicUsize>,
        dirty_total: Arc<AtomicU64>,
    ) -> Db {
        Db {
            shards: Vec::new(),
            shard_volatile: Vec::new(),
            hasher,
            len: 0,
            volatile: 0,
            mode: ExpireMode::Delete,
            lfu: None,
            dirty: 0,
            dirty_total,
            expired: Vec::new(),
            expired_pending,
            expired_total: 0,
            gone_streams: Vec::new(),
            gone_pending,
            track_created: false,
            created: Vec::new(),
            expire_cursor: 0,
            captures: Vec::new(),
        }
    }

    /// The shard tables, allocated at the first write (about half a MB), or
    /// at once for a database that will surely be written (the server's db 0,
    /// so the first key does not move `used_memory` by half a MB).
    pub fn allocate_shards(&mut self) {
        if self.shards.is_empty() {
            self.shards = (0..SHARDS).map(|_| HashTable::new()).collect();
            self.shard_volatile = vec![0; SHARDS];
        }
    }

    /// Makes room for about `keys` more keys in one go (an RDB's RESIZEDB
    /// hint), so a bulk load does not rehash every shard several times over.
    /// The hint is capped: a corrupt file must not make it allocate wildly.
    pub fn reserve(&mut self, keys: u64) {
        const MAX_HINT: u64 = 32 << 20;
        self.allocate_shards();
        let total = keys.min(MAX_HINT) as usize + self.len;
        // Hashing spreads keys evenly; a quarter more than the mean per shard
        // covers the spread, and the table rounds up to a power of two anyway.
        let per_shard = total / SHARDS + total / SHARDS / 4 + 2;
        let hasher = self.hasher;
        for shard in &mut self.shards {
            if shard.capacity() < per_shard {
                shard.reserve(per_shard - shard.len(), |e| {
                    table_hash(hasher.hash_one(e.key.as_slice()))
                });
            }
        }
    }

    /// The only way to a mutable shard, for a change to `key`: an active
    /// snapshot that has not walked this shard yet first keeps the key's
    /// entry as it was (copy-before-write, one key at a time).
    fn shard_mut(&mut self, idx: usize, key: &[u8]) -> &mut HashTable<Box<Entry>> {
        self.allocate_shards();
        if !self.captures.is_empty() {
            self.capture_key(idx, key);
        }
        &mut self.shards[idx]
    }

    fn capture_key(&mut self, idx: usize, key: &[u8]) {
        let h = table_hash(self.hasher.hash_one(key));
        for capture in &mut self.captures {
            if capture.captured[idx] {
                continue;
            }
            let touched = capture.touched.entry(idx).or_default();
            if touched.contains(key) {
                continue;
            }
            touched.insert(SmallBytes::from_slice(key));
            // A key that exists now existed at the instant (it was not touched
            // since): keep its pre-image. A missing key stays missing for the
            // snapshot, which now skips whatever this write creates.
            if let Some(e) = self.shards[idx].find(h, |e| e.key.as_slice() == key) {
                capture.pending.push(vec![(**e).clone()]);
            }
        }
    }

    /// Hands every active snapshot the rest of shard `idx` as it is now.
    fn capture_shard(&mut self, idx: usize) {
        for capture in &mut self.captures {
            if !capture.captured[idx] {
                capture.captured[idx] = true;
                let touched = capture.touched.remove(&idx).unwrap_or_default();
                if let Some(shard) = self.shards.get(idx) {
                    let entries: Vec<Entry> = shard
                        .iter()
                        .filter(|e| !touched.contains(e.key.as_slice()))
                        .map(|e| (**e).clone())
                        .collect();
                    if !entries.is_empty() {
                        capture.pending.push(entries);
                    }
                }
            }
        }
    }

    /// Captures every shard for every active snapshot (before FLUSHDB or SWAPDB).
    fn capture_all(&mut self) {
        if self.captures.is_empty() {
            return;
        }
        for idx in 0..SHARDS {
            self.capture_shard(idx);
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Keys with an expiry.
    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    pub fn dirty(&self) -> u64 {
        self.dirty
    }

    fn add_dirty(&mut self, n: u64) {
        self.dirty += n;
        self.dirty_total.fetch_add(n, Ordering::Relaxed);
    }

    /// Takes back one write counted for a key that turned out to be gone.
    fn remove_dirty(&mut self) {
        self.dirty -= 1;
        self.dirty_total.fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one write that changed no key, for commands Redis propagates even
    /// when they had nothing to do (FLUSHDB of an empty database, SWAPDB of a
    /// database with itself).
    pub fn mark_dirty(&mut self) {
        self.add_dirty(1);
    }

    /// Finds a key's slot, honouring expiry per the current mode. An expired key
    /// is deleted (and logged) in `Delete` mode, hidden in `HideOnly`, shown in `Ignore`.
    fn find(&mut self, key: &[u8], now_ms: u64) -> Option<(usize, u64)> {
        if self.len == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        let h = table_hash(hash);
        let expired = {
            let entry = self.shards[idx].find(h, |e| e.key.as_slice() == key)?;
            entry.is_expired(now_ms)
        };
        if expired {
            match self.mode {
                ExpireMode::Ignore => {}
                ExpireMode::HideOnly => return None,
                ExpireMode::Delete => {
                    if let Some(e) = self.remove_at(idx, key) {
                        self.expired_total += 1;
                        self.remove_dirty();
                        self.expired.push(e.key);
                        self.expired_pending.fetch_add(1, Ordering::Relaxed);
                    }
                    return None;
                }
            }
        }
        Some((idx, h))
    }

    /// Looks a key up for reading or writing, updating its access time.
    pub fn get(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let (idx, h) = self.find(key, now_ms)?;
        let lfu = self.lfu;
        let entry = self.shards[idx].find_mut(h, |e| e.key.as_slice() == key)?;
        entry.touch(now_ms, lfu);
        Some(entry)
    }

    /// Like [`Db::get`] but for a value that is about to be changed in place:
    /// counts as a write.
    pub fn get_mut(&mut self, key: &[u8], now_ms: u64) -> Option<&mut Entry> {
        let (idx, h) = self.find(key, now_ms)?;
        self.add_dirty(1);
        let lfu = self.lfu;
        let entry = self
            .shard_mut(idx, key)
            .find_mut(h, |e| e.key.as_slice() == key)?;
        entry.touch(now_ms, lfu);
        Some(entry)
    }

    /// Changes an existing key's value in place through `f` (one lookup).
    /// The change counts as a write only when `f` returns `Ok`; `f` must leave
    /// the value's contents untouched when it returns `Err` (an encoding-only
    /// change, such as the `raw` flag Redis's bit writers set, is allowed: it
    /// is not replicated). `None` if the key is absent.
    pub fn modify<R, E>(
        &mut self,
        key: &[u8],
        now_ms: u64,
        f: impl FnOnce(&mut Value) -> Result<R, E>,
    ) -> Option<Result<R, E>> {
        let (idx, h) = self.find(key, now_ms)?;
        let lfu = self.lfu;
        let entry = self
            .shard_mut(idx, key)
            .find_mut(h, |e| e.key.as_slice() == key)?;
        entry.touch(now_ms, lfu);
        let result = f(&mut entry.value);
        if result.is_ok() {
            self.add_dirty(1);
        }
        Some(result)
    }

    /// Changes how an existing key's value is represented, never what it
    /// holds (SORT turning a compact sorted set into a skiplist, as Redis
    /// does): not a write, and the access time stays. False if the key is
    /// absent.
    pub fn reencode(&mut self, key: &[u8], now_ms: u64, f: impl FnOnce(&mut Value)) -> bool {
        let Some((idx, h)) = self.find(key, now_ms) else {
            return false;
        };
        match self
            .shard_mut(idx, key)
            .find_mut(h, |e| e.key.as_slice() == key)
        {
            Some(entry) => {
                f(&mut entry.value);
                true
            }
            None => false,
        }
    }

    /// Sets a key's last access time, in seconds of the caller's clock
    /// (RESTORE ... IDLETIME). Not a write. False if the key is absent.
    pub fn set_access_secs(&mut self, key: &[u8], secs: u32, now_ms: u64) -> bool {
        let Some((idx, h)) = self.find(key, now_ms) else {
            return false;
        };
        match self.shards[idx].find_mut(h, |e| e.key.as_slice() == key) {
            Some(entry) => {
                entry.access_secs = secs;
                true
            }
            None => false,
        }
    }

    /// True if the key exists (and is not expired), without touching its access time.
    pub fn contains(&mut self, key: &[u8], now_ms: u64) -> bool {
        self.find(key, now_ms).is_some()
    }

    /// Whether `key` holds a live (unexpired) value, with no side effect at
    /// all: no lazy expiry, no access time (WATCH bookkeeping before a flush).
    pub fn holds(&self, key: &[u8], now_ms: u64) -> bool {
        if self.len == 0 {
            return false;
        }
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        self.shards
            .get(idx)
            .and_then(|t| t.find(table_hash(hash), |e| e.key.as_slice() == key))
            .is_some_and(|e| !e.is_expired(now_ms))
    }

    /// Whether `key` is in the table at all, expired or not, with no side
    /// effect (WATCH tells a stale key from a missing one).
    pub fn present(&self, key: &[u8]) -> bool {
        self.holds(key, 0)
    }

    /// Starts bringing `key`'s table slot and entry into the cache, with no
    /// effect on the data. Callers that know the next keys of a batch call
    /// this for each of them first: the table probes, which compare no key,
    /// overlap their cache misses, the entries are fetched in the
    /// background, and the real accesses then hit the cache.
    pub fn prefetch(&self, key: &[u8]) {
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        // The first slot whose tag matches is the key's, but for a rare tag
        // collision (then a useless prefetch, nothing worse).
        if let Some(entry) = self
            .shards
            .get(idx)
            .and_then(|t| t.find(table_hash(hash), |_| true))
        {
            prefetch::<Entry>(entry);
        }
    }

    /// An entry as stored, expired or not, with no side effect at all.
    pub fn peek_raw(&self, key: &[u8]) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        self.shards
            .get(idx)?
            .find(table_hash(hash), |e| e.key.as_slice() == key)
            .map(|e| &**e)
    }

    /// Reads an entry without updating access time (OBJECT IDLETIME, DEBUG).
    pub fn peek(&mut self, key: &[u8], now_ms: u64) -> Option<&Entry> {
        let (idx, h) = self.find(key, now_ms)?;
        self.shards[idx]
            .find(h, |e| e.key.as_slice() == key)
            .map(|e| &**e)
    }

    /// Stores `value` under `key` with the given expiry (`None`: no expiry),
    /// replacing any previous value. Returns the previous entry.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at: Option<u64>,
        now_ms: u64,
    ) -> Option<Entry> {
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        let h = table_hash(hash);
        let hasher = self.hasher;
        let mut new = Entry {
            key: SmallBytes::from_slice(key),
            value,
            expire_at: expire_at.unwrap_or(0),
            access_secs: (now_ms / 1000) as u32,
            lfu_counter: LFU_INIT_VAL,
            lfu_minutes: lfu_minutes(now_ms),
        };
        let new_volatile = new.expire_at != 0;
        let lfu = self.lfu;
        self.add_dirty(1);
        let shard = self.shard_mut(idx, key);
        let old = match shard.entry(
            h,
            |e| e.key.as_slice() == key,
            |e| table_hash(hasher.hash_one(e.key.as_slice())),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                // An overwritten key keeps its access history, counted as
                // one more access (Redis: lookupKeyWrite, then dbOverwrite
                // keeps the old LFU field).
                if let Some(lfu) = lfu {
                    let counter = o.get().lfu_counter(now_ms, lfu);
                    new.lfu_counter = lfu_log_incr(counter, lfu.log_factor);
                }
                Some(std::mem::replace(&mut **o.get_mut(), new))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(Box::new(new));
                None
            }
        };
        let old_volatile = old.as_ref().is_some_and(|e| e.expire_at != 0);
        if old.is_none() {
            self.len += 1;
        }
        if self.track_created && old.as_ref().is_none_or(|e| e.is_expired(now_ms)) {
            self.created.push(SmallBytes::from_slice(key));
        }
        if let Some(e) = &old {
            self.note_gone_stream(e);
        }
        self.adjust_volatile(idx, old_volatile, new_volatile);
        // A predecessor that had expired was not there any more: a primary
        // logs it as expired (propagated as DEL before this write), a replica's
        // client sees it as absent; only the primary's own stream replaces it.
        match old {
            Some(e) if e.is_expired(now_ms) && self.mode != ExpireMode::Ignore => {
                if self.mode == ExpireMode::Delete {
                    self.expired_total += 1;
                    self.expired.push(e.key);
                    self.expired_pending.fetch_add(1, Ordering::Relaxed);
                }
                None
            }
            other => other,
        }
    }

    /// Replaces the value of `key`, keeping its expiry if it exists (SET KEEPTTL,
    /// INCR and friends). Returns the previous entry.
    pub fn insert_keep_ttl(&mut self, key: &[u8], value: Value, now_ms: u64) -> Option<Entry> {
        let ttl = self.find(key, now_ms).and_then(|(idx, h)| {
            self.shards[idx]
                .find(h, |e| e.key.as_slice() == key)
                .and_then(|e| e.expire_at())
        });
        self.insert(key, value, ttl, now_ms)
    }

    fn adjust_volatile(&mut self, idx: usize, was: bool, is: bool) {
        match (was, is) {
            (false, true) => {
                self.volatile += 1;
                self.shard_volatile[idx] += 1;
            }
            (true, false) => {
                self.volatile -= 1;
                self.shard_volatile[idx] -= 1;
            }
            _ => {}
        }
    }

    fn remove_at(&mut self, idx: usize, key: &[u8]) -> Option<Entry> {
        let h = table_hash(self.hasher.hash_one(key));
        let shard = self.shard_mut(idx, key);
        let entry = match shard.find_entry(h, |e| e.key.as_slice() == key) {
            Ok(occupied) => *occupied.remove().0,
            Err(_) => return None,
        };
        self.len -= 1;
        self.add_dirty(1);
        if entry.expire_at != 0 {
            self.adjust_volatile(idx, true, false);
        }
        self.note_gone_stream(&entry);
        Some(entry)
    }

    fn note_gone_stream(&mut self, old: &Entry) {
        if matches!(old.value, Value::Stream(_)) {
            self.gone_streams.push(old.key.clone());
            self.gone_pending.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Deletes a key; `None` if it did not exist (or had expired).
    pub fn remove(&mut self, key: &[u8], now_ms: u64) -> Option<Entry> {
        let (idx, _) = self.find(key, now_ms)?;
        self.remove_at(idx, key)
    }

    /// Sets or clears a key's expiry. Returns false if the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], expire_at: Option<u64>, now_ms: u64) -> bool {
        let Some((idx, h)) = self.find(key, now_ms) else {
            return false;
        };
        let new = expire_at.unwrap_or(0);
        let shard = self.shard_mut(idx, key);
        let Some(entry) = shard.find_mut(h, |e| e.key.as_slice() == key) else {
            return false;
        };
        let was = entry.expire_at != 0;
        entry.expire_at = new;
        self.add_dirty(1);
        self.adjust_volatile(idx, was, new != 0);
        true
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.capture_all();
        self.add_dirty(self.len as u64);
        // The shard array stays (its tables emptied and freed): the next
        // write after a flush allocates nothing big, so `used_memory` grows
        // with the data alone, as Redis's does.
        for shard in &mut self.shards {
            *shard = HashTable::new();
        }
        self.shard_volatile.fill(0);
        self.len = 0;
        self.volatile = 0;
        self.expire_cursor = 0;
    }

    /// Every entry, including expired ones not yet deleted, in shard order.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.shards.iter().flat_map(|s| s.iter().map(|e| &**e))
    }

    /// Keys matching `pattern` (KEYS), skipping expired ones.
    pub fn keys(&mut self, pattern: &[u8], now_ms: u64) -> Vec<SmallBytes> {
        let match_all = pattern == b"*";
        let mut out = Vec::new();
        let mut expired = Vec::new();
        for e in self.iter() {
            if e.is_expired(now_ms) && self.mode != ExpireMode::Ignore {
                expired.push(e.key.clone());
                continue;
            }
            if match_all || glob_match(pattern, &e.key, false) {
                out.push(e.key.clone());
            }
        }
        for k in expired {
            self.find(&k, now_ms);
        }
        out
    }

    /// One SCAN step from `cursor`, examining about `count` keys. Returns the next
    /// cursor (0 when done) and the keys that passed `filter`.
    pub fn scan(
        &mut self,
        cursor: u64,
        count: usize,
        filter: &ScanFilter<'_>,
        now_ms: u64,
    ) -> (u64, Vec<SmallBytes>) {
        let count = count.max(1);
        let mut examined: Vec<(u64, SmallBytes)> = Vec::new();
        let mut pos = cursor & ((1u64 << POS_BITS) - 1);
        let mut next = 0;
        if !self.shards.is_empty() {
            let mut shard = shard_of(pos);
            while shard < SHARDS {
                let mut candidates: Vec<(u64, &SmallBytes)> = self.shards[shard]
                    .iter()
                    .map(|e| {
                        (
                            self.hasher.hash_one(e.key.as_slice()) >> (64 - POS_BITS),
                            &e.key,
                        )
                    })
                    .filter(|(p, _)| *p >= pos)
                    .collect();
                let want = count - examined.len();
                if candidates.len() > want {
                    candidates.select_nth_unstable_by_key(want, |c| c.0);
                    // Keep every key sharing the boundary position so none is skipped.
                    let boundary = candidates[want].0;
                    let mut taken: Vec<(u64, SmallBytes)> = candidates
                        .iter()
                        .filter(|c| c.0 < boundary)
                        .map(|(p, k)| (*p, (*k).clone()))
                        .collect();
                    if taken.is_empty() {
                        taken = candidates
                            .iter()
                            .filter(|c| c.0 == boundary)
                            .map(|(p, k)| (*p, (*k).clone()))
                            .collect();
                        next = boundary + 1;
                    } else {
                        next = boundary;
                    }
                    examined.extend(taken);
                    break;
                }
                examined.extend(candidates.into_iter().map(|(p, k)| (p, k.clone())));
                shard += 1;
                pos = (shard as u64) << (POS_BITS - SHARD_BITS);
                if examined.len() >= count {
                    next = if shard < SHARDS { pos } else { 0 };
                    break;
                }
            }
        }
        examined.sort_unstable_by_key(|c| c.0);
        let mut out = Vec::with_capacity(examined.len());
        for (_, key) in examined {
            let live = match self.peek(&key, now_ms) {
                Some(e) => filter.kind.is_none_or(|k| e.value.kind() == k),
                None => false,
            };
            if live && filter.pattern.is_none_or(|p| glob_match(p, &key, false)) {
                out.push(key);
            }
        }
        (next, out)
    }

    /// A uniformly chosen live key, or `None` if the database is empty.
    pub fn random_key(&mut self, now_ms: u64) -> Option<SmallBytes> {
        // Bounded retries past expired keys, as Redis does, then give up.
        for _ in 0..100 {
            if self.len == 0 {
                return None;
            }
            let mut n = fastrand::usize(..self.len);
            let mut chosen = None;
            for shard in &self.shards {
                if n < shard.len() {
                    chosen = shard.iter().nth(n).map(|e| e.key.clone());
                    break;
                }
                n -= shard.len();
            }
            let key = chosen?;
            if self.contains(&key, now_ms) {
                return Some(key);
            }
        }
        None
    }

    /// One slice of the active expiry cycle: examines up to `max_checks` keys with
    /// an expiry, deleting those past due. Returns how many were deleted.
    pub fn active_expire(&mut self, now_ms: u64, max_checks: usize) -> usize {
        if self.volatile == 0 || self.mode != ExpireMode::Delete {
            return 0;
        }
        let mut checked = 0;
        let mut deleted = 0;
        let mut shards_seen = 0;
        while checked < max_checks && shards_seen < SHARDS {
            let idx = self.expire_cursor;
            self.expire_cursor = (self.expire_cursor + 1) % SHARDS;
            shards_seen += 1;
            if self.shard_volatile[idx] == 0 {
                continue;
            }
            let due: Vec<SmallBytes> = self.shards[idx]
                .iter()
                .filter(|e| e.expire_at != 0)
                .inspect(|_| checked += 1)
                .filter(|e| e.expire_at <= now_ms)
                .map(|e| e.key.clone())
                .collect();
            for key in due {
                if let Some(e) = self.remove_at(idx, &key) {
                    self.remove_dirty();
                    self.expired_total += 1;
                    self.expired.push(e.key);
                    self.expired_pending.fetch_add(1, Ordering::Relaxed);
                    deleted += 1;
                }
            }
        }
        deleted
    }

    /// Deletes `key` to free memory (maxmemory eviction), whatever its
    /// expiry: not counted as a write of the dataset's own (the caller
    /// propagates the deletion). `None` if absent.
    pub fn evict(&mut self, key: &[u8]) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let hash = self.hasher.hash_one(key);
        let idx = shard_of(hash >> (64 - POS_BITS));
        let entry = self.remove_at(idx, key)?;
        self.remove_dirty();
        Some(entry)
    }

    /// Sets a key's LFU counter (RESTORE ... FREQ), as if just accessed.
    /// Not a write. False if the key is absent.
    pub fn set_lfu_counter(&mut self, key: &[u8], counter: u8, now_ms: u64) -> bool {
        let Some((idx, h)) = self.find(key, now_ms) else {
            return false;
        };
        match self.shards[idx].find_mut(h, |e| e.key.as_slice() == key) {
            Some(entry) => {
                entry.lfu_counter = counter;
                entry.lfu_minutes = lfu_minutes(now_ms);
                true
            }
            None => false,
        }
    }

    /// Up to `count` entries picked at random (only keys with an expiry when
    /// `volatile`), for eviction: each pick lands on a random shard, moves
    /// on to the next shard holding a candidate, and takes a random one of
    /// its candidates. Approximate, as Redis's `dictGetSomeKeys` is: a cheap
    /// sample, not a uniform one.
    pub fn sample(&self, count: usize, volatile: bool) -> Vec<&Entry> {
        let mut out = Vec::with_capacity(count);
        let available = if volatile { self.volatile } else { self.len };
        if available == 0 || self.shards.is_empty() {
            return out;
        }
        for _ in 0..count {
            let mut idx = fastrand::usize(..SHARDS);
            let mut in_shard = 0;
            for _ in 0..SHARDS {
                in_shard = if volatile {
                    self.shard_volatile[idx] as usize
                } else {
                    self.shards[idx].len()
                };
                if in_shard > 0 {
                    break;
                }
                idx = (idx + 1) % SHARDS;
            }
            if in_shard == 0 {
                break;
            }
            let nth = fastrand::usize(..in_shard);
            let picked = if volatile {
                self.shards[idx]
                    .iter()
                    .filter(|e| e.expire_at != 0)
                    .nth(nth)
            } else {
                self.shards[idx].iter().nth(nth)
            };
            if let Some(e) = picked {
                out.push(&**e);
            }
        }
        out
    }

    /// Estimated average TTL in ms of volatile keys (INFO keyspace avg_ttl).
    pub fn avg_ttl(&self, now_ms: u64) -> u64 {
        if self.volatile == 0 {
            return 0;
        }
        let mut sum: u128 = 0;
        let mut n: u128 = 0;
        for e in self.iter().filter(|e| e.expire_at != 0).take(1000) {
            sum += u128::from(e.expire_at.saturating_sub(now_ms));
            n += 1;
        }
        sum.checked_div(n).unwrap_or(0) as u64
    }
}

/// All databases.
#[derive(Debug)]
pub struct Keyspace {
    dbs: Vec<Db>,
    next_snapshot: u64,
}

impl Keyspace {
    pub fn new(databases: usize) -> Keyspace {
        let hasher = DefaultHashBuilder::default();
        let expired_pending = Arc::new(AtomicUsize::new(0));
        let gone_pending = Arc::new(AtomicUsize::new(0));
        let dirty_total = Arc::new(AtomicU64::new(0));
        Keyspace {
            dbs: (0..databases.max(1))
                .map(|_| {
                    Db::new(
                        hasher,
                        expired_pending.clone(),
                        gone_pending.clone(),
                        dirty_total.clone(),
                    )
                })
                .collect(),
            next_snapshot: 0,
        }
    }

    pub fn db_count(&self) -> usize {
        self.dbs.len()
    }

    /// Database `index`; callers validate the index against [`Keyspace::db_count`].
    pub fn db(&mut self, index: usize) -> &mut Db {
        &mut self.dbs[index]
    }

    pub fn db_ref(&self, index: usize) -> &Db {
        &self.dbs[index]
    }

    pub fn dbs(&self) -> &[Db] {
        &self.dbs
    }

    /// Two distinct databases at once (MOVE, COPY ... DB).
    pub fn two_dbs(&mut self, a: usize, b: usize) -> (&mut Db, &mut Db) {
        assert_ne!(a, b, "two_dbs needs distinct databases");
        if a < b {
            let (lo, hi) = self.dbs.split_at_mut(b);
            (&mut lo[a], &mut hi[0])
        } else {
            let (lo, hi) = self.dbs.split_at_mut(a);
            (&mut hi[0], &mut lo[b])
        }
    }

    /// SWAPDB: exchanges the contents of two databases.
    pub fn swap(&mut self, a: usize, b: usize) {
        if a != b {
            // Snapshots see both databases as they were before the swap.
            self.dbs[a].capture_all();
            self.dbs[b].capture_all();
            self.dbs.swap(a, b);
            // Keep per-db mode, counters and snapshot state attached to the
            // index, not the data.
            let (x, y) = self.two_dbs(a, b);
            std::mem::swap(&mut x.mode, &mut y.mode);
            std::mem::swap(&mut x.captures, &mut y.captures);
            x.add_dirty(1);
        }
    }

    /// Starts a point-in-time snapshot of every database as it is now. Call
    /// under the same guard that orders writes; the instant is this call.
    pub fn start_snapshot(&mut self) -> (SnapshotId, Vec<DbSizes>) {
        self.next_snapshot += 1;
        let id = SnapshotId(self.next_snapshot);
        let mut sizes = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            let empty = db.len == 0;
            db.captures.push(DbCapture::new(id, SHARDS, empty));
            if !empty {
                sizes.push(DbSizes {
                    db: index,
                    keys: db.len,
                    expires: db.volatile,
                });
            }
        }
        (id, sizes)
    }

    /// Hands over the next part of snapshot `id`: images writers captured,
    /// then further shards cloned now, about `max_entries` entries in all.
    /// Returns `None` when the snapshot is complete (it is then forgotten).
    pub fn snapshot_step(&mut self, id: SnapshotId, max_entries: usize) -> Option<Vec<ShardImage>> {
        let mut out = Vec::new();
        let mut taken = 0;
        let mut active = false;
        for (index, db) in self.dbs.iter_mut().enumerate() {
            let Some(pos) = db.captures.iter().position(|c| c.id == id) else {
                continue;
            };
            active = true;
            while taken < max_entries {
                let capture = &mut db.captures[pos];
                if let Some(entries) = capture.pending.pop() {
                    taken += entries.len();
                    out.push(ShardImage { db: index, entries });
                    continue;
                }
                if capture.cursor >= SHARDS {
                    break;
                }
                let shard = capture.cursor;
                capture.cursor += 1;
                if capture.captured[shard] {
                    continue;
                }
                capture.captured[shard] = true;
                let touched = capture.touched.remove(&shard).unwrap_or_default();
                if let Some(table) = db.shards.get(shard) {
                    if !table.is_empty() {
                        let entries = clone_entries(table, &touched);
                        taken += entries.len();
                        out.push(ShardImage { db: index, entries });
                    }
                }
            }
            if db.captures[pos].is_done() {
                db.captures.remove(pos);
            }
            if taken >= max_entries {
                break;
            }
        }
        if !active {
            return None;
        }
        Some(out)
    }

    /// A snapshot is being taken (changes keep pre-images).
    pub fn snapshot_active(&self) -> bool {
        self.dbs.iter().any(|db| !db.captures.is_empty())
    }

    /// Estimated bytes held by pending snapshot images: memory that exists
    /// only while a snapshot is streamed (Redis's fork would hold it as
    /// copied-on-write pages, outside its used memory).
    pub fn snapshot_pending_bytes(&self) -> usize {
        self.dbs
            .iter()
            .flat_map(|db| db.captures.iter())
            .flat_map(|c| c.pending.iter())
            .flat_map(|image| image.iter())
            .map(Entry::estimated_size)
            .sum()
    }

    /// Abandons snapshot `id` (its consumer failed or went away).
    pub fn cancel_snapshot(&mut self, id: SnapshotId) {
        for db in &mut self.dbs {
            db.captures.retain(|c| c.id != id);
        }
    }

    /// Entries held in pending images of all snapshots (the extra memory a
    /// snapshot costs while writers run ahead of it).
    pub fn snapshot_pending_entries(&self) -> usize {
        self.dbs
            .iter()
            .flat_map(|db| db.captures.iter())
            .flat_map(|c| c.pending.iter())
            .map(Vec::len)
            .sum()
    }

    /// Starts (`Some`) or stops keeping LFU counters on access, with the
    /// given settings (an LFU `maxmemory-policy`, `lfu-log-factor`,
    /// `lfu-decay-time`).
    pub fn set_lfu(&mut self, lfu: Option<Lfu>) {
        for db in &mut self.dbs {
            db.lfu = lfu;
        }
    }

    /// Starts or stops logging created keys (for `new` keyspace events).
    pub fn set_track_created(&mut self, on: bool) {
        for db in &mut self.dbs {
            db.track_created = on;
            if !on {
                db.created = Vec::new();
            }
        }
    }

    /// Whether created keys are being logged.
    pub fn tracks_created(&self) -> bool {
        self.dbs.first().is_some_and(|d| d.track_created)
    }

    /// Takes the keys created since the last call, as (db, key), in
    /// creation order per database.
    pub fn take_created(&mut self) -> Vec<(usize, SmallBytes)> {
        let mut out = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            out.extend(db.created.drain(..).map(|k| (index, k)));
        }
        out
    }

    pub fn set_expire_mode(&mut self, mode: ExpireMode) {
        if self.dbs[0].mode == mode {
            return;
        }
        for db in &mut self.dbs {
            db.mode = mode;
        }
    }

    /// Total writes applied since start, across databases.
    pub fn dirty(&self) -> u64 {
        self.dbs
            .first()
            .map_or(0, |d| d.dirty_total.load(Ordering::Relaxed))
    }

    /// Takes every key deleted by expiry and not yet propagated, as (db, key),
    /// oldest first per database. Cheap when there are none.
    pub fn take_expired(&mut self) -> Vec<(usize, SmallBytes)> {
        let Some(first) = self.dbs.first() else {
            return Vec::new();
        };
        if first.expired_pending.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        first.expired_pending.store(0, Ordering::Relaxed);
        let mut out = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            out.extend(db.expired.drain(..).map(|k| (index, k)));
        }
        out
    }

    /// Keys, per database, whose stream was deleted or replaced since the
    /// last call (for waking XREADGROUP waiters).
    pub fn take_gone_streams(&mut self) -> Vec<(usize, SmallBytes)> {
        let Some(first) = self.dbs.first() else {
            return Vec::new();
        };
        if first.gone_pending.load(Ordering::Relaxed) == 0 {
            return Vec::new();
        }
        first.gone_pending.store(0, Ordering::Relaxed);
        let mut out = Vec::new();
        for (index, db) in self.dbs.iter_mut().enumerate() {
            out.extend(db.gone_streams.drain(..).map(|k| (index, k)));
        }
        out
    }

    pub fn expired_total(&self) -> u64 {
        self.dbs.iter().map(|d| d.expired_total).sum()
    }

    /// Empties every database.
    pub fn clear(&mut self) {
        for db in &mut self.dbs {
            db.clear();
        }
    }

    pub fn key_count(&self) -> usize {
        self.dbs.iter().map(|d| d.len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn v(s: &str) -> Value {
        Value::string(s)
    }

    #[test]
    fn insert_get_remove() {
        let mut ks = Keyspace::new(16);
        let db = ks.db(0);
        assert!(db.insert(b"a", v("1"), None, 0).is_none());
        assert!(db.insert(b"a", v("2"), None, 0).is_some());
        assert_eq!(db.len(), 1);
        assert_eq!(db.get(b"a", 0).map(|e| e.value.clone()), Some(v("2")));
        assert!(db.remove(b"a", 0).is_some());
        assert!(db.get(b"a", 0).is_none());
        assert!(db.is_empty());
    }

    #[test]
    fn expired_keys_are_deleted_and_logged_on_access() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        db.insert(b"k", v("x"), Some(100), 0);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.get(b"k", 99).is_some());
        assert!(db.get(b"k", 100).is_none());
        assert_eq!(db.expired, vec![SmallBytes::from("k")]);
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn replica_modes_hide_or_ignore_expiry() {
        let mut ks = Keyspace::new(1);
        ks.db(0).insert(b"k", v("x"), Some(100), 0);
        ks.set_expire_mode(ExpireMode::HideOnly);
        assert!(ks.db(0).get(b"k", 200).is_none());
        assert_eq!(ks.db(0).len(), 1);
        ks.set_expire_mode(ExpireMode::Ignore);
        assert!(ks.db(0).get(b"k", 200).is_some());
        assert!(ks.db(0).expired.is_empty());
    }

    #[test]
    fn keep_ttl_and_set_expire() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        db.insert(b"k", v("x"), Some(500), 0);
        db.insert_keep_ttl(b"k", v("y"), 0);
        assert_eq!(db.peek(b"k", 0).and_then(Entry::expire_at), Some(500));
        assert!(db.set_expire(b"k", None, 0));
        assert_eq!(db.volatile_len(), 0);
        assert!(!db.set_expire(b"missing", Some(1), 0));
    }

    #[test]
    fn active_expire_removes_due_keys() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..1000 {
            let exp = if i % 2 == 0 { Some(10) } else { None };
            db.insert(format!("k{i}").as_bytes(), v("x"), exp, 0);
        }
        let mut deleted = 0;
        for _ in 0..100 {
            deleted += db.active_expire(20, 100);
        }
        assert_eq!(deleted, 500);
        assert_eq!(db.len(), 500);
        assert_eq!(db.expired.len(), 500);
        // The deletions reach the caller at once (they are propagated as DEL
        // in the order they happened, never later after a key was recreated).
        assert_eq!(ks.take_expired().len(), 500);
        assert!(ks.take_expired().is_empty());
    }

    #[test]
    fn scan_visits_every_key_exactly_once_without_writes() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..5000 {
            db.insert(format!("key:{i}").as_bytes(), v("x"), None, 0);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let (next, keys) = db.scan(cursor, 10, &ScanFilter::default(), 0);
            seen.extend(keys);
            calls += 1;
            if next == 0 {
                break;
            }
            assert!(next > cursor, "cursor must advance");
            cursor = next;
        }
        assert!(calls > 400);
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), 5000);
        assert_eq!(seen.len(), 5000);
    }

    #[test]
    fn scan_returns_keys_present_throughout_despite_writes() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..2000 {
            db.insert(format!("stable:{i}").as_bytes(), v("x"), None, 0);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let (next, keys) = db.scan(cursor, 7, &ScanFilter::default(), 0);
            seen.extend(keys);
            // Grow and shrink the tables between calls.
            for j in 0..50 {
                db.insert(format!("churn:{round}:{j}").as_bytes(), v("y"), None, 0);
            }
            if round > 0 {
                for j in 0..50 {
                    db.remove(format!("churn:{}:{j}", round - 1).as_bytes(), 0);
                }
            }
            round += 1;
            if next == 0 {
                break;
            }
            cursor = next;
        }
        for i in 0..2000 {
            assert!(seen.contains(&SmallBytes::from(format!("stable:{i}").as_str())));
        }
    }

    #[test]
    fn scan_filters_by_pattern() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..100 {
            db.insert(format!("a{i}").as_bytes(), v("x"), None, 0);
            db.insert(format!("b{i}").as_bytes(), v("x"), None, 0);
        }
        let filter = ScanFilter {
            pattern: Some(b"a*"),
            kind: None,
        };
        let (next, keys) = db.scan(0, 1000, &filter, 0);
        assert_eq!(next, 0);
        assert_eq!(keys.len(), 100);
        assert!(keys.iter().all(|k| k.starts_with(b"a")));
    }

    #[test]
    fn mark_dirty_counts_a_write_without_changing_keys() {
        let mut ks = Keyspace::new(2);
        let before = ks.dirty();
        ks.db(1).mark_dirty();
        assert_eq!(ks.dirty(), before + 1);
        assert!(ks.db(1).is_empty());
    }

    #[test]
    fn swap_and_random_key() {
        let mut ks = Keyspace::new(2);
        ks.db(0).insert(b"x", v("1"), None, 0);
        ks.swap(0, 1);
        assert!(ks.db(0).is_empty());
        assert_eq!(ks.db(1).random_key(0), Some(SmallBytes::from("x")));
        assert_eq!(ks.db(0).random_key(0), None);
    }

    /// Everything in the keyspace as a map, for snapshot checks.
    fn model(ks: &Keyspace) -> std::collections::BTreeMap<(usize, Vec<u8>), (Value, Option<u64>)> {
        let mut m = std::collections::BTreeMap::new();
        for (db, d) in ks.dbs().iter().enumerate() {
            for e in d.iter() {
                m.insert((db, e.key().to_vec()), (e.value.clone(), e.expire_at()));
            }
        }
        m
    }

    #[test]
    fn snapshot_sees_exactly_the_instant_despite_concurrent_writes() {
        for seed in 1..=8u64 {
            fastrand::seed(seed);
            let mut ks = Keyspace::new(4);
            for i in 0..3000 {
                let db = i % 3;
                let exp = (i % 7 == 0).then_some(10_000_000 + i as u64);
                ks.db(db)
                    .insert(format!("k{i}").as_bytes(), v(&format!("v{i}")), exp, 0);
            }
            let expected = model(&ks);
            let (id, sizes) = ks.start_snapshot();
            assert_eq!(sizes.iter().map(|s| s.keys).sum::<usize>(), 3000);
            let mut got = std::collections::BTreeMap::new();
            let mut steps = 0;
            loop {
                // Writers run between steps: overwrite, delete, expire, flush, swap.
                for _ in 0..40 {
                    let db = fastrand::usize(..4);
                    let key = format!("k{}", fastrand::usize(..4000));
                    match fastrand::u8(..100) {
                        0..=49 => {
                            ks.db(db).insert(key.as_bytes(), v("new"), None, 0);
                        }
                        50..=79 => {
                            ks.db(db).remove(key.as_bytes(), 0);
                        }
                        80..=96 => {
                            ks.db(db).set_expire(key.as_bytes(), Some(5), 0);
                        }
                        97 => ks.db(db).clear(),
                        _ => ks.swap(db, (db + 1) % 4),
                    }
                }
                match ks.snapshot_step(id, 50) {
                    None => break,
                    Some(images) => {
                        for image in images {
                            for e in image.entries {
                                let k = (image.db, e.key().to_vec());
                                assert!(
                                    got.insert(k, (e.value.clone(), e.expire_at())).is_none(),
                                    "duplicate key"
                                );
                            }
                        }
                    }
                }
                steps += 1;
                assert!(steps < 100_000);
            }
            assert_eq!(got, expected, "seed {seed}");
            assert_eq!(ks.snapshot_pending_entries(), 0);
        }
    }

    #[test]
    fn overlapping_snapshots_each_see_their_own_instant() {
        let mut ks = Keyspace::new(1);
        ks.db(0).insert(b"a", v("1"), None, 0);
        let (first, _) = ks.start_snapshot();
        ks.db(0).insert(b"a", v("2"), None, 0);
        let (second, _) = ks.start_snapshot();
        ks.db(0).insert(b"a", v("3"), None, 0);
        let collect = |ks: &mut Keyspace, id| {
            let mut values = Vec::new();
            while let Some(images) = ks.snapshot_step(id, 10) {
                for image in images {
                    values.extend(image.entries.into_iter().map(|e| e.value));
                }
            }
            values
        };
        assert_eq!(collect(&mut ks, second), vec![v("2")]);
        assert_eq!(collect(&mut ks, first), vec![v("1")]);
        ks.db(0).insert(b"a", v("4"), None, 0);
        assert_eq!(ks.snapshot_pending_entries(), 0);
    }
}
