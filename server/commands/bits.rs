//! Bit commands (GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO) and the string command LCS.
//!
//! Behaviour follows Redis 7.0's bitops.c and t_string.c: the same order of
//! checks (BITCOUNT and BITPOS answer for a missing key before reading their
//! range), the same error texts, and the same arithmetic for BITFIELD's
//! overflow checks, which work on the raw 64-bit values (so `SET u8 0 -1`
//! saturates to 255). Option words are compared as C strings, up to a NUL.
//!
//! Writers (SETBIT, BITFIELD with SET or INCRBY) pad the string with zero
//! bytes up to the highest bit they write and leave it in the `raw`
//! encoding even when no bit changes, as Redis's unsharing does; BITOP
//! stores a `raw` string too. A write counts (dirty counter, propagation)
//! only when the bytes changed: a bit flipped, or the string was created or
//! grew. Redis 7.0 does not propagate a BITFIELD that created or padded the
//! string when every write of it failed under `OVERFLOW FAIL`; tandem does,
//! so that replicas hold the same bytes. All of these commands are
//! deterministic and propagate verbatim.
//!
//! Bit offsets are limited as Redis limits them: `offset / 8` must stay
//! below `proto-max-bulk-len`, except in commands from the primary.

use bytes::Bytes;
use tandem_storage::num;
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args;
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

/// BITOP's keys: the destination and every source.
const BITOP_KEYS: KeySpec = KeySpec {
    first: 2,
    last: -1,
    step: 1,
};

const BITFIELD_COMPLEXITY: &str = "O(1) for each subcommand specified";
const BITFIELD_RO_SUMMARY: &str =
    "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("getbit", 3, READONLY | FAST, KeySpec::ONE, getbit)
        .doc(
            "bitmap",
            "2.2.0",
            "Returns the bit value at offset in the string value stored at key",
        )
        .complexity("O(1)")
        .acl(&["read", "bitmap", "fast"]),
    CommandSpec::new("setbit", 4, WRITE | DENYOOM, KeySpec::ONE, setbit)
        .doc(
            "bitmap",
            "2.2.0",
            "Sets or clears the bit at offset in the string value stored at key",
        )
        .complexity("O(1)")
        .acl(&["write", "bitmap", "slow"]),
    CommandSpec::new("bitcount", -2, READONLY, KeySpec::ONE, bitcount)
        .doc("bitmap", "2.6.0", "Count set bits in a string")
        .complexity("O(N)")
        .acl(&["read", "bitmap", "slow"]),
    CommandSpec::new("bitpos", -3, READONLY, KeySpec::ONE, bitpos)
        .doc("bitmap", "2.8.7", "Find first bit set or clear in a string")
        .complexity("O(N)")
        .acl(&["read", "bitmap", "slow"]),
    CommandSpec::new("bitop", -4, WRITE | DENYOOM, BITOP_KEYS, bitop)
        .doc(
            "bitmap",
            "2.6.0",
            "Perform bitwise operations between strings",
        )
        .complexity("O(N)")
        .acl(&["write", "bitmap", "slow"]),
    CommandSpec::new("bitfield", -2, WRITE | DENYOOM, KeySpec::ONE, bitfield)
        .doc(
            "bitmap",
            "3.2.0",
            "Perform arbitrary bitfield integer operations on strings",
        )
        .complexity(BITFIELD_COMPLEXITY)
        .acl(&["write", "bitmap", "slow"]),
    CommandSpec::new(
        "bitfield_ro",
        -2,
        READONLY | FAST,
        KeySpec::ONE,
        bitfield_ro,
    )
    .doc("bitmap", "6.0.0", BITFIELD_RO_SUMMARY)
    .complexity(BITFIELD_COMPLEXITY)
    .acl(&["read", "bitmap", "fast"]),
    CommandSpec::new("lcs", -3, READONLY, KeySpec::TWO, lcs)
        .doc("string", "7.0.0", "Find longest common substring")
        .complexity("O(N*M) where N and M are the lengths of s1 and s2, respectively")
        .acl(&["read", "string", "slow"]),
];

const OFFSET_ERR: &str = "ERR bit offset is not an integer or out of range";
const FIELD_TYPE_ERR: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// The argument as C's string functions see it: up to its first NUL.
fn c_str(arg: &[u8]) -> &[u8] {
    match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    }
}

/// An option word as Redis compares it (`strcasecmp`).
fn word_is(arg: &[u8], word: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// A bit offset argument. With `field_bits`, BITFIELD's `#n` form means `n`
/// fields of that width (multiplied as C does, wrapping).
fn bit_offset(ctx: &ExecCtx<'_>, arg: &[u8], field_bits: Option<u32>) -> Result<u64, Reply> {
    let err = || Reply::error(OFFSET_ERR);
    let (digits, scale) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(bits)) => (&arg[1..], i64::from(bits)),
        _ => (arg, 1),
    };
    let offset = num::parse_i64(digits).ok_or_else(err)?.wrapping_mul(scale);
    if offset < 0 {
        return Err(err());
    }
    let offset = offset as u64;
    if !ctx.client.is_master && offset >> 3 >= ctx.server.config.read().proto_max_bulk_len {
        return Err(err());
    }
    Ok(offset)
}

/// Runs `f` on the string at `key`, as a read (a keyspace hit or miss is
/// counted, a found key of another type too, as Redis does). `Ok(None)` when
/// the key is absent.
fn read_str<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, Reply> {
    let now = ctx.now_ms;
    let (found, out) = match ctx.db().get(key, now) {
        None => (false, Ok(None)),
        Some(entry) => match entry.value.as_str() {
            Some(bytes) => (true, Ok(Some(f(bytes)))),
            None => (true, Err(Reply::wrong_type())),
        },
    };
    ctx.count_lookup(found);
    out
}

/// A zeroed buffer of `len` bytes, or an error reply if it cannot be had
/// (only reachable with the offsets a primary may send).
fn zeroed(len: usize) -> Result<Vec<u8>, Reply> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)
        .map_err(|_| Reply::error(OFFSET_ERR))?;
    v.resize(len, 0);
    Ok(v)
}

/// Opens the string at `key` for writing bits up to `max_bit`, as Redis's
/// bit writers do: creates it zeroed or pads it with zero bytes, and leaves
/// it `raw`. `f` gets the bytes and whether they were created or grew, edits
/// them, and returns its result with the number of changes it made; the
/// command counts one write per change (at least one when the string was
/// created or grew), and none at all when nothing changed.
fn edit_bits<R>(
    ctx: &mut ExecCtx<'_>,
    key: &Bytes,
    max_bit: u64,
    f: impl FnOnce(&mut [u8], bool) -> (R, u64),
) -> Result<R, Reply> {
    let len = usize::try_from(max_bit >> 3)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| Reply::error(OFFSET_ERR))?;
    let now = ctx.now_ms;
    // Err(Ok(r)): only the encoding changed; Err(Err(reply)): refused.
    let mut f = Some(f);
    let edited = ctx.db().modify(key, now, |value| {
        let Value::Str(bytes) = value else {
            return Err(Err(Reply::wrong_type()));
        };
        bytes.set_flag(true);
        let grew = bytes.len() < len;
        if grew {
            bytes
                .modify(|v| {
                    v.try_reserve_exact(len - v.len())?;
                    v.resize(len, 0);
                    Ok(())
                })
                .map_err(|_: std::collections::TryReserveError| Err(Reply::error(OFFSET_ERR)))?;
        }
        let f = f.take().expect("the edit runs once");
        let (r, changes) = f(bytes.as_mut_slice(), grew);
        if changes > 0 || grew {
            Ok((r, changes))
        } else {
            Err(Ok(r))
        }
    });
    let (r, changes) = match edited {
        Some(Ok(done)) => done,
        Some(Err(Ok(r))) => return Ok(r),
        Some(Err(Err(reply))) => return Err(reply),
        None => {
            let mut bytes = SmallBytes::from_vec(zeroed(len)?);
            let f = f.take().expect("the edit runs once");
            let (r, changes) = f(bytes.as_mut_slice(), true);
            ctx.db().insert(key, Value::raw_string(bytes), None, now);
            (r, changes)
        }
    };
    // One write is already counted; Redis counts one per change.
    for _ in 1..changes {
        ctx.db().mark_dirty();
    }
    Ok(r)
}

/// The bit at `offset` (bit 0 is the most significant bit of byte 0); bits
/// past the end read as 0.
fn bit_at(s: &[u8], offset: u64) -> bool {
    usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| s.get(i))
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

/// Sets or clears the bit at `offset`, which the caller made sure exists.
fn put_bit(s: &mut [u8], offset: u64, on: bool) {
    let mask = 0x80u8 >> (offset & 7);
    if let Some(b) = usize::try_from(offset >> 3).ok().and_then(|i| s.get_mut(i)) {
        if on {
            *b |= mask;
        } else {
            *b &= !mask;
        }
    }
}

fn getbit(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let offset = tri!(bit_offset(ctx, &argv[2], None));
    let bit = tri!(read_str(ctx, &argv[1], |s| bit_at(s, offset)));
    Reply::Int(i64::from(bit.unwrap_or(false)))
}

fn setbit(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let offset = tri!(bit_offset(ctx, &argv[2], None));
    let on = match num::parse_i64(&argv[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Reply::error("ERR bit is not an integer or out of range"),
    };
    let mut changed = false;
    let old = tri!(edit_bits(ctx, &argv[1], offset, |bytes, grew| {
        let old = bit_at(bytes, offset);
        put_bit(bytes, offset, on);
        changed = grew || old != on;
        (old, u64::from(changed))
    }));
    if changed {
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    Reply::Int(i64::from(old))
}

/// Redis's range normalisation for BITCOUNT and BITPOS: negative indexes
/// count from the end, then both are clamped into `0..total`. `None` for an
/// empty range.
fn clamp_range(start: i64, end: i64, total: i64) -> Option<(u64, u64)> {
    let from_end = |i: i64| if i < 0 { total + i } else { i };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(total - 1);
    (start <= end).then_some((start as u64, end as u64))
}

/// Whether a BIT|BYTE unit argument says BIT; `None` for anything else.
fn bit_unit(arg: &[u8]) -> Option<bool> {
    if word_is(arg, "bit") {
        Some(true)
    } else if word_is(arg, "byte") {
        Some(false)
    } else {
        None
    }
}

/// Set bits among `s`'s bits `lo..=hi` (both within the string).
fn count_ones(s: &[u8], lo: u64, hi: u64) -> u64 {
    let (first, last) = ((lo >> 3) as usize, (hi >> 3) as usize);
    let head = 0xffu8 >> (lo & 7);
    let tail = 0xffu8 << (7 - (hi & 7));
    if first == last {
        return u64::from((s[first] & head & tail).count_ones());
    }
    u64::from((s[first] & head).count_ones())
        + popcount(&s[first + 1..last])
        + u64::from((s[last] & tail).count_ones())
}

fn popcount(s: &[u8]) -> u64 {
    let words = s.chunks_exact(8);
    let rest: u64 = words
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    words
        .map(|w| u64::from(u64::from_ne_bytes(w.try_into().expect("8 bytes")).count_ones()))
        .sum::<u64>()
        + rest
}

/// The first bit equal to `want` among `s`'s bits `lo..=hi` (both within
/// the string).
fn first_bit(s: &[u8], want: bool, lo: u64, hi: u64) -> Option<u64> {
    let skip = if want { 0x00 } else { 0xff };
    // Whole bytes in the range are bytes `lo.div_ceil(8)..(hi + 1) / 8`.
    let mut pos = lo;
    while pos <= hi {
        if pos & 7 == 0 && pos + 7 <= hi {
            let from = (pos >> 3) as usize;
            let to = ((hi + 1) >> 3) as usize;
            match s[from..to].iter().position(|&b| b != skip) {
                Some(k) => {
                    let b = if want { s[from + k] } else { !s[from + k] };
                    return Some((from + k) as u64 * 8 + u64::from(b.leading_zeros()));
                }
                None => {
                    pos = to as u64 * 8;
                    continue;
                }
            }
        }
        if bit_at(s, pos) == want {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

fn bitcount(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let counted = tri!(read_str(ctx, &argv[1], |s| count_range(s, &argv[2..])));
    counted.unwrap_or(Reply::Int(0))
}

fn count_range(s: &[u8], range: &[Bytes]) -> Reply {
    let len = s.len() as i64;
    let (lo, hi) = match range.len() {
        0 if s.is_empty() => return Reply::Int(0),
        0 => (0, len as u64 * 8 - 1),
        2 | 3 => {
            let start = tri!(args::int(&range[0]));
            let end = tri!(args::int(&range[1]));
            if start < 0 && end < 0 && start > end {
                return Reply::Int(0);
            }
            let in_bits = match range.get(2).map(|u| bit_unit(u)) {
                None => false,
                Some(Some(bits)) => bits,
                Some(None) => return Reply::syntax_error(),
            };
            let total = if in_bits { len * 8 } else { len };
            match clamp_range(start, end, total) {
                None => return Reply::Int(0),
                Some((a, b)) if in_bits => (a, b),
                Some((a, b)) => (a * 8, b * 8 + 7),
            }
        }
        _ => return Reply::syntax_error(),
    };
    Reply::Int(count_ones(s, lo, hi) as i64)
}

fn bitpos(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let want = match tri!(args::int(&argv[2])) {
        0 => false,
        1 => true,
        _ => return Reply::error("ERR The bit argument must be 1 or 0."),
    };
    let found = tri!(read_str(ctx, &argv[1], |s| find_in_range(
        s,
        want,
        &argv[3..]
    )));
    // A missing key is an endless run of zeros.
    found.unwrap_or(Reply::Int(if want { -1 } else { 0 }))
}

fn find_in_range(s: &[u8], want: bool, range: &[Bytes]) -> Reply {
    let len = s.len() as i64;
    let mut end_given = false;
    let bits = match range.len() {
        0 => clamp_range(0, len - 1, len).map(|(a, b)| (a * 8, b * 8 + 7)),
        1..=3 => {
            let start = tri!(args::int(&range[0]));
            let in_bits = match range.get(2).map(|u| bit_unit(u)) {
                None => false,
                Some(Some(bits)) => bits,
                Some(None) => return Reply::syntax_error(),
            };
            let end = match range.get(1) {
                Some(end) => {
                    end_given = true;
                    tri!(args::int(end))
                }
                None => len - 1,
            };
            let total = if in_bits { len * 8 } else { len };
            match clamp_range(start, end, total) {
                Some((a, b)) if !in_bits => Some((a * 8, b * 8 + 7)),
                other => other,
            }
        }
        _ => return Reply::syntax_error(),
    };
    let Some((lo, hi)) = bits else {
        return Reply::Int(-1);
    };
    match first_bit(s, want, lo, hi) {
        Some(pos) => Reply::Int(pos as i64),
        // Without an explicit end the string counts as padded with zeros.
        None if !want && !end_given => Reply::Int(hi as i64 + 1),
        None => Reply::Int(-1),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

/// Folds one source into BITOP's result; `acc` is `None` before the first
/// source. A missing key is an empty string (zeros as far as needed).
fn fold_source(acc: &mut Option<Vec<u8>>, src: &[u8], op: BitOp) {
    let Some(acc) = acc else {
        *acc = Some(match op {
            BitOp::Not => src.iter().map(|b| !b).collect(),
            _ => src.to_vec(),
        });
        return;
    };
    if acc.len() < src.len() {
        acc.resize(src.len(), 0);
    }
    let pad = std::iter::repeat(&0u8);
    for (a, &b) in acc.iter_mut().zip(src.iter().chain(pad)) {
        match op {
            BitOp::And => *a &= b,
            BitOp::Or => *a |= b,
            BitOp::Xor => *a ^= b,
            BitOp::Not => {}
        }
    }
}

fn bitop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let name = &argv[1];
    let op = if word_is(name, "and") {
        BitOp::And
    } else if word_is(name, "or") {
        BitOp::Or
    } else if word_is(name, "xor") {
        BitOp::Xor
    } else if word_is(name, "not") {
        BitOp::Not
    } else {
        return Reply::syntax_error();
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Reply::error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut acc = None;
    for key in &argv[3..] {
        let seen = tri!(read_str(ctx, key, |s| fold_source(&mut acc, s, op)));
        if seen.is_none() {
            fold_source(&mut acc, &[], op);
        }
    }
    let result = acc.unwrap_or_default();
    let (dest, now, len) = (&argv[2], ctx.now_ms, result.len());
    if result.is_empty() {
        if ctx.db().remove(dest, now).is_some() {
            ctx.notify(notify::GENERIC, "del", dest);
        }
    } else {
        let value = Value::raw_string(SmallBytes::from_vec(result));
        ctx.db().insert(dest, value, None, now);
        ctx.notify(notify::STRING, "set", dest);
    }
    Reply::Int(len as i64)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set(i64),
    IncrBy(i64),
}

/// One BITFIELD operation on one field.
#[derive(Clone, Copy, Debug)]
struct FieldStep {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    overflow: Overflow,
}

/// A field type `i1`..`i64` or `u1`..`u63`: (signed, bits).
fn field_type(arg: &[u8]) -> Result<(bool, u32), Reply> {
    let err = || Reply::error(FIELD_TYPE_ERR);
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(err()),
    };
    let bits = num::parse_i64(c_str(&arg[1..])).ok_or_else(err)?;
    let widest = if signed { 64 } else { 63 };
    if !(1..=widest).contains(&bits) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

/// The unsigned field of `bits` bits at `offset`; bits past the end read as 0.
fn read_field(s: &[u8], offset: u64, bits: u32) -> u64 {
    (0..u64::from(bits)).fold(0, |v, k| (v << 1) | u64::from(bit_at(s, offset + k)))
}

/// The signed (two's complement) field of `bits` bits at `offset`.
fn read_signed_field(s: &[u8], offset: u64, bits: u32) -> i64 {
    let v = read_field(s, offset, bits);
    if bits < 64 && v & (1 << (bits - 1)) != 0 {
        (v | (u64::MAX << bits)) as i64
    } else {
        v as i64
    }
}

/// Stores the low `bits` bits of `value` at `offset`, which the caller made
/// sure exists.
fn write_field(s: &mut [u8], offset: u64, bits: u32, value: u64) {
    for k in 0..bits {
        put_bit(s, offset + u64::from(k), (value >> (bits - 1 - k)) & 1 != 0);
    }
}

/// `value + incr` stored in an unsigned field of `bits` (< 64) bits, with
/// Redis's overflow rules; `None` when it overflows under FAIL. `value` may
/// lie outside the field (a SET's argument, with `incr` 0).
fn unsigned_add(value: u64, incr: i64, bits: u32, mode: Overflow) -> Option<u64> {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let over = value > max || (incr > 0 && incr > max_incr);
    let under = !over && incr < 0 && incr < min_incr;
    let sum = value.wrapping_add(incr as u64);
    if !over && !under {
        return Some(sum);
    }
    match mode {
        Overflow::Wrap => Some(sum & max),
        Overflow::Sat => Some(if over { max } else { 0 }),
        Overflow::Fail => None,
    }
}

/// `value + incr` stored in a signed field of `bits` bits, with Redis's
/// overflow rules (its limits are computed in wrapping 64-bit arithmetic,
/// and so are these); `None` when it overflows under FAIL.
fn signed_add(value: i64, incr: i64, bits: u32, mode: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let over = value > max
        || (bits != 64 && incr > max_incr)
        || (value >= 0 && incr > 0 && incr > max_incr);
    let under = !over
        && (value < min
            || (bits != 64 && incr < min_incr)
            || (value < 0 && incr < 0 && incr < min_incr));
    if !over && !under {
        return Some(value.wrapping_add(incr));
    }
    match mode {
        Overflow::Wrap => {
            let sum = (value as u64).wrapping_add(incr as u64);
            if bits == 64 {
                return Some(sum as i64);
            }
            let high = u64::MAX << bits;
            let negative = sum & (1 << (bits - 1)) != 0;
            Some(if negative { sum | high } else { sum & !high } as i64)
        }
        Overflow::Sat => Some(if over { max } else { min }),
        Overflow::Fail => None,
    }
}

/// A GET step's answer.
fn get_field(s: &[u8], step: &FieldStep) -> Reply {
    if step.signed {
        Reply::Int(read_signed_field(s, step.offset, step.bits))
    } else {
        Reply::Int(read_field(s, step.offset, step.bits) as i64)
    }
}

/// Runs one BITFIELD step on `bytes`; counts a change when the field's
/// value changed or the string was created or grew.
fn run_step(bytes: &mut [u8], step: &FieldStep, grew: bool, changes: &mut u64) -> Reply {
    let (incr, arg) = match step.op {
        FieldOp::Get => return get_field(bytes, step),
        FieldOp::IncrBy(v) => (true, v),
        FieldOp::Set(v) => (false, v),
    };
    let FieldStep {
        signed,
        bits,
        offset,
        overflow,
        ..
    } = *step;
    // (old, new, answer): INCRBY answers the new value, SET the old one.
    let (old, new, answer) = if signed {
        let old = read_signed_field(bytes, offset, bits);
        let stored = if incr {
            signed_add(old, arg, bits, overflow)
        } else {
            signed_add(arg, 0, bits, overflow)
        };
        let Some(new) = stored else {
            return Reply::Null;
        };
        (old as u64, new as u64, if incr { new } else { old })
    } else {
        let old = read_field(bytes, offset, bits);
        let stored = if incr {
            unsigned_add(old, arg, bits, overflow)
        } else {
            unsigned_add(arg as u64, 0, bits, overflow)
        };
        let Some(new) = stored else {
            return Reply::Null;
        };
        (old, new, if incr { new } else { old } as i64)
    };
    write_field(bytes, offset, bits, new);
    if grew || old != new {
        *changes += 1;
    }
    Reply::Int(answer)
}

fn bitfield(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    bitfield_generic(ctx, argv, true)
}

fn bitfield_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], read_only: bool) -> Reply {
    let mut steps = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest_write = None::<u64>;
    let mut j = 2;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let word = &argv[j];
        let op = if word_is(word, "get") && more >= 2 {
            FieldOp::Get
        } else if word_is(word, "set") && more >= 3 {
            FieldOp::Set(0)
        } else if word_is(word, "incrby") && more >= 3 {
            FieldOp::IncrBy(0)
        } else if word_is(word, "overflow") && more >= 1 {
            let mode = &argv[j + 1];
            overflow = if word_is(mode, "wrap") {
                Overflow::Wrap
            } else if word_is(mode, "sat") {
                Overflow::Sat
            } else if word_is(mode, "fail") {
                Overflow::Fail
            } else {
                return Reply::error("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return Reply::syntax_error();
        };
        let (signed, bits) = tri!(field_type(&argv[j + 1]));
        let offset = tri!(bit_offset(ctx, &argv[j + 2], Some(bits)));
        let op = match op {
            FieldOp::Get => op,
            FieldOp::Set(_) | FieldOp::IncrBy(_) => {
                let last_bit = offset + u64::from(bits) - 1;
                highest_write = Some(highest_write.map_or(last_bit, |h| h.max(last_bit)));
                let v = tri!(args::int(&argv[j + 3]));
                if matches!(op, FieldOp::Set(_)) {
                    FieldOp::Set(v)
                } else {
                    FieldOp::IncrBy(v)
                }
            }
        };
        steps.push(FieldStep {
            op,
            signed,
            bits,
            offset,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }

    let Some(highest_write) = highest_write else {
        let read =
            |s: &[u8]| -> Vec<Reply> { steps.iter().map(|step| get_field(s, step)).collect() };
        let replies = tri!(read_str(ctx, &argv[1], read));
        return Reply::Array(replies.unwrap_or_else(|| read(&[])));
    };
    if read_only {
        return Reply::error("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let mut writes = 0;
    let replies = tri!(edit_bits(ctx, &argv[1], highest_write, |bytes, grew| {
        let mut changes = 0;
        let replies = steps
            .iter()
            .map(|step| run_step(bytes, step, grew, &mut changes))
            .collect();
        writes = changes;
        (replies, changes)
    }));
    if writes > 0 {
        ctx.notify(notify::STRING, "setbit", &argv[1]);
    }
    Reply::Array(replies)
}

/// One run of LCS matches, as IDX reports it: inclusive ranges in each string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MatchRange {
    a: (u32, u32),
    b: (u32, u32),
}

impl MatchRange {
    fn len(&self) -> u32 {
        self.a.1 - self.a.0 + 1
    }
}

/// The LCS table: `at(i, j)` is the LCS length of `a[..i]` and `b[..j]`.
struct LcsTable {
    cells: Vec<u32>,
    width: usize,
}

impl LcsTable {
    fn build(a: &[u8], b: &[u8], mut cells: Vec<u32>) -> LcsTable {
        let width = b.len() + 1;
        cells.clear();
        cells.resize(width, 0);
        for i in 1..=a.len() {
            cells.push(0);
            for j in 1..=b.len() {
                let here = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
                cells.push(here);
            }
        }
        LcsTable { cells, width }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }
}

/// Walks the table back from the end as Redis does, building the common
/// subsequence and, when `ranges` is given, the runs of contiguous matches
/// (from the end of the strings towards their start).
fn lcs_walk(
    a: &[u8],
    b: &[u8],
    table: &LcsTable,
    mut ranges: Option<&mut Vec<MatchRange>>,
) -> Vec<u8> {
    let total = table.at(a.len(), b.len()) as usize;
    let mut out = vec![0u8; total];
    let mut k = total;
    let (mut i, mut j) = (a.len(), b.len());
    let mut run: Option<MatchRange> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            k -= 1;
            out[k] = a[i - 1];
            let (ai, bj) = ((i - 1) as u32, (j - 1) as u32);
            match &mut run {
                None => {
                    run = Some(MatchRange {
                        a: (ai, ai),
                        b: (bj, bj),
                    })
                }
                // A match right before the run extends it.
                Some(r) if r.a.0 == ai + 1 && r.b.0 == bj + 1 => {
                    r.a.0 = ai;
                    r.b.0 = bj;
                }
                Some(_) => emit = true,
            }
            if run.is_some_and(|r| r.a.0 == 0 || r.b.0 == 0) {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if table.at(i - 1, j) > table.at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = run.is_some();
        }
        if emit {
            if let (Some(r), Some(ranges)) = (run.take(), ranges.as_deref_mut()) {
                ranges.push(r);
            }
        }
    }
    out
}

fn lcs(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let a = read_str(ctx, &argv[1], Bytes::copy_from_slice);
    let b = read_str(ctx, &argv[2], Bytes::copy_from_slice);
    let (Ok(a), Ok(b)) = (a, b) else {
        return Reply::error("ERR The specified keys must contain string values");
    };
    let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len = 0i64;
    let mut j = 3;
    while j < argv.len() {
        let opt = &argv[j];
        if word_is(opt, "idx") {
            want_idx = true;
        } else if word_is(opt, "len") {
            want_len = true;
        } else if word_is(opt, "withmatchlen") {
            with_len = true;
        } else if word_is(opt, "minmatchlen") && j + 1 < argv.len() {
            min_len = tri!(args::int(&argv[j + 1])).max(0);
            j += 1;
        } else {
            return Reply::syntax_error();
        }
        j += 1;
    }
    if want_len && want_idx {
        return Reply::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let too_long = |s: &Bytes| s.len() as u64 >= u64::from(u32::MAX - 1);
    if too_long(&a) || too_long(&b) {
        return Reply::error("ERR String too long for LCS");
    }
    let alloc_failed =
        || Reply::error("ERR Insufficient memory, failed allocating transient memory for LCS");
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    let Some(bytes) = cells.checked_mul(4) else {
        return alloc_failed();
    };
    if bytes > ctx.server.config.read().proto_max_bulk_len {
        return Reply::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    let mut buf = Vec::new();
    if usize::try_from(cells)
        .ok()
        .and_then(|n| buf.try_reserve_exact(n).ok())
        .is_none()
    {
        return alloc_failed();
    }
    let table = LcsTable::build(&a, &b, buf);
    let total = i64::from(table.at(a.len(), b.len()));
    if want_idx {
        let mut ranges = Vec::new();
        lcs_walk(&a, &b, &table, Some(&mut ranges));
        let matches = ranges
            .iter()
            .filter(|r| min_len == 0 || i64::from(r.len()) >= min_len)
            .map(|r| {
                let pair = |(from, to): (u32, u32)| {
                    Reply::Array(vec![Reply::Int(from.into()), Reply::Int(to.into())])
                };
                let mut item = vec![pair(r.a), pair(r.b)];
                if with_len {
                    item.push(Reply::Int(r.len().into()));
                }
                Reply::Array(item)
            })
            .collect();
        return Reply::Map(vec![
            (Reply::bulk_from(b"matches"), Reply::Array(matches)),
            (Reply::bulk_from(b"len"), Reply::Int(total)),
        ]);
    }
    if want_len {
        return Reply::Int(total);
    }
    Reply::Bulk(Bytes::from(lcs_walk(&a, &b, &table, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table;
    use crate::commands::testing::{bulk, err, int, Harness};

    fn ints(items: &[i64]) -> Reply {
        Reply::Array(items.iter().map(|&i| Reply::Int(i)).collect())
    }

    #[test]
    fn table_entries_match_redis() {
        let spec = |name: &str| table().lookup(name.as_bytes()).expect("registered");
        assert_eq!(spec("getbit").flags, READONLY | FAST);
        assert_eq!(spec("setbit").flags, WRITE | DENYOOM);
        assert_eq!(spec("bitcount").flags, READONLY);
        assert_eq!(spec("bitpos").arity, -3);
        assert_eq!(spec("bitop").arity, -4);
        let bitop = spec("bitop").keys;
        assert_eq!((bitop.first, bitop.last, bitop.step), (2, -1, 1));
        assert_eq!(spec("bitfield").flags, WRITE | DENYOOM);
        assert_eq!(spec("bitfield_ro").flags, READONLY | FAST);
        let lcs = spec("lcs");
        assert_eq!((lcs.arity, lcs.keys.first, lcs.keys.last), (-3, 1, 2));
        assert_eq!(lcs.group, "string");
        for spec in COMMANDS {
            assert!(!spec.summary.is_empty() && !spec.complexity.is_empty());
        }
    }

    #[test]
    fn setbit_and_getbit() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SETBIT", "k", "7", "1"]), int(0));
        assert_eq!(h.run(&["GET", "k"]), bulk("\u{1}"));
        assert_eq!(h.run(&["SETBIT", "k", "7", "0"]), int(1));
        assert_eq!(h.run(&["SETBIT", "k", "1", "1"]), int(0));
        assert_eq!(h.run(&["GETBIT", "k", "1"]), int(1));
        assert_eq!(h.run(&["GETBIT", "k", "100"]), int(0));
        assert_eq!(h.run(&["GETBIT", "nokey", "1"]), int(0));
        assert_eq!(h.run(&["SETBIT", "k", "17", "1"]), int(0));
        assert_eq!(h.run(&["STRLEN", "k"]), int(3));
        assert_eq!(h.encoding("k"), bulk("raw"));
        // An integer-encoded string reads as its digits ("1" is 0x31).
        h.run(&["SET", "n", "1"]);
        assert_eq!(h.run(&["GETBIT", "n", "2"]), int(1));
        assert_eq!(h.run(&["GETBIT", "n", "1"]), int(0));
        let bad_bit = err("ERR bit is not an integer or out of range");
        assert_eq!(h.run(&["SETBIT", "k", "1", "2"]), bad_bit);
        assert_eq!(h.run(&["SETBIT", "k", "1", "-1"]), bad_bit);
        assert_eq!(h.run(&["SETBIT", "k", "1", "x"]), bad_bit);
        let bad_offset = err(OFFSET_ERR);
        assert_eq!(h.run(&["SETBIT", "k", "-1", "1"]), bad_offset);
        assert_eq!(h.run(&["GETBIT", "k", "x"]), bad_offset);
        assert_eq!(h.run(&["GETBIT", "k", "#1"]), bad_offset);
        assert_eq!(h.run(&["SETBIT", "k", "4294967296", "1"]), bad_offset);
        assert_eq!(h.run(&["GETBIT", "k", "4294967296"]), bad_offset);
        h.run(&["RPUSH", "l", "a"]);
        assert_eq!(h.run(&["SETBIT", "l", "1", "1"]), Reply::wrong_type());
        assert_eq!(h.run(&["GETBIT", "l", "1"]), Reply::wrong_type());
    }

    #[test]
    fn bit_offsets_follow_proto_max_bulk_len() {
        let mut h = Harness::new();
        h.config_set("proto-max-bulk-len", "1mb");
        assert_eq!(h.run(&["SETBIT", "k", "8388608", "1"]), err(OFFSET_ERR));
        assert_eq!(
            h.run(&["BITFIELD", "k", "GET", "u8", "#1048576"]),
            err(OFFSET_ERR)
        );
        assert_eq!(h.run(&["SETBIT", "k", "8388607", "1"]), int(0));
        assert_eq!(h.run(&["STRLEN", "k"]), int(1 << 20));
        assert_eq!(h.run(&["BITCOUNT", "k"]), int(1));
        assert_eq!(h.run(&["BITPOS", "k", "1"]), int(8388607));
    }

    #[test]
    fn unchanged_bits_are_not_a_write_but_still_raw() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "12", "EX", "100"]);
        h.repl();
        let dirty = h.dirty();
        assert_eq!(h.encoding("k"), bulk("int"));
        // Bit 2 of "1" (0x31) is already 1.
        assert_eq!(h.run(&["SETBIT", "k", "2", "1"]), int(1));
        assert_eq!(h.encoding("k"), bulk("raw"));
        assert_eq!(
            h.run(&["BITFIELD", "k", "SET", "u8", "0", "49", "INCRBY", "i4", "0", "0"]),
            ints(&[49, 3])
        );
        assert_eq!(h.dirty(), dirty);
        assert!(h.repl().is_empty());
        // A change propagates verbatim and keeps the TTL.
        assert_eq!(h.run(&["SETBIT", "k", "0", "1"]), int(0));
        assert_eq!(h.repl(), ["SETBIT k 0 1"]);
        assert_eq!(h.run(&["GET", "k"]), Reply::bulk_from(&[0xb1, b'2']));
        assert_eq!(h.run(&["TTL", "k"]), int(100));
        // Growing is a change even when the new bit is 0.
        assert_eq!(h.run(&["SETBIT", "k", "100", "0"]), int(0));
        assert_eq!(h.repl(), ["SETBIT k 100 0"]);
        assert_eq!(h.run(&["STRLEN", "k"]), int(13));
    }

    #[test]
    fn bitcount_ranges() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "foobar"]);
        assert_eq!(h.run(&["BITCOUNT", "k"]), int(26));
        assert_eq!(h.run(&["BITCOUNT", "k", "0", "0"]), int(4));
        assert_eq!(h.run(&["BITCOUNT", "k", "1", "1"]), int(6));
        assert_eq!(h.run(&["BITCOUNT", "k", "1", "1", "BYTE"]), int(6));
        assert_eq!(h.run(&["BITCOUNT", "k", "5", "30", "BIT"]), int(17));
        assert_eq!(h.run(&["BITCOUNT", "k", "-2", "-1"]), int(7));
        assert_eq!(h.run(&["BITCOUNT", "k", "-1", "-2"]), int(0));
        assert_eq!(h.run(&["BITCOUNT", "k", "2", "100"]), int(16));
        assert_eq!(h.run(&["BITCOUNT", "k", "10", "100"]), int(0));
        // The early answer for a reversed negative range skips the unit check.
        assert_eq!(h.run(&["BITCOUNT", "k", "-1", "-2", "foo"]), int(0));
        assert_eq!(
            h.run(&["BITCOUNT", "k", "1", "2", "foo"]),
            Reply::syntax_error()
        );
        assert_eq!(h.run(&["BITCOUNT", "k", "1"]), Reply::syntax_error());
        assert_eq!(h.run(&["BITCOUNT", "k", "a", "1"]), Reply::not_integer());
        // A missing key answers 0 before its arguments are read.
        assert_eq!(h.run(&["BITCOUNT", "nokey", "a"]), int(0));
        h.run(&["SET", "empty", ""]);
        assert_eq!(h.run(&["BITCOUNT", "empty"]), int(0));
        assert_eq!(h.run(&["BITCOUNT", "empty", "0", "-1", "BIT"]), int(0));
    }

    #[test]
    fn bitpos_ranges() {
        let mut h = Harness::new();
        h.run(&["SETRANGE", "k", "1", "x"]);
        h.run(&["SETBIT", "k", "8", "1"]);
        // k = 00000000 11111000 ("x" is 0x78 = 01111000; bit 8 set).
        assert_eq!(h.run(&["GET", "k"]), Reply::bulk_from(&[0x00, 0xf8]));
        assert_eq!(h.run(&["BITPOS", "k", "1"]), int(8));
        assert_eq!(h.run(&["BITPOS", "k", "0"]), int(0));
        assert_eq!(h.run(&["BITPOS", "k", "0", "1"]), int(13));
        assert_eq!(h.run(&["BITPOS", "k", "1", "2"]), int(-1));
        assert_eq!(h.run(&["BITPOS", "k", "1", "9", "-1", "BIT"]), int(9));
        assert_eq!(h.run(&["BITPOS", "k", "0", "8", "12", "BIT"]), int(-1));
        assert_eq!(h.run(&["BITPOS", "k", "0", "8", "13", "BIT"]), int(13));
        assert_eq!(h.run(&["BITPOS", "k", "1", "0", "7", "BIT"]), int(-1));
        h.run(&["SET", "ones", "\u{7f}"]);
        h.run(&["SETBIT", "ones", "0", "1"]);
        // All ones: without an end the string is padded with zeros.
        assert_eq!(h.run(&["BITPOS", "ones", "0"]), int(8));
        assert_eq!(h.run(&["BITPOS", "ones", "0", "0"]), int(8));
        assert_eq!(h.run(&["BITPOS", "ones", "0", "0", "-1"]), int(-1));
        assert_eq!(h.run(&["BITPOS", "nokey", "0"]), int(0));
        assert_eq!(h.run(&["BITPOS", "nokey", "1", "x"]), int(-1));
        assert_eq!(
            h.run(&["BITPOS", "k", "2"]),
            err("ERR The bit argument must be 1 or 0.")
        );
        assert_eq!(h.run(&["BITPOS", "k", "x"]), Reply::not_integer());
        assert_eq!(
            h.run(&["BITPOS", "k", "1", "0", "1", "BIT", "x"]),
            Reply::syntax_error()
        );
        assert_eq!(
            h.run(&["BITPOS", "k", "1", "0", "x", "FOO"]),
            Reply::syntax_error()
        );
        h.run(&["SET", "empty", ""]);
        assert_eq!(h.run(&["BITPOS", "empty", "0"]), int(-1));
    }

    /// `first_bit` against a bit-by-bit scan over every range of a few strings.
    #[test]
    fn first_bit_matches_a_plain_scan() {
        let samples: [&[u8]; 4] = [
            &[0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80],
            &[0xff, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
            &[0x5a, 0xa5, 0x00, 0xff],
            &[0x00; 17],
        ];
        for s in samples {
            let bits = s.len() as u64 * 8;
            for lo in 0..bits {
                for hi in lo..bits {
                    for want in [false, true] {
                        let plain = (lo..=hi).find(|&p| bit_at(s, p) == want);
                        assert_eq!(first_bit(s, want, lo, hi), plain, "{s:?} {lo} {hi}");
                    }
                    let plain = (lo..=hi).filter(|&p| bit_at(s, p)).count() as u64;
                    assert_eq!(count_ones(s, lo, hi), plain);
                }
            }
        }
    }

    #[test]
    fn bitop_combines_and_stores_raw() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "abc"]);
        h.run(&["SET", "b", "b"]);
        h.run(&["SET", "dest", "old", "EX", "100"]);
        assert_eq!(h.run(&["BITOP", "AND", "dest", "a", "b"]), int(3));
        assert_eq!(h.run(&["GET", "dest"]), Reply::bulk_from(b"`\0\0"));
        assert_eq!(h.run(&["TTL", "dest"]), int(-1));
        assert_eq!(h.encoding("dest"), bulk("raw"));
        assert_eq!(h.run(&["BITOP", "or", "dest", "b", "a"]), int(3));
        assert_eq!(h.run(&["GET", "dest"]), bulk("cbc"));
        assert_eq!(h.run(&["BITOP", "XOR", "dest", "a", "b", "nokey"]), int(3));
        assert_eq!(h.run(&["GET", "dest"]), Reply::bulk_from(b"\x03bc"));
        assert_eq!(h.run(&["BITOP", "NOT", "dest", "b"]), int(1));
        assert_eq!(h.run(&["GET", "dest"]), Reply::bulk_from(&[!b'b']));
        h.repl();
        // An empty result deletes the destination, and propagates only then.
        assert_eq!(h.run(&["BITOP", "AND", "dest", "nokey"]), int(0));
        assert!(!h.exists("dest"));
        assert_eq!(h.repl(), ["BITOP AND dest nokey"]);
        assert_eq!(h.run(&["BITOP", "AND", "dest", "nokey"]), int(0));
        assert!(h.repl().is_empty());
        assert_eq!(
            h.run(&["BITOP", "NOT", "dest", "a", "b"]),
            err("ERR BITOP NOT must be called with a single source key.")
        );
        assert_eq!(
            h.run(&["BITOP", "NAND", "dest", "a"]),
            Reply::syntax_error()
        );
        h.run(&["RPUSH", "l", "x"]);
        assert_eq!(
            h.run(&["BITOP", "OR", "dest", "a", "l"]),
            Reply::wrong_type()
        );
        // The destination may hold any type: it is replaced.
        assert_eq!(h.run(&["BITOP", "OR", "l", "a"]), int(3));
        assert_eq!(h.run(&["GET", "l"]), bulk("abc"));
    }

    #[test]
    fn bitop_touches_only_its_destination_for_watch() {
        let mut h = Harness::new();
        h.run(&["SET", "src", "a"]);
        h.run(&["WATCH", "src"]);
        h.run(&["BITOP", "OR", "dest", "src"]);
        h.run(&["MULTI"]);
        h.run(&["PING"]);
        assert_ne!(h.run(&["EXEC"]), Reply::NullArray);
        h.run(&["WATCH", "dest"]);
        h.run(&["BITOP", "NOT", "dest", "src"]);
        h.run(&["MULTI"]);
        h.run(&["PING"]);
        assert_eq!(h.run(&["EXEC"]), Reply::NullArray);
    }

    #[test]
    fn bitfield_get_set_incrby() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["BITFIELD", "k", "SET", "i8", "0", "100", "GET", "i8", "0"]),
            ints(&[0, 100])
        );
        assert_eq!(h.repl(), ["BITFIELD k SET i8 0 100 GET i8 0"]);
        assert_eq!(
            h.run(&["BITFIELD", "k", "INCRBY", "i8", "0", "100", "GET", "u4", "#1"]),
            ints(&[-56, 8])
        );
        assert_eq!(
            h.run(&[
                "BITFIELD", "k", "OVERFLOW", "SAT", "INCRBY", "i8", "0", "-100", "OVERFLOW",
                "FAIL", "INCRBY", "i8", "0", "-1", "INCRBY", "u2", "100", "1"
            ]),
            Reply::Array(vec![int(-128), Reply::Null, int(1)])
        );
        assert_eq!(h.run(&["STRLEN", "k"]), int(13));
        // GET alone reads: no write, and BITFIELD_RO accepts it.
        h.repl();
        assert_eq!(
            h.run(&["BITFIELD", "k", "GET", "u8", "0", "GET", "i64", "1000"]),
            ints(&[128, 0])
        );
        assert_eq!(
            h.run(&["BITFIELD_RO", "k", "GET", "i8", "0"]),
            ints(&[-128])
        );
        assert_eq!(h.run(&["BITFIELD", "k"]), ints(&[]));
        assert_eq!(h.run(&["BITFIELD", "nokey", "GET", "u8", "0"]), ints(&[0]));
        assert!(!h.exists("nokey"));
        assert!(h.repl().is_empty());
        assert_eq!(
            h.run(&["BITFIELD_RO", "k", "SET", "i8", "0", "1"]),
            err("ERR BITFIELD_RO only supports the GET subcommand")
        );
    }

    #[test]
    fn bitfield_argument_errors() {
        let mut h = Harness::new();
        let bad_type = err(FIELD_TYPE_ERR);
        for ty in ["u64", "i65", "i0", "x8", "u", "", "I8", "u08", "u-1"] {
            assert_eq!(h.run(&["BITFIELD", "k", "GET", ty, "0"]), bad_type, "{ty}");
        }
        assert_eq!(h.run(&["BITFIELD", "k", "GET", "i64", "0"]), ints(&[0]));
        assert_eq!(h.run(&["BITFIELD", "k", "GET", "u63", "0"]), ints(&[0]));
        for offset in ["-1", "x", "#", "#-1", "#x", "4294967296"] {
            assert_eq!(
                h.run(&["BITFIELD", "k", "GET", "u8", offset]),
                err(OFFSET_ERR),
                "{offset}"
            );
        }
        // `#n` wraps as C's multiplication does, then fails the sign check.
        assert_eq!(
            h.run(&["BITFIELD", "k", "GET", "u8", "#9223372036854775807"]),
            err(OFFSET_ERR)
        );
        assert_eq!(
            h.run(&["BITFIELD", "k", "SET", "u8", "0", "x"]),
            Reply::not_integer()
        );
        assert_eq!(
            h.run(&["BITFIELD", "k", "OVERFLOW", "FOO", "GET", "u8", "0"]),
            err("ERR Invalid OVERFLOW type specified")
        );
        for args in [
            &["BITFIELD", "k", "OVERFLOW"][..],
            &["BITFIELD", "k", "GET", "u8"],
            &["BITFIELD", "k", "SET", "u8", "0"],
            &["BITFIELD", "k", "FOO"],
        ] {
            assert_eq!(h.run(args), Reply::syntax_error(), "{args:?}");
        }
        h.run(&["RPUSH", "l", "x"]);
        assert_eq!(
            h.run(&["BITFIELD", "l", "GET", "u8", "0"]),
            Reply::wrong_type()
        );
        assert_eq!(
            h.run(&["BITFIELD", "l", "SET", "u8", "0", "1"]),
            Reply::wrong_type()
        );
        assert!(!h.exists("k"));
    }

    #[test]
    fn bitfield_overflow_follows_redis_arithmetic() {
        use Overflow::*;
        // Unsigned: a SET value outside the field saturates to the top.
        assert_eq!(unsigned_add(u64::MAX, 0, 8, Sat), Some(255));
        assert_eq!(unsigned_add(u64::MAX, 0, 8, Wrap), Some(255));
        assert_eq!(unsigned_add(256, 0, 8, Wrap), Some(0));
        assert_eq!(unsigned_add(250, 10, 8, Wrap), Some(4));
        assert_eq!(unsigned_add(250, 10, 8, Sat), Some(255));
        assert_eq!(unsigned_add(250, 10, 8, Fail), None);
        assert_eq!(unsigned_add(5, -10, 8, Wrap), Some(251));
        assert_eq!(unsigned_add(5, -10, 8, Sat), Some(0));
        assert_eq!(unsigned_add(5, -5, 8, Fail), Some(0));
        assert_eq!(unsigned_add(0, i64::MIN, 63, Sat), Some(0));
        // Signed.
        assert_eq!(signed_add(127, 1, 8, Wrap), Some(-128));
        assert_eq!(signed_add(127, 1, 8, Sat), Some(127));
        assert_eq!(signed_add(-128, -1, 8, Sat), Some(-128));
        assert_eq!(signed_add(-128, -1, 8, Wrap), Some(127));
        assert_eq!(signed_add(-128, -1, 8, Fail), None);
        assert_eq!(signed_add(0, -1, 1, Fail), Some(-1));
        assert_eq!(signed_add(-1, -1, 1, Wrap), Some(0));
        assert_eq!(signed_add(i64::MAX, 1, 64, Wrap), Some(i64::MIN));
        assert_eq!(signed_add(i64::MAX, 1, 64, Sat), Some(i64::MAX));
        assert_eq!(signed_add(i64::MIN, -1, 64, Sat), Some(i64::MIN));
        assert_eq!(signed_add(-5, i64::MIN, 64, Sat), Some(i64::MIN));
        // Redis's limit arithmetic wraps: i64::MIN into i8 counts as an
        // overflow upwards.
        assert_eq!(signed_add(i64::MIN, 0, 8, Sat), Some(127));
        assert_eq!(signed_add(i64::MIN, 0, 8, Wrap), Some(0));
        assert_eq!(signed_add(-1000, 0, 8, Sat), Some(-128));
    }

    #[test]
    fn bitfield_fail_still_creates_and_propagates() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "#4", "5"]),
            Reply::Array(vec![Reply::Null])
        );
        assert_eq!(h.run(&["GET", "k"]), Reply::bulk_from(&[0, 0]));
        assert_eq!(h.repl(), ["BITFIELD k OVERFLOW FAIL INCRBY u2 #4 5"]);
        // Nothing changes now: not propagated.
        h.run(&[
            "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "#4", "5",
        ]);
        assert!(h.repl().is_empty());
        h.run(&[
            "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "u2", "#20", "5",
        ]);
        assert_eq!(h.repl(), ["BITFIELD k OVERFLOW FAIL INCRBY u2 #20 5"]);
        assert_eq!(h.run(&["STRLEN", "k"]), int(6));
    }

    #[test]
    fn lcs_like_redis_docs() {
        let mut h = Harness::new();
        h.run(&["MSET", "key1", "ohmytext", "key2", "mynewtext"]);
        assert_eq!(h.run(&["LCS", "key1", "key2"]), bulk("mytext"));
        assert_eq!(h.run(&["LCS", "key1", "key2", "LEN"]), int(6));
        let range = |a: (i64, i64), b: (i64, i64), len: Option<i64>| {
            let mut v = vec![ints(&[a.0, a.1]), ints(&[b.0, b.1])];
            v.extend(len.map(Reply::Int));
            Reply::Array(v)
        };
        let idx = |matches: Vec<Reply>, len: i64| {
            Reply::Map(vec![
                (bulk("matches"), Reply::Array(matches)),
                (bulk("len"), int(len)),
            ])
        };
        assert_eq!(
            h.run(&["LCS", "key1", "key2", "IDX"]),
            idx(
                vec![range((4, 7), (5, 8), None), range((2, 3), (0, 1), None)],
                6
            )
        );
        assert_eq!(
            h.run(&[
                "LCS",
                "key1",
                "key2",
                "IDX",
                "MINMATCHLEN",
                "4",
                "WITHMATCHLEN"
            ]),
            idx(vec![range((4, 7), (5, 8), Some(4))], 6)
        );
        assert_eq!(h.run(&["LCS", "key1", "nokey"]), bulk(""));
        assert_eq!(
            h.run(&["LCS", "key1", "key2", "LEN", "IDX"]),
            err("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(
            h.run(&["LCS", "key1", "key2", "MINMATCHLEN"]),
            Reply::syntax_error()
        );
        assert_eq!(
            h.run(&["LCS", "key1", "key2", "MINMATCHLEN", "x"]),
            Reply::not_integer()
        );
        h.run(&["RPUSH", "l", "x"]);
        assert_eq!(
            h.run(&["LCS", "key1", "l", "BAD"]),
            err("ERR The specified keys must contain string values")
        );
        h.config_set("proto-max-bulk-len", "1mb");
        h.run(&["SET", "big", &"x".repeat(600)]);
        assert_eq!(
            h.run(&["LCS", "big", "big", "LEN"]),
            err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        );
        assert_eq!(h.run(&["LCS", "big", "key1", "LEN"]), int(1));
    }
}
