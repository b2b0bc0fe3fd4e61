//! Fork-free point-in-time snapshots of the keyspace.
//!
//! A snapshot is taken at one instant of the write order (the caller holds the
//! data lock and records the replication offset at that instant). From then
//! on, each database remembers, per shard, whether the snapshot already has
//! that shard's image. The image of a shard is a clone of its entries as they
//! were at the instant:
//!
//! - a writer about to change a key in a shard the snapshot has not walked
//!   yet first copies that key's entry into the snapshot's pending queue and
//!   records the key as touched (copy-before-write, one key at a time: the
//!   writer pays for one entry); the walk later skips touched keys, so keys
//!   created after the instant never appear;
//! - the consumer ([`crate::Keyspace::snapshot_step`]) takes pending images
//!   first, then clones the next uncaptured shards itself, a bounded number of
//!   entries per step, so the data lock is never held for long.
//!
//! So every key is emitted exactly once, with its value at the instant, and no
//! later write leaks in. Extra memory is the pending images: what writers
//! touched before the consumer reached it. Several snapshots can be active at
//! once; each has its own capture bits.

use std::collections::{HashMap, HashSet};

use crate::keyspace::Entry;
use crate::SmallBytes;

/// Identifies an active snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotId(pub(crate) u64);

/// The entries of one shard at the snapshot instant.
#[derive(Debug, Clone)]
pub struct ShardImage {
    pub db: usize,
    pub entries: Vec<Entry>,
}

/// Key counts of a database at the snapshot instant (RDB RESIZEDB hints).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSizes {
    pub db: usize,
    pub keys: usize,
    pub expires: usize,
}

/// One snapshot's progress inside one database.
#[derive(Debug)]
pub(crate) struct DbCapture {
    pub(crate) id: SnapshotId,
    /// `captured[shard]`: the snapshot holds (or has emitted) this shard's image.
    pub(crate) captured: Vec<bool>,
    /// Images kept by writers, not yet handed to the consumer.
    pub(crate) pending: Vec<Vec<Entry>>,
    /// Per shard not walked yet: keys changed since the instant. Their
    /// pre-images (if they existed) are in `pending`; the walk skips them.
    pub(crate) touched: HashMap<usize, HashSet<SmallBytes>>,
    /// Next shard the consumer clones itself.
    pub(crate) cursor: usize,
}

impl DbCapture {
    pub(crate) fn new(id: SnapshotId, shards: usize, empty: bool) -> DbCapture {
        DbCapture {
            id,
            // An empty database has nothing to capture.
            captured: vec![empty; shards],
            pending: Vec::new(),
            touched: HashMap::new(),
            cursor: if empty { shards } else { 0 },
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.pending.is_empty() && self.cursor >= self.captured.len()
    }
}
