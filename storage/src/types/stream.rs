//! The stream type: entries keyed by 128-bit IDs, and consumer groups.
//!
//! Entries sit in nodes laid out exactly as Redis 7.0 lays out its radix
//! tree of listpacks (t_stream.c): a node is keyed by its master ID (the ID
//! of the first entry ever appended to it), holds a master entry (valid
//! count, deleted count, the master field names) and its entries in ID
//! order, including entries deleted by XDEL or exact trimming, which stay
//! in the node as tombstones until the whole node goes. The node layout is
//! kept (decoded, for fast reads) because it is visible: approximate
//! trimming (`~`) removes only whole nodes, the RDB and DUMP payloads
//! carry the listpacks, and XINFO reports the node count. A node is closed
//! when its listpack would reach `stream-node-max-bytes` or it holds
//! `stream-node-max-entries` entries; `bytes` tracks the listpack size Redis
//! would have, element by element, so that decision is Redis's.
//!
//! Invariants:
//! - Nodes are keyed by master ID, in order; every entry of a node has an ID
//!   not below its master ID and below the next node's key.
//! - A node has at least one live entry (`live > 0`): the last live entry's
//!   deletion removes the node.
//! - `length` is the number of live entries; `last_id` is at least the
//!   greatest ID ever added (XSETID may raise it).
//! - A group's PEL and its consumers' PELs hold the same IDs: each PEL
//!   entry names its consumer, which lists the ID in its own set.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::digest::{mix_digest, Digest};
use crate::rdb::listpack::{self, Builder, Entry as LpEntry};
use crate::SmallBytes;

/// Entry flag: the entry is a tombstone.
const FLAG_DELETED: i64 = 1;
/// Entry flag: the entry has the master entry's fields (only values stored).
const FLAG_SAMEFIELDS: i64 = 2;
/// The largest listpack Redis lets a stream node grow to (1 GiB).
pub const LISTPACK_MAX_SIZE: usize = 1 << 30;
/// `entries_read` of a group whose read counter is unknown.
pub const INVALID_ENTRIES_READ: i64 = -1;

/// A stream entry ID: milliseconds and sequence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID, or `None` past the last possible one.
    pub fn next(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID, or `None` before 0-0.
    pub fn prev(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// The 128-bit big-endian form (radix tree keys, RDB PEL entries).
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&self.ms.to_be_bytes());
        out[8..].copy_from_slice(&self.seq.to_be_bytes());
        out
    }

    pub fn from_be_bytes(b: [u8; 16]) -> StreamId {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId::new(u64::from_be_bytes(ms), u64::from_be_bytes(seq))
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Node size limits (`stream-node-max-bytes`, `stream-node-max-entries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeLimits {
    pub max_bytes: usize,
    pub max_entries: i64,
}

impl Default for NodeLimits {
    fn default() -> NodeLimits {
        NodeLimits {
            max_bytes: 4096,
            max_entries: 100,
        }
    }
}

/// Bytes an integer takes as a listpack element.
fn int_size(v: i64) -> usize {
    listpack::int_entry_size(v)
}

/// One entry of a node (live or tombstone).
#[derive(Clone, Debug, PartialEq)]
struct Item {
    id: StreamId,
    flags: i64,
    /// Field names; empty when the entry has the master fields.
    fields: Vec<SmallBytes>,
    values: Vec<SmallBytes>,
}

impl Item {
    fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    fn same_fields(&self) -> bool {
        self.flags & FLAG_SAMEFIELDS != 0
    }

    /// Listpack elements after flags, ID deltas and (num-fields, fields):
    /// the `lp-count` element's value.
    fn lp_count(&self) -> i64 {
        let n = self.values.len() as i64;
        if self.same_fields() {
            n + 3
        } else {
            n * 2 + 4
        }
    }
}

/// One radix tree node: a listpack of entries sharing a master entry.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    master_fields: Vec<SmallBytes>,
    items: Vec<Item>,
    live: i64,
    deleted: i64,
    /// The node's listpack size, as Redis would have it.
    bytes: usize,
}

impl Node {
    fn item_size(master: StreamId, item: &Item) -> usize {
        let mut n = int_size(item.flags)
            + int_size(item.id.ms.wrapping_sub(master.ms) as i64)
            + int_size(item.id.seq.wrapping_sub(master.seq) as i64);
        if !item.same_fields() {
            n += int_size(item.values.len() as i64);
            n += item
                .fields
                .iter()
                .map(|f| listpack::entry_size(f))
                .sum::<usize>();
        }
        n += item
            .values
            .iter()
            .map(|v| listpack::entry_size(v))
            .sum::<usize>();
        n + int_size(item.lp_count())
    }

    /// Recomputes `bytes` from the contents.
    fn measure(&mut self, master: StreamId) {
        let mut n = 6 + 1;
        n += int_size(self.live) + int_size(self.deleted);
        n += int_size(self.master_fields.len() as i64);
        n += self
            .master_fields
            .iter()
            .map(|f| listpack::entry_size(f))
            .sum::<usize>();
        n += int_size(0);
        n += self
            .items
            .iter()
            .map(|i| Node::item_size(master, i))
            .sum::<usize>();
        self.bytes = n;
    }

    fn set_counts(&mut self, live: i64, deleted: i64) {
        self.bytes = self.bytes + int_size(live) + int_size(deleted)
            - int_size(self.live)
            - int_size(self.deleted);
        self.live = live;
        self.deleted = deleted;
    }

    /// The fields of an item (its own or the master's).
    fn fields_of<'a>(&'a self, item: &'a Item) -> &'a [SmallBytes] {
        if item.same_fields() {
            &self.master_fields
        } else {
            &item.fields
        }
    }

    /// Marks the item at `at` deleted; false if it already was.
    fn tombstone(&mut self, at: usize) -> bool {
        let item = &mut self.items[at];
        if item.deleted() {
            return false;
        }
        item.flags |= FLAG_DELETED;
        true
    }

    /// The listpack bytes of this node.
    fn encode(&self, master: StreamId, b: &mut Builder) {
        b.clear();
        b.push_int(self.live);
        b.push_int(self.deleted);
        b.push_int(self.master_fields.len() as i64);
        for f in &self.master_fields {
            b.push(f);
        }
        b.push_int(0);
        for item in &self.items {
            b.push_int(item.flags);
            b.push_int(item.id.ms.wrapping_sub(master.ms) as i64);
            b.push_int(item.id.seq.wrapping_sub(master.seq) as i64);
            if !item.same_fields() {
                b.push_int(item.values.len() as i64);
            }
            for (k, v) in item.values.iter().enumerate() {
                if !item.same_fields() {
                    b.push(&item.fields[k]);
                }
                b.push(v);
            }
            b.push_int(item.lp_count());
        }
    }
}

/// A pending entry: delivered to a consumer, not yet acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub delivery_time: u64,
    pub delivery_count: u64,
    pub consumer: SmallBytes,
}

/// A consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Consumer {
    pub seen_time: u64,
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    pub consumers: BTreeMap<SmallBytes, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Creates a consumer; false if it exists.
    pub fn create_consumer(&mut self, name: &[u8], now_ms: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            SmallBytes::from_slice(name),
            Consumer {
                seen_time: now_ms,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Deletes a consumer and its pending entries; the number it had, or
    /// `None` if there is no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let consumer = self.consumers.remove(name)?;
        for id in &consumer.pel {
            self.pel.remove(id);
        }
        Some(consumer.pel.len())
    }

    /// Removes a pending entry from the group and its consumer.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(nack) => {
                if let Some(c) = self.consumers.get_mut(nack.consumer.as_slice()) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Gives the pending entry `id` to `consumer` (which must exist),
    /// creating it if absent; returns the NACK.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8]) -> &mut Nack {
        let old = self.pel.get(&id).map(|n| n.consumer.clone());
        if let Some(old) = &old {
            if old.as_slice() != consumer {
                if let Some(c) = self.consumers.get_mut(old.as_slice()) {
                    c.pel.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        let nack = self.pel.entry(id).or_insert_with(|| Nack {
            delivery_time: 0,
            delivery_count: 0,
            consumer: SmallBytes::from_slice(consumer),
        });
        if nack.consumer.as_slice() != consumer {
            nack.consumer = SmallBytes::from_slice(consumer);
        }
        nack
    }
}

/// A live entry seen by an iterator.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    fields: &'a [SmallBytes],
    values: &'a [SmallBytes],
}

impl<'a> EntryRef<'a> {
    /// Field-value pairs in order.
    pub fn pairs(&self) -> impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let fields = self.fields;
        let values = self.values;
        fields
            .iter()
            .zip(values.iter())
            .map(|(f, v)| (f.as_slice(), v.as_slice()))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Why an entry could not be added.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddError {
    /// The ID is not above the stream's last ID.
    IdTooSmall,
    /// The fields and values add up past a listpack's limit.
    TooLarge,
}

/// How XADD/XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream value.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamValue {
    nodes: BTreeMap<StreamId, Node>,
    length: u64,
    pub last_id: StreamId,
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<SmallBytes, Group>,
}

impl Default for StreamValue {
    fn default() -> Self {
        StreamValue::new()
    }
}

impl StreamValue {
    pub fn new() -> StreamValue {
        StreamValue {
            nodes: BTreeMap::new(),
            length: 0,
            last_id: StreamId::MIN,
            first_id: StreamId::MIN,
            max_deleted_id: StreamId::MIN,
            entries_added: 0,
            groups: BTreeMap::new(),
        }
    }

    /// Live entries.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Radix tree keys (nodes).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes of Redis's radix tree over the node keys (XINFO's
    /// `radix-tree-nodes`), for the compressed shape a rax takes: a root,
    /// one node per run of shared bytes, one per branch, one per key.
    pub fn rax_nodes(&self) -> usize {
        fn at(keys: &[[u8; 16]], d: usize) -> usize {
            if d == 16 {
                return 1;
            }
            let first = keys[0];
            let last = keys[keys.len() - 1];
            if first[d] == last[d] {
                // Keys are sorted: the first and last share what all share.
                let mut l = d;
                while l < 16 && first[l] == last[l] {
                    l += 1;
                }
                return 1 + at(keys, l);
            }
            let mut n = 1;
            let mut i = 0;
            while i < keys.len() {
                let b = keys[i][d];
                let j = i + keys[i..].iter().take_while(|k| k[d] == b).count();
                n += at(&keys[i..j], d + 1);
                i = j;
            }
            n
        }
        let keys: Vec<[u8; 16]> = self.nodes.keys().map(|k| k.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        at(&keys, 0)
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Appends an entry with `id` (already checked against `last_id` by the
    /// caller for its error text, checked again here). `pairs` alternates
    /// fields and values.
    pub fn add<B: AsRef<[u8]>>(
        &mut self,
        id: StreamId,
        pairs: &[B],
        limits: NodeLimits,
    ) -> Result<(), AddError> {
        if id <= self.last_id {
            return Err(AddError::IdTooSmall);
        }
        let total: usize = pairs.iter().map(|p| p.as_ref().len()).sum();
        if total > LISTPACK_MAX_SIZE {
            return Err(AddError::TooLarge);
        }
        let numfields = pairs.len() / 2;
        let max_bytes = if limits.max_bytes == 0 || limits.max_bytes > LISTPACK_MAX_SIZE {
            LISTPACK_MAX_SIZE
        } else {
            limits.max_bytes
        };
        let mut use_tail = false;
        if let Some((_, tail)) = self.nodes.iter().next_back() {
            use_tail = !(tail.bytes + total >= max_bytes
                || (limits.max_entries != 0 && tail.live + tail.deleted >= limits.max_entries));
        }
        let fields: Vec<SmallBytes> = pairs
            .iter()
            .step_by(2)
            .map(|f| SmallBytes::from_slice(f.as_ref()))
            .collect();
        let values: Vec<SmallBytes> = pairs
            .iter()
            .skip(1)
            .step_by(2)
            .map(|v| SmallBytes::from_slice(v.as_ref()))
            .collect();
        if use_tail {
            let (&master, tail) = self
                .nodes
                .iter_mut()
                .next_back()
                .expect("use_tail is set only when a tail exists");
            let (live, deleted) = (tail.live + 1, tail.deleted);
            tail.set_counts(live, deleted);
            let same = tail.master_fields.len() == numfields
                && tail.master_fields.iter().zip(&fields).all(|(a, b)| a == b);
            let item = Item {
                id,
                flags: if same { FLAG_SAMEFIELDS } else { 0 },
                fields: if same { Vec::new() } else { fields },
                values,
            };
            tail.bytes += Node::item_size(master, &item);
            tail.items.push(item);
        } else {
            let mut node = Node {
                master_fields: fields,
                items: vec![Item {
                    id,
                    flags: FLAG_SAMEFIELDS,
                    fields: Vec::new(),
                    values,
                }],
                live: 1,
                deleted: 0,
                bytes: 0,
            };
            node.measure(id);
            self.nodes.insert(id, node);
        }
        self.length += 1;
        self.entries_added += 1;
        self.last_id = id;
        if self.length == 1 {
            self.first_id = id;
        }
        Ok(())
    }

    /// Live entries with IDs in `start..=end`, forward or reversed.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = EntryRef<'_>> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        // The node holding `start` begins at or before it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map(|(k, _)| *k)
            .unwrap_or(start);
        let nodes = self.nodes.range(from..=end);
        fn entries(node: &Node) -> impl DoubleEndedIterator<Item = EntryRef<'_>> {
            node.items
                .iter()
                .filter(|i| !i.deleted())
                .map(move |i| EntryRef {
                    id: i.id,
                    fields: node.fields_of(i),
                    values: &i.values,
                })
        }
        if rev {
            Box::new(
                nodes
                    .rev()
                    .flat_map(|(_, n)| entries(n).rev())
                    .skip_while(move |e| e.id > end)
                    .take_while(move |e| e.id >= start),
            )
        } else {
            Box::new(
                nodes
                    .flat_map(|(_, n)| entries(n))
                    .skip_while(move |e| e.id < start)
                    .take_while(move |e| e.id <= end),
            )
        }
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        self.range(id, id, false).next()
    }

    /// The first live entry's ID (XINFO, trimming's first_id).
    pub fn first_live_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, false)
            .next()
            .map(|e| e.id)
    }

    /// The last live entry's ID.
    pub fn last_live_id(&self) -> Option<StreamId> {
        self.range(StreamId::MIN, StreamId::MAX, true)
            .next()
            .map(|e| e.id)
    }

    /// The first entry's ID, tombstones included (the `MINID` rewrite of an
    /// approximate trim); the maximal ID when there is none, as in Redis.
    pub fn first_id_with_tombstones(&self) -> StreamId {
        self.nodes
            .values()
            .next()
            .and_then(|n| n.items.first())
            .map(|i| i.id)
            .unwrap_or(StreamId::MAX)
    }

    /// Deletes the live entry `id` (a tombstone stays, as in Redis).
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Ok(at) = node.items.binary_search_by(|i| i.id.cmp(&id)) else {
            return false;
        };
        if !node.tombstone(at) {
            return false;
        }
        if node.live == 1 {
            self.nodes.remove(&key);
        } else {
            let (live, deleted) = (node.live - 1, node.deleted + 1);
            node.set_counts(live, deleted);
        }
        self.length -= 1;
        true
    }

    /// XDEL: deletes the given IDs; the number deleted. Updates
    /// `max_deleted_id` and `first_id` as Redis does.
    pub fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.delete_one(id) {
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.length == 0 {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.first_live_id().unwrap_or(StreamId::MAX);
            }
        }
        deleted
    }

    /// Trims from the head (Redis's `streamTrim`): with `approx` only whole
    /// nodes go; `limit` (0 = none) caps the entries removed. Returns the
    /// number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        while let Some((&master, node)) = self.nodes.iter_mut().next() {
            if let Trim::MaxLen(maxlen) = how {
                if self.length <= maxlen {
                    break;
                }
            }
            let entries = node.live as u64;
            if limit != 0 && deleted + entries > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(maxlen) => self.length - entries >= maxlen,
                Trim::MinId(min) => node.items.last().is_some_and(|i| i.id < min),
            };
            if remove_node {
                self.nodes.remove(&master);
                self.length -= entries;
                deleted += entries;
                continue;
            }
            if approx {
                break;
            }
            let mut from_node: i64 = 0;
            for at in 0..node.items.len() {
                let stop = match how {
                    Trim::MaxLen(maxlen) => self.length <= maxlen,
                    Trim::MinId(min) => node.items[at].id >= min,
                };
                if stop {
                    break;
                }
                if node.tombstone(at) {
                    from_node += 1;
                    self.length -= 1;
                }
            }
            deleted += from_node as u64;
            let (live, dead) = (node.live - from_node, node.deleted + from_node);
            node.set_counts(live, dead);
            break;
        }
        if self.length == 0 {
            self.first_id = StreamId::MIN;
        } else if deleted > 0 {
            self.first_id = self.first_live_id().unwrap_or(StreamId::MAX);
        }
        deleted
    }

    /// True when a tombstone may lie in `start..=end` (Redis's
    /// `streamRangeHasTombstones`).
    pub fn range_has_tombstones(&self, start: StreamId, end: StreamId) -> bool {
        if self.length == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// The logical read counter of `id` if it can be known
    /// (`streamEstimateDistanceFromFirstEverEntry`), else
    /// [`INVALID_ENTRIES_READ`].
    pub fn estimate_distance(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        if self.length == 0 && id <= self.last_id {
            return self.entries_added as i64;
        }
        if id == self.last_id {
            return self.entries_added as i64;
        } else if id > self.last_id {
            return INVALID_ENTRIES_READ;
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            if id < self.first_id {
                return (self.entries_added - self.length) as i64;
            } else if id == self.first_id {
                return (self.entries_added - self.length + 1) as i64;
            }
        }
        INVALID_ENTRIES_READ
    }

    /// A group's lag, or `None` when it cannot be known.
    pub fn group_lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if group.entries_read != INVALID_ENTRIES_READ
            && !self.range_has_tombstones(group.last_id, StreamId::MAX)
        {
            return Some(self.entries_added as i64 - group.entries_read);
        }
        let read = self.estimate_distance(group.last_id);
        (read != INVALID_ENTRIES_READ).then(|| self.entries_added as i64 - read)
    }

    /// Moves a group's last-delivered ID forward to `id` while serving it,
    /// keeping its read counter as Redis does.
    pub fn advance_group(&mut self, group_name: &[u8], id: StreamId) {
        let has_tomb = self.range_has_tombstones(id, StreamId::MAX);
        let estimate = if self.entries_added != 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        let Some(g) = self.groups.get_mut(group_name) else {
            return;
        };
        if id > g.last_id {
            if g.entries_read != INVALID_ENTRIES_READ && !has_tomb {
                g.entries_read += 1;
            } else if let Some(e) = estimate {
                g.entries_read = e;
            }
            g.last_id = id;
        }
    }

    /// `DEBUG DIGEST`'s contribution: every live entry in order, as
    /// `ms.seq` then its fields and values, each mixed in.
    pub fn digest(&self, d: &mut Digest) {
        for e in self.range(StreamId::MIN, StreamId::MAX, false) {
            mix_digest(d, format!("{}.{}", e.id.ms, e.id.seq).as_bytes());
            for (f, v) in e.pairs() {
                mix_digest(d, f);
                mix_digest(d, v);
            }
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.bytes + 64).sum();
        let groups: usize = self
            .groups
            .values()
            .map(|g| 64 + g.pel.len() * 64 + g.consumers.len() * 64)
            .sum();
        nodes + groups
    }

    /// Each node as `(master ID, listpack bytes)`, in order, as RDB saves them.
    pub fn for_each_node(&self, mut f: impl FnMut(StreamId, &[u8])) {
        let mut b = Builder::new();
        for (&master, node) in &self.nodes {
            node.encode(master, &mut b);
            f(master, b.finish());
        }
    }

    /// Adds a node loaded from an RDB listpack. The metadata (length, IDs,
    /// counters) is set by the loader afterwards.
    pub fn load_node(&mut self, master: StreamId, lp: &[u8]) -> Result<(), String> {
        if let Some((&last, _)) = self.nodes.iter().next_back() {
            if master <= last {
                return Err("stream nodes out of order or repeated".into());
            }
        }
        let elems = listpack::parse(lp)
            .map_err(|m| format!("{} at byte {}: {}", m.expected, m.at, m.found))?;
        let mut it = elems.into_iter();
        let int = |what: &str, it: &mut std::vec::IntoIter<LpEntry<'_>>| -> Result<i64, String> {
            match it.next() {
                Some(LpEntry::Int(v)) => Ok(v),
                Some(LpEntry::Str(s)) => crate::num::parse_i64(s)
                    .ok_or_else(|| format!("stream listpack: {what} is not an integer")),
                None => Err(format!("stream listpack ends before {what}")),
            }
        };
        let small =
            |what: &str, it: &mut std::vec::IntoIter<LpEntry<'_>>| -> Result<SmallBytes, String> {
                match it.next() {
                    Some(e) => Ok(e.with_bytes(SmallBytes::from_slice)),
                    None => Err(format!("stream listpack ends before {what}")),
                }
            };
        let live = int("the entry count", &mut it)?;
        let deleted = int("the deleted count", &mut it)?;
        let nmaster = int("the master field count", &mut it)?;
        if live <= 0 || deleted < 0 || nmaster < 0 {
            return Err("stream listpack: bad master entry counts".into());
        }
        let mut master_fields = Vec::new();
        for _ in 0..nmaster {
            master_fields.push(small("a master field", &mut it)?);
        }
        if int("the master terminator", &mut it)? != 0 {
            return Err("stream listpack: master entry not terminated by 0".into());
        }
        let mut items = Vec::new();
        let (mut seen_live, mut seen_dead) = (0i64, 0i64);
        let mut prev: Option<StreamId> = None;
        for _ in 0..(live + deleted) {
            let flags = int("entry flags", &mut it)?;
            let ms = int("an ID delta", &mut it)?;
            let seq = int("an ID delta", &mut it)?;
            let id = StreamId::new(
                master.ms.wrapping_add(ms as u64),
                master.seq.wrapping_add(seq as u64),
            );
            if id < master || prev.is_some_and(|p| id <= p) {
                return Err("stream listpack: entry IDs out of order".into());
            }
            prev = Some(id);
            let same = flags & FLAG_SAMEFIELDS != 0;
            let n = if same {
                nmaster
            } else {
                int("a field count", &mut it)?
            };
            if n < 0 {
                return Err("stream listpack: negative field count".into());
            }
            let mut fields = Vec::new();
            let mut values = Vec::new();
            for _ in 0..n {
                if !same {
                    fields.push(small("a field", &mut it)?);
                }
                values.push(small("a value", &mut it)?);
            }
            let item = Item {
                id,
                flags,
                fields,
                values,
            };
            if int("lp-count", &mut it)? != item.lp_count() {
                return Err("stream listpack: wrong lp-count".into());
            }
            if item.deleted() {
                seen_dead += 1;
            } else {
                seen_live += 1;
            }
            items.push(item);
        }
        if it.next().is_some() {
            return Err("stream listpack: elements after the last entry".into());
        }
        if seen_live != live || seen_dead != deleted {
            return Err("stream listpack: counts do not match the entries".into());
        }
        let mut node = Node {
            master_fields,
            items,
            live,
            deleted,
            bytes: 0,
        };
        node.measure(master);
        self.nodes.insert(master, node);
        Ok(())
    }

    /// Sets the metadata after nodes were loaded; checks the length.
    pub fn finish_load(&mut self, length: u64) -> Result<(), String> {
        let live: i64 = self.nodes.values().map(|n| n.live).sum();
        if live as u64 != length {
            return Err(format!(
                "stream length {length} but its nodes hold {live} entries"
            ));
        }
        self.length = length;
        if let Some(last) = self.nodes.values().next_back().and_then(|n| n.items.last()) {
            if last.id > self.last_id {
                return Err("stream last ID below its last entry".into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(s: &mut StreamValue, ms: u64, pairs: &[&str]) {
        s.add(StreamId::new(ms, 0), pairs, NodeLimits::default())
            .expect("ids increase");
    }

    #[test]
    fn node_size_tracks_the_encoded_listpack() {
        let mut s = StreamValue::new();
        for i in 0..250u64 {
            let v = "x".repeat((i % 70) as usize);
            if i % 3 == 0 {
                add(&mut s, i + 1, &["a", &v, "b", "12"]);
            } else {
                add(&mut s, i + 1, &["c", &v]);
            }
        }
        s.delete(&[StreamId::new(5, 0), StreamId::new(7, 0)]);
        s.trim(Trim::MaxLen(200), false, 0);
        let mut b = Builder::new();
        for (&m, n) in &s.nodes {
            n.encode(m, &mut b);
            assert_eq!(b.finish().len(), n.bytes);
            assert!(n.bytes < 4096 + 200);
        }
    }

    #[test]
    fn rdb_nodes_round_trip() {
        let mut s = StreamValue::new();
        for i in 0..300u64 {
            add(&mut s, i + 1, &["f", &i.to_string()]);
        }
        s.delete(&[StreamId::new(3, 0)]);
        let mut t = StreamValue::new();
        s.for_each_node(|m, lp| t.load_node(m, lp).expect("valid"));
        t.last_id = s.last_id;
        t.finish_load(s.len()).expect("length");
        t.first_id = s.first_id;
        t.max_deleted_id = s.max_deleted_id;
        t.entries_added = s.entries_added;
        assert_eq!(s, t);
    }

    #[test]
    fn ranges_skip_tombstones_in_both_directions() {
        let mut s = StreamValue::new();
        for i in 1..=10 {
            add(&mut s, i, &["k", "v"]);
        }
        s.delete(&[StreamId::new(4, 0)]);
        let fwd: Vec<u64> = s
            .range(StreamId::new(3, 0), StreamId::new(6, 0), false)
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(fwd, vec![3, 5, 6]);
        let rev: Vec<u64> = s
            .range(StreamId::new(3, 0), StreamId::new(6, 0), true)
            .map(|e| e.id.ms)
            .collect();
        assert_eq!(rev, vec![6, 5, 3]);
    }

    #[test]
    fn approximate_trim_removes_whole_nodes_only() {
        let mut s = StreamValue::new();
        for i in 1..=250 {
            add(&mut s, i, &["k", "v"]);
        }
        assert_eq!(s.trim(Trim::MaxLen(180), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(140), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(140), false, 0), 10);
        assert_eq!(s.first_id, StreamId::new(111, 0));
    }
}
