//! CRC-64 as Redis computes it for RDB trailers ("Jones" polynomial
//! `0xad93d23594c935a9`, reflected in and out, initial value 0, no final
//! xor; check value of `"123456789"` is `0xe9c6d914c4b8d9ca`).
//!
//! Table-driven, eight bytes per step ("slicing by 8"), so checksumming is
//! never the bottleneck of a snapshot stream. The tables are built at
//! compile time.

/// The polynomial, bit-reversed for the reflected (LSB-first) algorithm.
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const fn make_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

static TABLES: [[u64; 256]; 8] = make_tables();

/// A running CRC-64/Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Crc64(u64);

impl Crc64 {
    pub const fn new() -> Crc64 {
        Crc64(0)
    }

    /// Continues from a previously computed value (Redis's `crc64(crc, ...)`).
    pub const fn from_value(crc: u64) -> Crc64 {
        Crc64(crc)
    }

    /// Feeds `data`.
    pub fn update(&mut self, data: &[u8]) {
        let t = &TABLES;
        let mut crc = self.0;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let word = crc ^ u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            crc = t[7][(word & 0xff) as usize]
                ^ t[6][((word >> 8) & 0xff) as usize]
                ^ t[5][((word >> 16) & 0xff) as usize]
                ^ t[4][((word >> 24) & 0xff) as usize]
                ^ t[3][((word >> 32) & 0xff) as usize]
                ^ t[2][((word >> 40) & 0xff) as usize]
                ^ t[1][((word >> 48) & 0xff) as usize]
                ^ t[0][(word >> 56) as usize];
        }
        for &b in chunks.remainder() {
            crc = t[0][((crc ^ u64::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.0 = crc;
    }

    /// The checksum of everything fed so far.
    pub const fn value(&self) -> u64 {
        self.0
    }
}

/// The CRC-64/Redis of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(data);
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time reference, written straight from the definition.
    fn slow(data: &[u8]) -> u64 {
        let mut crc = 0u64;
        for &b in data {
            crc ^= u64::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY_REFLECTED
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        assert_eq!(crc64(b""), 0);
    }

    #[test]
    fn redis_test_vector() {
        // crc64.c's own self-test hashes this text with its NUL terminator.
        let text = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed \
            do eiusmod tempor incididunt ut labore et dolore magna \
            aliqua. Ut enim ad minim veniam, quis nostrud exercitation \
            ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis \
            aute irure dolor in reprehenderit in voluptate velit esse \
            cillum dolore eu fugiat nulla pariatur. Excepteur sint \
            occaecat cupidatat non proident, sunt in culpa qui officia \
            deserunt mollit anim id est laborum.\0";
        assert_eq!(crc64(text), slow(text));
        assert_eq!(crc64(text), 0xc779_4709_e696_83b3);
    }

    #[test]
    fn sliced_equals_bytewise_and_is_incremental() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let mut c = Crc64::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.value(), slow(&data));
        }
        let mut c = Crc64::from_value(crc64(&data[..10]));
        c.update(&data[10..]);
        assert_eq!(c.value(), crc64(&data));
    }
}
