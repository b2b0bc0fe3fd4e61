//! The list type.
//!
//! A list is a double-ended queue of [`SmallBytes`]: pushes and pops at either
//! end are O(1), and so is reaching any element by index (Redis's quicklist is
//! O(N) there). Indexes follow Redis: negative ones count from the tail, `-1`
//! being the last element.
//!
//! Redis 7.0 reports every list as `quicklist` (listpack-encoded lists came in
//! 7.2), so the encoding name does not depend on size and
//! `list-max-listpack-size` does not affect it.
//!
//! Invariants:
//! - `heap_bytes` is the sum of the elements' [`SmallBytes::heap_size`]; every
//!   mutation goes through a method of this module, which keeps it exact.
//! - The type never refuses to become empty; the commands delete the key when
//!   it does, because Redis never keeps an empty list.

use std::collections::VecDeque;
use std::ops::Range;

use crate::digest::{mix_digest, Digest};
use crate::SmallBytes;

/// One end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The first element (LEFT, LPUSH, LPOP).
    Head,
    /// The last element (RIGHT, RPUSH, RPOP).
    Tail,
}

/// The list value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListValue {
    items: VecDeque<SmallBytes>,
    heap_bytes: usize,
}

/// Below this capacity a list never gives memory back after pops.
const SHRINK_MIN_CAPACITY: usize = 64;

impl ListValue {
    pub fn new() -> ListValue {
        ListValue::default()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// OBJECT ENCODING name: always `quicklist`, as in Redis 7.0.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Mixes this value into a key digest as Redis's DEBUG DIGEST does: each
    /// element in order, head first.
    pub fn digest(&self, key_digest: &mut Digest) {
        for elem in &self.items {
            mix_digest(key_digest, elem);
        }
    }

    /// Heap bytes owned (approximate): the element slots plus the bytes of
    /// elements too long to be stored inline.
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * size_of::<SmallBytes>() + self.heap_bytes
    }

    /// The elements, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &SmallBytes> + ExactSizeIterator {
        self.items.iter()
    }

    /// Adds `elem` at `end`.
    pub fn push(&mut self, end: End, elem: &[u8]) {
        let elem = SmallBytes::from_slice(elem);
        self.heap_bytes += elem.heap_size();
        match end {
            End::Head => self.items.push_front(elem),
            End::Tail => self.items.push_back(elem),
        }
    }

    /// Removes and returns the element at `end`.
    pub fn pop(&mut self, end: End) -> Option<SmallBytes> {
        let elem = match end {
            End::Head => self.items.pop_front(),
            End::Tail => self.items.pop_back(),
        }?;
        self.heap_bytes -= elem.heap_size();
        self.maybe_shrink();
        Some(elem)
    }

    /// Removes up to `n` elements from `end` and returns them in the order
    /// they were popped (from the tail: last element first).
    pub fn pop_n(&mut self, end: End, n: usize) -> Vec<SmallBytes> {
        let n = n.min(self.items.len());
        let popped: Vec<SmallBytes> = match end {
            End::Head => self.items.drain(..n).collect(),
            End::Tail => {
                let start = self.items.len() - n;
                self.items.drain(start..).rev().collect()
            }
        };
        self.heap_bytes -= popped.iter().map(SmallBytes::heap_size).sum::<usize>();
        self.maybe_shrink();
        popped
    }

    /// The element at a Redis index (negative counts from the tail).
    pub fn index(&self, index: i64) -> Option<&SmallBytes> {
        self.items.get(self.resolve_index(index)?)
    }

    /// Replaces the element at a Redis index; false if it is out of range.
    pub fn set(&mut self, index: i64, elem: &[u8]) -> bool {
        let Some(pos) = self.resolve_index(index) else {
            return false;
        };
        let elem = SmallBytes::from_slice(elem);
        self.heap_bytes += elem.heap_size();
        let old = std::mem::replace(&mut self.items[pos], elem);
        self.heap_bytes -= old.heap_size();
        true
    }

    /// The elements from `start` to `stop` inclusive, with LRANGE's rules:
    /// negative indexes count from the tail, out-of-range ends are clamped,
    /// and an inverted or fully out-of-range span is empty.
    pub fn range(
        &self,
        start: i64,
        stop: i64,
    ) -> impl DoubleEndedIterator<Item = &SmallBytes> + ExactSizeIterator {
        self.items.range(self.resolve_range(start, stop))
    }

    /// Keeps only the elements LRANGE `start` `stop` would return (LTRIM).
    /// Returns how many were removed.
    pub fn trim(&mut self, start: i64, stop: i64) -> usize {
        let keep = self.resolve_range(start, stop);
        let len = self.items.len();
        let mut freed: usize = self.items.drain(keep.end..).map(|e| e.heap_size()).sum();
        freed += self
            .items
            .drain(..keep.start)
            .map(|e| e.heap_size())
            .sum::<usize>();
        self.heap_bytes -= freed;
        self.maybe_shrink();
        len - self.items.len()
    }

    /// Removes elements equal to `elem` with LREM's rules: `count > 0` removes
    /// up to `count` from the head, `count < 0` up to `-count` from the tail,
    /// `0` removes all. Returns how many were removed.
    pub fn remove(&mut self, elem: &[u8], count: i64) -> usize {
        let limit = match count {
            0 => usize::MAX,
            c => usize::try_from(c.unsigned_abs()).unwrap_or(usize::MAX),
        };
        // Positions to delete, in ascending order.
        let mut doomed: Vec<usize> = Vec::new();
        if count >= 0 {
            doomed.extend(
                self.items
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.as_slice() == elem)
                    .map(|(i, _)| i)
                    .take(limit),
            );
        } else {
            doomed.extend(
                self.items
                    .iter()
                    .enumerate()
                    .rev()
                    .filter(|(_, e)| e.as_slice() == elem)
                    .map(|(i, _)| i)
                    .take(limit),
            );
            doomed.reverse();
        }
        if doomed.is_empty() {
            return 0;
        }
        let mut next = doomed.iter().copied().peekable();
        let mut pos = 0;
        let mut freed = 0;
        self.items.retain(|e| {
            let drop = next.peek() == Some(&pos);
            if drop {
                next.next();
                freed += e.heap_size();
            }
            pos += 1;
            !drop
        });
        self.heap_bytes -= freed;
        self.maybe_shrink();
        doomed.len()
    }

    /// Inserts `elem` before (or, with `after`, after) the first element equal
    /// to `pivot`, searching from the head. False if there is no such element.
    pub fn insert(&mut self, pivot: &[u8], elem: &[u8], after: bool) -> bool {
        let Some(pos) = self.items.iter().position(|e| e.as_slice() == pivot) else {
            return false;
        };
        let elem = SmallBytes::from_slice(elem);
        self.heap_bytes += elem.heap_size();
        self.items.insert(pos + usize::from(after), elem);
        true
    }

    /// Indexes of elements equal to `elem`, with LPOS's rules.
    ///
    /// `rank` (never 0) picks the first match to report: 1 the first from the
    /// head, 2 the second, -1 the first from the tail. `count`: `None` reports
    /// at most the one match (LPOS without COUNT), `Some(0)` every match from
    /// the rank on, `Some(n)` up to `n`. `maxlen` (0 = no limit) caps how many
    /// elements are compared. Indexes are always counted from the head.
    ///
    /// `rank == i64::MIN` behaves as Redis 7.0 does on x86-64, where negating
    /// it wraps: the search runs from the tail and every match is reported,
    /// whatever `count` says.
    pub fn positions(&self, elem: &[u8], rank: i64, count: Option<u64>, maxlen: u64) -> Vec<usize> {
        debug_assert!(rank != 0, "LPOS rejects RANK 0 before searching");
        let from_tail = rank < 0;
        let rank = if from_tail { rank.wrapping_neg() } else { rank };
        let limit = if maxlen == 0 {
            usize::MAX
        } else {
            usize::try_from(maxlen).unwrap_or(usize::MAX)
        };
        let len = self.items.len();
        let order = (0..len).map(|i| if from_tail { len - 1 - i } else { i });
        let mut out = Vec::new();
        let mut matches: i64 = 0;
        for pos in order.take(limit) {
            if self.items[pos].as_slice() != elem {
                continue;
            }
            matches += 1;
            if matches < rank {
                continue;
            }
            out.push(pos);
            match count {
                None => break,
                Some(0) => {}
                Some(n) => {
                    // matches - rank + 1 reported so far; wraps (and never
                    // stops) for rank == i64::MIN, as in Redis.
                    let reported = matches.wrapping_sub(rank).wrapping_add(1);
                    if reported >= 0 && reported as u64 >= n {
                        break;
                    }
                }
            }
        }
        out
    }

    /// A Redis index as a position, if it is in range.
    fn resolve_index(&self, index: i64) -> Option<usize> {
        let len = self.items.len() as i64;
        let pos = if index < 0 { len + index } else { index };
        (0..len).contains(&pos).then_some(pos as usize)
    }

    /// LRANGE's `start`/`stop` as a range of positions (possibly empty).
    fn resolve_range(&self, start: i64, stop: i64) -> Range<usize> {
        let len = self.items.len() as i64;
        let start = if start < 0 { len + start } else { start }.max(0);
        let stop = if stop < 0 { len + stop } else { stop };
        if start > stop || start >= len {
            return 0..0;
        }
        let stop = stop.min(len - 1);
        start as usize..stop as usize + 1
    }

    /// Gives memory back once a list has shrunk to a small part of its capacity.
    fn maybe_shrink(&mut self) {
        let cap = self.items.capacity();
        if cap > SHRINK_MIN_CAPACITY && self.items.len() < cap / 4 {
            self.items.shrink_to(self.items.len() * 2);
        }
    }
}

impl FromIterator<SmallBytes> for ListValue {
    fn from_iter<I: IntoIterator<Item = SmallBytes>>(iter: I) -> ListValue {
        let items: VecDeque<SmallBytes> = iter.into_iter().collect();
        let heap_bytes = items.iter().map(SmallBytes::heap_size).sum();
        ListValue { items, heap_bytes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(items: &[&str]) -> ListValue {
        items.iter().map(|s| SmallBytes::from(*s)).collect()
    }

    fn contents(l: &ListValue) -> Vec<String> {
        l.iter()
            .map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    fn strs<'a>(it: impl Iterator<Item = &'a SmallBytes>) -> Vec<String> {
        it.map(|e| String::from_utf8_lossy(e).into_owned())
            .collect()
    }

    #[test]
    fn push_pop_at_both_ends() {
        let mut l = ListValue::new();
        assert_eq!(l.encoding(), "quicklist");
        l.push(End::Tail, b"b");
        l.push(End::Head, b"a");
        l.push(End::Tail, b"c");
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.pop(End::Tail), Some(SmallBytes::from("c")));
        assert_eq!(l.pop(End::Head), Some(SmallBytes::from("a")));
        assert_eq!(l.len(), 1);
        assert_eq!(l.pop(End::Head), Some(SmallBytes::from("b")));
        assert_eq!(l.pop(End::Head), None);
        assert!(l.is_empty());
    }

    #[test]
    fn pop_n_returns_pop_order() {
        let mut l = list(&["a", "b", "c", "d"]);
        assert_eq!(strs(l.pop_n(End::Tail, 3).iter()), ["d", "c", "b"]);
        assert_eq!(strs(l.pop_n(End::Head, 5).iter()), ["a"]);
        assert!(l.is_empty());
    }

    #[test]
    fn indexes_and_ranges_follow_redis() {
        let mut l = list(&["a", "b", "c", "d"]);
        assert_eq!(l.index(0).map(|e| e.as_slice()), Some(&b"a"[..]));
        assert_eq!(l.index(-1).map(|e| e.as_slice()), Some(&b"d"[..]));
        assert_eq!(l.index(4), None);
        assert_eq!(l.index(-5), None);
        assert_eq!(l.index(i64::MIN), None);
        assert_eq!(strs(l.range(1, 2)), ["b", "c"]);
        assert_eq!(strs(l.range(-100, 100)), ["a", "b", "c", "d"]);
        assert_eq!(strs(l.range(-2, -1)), ["c", "d"]);
        assert!(l.range(3, 1).next().is_none());
        assert!(l.range(4, 10).next().is_none());
        assert!(l.range(i64::MIN, i64::MIN).next().is_none());
        assert_eq!(strs(l.range(0, i64::MAX)).len(), 4);
        assert!(l.set(-1, b"z"));
        assert!(!l.set(4, b"z"));
        assert_eq!(contents(&l), ["a", "b", "c", "z"]);
    }

    #[test]
    fn trim_keeps_the_range() {
        let mut l = list(&["a", "b", "c", "d", "e"]);
        assert_eq!(l.trim(1, -2), 2);
        assert_eq!(contents(&l), ["b", "c", "d"]);
        assert_eq!(l.trim(0, -1), 0);
        assert_eq!(l.trim(5, 10), 3);
        assert!(l.is_empty());
    }

    #[test]
    fn remove_by_count_and_direction() {
        let mut l = list(&["a", "x", "b", "x", "c", "x"]);
        assert_eq!(l.remove(b"x", -2), 2);
        assert_eq!(contents(&l), ["a", "x", "b", "c"]);
        let mut l = list(&["a", "x", "b", "x", "c", "x"]);
        assert_eq!(l.remove(b"x", 1), 1);
        assert_eq!(contents(&l), ["a", "b", "x", "c", "x"]);
        assert_eq!(l.remove(b"x", 0), 2);
        assert_eq!(l.remove(b"nope", 0), 0);
        assert_eq!(contents(&l), ["a", "b", "c"]);
        assert_eq!(l.remove(b"a", i64::MIN), 1);
    }

    #[test]
    fn insert_around_the_first_pivot() {
        let mut l = list(&["a", "p", "b", "p"]);
        assert!(l.insert(b"p", b"1", false));
        assert!(l.insert(b"p", b"2", true));
        assert!(!l.insert(b"q", b"3", true));
        assert_eq!(contents(&l), ["a", "1", "p", "2", "b", "p"]);
    }

    #[test]
    fn positions_follow_lpos() {
        // a b a c a : matches at 0, 2, 4
        let l = list(&["a", "b", "a", "c", "a"]);
        assert_eq!(l.positions(b"a", 1, None, 0), [0]);
        assert_eq!(l.positions(b"a", 2, None, 0), [2]);
        assert_eq!(l.positions(b"a", -1, None, 0), [4]);
        assert_eq!(l.positions(b"a", -3, None, 0), [0]);
        assert!(l.positions(b"a", 4, None, 0).is_empty());
        assert_eq!(l.positions(b"a", 1, Some(0), 0), [0, 2, 4]);
        assert_eq!(l.positions(b"a", 2, Some(0), 0), [2, 4]);
        assert_eq!(l.positions(b"a", 1, Some(2), 0), [0, 2]);
        assert_eq!(l.positions(b"a", -1, Some(2), 0), [4, 2]);
        assert_eq!(l.positions(b"a", 1, Some(0), 2), [0]);
        assert_eq!(l.positions(b"a", -1, Some(0), 1), [4]);
        assert!(l.positions(b"a", 2, None, 2).is_empty());
        assert_eq!(l.positions(b"a", i64::MAX, Some(0), 0), Vec::<usize>::new());
        // Redis 7.0 (x86-64) with RANK -2^63: every match from the tail.
        assert_eq!(l.positions(b"a", i64::MIN, None, 0), [4]);
        assert_eq!(l.positions(b"a", i64::MIN, Some(1), 0), [4, 2, 0]);
        assert_eq!(l.positions(b"a", i64::MIN, Some(2), 3), [4, 2]);
    }

    #[test]
    fn digest_mixes_elements_in_order() {
        let mut expected = [0u8; 20];
        mix_digest(&mut expected, b"a");
        mix_digest(&mut expected, b"b");
        let mut d = [0u8; 20];
        list(&["a", "b"]).digest(&mut d);
        assert_eq!(d, expected);
        let mut other = [0u8; 20];
        list(&["b", "a"]).digest(&mut other);
        assert_ne!(d, other);
    }

    #[test]
    fn heap_size_counts_long_elements_and_shrinks() {
        let long = [b'x'; 100];
        let mut l = ListValue::new();
        for _ in 0..1000 {
            l.push(End::Tail, &long);
        }
        assert!(l.heap_size() >= 1000 * (100 + size_of::<SmallBytes>()));
        let big = l.heap_size();
        l.pop_n(End::Head, 999);
        assert!(l.heap_size() < big / 10);
        assert_eq!(l.heap_bytes, 100);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, u8),
        Pop(bool),
        PopN(bool, usize),
        Set(i64, u8),
        Trim(i64, i64),
        Remove(u8, i64),
        Insert(u8, u8, bool),
    }

    /// Short and long (heap) elements from a small alphabet, so values repeat.
    fn elem(v: u8) -> Vec<u8> {
        if v.is_multiple_of(2) {
            vec![b'a' + v % 5]
        } else {
            vec![b'a' + v % 5; 30]
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<bool>(), 0u8..10).prop_map(|(h, v)| Op::Push(h, v)),
            1 => any::<bool>().prop_map(Op::Pop),
            1 => (any::<bool>(), 0usize..4).prop_map(|(h, n)| Op::PopN(h, n)),
            1 => (-12i64..12, 0u8..10).prop_map(|(i, v)| Op::Set(i, v)),
            1 => (-12i64..12, -12i64..12).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (0u8..10, -3i64..3).prop_map(|(v, c)| Op::Remove(v, c)),
            1 => (0u8..10, 0u8..10, any::<bool>()).prop_map(|(p, v, a)| Op::Insert(p, v, a)),
        ]
    }

    /// Redis's LRANGE arithmetic, written independently of the type.
    fn model_range(len: usize, start: i64, stop: i64) -> (usize, usize) {
        let len = len as i64;
        let mut s = if start < 0 { len + start } else { start };
        let mut e = if stop < 0 { len + stop } else { stop };
        if s < 0 {
            s = 0;
        }
        if s > e || s >= len {
            return (0, 0);
        }
        if e >= len {
            e = len - 1;
        }
        (s as usize, (e + 1) as usize)
    }

    fn model_index(len: usize, i: i64) -> Option<usize> {
        let p = if i < 0 { len as i64 + i } else { i };
        (p >= 0 && p < len as i64).then_some(p as usize)
    }

    /// LPOS by brute force: all match positions in search order, then rank and count.
    fn model_positions(
        m: &[Vec<u8>],
        e: &[u8],
        rank: i64,
        count: Option<u64>,
        maxlen: u64,
    ) -> Vec<usize> {
        let mut order: Vec<usize> = (0..m.len()).collect();
        if rank < 0 {
            order.reverse();
        }
        if maxlen > 0 {
            order.truncate(maxlen as usize);
        }
        let hits: Vec<usize> = order.into_iter().filter(|&i| m[i] == e).collect();
        let skip = rank.unsigned_abs() as usize - 1;
        let take = match count {
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => n as usize,
        };
        hits.into_iter().skip(skip).take(take).collect()
    }

    proptest! {
        #[test]
        fn behaves_like_a_vec(ops in proptest::collection::vec(op(), 0..60)) {
            let mut l = ListValue::new();
            let mut m: Vec<Vec<u8>> = Vec::new();
            for op in ops {
                match op {
                    Op::Push(head, v) => {
                        let end = if head { End::Head } else { End::Tail };
                        l.push(end, &elem(v));
                        if head { m.insert(0, elem(v)) } else { m.push(elem(v)) }
                    }
                    Op::Pop(head) => {
                        let end = if head { End::Head } else { End::Tail };
                        let got = l.pop(end).map(|e| e.to_vec());
                        let want = if m.is_empty() {
                            None
                        } else if head {
                            Some(m.remove(0))
                        } else {
                            m.pop()
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::PopN(head, n) => {
                        let end = if head { End::Head } else { End::Tail };
                        let got: Vec<Vec<u8>> = l.pop_n(end, n).iter().map(|e| e.to_vec()).collect();
                        let k = n.min(m.len());
                        let want: Vec<Vec<u8>> = if head {
                            m.drain(..k).collect()
                        } else {
                            m.drain(m.len() - k..).rev().collect()
                        };
                        prop_assert_eq!(got, want);
                    }
                    Op::Set(i, v) => {
                        let ok = l.set(i, &elem(v));
                        let want = model_index(m.len(), i);
                        prop_assert_eq!(ok, want.is_some());
                        if let Some(p) = want {
                            m[p] = elem(v);
                        }
                    }
                    Op::Trim(a, b) => {
                        let removed = l.trim(a, b);
                        let (s, e) = model_range(m.len(), a, b);
                        let before = m.len();
                        m = m[s..e].to_vec();
                        prop_assert_eq!(removed, before - m.len());
                    }
                    Op::Remove(v, c) => {
                        let target = elem(v);
                        let removed = l.remove(&target, c);
                        let mut hits: Vec<usize> =
                            (0..m.len()).filter(|&i| m[i] == target).collect();
                        if c < 0 {
                            hits.reverse();
                        }
                        if c != 0 {
                            hits.truncate(c.unsigned_abs() as usize);
                        }
                        hits.sort_unstable();
                        for &i in hits.iter().rev() {
                            m.remove(i);
                        }
                        prop_assert_eq!(removed, hits.len());
                    }
                    Op::Insert(p, v, after) => {
                        let ok = l.insert(&elem(p), &elem(v), after);
                        let at = m.iter().position(|e| *e == elem(p));
                        prop_assert_eq!(ok, at.is_some());
                        if let Some(i) = at {
                            m.insert(i + usize::from(after), elem(v));
                        }
                    }
                }
                let got: Vec<Vec<u8>> = l.iter().map(|e| e.to_vec()).collect();
                prop_assert_eq!(&got, &m);
                prop_assert_eq!(l.len(), m.len());
                let heap: usize = m.iter().filter(|e| e.len() > crate::bytes_small::INLINE_CAP)
                    .map(Vec::len).sum();
                prop_assert_eq!(l.heap_bytes, heap);
            }
            // Reads over the final state.
            for i in -8i64..8 {
                prop_assert_eq!(
                    l.index(i).map(|e| e.to_vec()),
                    model_index(m.len(), i).map(|p| m[p].clone())
                );
                for j in -8i64..8 {
                    let (s, e) = model_range(m.len(), i, j);
                    let got: Vec<Vec<u8>> = l.range(i, j).map(|e| e.to_vec()).collect();
                    prop_assert_eq!(got, m[s..e].to_vec());
                }
            }
            for v in 0u8..10 {
                let target = elem(v);
                for rank in [-3i64, -2, -1, 1, 2, 3] {
                    for count in [None, Some(0), Some(1), Some(2)] {
                        for maxlen in [0u64, 1, 3] {
                            prop_assert_eq!(
                                l.positions(&target, rank, count, maxlen),
                                model_positions(&m, &target, rank, count, maxlen)
                            );
                        }
                    }
                }
            }
        }
    }
}
