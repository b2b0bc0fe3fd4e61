//! Hand-built RDB bytes for the formats tandem's writer never produces:
//! old versions, legacy types (ziplist, zipmap, quicklist v1, text-double
//! ZSET), EXPIRETIME in seconds, IDLE/FREQ, module data. Written from the
//! format description independently of the crate's reader, so the two check
//! each other; scripts/gen-golden-rdb.sh interop has redis-server 7.0 load
//! the same bytes and compares digests.

use tandem_storage::rdb::crc64::crc64;

/// An RDB under construction.
pub(crate) struct Raw {
    pub(crate) buf: Vec<u8>,
}

impl Raw {
    pub(crate) fn new(version: u32) -> Raw {
        Raw {
            buf: format!("REDIS{version:04}").into_bytes(),
        }
    }

    pub(crate) fn byte(&mut self, b: u8) -> &mut Raw {
        self.buf.push(b);
        self
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) -> &mut Raw {
        self.buf.extend_from_slice(b);
        self
    }

    pub(crate) fn len(&mut self, n: u64) -> &mut Raw {
        if n < 64 {
            self.byte(n as u8)
        } else if n < 16384 {
            self.bytes(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            self.byte(0x80).bytes(&(n as u32).to_be_bytes())
        } else {
            self.byte(0x81).bytes(&n.to_be_bytes())
        }
    }

    /// A length-prefixed string (never integer-encoded or compressed).
    pub(crate) fn str(&mut self, s: &[u8]) -> &mut Raw {
        self.len(s.len() as u64).bytes(s)
    }

    /// An integer-encoded string (C0/C1/C2).
    pub(crate) fn int(&mut self, v: i32) -> &mut Raw {
        if let Ok(v) = i8::try_from(v) {
            self.bytes(&[0xC0, v as u8])
        } else if let Ok(v) = i16::try_from(v) {
            self.byte(0xC1).bytes(&v.to_le_bytes())
        } else {
            self.byte(0xC2).bytes(&v.to_le_bytes())
        }
    }

    /// An LZF string made of literal runs only (valid, if not smaller).
    pub(crate) fn lzf_literal(&mut self, s: &[u8]) -> &mut Raw {
        let mut c = Vec::new();
        for chunk in s.chunks(32) {
            c.push((chunk.len() - 1) as u8);
            c.extend_from_slice(chunk);
        }
        self.byte(0xC3)
            .len(c.len() as u64)
            .len(s.len() as u64)
            .bytes(&c)
    }

    /// `n` copies of `b` as LZF: one literal and back references.
    pub(crate) fn lzf_run(&mut self, b: u8, n: usize) -> &mut Raw {
        assert!(n >= 2);
        let mut c = vec![0, b];
        let mut left = n - 1;
        while left > 0 {
            let take = left.min(264);
            if take < 3 {
                for _ in 0..take {
                    c.extend_from_slice(&[0, b]);
                }
                break;
            }
            let code = take - 2;
            if code < 7 {
                c.extend_from_slice(&[(code << 5) as u8, 0]);
            } else {
                c.extend_from_slice(&[7 << 5, (code - 7) as u8, 0]);
            }
            left -= take;
        }
        self.byte(0xC3).len(c.len() as u64).len(n as u64).bytes(&c)
    }

    pub(crate) fn aux(&mut self, k: &[u8], v: &[u8]) -> &mut Raw {
        self.byte(0xFA).str(k).str(v)
    }

    pub(crate) fn select(&mut self, db: u64) -> &mut Raw {
        self.byte(0xFE).len(db)
    }

    pub(crate) fn resize(&mut self, keys: u64, expires: u64) -> &mut Raw {
        self.byte(0xFB).len(keys).len(expires)
    }

    pub(crate) fn expire_ms(&mut self, ms: u64) -> &mut Raw {
        self.byte(0xFC).bytes(&ms.to_le_bytes())
    }

    pub(crate) fn expire_secs(&mut self, secs: u32) -> &mut Raw {
        self.byte(0xFD).bytes(&secs.to_le_bytes())
    }

    pub(crate) fn key(&mut self, t: u8, key: &[u8]) -> &mut Raw {
        self.byte(t).str(key)
    }

    /// EOF, then the checksum for versions 5 and up.
    pub(crate) fn finish(&mut self, version: u32, checksum: bool) -> Vec<u8> {
        self.byte(0xFF);
        if version >= 5 {
            let crc = if checksum { crc64(&self.buf) } else { 0 };
            self.buf.extend_from_slice(&crc.to_le_bytes());
        }
        std::mem::take(&mut self.buf)
    }
}

/// A ziplist entry's value.
#[derive(Clone, Debug)]
pub(crate) enum Z<'a> {
    S(&'a [u8]),
    I(i64),
}

/// Encodes a ziplist the way Redis's `ziplistPush` lays it out: integers in
/// the smallest encoding (0..=12 immediate, then 8/16/24/32/64 bits).
pub(crate) fn ziplist(entries: &[Z<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10usize;
    for e in entries {
        tail = 10 + body.len();
        let start = body.len();
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(0xFE);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        match e {
            Z::S(s) => {
                let n = s.len();
                if n < 64 {
                    body.push(n as u8);
                } else if n < 16384 {
                    body.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
                } else {
                    body.push(0x80);
                    body.extend_from_slice(&(n as u32).to_be_bytes());
                }
                body.extend_from_slice(s);
            }
            Z::I(v) => {
                let v = *v;
                if (0..=12).contains(&v) {
                    body.push(0xF1 + v as u8);
                } else if let Ok(x) = i8::try_from(v) {
                    body.extend_from_slice(&[0xFE, x as u8]);
                } else if let Ok(x) = i16::try_from(v) {
                    body.push(0xC0);
                    body.extend_from_slice(&x.to_le_bytes());
                } else if (-8_388_608..=8_388_607).contains(&v) {
                    body.push(0xF0);
                    body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                } else if let Ok(x) = i32::try_from(v) {
                    body.push(0xD0);
                    body.extend_from_slice(&x.to_le_bytes());
                } else {
                    body.push(0xE0);
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        prev = body.len() - start;
    }
    let mut zl = Vec::new();
    zl.extend_from_slice(&((10 + body.len() + 1) as u32).to_le_bytes());
    zl.extend_from_slice(&(tail as u32).to_le_bytes());
    zl.extend_from_slice(&(entries.len().min(65535) as u16).to_le_bytes());
    zl.extend_from_slice(&body);
    zl.push(0xFF);
    zl
}

/// Encodes a zipmap, with `free` unused bytes after each value.
pub(crate) fn zipmap(pairs: &[(&[u8], &[u8])], free: u8) -> Vec<u8> {
    let mut zm = vec![pairs.len().min(254) as u8];
    let len = |zm: &mut Vec<u8>, n: usize| {
        if n < 254 {
            zm.push(n as u8);
        } else {
            zm.push(254);
            zm.extend_from_slice(&(n as u32).to_le_bytes());
        }
    };
    for (f, v) in pairs {
        len(&mut zm, f.len());
        zm.extend_from_slice(f);
        len(&mut zm, v.len());
        zm.push(free);
        zm.extend_from_slice(v);
        zm.extend(std::iter::repeat_n(0u8, usize::from(free)));
    }
    zm.push(0xFF);
    zm
}

/// An intset blob of the given width.
pub(crate) fn intset(width: u32, values: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// 2038-01-14 in Unix seconds: EXPIRETIME is a signed 32-bit number.
pub(crate) const FAR_SECS: u32 = 2_147_000_000;

/// A version-9 file (as Redis 5 and 6 wrote them) using every legacy type
/// Redis 7.0 still loads, plus EXPIRETIME in seconds, IDLE/FREQ opcodes,
/// integer-encoded and LZF strings in every position.
pub(crate) fn legacy_v9() -> Vec<u8> {
    let long = vec![b'L'; 300];
    let very_long = vec![b'V'; 17_000];
    let mut r = Raw::new(9);
    r.aux(b"redis-ver", b"6.2.14");
    r.byte(0xFA).str(b"redis-bits").int(64);
    r.byte(0xFA).str(b"ctime").int(1_700_000_000);
    r.select(0).resize(12, 2);
    // LIST (type 1): plain strings, some integer-encoded, one LZF.
    r.key(1, b"legacy:list")
        .len(5)
        .str(b"a")
        .int(-3)
        .int(70_000)
        .str(b"")
        .lzf_run(b'z', 100);
    // ZSET (type 3): scores as text, with the inf/-inf codes.
    r.key(3, b"legacy:zset-text").len(4);
    r.str(b"a").byte(3).bytes(b"1.5");
    r.str(b"b").byte(254);
    r.str(b"c").byte(255);
    r.str(b"d").byte(2).bytes(b"-3");
    // HASH_ZIPMAP (9), with free bytes.
    let zm = zipmap(&[(b"foo", b"bar"), (b"hello", b"world"), (b"n", b"12")], 2);
    r.key(9, b"legacy:zipmap").str(&zm);
    // LIST_ZIPLIST (10): every entry encoding, and a 5-byte prevlen.
    let zl = ziplist(&[
        Z::S(b"x"),
        Z::S(&long),
        Z::S(&very_long),
        Z::I(0),
        Z::I(12),
        Z::I(13),
        Z::I(-100),
        Z::I(1000),
        Z::I(-1_000_000),
        Z::I(100_000_000),
        Z::I(i64::MIN),
        Z::S(b"after big"),
    ]);
    r.expire_secs(FAR_SECS);
    r.key(10, b"legacy:ziplist-list").str(&zl);
    // SET_INTSET (11) at width 8 holding small values, LZF-compressed.
    r.byte(0xF9).byte(5); // FREQ
    r.key(11, b"legacy:intset")
        .lzf_literal(&intset(8, &[-2, 1, 3]));
    // ZSET_ZIPLIST (12): integer and text scores, in score order.
    let zl = ziplist(&[
        Z::I(7),
        Z::S(b"-inf"),
        Z::S(b"half"),
        Z::S(b"0.5"),
        Z::S(b"one"),
        Z::I(1),
    ]);
    r.byte(0xF8).len(1234); // IDLE
    r.key(12, b"legacy:zset-ziplist").str(&zl);
    // HASH_ZIPLIST (13).
    let zl = ziplist(&[
        Z::S(b"f"),
        Z::S(b"v"),
        Z::I(5),
        Z::I(-5),
        Z::S(b""),
        Z::S(b""),
    ]);
    r.expire_ms(4_102_444_800_123);
    r.key(13, b"legacy:hash-ziplist").str(&zl);
    // LIST_QUICKLIST (14): ziplist nodes, one LZF-compressed.
    let n1 = ziplist(&[Z::S(b"q1"), Z::I(2)]);
    let n2 = ziplist(&[Z::S(b"q3"), Z::S(&long)]);
    r.key(14, b"legacy:quicklist")
        .len(2)
        .str(&n1)
        .lzf_literal(&n2);
    // Plain SET (2) and HASH (4) with integer-encoded members.
    r.key(2, b"legacy:set").len(3).int(1).str(b"two").int(-300);
    r.key(4, b"legacy:hash")
        .len(2)
        .str(b"a")
        .int(1)
        .int(2)
        .str(b"b");
    // An integer-encoded key, and a STRING stored as LZF.
    r.byte(0).int(4242).str(b"integer key");
    r.byte(0).str(b"legacy:lzf-string").lzf_run(b'r', 1000);
    r.select(2).resize(1, 0);
    r.key(0, b"db2:key").int(-128);
    r.finish(9, true)
}

/// A version-4 file (no checksum trailer): plain types only.
pub(crate) fn legacy_v4() -> Vec<u8> {
    let mut r = Raw::new(4);
    r.select(0);
    r.key(0, b"v4:string").str(b"old");
    r.expire_secs(FAR_SECS);
    r.key(1, b"v4:list").len(2).str(b"a").str(b"b");
    r.key(2, b"v4:set").len(2).str(b"1").str(b"x");
    r.key(3, b"v4:zset").len(1).str(b"m").byte(4).bytes(b"2.75");
    r.key(4, b"v4:hash").len(1).str(b"f").str(b"v");
    r.finish(4, false)
}
