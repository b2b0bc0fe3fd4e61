//! The hash type, and the chained hash table ([`chain`]) that sets share.
//!
//! Encodings, as Redis 7.0 names them in `OBJECT ENCODING`:
//! - `listpack`: one packed byte buffer of `field, value, field, value, ...`,
//!   each entry a LEB128 length followed by its bytes. Fields keep insertion
//!   order (a new field goes to the end, an update keeps its place, a delete
//!   closes the gap), so HGETALL, HKEYS and HVALS answer in exactly Redis's
//!   order. Lookups are linear, as in Redis; the limits keep them short.
//! - `hashtable`: a [`chain::ChainTable`] of `(field, value)` pairs.
//!
//! A hash starts packed and converts once, never back, when it would hold more
//! than `hash-max-listpack-entries` pairs or a field or value longer than
//! `hash-max-listpack-value` bytes (Redis's `hashTypeSet` /
//! `hashTypeTryConversion`).
//!
//! Memory: a `HashValue` is 16 bytes (the packed buffer's pointer; the rarer
//! table sits behind a second box), so a small hash costs a 16-byte box plus
//! its exact-size buffer: 2 bytes of count and 1 length byte per short entry.
//! A hashtable costs one 56-byte node per pair (fields and values up to 22
//! bytes inline) plus one bucket pointer per pair or so.
//!
//! Invariants:
//! - A packed buffer is empty for an empty hash; otherwise it holds its pair
//!   count (saturated at `u16::MAX`) and exactly twice that many well-formed
//!   entries, with no spare capacity.
//! - No field appears twice, in either encoding.
//! - An empty hash is legal here; the commands delete a key whose hash becomes
//!   empty, because Redis never keeps one.

use std::fmt;

use crate::digest::{mix_digest, xor_digest, Digest};
use crate::types::Limits;
use crate::SmallBytes;

use self::chain::{ChainTable, Keyed};

/// Redis refuses to grow a listpack past 1 GiB (`lpSafeToAdd`) and converts.
const PACKED_MAX_BYTES: usize = 1 << 30;

/// A chained hash table whose iteration order is the order of a 63-bit hash
/// of each key, which makes stateless SCAN cursors exact.
///
/// Buckets are indexed by the top bits of the hash, so bucket `b` of a table
/// with `2^bits` buckets holds exactly the keys whose position lies in
/// `[b << (63 - bits), (b + 1) << (63 - bits))`. A cursor is a position: one
/// scan step returns every element in `[cursor, next)`, and consecutive steps
/// cover `[0, 2^63)`, so every element present for the whole scan is returned
/// however the table grows or shrinks between steps (elements may repeat only
/// if they are removed and added again).
///
/// Nodes are boxed and never move when the table resizes, so an element costs
/// one allocation of its item plus a next pointer, and a bucket slot is one
/// pointer. The load factor stays between 1/8 and 1 (tables at the minimum
/// size excepted).
pub mod chain {
    use std::hash::BuildHasher;
    use std::sync::OnceLock;

    use hashbrown::DefaultHashBuilder;

    /// Cursors and positions are below this (63 bits, so that clients that
    /// parse cursors as signed 64-bit numbers never see a negative one).
    pub const POS_LIMIT: u64 = 1 << 63;
    const MIN_BUCKETS: usize = 4;
    /// Random draws before falling back to a linear walk (expected draws:
    /// `depth bound / load factor`, at most 8 * 4 = 32 for a table at its
    /// sparsest with no long chain; missing 1024 times is out of reach).
    const RANDOM_PROBES: usize = 1024;
    /// The least chain depth a random draw picks below; see `ChainTable::random`.
    const RANDOM_DEPTH: usize = 4;

    /// What a table stores: something with a byte-string key.
    pub trait Keyed {
        fn key(&self) -> &[u8];
    }

    fn hasher() -> &'static DefaultHashBuilder {
        static HASHER: OnceLock<DefaultHashBuilder> = OnceLock::new();
        HASHER.get_or_init(DefaultHashBuilder::default)
    }

    /// The 63-bit position of a key: its bucket and its SCAN order.
    pub fn position(key: &[u8]) -> u64 {
        hasher().hash_one(key) >> 1
    }

    type Link<T> = Option<Box<Node<T>>>;

    #[derive(Clone)]
    struct Node<T> {
        item: T,
        next: Link<T>,
    }

    /// The table. See the [module docs](self).
    #[derive(Clone)]
    pub struct ChainTable<T> {
        /// A power of two in length, or empty when nothing was ever inserted.
        buckets: Box<[Link<T>]>,
        len: usize,
        /// No chain is longer than this (an upper bound: removals leave it,
        /// a rehash makes it exact). It keeps [`ChainTable::random`] fair.
        longest_chain: usize,
    }

    impl<T> Default for ChainTable<T> {
        fn default() -> Self {
            ChainTable {
                buckets: Box::new([]),
                len: 0,
                longest_chain: 0,
            }
        }
    }

    fn empty_buckets<T>(n: usize) -> Box<[Link<T>]> {
        (0..n).map(|_| None).collect()
    }

    fn chain_len<T>(head: Option<&Node<T>>) -> usize {
        std::iter::successors(head, |n| n.next.as_deref()).count()
    }

    impl<T: Keyed> ChainTable<T> {
        /// An empty table sized for `n` elements.
        pub fn with_capacity(n: usize) -> Self {
            ChainTable {
                buckets: empty_buckets(n.max(MIN_BUCKETS).next_power_of_two()),
                len: 0,
                longest_chain: 0,
            }
        }

        pub fn len(&self) -> usize {
            self.len
        }

        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        /// Bucket slots allocated (for memory accounting).
        pub fn bucket_count(&self) -> usize {
            self.buckets.len()
        }

        /// Bytes one element's node takes, besides what its item owns.
        pub const NODE_SIZE: usize = size_of::<Node<T>>();

        fn shift(&self) -> u32 {
            63 - self.buckets.len().trailing_zeros()
        }

        fn bucket_of(&self, pos: u64) -> usize {
            (pos >> self.shift()) as usize
        }

        pub fn get(&self, key: &[u8]) -> Option<&T> {
            if self.len == 0 {
                return None;
            }
            let mut link = self.buckets[self.bucket_of(position(key))].as_deref();
            while let Some(node) = link {
                if node.item.key() == key {
                    return Some(&node.item);
                }
                link = node.next.as_deref();
            }
            None
        }

        pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut T> {
            if self.len == 0 {
                return None;
            }
            let idx = self.bucket_of(position(key));
            let mut link = self.buckets[idx].as_deref_mut();
            while let Some(node) = link {
                if node.item.key() == key {
                    return Some(&mut node.item);
                }
                link = node.next.as_deref_mut();
            }
            None
        }

        /// Adds an item whose key is not in the table (the caller checked).
        pub fn insert_new(&mut self, item: T) {
            if self.len >= self.buckets.len() {
                self.rehash((self.buckets.len() * 2).max(MIN_BUCKETS));
            }
            let idx = self.bucket_of(position(item.key()));
            let next = self.buckets[idx].take();
            self.buckets[idx] = Some(Box::new(Node { item, next }));
            self.len += 1;
            let chain = chain_len(self.buckets[idx].as_deref());
            self.longest_chain = self.longest_chain.max(chain);
        }

        /// Removes and returns the item with `key`.
        pub fn remove(&mut self, key: &[u8]) -> Option<T> {
            if self.len == 0 {
                return None;
            }
            let idx = self.bucket_of(position(key));
            let mut link = &mut self.buckets[idx];
            while link.as_ref().is_some_and(|n| n.item.key() != key) {
                link = &mut link.as_mut().expect("checked to be a node").next;
            }
            let node = link.take()?;
            let Node { item, next } = *node;
            *link = next;
            self.len -= 1;
            let n = self.buckets.len();
            if n > MIN_BUCKETS && self.len * 8 < n {
                self.rehash(self.len.max(MIN_BUCKETS).next_power_of_two());
            }
            Some(item)
        }

        /// Moves every node into a table of `n` buckets (a power of two).
        fn rehash(&mut self, n: usize) {
            let old = std::mem::replace(&mut self.buckets, empty_buckets(n));
            let shift = self.shift();
            for mut link in old.into_vec() {
                while let Some(mut node) = link {
                    link = node.next.take();
                    let idx = (position(node.item.key()) >> shift) as usize;
                    node.next = self.buckets[idx].take();
                    self.buckets[idx] = Some(node);
                }
            }
            self.longest_chain = self
                .buckets
                .iter()
                .map(|b| chain_len(b.as_deref()))
                .max()
                .unwrap_or(0);
        }

        /// Every item, in bucket order.
        pub fn iter(&self) -> Iter<'_, T> {
            Iter {
                buckets: self.buckets.iter(),
                node: None,
                left: self.len,
            }
        }

        /// A uniformly random item, by rejection: a random bucket and a random
        /// depth below a bound no chain exceeds (at least [`RANDOM_DEPTH`]);
        /// a miss (the chain is shorter) draws again. Every item has the same
        /// chance, `1 / (buckets * bound)` per draw. Picking a non-empty
        /// bucket first, or capping the depth below the longest chain, would
        /// favour items of short chains (the test suite's chi-square check on
        /// SRANDMEMBER sees that).
        pub fn random(&self) -> Option<&T> {
            if self.len == 0 {
                return None;
            }
            let bound = self.longest_chain.max(RANDOM_DEPTH);
            for _ in 0..RANDOM_PROBES {
                let head = self.buckets[fastrand::usize(..self.buckets.len())].as_deref();
                let depth = fastrand::usize(..bound);
                let hit = std::iter::successors(head, |n| n.next.as_deref()).nth(depth);
                if let Some(node) = hit {
                    return Some(&node.item);
                }
            }
            // Out of reach in practice; still uniform, by a linear walk.
            self.iter().nth(fastrand::usize(..self.len))
        }

        /// One SCAN step from position `cursor`: calls `f` for every item at
        /// a position in `[cursor, next)` and returns `next`, or 0 when the
        /// walk is over. Stops after about `count` items, or after visiting
        /// `10 * count` buckets (Redis's bound for sparse tables).
        pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&T)) -> u64 {
            if self.len == 0 || cursor >= POS_LIMIT {
                return 0;
            }
            let shift = self.shift();
            let n = self.buckets.len();
            let mut b = (cursor >> shift) as usize;
            let mut emitted = 0usize;
            let mut link = self.buckets[b].as_deref();
            let partial = cursor != (b as u64) << shift;
            while let Some(node) = link {
                if !partial || position(node.item.key()) >= cursor {
                    f(&node.item);
                    emitted += 1;
                }
                link = node.next.as_deref();
            }
            b += 1;
            let mut visits = 1usize;
            let max_visits = count.saturating_mul(10).max(1);
            while b < n && emitted < count && visits < max_visits {
                let mut link = self.buckets[b].as_deref();
                while let Some(node) = link {
                    f(&node.item);
                    emitted += 1;
                    link = node.next.as_deref();
                }
                b += 1;
                visits += 1;
            }
            if b >= n {
                0
            } else {
                (b as u64) << shift
            }
        }
    }

    /// Iterator over a [`ChainTable`].
    #[derive(Debug)]
    pub struct Iter<'a, T> {
        buckets: std::slice::Iter<'a, Link<T>>,
        node: Option<&'a Node<T>>,
        left: usize,
    }

    impl<'a, T> Iterator for Iter<'a, T> {
        type Item = &'a T;

        fn next(&mut self) -> Option<&'a T> {
            loop {
                if let Some(node) = self.node {
                    self.node = node.next.as_deref();
                    self.left -= 1;
                    return Some(&node.item);
                }
                self.node = self.buckets.next()?.as_deref();
            }
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            (self.left, Some(self.left))
        }
    }

    impl<T> ExactSizeIterator for Iter<'_, T> {}

    impl<T: std::fmt::Debug> std::fmt::Debug for Node<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.item.fmt(f)
        }
    }

    impl<T: Keyed + std::fmt::Debug> std::fmt::Debug for ChainTable<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_set().entries(self.iter()).finish()
        }
    }
}

/// One field and its value, as the hashtable encoding stores them.
#[derive(Clone, Debug)]
struct Pair {
    field: SmallBytes,
    value: SmallBytes,
}

impl Keyed for Pair {
    fn key(&self) -> &[u8] {
        &self.field
    }
}

/// Appends `len` as LEB128.
fn put_len(out: &mut Vec<u8>, mut len: usize) {
    while len >= 0x80 {
        out.push((len as u8) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
}

fn len_size(mut len: usize) -> usize {
    let mut n = 1;
    while len >= 0x80 {
        len >>= 7;
        n += 1;
    }
    n
}

fn entry_size(data: &[u8]) -> usize {
    len_size(data.len()) + data.len()
}

/// Entries of a packed buffer, each as (start offset, bytes).
#[derive(Clone, Debug)]
struct Entries<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let start = self.at;
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = *self.buf.get(self.at)?;
            self.at += 1;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let data = self.buf.get(self.at..self.at + len)?;
        self.at += len;
        Some((start, data))
    }
}

/// The `listpack` encoding: see the module docs.
///
/// Layout: a little-endian u16 pair count (saturated at `u16::MAX`, past
/// which the pairs are counted by walking, as Redis's listpack does), then
/// the entries. An empty hash owns no buffer at all.
#[derive(Clone, Default)]
struct Packed {
    buf: Box<[u8]>,
}

const HEADER: usize = 2;

/// Where a field sits in a packed buffer.
struct Found {
    /// Offset of the field's entry.
    field_at: usize,
    /// Offset of the value's entry.
    value_at: usize,
    /// Offset just past the value's entry.
    end: usize,
}

impl Packed {
    fn entries(&self) -> Entries<'_> {
        Entries {
            buf: &self.buf,
            at: HEADER.min(self.buf.len()),
        }
    }

    fn pairs(&self) -> PackedPairs<'_> {
        PackedPairs {
            entries: self.entries(),
        }
    }

    fn len(&self) -> usize {
        match self.buf.get(..HEADER) {
            None => 0,
            Some(&[lo, hi]) if u16::from_le_bytes([lo, hi]) != u16::MAX => {
                usize::from(u16::from_le_bytes([lo, hi]))
            }
            Some(_) => self.pairs().count(),
        }
    }

    fn find(&self, field: &[u8]) -> Option<(Found, &[u8])> {
        let mut entries = self.entries();
        while let Some((field_at, f)) = entries.next() {
            let (value_at, v) = entries.next()?;
            if f == field {
                return Some((
                    Found {
                        field_at,
                        value_at,
                        end: entries.at,
                    },
                    v,
                ));
            }
        }
        None
    }

    /// Replaces `range` of the buffer with `with` and records `pairs` pairs,
    /// keeping no spare capacity (and no buffer at all when empty).
    fn splice(&mut self, range: std::ops::Range<usize>, with: &[u8], pairs: usize) {
        if pairs == 0 {
            self.buf = Box::new([]);
            return;
        }
        let mut v = std::mem::take(&mut self.buf).into_vec();
        if v.is_empty() {
            v.reserve_exact(HEADER + with.len());
            v.extend_from_slice(&[0; HEADER]);
        } else {
            v.reserve_exact(with.len().saturating_sub(range.len()));
        }
        let range = range.start.max(HEADER)..range.end.max(HEADER);
        v.splice(range, with.iter().copied());
        let count = u16::try_from(pairs).unwrap_or(u16::MAX);
        v[..HEADER].copy_from_slice(&count.to_le_bytes());
        self.buf = v.into_boxed_slice();
    }
}

/// Iterator over the pairs of a packed buffer.
#[derive(Clone, Debug)]
struct PackedPairs<'a> {
    entries: Entries<'a>,
}

impl<'a> Iterator for PackedPairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (_, f) = self.entries.next()?;
        let (_, v) = self.entries.next()?;
        Some((f, v))
    }
}

#[derive(Clone)]
enum Repr {
    Packed(Packed),
    Table(Box<ChainTable<Pair>>),
}

/// The hash value.
#[derive(Clone)]
pub struct HashValue {
    repr: Repr,
}

impl Default for HashValue {
    fn default() -> Self {
        HashValue::new()
    }
}

/// Iterator over `(field, value)` pairs.
#[derive(Debug)]
pub struct Iter<'a>(IterRepr<'a>);

#[derive(Debug)]
enum IterRepr<'a> {
    Packed(PackedPairs<'a>),
    Table(chain::Iter<'a, Pair>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Packed(p) => p.next(),
            IterRepr::Table(t) => t.next().map(|p| (p.field.as_slice(), p.value.as_slice())),
        }
    }
}

fn encode_entry(out: &mut Vec<u8>, data: &[u8]) {
    put_len(out, data.len());
    out.extend_from_slice(data);
}

impl HashValue {
    /// An empty hash in the `listpack` encoding.
    pub fn new() -> HashValue {
        HashValue {
            repr: Repr::Packed(Packed::default()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        match &self.repr {
            Repr::Packed(p) => p.buf.is_empty(),
            Repr::Table(t) => t.is_empty(),
        }
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True in the `listpack` encoding (HSCAN then returns everything at once).
    pub fn is_packed(&self) -> bool {
        matches!(self.repr, Repr::Packed(_))
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(p) => p.find(field).map(|(_, v)| v),
            Repr::Table(t) => t.get(field).map(|p| p.value.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts to
    /// `hashtable` first when either is longer than the listpack value limit,
    /// and after adding when the pair count passes the entry limit.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: &Limits) -> bool {
        if let Repr::Packed(p) = &self.repr {
            let max = limits.hash_max_listpack_value;
            let grow = entry_size(field) + entry_size(value);
            if field.len() > max || value.len() > max || p.buf.len() + grow > PACKED_MAX_BYTES {
                self.convert();
            }
        }
        let added = match &mut self.repr {
            Repr::Packed(p) => {
                let pairs = p.len();
                if let Some((found, _)) = p.find(field) {
                    let mut entry = Vec::with_capacity(entry_size(value));
                    encode_entry(&mut entry, value);
                    p.splice(found.value_at..found.end, &entry, pairs);
                    false
                } else {
                    let mut entries = Vec::with_capacity(entry_size(field) + entry_size(value));
                    encode_entry(&mut entries, field);
                    encode_entry(&mut entries, value);
                    let end = p.buf.len();
                    p.splice(end..end, &entries, pairs + 1);
                    true
                }
            }
            Repr::Table(t) => {
                if let Some(pair) = t.get_mut(field) {
                    pair.value = SmallBytes::from_slice(value);
                    false
                } else {
                    t.insert_new(Pair {
                        field: SmallBytes::from_slice(field),
                        value: SmallBytes::from_slice(value),
                    });
                    true
                }
            }
        };
        if added && self.is_packed() && self.len() > limits.hash_max_listpack_entries {
            self.convert();
        }
        added
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(p) => {
                let pairs = p.len();
                match p.find(field) {
                    Some((found, _)) => {
                        p.splice(found.field_at..found.end, &[], pairs - 1);
                        true
                    }
                    None => false,
                }
            }
            Repr::Table(t) => t.remove(field).is_some(),
        }
    }

    /// Every pair: insertion order when packed, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.repr {
            Repr::Packed(p) => IterRepr::Packed(p.pairs()),
            Repr::Table(t) => IterRepr::Table(t.iter()),
        })
    }

    /// A random pair, or `None` when empty. O(n) when packed: callers that
    /// need many should collect [`HashValue::iter`] once instead.
    pub fn random_pair(&self) -> Option<(&[u8], &[u8])> {
        match &self.repr {
            Repr::Packed(p) => {
                let n = p.len();
                if n == 0 {
                    return None;
                }
                p.pairs().nth(fastrand::usize(..n))
            }
            Repr::Table(t) => t.random().map(|p| (p.field.as_slice(), p.value.as_slice())),
        }
    }

    /// One HSCAN step: calls `f` for each pair examined and returns the next
    /// cursor (0 when done). Packed hashes return everything at once, as Redis
    /// does for listpacks; see [`chain::ChainTable::scan`] for the rest.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Packed(p) => {
                for (field, value) in p.pairs() {
                    f(field, value);
                }
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |p| f(&p.field, &p.value)),
        }
    }

    /// Converts to the `hashtable` encoding (one way, as in Redis).
    fn convert(&mut self) {
        if let Repr::Packed(p) = &self.repr {
            let mut table = ChainTable::with_capacity(p.len());
            for (field, value) in p.pairs() {
                table.insert_new(Pair {
                    field: SmallBytes::from_slice(field),
                    value: SmallBytes::from_slice(value),
                });
            }
            self.repr = Repr::Table(Box::new(table));
        }
    }

    /// Mixes this value into a key digest as Redis's DEBUG DIGEST does: for
    /// each pair, `e = 0; mix(e, field); mix(e, value); k ^= SHA1(e)`, so the
    /// order of pairs does not matter.
    pub fn digest(&self, key_digest: &mut Digest) {
        for (field, value) in self.iter() {
            let mut e = [0u8; 20];
            mix_digest(&mut e, field);
            mix_digest(&mut e, value);
            xor_digest(key_digest, &e);
        }
    }

    /// Heap bytes owned (approximate; O(n) for the hashtable encoding).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Packed(p) => p.buf.len(),
            Repr::Table(t) => {
                let items: usize = t
                    .iter()
                    .map(|p| {
                        ChainTable::<Pair>::NODE_SIZE + p.field.heap_size() + p.value.heap_size()
                    })
                    .sum();
                size_of::<ChainTable<Pair>>() + items + t.bucket_count() * size_of::<usize>()
            }
        }
    }
}

impl PartialEq for HashValue {
    /// Equal contents, whatever the encodings and orders.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl fmt::Debug for HashValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (field, value) in self.iter() {
            map.entry(
                &String::from_utf8_lossy(field),
                &String::from_utf8_lossy(value),
            );
        }
        map.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn limits(entries: usize, value: usize) -> Limits {
        Limits {
            hash_max_listpack_entries: entries,
            hash_max_listpack_value: value,
            ..Limits::default()
        }
    }

    #[test]
    fn small_values_stay_small() {
        assert_eq!(size_of::<HashValue>(), 16);
        assert_eq!(ChainTable::<Pair>::NODE_SIZE, 56);
    }

    #[test]
    fn packed_keeps_insertion_order_and_updates_in_place() {
        let l = limits(128, 64);
        let mut h = HashValue::new();
        assert!(h.set(b"b", b"1", &l));
        assert!(h.set(b"a", b"2", &l));
        assert!(h.set(b"c", b"3", &l));
        assert!(!h.set(b"a", b"22", &l));
        let order: Vec<_> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
        assert_eq!(
            order,
            vec![
                (b"b".to_vec(), b"1".to_vec()),
                (b"a".to_vec(), b"22".to_vec()),
                (b"c".to_vec(), b"3".to_vec())
            ]
        );
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert_eq!(h.iter().next(), Some((&b"a"[..], &b"22"[..])));
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.heap_size(), HEADER + 2 + 3 + 2 + 2);
    }

    #[test]
    fn saturated_count_is_walked() {
        let l = limits(128, 64);
        let mut h = HashValue::new();
        h.set(b"a", b"1", &l);
        h.set(b"b", b"2", &l);
        if let Repr::Packed(p) = &mut h.repr {
            p.buf[..HEADER].copy_from_slice(&u16::MAX.to_le_bytes());
            assert_eq!(p.len(), 2);
            p.splice(0..0, &[], 70_000);
            assert_eq!(&p.buf[..HEADER], &u16::MAX.to_le_bytes());
            p.splice(0..0, &[], 3);
            assert_eq!(&p.buf[..HEADER], &3u16.to_le_bytes());
        }
    }

    #[test]
    fn converts_on_entries_and_lengths() {
        let l = limits(3, 5);
        let mut h = HashValue::new();
        for f in ["a", "b", "c"] {
            h.set(f.as_bytes(), b"v", &l);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"d", b"v", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 4);
        // One way: emptying it keeps the encoding.
        for f in ["a", "b", "c"] {
            h.remove(f.as_bytes());
        }
        assert_eq!(h.encoding(), "hashtable");

        let mut h = HashValue::new();
        h.set(b"f", b"12345", &l);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f", b"123456", &l);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"f"), Some(&b"123456"[..]));

        let mut h = HashValue::new();
        h.set(b"field6", b"v", &l);
        assert_eq!(h.encoding(), "hashtable");

        let mut h = HashValue::new();
        h.set(b"f", b"v", &limits(0, 5));
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn long_entries_use_multibyte_lengths() {
        let l = limits(10, 100_000);
        let mut h = HashValue::new();
        let big = vec![b'x'; 300];
        h.set(&big, &big, &l);
        h.set(b"k", b"", &l);
        assert_eq!(h.get(&big), Some(&big[..]));
        assert_eq!(h.get(b"k"), Some(&b""[..]));
        assert!(h.remove(&big));
        assert_eq!(h.len(), 1);
        assert_eq!(h.heap_size(), HEADER + 3);
        assert!(h.remove(b"k"));
        assert!(h.is_empty());
        assert_eq!(h.heap_size(), 0);
    }

    #[test]
    fn table_scan_returns_all_present_throughout() {
        let l = limits(0, 64);
        let mut h = HashValue::new();
        for i in 0..3000 {
            h.set(format!("stable:{i}").as_bytes(), b"v", &l);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        let mut calls = 0;
        loop {
            cursor = h.scan(cursor, 10, |f, _| {
                seen.insert(f.to_vec());
            });
            calls += 1;
            // Grow, then shrink the table between steps.
            if round < 30 {
                for j in 0..400 {
                    h.set(format!("churn:{round}:{j}").as_bytes(), b"v", &l);
                }
            } else {
                for r in 0..30 {
                    for j in 0..400 {
                        h.remove(format!("churn:{r}:{j}").as_bytes());
                    }
                }
            }
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(calls > 100, "{calls}");
        for i in 0..3000 {
            assert!(
                seen.contains(format!("stable:{i}").as_bytes()),
                "missing {i}"
            );
        }
    }

    #[test]
    fn table_scan_without_writes_returns_each_once() {
        let l = limits(0, 64);
        let mut h = HashValue::new();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", &l);
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = h.scan(cursor, 7, |f, _| seen.push(f.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 1000);
        assert_eq!(unique.len(), 1000);
        assert_eq!(h.scan(u64::MAX, 10, |_, _| panic!("past the end")), 0);
    }

    #[test]
    fn random_pair_reaches_every_field() {
        for l in [limits(128, 64), limits(0, 64)] {
            let mut h = HashValue::new();
            for i in 0..20 {
                h.set(format!("f{i}").as_bytes(), b"v", &l);
            }
            let mut seen = HashSet::new();
            for _ in 0..2000 {
                let (f, _) = h.random_pair().expect("non-empty");
                seen.insert(f.to_vec());
            }
            assert_eq!(seen.len(), 20);
        }
        assert!(HashValue::new().random_pair().is_none());
    }

    #[test]
    fn digest_ignores_order_and_encoding() {
        let mut a = HashValue::new();
        let mut b = HashValue::new();
        a.set(b"x", b"1", &limits(128, 64));
        a.set(b"y", b"2", &limits(128, 64));
        b.set(b"y", b"2", &limits(0, 64));
        b.set(b"x", b"1", &limits(0, 64));
        let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
        a.digest(&mut da);
        b.digest(&mut db);
        assert_eq!(da, db);
        assert_eq!(a, b);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Set(u8, u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..40, 0u8..80).prop_map(|(f, v)| Op::Set(f, v)),
            1 => (0u8..40).prop_map(Op::Remove),
        ]
    }

    fn field(f: u8) -> Vec<u8> {
        format!("field-{f}").into_bytes()
    }

    fn value(v: u8) -> Vec<u8> {
        // Lengths 0..80 cross a value limit of 64.
        vec![b'a' + v % 26; usize::from(v)]
    }

    proptest! {
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..200), entries in 0usize..40) {
            let l = limits(entries, 64);
            let mut h = HashValue::new();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            let mut order: Vec<Vec<u8>> = Vec::new();
            let mut must_be_table = false;
            for op in ops {
                match op {
                    Op::Set(f, v) => {
                        let (f, v) = (field(f), value(v));
                        let added = h.set(&f, &v, &l);
                        prop_assert_eq!(added, model.insert(f.clone(), v.clone()).is_none());
                        if added {
                            order.push(f);
                        }
                        if v.len() > 64 || model.len() > entries {
                            must_be_table = true;
                        }
                    }
                    Op::Remove(f) => {
                        let f = field(f);
                        prop_assert_eq!(h.remove(&f), model.remove(&f).is_some());
                        order.retain(|x| *x != f);
                    }
                }
                prop_assert_eq!(h.len(), model.len());
                prop_assert_eq!(h.encoding() == "hashtable", must_be_table);
            }
            for (f, v) in &model {
                prop_assert_eq!(h.get(f), Some(&v[..]));
            }
            let got: HashMap<Vec<u8>, Vec<u8>> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            prop_assert_eq!(&got, &model);
            if h.is_packed() {
                let fields: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.to_vec()).collect();
                prop_assert_eq!(fields, order);
            }
            let mut scanned = HashMap::new();
            let mut cursor = 0;
            loop {
                cursor = h.scan(cursor, 3, |f, v| {
                    scanned.insert(f.to_vec(), v.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            prop_assert_eq!(&scanned, &model);
        }
    }
}
