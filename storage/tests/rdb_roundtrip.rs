//! tandem's writer and reader together: every type in every encoding comes
//! back equal (values, expiries, encodings, digest) under every writer
//! option, for a fixed rich keyspace and for random ones; the event stream
//! has the shape Redis writes; the reader consumes exactly one file.

mod common;

use std::io::{Read, Write};

use common::*;
use proptest::prelude::*;
use tandem_storage::rdb::crc64::crc64;
use tandem_storage::rdb::{
    self, AuxFields, RdbEvent, RdbOptions, RdbReader, RdbWriter, ReadOptions, ReplAux,
};
use tandem_storage::types::hash::HashValue;
use tandem_storage::types::set::SetValue;
use tandem_storage::types::zset::ZSetValue;
use tandem_storage::types::Limits;
use tandem_storage::{Keyspace, SmallBytes, Value};

fn all_options() -> Vec<RdbOptions> {
    let mut v = Vec::new();
    for compression in [true, false] {
        for checksum in [true, false] {
            for fill in [-2, -1, -5, -6, 1, 3, 128] {
                v.push(RdbOptions {
                    compression,
                    checksum,
                    list_max_listpack_size: fill,
                });
            }
        }
    }
    v
}

/// Every key of `a` is in `b` with an equal value, the same expiry and (for
/// aggregates) the same encoding, and the databases have the same sizes.
fn assert_same(a: &Keyspace, b: &mut Keyspace) {
    for (i, db) in a.dbs().iter().enumerate() {
        assert_eq!(db.len(), b.db(i).len(), "db{i} size");
        for e in db.iter() {
            let other = b
                .db(i)
                .peek(e.key(), 0)
                .unwrap_or_else(|| panic!("db{i} {:?} missing", e.key()));
            assert_eq!(other.value, e.value, "db{i} {:?}", e.key());
            assert_eq!(other.expire_at(), e.expire_at(), "db{i} {:?}", e.key());
            if !matches!(e.value, Value::Str(_)) {
                assert_eq!(other.value.encoding(), e.value.encoding(), "{:?}", e.key());
            }
        }
    }
    assert_eq!(digest(a), digest(b));
}

#[test]
fn rich_keyspace_round_trips_under_every_option() {
    let ks = rich_keyspace();
    let want = digest(&ks);
    let mut sizes = Vec::new();
    for opts in all_options() {
        let data = save_bytes(&ks, opts);
        sizes.push(data.len());
        let (mut back, summary) = load_bytes(&data).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        assert_same(&ks, &mut back);
        assert_eq!(digest(&back), want);
        assert_rich_encodings(&mut back);
        assert_eq!(
            summary.checksum,
            Some(if opts.checksum {
                crc64(&data[..data.len() - 8])
            } else {
                0
            })
        );
    }
    // Compression pays on this data.
    assert!(sizes[0] * 3 / 2 < sizes[sizes.len() - 1], "{sizes:?}");
}

#[test]
fn header_and_records_have_redis_shape() {
    let mut w = RdbWriter::new(Vec::new(), RdbOptions::default());
    let mut aux = AuxFields::new(1_700_000_000, 123_456);
    aux.repl = Some(ReplAux {
        stream_db: 3,
        id: "a".repeat(40),
        offset: 98765,
    });
    w.write_header(&aux).unwrap();
    w.aux(b"tandem-lineage", b"x:1:2").unwrap();
    w.function_library(b"#!lua name=lib\nredis.register_function('f', function() return 1 end)")
        .unwrap();
    w.select_db(2, 1, 1).unwrap();
    w.write_entry(b"k", &Value::string("v"), Some(FAR)).unwrap();
    w.write_entry(b"empty", &Value::List(Box::default()), None)
        .unwrap();
    let data = w.finish().unwrap();
    assert!(data.starts_with(b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfa\x0aredis-bits\xc0\x40"));
    let events: Vec<RdbEvent> = RdbReader::new(&data[..], ReadOptions::default())
        .collect::<Result<_, _>>()
        .unwrap();
    let aux_keys: Vec<&[u8]> = events
        .iter()
        .filter_map(|e| match e {
            RdbEvent::Aux { key, .. } => Some(key.as_slice()),
            _ => None,
        })
        .collect();
    assert_eq!(
        aux_keys,
        [
            &b"redis-ver"[..],
            b"redis-bits",
            b"ctime",
            b"used-mem",
            b"repl-stream-db",
            b"repl-id",
            b"repl-offset",
            b"aof-base",
            b"tandem-lineage"
        ]
    );
    assert!(events.contains(&RdbEvent::Aux {
        key: b"repl-offset".to_vec(),
        value: b"98765".to_vec()
    }));
    assert!(events.contains(&RdbEvent::Aux {
        key: b"ctime".to_vec(),
        value: b"1700000000".to_vec()
    }));
    assert!(matches!(&events[9], RdbEvent::FunctionLibrary { code } if code.starts_with(b"#!lua")));
    assert_eq!(events[10], RdbEvent::SelectDb { db: 2 });
    assert_eq!(
        events[11],
        RdbEvent::ResizeDb {
            keys: 1,
            expires: 1
        }
    );
    match &events[12] {
        RdbEvent::Entry(e) => {
            assert_eq!(
                (e.db, e.key.as_slice(), e.expire_at_ms),
                (2, &b"k"[..], Some(FAR))
            );
        }
        other => panic!("{other:?}"),
    }
    // The empty list was skipped; then the end, with the real checksum.
    assert_eq!(
        events[13],
        RdbEvent::End {
            checksum: Some(crc64(&data[..data.len() - 8]))
        }
    );
    assert_eq!(events.len(), 14);
    assert_eq!(&data[data.len() - 9..data.len() - 8], &[0xFF]);
}

#[test]
fn reader_consumes_exactly_one_file() {
    let ks = rich_keyspace();
    let mut data = save_bytes(&ks, RdbOptions::default());
    let len = data.len();
    data.extend_from_slice(b"+the replication stream continues");
    let mut reader = RdbReader::new(std::io::Cursor::new(&data), ReadOptions::default());
    let mut keys = 0;
    while let Some(event) = reader.next_event().unwrap() {
        keys += usize::from(matches!(event, RdbEvent::Entry(_)));
    }
    assert_eq!(keys, ks.key_count());
    assert_eq!(reader.offset(), len as u64);
    assert!(reader.next_event().unwrap().is_none());
    let mut rest = String::new();
    reader.into_inner().read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "+the replication stream continues");
}

#[test]
fn writer_streams_in_bounded_memory() {
    /// A sink that records the size of each write.
    #[derive(Default)]
    struct Sink {
        total: usize,
        largest: usize,
    }
    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.total += buf.len();
            self.largest = self.largest.max(buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = RdbWriter::new(Sink::default(), RdbOptions::default());
    w.write_header(&AuxFields::new(0, 0)).unwrap();
    w.select_db(0, 20_000, 0).unwrap();
    for i in 0..20_000u32 {
        let v = Value::string(noise(100, u64::from(i) + 1));
        w.write_entry(format!("key:{i}").as_bytes(), &v, None)
            .unwrap();
    }
    // Before finish, nearly everything has gone out in buffer-sized writes.
    assert!(w.bytes_written() > 2_000_000);
    let sink = w.finish().unwrap();
    assert!(sink.largest <= 64 * 1024, "{}", sink.largest);
    assert!(sink.total > 2_000_000);
}

#[test]
fn packed_hash_order_survives() {
    let mut ks = Keyspace::new(1);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..50)
        .rev()
        .map(|i| (format!("f{i}").into_bytes(), i.to_string().into_bytes()))
        .collect();
    ks.db(0).insert(b"h", hash(pairs.clone()), None, 0);
    let data = save_bytes(&ks, RdbOptions::default());
    let (mut back, _) = load_bytes(&data).unwrap();
    let entry = back.db(0).peek(b"h", 0).unwrap();
    let Value::Hash(h) = &entry.value else {
        panic!("not a hash")
    };
    let got: Vec<(Vec<u8>, Vec<u8>)> = h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
    assert_eq!(got, pairs);
}

#[test]
fn save_and_load_through_a_file() {
    let ks = rich_keyspace();
    let dir = std::env::temp_dir().join(format!("tandem-rdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dump.rdb");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    rdb::save(file, &ks, &AuxFields::new(0, 0), RdbOptions::default())
        .unwrap()
        .into_inner()
        .unwrap()
        .sync_all()
        .unwrap();
    let mut back = Keyspace::new(16);
    let src = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    rdb::load(src, &mut back, &rdb::LoadOptions::default()).unwrap();
    assert_same(&ks, &mut back);
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------
// Random keyspaces
// ---------------------------------------------------------------------------

fn element() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::collection::vec(any::<u8>(), 0..20),
        3 => any::<i64>().prop_map(|v| v.to_string().into_bytes()),
        2 => (-200i64..200).prop_map(|v| v.to_string().into_bytes()),
        1 => (0usize..300, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
        1 => (50usize..120).prop_map(|n| noise(n, n as u64)),
    ]
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => (-1000i64..1000).prop_map(|v| v as f64),
        3 => any::<f64>().prop_filter("no NaN", |v| !v.is_nan()),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(-0.0),
        1 => (0u32..30).prop_map(|e| 2f64.powi(52 + e as i32)),
        1 => (1i64..100).prop_map(|v| v as f64 / 8.0),
    ]
}

/// A value of any type, small or big enough to take the general encoding.
fn value() -> impl Strategy<Value = Value> {
    let limits = Limits::default();
    prop_oneof![
        3 => element().prop_map(Value::string),
        1 => element().prop_map(|e| Value::raw_string(SmallBytes::from_vec(e))),
        1 => (1usize..30_000).prop_map(|n| Value::string("lzf me! ".repeat(n / 8 + 1).into_bytes())),
        2 => proptest::collection::vec(element(), 1..60).prop_map(list),
        1 => (1usize..3000, any::<u8>()).prop_map(|(n, b)| {
            list((0..n).map(|i| format!("{b}:{i}").into_bytes()))
        }),
        1 => (9000usize..12_000).prop_map(|n| list([noise(n, 7), b"x".to_vec(), noise(n, 8)])),
        2 => proptest::collection::vec(any::<i64>(), 1..40).prop_map(|v| {
            set(v.into_iter().map(|x| x.to_string().into_bytes()))
        }),
        1 => proptest::collection::vec(-30000i64..30000, 1..40).prop_map(|v| {
            set(v.into_iter().map(|x| x.to_string().into_bytes()))
        }),
        2 => proptest::collection::vec(element(), 1..40).prop_map(set),
        1 => (513usize..700).prop_map(|n| set((0..n).map(|i| i.to_string().into_bytes()))),
        3 => proptest::collection::vec((element(), score()), 1..40).prop_map(move |pairs| {
            let mut z = ZSetValue::new();
            for (m, s) in pairs {
                z.insert(&m, s, &limits);
            }
            Value::ZSet(Box::new(z))
        }),
        1 => (129usize..200, score()).prop_map(move |(n, s)| {
            let mut z = ZSetValue::new();
            for i in 0..n {
                z.insert(format!("m{i}").as_bytes(), s + i as f64, &limits);
            }
            Value::ZSet(Box::new(z))
        }),
        3 => proptest::collection::vec((element(), element()), 1..40).prop_map(move |pairs| {
            let mut h = HashValue::new();
            for (f, v) in pairs {
                h.set(&f, &v, &limits);
            }
            Value::Hash(Box::new(h))
        }),
        1 => (513usize..600).prop_map(move |n| {
            let mut h = HashValue::new();
            for i in 0..n {
                h.set(format!("f{i}").as_bytes(), i.to_string().as_bytes(), &limits);
            }
            Value::Hash(Box::new(h))
        }),
    ]
}

fn keyspace() -> impl Strategy<Value = Keyspace> {
    proptest::collection::vec(
        (
            prop_oneof![4 => Just(0usize), 1 => 1usize..16],
            element(),
            value(),
            proptest::option::weighted(0.3, 1u64..u64::from(u32::MAX) * 1000),
        ),
        0..12,
    )
    .prop_map(|entries| {
        let mut ks = Keyspace::new(16);
        for (db, key, value, ttl) in entries {
            ks.db(db).insert(&key, value, ttl, 0);
        }
        ks
    })
}

fn options() -> impl Strategy<Value = RdbOptions> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(-2i64), -6i64..0, 1i64..200],
    )
        .prop_map(|(compression, checksum, fill)| RdbOptions {
            compression,
            checksum,
            list_max_listpack_size: fill,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_keyspaces_round_trip(ks in keyspace(), opts in options()) {
        let data = save_bytes(&ks, opts);
        let (mut back, summary) = load_bytes(&data).map_err(|e| TestCaseError::fail(e.to_string()))?;
        assert_same(&ks, &mut back);
        prop_assert_eq!(summary.keys_loaded as usize, ks.key_count());
        // Writing what was read gives the same bytes (ctime aside, which is fixed here).
        prop_assert_eq!(save_bytes(&back, opts).len(), data.len());
    }

    #[test]
    fn small_sets_keep_their_encoding(members in proptest::collection::vec(element(), 1..30)) {
        let v = set(members);
        let enc = v.encoding();
        let mut ks = Keyspace::new(1);
        ks.db(0).insert(b"s", v, None, 0);
        let (mut back, _) = load_bytes(&save_bytes(&ks, RdbOptions::default())).unwrap();
        prop_assert_eq!(back.db(0).peek(b"s", 0).unwrap().value.encoding(), enc);
        if let Value::Set(s) = &back.db(0).peek(b"s", 0).unwrap().value {
            let s: &SetValue = s;
            prop_assert!(!s.is_empty());
        }
    }
}
