//! Choosing keys to evict under `maxmemory`: the policies and Redis's
//! approximated LRU / LFU / TTL selection.
//!
//! Redis does not keep keys ordered by access. It samples a few keys
//! (`maxmemory-samples`) of every database and keeps the best candidates
//! seen so far in a small pool ([`EvictionPool`], 16 entries, ordered by
//! score); the best of the pool that still exists is evicted. The pool
//! survives between evictions, so candidates accumulate across calls.
//! This module owns that choice; deleting the key, measuring the memory it
//! freed and propagating the deletion are the caller's.
//!
//! Invariant: a pool holds at most [`POOL_SIZE`] entries, ascending by
//! score, at most one per (database, key).

use crate::keyspace::{Db, Entry, Lfu};
use crate::SmallBytes;

/// Entries of the eviction pool (Redis's `EVPOOL_SIZE`).
pub const POOL_SIZE: usize = 16;

/// `maxmemory-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Policy {
    #[default]
    NoEviction,
    AllkeysLru,
    VolatileLru,
    AllkeysLfu,
    VolatileLfu,
    AllkeysRandom,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    /// The policy a `maxmemory-policy` value names.
    pub fn from_name(name: &str) -> Option<Policy> {
        Some(match name {
            "noeviction" => Policy::NoEviction,
            "allkeys-lru" => Policy::AllkeysLru,
            "volatile-lru" => Policy::VolatileLru,
            "allkeys-lfu" => Policy::AllkeysLfu,
            "volatile-lfu" => Policy::VolatileLfu,
            "allkeys-random" => Policy::AllkeysRandom,
            "volatile-random" => Policy::VolatileRandom,
            "volatile-ttl" => Policy::VolatileTtl,
            _ => return None,
        })
    }

    /// Only keys with an expiry may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::AllkeysLfu | Policy::VolatileLfu)
    }

    /// Picks at random rather than through the pool.
    pub fn is_random(self) -> bool {
        matches!(self, Policy::AllkeysRandom | Policy::VolatileRandom)
    }
}

/// How strongly `entry` asks to be evicted under `policy` (higher first):
/// idle time for LRU, `255 - counter` for LFU, nearness of expiry for TTL.
pub fn score(policy: Policy, entry: &Entry, now_ms: u64, lfu: Lfu) -> u64 {
    match policy {
        Policy::AllkeysLfu | Policy::VolatileLfu => 255 - u64::from(entry.lfu_counter(now_ms, lfu)),
        Policy::VolatileTtl => u64::MAX - entry.expire_at().unwrap_or(u64::MAX),
        _ => (now_ms / 1000).saturating_sub(u64::from(entry.access_secs())),
    }
}

/// One candidate of the pool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub score: u64,
    pub db: usize,
    pub key: SmallBytes,
}

/// The best eviction candidates seen so far, ascending by score.
#[derive(Debug, Default)]
pub struct EvictionPool {
    entries: Vec<Candidate>,
}

impl EvictionPool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every candidate (the policy changed, the data was replaced).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Offers a candidate: it enters when the pool has room or it beats the
    /// worst entry (which then leaves). A key already pooled gets the new
    /// score.
    pub fn offer(&mut self, candidate: Candidate) {
        if let Some(pos) = self
            .entries
            .iter()
            .position(|c| c.db == candidate.db && c.key == candidate.key)
        {
            self.entries.remove(pos);
        }
        let full = self.entries.len() >= POOL_SIZE;
        if full
            && self
                .entries
                .first()
                .is_some_and(|c| candidate.score <= c.score)
        {
            return;
        }
        if full {
            self.entries.remove(0);
        }
        let at = self.entries.partition_point(|c| c.score <= candidate.score);
        self.entries.insert(at, candidate);
    }

    /// Samples `samples` keys of database `index` into the pool.
    pub fn populate(
        &mut self,
        policy: Policy,
        index: usize,
        db: &Db,
        samples: usize,
        now_ms: u64,
        lfu: Lfu,
    ) {
        for entry in db.sample(samples, policy.volatile_only()) {
            self.offer(Candidate {
                score: score(policy, entry, now_ms, lfu),
                db: index,
                key: entry.key().clone(),
            });
        }
    }

    /// Takes the best candidate out of the pool.
    pub fn pop_best(&mut self) -> Option<Candidate> {
        self.entries.pop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::LFU_INIT_VAL;
    use crate::{Keyspace, Value};

    fn cand(score: u64, key: &str) -> Candidate {
        Candidate {
            score,
            db: 0,
            key: SmallBytes::from(key),
        }
    }

    #[test]
    fn pool_keeps_the_best_sixteen_in_order() {
        let mut pool = EvictionPool::default();
        for i in 0..40u64 {
            pool.offer(cand((i * 7) % 40, &format!("k{i}")));
        }
        assert_eq!(pool.len(), POOL_SIZE);
        let mut last = u64::MAX;
        while let Some(c) = pool.pop_best() {
            assert!(c.score <= last);
            assert!(c.score >= 40 - POOL_SIZE as u64);
            last = c.score;
        }
    }

    #[test]
    fn lfu_fields_fit_in_the_entry_padding() {
        assert_eq!(size_of::<Entry>(), 64);
    }

    #[test]
    fn pool_holds_a_key_once() {
        let mut pool = EvictionPool::default();
        pool.offer(cand(3, "a"));
        pool.offer(cand(9, "a"));
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.pop_best(), Some(cand(9, "a")));
    }

    #[test]
    fn volatile_sampling_sees_only_keys_with_expiry() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        for i in 0..500 {
            let exp = (i % 10 == 0).then_some(1_000_000 + i as u64);
            db.insert(format!("k{i}").as_bytes(), Value::string("x"), exp, 0);
        }
        let sample = db.sample(50, true);
        assert_eq!(sample.len(), 50);
        assert!(sample.iter().all(|e| e.expire_at().is_some()));
        assert_eq!(db.sample(7, false).len(), 7);
    }

    #[test]
    fn ttl_score_prefers_the_nearest_expiry() {
        let mut ks = Keyspace::new(1);
        let db = ks.db(0);
        db.insert(b"soon", Value::string("x"), Some(1000), 0);
        db.insert(b"late", Value::string("x"), Some(9000), 0);
        let lfu = Lfu {
            log_factor: 10,
            decay_minutes: 1,
        };
        let soon = score(Policy::VolatileTtl, db.peek(b"soon", 0).unwrap(), 0, lfu);
        let late = score(Policy::VolatileTtl, db.peek(b"late", 0).unwrap(), 0, lfu);
        assert!(soon > late);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut ks = Keyspace::new(1);
        let lfu = Lfu {
            log_factor: 10,
            decay_minutes: 1,
        };
        ks.set_lfu(Some(lfu));
        let db = ks.db(0);
        db.insert(b"hot", Value::string("x"), None, 0);
        db.insert(b"cold", Value::string("x"), None, 0);
        for _ in 0..1000 {
            db.get(b"hot", 0);
        }
        let hot = db.peek(b"hot", 0).unwrap().lfu_counter(0, lfu);
        let cold = db.peek(b"cold", 0).unwrap().lfu_counter(0, lfu);
        assert_eq!(cold, LFU_INIT_VAL);
        // Redis's table for factor 10: 1K hits reach about 18.
        assert!((12..=24).contains(&hot), "hot counter {hot}");
        // One point lost per decay period.
        let later = db.peek(b"hot", 0).unwrap().lfu_counter(3 * 60_000, lfu);
        assert_eq!(later, hot - 3);
        assert!(
            score(Policy::AllkeysLfu, db.peek(b"cold", 0).unwrap(), 0, lfu)
                > score(Policy::AllkeysLfu, db.peek(b"hot", 0).unwrap(), 0, lfu)
        );
    }
}
