//! Redis's ziplist, the packed container of RDB files written before Redis 7
//! (types LIST_ZIPLIST, ZSET_ZIPLIST, HASH_ZIPLIST and the nodes of
//! LIST_QUICKLIST). Read only: Redis 7.0 never writes one.
//!
//! Layout: `u32 LE total bytes`, `u32 LE offset of the last entry`, `u16 LE
//! entry count` (65535 = walk to count), the entries, then `0xFF`. An entry is
//! `prevlen` (the previous entry's size: one byte below 254, else `0xFE` and a
//! `u32 LE`), an encoding, then data:
//! - `00LLLLLL`, `01LLLLLL LLLLLLLL` (big-endian), `10000000 <u32 BE len>`:
//!   strings of 6, 14 and 32-bit lengths
//! - `C0` int16, `D0` int32, `E0` int64, `F0` int24, `FE` int8 (all LE)
//! - `F1`..`FD`: the integers 0 to 12 with no data byte

use super::listpack::Entry;
use super::Malformed;

const HEADER: usize = 10;
const END: u8 = 0xFF;

fn malformed(at: usize, expected: &'static str, found: impl Into<String>) -> Malformed {
    Malformed {
        at,
        expected,
        found: found.into(),
    }
}

fn bytes(zl: &[u8], at: usize, n: usize) -> Result<&[u8], Malformed> {
    at.checked_add(n)
        .filter(|&end| end < zl.len())
        .map(|end| &zl[at..end])
        .ok_or_else(|| malformed(at, "an entry inside the ziplist", "its end"))
}

/// Checks a ziplist completely (sizes, prevlens, tail offset, count,
/// terminator) and returns its elements.
pub(crate) fn parse(zl: &[u8]) -> Result<Vec<Entry<'_>>, Malformed> {
    if zl.len() < HEADER + 1 {
        return Err(malformed(
            0,
            "a ziplist of at least 11 bytes",
            format!("{} bytes", zl.len()),
        ));
    }
    let total = u32::from_le_bytes([zl[0], zl[1], zl[2], zl[3]]) as usize;
    if total != zl.len() {
        return Err(malformed(
            0,
            "a ziplist header giving its own size",
            format!("{total} in a {}-byte string", zl.len()),
        ));
    }
    let tail = u32::from_le_bytes([zl[4], zl[5], zl[6], zl[7]]) as usize;
    let declared = u16::from_le_bytes([zl[8], zl[9]]);
    if zl[zl.len() - 1] != END {
        return Err(malformed(
            zl.len() - 1,
            "the ziplist terminator 0xff",
            format!("0x{:02x}", zl[zl.len() - 1]),
        ));
    }
    let mut entries = Vec::new();
    let mut p = HEADER;
    let mut prev_size = 0usize;
    let mut last_start = HEADER;
    while zl[p] != END {
        let at = p;
        // prevlen
        let (prevlen, plen) = if zl[p] < 0xFE {
            (usize::from(zl[p]), 1)
        } else if zl[p] == 0xFE {
            let r = bytes(zl, p + 1, 4)?;
            (u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize, 5)
        } else {
            return Err(malformed(p, "a ziplist prevlen", "0xff"));
        };
        if prevlen != prev_size {
            return Err(malformed(
                at,
                "a prevlen equal to the previous entry's size",
                format!("{prevlen}, previous entry {prev_size} bytes"),
            ));
        }
        let e = at + plen;
        let enc = *bytes(zl, e, 1)?.first().unwrap_or(&0);
        let (entry, header, data) = match enc >> 6 {
            0 => {
                let n = usize::from(enc & 0x3f);
                (Entry::Str(bytes(zl, e + 1, n)?), 1, n)
            }
            1 => {
                let lo = usize::from(bytes(zl, e + 1, 1)?[0]);
                let n = (usize::from(enc & 0x3f) << 8) | lo;
                (Entry::Str(bytes(zl, e + 2, n)?), 2, n)
            }
            2 => {
                if enc != 0x80 {
                    return Err(malformed(e, "a ziplist encoding", format!("0x{enc:02x}")));
                }
                let r = bytes(zl, e + 1, 4)?;
                let n = u32::from_be_bytes([r[0], r[1], r[2], r[3]]) as usize;
                (Entry::Str(bytes(zl, e + 5, n)?), 5, n)
            }
            _ => {
                let (width, imm) = match enc {
                    0xC0 => (2, None),
                    0xD0 => (4, None),
                    0xE0 => (8, None),
                    0xF0 => (3, None),
                    0xFE => (1, None),
                    0xF1..=0xFD => (0, Some(i64::from(enc & 0x0f) - 1)),
                    _ => return Err(malformed(e, "a ziplist encoding", format!("0x{enc:02x}"))),
                };
                let r = bytes(zl, e + 1, width)?;
                let v = match (imm, r) {
                    (Some(v), _) => v,
                    (None, [a]) => i64::from(*a as i8),
                    (None, [a, b]) => i64::from(i16::from_le_bytes([*a, *b])),
                    (None, [a, b, c]) => i64::from(i32::from_le_bytes([0, *a, *b, *c]) >> 8),
                    (None, [a, b, c, d]) => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
                    (None, r) => {
                        let mut x = [0u8; 8];
                        x.copy_from_slice(r);
                        i64::from_le_bytes(x)
                    }
                };
                (Entry::Int(v), 1, width)
            }
        };
        let size = plen + header + data;
        entries.push(entry);
        last_start = at;
        prev_size = size;
        p = at + size;
        if p >= zl.len() {
            return Err(malformed(at, "an entry inside the ziplist", "its end"));
        }
    }
    if p != zl.len() - 1 {
        return Err(malformed(
            p,
            "the terminator as the last byte",
            format!("{} bytes after it", zl.len() - 1 - p),
        ));
    }
    if tail != last_start {
        return Err(malformed(
            4,
            "a tail offset pointing at the last entry",
            format!("{tail}, last entry at {last_start}"),
        ));
    }
    if declared != u16::MAX && usize::from(declared) != entries.len() {
        return Err(malformed(
            8,
            "a ziplist count matching its entries",
            format!("{declared} for {} entries", entries.len()),
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ziplist of the given raw entries (encoding + data), prevlens filled in.
    fn build(raw: &[&[u8]]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0usize;
        let mut tail = HEADER;
        for r in raw {
            tail = HEADER + body.len();
            let start = body.len();
            if prev < 254 {
                body.push(prev as u8);
            } else {
                body.push(0xFE);
                body.extend_from_slice(&(prev as u32).to_le_bytes());
            }
            body.extend_from_slice(r);
            prev = body.len() - start;
        }
        let mut zl = Vec::new();
        zl.extend_from_slice(&((HEADER + body.len() + 1) as u32).to_le_bytes());
        zl.extend_from_slice(&(tail as u32).to_le_bytes());
        zl.extend_from_slice(&(raw.len() as u16).to_le_bytes());
        zl.extend_from_slice(&body);
        zl.push(END);
        zl
    }

    #[test]
    fn decodes_every_encoding() {
        let long = vec![b'q'; 300];
        let mut s14 = vec![0x40 | 1, 44];
        s14.extend_from_slice(&long);
        let very_long = vec![b'r'; 20000];
        let mut s32 = vec![0x80, 0, 0, 0x4e, 0x20];
        s32.extend_from_slice(&very_long);
        let zl = build(&[
            b"\x03abc",
            &s14,
            &s32,
            b"\xF1",
            b"\xFD",
            b"\xFE\x80",
            b"\xC0\x00\x80",
            b"\xF0\x00\x00\x80",
            b"\xD0\xff\xff\xff\x7f",
            b"\xE0\x00\x00\x00\x00\x00\x00\x00\x80",
        ]);
        let got = parse(&zl).unwrap();
        assert_eq!(
            got,
            [
                Entry::Str(b"abc"),
                Entry::Str(&long),
                Entry::Str(&very_long),
                Entry::Int(0),
                Entry::Int(12),
                Entry::Int(-128),
                Entry::Int(-32768),
                Entry::Int(-8_388_608),
                Entry::Int(i64::from(i32::MAX)),
                Entry::Int(i64::MIN),
            ]
        );
    }

    #[test]
    fn empty_ziplist_is_valid() {
        let zl = build(&[]);
        assert_eq!(zl, [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xFF]);
        assert!(parse(&zl).unwrap().is_empty());
    }

    #[test]
    fn rejects_damage() {
        let zl = build(&[b"\x03abc", b"\xF2"]);
        for i in 0..zl.len() {
            for delta in [1u8, 0x40, 0x80] {
                let mut bad = zl.clone();
                bad[i] = bad[i].wrapping_add(delta);
                // Either an error or (for bytes inside "abc") the same shape.
                if let Ok(e) = parse(&bad) {
                    assert_eq!(e.len(), 2, "byte {i}");
                }
            }
        }
        for n in 0..zl.len() {
            assert!(parse(&zl[..n]).is_err());
        }
        let mut bad = zl.clone();
        bad[4] = 10; // tail at the first entry
        assert!(parse(&bad).is_err());
    }
}
