//! Redis's listpack, the packed container RDB uses for small hashes, small
//! sorted sets and quicklist nodes.
//!
//! Layout: `u32 LE total bytes`, `u16 LE element count` (65535 = too many to
//! count, walk instead), the entries, then the terminator `0xFF`. An entry is
//! its encoding and data followed by a backlen: the length of encoding+data in
//! 1 to 5 bytes, 7 bits per byte, most significant group first, every byte but
//! the first with its high bit set (so it can be read backwards).
//!
//! Encodings (first byte):
//! - `0xxxxxxx` 7-bit unsigned integer
//! - `10LLLLLL` string of up to 63 bytes
//! - `110xxxxx yyyyyyyy` 13-bit signed integer
//! - `1110LLLL LLLLLLLL` string of up to 4095 bytes
//! - `F0 <u32 LE len>` longer string
//! - `F1`/`F2`/`F3`/`F4`: 16/24/32/64-bit signed integer, little-endian
//!
//! Writers store an element as an integer when it is the canonical text of
//! an i64 (as Redis's `lpStringToInt64`), in the narrowest encoding.

use super::Malformed;
use crate::num;

const HEADER: usize = 6;
const EOF: u8 = 0xFF;
/// The element count of a listpack too long to count in the header.
const COUNT_UNKNOWN: u16 = u16::MAX;

/// One element of a listpack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    Str(&'a [u8]),
    Int(i64),
}

impl Entry<'_> {
    /// The element's bytes (an integer's decimal text).
    #[cfg(test)]
    pub(crate) fn to_vec(self) -> Vec<u8> {
        match self {
            Entry::Str(s) => s.to_vec(),
            Entry::Int(v) => num::i64_to_bytes(v),
        }
    }

    /// Calls `f` with the element's bytes, without allocating for integers.
    pub(crate) fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Entry::Str(s) => f(s),
            Entry::Int(v) => {
                let mut buf = Vec::with_capacity(20);
                num::push_i64(&mut buf, v);
                f(&buf)
            }
        }
    }
}

/// Bytes the backlen of an entry of `len` bytes (encoding + data) takes.
pub(crate) fn backlen_size(len: usize) -> usize {
    if len <= 127 {
        1
    } else if len < 16383 {
        2
    } else if len < 2_097_151 {
        3
    } else if len < 268_435_455 {
        4
    } else {
        5
    }
}

fn push_backlen(out: &mut Vec<u8>, len: usize) {
    let n = backlen_size(len);
    for i in (0..n).rev() {
        let group = ((len >> (7 * i)) & 0x7f) as u8;
        out.push(if i == n - 1 { group } else { group | 0x80 });
    }
}

/// The integer a listpack stores for `ele`, if any.
pub(crate) fn as_int(ele: &[u8]) -> Option<i64> {
    num::parse_i64(ele)
}

fn int_encoded_size(v: i64) -> usize {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if i32::try_from(v).is_ok() {
        5
    } else {
        9
    }
}

fn str_encoded_size(len: usize) -> usize {
    if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    }
}

/// Bytes `ele` takes as a listpack entry, backlen included.
pub(crate) fn entry_size(ele: &[u8]) -> usize {
    let n = match as_int(ele) {
        Some(v) => int_encoded_size(v),
        None => str_encoded_size(ele.len()),
    };
    n + backlen_size(n)
}

/// Appends the encoding of string element `s` (never an integer) to `out`.
pub(crate) fn encode_str(out: &mut Vec<u8>, s: &[u8]) {
    let start = out.len();
    let len = s.len();
    if len < 64 {
        out.push(0x80 | len as u8);
    } else if len < 4096 {
        out.push(0xE0 | (len >> 8) as u8);
        out.push((len & 0xff) as u8);
    } else {
        // Callers keep elements below 4 GiB (Redis's listpacks stop at 1 GiB).
        out.push(0xF0);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
    }
    out.extend_from_slice(s);
    let n = out.len() - start;
    push_backlen(out, n);
}

/// Appends the encoding of integer element `v` (narrowest form) to `out`.
pub(crate) fn encode_int(out: &mut Vec<u8>, v: i64) {
    let start = out.len();
    match int_encoded_size(v) {
        1 => out.push(v as u8),
        2 => {
            let u = (v as u16) & 0x1fff;
            out.push(0xC0 | (u >> 8) as u8);
            out.push((u & 0xff) as u8);
        }
        3 => {
            out.push(0xF1);
            out.extend_from_slice(&(v as i16).to_le_bytes());
        }
        4 => {
            out.push(0xF2);
            out.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        }
        5 => {
            out.push(0xF3);
            out.extend_from_slice(&(v as i32).to_le_bytes());
        }
        _ => {
            out.push(0xF4);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let n = out.len() - start;
    push_backlen(out, n);
}

/// Appends `ele`, as an integer when it is the text of one (`lpAppend`).
pub(crate) fn encode(out: &mut Vec<u8>, ele: &[u8]) {
    match as_int(ele) {
        Some(v) => encode_int(out, v),
        None => encode_str(out, ele),
    }
}

/// The element at byte `at` of a listpack already checked by [`parse`],
/// and the offset of the next one. `None` at the terminator or past the
/// end (never for a checked listpack's entry offsets).
pub(crate) fn element_at(lp: &[u8], at: usize) -> Option<(Entry<'_>, usize)> {
    let (entry, len) = decode_one(lp, at).ok()??;
    Some((entry, at + len + backlen_size(len)))
}

/// Decodes the entry at `at` without its backlen: the element and the
/// length of its encoding and data. `Ok(None)` at the terminator.
fn decode_one(lp: &[u8], at: usize) -> Result<Option<(Entry<'_>, usize)>, Malformed> {
    let Some(&b) = lp.get(at) else {
        return Err(malformed(at, "a listpack entry or terminator", "the end"));
    };
    if b == EOF {
        return Ok(None);
    }
    let byte = |i: usize| -> Result<u8, Malformed> {
        lp.get(at + i)
            .copied()
            .ok_or_else(|| malformed(at, "a complete listpack entry", "the end"))
    };
    let r = if b & 0x80 == 0 {
        (Entry::Int(i64::from(b)), 1)
    } else if b & 0xC0 == 0x80 {
        let n = usize::from(b & 0x3f);
        (Entry::Str(slice(lp, at + 1, n)?), 1 + n)
    } else if b & 0xE0 == 0xC0 {
        let u = (u16::from(b & 0x1f) << 8) | u16::from(byte(1)?);
        // Sign-extend 13 bits.
        let v = (i64::from(u) << 51) >> 51;
        (Entry::Int(v), 2)
    } else if b & 0xF0 == 0xE0 {
        let n = (usize::from(b & 0x0f) << 8) | usize::from(byte(1)?);
        (Entry::Str(slice(lp, at + 2, n)?), 2 + n)
    } else {
        match b {
            0xF0 => {
                let raw = slice(lp, at + 1, 4)?;
                let n = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
                (Entry::Str(slice(lp, at + 5, n)?), 5 + n)
            }
            0xF1 => {
                let r = slice(lp, at + 1, 2)?;
                (Entry::Int(i64::from(i16::from_le_bytes([r[0], r[1]]))), 3)
            }
            0xF2 => {
                let r = slice(lp, at + 1, 3)?;
                let v = i32::from_le_bytes([0, r[0], r[1], r[2]]) >> 8;
                (Entry::Int(i64::from(v)), 4)
            }
            0xF3 => {
                let r = slice(lp, at + 1, 4)?;
                (
                    Entry::Int(i64::from(i32::from_le_bytes([r[0], r[1], r[2], r[3]]))),
                    5,
                )
            }
            0xF4 => {
                let r = slice(lp, at + 1, 8)?;
                let mut x = [0u8; 8];
                x.copy_from_slice(r);
                (Entry::Int(i64::from_le_bytes(x)), 9)
            }
            _ => {
                return Err(malformed(
                    at,
                    "a listpack entry encoding",
                    format!("0x{b:02x}"),
                ))
            }
        }
    };
    Ok(Some(r))
}

/// Builds one listpack, appending elements.
#[derive(Debug)]
pub(crate) struct Builder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub(crate) fn new() -> Builder {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; HEADER]);
        Builder { buf, count: 0 }
    }

    /// Starts over, keeping the buffer unless it grew past 1 MiB.
    pub(crate) fn clear(&mut self) {
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::with_capacity(64);
        }
        self.buf.clear();
        self.buf.extend_from_slice(&[0; HEADER]);
        self.count = 0;
    }

    /// Appends an element, as an integer when it is one.
    pub(crate) fn push(&mut self, ele: &[u8]) {
        match as_int(ele) {
            Some(v) => self.push_int(v),
            None => self.push_str(ele),
        }
    }

    /// Appends a string element (never converted to an integer).
    pub(crate) fn push_str(&mut self, s: &[u8]) {
        encode_str(&mut self.buf, s);
        self.count += 1;
    }

    /// Appends an integer element in its narrowest encoding.
    pub(crate) fn push_int(&mut self, v: i64) {
        encode_int(&mut self.buf, v);
        self.count += 1;
    }

    /// Completes the header and terminator and returns the listpack. The
    /// builder must be cleared before it is used again.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.buf.push(EOF);
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        let count = u16::try_from(self.count)
            .ok()
            .filter(|&c| c != COUNT_UNKNOWN)
            .unwrap_or(COUNT_UNKNOWN);
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..HEADER].copy_from_slice(&count.to_le_bytes());
        &self.buf
    }
}

fn malformed(at: usize, expected: &'static str, found: impl Into<String>) -> Malformed {
    Malformed {
        at,
        expected,
        found: found.into(),
    }
}

/// Checks a listpack completely (header, every entry and its backlen, the
/// terminator, the count) and returns its elements.
pub(crate) fn parse(lp: &[u8]) -> Result<Vec<Entry<'_>>, Malformed> {
    if lp.len() < HEADER + 1 {
        return Err(malformed(
            0,
            "a listpack of at least 7 bytes",
            format!("{} bytes", lp.len()),
        ));
    }
    let total = u32::from_le_bytes([lp[0], lp[1], lp[2], lp[3]]) as usize;
    if total != lp.len() {
        return Err(malformed(
            0,
            "a listpack header giving its own size",
            format!("{total} in a {}-byte string", lp.len()),
        ));
    }
    let declared = u16::from_le_bytes([lp[4], lp[5]]);
    let mut entries = Vec::with_capacity(if declared == COUNT_UNKNOWN {
        16
    } else {
        usize::from(declared)
    });
    let mut p = HEADER;
    loop {
        let at = p;
        let Some((entry, len)) = decode_one(lp, at)? else {
            break;
        };
        let bl = backlen_size(len);
        let back = slice(lp, at + len, bl)?;
        let mut decoded = 0usize;
        for &g in back {
            decoded = (decoded << 7) | usize::from(g & 0x7f);
        }
        let flags_ok = back
            .iter()
            .enumerate()
            .all(|(i, &g)| (g & 0x80 == 0) == (i == 0));
        if decoded != len || !flags_ok {
            return Err(malformed(
                at + len,
                "a backlen matching the entry",
                format!("{back:02x?} for a {len}-byte entry"),
            ));
        }
        entries.push(entry);
        p = at + len + bl;
    }
    if p != lp.len() - 1 {
        return Err(malformed(
            p,
            "the terminator as the last byte",
            format!("{} bytes after it", lp.len() - 1 - p),
        ));
    }
    if declared != COUNT_UNKNOWN && usize::from(declared) != entries.len() {
        return Err(malformed(
            4,
            "a listpack count matching its entries",
            format!("{declared} for {} entries", entries.len()),
        ));
    }
    Ok(entries)
}

fn slice(lp: &[u8], at: usize, n: usize) -> Result<&[u8], Malformed> {
    // The terminator is never part of an entry.
    let end = at
        .checked_add(n)
        .filter(|&e| e < lp.len())
        .ok_or_else(|| malformed(at, "an entry inside the listpack", "its end"))?;
    Ok(&lp[at..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn build(elems: &[&[u8]]) -> Vec<u8> {
        let mut b = Builder::new();
        for e in elems {
            b.push(e);
        }
        b.finish().to_vec()
    }

    #[test]
    fn encodes_like_redis() {
        // lpNew + lpAppend "a", 1, -1, 1000, 40000, 10000000, 3000000000, 64 x's.
        let lp = build(&[b"a", b"1", b"-1"]);
        assert_eq!(
            lp,
            [
                15, 0, 0, 0, 3, 0, // header
                0x81, b'a', 2, // 6-bit string + backlen
                1, 1, // 7-bit uint
                0xDF, 0xFF, 2, // 13-bit -1
                0xFF
            ]
        );
        let lp = build(&[b"40000"]);
        assert_eq!(&lp[6..], [0xF2, 0x40, 0x9C, 0x00, 4, 0xFF]);
        let lp = build(&[b"-40000"]);
        assert_eq!(&lp[6..], [0xF2, 0xC0, 0x63, 0xFF, 4, 0xFF]);
        let big = vec![b'x'; 200];
        let lp = build(&[&big]);
        // 12-bit string of 200: E0 C8, data, backlen of 202 = [0x01, 0xCA].
        assert_eq!(&lp[6..8], [0xE0, 200]);
        assert_eq!(&lp[208..], [0x01, 0xCA, 0xFF]);
        assert_eq!(entry_size(&big), 204);
        assert_eq!(entry_size(b"1"), 2);
        assert_eq!(entry_size(b"0123"), 6);
    }

    #[test]
    fn round_trips_every_encoding() {
        let ints: [i64; 14] = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            -4097,
            32767,
            -32768,
            8_388_607,
            -8_388_608,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MIN,
        ];
        let mut b = Builder::new();
        for v in ints {
            b.push_int(v);
        }
        let strs: Vec<Vec<u8>> = [0usize, 1, 63, 64, 4095, 4096, 20_000]
            .iter()
            .map(|&n| vec![b'z'; n])
            .collect();
        for s in &strs {
            b.push(s);
        }
        b.push(b"007");
        b.push_str(b"12");
        let lp = b.finish().to_vec();
        let got = parse(&lp).unwrap();
        let mut want: Vec<Entry<'_>> = ints.iter().map(|&v| Entry::Int(v)).collect();
        want.extend(strs.iter().map(|s| Entry::Str(s)));
        want.push(Entry::Str(b"007"));
        want.push(Entry::Str(b"12"));
        assert_eq!(got, want);
    }

    #[test]
    fn rejects_damage() {
        let lp = build(&[b"hello", b"12"]);
        let mut bad = lp.clone();
        bad[0] += 1;
        assert!(parse(&bad).is_err());
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(parse(&bad).is_err());
        let mut bad = lp.clone();
        bad[12] = 9; // backlen of "hello"
        assert!(parse(&bad).is_err());
        let mut bad = lp.clone();
        bad[6] = 0xF5;
        assert!(parse(&bad).is_err());
        assert!(parse(&lp[..lp.len() - 1]).is_err());
        // Unknown count is accepted.
        let mut unknown = lp.clone();
        unknown[4] = 0xff;
        unknown[5] = 0xff;
        assert_eq!(parse(&unknown).unwrap().len(), 2);
    }

    proptest! {
        #[test]
        fn any_elements_round_trip(elems in proptest::collection::vec(
            prop_oneof![
                any::<i64>().prop_map(|v| v.to_string().into_bytes()),
                proptest::collection::vec(any::<u8>(), 0..300),
            ], 0..40)) {
            let refs: Vec<&[u8]> = elems.iter().map(|e| e.as_slice()).collect();
            let lp = build(&refs);
            let sizes: usize = refs.iter().map(|e| entry_size(e)).sum();
            prop_assert_eq!(lp.len(), HEADER + sizes + 1);
            let got: Vec<Vec<u8>> = parse(&lp).unwrap().into_iter().map(Entry::to_vec).collect();
            prop_assert_eq!(got, elems);
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = parse(&data);
        }
    }
}
