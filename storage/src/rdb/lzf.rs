//! The LZF compression format, as RDB strings use it.
//!
//! A compressed stream is a sequence of runs, each opened by a control byte
//! `c`:
//! - `c < 32`: a literal run; the next `c + 1` bytes are copied as they are.
//! - otherwise a back reference: `len = c >> 5`, and when `len == 7` the next
//!   byte is added to it; then one more byte `lo`, and `len + 2` bytes are
//!   copied from `distance = ((c & 0x1f) << 8 | lo) + 1` bytes back in the
//!   output (the source may overlap the bytes being written).
//!
//! So a reference copies 3 to 264 bytes from at most 8192 bytes back. The
//! compressor here is a greedy one with a hash table of 3-byte prefixes; any
//! valid stream decodes with any LZF decoder, so it need not match liblzf's
//! output byte for byte.

/// Longest literal run one control byte can announce.
const MAX_LIT: usize = 32;
/// Farthest back a reference can reach.
const MAX_OFF: usize = 1 << 13;
/// Longest match one reference can copy.
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// Shortest match worth a reference.
const MIN_MATCH: usize = 3;

/// What a corrupt stream did wrong (for error messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LzfError {
    /// A run needs more input than there is.
    InputTruncated { at: usize },
    /// The output would exceed the announced length.
    OutputOverflow { at: usize },
    /// A reference points before the start of the output.
    BadReference { at: usize },
    /// The stream ended before producing the announced length.
    ShortOutput { produced: usize },
}

impl std::fmt::Display for LzfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LzfError::InputTruncated { at } => {
                write!(f, "a run at compressed byte {at} that needs more input")
            }
            LzfError::OutputOverflow { at } => {
                write!(f, "a run at compressed byte {at} that overflows the output")
            }
            LzfError::BadReference { at } => write!(
                f,
                "a back reference at compressed byte {at} before the start of the output"
            ),
            LzfError::ShortOutput { produced } => {
                write!(f, "only {produced} bytes of output")
            }
        }
    }
}

/// Decompresses `input` into `out` (cleared first), which must come to
/// exactly `out_len` bytes.
pub(crate) fn decompress_into(
    input: &[u8],
    out_len: usize,
    out: &mut Vec<u8>,
) -> Result<(), LzfError> {
    out.clear();
    // A corrupt stream may announce far more than it makes: reserve what a
    // typical ratio needs and let real output grow the rest.
    out.reserve(out_len.min(input.len().saturating_mul(8)));
    let mut ip = 0;
    while ip < input.len() {
        let at = ip;
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input
                .get(ip..ip + n)
                .ok_or(LzfError::InputTruncated { at })?;
            if out.len() + n > out_len {
                return Err(LzfError::OutputOverflow { at });
            }
            out.extend_from_slice(lit);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::InputTruncated { at })?);
                ip += 1;
            }
            let lo = usize::from(*input.get(ip).ok_or(LzfError::InputTruncated { at })?);
            ip += 1;
            let distance = ((ctrl & 0x1f) << 8 | lo) + 1;
            let len = len + 2;
            if out.len() + len > out_len {
                return Err(LzfError::OutputOverflow { at });
            }
            let start = out
                .len()
                .checked_sub(distance)
                .ok_or(LzfError::BadReference { at })?;
            if distance >= len {
                out.extend_from_within(start..start + len);
            } else {
                // Overlapping copy: each byte may be one just written.
                for i in 0..len {
                    let b = out[start + i];
                    out.push(b);
                }
            }
        }
    }
    if out.len() != out_len {
        return Err(LzfError::ShortOutput {
            produced: out.len(),
        });
    }
    Ok(())
}

/// Decompresses `input` to exactly `out_len` bytes.
#[cfg(test)]
pub(crate) fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>, LzfError> {
    let mut out = Vec::new();
    decompress_into(input, out_len, &mut out)?;
    Ok(out)
}

/// The most output a valid stream of `compressed_len` bytes can produce: a
/// 3-byte reference yields up to 264 bytes.
pub(crate) fn max_expansion(compressed_len: usize) -> usize {
    compressed_len.saturating_mul(MAX_REF.div_ceil(3) + 1)
}

/// A compressor that keeps its hash table between calls, so compressing many
/// short strings does not allocate.
#[derive(Debug, Default)]
pub(crate) struct Compressor {
    /// Position + 1 of the last occurrence of each 3-byte hash (0 = none).
    table: Vec<u32>,
}

impl Compressor {
    pub(crate) fn new() -> Compressor {
        Compressor::default()
    }

    /// Compresses `input` into `out` (cleared first). Returns false, leaving
    /// `out` unspecified, when the result would be longer than `limit` bytes.
    /// Inputs of 4 GiB or more are never compressed.
    pub(crate) fn compress(&mut self, input: &[u8], limit: usize, out: &mut Vec<u8>) -> bool {
        out.clear();
        if input.is_empty() || u32::try_from(input.len()).is_err() {
            return false;
        }
        // A table sized to the input: small strings clear a small table.
        let bits = (usize::BITS - (input.len().max(256) - 1).leading_zeros()).min(14);
        let size = 1usize << bits;
        if self.table.len() < size {
            self.table.resize(size, 0);
        }
        let table = &mut self.table[..size];
        table.fill(0);
        let shift = 32 - bits;
        let hash = |p: &[u8]| -> usize {
            let v = u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
            (v.wrapping_mul(0x9e37_79b1) >> shift) as usize
        };

        let n = input.len();
        let mut lit_start = 0;
        let mut i = 0;
        while i + MIN_MATCH <= n {
            let h = hash(&input[i..]);
            let cand = table[h] as usize;
            table[h] = (i + 1) as u32;
            if cand != 0 {
                let r = cand - 1;
                let off = i - r - 1;
                if off < MAX_OFF && input[r..r + MIN_MATCH] == input[i..i + MIN_MATCH] {
                    let max = MAX_REF.min(n - i);
                    let mut len = MIN_MATCH;
                    while len < max && input[r + len] == input[i + len] {
                        len += 1;
                    }
                    if !emit_literals(&input[lit_start..i], out, limit) {
                        return false;
                    }
                    let code = len - 2;
                    if code < 7 {
                        out.push(((code << 5) | (off >> 8)) as u8);
                    } else {
                        out.push(((7 << 5) | (off >> 8)) as u8);
                        out.push((code - 7) as u8);
                    }
                    out.push((off & 0xff) as u8);
                    if out.len() > limit {
                        return false;
                    }
                    // Index the positions the match covered, so later data
                    // can refer into it.
                    let end = i + len;
                    let mut j = i + 1;
                    while j < end && j + MIN_MATCH <= n {
                        table[hash(&input[j..])] = (j + 1) as u32;
                        j += 1;
                    }
                    i = end;
                    lit_start = i;
                    continue;
                }
            }
            i += 1;
        }
        emit_literals(&input[lit_start..], out, limit) && out.len() <= limit
    }
}

/// Appends literal runs for `lit`; false once `out` passes `limit`.
fn emit_literals(lit: &[u8], out: &mut Vec<u8>, limit: usize) -> bool {
    for chunk in lit.chunks(MAX_LIT) {
        out.push((chunk.len() - 1) as u8);
        out.extend_from_slice(chunk);
        if out.len() > limit {
            return false;
        }
    }
    true
}

/// Compresses `input` if the result fits in `limit` bytes.
#[cfg(test)]
pub(crate) fn compress(input: &[u8], limit: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    Compressor::new()
        .compress(input, limit, &mut out)
        .then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_hand_made_streams() {
        // "abc" literal, then a 6-byte reference 3 back: "abcabcabc".
        let stream = [2, b'a', b'b', b'c', (4 << 5), 2];
        assert_eq!(decompress(&stream, 9).unwrap(), b"abcabcabc");
        // Long reference (len code 7 + extra): 1 literal 'x' then 7+10+2 = 19 copies.
        let stream = [0, b'x', (7 << 5), 10, 0];
        assert_eq!(decompress(&stream, 20).unwrap(), vec![b'x'; 20]);
    }

    #[test]
    fn rejects_corrupt_streams() {
        assert_eq!(
            decompress(&[5, b'a'], 6),
            Err(LzfError::InputTruncated { at: 0 })
        );
        assert_eq!(
            decompress(&[0, b'a', 1 << 5, 5], 4),
            Err(LzfError::BadReference { at: 2 })
        );
        assert_eq!(
            decompress(&[0, b'a', 1 << 5, 0], 3),
            Err(LzfError::OutputOverflow { at: 2 })
        );
        assert_eq!(
            decompress(&[0, b'a'], 2),
            Err(LzfError::ShortOutput { produced: 1 })
        );
        assert_eq!(
            decompress(&[0, b'a', 7 << 5], 100),
            Err(LzfError::InputTruncated { at: 2 })
        );
    }

    #[test]
    fn compresses_repetitive_data() {
        let data = b"abcdefghij".repeat(100);
        let c = compress(&data, data.len() - 4).expect("compressible");
        assert!(c.len() < 60, "{}", c.len());
        assert_eq!(decompress(&c, data.len()).unwrap(), data);
        assert!(max_expansion(c.len()) >= data.len());
        // Long runs use the extended length byte and overlapping copies.
        let zeros = vec![0u8; 100_000];
        let c = compress(&zeros, zeros.len()).expect("compressible");
        assert_eq!(decompress(&c, zeros.len()).unwrap(), zeros);
        assert!(max_expansion(c.len()) >= zeros.len());
    }

    #[test]
    fn refuses_when_over_the_limit() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let noise: Vec<u8> = (0..1000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        assert!(compress(&noise, noise.len() - 4).is_none());
        assert!(compress(b"", 10).is_none());
    }

    proptest! {
        #[test]
        fn round_trips(data in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data, data.len() + data.len() / 32 + 1) {
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            } else {
                prop_assert!(data.is_empty());
            }
        }

        #[test]
        fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200),
                                len in 0usize..2000) {
            let _ = decompress(&data, len);
        }
    }
}
