//! The set type.
//!
//! Encodings, as Redis 7.0 names them in `OBJECT ENCODING` (7.0 has no
//! listpack sets; they came in 7.2):
//! - `intset`: the members as sorted integers packed at the narrowest width
//!   (2, 4 or 8 bytes, little-endian) that fits every member, like Redis's
//!   intset, which also never narrows again. Iteration is ascending, which is
//!   the order SMEMBERS shows for such sets in Redis.
//! - `hashtable`: a [`ChainTable`] of members.
//!
//! A set is an intset while every member is the canonical text of an i64
//! (`string2ll`: no `+`, no leading zeros, no `-0`) and it has at most
//! `set-max-intset-entries` members (capped at 2^30 as Redis does); it
//! converts once, never back, when either stops being true.
//!
//! Memory: a `SetValue` is 16 bytes; an intset owns one exact-size buffer
//! (1 width byte + 2/4/8 bytes per member); a hashtable, behind its own box,
//! costs one 32-byte node per member (members up to 22 bytes inline) plus
//! about one bucket pointer per member.
//!
//! Invariants:
//! - An intset's buffer is empty when it has no members; otherwise it is its
//!   width byte followed by a multiple of that width of value bytes, values
//!   strictly ascending, with no spare capacity.
//! - No member appears twice.

use std::fmt;

use crate::digest::{xor_digest, Digest};
use crate::num;
use crate::types::hash::chain::{ChainTable, Keyed};
use crate::types::Limits;
use crate::SmallBytes;

/// Redis caps `set-max-intset-entries` at 2^30 (intset internals).
const INTSET_MAX_ENTRIES: usize = 1 << 30;

impl Keyed for SmallBytes {
    fn key(&self) -> &[u8] {
        self.as_slice()
    }
}

/// Sorted integers at a uniform width: `[width][values...]`, or an empty
/// buffer (no allocation) for no members.
#[derive(Clone, Default)]
struct IntSet {
    data: Box<[u8]>,
}

fn width_for(v: i64) -> u8 {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn encode(v: i64, width: u8, out: &mut Vec<u8>) {
    match width {
        2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
        4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
        _ => out.extend_from_slice(&v.to_le_bytes()),
    }
}

impl IntSet {
    /// Bytes per member: 2, 4 or 8.
    fn width(&self) -> u8 {
        self.data.first().copied().unwrap_or(2)
    }

    fn values(&self) -> &[u8] {
        self.data.get(1..).unwrap_or_default()
    }

    fn len(&self) -> usize {
        self.values().len() / usize::from(self.width())
    }

    fn get(&self, i: usize) -> i64 {
        let w = usize::from(self.width());
        let b = &self.values()[i * w..(i + 1) * w];
        match b {
            [a, b] => i64::from(i16::from_le_bytes([*a, *b])),
            [a, b, c, d] => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => {
                let mut x = [0u8; 8];
                x.copy_from_slice(b);
                i64::from_le_bytes(x)
            }
        }
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        if width_for(v) > self.width() {
            // Out of this width's range: below or above every member.
            return Err(if v < 0 { 0 } else { self.len() });
        }
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).cmp(&v) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(mid),
            }
        }
        Err(lo)
    }

    fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn insert(&mut self, v: i64) -> bool {
        let Err(at) = self.search(v) else {
            return false;
        };
        let width = self.width();
        let need = width_for(v).max(width);
        let w = usize::from(need);
        let mut out = Vec::with_capacity(1 + (self.len() + 1) * w);
        out.push(need);
        if need == width {
            let split = at * w;
            out.extend_from_slice(&self.values()[..split]);
            encode(v, need, &mut out);
            out.extend_from_slice(&self.values()[split..]);
        } else {
            // Upgrade: re-encode every member at the new width.
            for i in 0..at {
                encode(self.get(i), need, &mut out);
            }
            encode(v, need, &mut out);
            for i in at..self.len() {
                encode(self.get(i), need, &mut out);
            }
        }
        self.data = out.into_boxed_slice();
        true
    }

    fn remove(&mut self, v: i64) -> bool {
        let Ok(at) = self.search(v) else {
            return false;
        };
        if self.len() == 1 {
            self.data = Box::new([]);
            return true;
        }
        let w = usize::from(self.width());
        let mut out = std::mem::take(&mut self.data).into_vec();
        out.drain(1 + at * w..1 + (at + 1) * w);
        self.data = out.into_boxed_slice();
        true
    }

    fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

#[derive(Clone)]
enum Repr {
    Ints(IntSet),
    Table(Box<ChainTable<SmallBytes>>),
}

/// The set value.
#[derive(Clone)]
pub struct SetValue {
    repr: Repr,
}

impl Default for SetValue {
    fn default() -> Self {
        SetValue::new()
    }
}

/// A member as stored: an intset integer or a string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes (an integer's decimal text).
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Member::Int(v) => num::i64_to_bytes(*v),
            Member::Bytes(b) => b.to_vec(),
        }
    }

    /// Calls `f` with the member's bytes, without allocating for integers.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(v) => {
                let mut buf = [0u8; 20];
                let text = fmt_i64(*v, &mut buf);
                f(text)
            }
            Member::Bytes(b) => f(b),
        }
    }
}

/// Writes the decimal text of `v` at the end of `buf` and returns it.
fn fmt_i64(v: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = v.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        // i64::MIN has 19 digits, so there is always room for the sign.
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Iterator over a set's members.
#[derive(Debug)]
pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Ints(&'a IntSet, usize),
    Table(crate::types::hash::chain::Iter<'a, SmallBytes>),
}

impl fmt::Debug for IterRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("set::Iter")
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.0 {
            IterRepr::Ints(set, i) => {
                if *i < set.len() {
                    *i += 1;
                    Some(Member::Int(set.get(*i - 1)))
                } else {
                    None
                }
            }
            IterRepr::Table(t) => t.next().map(|m| Member::Bytes(m.as_slice())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterRepr::Ints(set, i) => set.len() - *i,
            IterRepr::Table(t) => t.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl SetValue {
    /// An empty set in the `intset` encoding (Redis's `createIntsetObject`;
    /// the first non-integer member converts it).
    pub fn new() -> SetValue {
        SetValue {
            repr: Repr::Ints(IntSet::default()),
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match self.repr {
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True in the `intset` encoding (SSCAN then returns everything at once).
    pub fn is_intset(&self) -> bool {
        matches!(self.repr, Repr::Ints(_))
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(s) => num::parse_i64(member).is_some_and(|v| s.contains(v)),
            Repr::Table(t) => t.get(member).is_some(),
        }
    }

    /// Adds `member`; true if it was not there.
    pub fn add(&mut self, member: &[u8], limits: &Limits) -> bool {
        if let Repr::Ints(s) = &mut self.repr {
            match num::parse_i64(member) {
                Some(v) => {
                    if !s.insert(v) {
                        return false;
                    }
                    let max = limits.set_max_intset_entries.min(INTSET_MAX_ENTRIES);
                    if s.len() > max {
                        self.convert();
                    }
                    return true;
                }
                None => self.convert(),
            }
        }
        match &mut self.repr {
            Repr::Table(t) => {
                if t.get(member).is_some() {
                    false
                } else {
                    t.insert_new(SmallBytes::from_slice(member));
                    true
                }
            }
            Repr::Ints(_) => unreachable!("converted above"),
        }
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(s) => num::parse_i64(member).is_some_and(|v| s.remove(v)),
            Repr::Table(t) => t.remove(member).is_some(),
        }
    }

    /// Every member: ascending for an intset, table order otherwise.
    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.repr {
            Repr::Ints(s) => IterRepr::Ints(s, 0),
            Repr::Table(t) => IterRepr::Table(t.iter()),
        })
    }

    /// A random member, or `None` when empty.
    pub fn random(&self) -> Option<Member<'_>> {
        match &self.repr {
            Repr::Ints(s) => {
                let n = s.len();
                (n > 0).then(|| Member::Int(s.get(fastrand::usize(..n))))
            }
            Repr::Table(t) => t.random().map(|m| Member::Bytes(m.as_slice())),
        }
    }

    /// One SSCAN step: calls `f` for each member examined and returns the next
    /// cursor (0 when done). An intset returns everything at once, as Redis
    /// does; see [`ChainTable::scan`] for the rest.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match &self.repr {
            Repr::Ints(s) => {
                for v in s.iter() {
                    f(Member::Int(v));
                }
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |m| f(Member::Bytes(m))),
        }
    }

    /// Converts to the `hashtable` encoding (one way, as in Redis).
    fn convert(&mut self) {
        if let Repr::Ints(s) = &self.repr {
            let mut table = ChainTable::with_capacity(s.len());
            for v in s.iter() {
                table.insert_new(SmallBytes::from_vec(num::i64_to_bytes(v)));
            }
            self.repr = Repr::Table(Box::new(table));
        }
    }

    /// Mixes this value into a key digest as Redis's DEBUG DIGEST does:
    /// `k ^= SHA1(member)` for each member, so order does not matter.
    pub fn digest(&self, key_digest: &mut Digest) {
        for m in self.iter() {
            m.with_bytes(|b| xor_digest(key_digest, b));
        }
    }

    /// Heap bytes owned (approximate; O(n) for the hashtable encoding).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Ints(s) => s.data.len(),
            Repr::Table(t) => {
                let items: usize = t
                    .iter()
                    .map(|m| ChainTable::<SmallBytes>::NODE_SIZE + m.heap_size())
                    .sum();
                size_of::<ChainTable<SmallBytes>>() + items + t.bucket_count() * size_of::<usize>()
            }
        }
    }
}

impl PartialEq for SetValue {
    /// Equal members, whatever the encodings.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| m.with_bytes(|b| other.contains(b)))
    }
}

impl fmt::Debug for SetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                self.iter()
                    .map(|m| String::from_utf8_lossy(&m.to_vec()).into_owned()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeSet, HashSet};

    use proptest::prelude::*;

    use super::*;

    fn limits(entries: usize) -> Limits {
        Limits {
            set_max_intset_entries: entries,
            ..Limits::default()
        }
    }

    fn members(s: &SetValue) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(size_of::<SetValue>(), 16);
        assert_eq!(ChainTable::<SmallBytes>::NODE_SIZE, 32);
    }

    #[test]
    fn intset_is_sorted_and_widens() {
        let l = limits(512);
        let mut s = SetValue::new();
        for v in ["5", "-3", "100", "5", "0"] {
            s.add(v.as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        assert_eq!(
            members(&s),
            vec![
                b"-3".to_vec(),
                b"0".to_vec(),
                b"5".to_vec(),
                b"100".to_vec()
            ]
        );
        assert_eq!(s.heap_size(), 1 + 8);
        assert!(s.add(b"70000", &l));
        assert_eq!(s.heap_size(), 1 + 20);
        assert!(s.add(b"-9223372036854775808", &l));
        assert!(s.add(b"9223372036854775807", &l));
        assert_eq!(s.heap_size(), 1 + 7 * 8);
        assert_eq!(
            members(&s).first().map(|m| m.as_slice()),
            Some(&b"-9223372036854775808"[..])
        );
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"070000"));
        assert!(!s.contains(b"99999999999"));
        assert!(s.remove(b"9223372036854775807"));
        assert!(!s.remove(b"9223372036854775807"));
        assert!(!s.remove(b"x"));
        assert_eq!(s.len(), 6);
        assert_eq!(s.encoding(), "intset");
    }

    #[test]
    fn non_canonical_integers_convert() {
        for m in ["+1", "01", "-0", " 1", "1.0", "9223372036854775808", "a"] {
            let mut s = SetValue::new();
            s.add(b"1", &limits(512));
            s.add(m.as_bytes(), &limits(512));
            assert_eq!(s.encoding(), "hashtable", "{m}");
            assert!(s.contains(b"1"));
            assert!(s.contains(m.as_bytes()));
            assert_eq!(s.len(), 2);
        }
    }

    #[test]
    fn converts_past_the_entry_limit() {
        let l = limits(3);
        let mut s = SetValue::new();
        for v in 0..3 {
            s.add(v.to_string().as_bytes(), &l);
        }
        assert_eq!(s.encoding(), "intset");
        assert!(!s.add(b"2", &l));
        assert_eq!(s.encoding(), "intset");
        s.add(b"3", &l);
        assert_eq!(s.encoding(), "hashtable");
        let mut s = SetValue::new();
        s.add(b"1", &limits(0));
        assert_eq!(s.encoding(), "hashtable");
    }

    #[test]
    fn fmt_i64_matches_std() {
        for v in [0, 1, -1, 42, i64::MIN, i64::MAX, -1000] {
            let mut buf = [0u8; 20];
            assert_eq!(fmt_i64(v, &mut buf), v.to_string().as_bytes());
        }
    }

    #[test]
    fn random_members_of_a_table_are_uniform() {
        // A chi-square check like Redis's SRANDMEMBER test: 16 members in
        // 16 buckets, 32,000 draws, over 30 different member sets so that
        // most runs see a chain longer than the usual depth (the hash seed
        // differs per run). 65 is far past any fair outcome (df = 15,
        // p < 1e-7); one chain of five unfairly drawn scores about 300.
        for set in 0..30 {
            let mut s = SetValue::new();
            for v in 0..16 {
                s.add(format!("set{set}-member-{v}").as_bytes(), &limits(0));
            }
            let mut counts = std::collections::HashMap::new();
            for _ in 0..32_000 {
                *counts
                    .entry(s.random().expect("non-empty").to_vec())
                    .or_insert(0u32) += 1;
            }
            let expected = 2_000.0;
            let chi: f64 = counts
                .values()
                .map(|&c| (f64::from(c) - expected).powi(2) / expected)
                .sum();
            assert_eq!(counts.len(), 16);
            assert!(chi < 65.0, "set {set}: chi-square {chi}: {counts:?}");
        }
    }

    #[test]
    fn random_and_scan_cover_everything() {
        for l in [limits(512), limits(0)] {
            let mut s = SetValue::new();
            for v in 0..50 {
                s.add(v.to_string().as_bytes(), &l);
            }
            let mut seen = HashSet::new();
            for _ in 0..5000 {
                seen.insert(s.random().expect("non-empty").to_vec());
            }
            assert_eq!(seen.len(), 50);
            let mut scanned = HashSet::new();
            let mut cursor = 0;
            loop {
                cursor = s.scan(cursor, 5, |m| {
                    scanned.insert(m.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            assert_eq!(scanned.len(), 50);
        }
        assert!(SetValue::new().random().is_none());
    }

    #[test]
    fn digest_and_equality_ignore_encoding() {
        let mut a = SetValue::new();
        let mut b = SetValue::new();
        for v in ["1", "2", "3"] {
            a.add(v.as_bytes(), &limits(512));
            b.add(v.as_bytes(), &limits(0));
        }
        assert_eq!(a, b);
        let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
        a.digest(&mut da);
        b.digest(&mut db);
        assert_eq!(da, db);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Add(Vec<u8>),
        Remove(Vec<u8>),
    }

    fn member() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => (-300i64..300).prop_map(|v| v.to_string().into_bytes()),
            1 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            1 => "[a-c0-9+-]{0,3}".prop_map(String::into_bytes),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => member().prop_map(Op::Add),
            1 => member().prop_map(Op::Remove),
        ]
    }

    proptest! {
        #[test]
        fn matches_a_model(ops in proptest::collection::vec(op(), 0..300), entries in 0usize..100) {
            let l = limits(entries);
            let mut s = SetValue::new();
            let mut model: BTreeSet<Vec<u8>> = BTreeSet::new();
            let mut must_be_table = false;
            for op in ops {
                match op {
                    Op::Add(m) => {
                        prop_assert_eq!(s.add(&m, &l), model.insert(m.clone()));
                        if num::parse_i64(&m).is_none() || model.len() > entries {
                            must_be_table = true;
                        }
                    }
                    Op::Remove(m) => {
                        prop_assert_eq!(s.remove(&m), model.remove(&m));
                    }
                }
                prop_assert_eq!(s.len(), model.len());
                prop_assert_eq!(s.encoding() == "hashtable", must_be_table);
            }
            for m in &model {
                prop_assert!(s.contains(m));
            }
            let got: BTreeSet<Vec<u8>> = members(&s).into_iter().collect();
            prop_assert_eq!(&got, &model);
            if s.is_intset() {
                let ints: Vec<i64> = s.iter().map(|m| match m {
                    Member::Int(v) => v,
                    Member::Bytes(_) => i64::MIN,
                }).collect();
                let mut sorted = ints.clone();
                sorted.sort_unstable();
                prop_assert_eq!(ints, sorted);
            }
            let mut scanned = BTreeSet::new();
            let mut cursor = 0;
            loop {
                cursor = s.scan(cursor, 4, |m| {
                    scanned.insert(m.to_vec());
                });
                if cursor == 0 {
                    break;
                }
            }
            prop_assert_eq!(&scanned, &model);
        }
    }
}
