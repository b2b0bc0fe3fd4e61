//! Helpers shared by the RDB integration tests: fixture paths, load/save to
//! bytes, and a keyspace holding every type in every encoding.

#![allow(dead_code)]

pub(crate) mod raw;

use std::path::PathBuf;

use tandem_storage::digest::{dataset_digest, to_hex};
use tandem_storage::rdb::{self, AuxFields, LoadOptions, LoadSummary, RdbError, RdbOptions};
use tandem_storage::types::hash::HashValue;
use tandem_storage::types::list::ListValue;
use tandem_storage::types::set::SetValue;
use tandem_storage::types::zset::ZSetValue;
use tandem_storage::types::Limits;
use tandem_storage::{Keyspace, SmallBytes, Value};

/// 2100-01-01 in Unix ms: expiries that stay in the future.
pub(crate) const FAR: u64 = 4_102_444_800_000;

pub(crate) fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/rdb")
}

pub(crate) fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn fuzz_corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rdb_load")
}

pub(crate) fn digest(ks: &Keyspace) -> String {
    to_hex(&dataset_digest(ks))
}

pub(crate) fn load_bytes(data: &[u8]) -> Result<(Keyspace, LoadSummary), RdbError> {
    load_with(data, &LoadOptions::default())
}

pub(crate) fn load_with(
    data: &[u8],
    opts: &LoadOptions,
) -> Result<(Keyspace, LoadSummary), RdbError> {
    let mut ks = Keyspace::new(16);
    let summary = rdb::load(data, &mut ks, opts)?;
    Ok((ks, summary))
}

pub(crate) fn save_bytes(ks: &Keyspace, opts: RdbOptions) -> Vec<u8> {
    rdb::save(
        Vec::new(),
        ks,
        &AuxFields::new(1_700_000_000, 1 << 20),
        opts,
    )
    .expect("writing to a Vec cannot fail")
}

pub(crate) fn s(text: &str) -> SmallBytes {
    SmallBytes::from(text)
}

pub(crate) fn list(items: impl IntoIterator<Item = Vec<u8>>) -> Value {
    let l: ListValue = items.into_iter().map(SmallBytes::from_vec).collect();
    Value::List(Box::new(l))
}

pub(crate) fn set(members: impl IntoIterator<Item = Vec<u8>>) -> Value {
    let limits = Limits::default();
    let mut v = SetValue::new();
    for m in members {
        v.add(&m, &limits);
    }
    Value::Set(Box::new(v))
}

pub(crate) fn zset(pairs: impl IntoIterator<Item = (Vec<u8>, f64)>) -> Value {
    let limits = Limits::default();
    let mut v = ZSetValue::new();
    for (m, score) in pairs {
        v.insert(&m, score, &limits);
    }
    Value::ZSet(Box::new(v))
}

pub(crate) fn hash(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Value {
    let limits = Limits::default();
    let mut v = HashValue::new();
    for (f, val) in pairs {
        v.set(&f, &val, &limits);
    }
    Value::Hash(Box::new(v))
}

fn b(text: impl ToString) -> Vec<u8> {
    text.to_string().into_bytes()
}

/// Pseudo-random bytes (xorshift), so tests need no RNG crate.
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

pub(crate) const INTS: [i64; 23] = [
    0,
    1,
    127,
    128,
    -1,
    4095,
    -4096,
    4096,
    -4097,
    32767,
    -32768,
    32768,
    -32769,
    8_388_607,
    -8_388_608,
    8_388_608,
    -8_388_609,
    2_147_483_647,
    -2_147_483_648,
    2_147_483_648,
    -2_147_483_649,
    i64::MAX,
    i64::MIN,
];

/// Every type in every encoding tandem has, with expiries, in databases 0,
/// 3 and 15. Each entry says which encoding it must have.
pub(crate) fn rich_keyspace() -> Keyspace {
    let mut ks = Keyspace::new(16);
    let put = |ks: &mut Keyspace, db: usize, key: &[u8], v: Value, ttl: Option<u64>| {
        ks.db(db).insert(key, v, ttl, 0);
    };

    // Strings: int, embstr, raw, LZF-compressible, binary, empty.
    for v in INTS {
        put(
            &mut ks,
            0,
            format!("str:int:{v}").as_bytes(),
            Value::from_i64(v),
            None,
        );
    }
    for (i, odd) in ["007", "-0", "+1", " 1", "1.5", "12345678901234567890123"]
        .iter()
        .enumerate()
    {
        put(
            &mut ks,
            0,
            format!("str:odd:{i}").as_bytes(),
            Value::string(*odd),
            None,
        );
    }
    put(&mut ks, 0, b"str:empty", Value::string(""), None);
    put(&mut ks, 0, b"", Value::string("the empty key"), None);
    put(&mut ks, 0, b"12345", Value::string("an integer key"), None);
    put(&mut ks, 0, b"str:embstr", Value::string("hello"), Some(FAR));
    put(&mut ks, 0, b"str:raw", Value::raw_string(s("ab")), None);
    put(
        &mut ks,
        0,
        b"str:lzf21",
        Value::string("a".repeat(21).as_str()),
        None,
    );
    put(
        &mut ks,
        0,
        b"str:lzf20",
        Value::string("a".repeat(20).as_str()),
        None,
    );
    put(
        &mut ks,
        0,
        b"str:long",
        Value::string("hello world ".repeat(10_000).as_str()),
        Some(FAR + 1),
    );
    put(
        &mut ks,
        0,
        b"str:noise",
        Value::string(noise(70_000, 1)),
        None,
    );
    let binary: Vec<u8> = (0..=255u8).collect();
    put(
        &mut ks,
        0,
        b"str:binary",
        Value::string(binary.clone()),
        None,
    );

    // Lists: one small node, many nodes, elements larger than a node,
    // every listpack integer width.
    put(
        &mut ks,
        0,
        b"list:small",
        list([b("a"), b("b"), b("")]),
        Some(FAR),
    );
    put(&mut ks, 0, b"list:ints", list(INTS.iter().map(b)), None);
    put(
        &mut ks,
        0,
        b"list:big",
        list((0..5000).map(|i| b(format!("item:{i:05}")))),
        None,
    );
    put(
        &mut ks,
        0,
        b"list:big-elements",
        list([
            noise(20_000, 2),
            b("small"),
            b("x".repeat(9000)),
            noise(5000, 3),
        ]),
        None,
    );
    put(
        &mut ks,
        0,
        b"list:binary",
        list((0..=255u8).map(|c| vec![c])),
        None,
    );

    // Sets: intsets of each width, hashtables.
    put(
        &mut ks,
        0,
        b"set:int16",
        set([b(1), b(-5), b(32767), b(-32768)]),
        Some(FAR),
    );
    put(
        &mut ks,
        0,
        b"set:int32",
        set([b(1), b(100_000), b(-100_000)]),
        None,
    );
    put(
        &mut ks,
        0,
        b"set:int64",
        set([b(1), b(i64::MIN), b(i64::MAX)]),
        None,
    );
    put(
        &mut ks,
        0,
        b"set:many-ints",
        set((0..600).map(|i| b(i * 3))),
        None,
    );
    put(
        &mut ks,
        0,
        b"set:strings",
        set([b("a"), b("b"), b(""), b("007")]),
        None,
    );
    put(
        &mut ks,
        0,
        b"set:big",
        set((0..1000).map(|i| b(format!("member:{i}")))),
        None,
    );

    // Sorted sets: listpack with integer, fractional and infinite scores;
    // skiplists (too many members, a long member) with -0 and infinities.
    put(
        &mut ks,
        0,
        b"zset:small",
        zset([
            (b("a"), 1.0),
            (b("b"), 1.5),
            (b("c"), -2.25),
            (b("d"), f64::INFINITY),
            (b("e"), f64::NEG_INFINITY),
            (b("f"), 0.1),
            (b("g"), 1e300),
            (b("h"), 4.611_686_018_427_388e18),
            (b("i"), 5e-324),
            (b("1"), 7.0),
            (b("-70000"), -0.0),
        ]),
        Some(FAR),
    );
    put(
        &mut ks,
        0,
        b"zset:skiplist",
        zset((0..300).map(|i| (b(format!("m{i}")), f64::from(i) * 1.5 - 100.0))),
        None,
    );
    let mut special: Vec<(Vec<u8>, f64)> = (0..130)
        .map(|i| (b(format!("n{i}")), f64::from(i)))
        .collect();
    special.extend([
        (b("negzero"), -0.0),
        (b("top"), f64::INFINITY),
        (b("bottom"), f64::NEG_INFINITY),
        (b("tenth"), 0.1),
    ]);
    put(&mut ks, 0, b"zset:skiplist-special", zset(special), None);
    put(
        &mut ks,
        0,
        b"zset:longmember",
        zset([(b("x".repeat(100)), 1.0), (b("short"), 2.0)]),
        None,
    );

    // Hashes: listpack (with integers and empty strings), hashtables.
    put(
        &mut ks,
        0,
        b"hash:small",
        hash([
            (b("f1"), b("v1")),
            (b("1"), b("-70000")),
            (b(""), b("")),
            (b("big"), b(i64::MAX)),
        ]),
        Some(FAR),
    );
    put(
        &mut ks,
        0,
        b"hash:big",
        hash((0..1000).map(|i| (b(format!("field:{i}")), b(i * 7)))),
        None,
    );
    put(
        &mut ks,
        0,
        b"hash:longvalue",
        hash([(b("f"), b("v".repeat(100))), (b("g"), b("short"))]),
        None,
    );

    // Other databases.
    put(&mut ks, 3, b"db3:str", Value::string("three"), None);
    put(&mut ks, 3, b"db3:list", list([b("x")]), Some(FAR + 3));
    put(&mut ks, 15, b"db15:hash", hash([(b("k"), b("v"))]), None);
    put(&mut ks, 15, b"db15:set", set([b(7)]), None);
    ks
}

/// The encoding each key of [`rich_keyspace`] must have (databases 0, 3, 15).
pub(crate) fn rich_encodings() -> Vec<(usize, &'static str, &'static str)> {
    vec![
        (0, "str:int:0", "int"),
        (0, "str:int:-9223372036854775808", "int"),
        (0, "str:odd:0", "embstr"),
        (0, "str:long", "raw"),
        (0, "list:big", "quicklist"),
        (0, "set:int16", "intset"),
        (0, "set:int64", "intset"),
        (0, "set:many-ints", "hashtable"),
        (0, "set:strings", "hashtable"),
        (0, "zset:small", "listpack"),
        (0, "zset:skiplist", "skiplist"),
        (0, "zset:skiplist-special", "skiplist"),
        (0, "zset:longmember", "skiplist"),
        (0, "hash:small", "listpack"),
        (0, "hash:big", "hashtable"),
        (0, "hash:longvalue", "hashtable"),
        (15, "db15:hash", "listpack"),
        (15, "db15:set", "intset"),
    ]
}

/// Every key's encoding in `ks` must match [`rich_encodings`].
pub(crate) fn assert_rich_encodings(ks: &mut Keyspace) {
    for (db, key, enc) in rich_encodings() {
        let entry = ks
            .db(db)
            .peek(key.as_bytes(), 0)
            .unwrap_or_else(|| panic!("db{db} {key} missing"));
        assert_eq!(entry.value.encoding(), enc, "db{db} {key}");
    }
}
