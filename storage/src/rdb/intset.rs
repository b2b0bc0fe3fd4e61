//! Redis's intset blob (RDB type SET_INTSET): `u32 LE encoding` (the width
//! in bytes: 2, 4 or 8), `u32 LE count`, then `count` little-endian signed
//! integers of that width, strictly ascending.

use super::Malformed;

const HEADER: usize = 8;

/// The narrowest width (2, 4 or 8 bytes) that holds `v`.
fn width_of(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

/// Encodes strictly ascending integers into `out` (cleared first), at the
/// narrowest width that holds the smallest and the largest.
pub(crate) fn encode(sorted: &[i64], out: &mut Vec<u8>) {
    out.clear();
    let width = match (sorted.first(), sorted.last()) {
        (Some(&lo), Some(&hi)) => width_of(lo).max(width_of(hi)),
        _ => 2,
    };
    out.reserve(HEADER + sorted.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    // Callers hold far fewer than 2^32 members (Redis caps intsets at 2^30).
    out.extend_from_slice(
        &u32::try_from(sorted.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    for &v in sorted {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

/// Checks an intset blob (width, size, strictly ascending values) and
/// returns its members.
pub(crate) fn decode(blob: &[u8]) -> Result<Vec<i64>, Malformed> {
    let Some(header) = blob.get(..HEADER) else {
        return Err(Malformed {
            at: 0,
            expected: "an intset header of 8 bytes",
            found: format!("{} bytes", blob.len()),
        });
    };
    let width = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let count = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(Malformed {
            at: 0,
            expected: "an intset encoding of 2, 4 or 8",
            found: width.to_string(),
        });
    }
    let width = width as usize;
    if count.checked_mul(width).and_then(|n| n.checked_add(HEADER)) != Some(blob.len()) {
        return Err(Malformed {
            at: 4,
            expected: "an intset count matching its size",
            found: format!("{count} members of {width} bytes in {} bytes", blob.len()),
        });
    }
    let mut out = Vec::with_capacity(count);
    for (i, c) in blob[HEADER..].chunks_exact(width).enumerate() {
        let v = match c {
            [a, b] => i64::from(i16::from_le_bytes([*a, *b])),
            [a, b, c, d] => i64::from(i32::from_le_bytes([*a, *b, *c, *d])),
            _ => {
                let mut x = [0u8; 8];
                x.copy_from_slice(c);
                i64::from_le_bytes(x)
            }
        };
        if out.last().is_some_and(|&prev| prev >= v) {
            return Err(Malformed {
                at: HEADER + i * width,
                expected: "intset members in strictly ascending order",
                found: format!("{v} after {}", out.last().copied().unwrap_or_default()),
            });
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_at_the_narrowest_width() {
        let mut out = Vec::new();
        encode(&[1, 2, 3], &mut out);
        assert_eq!(out, [2, 0, 0, 0, 3, 0, 0, 0, 1, 0, 2, 0, 3, 0]);
        encode(&[-70000, 5], &mut out);
        assert_eq!(&out[..8], [4, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(decode(&out).unwrap(), [-70000, 5]);
        encode(&[i64::MIN, 0, i64::MAX], &mut out);
        assert_eq!(out.len(), 8 + 24);
        assert_eq!(decode(&out).unwrap(), [i64::MIN, 0, i64::MAX]);
    }

    #[test]
    fn rejects_damage() {
        let mut out = Vec::new();
        encode(&[1, 2, 3], &mut out);
        let mut bad = out.clone();
        bad[0] = 3;
        assert!(decode(&bad).is_err());
        assert!(decode(&out[..out.len() - 1]).is_err());
        let mut bad = out.clone();
        bad[10] = 1; // 1, 1, 3
        assert!(decode(&bad).is_err());
        assert!(decode(&[]).is_err());
        let mut huge = out.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
    }
}
