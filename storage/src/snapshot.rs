//! Fork-free point-in-time snapshots of the keyspace.
//!
//! A snapshot is taken at one instant of the write order (the caller holds the
//! data lock and records the replication offset at that instant). From then
//! on, each database remembers, per shard, whether the snapshot already has
//! that shard's image. The image of a shard is a clone of its entries as they
//! were at the instant:
//!
//! - a writer about to change a shard the snapshot has not captured yet first
//!   clones the shard into the snapshot's pending queue (copy-before-write, at
//!   shard granularity: the writer pays for at most one shard);
//! - the consumer ([`crate::Keyspace::snapshot_step`]) takes pending images
//!   first, then clones the next uncaptured shards itself, a bounded number of
//!   entries per step, so the data lock is never held for long.
//!
//! So every key is emitted exactly once, with its value at the instant, and no
//! later write leaks in. Extra memory is the pending images: what writers
//! touched before the consumer reached it. Several snapshots can be active at
//! once; each has its own capture bits.

use crate::keyspace::Entry;

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
    /// Images cloned by writers, not yet handed to the consumer.
    pub(crate) pending: Vec<Vec<Entry>>,
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
            cursor: if empty { shards } else { 0 },
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.pending.is_empty() && self.cursor >= self.captured.len()
    }
}
