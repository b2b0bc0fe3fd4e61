//! The sorted set type.
//!
//! Two encodings, named as `OBJECT ENCODING` names Redis 7.0's:
//! - `listpack`: a `Vec` of (member, score) pairs sorted by (score, member
//!   bytes). Used while the set has at most `zset-max-listpack-entries`
//!   members, none longer than `zset-max-listpack-value` bytes. Redis's
//!   listpack stores an integral score as an integer, so a `-0` score reads
//!   back as `0`; this encoding keeps that quirk.
//! - `skiplist`: a member -> score dictionary plus an order index (a counted
//!   B+tree, in `zset_index`) ordered by (score, member bytes): lookup
//!   by member is O(1), rank, element at a rank, insert and remove are
//!   O(log n) with wide nodes, so only the last levels miss the cache.
//!
//! Conversion is one way, listpack -> skiplist, when an added member would
//! break a limit. Only a value built from scratch by a store command
//! ([`ZSetValue::from_pairs`]) picks the compact encoding when it fits, as
//! Redis's `zsetConvertToListpackIfNeeded` does.
//!
//! The dictionary is a set of hash tables picked by the top bits of a 63-bit
//! member hash (fixed for the life of the process). ZSCAN visits members in
//! hash order, so its cursor (the next hash to visit) stays valid however
//! the set changes or reshards between calls: every member present for a
//! whole scan is returned.
//!
//! Invariants:
//! - Scores are never NaN; callers refuse NaN before it reaches this module.
//! - Both encodings hold exactly the same (member, score) pairs in the same
//!   order; in `skiplist` the dictionary and the tree agree.
//! - Equal scores compare equal (`-0 == 0`) and are ordered by member bytes.
//! - `member_heap` is the sum of the members' heap bytes (each member once).
//! - The type may become empty; the commands delete the key when it does.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::bytes_small::INLINE_CAP;
use crate::digest::{mix_digest, xor_digest, Digest};
use crate::num::{fmt_g17, i64_to_bytes};
use crate::types::Limits;
use crate::SmallBytes;

use super::zset_index::{OrderIndex, OrderIter};

/// The heap bytes a member takes as a [`SmallBytes`].
fn heap_of(member: &[u8]) -> usize {
    if member.len() > INLINE_CAP {
        member.len()
    } else {
        0
    }
}

// ---------------------------------------------------------------------------
// Number parsing with C's strtod rules
// ---------------------------------------------------------------------------

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A float literal as C's `strtod` reads it, when it spans all of `text`:
/// its value and whether strtod would report ERANGE with a result of zero or
/// infinity (an overflow or an underflow to zero). NaN literals give NaN.
fn c_float(text: &[u8]) -> Option<(f64, bool)> {
    c_float_exact(text).map(|(v, range_error, _)| (v, range_error))
}

/// [`c_float`], plus whether the value is exactly the literal's. Only
/// results below the smallest normal double need to know: glibc reports
/// ERANGE for those when they are inexact. A decimal literal is taken as
/// inexact there (an exact one needs hundreds of digits).
fn c_float_exact(text: &[u8]) -> Option<(f64, bool, bool)> {
    let (negative, body) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let value = if lower == b"inf" || lower == b"infinity" {
        return Some((
            if negative {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            },
            false,
            true,
        ));
    } else if lower.starts_with(b"nan") {
        // strtod takes "nan" and "nan(chars)"; either way the result is refused.
        return Some((f64::NAN, false, true));
    } else if lower.starts_with(b"0x") {
        hex_float(&lower[2..])?
    } else {
        if matches!(body.first(), Some(b'+' | b'-')) {
            return None;
        }
        let s = std::str::from_utf8(body).ok()?;
        // Rust's grammar for finite decimals is C's: digits with an optional
        // point and exponent, "1." and ".5" included.
        if !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            return None;
        }
        let v: f64 = s.parse().ok()?;
        let mantissa = s.split(['e', 'E']).next().unwrap_or("");
        let nonzero = mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
        (
            v,
            v.is_infinite() || (v == 0.0 && nonzero),
            v >= f64::MIN_POSITIVE,
        )
    };
    let (v, range_error, exact) = value;
    Some((if negative { -v } else { v }, range_error, exact))
}

/// C's `strtod` over a C string, as SORT reads a weight: the text ends at
/// the first NUL byte, leading space is skipped, and the rest must be the
/// whole number (so the empty string is 0). Returns the value (NaN for a
/// NaN literal) and whether glibc sets ERANGE: on overflow, on underflow to
/// zero, and for an inexact result below the smallest normal double.
pub fn parse_c_double(arg: &[u8]) -> Option<(f64, bool)> {
    let text = match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    };
    if text.is_empty() {
        return Some((0.0, false));
    }
    let start = text.iter().position(|&b| !is_c_space(b))?;
    let (v, range_error, exact) = c_float_exact(&text[start..])?;
    let tiny = v != 0.0 && v.abs() < f64::MIN_POSITIVE;
    Some((v, range_error || (tiny && !exact)))
}

/// The part of a hexadecimal float after `0x` (already lower case):
/// `hexdigits[.hexdigits][p[sign]digits]`. Returns the value, the range
/// error of [`c_float`] and whether a result below the smallest normal
/// double is exact.
fn hex_float(s: &[u8]) -> Option<(f64, bool, bool)> {
    let (mantissa, exp) = match s.iter().position(|&b| b == b'p') {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
        Some(p) => (&mantissa[..p], &mantissa[p + 1..]),
        None => (mantissa, &[][..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut bits: u64 = 0;
    let mut scale: i64 = 0;
    let mut sticky = false;
    let mut nonzero = false;
    for (i, &c) in int_part.iter().chain(frac_part).enumerate() {
        let d = u64::from(char::from(c).to_digit(16)?);
        nonzero |= d != 0;
        if bits >> 60 == 0 {
            bits = bits << 4 | d;
            if i >= int_part.len() {
                scale -= 4;
            }
        } else {
            sticky |= d != 0;
            if i < int_part.len() {
                scale += 4;
            }
        }
    }
    if let Some(exp) = exp {
        let (neg, digits) = match exp.first() {
            Some(b'-') => (true, &exp[1..]),
            Some(b'+') => (false, &exp[1..]),
            _ => (false, exp),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut e: i64 = 0;
        for &d in digits {
            e = (e * 10 + i64::from(d - b'0')).min(100_000);
        }
        scale += if neg { -e } else { e };
    }
    // Below the smallest normal the last bit is worth 2^-1074: the result
    // is exact when no set bit lies beneath it.
    let exact = !sticky && (bits == 0 || scale + i64::from(bits.trailing_zeros()) >= -1074);
    // Fold the lost low digits into the lowest bit so rounding sees them.
    let bits = bits | u64::from(sticky);
    let mut v = bits as f64;
    let mut scale = scale.clamp(-5000, 5000) as i32;
    while scale > 0 {
        let step = scale.min(1000);
        v *= 2f64.powi(step);
        scale -= step;
    }
    while scale < 0 {
        let step = scale.max(-1000);
        v *= 2f64.powi(step);
        scale -= step;
    }
    Some((v, v.is_infinite() || (v == 0.0 && nonzero), exact))
}

/// Parses a score, increment or weight as Redis's `getDoubleFromObject`
/// does: strtod over the whole argument, no leading space, no NaN, and no
/// overflow to infinity or underflow to zero. Hexadecimal floats and `inf`
/// spellings are accepted, as strtod accepts them.
pub fn parse_score(arg: &[u8]) -> Option<f64> {
    if arg.is_empty() || is_c_space(arg[0]) || arg.contains(&0) {
        return None;
    }
    match c_float(arg)? {
        (v, false) if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// Parses one end of a score range the way Redis's `zslParseRange` calls
/// strtod: the text ends at the first NUL byte, leading space is skipped, the
/// empty string is 0, an overflow is infinity, and NaN is refused.
fn parse_range_float(arg: &[u8]) -> Option<f64> {
    let text = match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    };
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|&b| !is_c_space(b))?;
    match c_float(&text[start..])? {
        (v, _) if v.is_nan() => None,
        (v, _) => Some(v),
    }
}

// ---------------------------------------------------------------------------
// Ranges
// ---------------------------------------------------------------------------

/// A range of elements: by score or by member. Ranges whose predicates are
/// not monotone over the set (a lex range over members with different
/// scores) give whatever the scan finds, as in Redis.
pub trait RangeSpec {
    /// True when no element can be in the range (min above max).
    fn is_empty(&self) -> bool;
    /// The element is at or above the range's minimum.
    fn gte_min(&self, score: f64, member: &[u8]) -> bool;
    /// The element is at or below the range's maximum.
    fn lte_max(&self, score: f64, member: &[u8]) -> bool;
}

/// ZRANGEBYSCORE-style bounds: `1.5`, `(1.5` (exclusive), `-inf`, `+inf`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub min_exclusive: bool,
    pub max_exclusive: bool,
}

impl ScoreRange {
    /// Parses `min` and `max` as Redis does; `None` means "ERR min or max is
    /// not a float".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, min_exclusive) = Self::parse_end(min)?;
        let (max, max_exclusive) = Self::parse_end(max)?;
        Some(ScoreRange {
            min,
            max,
            min_exclusive,
            max_exclusive,
        })
    }

    fn parse_end(arg: &[u8]) -> Option<(f64, bool)> {
        match arg.first() {
            Some(b'(') => Some((parse_range_float(&arg[1..])?, true)),
            _ => Some((parse_range_float(arg)?, false)),
        }
    }
}

impl RangeSpec for ScoreRange {
    fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_exclusive || self.max_exclusive))
    }

    fn gte_min(&self, score: f64, _member: &[u8]) -> bool {
        if self.min_exclusive {
            score > self.min
        } else {
            score >= self.min
        }
    }

    fn lte_max(&self, score: f64, _member: &[u8]) -> bool {
        if self.max_exclusive {
            score < self.max
        } else {
            score <= self.max
        }
    }
}

/// One end of a lexicographic range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: below every member.
    Min,
    /// `+`: above every member.
    Max,
    /// `[value`
    Inclusive(Vec<u8>),
    /// `(value`
    Exclusive(Vec<u8>),
}

/// Something compared in lex order: a bound's value or a member.
#[derive(Clone, Copy)]
enum LexItem<'a> {
    Min,
    Max,
    Bytes(&'a [u8]),
}

fn cmp_lex(a: LexItem<'_>, b: LexItem<'_>) -> Ordering {
    match (a, b) {
        (LexItem::Min, LexItem::Min) | (LexItem::Max, LexItem::Max) => Ordering::Equal,
        (LexItem::Min, _) | (_, LexItem::Max) => Ordering::Less,
        (LexItem::Max, _) | (_, LexItem::Min) => Ordering::Greater,
        (LexItem::Bytes(x), LexItem::Bytes(y)) => x.cmp(y),
    }
}

impl LexBound {
    /// Parses `-`, `+`, `[value` or `(value`; `None` for anything else.
    pub fn parse(arg: &[u8]) -> Option<LexBound> {
        // The value is a C string to Redis here: a NUL right after `+` or `-`
        // ends it.
        let alone = arg.len() == 1 || arg.get(1) == Some(&0);
        match arg.first() {
            Some(b'+') if alone => Some(LexBound::Max),
            Some(b'-') if alone => Some(LexBound::Min),
            Some(b'[') => Some(LexBound::Inclusive(arg[1..].to_vec())),
            Some(b'(') => Some(LexBound::Exclusive(arg[1..].to_vec())),
            _ => None,
        }
    }

    fn item(&self) -> LexItem<'_> {
        match self {
            LexBound::Min => LexItem::Min,
            LexBound::Max => LexItem::Max,
            LexBound::Inclusive(v) | LexBound::Exclusive(v) => LexItem::Bytes(v),
        }
    }

    /// Redis treats `-` and `+` as exclusive ends.
    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }
}

/// ZRANGEBYLEX-style bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    /// Parses `min` and `max`; `None` means "ERR min or max not valid string
    /// range item".
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }
}

impl RangeSpec for LexRange {
    fn is_empty(&self) -> bool {
        match cmp_lex(self.min.item(), self.max.item()) {
            Ordering::Greater => true,
            Ordering::Equal => self.min.exclusive() || self.max.exclusive(),
            Ordering::Less => false,
        }
    }

    fn gte_min(&self, _score: f64, member: &[u8]) -> bool {
        let c = cmp_lex(LexItem::Bytes(member), self.min.item());
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    fn lte_max(&self, _score: f64, member: &[u8]) -> bool {
        let c = cmp_lex(LexItem::Bytes(member), self.max.item());
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }
}

// ---------------------------------------------------------------------------
// ZADD semantics
// ---------------------------------------------------------------------------

/// ZADD's options (ZINCRBY is ZADD with `incr`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What adding one (score, member) pair does.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AddOutcome {
    /// A new member with this score.
    Added(f64),
    /// An existing member moves to this score.
    Updated(f64),
    /// An existing member already had this score: processed, nothing changes.
    Unchanged(f64),
    /// NX, XX, GT or LT refused the pair.
    Skipped,
    /// The increment gave NaN (`inf` plus `-inf`).
    Nan,
}

impl AddOutcome {
    /// True when the set changes.
    pub fn changes(self) -> bool {
        matches!(self, AddOutcome::Added(_) | AddOutcome::Updated(_))
    }
}

/// The outcome of adding `score` under `flags` to a member whose current
/// score is `current` (`None`: not a member), with Redis's `zsetAdd` rules.
pub fn add_outcome(current: Option<f64>, score: f64, flags: AddFlags) -> AddOutcome {
    if score.is_nan() {
        return AddOutcome::Nan;
    }
    match current {
        Some(_) if flags.nx => AddOutcome::Skipped,
        Some(cur) => {
            let new = if flags.incr { score + cur } else { score };
            if new.is_nan() {
                AddOutcome::Nan
            } else if (flags.lt && new >= cur) || (flags.gt && new <= cur) {
                AddOutcome::Skipped
            } else if new != cur {
                AddOutcome::Updated(new)
            } else {
                AddOutcome::Unchanged(new)
            }
        }
        None if flags.xx => AddOutcome::Skipped,
        None => AddOutcome::Added(score),
    }
}

// ---------------------------------------------------------------------------
// The order of elements
// ---------------------------------------------------------------------------

/// Orders elements by score, then member bytes. Scores are never NaN.
pub(crate) fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

// ---------------------------------------------------------------------------
// The member dictionary
// ---------------------------------------------------------------------------

/// One member of the dictionary.
#[derive(Clone, Debug)]
struct DictEntry {
    member: SmallBytes,
    score: f64,
}

impl DictEntry {
    fn hash(&self) -> u64 {
        member_hash(self.member.as_slice())
    }
}

/// Member -> score: hash tables split by the top bits of a 63-bit member
/// hash. A hash position is then a ZSCAN cursor that stays valid however the
/// set changes between calls (members are visited in hash order, a shard at
/// a time), while a lookup probes one small table: a cache miss or two, not
/// a walk down an ordered tree.
#[derive(Clone, Debug, Default)]
struct Dict {
    /// `1 << bits` tables; a member's shard is its hash's top `bits` bits.
    shards: Vec<HashTable<DictEntry>>,
    bits: u32,
    len: usize,
}

/// Members per shard past which the shard count doubles (and below an
/// eighth of which it halves).
const DICT_SHARD_TARGET: usize = 256;

/// The hash of a member: 63 bits, so cursors stay positive for clients that
/// read them signed. Seeded once per process: stable for as long as any
/// cursor can live.
fn member_hash(member: &[u8]) -> u64 {
    static HASHER: std::sync::LazyLock<hashbrown::DefaultHashBuilder> =
        std::sync::LazyLock::new(hashbrown::DefaultHashBuilder::default);
    HASHER.hash_one(member) >> 1
}

/// The hash a shard's table sees: the shard choice used the top bits, so the
/// table's tag and bucket come from the others.
fn dict_table_hash(hash: u64) -> u64 {
    hash.rotate_left(32)
}

impl Dict {
    fn shard_of(&self, hash: u64) -> usize {
        // `hash` has 63 bits; `bits` of them, from the top, pick the shard.
        (hash >> (63 - self.bits)) as usize
    }

    fn find(&self, member: &[u8]) -> Option<&DictEntry> {
        let hash = member_hash(member);
        self.shards
            .get(self.shard_of(hash))?
            .find(dict_table_hash(hash), |e| e.member.as_slice() == member)
    }

    fn get(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|e| e.score)
    }

    /// Sets a member's score; returns the old one.
    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if self.shards.is_empty() {
            self.shards.push(HashTable::new());
        }
        let hash = member_hash(member);
        let idx = self.shard_of(hash);
        let shard = &mut self.shards[idx];
        match shard.entry(
            dict_table_hash(hash),
            |e| e.member.as_slice() == member,
            |e| dict_table_hash(e.hash()),
        ) {
            hashbrown::hash_table::Entry::Occupied(mut o) => {
                Some(std::mem::replace(&mut o.get_mut().score, score))
            }
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert(DictEntry {
                    member: SmallBytes::from_slice(member),
                    score,
                });
                self.len += 1;
                if self.len > self.shards.len() * DICT_SHARD_TARGET {
                    self.reshard(self.bits + 1);
                }
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let hash = member_hash(member);
        let idx = self.shard_of(hash);
        let shard = self.shards.get_mut(idx)?;
        let found = shard.find_entry(dict_table_hash(hash), |e| e.member.as_slice() == member);
        let score = found.ok()?.remove().0.score;
        self.len -= 1;
        if self.bits > 0 && self.len < self.shards.len() * DICT_SHARD_TARGET / 8 {
            self.reshard(self.bits - 1);
        }
        Some(score)
    }

    /// Heap bytes of the tables (members' own heap bytes not included).
    fn heap_bytes(&self) -> usize {
        self.shards.capacity() * size_of::<HashTable<DictEntry>>()
            + self
                .shards
                .iter()
                .map(|t| t.capacity() * (size_of::<DictEntry>() + 1))
                .sum::<usize>()
    }

    /// Moves every entry into `1 << bits` shards, each sized for its share.
    fn reshard(&mut self, bits: u32) {
        let old = std::mem::take(&mut self.shards);
        self.bits = bits;
        let share = self.len >> bits;
        self.shards = (0..1usize << bits)
            .map(|_| HashTable::with_capacity(share))
            .collect();
        for entry in old.into_iter().flatten() {
            let hash = entry.hash();
            let idx = self.shard_of(hash);
            self.shards[idx]
                .insert_unique(dict_table_hash(hash), entry, |e| dict_table_hash(e.hash()));
        }
    }

    /// Members from hash position `cursor` on, in hash order, until at least
    /// `count` are taken (members sharing a hash are never split). Returns
    /// the next cursor (0 at the end).
    fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        let mut out = Vec::new();
        let mut pos = cursor;
        let mut idx = self.shard_of(pos);
        while let Some(shard) = self.shards.get(idx) {
            let mut found: Vec<(u64, &DictEntry)> = shard
                .iter()
                .map(|e| (e.hash(), e))
                .filter(|(h, _)| *h >= pos)
                .collect();
            found.sort_unstable_by_key(|(h, _)| *h);
            let mut last = None;
            for (h, e) in found {
                if out.len() >= count.max(1) && last != Some(h) {
                    return (h, out);
                }
                last = Some(h);
                out.push((e.member.as_slice(), e.score));
            }
            idx += 1;
            if idx >= self.shards.len() {
                break;
            }
            pos = (idx as u64) << (63 - self.bits);
        }
        (0, out)
    }
}

// ---------------------------------------------------------------------------
// The value
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, Default)]
struct Skiplist {
    dict: Dict,
    tree: OrderIndex,
}

#[derive(Clone, Debug)]
enum Repr {
    Listpack(Vec<(SmallBytes, f64)>),
    Skiplist(Box<Skiplist>),
}

/// The sorted set value.
#[derive(Clone, Debug)]
pub struct ZSetValue {
    repr: Repr,
    member_heap: usize,
}

impl Default for ZSetValue {
    fn default() -> ZSetValue {
        ZSetValue::new()
    }
}

impl PartialEq for ZSetValue {
    fn eq(&self, other: &ZSetValue) -> bool {
        self.encoding() == other.encoding()
            && self.len() == other.len()
            && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

/// How a listpack holds a score: an integral value is stored as an integer,
/// which turns `-0` into `0`.
fn listpack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

/// True when Redis's `double2ll` stores the score as an integer.
fn is_listpack_integer(score: f64) -> bool {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    (-LIMIT..=LIMIT).contains(&score) && score.fract() == 0.0
}

/// Iteration over a sorted set from a rank, forwards or backwards.
#[derive(Debug)]
pub struct ZIter<'a>(ZIterRepr<'a>);

#[derive(Debug)]
enum ZIterRepr<'a> {
    Forward(std::slice::Iter<'a, (SmallBytes, f64)>),
    Backward(std::iter::Rev<std::slice::Iter<'a, (SmallBytes, f64)>>),
    Tree(OrderIter<'a>),
}

impl<'a> Iterator for ZIter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            ZIterRepr::Forward(it) => it.next().map(|(m, s)| (m.as_slice(), *s)),
            ZIterRepr::Backward(it) => it.next().map(|(m, s)| (m.as_slice(), *s)),
            ZIterRepr::Tree(it) => it.next(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            ZIterRepr::Forward(it) => it.size_hint(),
            ZIterRepr::Backward(it) => it.size_hint(),
            ZIterRepr::Tree(it) => it.size_hint(),
        }
    }
}

impl ZSetValue {
    /// An empty set in the compact encoding.
    pub fn new() -> ZSetValue {
        ZSetValue {
            repr: Repr::Listpack(Vec::new()),
            member_heap: 0,
        }
    }

    /// An empty set that starts in the `skiplist` encoding (Redis creates one
    /// when it knows the set will be too big for a listpack).
    pub fn new_skiplist() -> ZSetValue {
        ZSetValue {
            repr: Repr::Skiplist(Box::default()),
            member_heap: 0,
        }
    }

    /// A set built from distinct members, in the compact encoding when it
    /// fits `limits` (Redis's `zsetConvertToListpackIfNeeded` after a store).
    pub fn from_pairs(pairs: Vec<(SmallBytes, f64)>, limits: &Limits) -> ZSetValue {
        let fits = pairs.len() <= limits.zset_max_listpack_entries
            && pairs
                .iter()
                .all(|(m, _)| m.len() <= limits.zset_max_listpack_value);
        let member_heap = pairs.iter().map(|(m, _)| heap_of(m)).sum();
        if fits {
            let mut v: Vec<(SmallBytes, f64)> = pairs
                .into_iter()
                .map(|(m, s)| (m, listpack_score(s)))
                .collect();
            v.sort_by(|a, b| cmp_elem(a.1, &a.0, b.1, &b.0));
            return ZSetValue {
                repr: Repr::Listpack(v),
                member_heap,
            };
        }
        let mut sl = Skiplist::default();
        for (m, s) in pairs {
            if sl.dict.insert(&m, s).is_none() {
                sl.tree.insert(m, s);
            }
        }
        ZSetValue {
            repr: Repr::Skiplist(Box::new(sl)),
            member_heap,
        }
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(sl) => sl.tree.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    /// True in the compact encoding.
    pub fn is_listpack(&self) -> bool {
        matches!(self.repr, Repr::Listpack(_))
    }

    /// Mixes this value into a key digest as Redis's DEBUG DIGEST does: per
    /// element `e = 0; mix(e, member); mix(e, "%.17g" of score); xor(k, e)`.
    pub fn digest(&self, key_digest: &mut Digest) {
        for (member, score) in self.iter() {
            let mut e = [0u8; 20];
            mix_digest(&mut e, member);
            mix_digest(&mut e, fmt_g17(score).as_bytes());
            xor_digest(key_digest, &e);
        }
    }

    /// Heap bytes owned (approximate).
    pub fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v.capacity() * size_of::<(SmallBytes, f64)>() + self.member_heap,
            Repr::Skiplist(sl) => {
                // The index (with its copy of the members' heap bytes) and a
                // dictionary entry per member, which holds the member again.
                size_of::<Skiplist>()
                    + sl.tree.heap_bytes()
                    + sl.dict.heap_bytes()
                    + self.member_heap
            }
        }
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().find(|(m, _)| m.as_slice() == member).map(|e| e.1),
            Repr::Skiplist(sl) => sl.dict.get(member),
        }
    }

    /// The 0-based rank of `member`, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Listpack(v) => v.iter().position(|(m, _)| m.as_slice() == member),
            Repr::Skiplist(sl) => {
                let score = sl.dict.get(member)?;
                Some(sl.tree.rank_of(score, member))
            }
        }
    }

    /// The element at a 0-based rank.
    pub fn get(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.repr {
            Repr::Listpack(v) => v.get(rank).map(|(m, s)| (m.as_slice(), *s)),
            Repr::Skiplist(sl) => sl.tree.get(rank),
        }
    }

    /// Every element, lowest score first.
    pub fn iter(&self) -> ZIter<'_> {
        self.iter_from(0, false)
    }

    /// Elements from rank `rank` towards the end (`rev`: towards the start).
    pub fn iter_from(&self, rank: usize, rev: bool) -> ZIter<'_> {
        match &self.repr {
            Repr::Listpack(v) => {
                if rev {
                    let end = if rank < v.len() { rank + 1 } else { 0 };
                    ZIter(ZIterRepr::Backward(v[..end].iter().rev()))
                } else {
                    ZIter(ZIterRepr::Forward(v[rank.min(v.len())..].iter()))
                }
            }
            Repr::Skiplist(sl) => ZIter(ZIterRepr::Tree(sl.tree.iter_from(rank, rev))),
        }
    }

    /// Converts a listpack to the skiplist encoding (one way; nothing to do
    /// for a skiplist). SORT calls it on the set it sorts, as Redis does.
    pub fn convert_to_skiplist(&mut self) {
        if let Repr::Listpack(v) = &mut self.repr {
            let mut sl = Skiplist::default();
            let v = std::mem::take(v);
            for (m, s) in &v {
                sl.dict.insert(m, *s);
            }
            // A listpack is in order already: the index is built in one pass.
            sl.tree = OrderIndex::from_sorted(v);
            self.repr = Repr::Skiplist(Box::new(sl));
        }
    }

    /// Sets `member`'s score, adding it if absent (converting to `skiplist`
    /// when a new member breaks a listpack limit). Returns the old score.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: &Limits) -> Option<f64> {
        if let Repr::Listpack(v) = &mut self.repr {
            if let Some(i) = v.iter().position(|(m, _)| m.as_slice() == member) {
                let old = v[i].1;
                if old != score {
                    let (m, _) = v.remove(i);
                    let score = listpack_score(score);
                    let at = v.partition_point(|e| cmp_elem(e.1, &e.0, score, &m).is_lt());
                    v.insert(at, (m, score));
                }
                return Some(old);
            }
            if v.len() < limits.zset_max_listpack_entries
                && member.len() <= limits.zset_max_listpack_value
            {
                let score = listpack_score(score);
                let at = v.partition_point(|e| cmp_elem(e.1, &e.0, score, member).is_lt());
                self.member_heap += heap_of(member);
                v.insert(at, (SmallBytes::from_slice(member), score));
                return None;
            }
            self.convert_to_skiplist();
        }
        let Repr::Skiplist(sl) = &mut self.repr else {
            unreachable!("a listpack was converted above");
        };
        match sl.dict.insert(member, score) {
            Some(old) => {
                if old != score {
                    sl.tree.remove(old, member);
                    sl.tree.insert(SmallBytes::from_slice(member), score);
                } else if old.to_bits() != score.to_bits() {
                    // -0 and 0 are the same score: the member keeps the old one.
                    sl.dict.insert(member, old);
                }
                Some(old)
            }
            None => {
                self.member_heap += heap_of(member);
                sl.tree.insert(SmallBytes::from_slice(member), score);
                None
            }
        }
    }

    /// Applies one ZADD pair with Redis's semantics and returns what happened.
    pub fn add(
        &mut self,
        member: &[u8],
        score: f64,
        flags: AddFlags,
        limits: &Limits,
    ) -> AddOutcome {
        let outcome = add_outcome(self.score(member), score, flags);
        if let AddOutcome::Added(s) | AddOutcome::Updated(s) = outcome {
            self.insert(member, s, limits);
        }
        outcome
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = match &mut self.repr {
            Repr::Listpack(v) => {
                let i = v.iter().position(|(m, _)| m.as_slice() == member)?;
                v.remove(i).1
            }
            Repr::Skiplist(sl) => {
                let score = sl.dict.remove(member)?;
                sl.tree.remove(score, member);
                score
            }
        };
        self.member_heap -= heap_of(member);
        Some(score)
    }

    /// Removes the elements at ranks `start..end` and returns them in order.
    pub fn remove_ranks(&mut self, start: usize, end: usize) -> Vec<(SmallBytes, f64)> {
        let end = end.min(self.len());
        if start >= end {
            return Vec::new();
        }
        let removed: Vec<(SmallBytes, f64)> = match &mut self.repr {
            Repr::Listpack(v) => v.drain(start..end).collect(),
            Repr::Skiplist(sl) => {
                let out = sl.tree.remove_ranks(start, end);
                for (m, _) in &out {
                    sl.dict.remove(m);
                }
                out
            }
        };
        self.member_heap -= removed.iter().map(|(m, _)| heap_of(m)).sum::<usize>();
        removed
    }

    /// Removes and returns the lowest (`max` false) or highest element.
    pub fn pop(&mut self, max: bool) -> Option<(SmallBytes, f64)> {
        if let Repr::Skiplist(sl) = &mut self.repr {
            let (member, score) = sl.tree.pop_end(max)?;
            sl.dict.remove(&member);
            self.member_heap -= heap_of(&member);
            return Some((member, score));
        }
        let len = self.len();
        let rank = if max { len.checked_sub(1)? } else { 0 };
        self.remove_ranks(rank, rank + 1).pop()
    }

    /// The number of leading elements for which `before` holds (it must be
    /// true on a prefix). Linear on a listpack, as Redis's scans are there;
    /// a tree descent otherwise.
    fn partition_point(&self, mut before: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Listpack(v) => v
                .iter()
                .position(|(m, s)| !before(*s, m))
                .unwrap_or(v.len()),
            Repr::Skiplist(sl) => sl.tree.partition_point(before),
        }
    }

    /// Whether the range can hold any element: not empty, the last element at
    /// or above its minimum and the first at or below its maximum.
    fn may_hold(&self, range: &impl RangeSpec) -> bool {
        let (Some(first), Some(last)) = (
            self.get(0),
            self.len().checked_sub(1).and_then(|r| self.get(r)),
        ) else {
            return false;
        };
        !range.is_empty() && range.gte_min(last.1, last.0) && range.lte_max(first.1, first.0)
    }

    /// The rank of the first element in the range.
    pub fn first_in_range(&self, range: &impl RangeSpec) -> Option<usize> {
        if !self.may_hold(range) {
            return None;
        }
        let rank = self.partition_point(|s, m| !range.gte_min(s, m));
        let (m, s) = self.get(rank)?;
        range.lte_max(s, m).then_some(rank)
    }

    /// The rank of the last element in the range.
    pub fn last_in_range(&self, range: &impl RangeSpec) -> Option<usize> {
        if !self.may_hold(range) {
            return None;
        }
        let rank = match &self.repr {
            Repr::Listpack(v) => v.iter().rposition(|(m, s)| range.lte_max(*s, m))?,
            Repr::Skiplist(sl) => sl
                .tree
                .partition_point(|s, m| range.lte_max(s, m))
                .checked_sub(1)?,
        };
        let (m, s) = self.get(rank)?;
        range.gte_min(s, m).then_some(rank)
    }

    /// The number of elements in the range (ZCOUNT, ZLEXCOUNT).
    pub fn count_in_range(&self, range: &impl RangeSpec) -> usize {
        let Some(first) = self.first_in_range(range) else {
            return 0;
        };
        match &self.repr {
            Repr::Listpack(_) => self
                .iter_from(first, false)
                .take_while(|&(m, s)| range.lte_max(s, m))
                .count(),
            Repr::Skiplist(_) => self
                .last_in_range(range)
                .map_or(0, |last| (last + 1).saturating_sub(first)),
        }
    }

    /// Removes the elements in the range (ZREMRANGEBYSCORE, ZREMRANGEBYLEX):
    /// from the first one in range, while they stay at or below the maximum.
    pub fn remove_range(&mut self, range: &impl RangeSpec) -> Vec<(SmallBytes, f64)> {
        let Some(first) = self.first_in_range(range) else {
            return Vec::new();
        };
        let count = self
            .iter_from(first, false)
            .take_while(|&(m, s)| range.lte_max(s, m))
            .count();
        self.remove_ranks(first, first + count)
    }

    /// One ZSCAN step: the next cursor (0 when done) and (member, score text)
    /// pairs. A listpack is returned whole with its scores as the listpack
    /// holds them (integers in full); otherwise about `count` members are
    /// returned with `%.17g` scores.
    pub fn scan(&self, cursor: u64, count: usize) -> (u64, Vec<(SmallBytes, Vec<u8>)>) {
        match &self.repr {
            Repr::Listpack(v) => {
                let out = v
                    .iter()
                    .map(|(m, s)| {
                        let text = if is_listpack_integer(*s) {
                            i64_to_bytes(*s as i64)
                        } else {
                            fmt_g17(*s).into_bytes()
                        };
                        (m.clone(), text)
                    })
                    .collect();
                (0, out)
            }
            Repr::Skiplist(sl) => {
                let (next, found) = sl.dict.scan(cursor, count);
                let out = found
                    .into_iter()
                    .map(|(m, s)| (SmallBytes::from_slice(m), fmt_g17(s).into_bytes()))
                    .collect();
                (next, out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_an_absent_element_leaves_the_counts_intact() {
        let mut t = OrderIndex::default();
        for i in 0..200 {
            t.insert(
                SmallBytes::from_slice(format!("m{i:03}").as_bytes()),
                f64::from(i),
            );
        }
        assert!(!t.remove(50.0, b"nope"));
        assert!(!t.remove(1000.0, b"m999"));
        assert!(!t.remove(-1.0, b"m000"));
        assert_eq!(t.len(), 200);
        for r in 0..200 {
            assert_eq!(t.get(r).map(|(_, s)| s), Some(r as f64));
        }
        assert!(t.remove(50.0, b"m050"));
        assert_eq!(t.len(), 199);
        assert_eq!(t.get(50).map(|(_, s)| s), Some(51.0));
    }
    use proptest::prelude::*;
    use std::collections::{BTreeSet, HashMap, HashSet};

    fn small_limits() -> Limits {
        Limits {
            zset_max_listpack_entries: 4,
            zset_max_listpack_value: 8,
            ..Limits::default()
        }
    }

    fn members(z: &ZSetValue) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8_lossy(m).into_owned(), s))
            .collect()
    }

    fn build(pairs: &[(&str, f64)], limits: &Limits) -> ZSetValue {
        let mut z = ZSetValue::new();
        for (m, s) in pairs {
            z.insert(m.as_bytes(), *s, limits);
        }
        z
    }

    #[test]
    fn a_scan_returns_every_member_present_throughout_while_the_dictionary_reshards() {
        let limits = Limits::default();
        let mut z = ZSetValue::default();
        for i in 0..1000 {
            z.insert(format!("stay{i}").as_bytes(), f64::from(i), &limits);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut step = 0;
        loop {
            let (next, found) = z.scan(cursor, 10);
            seen.extend(found.into_iter().map(|(m, _)| m.as_slice().to_vec()));
            // Between calls the set grows past and falls back below the
            // resharding thresholds.
            let wave = (step / 40) % 2 == 0;
            for j in 0..200 {
                let extra = format!("extra{step}-{j}");
                if wave {
                    z.insert(extra.as_bytes(), 0.5, &limits);
                } else {
                    z.remove(format!("extra{}-{j}", step - 40).as_bytes());
                }
            }
            step += 1;
            if next == 0 {
                break;
            }
            cursor = next;
            assert!(step < 100_000, "the scan must end");
        }
        for i in 0..1000 {
            assert!(
                seen.contains(format!("stay{i}").as_bytes()),
                "stay{i} missed"
            );
        }
    }

    #[test]
    fn parse_score_follows_get_double_from_object() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+Infinity"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_score(b"1."), Some(1.0));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"1e-310"), Some(1e-310));
        assert_eq!(parse_score(b"0e-400"), Some(0.0));
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"-nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1\x002",
            b".",
            b"0x",
            b"e5",
            b"1e",
            b"infx",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    /// Outcomes observed with SORT on redis-server 7.0.15 (glibc 2.36).
    #[test]
    fn parse_c_double_follows_glibc_strtod() {
        let ok = |s: &[u8], v: f64| assert_eq!(parse_c_double(s), Some((v, false)), "{s:?}");
        ok(b"", 0.0);
        ok(b" \t5", 5.0);
        ok(b"5\0junk", 5.0);
        ok(b"0x10", 16.0);
        ok(b"inf", f64::INFINITY);
        ok(b"-infinity", f64::NEG_INFINITY);
        ok(b"1e308", 1e308);
        ok(b"2.2250738585072014e-308", f64::MIN_POSITIVE);
        // An exact subnormal is no range error; inexact ones are.
        ok(b"0x1p-1070", f64::from_bits(1 << 4)); // 2^-1070 = 16 * 2^-1074
        for range_error in [
            &b"1e400"[..],
            b"1.8e308",
            b"1e-310",
            b"4.9406564584124654e-324",
            b"2.2250738585072011e-308",
            b"1e-400",
            b"0x1p-1080",
            b"0x1.8p-1074",
        ] {
            assert!(
                matches!(parse_c_double(range_error), Some((_, true))),
                "{range_error:?}"
            );
        }
        assert!(parse_c_double(b"nan").is_some_and(|(v, _)| v.is_nan()));
        for bad in [&b"  "[..], b"5 ", b"abc", b"1e400x", b"-", b"\x005"] {
            let parsed = parse_c_double(bad);
            // "\0" then anything is the empty string: 0.
            if bad.first() == Some(&0) {
                assert_eq!(parsed, Some((0.0, false)));
            } else {
                assert_eq!(parsed, None, "{bad:?}");
            }
        }
    }

    #[test]
    fn score_ranges_parse_like_strtod() {
        let r = ScoreRange::parse(b"(1", b"+inf").expect("valid");
        assert!(r.min_exclusive && !r.max_exclusive);
        assert_eq!((r.min, r.max), (1.0, f64::INFINITY));
        // strtod: empty is 0, leading space skipped, overflow is infinity.
        assert_eq!(
            ScoreRange::parse(b"", b"(").map(|r| (r.min, r.max)),
            Some((0.0, 0.0))
        );
        assert_eq!(
            ScoreRange::parse(b" 1", b"1e400").map(|r| r.max),
            Some(f64::INFINITY)
        );
        assert_eq!(ScoreRange::parse(b"1\x00x", b"2").map(|r| r.min), Some(1.0));
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1", b"x").is_none());
        assert!(ScoreRange::parse(b"1 ", b"2").is_none());
        assert!(ScoreRange::parse(b" ", b"2").is_none());
    }

    #[test]
    fn lex_ranges() {
        assert!(LexRange::parse(b"a", b"+").is_none());
        assert!(LexRange::parse(b"-", b"+x").is_none());
        assert!(LexRange::parse(b"", b"+").is_none());
        let all = LexRange::parse(b"-", b"+").expect("valid");
        assert!(!all.is_empty());
        assert!(LexRange::parse(b"+", b"-").expect("valid").is_empty());
        assert!(LexRange::parse(b"-", b"-").expect("valid").is_empty());
        assert!(LexRange::parse(b"[a", b"(a").expect("valid").is_empty());
        assert!(!LexRange::parse(b"[a", b"[a").expect("valid").is_empty());
        let r = LexRange::parse(b"(a", b"[c").expect("valid");
        assert!(!r.gte_min(0.0, b"a") && r.gte_min(0.0, b"aa"));
        assert!(r.lte_max(0.0, b"c") && !r.lte_max(0.0, b"ca"));
    }

    #[test]
    fn add_outcomes_follow_zset_add() {
        let f = AddFlags::default();
        assert_eq!(add_outcome(None, 1.0, f), AddOutcome::Added(1.0));
        assert_eq!(add_outcome(Some(1.0), 1.0, f), AddOutcome::Unchanged(1.0));
        assert_eq!(add_outcome(Some(1.0), 2.0, f), AddOutcome::Updated(2.0));
        let nx = AddFlags { nx: true, ..f };
        assert_eq!(add_outcome(Some(1.0), 2.0, nx), AddOutcome::Skipped);
        let xx = AddFlags { xx: true, ..f };
        assert_eq!(add_outcome(None, 2.0, xx), AddOutcome::Skipped);
        let gt = AddFlags { gt: true, ..f };
        assert_eq!(add_outcome(Some(3.0), 2.0, gt), AddOutcome::Skipped);
        assert_eq!(add_outcome(Some(1.0), 2.0, gt), AddOutcome::Updated(2.0));
        assert_eq!(add_outcome(None, 2.0, gt), AddOutcome::Added(2.0));
        let incr = AddFlags { incr: true, ..f };
        assert_eq!(add_outcome(Some(1.0), 2.0, incr), AddOutcome::Updated(3.0));
        assert_eq!(
            add_outcome(Some(f64::INFINITY), f64::NEG_INFINITY, incr),
            AddOutcome::Nan
        );
        let incr_lt = AddFlags { lt: true, ..incr };
        assert_eq!(add_outcome(Some(1.0), 2.0, incr_lt), AddOutcome::Skipped);
    }

    #[test]
    fn orders_by_score_then_member_in_both_encodings() {
        for limits in [Limits::default(), small_limits()] {
            let z = build(
                &[
                    ("b", 1.0),
                    ("a", 1.0),
                    ("c", 0.5),
                    ("d", 2.0),
                    ("e", -1.0),
                    ("f", 1.0),
                ],
                &limits,
            );
            assert_eq!(
                members(&z).iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
                ["e", "c", "a", "b", "f", "d"]
            );
            assert_eq!(z.rank(b"b"), Some(3));
            assert_eq!(z.rank(b"x"), None);
            assert_eq!(z.get(5), Some((&b"d"[..], 2.0)));
            assert_eq!(z.get(6), None);
            let rev: Vec<_> = z.iter_from(3, true).map(|(m, _)| m.to_vec()).collect();
            assert_eq!(
                rev,
                [b"b".to_vec(), b"a".to_vec(), b"c".to_vec(), b"e".to_vec()]
            );
            assert_eq!(z.iter_from(10, true).count(), 0);
            assert_eq!(z.iter_from(10, false).count(), 0);
        }
    }

    #[test]
    fn converts_one_way_at_the_limits() {
        let limits = small_limits();
        let mut z = build(&[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0)], &limits);
        assert_eq!(z.encoding(), "listpack");
        // Updating an existing member never converts.
        z.insert(b"d", 5.0, &limits);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"e", 5.0, &limits);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"e");
        z.remove(b"d");
        assert_eq!(z.encoding(), "skiplist", "no way back");

        let mut z = build(&[("a", 1.0)], &limits);
        z.insert(b"123456789", 1.0, &limits);
        assert_eq!(
            z.encoding(),
            "skiplist",
            "member longer than the value limit"
        );

        let zero = Limits {
            zset_max_listpack_entries: 0,
            ..Limits::default()
        };
        assert_eq!(build(&[("a", 1.0)], &zero).encoding(), "skiplist");
    }

    #[test]
    fn negative_zero_is_zero_in_a_listpack_only() {
        let limits = Limits::default();
        let z = build(&[("x", -0.0)], &limits);
        assert!(z.score(b"x").is_some_and(|s| s.is_sign_positive()));
        let mut z = ZSetValue::new_skiplist();
        z.insert(b"x", -0.0, &limits);
        assert!(z.score(b"x").is_some_and(|s| s.is_sign_negative()));
        // Setting 0 over -0 changes nothing, as Redis compares with ==.
        z.insert(b"x", 0.0, &limits);
        assert!(z.score(b"x").is_some_and(|s| s.is_sign_negative()));
        let z = ZSetValue::from_pairs(vec![(SmallBytes::from("x"), -0.0)], &limits);
        assert_eq!(z.encoding(), "listpack");
        assert!(z.score(b"x").is_some_and(|s| s.is_sign_positive()));
    }

    #[test]
    fn from_pairs_picks_the_encoding() {
        let limits = small_limits();
        let pairs: Vec<_> = (0..5)
            .map(|i| (SmallBytes::from(format!("m{i}").as_str()), f64::from(5 - i)))
            .collect();
        let z = ZSetValue::from_pairs(pairs.clone(), &limits);
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.get(0), Some((&b"m4"[..], 1.0)));
        let z = ZSetValue::from_pairs(pairs[..4].to_vec(), &limits);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.get(0), Some((&b"m3"[..], 2.0)));
    }

    #[test]
    fn score_range_queries() {
        for limits in [Limits::default(), small_limits()] {
            let z = build(
                &[("a", 1.0), ("b", 2.0), ("c", 2.0), ("d", 3.0), ("e", 4.0)],
                &limits,
            );
            let r = |min: &str, max: &str| {
                ScoreRange::parse(min.as_bytes(), max.as_bytes()).expect("valid")
            };
            assert_eq!(z.first_in_range(&r("2", "3")), Some(1));
            assert_eq!(z.last_in_range(&r("2", "3")), Some(3));
            assert_eq!(z.count_in_range(&r("2", "3")), 3);
            assert_eq!(z.count_in_range(&r("(2", "3")), 1);
            assert_eq!(z.count_in_range(&r("-inf", "+inf")), 5);
            assert_eq!(z.count_in_range(&r("(1", "(2")), 0);
            assert_eq!(z.first_in_range(&r("5", "6")), None);
            assert_eq!(z.last_in_range(&r("0", "0.5")), None);
            assert_eq!(z.count_in_range(&r("3", "2")), 0);
            let mut z2 = z.clone();
            let removed = z2.remove_range(&r("2", "(4"));
            assert_eq!(removed.len(), 3);
            assert_eq!(
                members(&z2),
                [("a".to_string(), 1.0), ("e".to_string(), 4.0)]
            );
            assert_eq!(z2.score(b"c"), None);
        }
    }

    #[test]
    fn lex_range_queries() {
        for limits in [Limits::default(), small_limits()] {
            let z = build(
                &[("a", 0.0), ("b", 0.0), ("c", 0.0), ("d", 0.0), ("e", 0.0)],
                &limits,
            );
            let r = |min: &str, max: &str| {
                LexRange::parse(min.as_bytes(), max.as_bytes()).expect("valid")
            };
            assert_eq!(z.count_in_range(&r("-", "+")), 5);
            assert_eq!(z.count_in_range(&r("[b", "(d")), 2);
            assert_eq!(z.count_in_range(&r("(b", "[d")), 2);
            assert_eq!(z.first_in_range(&r("(e", "+")), None);
            assert_eq!(z.last_in_range(&r("[aa", "[c")), Some(2));
            let mut z2 = z.clone();
            assert_eq!(z2.remove_range(&r("[b", "[c")).len(), 2);
            assert_eq!(z2.len(), 3);
        }
    }

    #[test]
    fn pops_and_rank_removal() {
        for limits in [Limits::default(), small_limits()] {
            let mut z = build(
                &[("a", 1.0), ("b", 2.0), ("c", 3.0), ("d", 4.0), ("e", 5.0)],
                &limits,
            );
            assert_eq!(z.pop(false), Some((SmallBytes::from("a"), 1.0)));
            assert_eq!(z.pop(true), Some((SmallBytes::from("e"), 5.0)));
            let removed = z.remove_ranks(1, 10);
            assert_eq!(removed.len(), 2);
            assert_eq!(members(&z), [("b".to_string(), 2.0)]);
            assert_eq!(z.remove(b"b"), Some(2.0));
            assert!(z.is_empty());
            assert_eq!(z.pop(false), None);
            assert_eq!(z.member_heap, 0);
        }
    }

    #[test]
    fn scan_returns_every_member_once_across_changes() {
        let limits = small_limits();
        let mut z = ZSetValue::new();
        for i in 0..1000 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i), &limits);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut calls = 0;
        loop {
            let (next, found) = z.scan(cursor, 10);
            calls += 1;
            for (m, _) in found {
                seen.insert(m);
            }
            // Churn between calls: other members come and go.
            z.insert(format!("churn{calls}").as_bytes(), 0.0, &limits);
            z.remove(format!("churn{}", calls - 1).as_bytes());
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert!(calls > 50);
        for i in 0..1000 {
            assert!(seen.contains(&SmallBytes::from(format!("m{i}").as_str())));
        }
    }

    #[test]
    fn scan_score_text_depends_on_encoding() {
        let limits = Limits::default();
        let z = build(&[("a", 1e17), ("b", 1.5), ("c", f64::INFINITY)], &limits);
        let (next, out) = z.scan(0, 1);
        assert_eq!(next, 0);
        let texts: Vec<_> = out.iter().map(|(_, t)| t.as_slice()).collect();
        assert_eq!(texts, [&b"1.5"[..], b"100000000000000000", b"inf"]);
        let mut z = ZSetValue::new_skiplist();
        z.insert(b"a", 1e17, &limits);
        let (_, out) = z.scan(0, 10);
        assert_eq!(out[0].1, b"1e+17");
    }

    #[test]
    fn digest_does_not_depend_on_the_encoding() {
        // The digest of one member is independent of the encoding.
        let limits = Limits::default();
        let a = build(&[("a", 1.0), ("b", 2.5)], &limits);
        let mut b = ZSetValue::new_skiplist();
        b.insert(b"b", 2.5, &limits);
        b.insert(b"a", 1.0, &limits);
        let (mut da, mut db) = ([0u8; 20], [0u8; 20]);
        a.digest(&mut da);
        b.digest(&mut db);
        assert_eq!(da, db);
        assert_ne!(a, b, "equality includes the encoding");
    }

    /// A simple model: a set ordered by (score, member) and a member map.
    #[derive(Default)]
    struct Model {
        by_member: HashMap<Vec<u8>, f64>,
    }

    impl Model {
        fn sorted(&self) -> Vec<(Vec<u8>, f64)> {
            let set: BTreeSet<(i64, Vec<u8>)> = self
                .by_member
                .iter()
                .map(|(m, s)| (key(*s), m.clone()))
                .collect();
            set.into_iter()
                .map(|(_, m)| {
                    let s = self.by_member[&m];
                    (m, s)
                })
                .collect()
        }
    }

    /// Scores in the tests are multiples of 0.5 (or infinite): an exact i64 key.
    fn key(s: f64) -> i64 {
        if s.is_infinite() {
            if s > 0.0 {
                i64::MAX
            } else {
                i64::MIN
            }
        } else {
            (s * 2.0) as i64
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, f64),
        Remove(u8),
        Pop(bool),
        RemoveRanks(usize, usize),
        RemoveScores(f64, f64),
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (-20i32..20).prop_map(|i| f64::from(i) / 2.0),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u8>(), score()).prop_map(|(m, s)| Op::Insert(m % 40, s)),
            3 => any::<u8>().prop_map(|m| Op::Remove(m % 40)),
            1 => any::<bool>().prop_map(Op::Pop),
            1 => (0usize..30, 0usize..5).prop_map(|(a, n)| Op::RemoveRanks(a, a + n)),
            1 => (score(), 0.0f64..3.0).prop_map(|(a, w)| Op::RemoveScores(a, a + w)),
        ]
    }

    fn member_name(m: u8) -> Vec<u8> {
        // Some names pass the small listpack value limit (8 bytes).
        if m.is_multiple_of(13) {
            format!("long-member-{m}").into_bytes()
        } else {
            format!("m{m}").into_bytes()
        }
    }

    #[test]
    fn a_deep_tree_matches_a_sorted_vec() {
        let limits = Limits::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut z = ZSetValue::new_skiplist();
        let mut model: Vec<(f64, Vec<u8>)> = Vec::new();
        let pos = |model: &Vec<(f64, Vec<u8>)>, m: &[u8]| model.iter().position(|e| e.1 == m);
        for step in 0..20_000 {
            let m = format!("m{}", rng.usize(..3000)).into_bytes();
            match rng.usize(..10) {
                0..=5 => {
                    let s = f64::from(rng.i32(-500..500)) / 4.0;
                    if let Some(i) = pos(&model, &m) {
                        model.remove(i);
                    }
                    let at = model.partition_point(|e| cmp_elem(e.0, &e.1, s, &m).is_lt());
                    model.insert(at, (s, m.clone()));
                    z.insert(&m, s, &limits);
                }
                6..=7 => {
                    let want = pos(&model, &m).map(|i| model.remove(i).0);
                    assert_eq!(z.remove(&m), want);
                }
                8 => {
                    let n = rng.usize(..20);
                    let max = rng.bool();
                    let want: Vec<_> = if max {
                        let at = model.len().saturating_sub(n);
                        model.drain(at..).rev().collect()
                    } else {
                        model.drain(..n.min(model.len())).collect()
                    };
                    for (s, m) in want {
                        assert_eq!(z.pop(max), Some((SmallBytes::from_slice(&m), s)));
                    }
                }
                _ => {
                    let a = rng.usize(..model.len().max(1));
                    let b = a + rng.usize(..40);
                    let want: Vec<_> = model.drain(a..b.min(model.len())).collect();
                    let got = z.remove_ranks(a, b);
                    assert_eq!(got.len(), want.len());
                }
            }
            assert_eq!(z.len(), model.len());
            if step % 500 == 0 {
                for (rank, (s, m)) in model.iter().enumerate() {
                    assert_eq!(z.rank(m), Some(rank));
                    assert_eq!(z.get(rank), Some((&m[..], *s)));
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_a_simple_model(ops in proptest::collection::vec(op(), 1..200), big in any::<bool>()) {
            let limits = if big { Limits::default() } else { small_limits() };
            let mut z = ZSetValue::new();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Insert(m, s) => {
                        let name = member_name(m);
                        let old = z.insert(&name, s, &limits);
                        prop_assert_eq!(old, model.by_member.insert(name, s));
                    }
                    Op::Remove(m) => {
                        let name = member_name(m);
                        prop_assert_eq!(z.remove(&name), model.by_member.remove(&name));
                    }
                    Op::Pop(max) => {
                        let sorted = model.sorted();
                        let want = if max { sorted.last() } else { sorted.first() }.cloned();
                        if let Some((m, _)) = &want {
                            model.by_member.remove(m);
                        }
                        let got = z.pop(max).map(|(m, s)| (m.to_vec(), s));
                        prop_assert_eq!(got, want);
                    }
                    Op::RemoveRanks(a, b) => {
                        let sorted = model.sorted();
                        let want: Vec<_> = sorted.iter().skip(a).take(b.saturating_sub(a)).cloned().collect();
                        for (m, _) in &want {
                            model.by_member.remove(m);
                        }
                        let got: Vec<_> = z.remove_ranks(a, b).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
                        prop_assert_eq!(got, want);
                    }
                    Op::RemoveScores(a, b) => {
                        let range = ScoreRange { min: a, max: b, min_exclusive: false, max_exclusive: true };
                        let want: Vec<_> = model.sorted().into_iter().filter(|(_, s)| *s >= a && *s < b).collect();
                        prop_assert_eq!(z.count_in_range(&range), want.len());
                        for (m, _) in &want {
                            model.by_member.remove(m);
                        }
                        let got: Vec<_> = z.remove_range(&range).into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
                        prop_assert_eq!(got, want);
                    }
                }
                // The whole order, every rank, every score.
                let sorted = model.sorted();
                prop_assert_eq!(z.len(), sorted.len());
                let got: Vec<_> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
                prop_assert_eq!(&got, &sorted);
                for (rank, (m, s)) in sorted.iter().enumerate() {
                    prop_assert_eq!(z.rank(m), Some(rank));
                    prop_assert_eq!(z.score(m), Some(*s));
                    prop_assert_eq!(z.get(rank).map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), *s)));
                }
                let rev: Vec<_> = z.iter_from(sorted.len().saturating_sub(1), true).map(|(m, s)| (m.to_vec(), s)).collect();
                let mut want_rev = sorted.clone();
                want_rev.reverse();
                prop_assert_eq!(rev, want_rev);
                let heap: usize = sorted.iter().map(|(m, _)| heap_of(m)).sum();
                prop_assert_eq!(z.member_heap, heap);
                if let Repr::Skiplist(sl) = &z.repr {
                    let (_, all) = sl.dict.scan(0, usize::MAX);
                    prop_assert_eq!(all.len(), sorted.len());
                }
            }
        }
    }
}
