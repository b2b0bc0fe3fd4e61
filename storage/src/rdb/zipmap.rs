//! Redis 2.x's zipmap (RDB type HASH_ZIPMAP), read only.
//!
//! Layout: one count byte (254 or more: walk to count), then per pair
//! `<len> field <len> <free> value <free bytes>`, then `0xFF`. A `<len>` is
//! one byte below 254, or `0xFE` and a `u32 LE`; `<free>` is one byte.

use super::Malformed;

const END: u8 = 0xFF;
const BIGLEN: u8 = 0xFE;

fn malformed(at: usize, expected: &'static str, found: impl Into<String>) -> Malformed {
    Malformed {
        at,
        expected,
        found: found.into(),
    }
}

/// Reads a length at `at`; returns it and the bytes it took.
fn len_at(zm: &[u8], at: usize) -> Result<(usize, usize), Malformed> {
    match zm.get(at) {
        Some(&b) if b < BIGLEN => Ok((usize::from(b), 1)),
        Some(&BIGLEN) => {
            let r = zm
                .get(at + 1..at + 5)
                .ok_or_else(|| malformed(at, "a 5-byte zipmap length", "the end"))?;
            Ok((u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize, 5))
        }
        Some(_) => Err(malformed(at, "a zipmap length", "0xff")),
        None => Err(malformed(at, "a zipmap length", "the end")),
    }
}

fn take(zm: &[u8], at: usize, n: usize) -> Result<&[u8], Malformed> {
    at.checked_add(n)
        .filter(|&end| end < zm.len())
        .map(|end| &zm[at..end])
        .ok_or_else(|| malformed(at, "a string inside the zipmap", "its end"))
}

/// A field and its value.
pub(crate) type Pair<'a> = (&'a [u8], &'a [u8]);

/// Checks a zipmap and returns its `(field, value)` pairs.
pub(crate) fn parse(zm: &[u8]) -> Result<Vec<Pair<'_>>, Malformed> {
    if zm.len() < 2 || zm[zm.len() - 1] != END {
        return Err(malformed(
            zm.len().saturating_sub(1),
            "a zipmap ending in 0xff",
            format!("{} bytes", zm.len()),
        ));
    }
    let declared = zm[0];
    let mut pairs = Vec::new();
    let mut p = 1;
    while zm[p] != END {
        let (flen, n) = len_at(zm, p)?;
        let field = take(zm, p + n, flen)?;
        p += n + flen;
        let (vlen, n) = len_at(zm, p)?;
        p += n;
        let free = usize::from(*take(zm, p, 1)?.first().unwrap_or(&0));
        p += 1;
        let value = take(zm, p, vlen)?;
        take(zm, p, vlen + free)?;
        p += vlen + free;
        pairs.push((field, value));
    }
    if p != zm.len() - 1 {
        return Err(malformed(p, "the terminator as the last byte", "more data"));
    }
    if declared < BIGLEN && usize::from(declared) != pairs.len() {
        return Err(malformed(
            0,
            "a zipmap count matching its pairs",
            format!("{declared} for {} pairs", pairs.len()),
        ));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        assert_eq!(
            parse(zm).unwrap(),
            [(&b"foo"[..], &b"bar"[..]), (&b"hello"[..], &b"world"[..])]
        );
        // Free bytes after a value are skipped.
        let zm = b"\x01\x01a\x01\x02bxx\xff";
        assert_eq!(parse(zm).unwrap(), [(&b"a"[..], &b"b"[..])]);
    }

    #[test]
    fn rejects_damage() {
        let zm = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        for n in 0..zm.len() {
            assert!(parse(&zm[..n]).is_err());
        }
        let mut bad = zm.to_vec();
        bad[0] = 3;
        assert!(parse(&bad).is_err());
        let mut bad = zm.to_vec();
        bad[5] = 0x30;
        assert!(parse(&bad).is_err());
    }
}
