//! Golden RDB files written by a real redis-server 7.0.15
//! (scripts/gen-golden-rdb.sh): each loads into a tandem keyspace whose
//! DEBUG DIGEST equals the one Redis printed, survives a save/load round trip
//! through tandem's writer, and has the shape the script meant it to have.

mod common;

use common::*;
use tandem_storage::rdb::{
    self, LoadOptions, RdbError, RdbEvent, RdbOptions, RdbReader, ReadOptions,
};
use tandem_storage::Keyspace;

const FIXTURES: [&str; 6] = [
    "strings",
    "lists",
    "collections",
    "everything",
    "uncompressed",
    "stream",
];

fn expected_digest(name: &str) -> String {
    String::from_utf8(fixture(&format!("{name}.digest")))
        .expect("a digest file is text")
        .trim()
        .to_string()
}

fn events(data: &[u8]) -> Vec<RdbEvent> {
    RdbReader::new(data, ReadOptions::default())
        .collect::<Result<Vec<_>, _>>()
        .expect("the fixture reads")
}

#[test]
fn every_fixture_loads_with_redis_digest() {
    for name in FIXTURES {
        let data = fixture(&format!("{name}.rdb"));
        let (ks, summary) = load_bytes(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(digest(&ks), expected_digest(name), "{name}");
        assert_eq!(summary.version, 10, "{name}");
        assert_eq!(summary.aux(b"redis-ver"), Some(&b"7.0.15"[..]), "{name}");
        assert_eq!(summary.aux(b"redis-bits"), Some(&b"64"[..]), "{name}");
        assert_eq!(summary.empty_keys_skipped, 0, "{name}");
        assert_eq!(summary.keys_loaded as usize, ks.key_count(), "{name}");
    }
}

#[test]
fn fixtures_survive_a_tandem_round_trip() {
    for name in FIXTURES {
        let data = fixture(&format!("{name}.rdb"));
        let (ks, _) = load_bytes(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        for compression in [true, false] {
            let opts = RdbOptions {
                compression,
                ..RdbOptions::default()
            };
            let again = save_bytes(&ks, opts);
            let (back, _) = load_bytes(&again).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(digest(&back), expected_digest(name), "{name} {compression}");
        }
    }
}

#[test]
fn fixtures_decode_the_same_one_byte_at_a_time() {
    /// A source that hands out at most one byte per read, like a slow socket.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            match (self.0.split_first(), buf.first_mut()) {
                (Some((b, rest)), Some(slot)) => {
                    *slot = *b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }
    for name in ["lists", "everything"] {
        let data = fixture(&format!("{name}.rdb"));
        let mut ks = Keyspace::new(16);
        rdb::load(Trickle(&data), &mut ks, &LoadOptions::default()).unwrap();
        assert_eq!(digest(&ks), expected_digest(name), "{name}");
    }
}

fn entry<'a>(events: &'a [RdbEvent], key: &str) -> &'a rdb::RdbEntry {
    events
        .iter()
        .find_map(|e| match e {
            RdbEvent::Entry(en) if en.key.as_slice() == key.as_bytes() => Some(en),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no key {key}"))
}

#[test]
fn strings_fixture_has_every_string_form() {
    let ev = events(&fixture("strings.rdb"));
    let get = |k: &str| entry(&ev, k).value.as_str().expect("a string").to_vec();
    for v in INTS {
        assert_eq!(get(&format!("str:int:{v}")), v.to_string().into_bytes());
    }
    assert_eq!(get("str:lzf21"), b"a".repeat(21));
    assert_eq!(get("str:lzf100k").len(), 100_000);
    assert_eq!(get("str:noise").len(), 30_000);
    assert_eq!(get("str:empty"), b"");
    assert_eq!(get(""), b"the empty key");
    assert_eq!(get("12345"), b"an integer key");
    assert_eq!(get("str:appended"), b"abcd");
    assert_eq!(entry(&ev, "str:ttl").expire_at_ms, Some(FAR));
    assert_eq!(entry(&ev, "str:ttl-int").expire_at_ms, Some(FAR + 1));
    assert_eq!(entry(&ev, "db5:a").db, 5);
    // Loaded strings take the encodings Redis gives them on load.
    assert_eq!(entry(&ev, "str:int:1").value.encoding(), "int");
    assert_eq!(entry(&ev, "str:appended").value.encoding(), "embstr");
    assert_eq!(entry(&ev, "str:lzf100k").value.encoding(), "raw");
}

#[test]
fn lists_fixture_has_plain_and_compressed_nodes() {
    let ev = events(&fixture("lists.rdb"));
    let items = |k: &str| -> Vec<Vec<u8>> {
        match &entry(&ev, k).value {
            tandem_storage::Value::List(l) => l.iter().map(|e| e.to_vec()).collect(),
            other => panic!("{k} is {other:?}"),
        }
    };
    let plain = items("list:plain");
    assert_eq!(plain.len(), 5);
    assert_eq!(plain[1].len(), 1500);
    assert_eq!(plain[3].len(), 3000);
    assert_eq!(plain[4], b"7");
    assert_eq!(items("list:big").len(), 3000);
    assert_eq!(items("list:compressed").len(), 2000);
    assert_eq!(items("list:binary").len(), 256);
    assert_eq!(items("list:lpushed")[0], b"18463");
    let ints = items("list:ints");
    assert_eq!(
        &ints[..INTS.len()],
        INTS.map(|v| v.to_string().into_bytes())
    );
    assert_eq!(entry(&ev, "db2:list").db, 2);
}

#[test]
fn collections_fixture_takes_redis_encodings() {
    let data = fixture("collections.rdb");
    let ev = events(&data);
    for (key, enc) in [
        ("set:int16", "intset"),
        ("set:int64", "intset"),
        ("set:ints-hashtable", "hashtable"),
        ("set:mixed", "hashtable"),
        ("zset:small", "listpack"),
        ("zset:negzero", "listpack"),
        ("zset:skiplist", "skiplist"),
        ("zset:longmember", "skiplist"),
        ("hash:small", "listpack"),
        ("hash:big", "hashtable"),
        ("hash:longvalue", "hashtable"),
    ] {
        assert_eq!(entry(&ev, key).value.encoding(), enc, "{key}");
    }
    // allkeys-lfu: every key carries a FREQ opcode.
    assert!(ev.iter().all(|e| match e {
        RdbEvent::Entry(en) => en.freq.is_some() && en.idle_secs.is_none(),
        _ => true,
    }));
    // Smaller limits move the same data to the big encodings.
    let opts = LoadOptions {
        read: ReadOptions {
            limits: tandem_storage::types::Limits {
                hash_max_listpack_entries: 1,
                set_max_intset_entries: 2,
                zset_max_listpack_entries: 1,
                ..Default::default()
            },
            verify_checksum: true,
        },
        ..LoadOptions::default()
    };
    let (mut ks, _) = load_with(&data, &opts).unwrap();
    for (key, enc) in [
        ("set:int16", "hashtable"),
        ("zset:small", "skiplist"),
        ("hash:small", "hashtable"),
    ] {
        assert_eq!(
            ks.db(0).peek(key.as_bytes(), 0).unwrap().value.encoding(),
            enc
        );
    }
    assert_eq!(digest(&ks), expected_digest("collections"));
}

#[test]
fn everything_fixture_has_functions_lru_and_databases() {
    let data = fixture("everything.rdb");
    let (ks, summary) = load_bytes(&data).unwrap();
    assert_eq!(summary.functions.len(), 1);
    assert!(summary.functions[0].starts_with(b"#!lua name=goldenlib\n"));
    assert_eq!(summary.aux(b"aof-base"), Some(&b"0"[..]));
    let sizes: Vec<usize> = ks.dbs().iter().map(|d| d.len()).collect();
    for db in [0, 1, 9, 15] {
        assert_eq!(sizes[db], 12, "db{db}");
    }
    assert_eq!(sizes.iter().sum::<usize>(), 48);
    let ev = events(&data);
    // allkeys-lru: every key carries an IDLE opcode.
    assert!(ev.iter().all(|e| match e {
        RdbEvent::Entry(en) => en.idle_secs.is_some(),
        _ => true,
    }));
    let selects: Vec<u64> = ev
        .iter()
        .filter_map(|e| match e {
            RdbEvent::SelectDb { db } => Some(*db),
            _ => None,
        })
        .collect();
    assert_eq!(selects, [0, 1, 9, 15]);
    assert!(matches!(ev.last(), Some(RdbEvent::End { checksum: Some(c) }) if *c != 0));
}

#[test]
fn uncompressed_fixture_has_a_zero_checksum() {
    let (_, summary) = load_bytes(&fixture("uncompressed.rdb")).unwrap();
    assert_eq!(summary.checksum, Some(0));
}

/// tandem writes a stream exactly as Redis 7.0 wrote it: the record of
/// the loaded stream, rewritten, is a byte-for-byte part of Redis's file.
#[test]
fn stream_fixture_is_rewritten_byte_for_byte() {
    let data = fixture("stream.rdb");
    let (mut ks, _) = load_bytes(&data).expect("the stream fixture loads");
    let entry = ks.db(0).get(b"mystream", 0).expect("mystream is loaded");
    assert_eq!(entry.value.kind().name(), "stream");
    let payload = rdb::dump::dump_payload(&entry.value, RdbOptions::default());
    let body = &payload[..payload.len() - 10];
    assert_eq!(body[0], 19, "Redis 7.0 saves streams as type 19");
    // The file has the type, the key, then the value.
    let mut record = vec![19, 8];
    record.extend_from_slice(b"mystream");
    record.extend_from_slice(&body[1..]);
    assert!(
        data.windows(record.len()).any(|w| w == record),
        "tandem's stream record differs from Redis's"
    );
}

#[test]
fn checksums_are_verified() {
    let mut data = fixture("strings.rdb");
    let n = data.len();
    data[n - 1] ^= 1;
    assert!(matches!(load_bytes(&data), Err(RdbError::Checksum { .. })));
    let opts = LoadOptions {
        read: ReadOptions {
            verify_checksum: false,
            ..ReadOptions::default()
        },
        ..LoadOptions::default()
    };
    let (ks, _) = load_with(&data, &opts).unwrap();
    assert_eq!(digest(&ks), expected_digest("strings"));
}

#[test]
fn a_primary_drops_expired_keys() {
    let data = fixture("strings.rdb");
    let opts = LoadOptions {
        now_ms: FAR + 1,
        drop_expired: true,
        ..LoadOptions::default()
    };
    let (ks, summary) = load_with(&data, &opts).unwrap();
    // str:ttl (FAR), str:ttl-int (FAR + 1) and db5:n (FAR) are gone.
    assert_eq!(summary.keys_expired, 3);
    let (all, _) = load_bytes(&data).unwrap();
    assert_eq!(ks.key_count() + 3, all.key_count());
}

/// Files of the pre-7.0 types, built by tests/common/raw.rs (Redis 7.0 can
/// only read them); the digests are what redis-server 7.0 printed after
/// loading them (scripts/gen-golden-rdb.sh interop).
#[test]
fn legacy_fixtures_load_with_redis_digest() {
    for (name, version, built) in [
        ("legacy-v9", 9, raw::legacy_v9()),
        ("legacy-v4", 4, raw::legacy_v4()),
    ] {
        let data = fixture(&format!("{name}.rdb"));
        assert_eq!(
            data, built,
            "{name}.rdb is stale: run scripts/gen-golden-rdb.sh interop"
        );
        let (mut ks, summary) = load_bytes(&data).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(digest(&ks), expected_digest(name), "{name}");
        assert_eq!(summary.version, version);
        assert_eq!(summary.checksum.is_some(), version >= 5);
        if version == 9 {
            let db = ks.db(0);
            assert_eq!(
                db.peek(b"legacy:zipmap", 0).unwrap().value.encoding(),
                "listpack"
            );
            assert_eq!(
                db.peek(b"legacy:intset", 0).unwrap().value.encoding(),
                "intset"
            );
            assert_eq!(
                db.peek(b"legacy:zset-ziplist", 0).unwrap().value.encoding(),
                "listpack"
            );
            assert_eq!(
                db.peek(b"legacy:ziplist-list", 0).unwrap().expire_at(),
                Some(u64::from(raw::FAR_SECS) * 1000)
            );
            assert_eq!(ks.db(2).len(), 1);
        }
    }
}
