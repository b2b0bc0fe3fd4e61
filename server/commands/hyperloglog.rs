//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, and the debugging pair
//! PFDEBUG and PFSELFTEST.
//!
//! A HyperLogLog is a plain string holding Redis 7.0's representation byte
//! for byte, so GET, DEBUG DIGEST, RDB files and replication streams are
//! interchangeable with redis-server's:
//!
//! * A 16-byte header: `HYLL`, the encoding byte (0 dense, 1 sparse), three
//!   unused bytes (kept as found), and the cached cardinality as a
//!   little-endian u64 whose top bit set means "stale".
//! * Dense: 16384 registers of 6 bits, packed from the low bit of each byte
//!   up (12288 bytes).
//! * Sparse: run-length opcodes, `00xxxxxx` (ZERO, 1..=64 zero registers),
//!   `01xxxxxx yyyyyyyy` (XZERO, 1..=16384 zero registers) and `1vvvvvxx`
//!   (VAL, 1..=4 registers of value 1..=32). A sparse value becomes dense
//!   when a register needs more than 32 or when growing it would pass
//!   `hll-sparse-max-bytes`.
//!
//! An element hashes with MurmurHash64A (seed `0xadc83b19`): the low 14 bits
//! pick the register, and the position of the lowest set bit among the other
//! 50 (plus one) is the value it offers. The estimate is Ertl's improved
//! estimator, computed with the same floating-point operations in the same
//! order as Redis, so the numbers agree exactly. Every edit of a sparse value
//! (opcode splits, merges of equal neighbours, when to promote) follows Redis
//! step by step: the bytes must come out the same.
//!
//! Corrupted values are handled as Redis handles them: a byte read past the
//! end of the string reads as 0 (Redis's terminator), a sparse value whose
//! opcodes do not cover exactly 16384 registers is `INVALIDOBJ` where Redis
//! notices it (an opcode running past the last register counts as corrupt,
//! as in redis-server 7.0.15 with the CVE-2025-32023 fix that distributions
//! ship), and a PFADD that fails half-way keeps the elements it added.
//!
//! Propagation and lookups follow Redis 7.0 (hyperloglog.c): PFADD and PFDEBUG
//! propagate as sent when they changed the value, PFMERGE always. PFCOUNT of
//! one key is a read command that writes the cardinality it computed into the
//! header; it then counts as a write and is propagated as sent (it is flagged
//! `may_replicate`), so replicas keep the same bytes. PFADD, PFMERGE and
//! PFDEBUG leave the value in Redis's `raw` encoding, as does PFCOUNT of one
//! key. One difference, deliberately: a PFADD that fails on a corrupted value
//! after changing it counts as a write here (and so is propagated, and the
//! replica fails the same way), where Redis changes the value silently.

use bytes::Bytes;
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, WRITE | DENYOOM | FAST, KeySpec::ONE, pfadd)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Adds the specified elements to the specified HyperLogLog.",
        )
        .complexity("O(1) to add every element.")
        .acl(&["hyperloglog"]),
    CommandSpec::new("pfcount", -2, READONLY | MAY_REPLICATE, KeySpec::ALL, pfcount)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        )
        .complexity("O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys.")
        .acl(&["hyperloglog"]),
    CommandSpec::new("pfmerge", -2, WRITE | DENYOOM, KeySpec::ALL, pfmerge)
        .doc(
            "hyperloglog",
            "2.8.9",
            "Merge N different HyperLogLogs into a single one.",
        )
        .complexity("O(N) to merge N HyperLogLogs, but with high constant times.")
        .acl(&["hyperloglog"]),
    CommandSpec::new(
        "pfdebug",
        3,
        WRITE | DENYOOM | ADMIN,
        KeySpec {
            first: 2,
            last: 2,
            step: 1,
        },
        pfdebug,
    )
    .doc(
        "hyperloglog",
        "2.8.9",
        "Internal commands for debugging HyperLogLog values",
    )
    .complexity("N/A")
    .acl(&["hyperloglog"]),
    CommandSpec::new("pfselftest", 1, ADMIN, KeySpec::NONE, pfselftest)
        .doc(
            "hyperloglog",
            "2.8.9",
            "An internal command for testing HyperLogLog values",
        )
        .complexity("N/A")
        .acl(&["hyperloglog"]),
];

// ---------------------------------------------------------------------------
// The representation.

/// Header bytes before the registers.
const HDR: usize = 16;
/// Byte 4 of the header.
const ENC: usize = 4;
const DENSE: u8 = 0;
const SPARSE: u8 = 1;
/// Index bits of the hash.
const P: u32 = 14;
/// Bits left for the run of zeros.
const Q: u32 = 64 - P;
const REGISTERS: usize = 1 << P;
const REGISTER_MAX: u8 = 63;
const DENSE_SIZE: usize = HDR + (REGISTERS * 6).div_ceil(8);
const SPARSE_VAL_MAX_VALUE: u8 = 32;
const SPARSE_VAL_MAX_LEN: usize = 4;
const SPARSE_ZERO_MAX_LEN: usize = 64;
const SPARSE_XZERO_MAX_LEN: usize = 16384;
const HASH_SEED: u64 = 0xadc8_3b19;
/// 0.5 / ln 2, the estimator's constant for m -> infinity.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const INVALID_HLL: &str = "INVALIDOBJ Corrupted HLL object detected";
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";

/// MurmurHash2, 64-bit version (MurmurHash64A), reading words little-endian
/// as Redis does on every architecture.
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut words = key.chunks_exact(8);
    for word in &mut words {
        let mut k = u64::from_le_bytes(word.try_into().expect("chunks of eight bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= u64::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it offers there (1..=51).
fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, HASH_SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    // The sentinel bit bounds the run at Q zeros.
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let b0 = u16::from(regs[byte]);
    // The last register's neighbour lies past the end: Redis reads its
    // terminator there, whose bits the mask drops anyway.
    let b1 = u16::from(regs.get(byte + 1).copied().unwrap_or(0));
    (((b0 >> fb) | (b1 << (8 - fb))) & u16::from(REGISTER_MAX)) as u8
}

fn dense_put(regs: &mut [u8], i: usize, value: u8) {
    let byte = i * 6 / 8;
    let fb = (i * 6) & 7;
    let fb8 = 8 - fb;
    let v = u16::from(value);
    let max = u16::from(REGISTER_MAX);
    regs[byte] &= !((max << fb) as u8);
    regs[byte] |= (v << fb) as u8;
    if let Some(b1) = regs.get_mut(byte + 1) {
        *b1 &= !((max >> fb8) as u8);
        *b1 |= (v >> fb8) as u8;
    }
}

/// Raises register `i` to `count`; true when it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

fn dense_add(regs: &mut [u8], element: &[u8]) -> bool {
    let (index, count) = register_of(element);
    dense_set(regs, index, count)
}

/// One decoded sparse opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// A run of zero registers; `wide` for the two-byte XZERO form.
    Zero {
        len: usize,
        wide: bool,
    },
    Val {
        value: u8,
        len: usize,
    },
}

impl Op {
    /// Decodes the opcode at `p`; a byte past the end reads as 0.
    fn at(s: &[u8], p: usize) -> Op {
        let b = s[p];
        if b & 0x80 != 0 {
            Op::Val {
                value: ((b >> 2) & 0x1f) + 1,
                len: usize::from(b & 3) + 1,
            }
        } else if b & 0x40 != 0 {
            let low = s.get(p + 1).copied().unwrap_or(0);
            Op::Zero {
                len: ((usize::from(b & 0x3f) << 8) | usize::from(low)) + 1,
                wide: true,
            }
        } else {
            Op::Zero {
                len: usize::from(b & 0x3f) + 1,
                wide: false,
            }
        }
    }

    fn bytes(self) -> usize {
        match self {
            Op::Zero { wide: true, .. } => 2,
            _ => 1,
        }
    }

    fn span(self) -> usize {
        match self {
            Op::Zero { len, .. } | Op::Val { len, .. } => len,
        }
    }
}

fn val_op(value: u8, len: usize) -> u8 {
    ((value - 1) << 2) | (len as u8 - 1) | 0x80
}

/// Appends the shortest zero-run opcode for `len` (1..=16384) registers.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    if len > SPARSE_ZERO_MAX_LEN {
        let l = len - 1;
        out.push((l >> 8) as u8 | 0x40);
        out.push((l & 0xff) as u8);
    } else {
        out.push((len - 1) as u8);
    }
}

/// A new, empty HyperLogLog: sparse, all registers zero, cardinality 0.
fn new_sparse() -> Vec<u8> {
    let mut s = Vec::with_capacity(HDR + 2);
    s.extend_from_slice(b"HYLL");
    s.extend_from_slice(&[SPARSE, 0, 0, 0]);
    s.extend_from_slice(&[0; 8]);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(SPARSE_XZERO_MAX_LEN);
        push_zeros(&mut s, run);
        left -= run;
    }
    s
}

/// Whether a string is a HyperLogLog as far as Redis checks before using it:
/// the header, a known encoding, and a dense value's exact length.
fn check_hll(s: &[u8]) -> Result<(), Reply> {
    let ok = s.len() >= HDR
        && &s[..4] == b"HYLL"
        && s[ENC] <= SPARSE
        && (s[ENC] != DENSE || s.len() == DENSE_SIZE);
    if ok {
        Ok(())
    } else {
        Err(Reply::error(NOT_HLL))
    }
}

fn invalidate_cache(s: &mut [u8]) {
    s[15] |= 0x80;
}

fn cached_cardinality(s: &[u8]) -> Option<u64> {
    (s[15] & 0x80 == 0).then(|| u64::from_le_bytes(s[8..16].try_into().expect("8 bytes")))
}

/// Walks a sparse value's registers as runs `(first register, length,
/// value)`. Returns whether the value is valid: its runs cover exactly the
/// 16384 registers. The walk stops before a run that would pass the last
/// register (redis-server 7.0.15 as shipped, with the CVE-2025-32023 fix,
/// checks every opcode so; the original 7.0.15 checked VAL runs only).
fn sparse_runs(s: &[u8], mut f: impl FnMut(usize, usize, u8)) -> bool {
    let mut idx = 0usize;
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        let (len, value) = match op {
            Op::Zero { len, .. } => (len, 0),
            Op::Val { value, len } => (len, value),
        };
        if idx + len > REGISTERS {
            return false;
        }
        f(idx, len, value);
        idx += len;
        p += op.bytes();
    }
    idx == REGISTERS
}

/// The dense form of a sparse value (the header is kept but for the
/// encoding byte), or `None` when it is not valid (see [`sparse_runs`]).
fn sparse_to_dense(s: &[u8]) -> Option<Vec<u8>> {
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[ENC] = DENSE;
    let regs = &mut dense[HDR..];
    let valid = sparse_runs(s, |first, len, value| {
        if value != 0 {
            for i in first..first + len {
                dense_put(regs, i, value);
            }
        }
    });
    valid.then_some(dense)
}

/// What setting one register did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetOutcome {
    Unchanged,
    Changed,
    Corrupt,
}

/// Raises register `index` of the value in `s` (either encoding) to `count`.
fn hll_set(s: &mut Vec<u8>, index: usize, count: u8, max_sparse: u64) -> SetOutcome {
    if s[ENC] == DENSE {
        return if dense_set(&mut s[HDR..], index, count) {
            SetOutcome::Changed
        } else {
            SetOutcome::Unchanged
        };
    }
    sparse_set(s, index, count, max_sparse)
}

/// Raises register `index` of a sparse value to `count`, editing the opcodes
/// in place as Redis does, or converting to dense when the new value does not
/// fit or the value would grow past `max_sparse` bytes.
fn sparse_set(s: &mut Vec<u8>, index: usize, count: u8, max_sparse: u64) -> SetOutcome {
    if count > SPARSE_VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Find the opcode covering `index`.
    let end = s.len();
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev = None;
    let mut found = None;
    while p < end {
        let op = Op::at(s, p);
        if index < first + op.span() {
            found = Some(op);
            break;
        }
        prev = Some(p);
        p += op.bytes();
        first += op.span();
    }
    let Some(op) = found else {
        return SetOutcome::Corrupt;
    };
    let next = Some(p + op.bytes()).filter(|&n| n < end);
    let span = op.span();

    // The cases that rewrite one byte in place.
    match op {
        Op::Val { value, .. } if value >= count => return SetOutcome::Unchanged,
        Op::Val { len: 1, .. }
        | Op::Zero {
            len: 1,
            wide: false,
        } => {
            s[p] = val_op(count, 1);
            return merge_and_invalidate(s, prev);
        }
        _ => {}
    }

    // Split the opcode into up to three: before, the register, after.
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Zero { .. } => {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        }
        Op::Val { value, .. } => {
            if index != first {
                seq.push(val_op(value, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(value, last - index));
            }
        }
    }
    let old_len = op.bytes();
    let new_total = end + seq.len() - old_len;
    if seq.len() > old_len && new_total as u64 > max_sparse {
        return promote(s, index, count);
    }
    // A truncated XZERO at the very end covers one byte only: the result is
    // one byte shorter than the splice, as in Redis.
    let replaced_end = next.unwrap_or(end).min(end);
    s.splice(p..replaced_end, seq);
    s.truncate(new_total);
    merge_and_invalidate(s, prev)
}

/// After an edit: merges equal adjacent VAL opcodes in the few opcodes from
/// `prev` on (Redis looks at five), then marks the cached cardinality stale.
fn merge_and_invalidate(s: &mut Vec<u8>, prev: Option<usize>) -> SetOutcome {
    let mut p = prev.unwrap_or(HDR);
    let mut budget = 5;
    while p < s.len() && budget > 0 {
        budget -= 1;
        let Op::Val { value, len } = Op::at(s, p) else {
            p += Op::at(s, p).bytes();
            continue;
        };
        let merged = match (p + 1 < s.len()).then(|| Op::at(s, p + 1)) {
            Some(Op::Val {
                value: v2,
                len: len2,
            }) if v2 == value && len + len2 <= SPARSE_VAL_MAX_LEN => Some(len + len2),
            _ => None,
        };
        match merged {
            // Stay on the merged opcode: it may merge with the next one too.
            Some(total) => {
                s[p + 1] = val_op(value, total);
                s.remove(p);
            }
            None => p += 1,
        }
    }
    invalidate_cache(s);
    SetOutcome::Changed
}

/// Converts a sparse value to dense, then sets the register.
fn promote(s: &mut Vec<u8>, index: usize, count: u8) -> SetOutcome {
    let Some(dense) = sparse_to_dense(s) else {
        return SetOutcome::Corrupt;
    };
    *s = dense;
    if dense_set(&mut s[HDR..], index, count) {
        SetOutcome::Changed
    } else {
        SetOutcome::Unchanged
    }
}

/// Register histogram of either encoding; `None` for a sparse value whose
/// opcodes do not cover exactly 16384 registers. Sized for any 6-bit value.
fn histogram(s: &[u8]) -> Option<[u32; 64]> {
    let mut h = [0u32; 64];
    if s[ENC] == DENSE {
        for b in s[HDR..].chunks_exact(3) {
            let (b0, b1, b2) = (b[0], b[1], b[2]);
            h[usize::from(b0 & 63)] += 1;
            h[usize::from((b0 >> 6 | b1 << 2) & 63)] += 1;
            h[usize::from((b1 >> 4 | b2 << 4) & 63)] += 1;
            h[usize::from(b2 >> 2)] += 1;
        }
        return Some(h);
    }
    let valid = sparse_runs(s, |_, len, value| h[usize::from(value)] += len as u32);
    valid.then_some(h)
}

/// Ertl's sigma function ("New cardinality estimation algorithms for
/// HyperLogLog sketches", arXiv:1702.01284).
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

/// Ertl's tau function (same paper).
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The cardinality estimate from a register histogram.
fn estimate(h: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - f64::from(h[Q as usize + 1])) / m);
    for j in (1..=Q as usize).rev() {
        z += f64::from(h[j]);
        z *= 0.5;
    }
    z += m * sigma(f64::from(h[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// Folds a value's registers into `max` (the register-wise maximum). Fails
/// on a sparse value whose opcodes do not cover exactly 16384 registers.
fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), ()> {
    if s[ENC] == DENSE {
        let regs = &s[HDR..];
        for (i, m) in max.iter_mut().enumerate() {
            *m = (*m).max(dense_get(regs, i));
        }
        return Ok(());
    }
    let valid = sparse_runs(s, |first, len, value| {
        if value != 0 {
            for m in &mut max[first..first + len] {
                *m = (*m).max(value);
            }
        }
    });
    if valid {
        Ok(())
    } else {
        Err(())
    }
}

/// Adds `elements` to the value in `s`, switching encodings as needed.
/// Returns how many changed a register, and whether it stopped at a
/// corruption (the changes before it stay, as in Redis).
fn add_elements(s: &mut Vec<u8>, elements: &[Bytes], max_sparse: u64) -> (usize, bool) {
    let mut updated = 0;
    for e in elements {
        let (index, count) = register_of(e);
        match hll_set(s, index, count, max_sparse) {
            SetOutcome::Changed => updated += 1,
            SetOutcome::Unchanged => {}
            SetOutcome::Corrupt => return (updated, true),
        }
    }
    (updated, false)
}

// ---------------------------------------------------------------------------
// Commands.

fn max_sparse(ctx: &ExecCtx<'_>) -> u64 {
    ctx.server.config.read().hll_sparse_max_bytes
}

/// Runs `f` on the HyperLogLog at `key` after Redis's checks (a string, with
/// a HyperLogLog header), leaving it in the `raw` encoding. `f` returns the
/// reply and whether it changed the value; only a change counts as a write.
/// `None` when the key is absent.
fn with_hll(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut SmallBytes) -> (Reply, bool),
) -> Option<Reply> {
    let now = ctx.now_ms;
    let outcome = ctx.db().modify(key, now, |value| {
        let Value::Str(bytes) = value else {
            return Err(Reply::wrong_type());
        };
        check_hll(bytes)?;
        bytes.set_flag(true);
        match f(bytes) {
            (reply, true) => Ok(reply),
            (reply, false) => Err(reply),
        }
    });
    outcome.map(|r| r.unwrap_or_else(|reply| reply))
}

/// Reads the HyperLogLog at `key` for a multi-key command: `Ok(None)` when
/// absent (counting the lookup as Redis's read lookups do).
fn read_hll<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, Reply> {
    let now = ctx.now_ms;
    let found = match ctx.db().get(key, now) {
        None => None,
        Some(entry) => match &entry.value {
            Value::Str(bytes) => Some(check_hll(bytes).map(|()| f(bytes))),
            _ => Some(Err(Reply::wrong_type())),
        },
    };
    ctx.count_lookup(found.is_some());
    found.transpose()
}

fn pfadd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, elements) = (&argv[1], &argv[2..]);
    let max_sparse = max_sparse(ctx);
    let existing = with_hll(ctx, key, |bytes| {
        let (updated, corrupt) = if bytes[ENC] == DENSE {
            // Dense values keep their length: edit them in place.
            let regs = &mut bytes.as_mut_slice()[HDR..];
            let updated = elements.iter().filter(|e| dense_add(regs, e)).count();
            (updated, false)
        } else {
            bytes.modify(|s| add_elements(s, elements, max_sparse))
        };
        if corrupt {
            return (Reply::error(INVALID_HLL), updated > 0);
        }
        if updated > 0 {
            invalidate_cache(bytes.as_mut_slice());
        }
        (Reply::Int(i64::from(updated > 0)), updated > 0)
    });
    if let Some(reply) = existing {
        if reply == Reply::Int(1) {
            ctx.notify(notify::STRING, "pfadd", key);
        }
        return reply;
    }
    let mut s = new_sparse();
    add_elements(&mut s, elements, max_sparse);
    invalidate_cache(&mut s);
    let now = ctx.now_ms;
    ctx.db()
        .insert(key, Value::raw_string(SmallBytes::from_vec(s)), None, now);
    ctx.notify(notify::STRING, "pfadd", key);
    Reply::Int(1)
}

fn pfcount(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 2 {
        return pfcount_union(ctx, &argv[1..]);
    }
    let reply = with_hll(ctx, &argv[1], |bytes| {
        if let Some(card) = cached_cardinality(bytes) {
            return (Reply::Int(card as i64), false);
        }
        let Some(h) = histogram(bytes) else {
            return (Reply::error(INVALID_HLL), false);
        };
        let card = estimate(&h);
        bytes.as_mut_slice()[8..16].copy_from_slice(&card.to_le_bytes());
        (Reply::Int(card as i64), true)
    });
    ctx.count_lookup(reply.is_some());
    reply.unwrap_or(Reply::Int(0))
}

/// PFCOUNT of several keys: the cardinality of their union; nothing changes.
fn pfcount_union(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Reply {
    let mut max = [0u8; REGISTERS];
    for key in keys {
        if let Some(Err(())) = tri!(read_hll(ctx, key, |s| merge_into(&mut max, s))) {
            return Reply::error(INVALID_HLL);
        }
    }
    let mut h = [0u32; 64];
    for &r in &max {
        h[usize::from(r)] += 1;
    }
    Reply::Int(estimate(&h) as i64)
}

fn pfmerge(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let dest = &argv[1];
    let mut max = [0u8; REGISTERS];
    let mut use_dense = false;
    // The destination is read as a source too.
    for key in &argv[1..] {
        let merged = tri!(read_hll(ctx, key, |s| {
            use_dense |= s[ENC] == DENSE;
            merge_into(&mut max, s)
        }));
        if let Some(Err(())) = merged {
            return Reply::error(INVALID_HLL);
        }
    }
    let now = ctx.now_ms;
    let current = ctx
        .db()
        .peek(dest, now)
        .and_then(|e| e.value.as_str().map(|b| b.to_vec()));
    let exists = current.is_some();
    let mut s = current.unwrap_or_else(new_sparse);
    if use_dense && s[ENC] == SPARSE {
        match sparse_to_dense(&s) {
            Some(dense) => s = dense,
            None => return Reply::error(INVALID_HLL),
        }
    }
    let max_sparse = max_sparse(ctx);
    for (i, &value) in max.iter().enumerate() {
        if value != 0 {
            hll_set(&mut s, i, value, max_sparse);
        }
    }
    invalidate_cache(&mut s);
    let value = Value::raw_string(SmallBytes::from_vec(s));
    if exists {
        ctx.db().insert_keep_ttl(dest, value, now);
    } else {
        ctx.db().insert(dest, value, None, now);
    }
    ctx.notify(notify::STRING, "pfadd", dest);
    Reply::ok()
}

fn pfdebug(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let sub = &argv[1];
    let reply = with_hll(ctx, &argv[2], |bytes| pfdebug_sub(sub, bytes));
    reply.unwrap_or_else(|| Reply::error("ERR The specified key does not exist"))
}

/// Converts a sparse value to dense in place; `Err` when it is corrupt.
fn to_dense_in_place(bytes: &mut SmallBytes) -> Result<bool, Reply> {
    if bytes[ENC] == DENSE {
        return Ok(false);
    }
    let dense = sparse_to_dense(bytes).ok_or_else(|| Reply::error(INVALID_HLL))?;
    *bytes = SmallBytes::from_vec(dense);
    bytes.set_flag(true);
    Ok(true)
}

fn pfdebug_sub(sub: &[u8], bytes: &mut SmallBytes) -> (Reply, bool) {
    if sub.eq_ignore_ascii_case(b"getreg") {
        let converted = match to_dense_in_place(bytes) {
            Ok(c) => c,
            Err(reply) => return (reply, false),
        };
        let regs = &bytes[HDR..];
        let values = (0..REGISTERS)
            .map(|i| Reply::Int(i64::from(dense_get(regs, i))))
            .collect();
        (Reply::Array(values), converted)
    } else if sub.eq_ignore_ascii_case(b"decode") {
        if bytes[ENC] != SPARSE {
            return (Reply::error("ERR HLL encoding is not sparse"), false);
        }
        (Reply::Bulk(Bytes::from(decode_sparse(bytes))), false)
    } else if sub.eq_ignore_ascii_case(b"encoding") {
        let name = if bytes[ENC] == DENSE {
            "dense"
        } else {
            "sparse"
        };
        (Reply::Simple(name.into()), false)
    } else if sub.eq_ignore_ascii_case(b"todense") {
        match to_dense_in_place(bytes) {
            Ok(converted) => (Reply::Int(i64::from(converted)), converted),
            Err(reply) => (reply, false),
        }
    } else {
        // Redis prints the name with %s: up to its first NUL byte.
        let name = sub.split(|&b| b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(name);
        (
            Reply::error(format!("ERR Unknown PFDEBUG subcommand '{name}'")),
            false,
        )
    }
}

/// PFDEBUG DECODE's text: `z:<len>`, `Z:<len>`, `v:<value>,<len>` opcodes.
fn decode_sparse(s: &[u8]) -> String {
    let mut out = Vec::new();
    let mut p = HDR;
    while p < s.len() {
        let op = Op::at(s, p);
        out.push(match op {
            Op::Zero { len, wide: false } => format!("z:{len}"),
            Op::Zero { len, wide: true } => format!("Z:{len}"),
            Op::Val { value, len } => format!("v:{value},{len}"),
        });
        p += op.bytes();
    }
    out.join(" ")
}

fn pfselftest(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    match selftest(max_sparse(ctx)) {
        Ok(()) => Reply::ok(),
        Err(text) => Reply::error(format!("ERR TESTFAILED {text}")),
    }
}

/// Redis's self-test: register packing round-trips, then ten million
/// elements added to a dense and a sparse value side by side, checked at
/// every power of ten against each other and against the true count.
fn selftest(max_sparse: u64) -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut expected = [0u8; REGISTERS];
    for _ in 0..1000 {
        for (i, e) in expected.iter_mut().enumerate() {
            let r = fastrand::u8(..) & REGISTER_MAX;
            *e = r;
            dense_put(&mut regs, i, r);
        }
        for (i, &e) in expected.iter().enumerate() {
            let got = dense_get(&regs, i);
            if got != e {
                return Err(format!("Register {i} should be {e} but is {got}"));
            }
        }
    }

    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..4].copy_from_slice(b"HYLL");
    let mut sparse = new_sparse();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed = fastrand::u64(..);
    let mut checkpoint: u64 = 1;
    for j in 1..=10_000_000u64 {
        let element = (j ^ seed).to_le_bytes();
        let (index, count) = register_of(&element);
        dense_set(&mut dense[HDR..], index, count);
        hll_set(&mut sparse, index, count, max_sparse);
        if j != checkpoint {
            continue;
        }
        if j < max_sparse / 2 && sparse[ENC] != SPARSE {
            return Err("sparse encoding not used".into());
        }
        let card = histogram(&dense).map_or(0, |h| estimate(&h));
        if histogram(&sparse).map(|h| estimate(&h)) != Some(card) {
            return Err("dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let maxerr = if j == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!("Too big error. card:{checkpoint} abserr:{abserr}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{err, int, status, Harness};

    fn get(h: &mut Harness, key: &str) -> Vec<u8> {
        match h.run(&["GET", key]) {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("GET {key}: {other:?}"),
        }
    }

    fn set_bytes(h: &mut Harness, key: &str, value: &[u8]) {
        let now = h.now;
        h.server.data.lock().keyspace.db(0).insert(
            key.as_bytes(),
            Value::string(SmallBytes::from_slice(value)),
            None,
            now,
        );
    }

    fn pfadd_n(h: &mut Harness, key: &str, n: usize) -> Reply {
        let elements: Vec<String> = (0..n).map(|i| format!("e{i}")).collect();
        let mut args = vec!["PFADD", key];
        args.extend(elements.iter().map(String::as_str));
        h.run(&args)
    }

    fn header(encoding: u8, card: [u8; 8]) -> Vec<u8> {
        let mut s = b"HYLL".to_vec();
        s.extend_from_slice(&[encoding, 0, 0, 0]);
        s.extend_from_slice(&card);
        s
    }

    #[test]
    fn murmur_and_registers_match_redis() {
        // Where redis-server 7.0 put "a", "b" and "c" (see the next test).
        let mut regs: Vec<(usize, u8)> = ["a", "b", "c"]
            .iter()
            .map(|e| register_of(e.as_bytes()))
            .collect();
        regs.sort_unstable();
        assert_eq!(regs, vec![(8436, 1), (12711, 2), (15780, 1)]);
        assert_eq!(murmur64a(b"", 0), 0);
    }

    /// Bytes and digests taken from redis-server 7.0.15.
    #[test]
    fn pfadd_bytes_match_redis() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["PFADD", "e"]), int(1));
        assert_eq!(
            get(&mut h, "e"),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff"
        );
        assert_eq!(h.run(&["PFADD", "k", "a", "b", "c"]), int(1));
        assert_eq!(
            get(&mut h, "k"),
            b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80`\xf3\x80P\xb1\x84K\xfb\x80BZ"
        );
        assert_eq!(
            h.run(&["PFDEBUG", "DECODE", "k"]),
            Reply::bulk_from(b"Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603")
        );
        assert_eq!(h.run(&["PFCOUNT", "k"]), int(3));
        assert_eq!(
            get(&mut h, "k"),
            b"HYLL\x01\0\0\0\x03\0\0\0\0\0\0\0`\xf3\x80P\xb1\x84K\xfb\x80BZ"
        );
        assert_eq!(
            h.digest_value("k"),
            "145cfd7f960b7f24d04b5c1c0bf94a85eab91d90"
        );
        assert_eq!(
            h.digest_value("e"),
            "3926e2233fa0c4c69855f1dd0487160d6b7e7b48"
        );
        assert_eq!(h.encoding("k"), bulk_of("raw"));
    }

    fn bulk_of(s: &str) -> Reply {
        Reply::bulk_from(s.as_bytes())
    }

    #[test]
    fn sparse_dense_and_merge_match_redis() {
        let mut h = Harness::new();
        assert_eq!(pfadd_n(&mut h, "mid", 200), int(1));
        assert_eq!(h.run(&["STRLEN", "mid"]), int(513));
        assert_eq!(h.run(&["PFCOUNT", "mid"]), int(200));
        assert_eq!(
            h.digest_value("mid"),
            "ae37c491d6d4c69ee105f2d6884d2e17819e38ef"
        );
        assert_eq!(pfadd_n(&mut h, "big", 5000), int(1));
        assert_eq!(h.run(&["STRLEN", "big"]), int(DENSE_SIZE as i64));
        assert_eq!(h.run(&["PFDEBUG", "ENCODING", "big"]), status("dense"));
        assert_eq!(
            h.digest_value("big"),
            "97a21179d65d22d963fa89272b449dbe01a30e31"
        );
        assert_eq!(h.run(&["PFCOUNT", "big"]), int(4968));
        assert_eq!(
            h.digest_value("big"),
            "41eed38b9ad2c11e4672810a3957ffdde04106e3"
        );
        assert_eq!(h.run(&["PFCOUNT", "mid", "big"]), int(4968));
        assert_eq!(h.run(&["PFMERGE", "m", "mid"]), Reply::ok());
        assert_eq!(h.run(&["PFDEBUG", "ENCODING", "m"]), status("sparse"));
        assert_eq!(
            h.digest_value("m"),
            "1b225f96e0f24e97e58a9db02616281bacd33b36"
        );
        assert_eq!(h.run(&["PFMERGE", "m2", "big", "mid"]), Reply::ok());
        assert_eq!(
            h.digest_value("m2"),
            "97a21179d65d22d963fa89272b449dbe01a30e31"
        );
        assert_eq!(h.run(&["PFCOUNT", "m2"]), int(4968));
    }

    #[test]
    fn selftest_passes() {
        assert_eq!(selftest(3000), Ok(()));
    }

    #[test]
    fn estimator_edges() {
        let mut hist = [0u32; 64];
        hist[0] = REGISTERS as u32;
        assert_eq!(estimate(&hist), 0);
        assert_eq!(tau(0.0), 0.0);
        assert_eq!(sigma(1.0), f64::INFINITY);
        assert_eq!(sigma(0.0), 0.0);
    }

    #[test]
    fn sparse_edits_split_merge_and_promote() {
        let mut s = new_sparse();
        assert_eq!(sparse_set(&mut s, 0, 3, 3000), SetOutcome::Changed);
        assert_eq!(decode_sparse(&s), "v:3,1 Z:16383");
        assert_eq!(sparse_set(&mut s, 1, 3, 3000), SetOutcome::Changed);
        assert_eq!(decode_sparse(&s), "v:3,2 Z:16382");
        assert_eq!(sparse_set(&mut s, 1, 2, 3000), SetOutcome::Unchanged);
        assert_eq!(sparse_set(&mut s, 100, 5, 3000), SetOutcome::Changed);
        assert_eq!(decode_sparse(&s), "v:3,2 Z:98 v:5,1 Z:16283");
        assert_eq!(sparse_set(&mut s, 3, 1, 3000), SetOutcome::Changed);
        assert_eq!(decode_sparse(&s), "v:3,2 z:1 v:1,1 Z:96 v:5,1 Z:16283");
        // A split that would pass the limit converts to dense instead.
        let len = s.len() as u64;
        assert_eq!(sparse_set(&mut s, 5000, 1, len), SetOutcome::Changed);
        assert_eq!(s.len(), DENSE_SIZE);
        assert_eq!(s[ENC], DENSE);
        let regs = &s[HDR..];
        assert_eq!(
            [0, 1, 2, 3, 100, 5000].map(|i| dense_get(regs, i)),
            [3, 3, 0, 1, 5, 1]
        );
        // A value over 32 does not fit a VAL opcode.
        let mut s = new_sparse();
        assert_eq!(sparse_set(&mut s, 7, 33, 3000), SetOutcome::Changed);
        assert_eq!(s[ENC], DENSE);
        assert_eq!(dense_get(&s[HDR..], 7), 33);
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
        let mut s = header(DENSE, [0; 8]);
        s.extend_from_slice(&regs);
        let h = histogram(&s).expect("dense");
        assert!(h.iter().all(|&n| n == (REGISTERS / 64) as u32));
    }

    #[test]
    fn errors_match_redis() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "list", "x"]);
        h.run(&["SET", "str", "hello"]);
        let wrongtype = err("WRONGTYPE Operation against a key holding the wrong kind of value");
        let not_hll = err(NOT_HLL);
        assert_eq!(h.run(&["PFADD", "list", "a"]), wrongtype);
        assert_eq!(h.run(&["PFADD", "str", "a"]), not_hll);
        assert_eq!(h.run(&["PFCOUNT", "str"]), not_hll);
        assert_eq!(h.run(&["PFCOUNT", "nosuch", "list"]), wrongtype);
        assert_eq!(h.run(&["PFMERGE", "d", "str"]), not_hll);
        assert!(!h.exists("d"));
        assert_eq!(
            h.run(&["PFDEBUG", "ENCODING", "nosuch"]),
            err("ERR The specified key does not exist")
        );
        h.run(&["PFADD", "hll", "a"]);
        assert_eq!(
            h.run(&["PFDEBUG", "nope", "hll"]),
            err("ERR Unknown PFDEBUG subcommand 'nope'")
        );
        // A dense header on a short string, an unknown encoding.
        set_bytes(&mut h, "bad", &header(DENSE, [0; 8]));
        assert_eq!(h.run(&["PFCOUNT", "bad"]), not_hll);
        set_bytes(&mut h, "bad", &header(2, [0; 8]));
        assert_eq!(h.run(&["PFCOUNT", "bad"]), not_hll);
        // Sparse opcodes covering too few registers.
        let mut short = header(SPARSE, [0, 0, 0, 0, 0, 0, 0, 0x80]);
        short.extend_from_slice(&[0x7f, 0xfe]);
        set_bytes(&mut h, "short", &short);
        assert_eq!(h.run(&["PFCOUNT", "short"]), err(INVALID_HLL));
        assert_eq!(h.run(&["PFCOUNT", "short", "hll"]), err(INVALID_HLL));
        assert_eq!(h.run(&["PFMERGE", "d", "short"]), err(INVALID_HLL));
        assert_eq!(h.run(&["PFDEBUG", "TODENSE", "short"]), err(INVALID_HLL));
        assert_eq!(
            h.run(&["PFDEBUG", "DECODE", "hll"]),
            Reply::bulk_from(b"Z:12711 v:2,1 Z:3672")
        );
        h.run(&["PFDEBUG", "TODENSE", "hll"]);
        assert_eq!(
            h.run(&["PFDEBUG", "DECODE", "hll"]),
            err("ERR HLL encoding is not sparse")
        );
    }

    #[test]
    fn propagation_follows_redis() {
        let mut h = Harness::new();
        h.run(&["PFADD", "k", "a", "b"]);
        assert_eq!(h.repl(), vec!["PFADD k a b"]);
        // Nothing new: not a write.
        let dirty = h.dirty();
        assert_eq!(h.run(&["PFADD", "k", "a"]), int(0));
        assert_eq!(h.dirty(), dirty);
        assert!(h.repl().is_empty());
        // PFCOUNT writes the cache once, and is then propagated.
        assert_eq!(h.run(&["PFCOUNT", "k"]), int(2));
        assert_eq!(h.repl(), vec!["PFCOUNT k"]);
        assert_eq!(h.run(&["PFCOUNT", "k"]), int(2));
        assert_eq!(h.run(&["PFCOUNT", "k", "k"]), int(2));
        assert!(h.repl().is_empty());
        // PFMERGE always.
        assert_eq!(h.run(&["PFMERGE", "k"]), Reply::ok());
        assert_eq!(h.repl(), vec!["PFMERGE k"]);
        // PFDEBUG only when it converts.
        assert_eq!(h.run(&["PFDEBUG", "TODENSE", "k"]), int(1));
        assert_eq!(h.run(&["PFDEBUG", "TODENSE", "k"]), int(0));
        assert_eq!(h.repl(), vec!["PFDEBUG TODENSE k"]);
    }

    #[test]
    fn pfmerge_keeps_the_destination_ttl() {
        let mut h = Harness::new();
        h.run(&["PFADD", "d", "x"]);
        h.run(&["EXPIRE", "d", "100"]);
        h.run(&["PFADD", "s", "y"]);
        assert_eq!(h.run(&["PFMERGE", "d", "s"]), Reply::ok());
        assert_eq!(h.run(&["TTL", "d"]), int(100));
        assert_eq!(h.run(&["PFCOUNT", "d"]), int(2));
    }

    #[test]
    fn truncated_xzero_reads_zero_past_the_end() {
        // XZERO:16383 then a lone XZERO head (its missing byte reads 0, so
        // it covers 1 register): a valid value in Redis's eyes.
        let mut s = header(SPARSE, [0, 0, 0, 0, 0, 0, 0, 0x80]);
        s.extend_from_slice(&[0x7f, 0xfe, 0x40]);
        assert_eq!(histogram(&s).map(|h| h[0]), Some(REGISTERS as u32));
        assert_eq!(decode_sparse(&s), "Z:16383 Z:1");
        assert_eq!(sparse_set(&mut s, 16383, 2, 3000), SetOutcome::Changed);
        // The VAL byte replacing the two-byte head lands past the new end,
        // as in Redis: the string is one byte shorter.
        assert_eq!(decode_sparse(&s), "Z:16383");

        // The same through the commands; redis-server 7.0.15 answers alike
        // ("x8784" falls in register 16383 with value 2).
        let mut h = Harness::new();
        let mut v = header(SPARSE, [0, 0, 0, 0, 0, 0, 0, 0x80]);
        v.extend_from_slice(&[0x7f, 0xfe, 0x40]);
        set_bytes(&mut h, "t", &v);
        assert_eq!(h.run(&["PFCOUNT", "t"]), int(0));
        set_bytes(&mut h, "t", &v);
        assert_eq!(h.run(&["PFADD", "t", "x8784"]), int(1));
        assert_eq!(get(&mut h, "t"), &v[..HDR + 2]);
    }
}
