//! Damaged and unusual input: truncations at every byte, flipped bytes and
//! random garbage give errors (never panics); each special case gives the
//! error Redis would, with an offset; the odd-but-valid cases load.

mod common;

use common::raw::{ziplist, Raw, Z};
use common::*;
use proptest::prelude::*;
use tandem_storage::rdb::{LoadOptions, RdbError, RdbEvent, RdbOptions, RdbReader, ReadOptions};
use tandem_storage::{Keyspace, Value};

/// One key of each type and encoding, kept small so that every byte of the
/// file can be damaged in turn.
fn small_file() -> Vec<u8> {
    let mut ks = Keyspace::new(16);
    let b = |s: &str| s.as_bytes().to_vec();
    ks.db(0).insert(
        b"s",
        Value::string("hello world hello world hello"),
        Some(FAR),
        0,
    );
    ks.db(0).insert(b"i", Value::from_i64(-70000), None, 0);
    ks.db(0)
        .insert(b"l", list([b("a"), b("12"), b("")]), None, 0);
    ks.db(0).insert(b"is", set([b("1"), b("-300")]), None, 0);
    ks.db(0).insert(b"hs", set([b("x"), b("y")]), None, 0);
    ks.db(0)
        .insert(b"z", zset([(b("m"), 1.5), (b("n"), 2.0)]), None, 0);
    ks.db(0).insert(
        b"zs",
        zset([(b(&"long member ".repeat(7)), 1.0), (b("n"), f64::INFINITY)]),
        None,
        0,
    );
    ks.db(1)
        .insert(b"h", hash([(b("f"), b("v")), (b("1"), b("2"))]), None, 0);
    ks.db(1)
        .insert(b"hh", hash([(b("f"), b(&"v".repeat(70)))]), Some(FAR), 0);
    save_bytes(&ks, RdbOptions::default())
}

fn unchecked() -> LoadOptions {
    LoadOptions {
        read: ReadOptions {
            verify_checksum: false,
            ..ReadOptions::default()
        },
        ..LoadOptions::default()
    }
}

#[test]
fn every_truncation_is_an_error() {
    for data in [small_file(), raw::legacy_v9(), raw::legacy_v4()] {
        assert!(load_bytes(&data).is_ok());
        for n in 0..data.len() {
            match load_with(&data[..n], &unchecked()) {
                Err(e) => {
                    if let Some(at) = e.offset() {
                        assert!(at <= n as u64, "{n}: {e}");
                    }
                }
                Ok(_) => panic!("a file cut to {n} of {} bytes loaded", data.len()),
            }
        }
    }
}

#[test]
fn every_flipped_byte_is_caught_by_the_checksum() {
    let data = small_file();
    for i in 0..data.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = data.clone();
            bad[i] ^= mask;
            assert!(
                load_bytes(&bad).is_err(),
                "byte {i} ^ {mask:#x} went unnoticed"
            );
            // Without the checksum: an error or a load, never a panic.
            let _ = load_with(&bad, &unchecked());
        }
    }
}

#[test]
fn flipped_bytes_in_old_formats_never_panic() {
    let data = raw::legacy_v9();
    // Every byte of the small records, a sample of the big ziplist.
    for i in (0..data.len()).filter(|i| *i < 600 || i % 37 == 0 || *i > data.len() - 800) {
        for mask in [0x01u8, 0x40, 0x80, 0xff] {
            let mut bad = data.clone();
            bad[i] ^= mask;
            let _ = load_with(&bad, &unchecked());
        }
    }
}

proptest! {
    #[test]
    fn garbage_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..400)) {
        let mut data = b"REDIS0010".to_vec();
        data.extend_from_slice(&tail);
        let _ = load_with(&data, &unchecked());
        let _ = load_with(&tail, &unchecked());
    }

    #[test]
    fn spliced_files_never_panic(cut in 0usize..2000, at in 0usize..2000, len in 0usize..64) {
        // Real records in the wrong places.
        let data = small_file();
        let cut = cut % data.len();
        let at = at % data.len();
        let mut bad = data[..at].to_vec();
        bad.extend_from_slice(&data[cut..(cut + len).min(data.len())]);
        bad.extend_from_slice(&data[at..]);
        let _ = load_with(&bad, &unchecked());
    }
}

fn err(data: &[u8]) -> RdbError {
    match load_bytes(data) {
        Err(e) => e,
        Ok(_) => panic!("loaded"),
    }
}

fn corrupt_found(e: &RdbError) -> String {
    match e {
        RdbError::Corrupt { found, .. } => found.clone(),
        other => panic!("not a corruption error: {other:?}"),
    }
}

#[test]
fn bad_headers() {
    assert!(matches!(err(b"REDIS"), RdbError::Signature { .. }));
    assert!(matches!(err(b"RDB0010\xff"), RdbError::Signature { .. }));
    assert!(matches!(err(b"REDIS00x0\xff"), RdbError::Signature { .. }));
    assert!(matches!(
        err(b"REDIS0011\xff"),
        RdbError::Version { version: 11 }
    ));
    assert!(matches!(
        err(b"REDIS0000\xff"),
        RdbError::Version { version: 0 }
    ));
    let text = err(b"REDIS0011\xff").to_string();
    assert!(text.contains("version 11"), "{text}");
}

#[test]
fn keyspace_level_errors() {
    let data = Raw::new(10)
        .select(16)
        .key(0, b"k")
        .str(b"v")
        .finish(10, true);
    let e = err(&data);
    assert!(
        matches!(
            e,
            RdbError::DbOutOfRange {
                db: 16,
                offset: 9,
                ..
            }
        ),
        "{e:?}"
    );
    let data = Raw::new(10)
        .key(0, b"dup")
        .str(b"1")
        .select(0)
        .key(0, b"dup")
        .str(b"2")
        .finish(10, true);
    match err(&data) {
        RdbError::DuplicateKey { key, db, offset } => {
            assert_eq!((key.as_str(), db, offset), ("dup", 0, 18));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_members_are_corrupt() {
    let data = Raw::new(10)
        .key(2, b"s")
        .len(2)
        .str(b"a")
        .str(b"a")
        .finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("twice"));
    let data = Raw::new(10)
        .key(2, b"s")
        .len(2)
        .int(5)
        .str(b"5")
        .finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("twice"));
    let data = Raw::new(10)
        .key(4, b"h")
        .len(2)
        .str(b"f")
        .str(b"1")
        .str(b"f")
        .str(b"2")
        .finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("twice"));
    let mut r = Raw::new(10);
    r.key(5, b"z").len(2);
    r.str(b"m").bytes(&1f64.to_le_bytes());
    r.str(b"m").bytes(&2f64.to_le_bytes());
    assert!(corrupt_found(&err(&r.finish(10, true))).contains("repeated"));
    let zl = ziplist(&[Z::S(b"f"), Z::I(1), Z::S(b"f"), Z::I(2)]);
    let data = Raw::new(10).key(13, b"h").str(&zl).finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("twice"));
}

#[test]
fn nan_scores_are_corrupt() {
    let mut r = Raw::new(10);
    r.key(5, b"z")
        .len(1)
        .str(b"m")
        .bytes(&f64::NAN.to_le_bytes());
    assert!(corrupt_found(&err(&r.finish(10, true))).contains("NaN"));
    let mut r = Raw::new(10);
    r.key(3, b"z").len(1).str(b"m").byte(253);
    assert!(corrupt_found(&err(&r.finish(10, true))).contains("NaN"));
    let mut r = Raw::new(10);
    r.key(3, b"z").len(1).str(b"m").byte(3).bytes(b"abc");
    assert!(matches!(err(&r.finish(10, true)), RdbError::Corrupt { .. }));
}

#[test]
fn modules_are_reported() {
    // A MODULE_2 value: an error naming the module type and the key.
    let id: u64 = {
        let cs = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut id = 0u64;
        for c in b"ReJSON-RL" {
            id = (id << 6) | cs.iter().position(|x| x == c).unwrap() as u64;
        }
        (id << 10) | 3
    };
    let data = Raw::new(10).key(7, b"doc").len(id).len(0).finish(10, true);
    match err(&data) {
        RdbError::Module { module, what, .. } => {
            assert_eq!(module, "ReJSON-RL");
            assert!(what.contains("doc"), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // Module aux data: the reader skips it and reports it; load refuses it.
    let mut r = Raw::new(10);
    r.byte(0xF7).len(id).len(2).len(2); // id, UINT 'when' = 2
    r.len(1).len(7); // SINT 7
    r.len(3).bytes(&1f32.to_le_bytes());
    r.len(4).bytes(&1f64.to_le_bytes());
    r.len(5).str(b"module string");
    r.len(0); // EOF
    r.key(0, b"after").str(b"x");
    let data = r.finish(10, true);
    let events: Vec<RdbEvent> = RdbReader::new(&data[..], ReadOptions::default())
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        events[0],
        RdbEvent::ModuleAux {
            module: "ReJSON-RL".into(),
            when: 2
        }
    );
    assert!(matches!(&events[1], RdbEvent::Entry(e) if e.key.as_slice() == b"after"));
    assert!(matches!(err(&data), RdbError::Module { .. }));
}

#[test]
fn old_function_records_are_translated() {
    let mut r = Raw::new(10);
    r.byte(0xF6)
        .str(b"mylib")
        .str(b"LUA")
        .len(1)
        .str(b"a description");
    r.str(b"redis.register_function('f', function() return 1 end)");
    let data = r.finish(10, true);
    let (_, summary) = load_bytes(&data).unwrap();
    assert_eq!(
        summary.functions,
        [b"#!LUA name=mylib\nredis.register_function('f', function() return 1 end)".to_vec()]
    );
}

#[test]
fn empty_aggregates_are_skipped() {
    let empty_lp = [7u8, 0, 0, 0, 0, 0, 0xFF];
    let mut r = Raw::new(10);
    r.key(1, b"list").len(0);
    r.key(2, b"set").len(0);
    r.key(4, b"hash").len(0);
    r.key(5, b"zset").len(0);
    r.key(16, b"hash-lp").str(&empty_lp);
    r.key(17, b"zset-lp").str(&empty_lp);
    r.key(18, b"ql2").len(1).len(2).str(&empty_lp);
    r.key(14, b"ql1").len(1).str(&ziplist(&[]));
    r.key(10, b"zl").str(&ziplist(&[]));
    r.key(0, b"kept").str(b"v");
    let data = r.finish(10, true);
    let (ks, summary) = load_bytes(&data).unwrap();
    assert_eq!(summary.empty_keys_skipped, 9);
    assert_eq!(ks.key_count(), 1);
    // Redis refuses an empty intset or zipmap outright.
    let data = Raw::new(10)
        .key(11, b"is")
        .str(&[2, 0, 0, 0, 0, 0, 0, 0])
        .finish(10, true);
    assert!(matches!(err(&data), RdbError::Corrupt { .. }));
    let data = Raw::new(10).key(9, b"zm").str(&[0, 0xFF]).finish(10, true);
    assert!(matches!(err(&data), RdbError::Corrupt { .. }));
}

#[test]
fn malformed_structures_are_corrupt_with_offsets() {
    // Unknown type codes, including Redis 7.2's set listpack.
    for code in [8u8, 20, 22, 100, 244] {
        let data = Raw::new(10).key(code, b"k").str(b"v").finish(10, true);
        match err(&data) {
            RdbError::Corrupt { offset, found, .. } => {
                assert_eq!(offset, 9);
                assert!(found.contains(&format!("type {code}")), "{found}");
            }
            other => panic!("{code}: {other:?}"),
        }
    }
    // Bad quicklist containers and empty nodes.
    let data = Raw::new(10)
        .key(18, b"q")
        .len(1)
        .len(3)
        .str(b"x")
        .finish(10, true);
    let e = err(&data);
    assert!(matches!(e, RdbError::Corrupt { offset: 13, .. }), "{e:?}");
    let data = Raw::new(10)
        .key(18, b"q")
        .len(1)
        .len(2)
        .str(b"")
        .finish(10, true);
    assert!(matches!(err(&data), RdbError::Corrupt { .. }));
    // A listpack whose header lies; the offset is the blob's.
    let lp = [8u8, 0, 0, 0, 1, 0, 0x01, 0x01, 0xFF];
    let data = Raw::new(10).key(16, b"h").str(&lp).finish(10, true);
    match err(&data) {
        RdbError::Corrupt { offset, found, .. } => {
            assert_eq!(offset, 12);
            assert!(found.contains("listpack"), "{found}");
        }
        other => panic!("{other:?}"),
    }
    // An odd number of hash entries.
    let lp = [9u8, 0, 0, 0, 1, 0, 0x01, 0x01, 0xFF];
    let data = Raw::new(10).key(16, b"h").str(&lp).finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("1 entries"));
    // Unknown string and length encodings.
    let data = Raw::new(10).key(0, b"k").byte(0xC4).finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("string encoding 4"));
    let data = Raw::new(10).key(1, b"k").byte(0x82).finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("length encoding"));
    let data = Raw::new(10).key(1, b"k").byte(0xC0).finish(10, true);
    assert!(corrupt_found(&err(&data)).contains("string encoding"));
}

#[test]
fn lzf_lengths_are_checked_before_allocating() {
    // Claims 2^40 bytes from 3 compressed ones.
    let mut r = Raw::new(10);
    r.key(0, b"k")
        .byte(0xC3)
        .len(3)
        .len(1 << 40)
        .bytes(&[0, b'a', 0]);
    assert!(corrupt_found(&err(&r.finish(10, true))).contains("compressed bytes"));
    // Wrong decompressed size.
    let mut r = Raw::new(10);
    r.key(0, b"k").byte(0xC3).len(2).len(5).bytes(&[0, b'a']);
    assert!(corrupt_found(&err(&r.finish(10, true))).contains("output"));
    // A reference before the start.
    let mut r = Raw::new(10);
    r.key(0, b"k")
        .byte(0xC3)
        .len(4)
        .len(5)
        .bytes(&[0, b'a', 0x40, 9]);
    assert!(matches!(err(&r.finish(10, true)), RdbError::Corrupt { .. }));
}

#[test]
fn huge_counts_and_lengths_fail_fast() {
    let mut r = Raw::new(10);
    r.key(0, b"k")
        .byte(0x81)
        .bytes(&(1u64 << 60).to_be_bytes())
        .bytes(b"short");
    let e = err(&r.buf.clone());
    assert!(matches!(e, RdbError::Truncated { offset: 21, .. }), "{e:?}");
    for t in [1u8, 2, 3, 4, 5, 14, 18] {
        let mut r = Raw::new(10);
        r.key(t, b"k").byte(0x81).bytes(&u64::MAX.to_be_bytes());
        assert!(
            matches!(err(&r.buf.clone()), RdbError::Truncated { .. }),
            "type {t}"
        );
    }
}

#[test]
fn expiry_forms() {
    let mut r = Raw::new(10);
    r.expire_ms(u64::MAX).key(0, b"never").str(b"v"); // -1: no expiry, as in Redis
    r.byte(0xFC)
        .bytes(&(-5i64).to_le_bytes())
        .key(0, b"past")
        .str(b"v");
    r.expire_secs(1_000).key(0, b"secs").str(b"v");
    r.key(0, b"none").str(b"v");
    let data = r.finish(10, true);
    let events: Vec<RdbEvent> = RdbReader::new(&data[..], ReadOptions::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let expiries: Vec<Option<u64>> = events
        .iter()
        .filter_map(|e| match e {
            RdbEvent::Entry(en) => Some(en.expire_at_ms),
            _ => None,
        })
        .collect();
    assert_eq!(expiries, [None, Some(0), Some(1_000_000), None]);
    // Loading keeps "past" as expired (not as persistent); a primary drops it.
    let (mut ks, _) = load_bytes(&data).unwrap();
    assert_eq!(ks.db(0).peek(b"past", 0).unwrap().expire_at(), Some(1));
    let opts = LoadOptions {
        now_ms: 10_000_000,
        drop_expired: true,
        ..LoadOptions::default()
    };
    let (ks, summary) = load_with(&data, &opts).unwrap();
    assert_eq!(summary.keys_expired, 2);
    assert_eq!(ks.key_count(), 2);
}

#[test]
fn iterator_stops_after_an_error() {
    let mut data = small_file();
    let n = data.len();
    data[n - 3] ^= 0xff;
    let mut reader = RdbReader::new(&data[..], ReadOptions::default());
    let results: Vec<Result<RdbEvent, RdbError>> = reader.by_ref().collect();
    assert!(matches!(
        results.last(),
        Some(Err(RdbError::Checksum { .. }))
    ));
    assert!(reader.next().is_none());
}
