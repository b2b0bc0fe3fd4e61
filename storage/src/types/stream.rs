//! The stream type: entries keyed by 128-bit IDs, and consumer groups.
//!
//! Entries sit in nodes exactly as Redis 7.0 keeps them (t_stream.c): an
//! ordered map (Redis's radix tree) from a node's master ID (the ID of the
//! first entry ever appended to it) to a listpack holding a master entry
//! (valid count, deleted count, the master field names) and the node's
//! entries, delta-encoded against the master ID, fields omitted when they
//! are the master's. Entries deleted by XDEL or exact trimming stay in the
//! node as tombstones until the whole node goes. The layout is kept byte for
//! byte because it is visible: approximate trimming (`~`) removes only
//! whole nodes, RDB and DUMP payloads carry the listpacks, and XINFO
//! reports the node counts. A node is closed when its listpack would reach
//! `stream-node-max-bytes` or it holds `stream-node-max-entries` entries.
//! Keeping Redis's listpacks also keeps Redis's memory footprint; reads
//! decode entries as they go, as Redis's iterator does.
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

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::digest::{mix_digest, Digest};
use crate::rdb::listpack::{self, Entry as LpEntry};
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

/// An integer read from a stream listpack (Redis's `lpGetInteger`, which
/// also reads integers stored as strings).
fn lp_int(e: LpEntry<'_>) -> Option<i64> {
    match e {
        LpEntry::Int(v) => Some(v),
        LpEntry::Str(s) => crate::num::parse_i64(s),
    }
}

/// One radix tree node: Redis's listpack, byte for byte. Elements: the
/// master entry (`live`, `deleted`, the master field count, the field
/// names, `0`), then per entry `flags`, the ID's deltas from the master ID,
/// (`num-fields`, fields, when not SAMEFIELDS), the values, `lp-count`.
#[derive(Clone, Debug, PartialEq)]
struct Node {
    lp: Vec<u8>,
    live: i64,
    deleted: i64,
    master_fields: usize,
    /// Offset of the master field count element.
    nmaster_at: usize,
    /// Offset of the first master field name.
    fields_at: usize,
    /// Offset of the first entry's flags (or the terminator).
    entries_at: usize,
}

/// Where one entry of a node lies.
#[derive(Clone, Copy, Debug)]
struct ItemPos {
    id: StreamId,
    flags: i64,
    /// Offset of the flags element.
    at: usize,
    /// Offset of the first field (or value, with SAMEFIELDS).
    data_at: usize,
    fields: usize,
    /// Offset after the entry's lp-count.
    next: usize,
}

impl ItemPos {
    fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    fn same_fields(&self) -> bool {
        self.flags & FLAG_SAMEFIELDS != 0
    }
}

const LP_HEADER: usize = 6;

impl Node {
    /// A node holding one entry, its fields the master fields.
    fn new<B: AsRef<[u8]>>(pairs: &[B]) -> Node {
        let mut lp = vec![0u8; LP_HEADER];
        let n = pairs.len() / 2;
        listpack::encode_int(&mut lp, 1);
        listpack::encode_int(&mut lp, 0);
        let nmaster_at = lp.len();
        listpack::encode_int(&mut lp, n as i64);
        let fields_at = lp.len();
        for f in pairs.iter().step_by(2) {
            listpack::encode(&mut lp, f.as_ref());
        }
        listpack::encode_int(&mut lp, 0);
        let entries_at = lp.len();
        lp.push(0xFF);
        let mut node = Node {
            lp,
            live: 1,
            deleted: 0,
            master_fields: n,
            nmaster_at,
            fields_at,
            entries_at,
        };
        node.set_header(4 + n as u32);
        node.append(StreamId::MIN, StreamId::MIN, FLAG_SAMEFIELDS, pairs);
        node
    }

    fn set_header(&mut self, count: u32) {
        let total = u32::try_from(self.lp.len()).unwrap_or(u32::MAX);
        self.lp[..4].copy_from_slice(&total.to_le_bytes());
        let count = u16::try_from(count).unwrap_or(u16::MAX);
        self.lp[4..6].copy_from_slice(&count.to_le_bytes());
    }

    fn element_count(&self) -> u16 {
        u16::from_le_bytes([self.lp[4], self.lp[5]])
    }

    /// Appends an entry's elements (the master entry's counts are the
    /// caller's business).
    fn append<B: AsRef<[u8]>>(&mut self, master: StreamId, id: StreamId, flags: i64, pairs: &[B]) {
        let eof = self.lp.pop();
        debug_assert_eq!(eof, Some(0xFF));
        let same = flags & FLAG_SAMEFIELDS != 0;
        let n = pairs.len() / 2;
        let lp = &mut self.lp;
        listpack::encode_int(lp, flags);
        listpack::encode_int(lp, id.ms.wrapping_sub(master.ms) as i64);
        listpack::encode_int(lp, id.seq.wrapping_sub(master.seq) as i64);
        if !same {
            listpack::encode_int(lp, n as i64);
        }
        for pair in pairs.chunks_exact(2) {
            if !same {
                listpack::encode(lp, pair[0].as_ref());
            }
            listpack::encode(lp, pair[1].as_ref());
        }
        let lp_count = if same { n + 3 } else { 2 * n + 4 };
        listpack::encode_int(lp, lp_count as i64);
        lp.push(0xFF);
        let added = (lp_count + 1) as u32;
        let count = self.element_count();
        let count = if count == u16::MAX {
            u32::from(u16::MAX)
        } else {
            u32::from(count) + added
        };
        self.set_header(count);
    }

    /// Rewrites the valid and deleted counts (Redis's `lpReplaceInteger`
    /// on the first two elements), moving what follows if their size changes.
    fn set_counts(&mut self, live: i64, deleted: i64) {
        let mut head = Vec::with_capacity(8);
        listpack::encode_int(&mut head, live);
        listpack::encode_int(&mut head, deleted);
        let old = self.nmaster_at - LP_HEADER;
        self.lp
            .splice(LP_HEADER..self.nmaster_at, head.iter().copied());
        let delta = head.len() as isize - old as isize;
        self.nmaster_at = (self.nmaster_at as isize + delta) as usize;
        self.fields_at = (self.fields_at as isize + delta) as usize;
        self.entries_at = (self.entries_at as isize + delta) as usize;
        self.live = live;
        self.deleted = deleted;
        let count = u32::from(self.element_count());
        self.set_header(count);
    }

    /// The entry starting at `at`, or `None` at the terminator.
    fn item_at(&self, master: StreamId, at: usize) -> Option<ItemPos> {
        let lp = &self.lp;
        let (f, p) = listpack::element_at(lp, at)?;
        let flags = lp_int(f)?;
        let (ms, p) = listpack::element_at(lp, p)?;
        let (seq, mut p) = listpack::element_at(lp, p)?;
        let id = StreamId::new(
            master.ms.wrapping_add(lp_int(ms)? as u64),
            master.seq.wrapping_add(lp_int(seq)? as u64),
        );
        let same = flags & FLAG_SAMEFIELDS != 0;
        let fields = if same {
            self.master_fields
        } else {
            let (n, q) = listpack::element_at(lp, p)?;
            p = q;
            usize::try_from(lp_int(n)?).ok()?
        };
        let data_at = p;
        let skip = if same { fields } else { fields * 2 };
        for _ in 0..=skip {
            p = listpack::element_at(lp, p)?.1;
        }
        Some(ItemPos {
            id,
            flags,
            at,
            data_at,
            fields,
            next: p,
        })
    }

    /// Every entry of the node, tombstones included, in order.
    fn items(&self, master: StreamId) -> ItemIter<'_> {
        ItemIter {
            node: self,
            master,
            at: self.entries_at,
        }
    }

    /// Marks the entry at `pos` deleted (flags stay a one-byte integer).
    fn tombstone(&mut self, pos: &ItemPos) {
        self.lp[pos.at] = (pos.flags | FLAG_DELETED) as u8;
    }

    fn entry<'a>(&'a self, pos: &ItemPos) -> EntryRef<'a> {
        EntryRef {
            id: pos.id,
            lp: &self.lp,
            fields_at: pos.same_fields().then_some(self.fields_at),
            data_at: pos.data_at,
            fields: pos.fields,
        }
    }

    /// Reads a node loaded from an RDB, checking its structure as Redis's
    /// deep sanitization does.
    fn load(master: StreamId, lp: &[u8]) -> Result<Node, String> {
        let elems = listpack::parse(lp)
            .map_err(|m| format!("{} at byte {}: {}", m.expected, m.at, m.found))?;
        let mut it = elems.into_iter();
        let mut int = |what: &str| -> Result<i64, String> {
            match it.next() {
                Some(e) => {
                    lp_int(e).ok_or_else(|| format!("stream listpack: {what} is not an integer"))
                }
                None => Err(format!("stream listpack ends before {what}")),
            }
        };
        let live = int("the entry count")?;
        let deleted = int("the deleted count")?;
        let nmaster = int("the master field count")?;
        if live <= 0 || deleted < 0 || nmaster < 0 {
            return Err("stream listpack: bad master entry counts".into());
        }
        let mut node = Node {
            lp: lp.to_vec(),
            live,
            deleted,
            master_fields: nmaster as usize,
            nmaster_at: 0,
            fields_at: 0,
            entries_at: 0,
        };
        let mut p = LP_HEADER;
        for _ in 0..2 {
            p = listpack::element_at(lp, p)
                .ok_or("stream listpack: truncated")?
                .1;
        }
        node.nmaster_at = p;
        p = listpack::element_at(lp, p)
            .ok_or("stream listpack: truncated")?
            .1;
        node.fields_at = p;
        for _ in 0..nmaster {
            p = listpack::element_at(lp, p)
                .ok_or("stream listpack: truncated")?
                .1;
        }
        let (zero, q) = listpack::element_at(lp, p).ok_or("stream listpack: truncated")?;
        if lp_int(zero) != Some(0) {
            return Err("stream listpack: master entry not terminated by 0".into());
        }
        node.entries_at = q;
        let (mut seen_live, mut seen_dead) = (0i64, 0i64);
        let mut prev: Option<StreamId> = None;
        let mut at = q;
        while lp.get(at).is_some_and(|&b| b != 0xFF) {
            let pos = node
                .item_at(master, at)
                .ok_or("stream listpack: a malformed entry")?;
            // Redis writes flags as one-byte integers 0 to 3; tombstoning
            // rewrites that byte in place.
            if !(0..=3).contains(&pos.flags) || lp[pos.at] != pos.flags as u8 {
                return Err("stream listpack: entry flags not a small integer".into());
            }
            if pos.id < master || prev.is_some_and(|x| pos.id <= x) {
                return Err("stream listpack: entry IDs out of order".into());
            }
            let want = if pos.same_fields() {
                pos.fields + 3
            } else {
                pos.fields * 2 + 4
            };
            let mut p = pos.data_at;
            let skip = if pos.same_fields() {
                pos.fields
            } else {
                pos.fields * 2
            };
            for _ in 0..skip {
                p = listpack::element_at(lp, p)
                    .ok_or("stream listpack: truncated")?
                    .1;
            }
            let (count, _) = listpack::element_at(lp, p).ok_or("stream listpack: truncated")?;
            if lp_int(count) != Some(want as i64) {
                return Err("stream listpack: wrong lp-count".into());
            }
            if pos.deleted() {
                seen_dead += 1;
            } else {
                seen_live += 1;
            }
            prev = Some(pos.id);
            at = pos.next;
        }
        if seen_live != live || seen_dead != deleted {
            return Err("stream listpack: counts do not match the entries".into());
        }
        Ok(node)
    }
}

/// The entries of one node in order.
#[derive(Debug)]
struct ItemIter<'a> {
    node: &'a Node,
    master: StreamId,
    at: usize,
}

impl Iterator for ItemIter<'_> {
    type Item = ItemPos;

    fn next(&mut self) -> Option<ItemPos> {
        let pos = self.node.item_at(self.master, self.at)?;
        self.at = pos.next;
        Some(pos)
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
    lp: &'a [u8],
    /// The master fields' offset, for a SAMEFIELDS entry.
    fields_at: Option<usize>,
    data_at: usize,
    fields: usize,
}

/// A field and its value; integers stored as integers come as their text.
pub type FieldValue<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// An element's bytes: integers stored as integers get their decimal text.
fn element_bytes(e: LpEntry<'_>) -> Cow<'_, [u8]> {
    match e {
        LpEntry::Str(s) => Cow::Borrowed(s),
        LpEntry::Int(v) => Cow::Owned(crate::num::i64_to_bytes(v)),
    }
}

impl<'a> EntryRef<'a> {
    /// Field-value pairs in order.
    pub fn pairs(&self) -> Vec<FieldValue<'a>> {
        let lp = self.lp;
        let mut out = Vec::with_capacity(self.fields);
        let mut f_at = self.fields_at;
        let mut p = self.data_at;
        for _ in 0..self.fields {
            let field = match f_at {
                Some(fa) => {
                    let Some((f, next)) = listpack::element_at(lp, fa) else {
                        break;
                    };
                    f_at = Some(next);
                    f
                }
                None => {
                    let Some((f, next)) = listpack::element_at(lp, p) else {
                        break;
                    };
                    p = next;
                    f
                }
            };
            let Some((v, next)) = listpack::element_at(lp, p) else {
                break;
            };
            p = next;
            out.push((element_bytes(field), element_bytes(v)));
        }
        out
    }

    pub fn len(&self) -> usize {
        self.fields
    }

    pub fn is_empty(&self) -> bool {
        self.fields == 0
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
        // Whole pairs only (the commands check the count).
        let pairs = &pairs[..pairs.len() & !1];
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
        let tail = self.nodes.iter_mut().next_back().filter(|(_, tail)| {
            !(tail.lp.len() + total >= max_bytes
                || (limits.max_entries != 0 && tail.live + tail.deleted >= limits.max_entries))
        });
        match tail {
            Some((&master, tail)) => {
                let (live, deleted) = (tail.live + 1, tail.deleted);
                tail.set_counts(live, deleted);
                let mut same = tail.master_fields == numfields;
                if same {
                    let mut at = tail.fields_at;
                    for f in pairs.iter().step_by(2) {
                        match listpack::element_at(&tail.lp, at) {
                            Some((e, next)) if element_bytes(e).as_ref() == f.as_ref() => at = next,
                            _ => {
                                same = false;
                                break;
                            }
                        }
                    }
                }
                let flags = if same { FLAG_SAMEFIELDS } else { 0 };
                tail.append(master, id, flags, pairs);
            }
            None => {
                self.nodes.insert(id, Node::new(pairs));
            }
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
        if rev {
            Box::new(
                nodes
                    .rev()
                    .flat_map(|(&m, n)| {
                        let items: Vec<ItemPos> = n.items(m).collect();
                        items.into_iter().rev().map(move |i| (n, i))
                    })
                    .filter(|(_, i)| !i.deleted())
                    .skip_while(move |(_, i)| i.id > end)
                    .take_while(move |(_, i)| i.id >= start)
                    .map(|(n, i)| n.entry(&i)),
            )
        } else {
            Box::new(
                nodes
                    .flat_map(|(&m, n)| n.items(m).map(move |i| (n, i)))
                    .filter(|(_, i)| !i.deleted())
                    .skip_while(move |(_, i)| i.id < start)
                    .take_while(move |(_, i)| i.id <= end)
                    .map(|(n, i)| n.entry(&i)),
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
            .iter()
            .next()
            .and_then(|(&m, n)| n.items(m).next())
            .map(|i| i.id)
            .unwrap_or(StreamId::MAX)
    }

    /// Deletes the live entry `id` (a tombstone stays, as in Redis).
    fn delete_one(&mut self, id: StreamId) -> bool {
        let Some((&key, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let Some(pos) = node
            .items(key)
            .take_while(|i| i.id <= id)
            .find(|i| i.id == id)
        else {
            return false;
        };
        if pos.deleted() {
            return false;
        }
        node.tombstone(&pos);
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
                Trim::MinId(min) => node.items(master).last().is_some_and(|i| i.id < min),
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
            let items: Vec<ItemPos> = node.items(master).collect();
            let mut from_node: i64 = 0;
            for pos in &items {
                let stop = match how {
                    Trim::MaxLen(maxlen) => self.length <= maxlen,
                    Trim::MinId(min) => pos.id >= min,
                };
                if stop {
                    break;
                }
                if !pos.deleted() {
                    node.tombstone(pos);
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
                mix_digest(d, &f);
                mix_digest(d, &v);
            }
        }
    }

    /// Approximate heap bytes.
    pub fn heap_size(&self) -> usize {
        let nodes: usize = self.nodes.values().map(|n| n.lp.capacity() + 96).sum();
        let groups: usize = self
            .groups
            .values()
            .map(|g| 64 + g.pel.len() * 64 + g.consumers.len() * 64)
            .sum();
        nodes + groups
    }

    /// Each node as `(master ID, listpack bytes)`, in order, as RDB saves them.
    pub fn for_each_node(&self, mut f: impl FnMut(StreamId, &[u8])) {
        for (&master, node) in &self.nodes {
            f(master, &node.lp);
        }
    }

    /// Adds a node loaded from an RDB listpack, kept byte for byte. The
    /// metadata (length, IDs, counters) is set by the loader afterwards.
    pub fn load_node(&mut self, master: StreamId, lp: &[u8]) -> Result<(), String> {
        if let Some((&last, _)) = self.nodes.iter().next_back() {
            if master <= last {
                return Err("stream nodes out of order or repeated".into());
            }
        }
        let node = Node::load(master, lp)?;
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
        let last = self
            .nodes
            .iter()
            .next_back()
            .and_then(|(&m, n)| n.items(m).last());
        if last.is_some_and(|l| l.id > self.last_id) {
            return Err("stream last ID below its last entry".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::listpack::Builder;

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
            // What a fresh encoding of the same entries gives.
            b.clear();
            b.push_int(n.live);
            b.push_int(n.deleted);
            b.push_int(n.master_fields as i64);
            let mut at = n.fields_at;
            for _ in 0..n.master_fields {
                let (f, next) = listpack::element_at(&n.lp, at).unwrap();
                b.push(&element_bytes(f));
                at = next;
            }
            b.push_int(0);
            for i in n.items(m) {
                let mut p = i.at;
                while p < i.next {
                    let (e, next) = listpack::element_at(&n.lp, p).unwrap();
                    b.push(&element_bytes(e));
                    p = next;
                }
            }
            assert_eq!(b.finish(), &n.lp[..]);
            assert!(n.lp.len() < 4096 + 200);
            assert!(listpack::parse(&n.lp).is_ok());
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
