//! Replays every file of the `rdb_load` fuzz corpus (fuzz/corpus/rdb_load/)
//! through the same steps as the fuzz target (fuzz/fuzz_targets/rdb_load.rs):
//! load with checksums off (so mutated inputs get past the trailer), and for
//! whatever loads, write it with tandem's writer and load it back to the same
//! digest. Nothing may panic. This is how CI runs the fuzz target on stable
//! Rust without cargo-fuzz.
//!
//! The seeds are the golden fixtures plus small hand-made files; the ignored
//! test at the bottom rewrites them (`RDB_WRITE_SEEDS=1 cargo test -p
//! tandem-storage --test rdb_fuzz_corpus -- --ignored`).

mod common;

use common::raw::{intset, ziplist, zipmap, Raw, Z};
use common::*;
use tandem_storage::digest::{dataset_digest, to_hex};
use tandem_storage::rdb::{self, AuxFields, LoadOptions, RdbError, RdbOptions, ReadOptions};
use tandem_storage::types::stream::{Group, NodeLimits, StreamId, StreamValue};
use tandem_storage::{Keyspace, Value};

/// The fuzz target's body; returns the loaded digest when the input loads.
fn fuzz_one(data: &[u8]) -> Result<String, RdbError> {
    let opts = LoadOptions {
        read: ReadOptions {
            verify_checksum: false,
            ..ReadOptions::default()
        },
        ..LoadOptions::default()
    };
    let mut ks = Keyspace::new(16);
    rdb::load(data, &mut ks, &opts)?;
    let out = rdb::save(
        Vec::new(),
        &ks,
        &AuxFields::new(0, 0),
        RdbOptions::default(),
    )
    .expect("writing to a Vec cannot fail");
    let mut back = Keyspace::new(16);
    rdb::load(&out[..], &mut back, &LoadOptions::default())
        .expect("tandem reads back what it wrote");
    assert_eq!(
        dataset_digest(&ks),
        dataset_digest(&back),
        "round trip changed the data"
    );
    Ok(to_hex(&dataset_digest(&ks)))
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = fuzz_corpus_dir();
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, data)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_replays_cleanly() {
    let files = corpus();
    assert!(
        files.len() >= 20,
        "expected the seed corpus in {}",
        fuzz_corpus_dir().display()
    );
    for (name, data) in &files {
        let _ = fuzz_one(data);
        // Truncated copies exercise the end-of-input paths of each seed.
        for cut in [data.len() / 2, data.len().saturating_sub(9)] {
            let _ = fuzz_one(&data[..cut]);
        }
        let _ = name;
    }
}

/// Every single-byte change of the stream seeds loads or fails cleanly:
/// stream listpacks are kept as they are, so their checks must hold.
#[test]
fn stream_seed_mutations_never_panic() {
    let files = corpus();
    for name in ["stream-groups", "stream-v1", "golden-stream"] {
        let (_, data) = files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no seed {name}"));
        let mut loaded = 0;
        for i in 0..data.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut d = data.clone();
                d[i] ^= x;
                loaded += usize::from(fuzz_one(&d).is_ok());
            }
        }
        assert!(loaded > 0, "{name}: no mutation loaded at all");
    }
}

/// The seeds mean what their names say, so the corpus keeps covering each case.
#[test]
fn seeds_load_as_named() {
    let files = corpus();
    let seed = |name: &str| -> &[u8] {
        files
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, d)| d.as_slice())
            .unwrap_or_else(|| panic!("no seed {name}"))
    };
    for fixture_name in [
        "strings",
        "lists",
        "collections",
        "everything",
        "uncompressed",
        "legacy-v9",
        "legacy-v4",
    ] {
        let want = String::from_utf8(fixture(&format!("{fixture_name}.digest"))).unwrap();
        let got = fuzz_one(seed(&format!("golden-{fixture_name}"))).unwrap();
        assert_eq!(got, want.trim(), "{fixture_name}");
    }
    let want = String::from_utf8(fixture("stream.digest")).unwrap();
    assert_eq!(fuzz_one(seed("golden-stream")).unwrap(), want.trim());
    for ok in [
        "tandem-small",
        "function-old",
        "empty-aggregates",
        "expire-forms",
        "ziplist-list",
        "ziplist-hash",
        "ziplist-zset",
        "zipmap-hash",
        "quicklist-v1",
        "quicklist2-plain",
        "intset-widths",
        "lzf-everywhere",
        "lru-lfu",
        "stream-groups",
        "stream-v1",
    ] {
        assert!(fuzz_one(seed(ok)).is_ok(), "{ok}: {:?}", fuzz_one(seed(ok)));
    }
    for (bad, what) in [
        ("module-aux", "Module"),
        ("module-value", "Module"),
        ("select-out-of-range", "DbOutOfRange"),
        ("duplicate-key", "DuplicateKey"),
        ("bad-version", "Version"),
        ("truncated", "Truncated"),
        ("lzf-bad-reference", "Corrupt"),
    ] {
        let e = fuzz_one(seed(bad)).expect_err(bad);
        assert!(format!("{e:?}").starts_with(what), "{bad}: {e:?}");
    }
}

/// The hand-made seeds, by name.
fn hand_made_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut seeds = Vec::new();
    let mut ks = Keyspace::new(16);
    ks.db(0)
        .insert(b"s", Value::string("hello hello hello hello"), Some(FAR), 0);
    ks.db(0)
        .insert(b"l", list([b"a".to_vec(), b"1".to_vec()]), None, 0);
    ks.db(0)
        .insert(b"i", set([b"1".to_vec(), b"70000".to_vec()]), None, 0);
    ks.db(0).insert(b"t", set([b"x".to_vec()]), None, 0);
    ks.db(0).insert(b"z", zset([(b"m".to_vec(), 0.5)]), None, 0);
    ks.db(1)
        .insert(b"h", hash([(b"f".to_vec(), b"v".to_vec())]), None, 0);
    seeds.push(("tandem-small", save_bytes(&ks, RdbOptions::default())));

    // Streams: tandem's writer (type 19, groups, PELs, tombstones), and
    // the same nodes as Redis 5's type 15 (no first ID, tombstone or
    // counters; groups without read counters).
    let mut st = StreamValue::new();
    let limits = NodeLimits {
        max_bytes: 4096,
        max_entries: 4,
    };
    for i in 1..=11u64 {
        let pairs: Vec<Vec<u8>> = if i % 3 == 0 {
            vec![b"other".to_vec(), i.to_string().into_bytes()]
        } else {
            vec![
                b"f".to_vec(),
                b"v".repeat(i as usize),
                b"n".to_vec(),
                i.to_string().into_bytes(),
            ]
        };
        st.add(StreamId::new(i, 1), &pairs, limits).unwrap();
    }
    st.delete(&[StreamId::new(2, 1), StreamId::new(9, 1)]);
    let mut g = Group::new(StreamId::new(6, 1), 6);
    g.create_consumer(b"alice", 1_700_000_000_000);
    g.create_consumer(b"bob", 1_700_000_000_000);
    for (id, who) in [(3, "alice"), (5, "bob"), (6, "alice")] {
        let nack = g.assign(StreamId::new(id, 1), who.as_bytes());
        nack.delivery_time = 1_700_000_000_123;
        nack.delivery_count = id;
    }
    st.groups.insert(tandem_storage::SmallBytes::from("g"), g);
    let mut ks = Keyspace::new(16);
    ks.db(0)
        .insert(b"stream", Value::Stream(Box::new(st.clone())), None, 0);
    seeds.push(("stream-groups", save_bytes(&ks, RdbOptions::default())));

    let mut r = Raw::new(10);
    r.key(15, b"old");
    let mut nodes = Vec::new();
    st.for_each_node(|m, lp| nodes.push((m.to_be_bytes(), lp.to_vec())));
    r.len(nodes.len() as u64);
    for (m, lp) in &nodes {
        r.str(m).str(lp);
    }
    r.len(st.len()).len(st.last_id.ms).len(st.last_id.seq);
    r.len(1).str(b"g").len(6).len(1);
    r.len(1).bytes(&StreamId::new(3, 1).to_be_bytes());
    r.bytes(&1_700_000_000_123u64.to_le_bytes()).len(2);
    r.len(1)
        .str(b"alice")
        .bytes(&1_700_000_000_000u64.to_le_bytes());
    r.len(1).bytes(&StreamId::new(3, 1).to_be_bytes());
    seeds.push(("stream-v1", r.finish(10, true)));

    let mut r = Raw::new(10);
    r.byte(0xF6).str(b"lib").str(b"LUA").len(0).str(b"return 1");
    seeds.push(("function-old", r.finish(10, true)));

    let mut r = Raw::new(10);
    r.key(1, b"l")
        .len(0)
        .key(2, b"s")
        .len(0)
        .key(18, b"q")
        .len(0);
    r.key(16, b"h").str(&[7, 0, 0, 0, 0, 0, 0xFF]);
    r.key(0, b"kept").str(b"v");
    seeds.push(("empty-aggregates", r.finish(10, true)));

    let mut r = Raw::new(10);
    r.expire_ms(FAR).key(0, b"ms").str(b"v");
    r.expire_secs(raw::FAR_SECS).key(0, b"secs").str(b"v");
    r.expire_ms(u64::MAX).key(0, b"minus-one").str(b"v");
    seeds.push(("expire-forms", r.finish(10, true)));

    let zl = ziplist(&[
        Z::S(b"a"),
        Z::I(5),
        Z::I(-300),
        Z::I(70_000),
        Z::I(i64::MAX),
    ]);
    seeds.push((
        "ziplist-list",
        Raw::new(9).key(10, b"zl").str(&zl).finish(9, true),
    ));
    let zl = ziplist(&[Z::S(b"f"), Z::S(b"v"), Z::I(1), Z::I(2)]);
    seeds.push((
        "ziplist-hash",
        Raw::new(9).key(13, b"zh").str(&zl).finish(9, true),
    ));
    let zl = ziplist(&[Z::S(b"m"), Z::S(b"1.5"), Z::S(b"n"), Z::I(3)]);
    seeds.push((
        "ziplist-zset",
        Raw::new(9).key(12, b"zz").str(&zl).finish(9, true),
    ));
    let zm = zipmap(&[(b"f", b"v"), (b"g", b"123")], 1);
    seeds.push((
        "zipmap-hash",
        Raw::new(3).key(9, b"zm").str(&zm).finish(3, false),
    ));
    let n1 = ziplist(&[Z::S(b"a"), Z::I(1)]);
    let n2 = ziplist(&[Z::S(b"b")]);
    seeds.push((
        "quicklist-v1",
        Raw::new(8)
            .key(14, b"ql")
            .len(2)
            .str(&n1)
            .str(&n2)
            .finish(8, true),
    ));
    let lp = [10u8, 0, 0, 0, 1, 0, 0x81, b'p', 2, 0xFF];
    seeds.push((
        "quicklist2-plain",
        Raw::new(10)
            .key(18, b"ql2")
            .len(3)
            .len(1)
            .str(b"plain node")
            .len(2)
            .str(&lp)
            .len(1)
            .str(b"another")
            .finish(10, true),
    ));
    let mut r = Raw::new(10);
    r.key(11, b"w2").str(&intset(2, &[-1, 2]));
    r.key(11, b"w4").str(&intset(4, &[-70_000, 2]));
    r.key(11, b"w8").str(&intset(8, &[i64::MIN, 2]));
    seeds.push(("intset-widths", r.finish(10, true)));
    let mut r = Raw::new(10);
    r.byte(0xFA).lzf_run(b'k', 30).lzf_literal(b"aux value");
    r.byte(0).lzf_run(b'k', 40).lzf_run(b'v', 600);
    r.key(1, b"list").len(1).lzf_literal(b"an element");
    seeds.push(("lzf-everywhere", r.finish(10, true)));
    let mut r = Raw::new(10);
    r.byte(0xF8).len(100).key(0, b"idle").str(b"v");
    r.byte(0xF9).byte(7).key(0, b"freq").str(b"v");
    seeds.push(("lru-lfu", r.finish(10, true)));

    let mut r = Raw::new(10);
    r.byte(0xF7)
        .len(12345 << 10)
        .len(2)
        .len(1)
        .len(5)
        .str(b"x")
        .len(0);
    seeds.push(("module-aux", r.finish(10, true)));
    seeds.push((
        "module-value",
        Raw::new(10)
            .key(7, b"m")
            .len(999 << 10)
            .len(0)
            .finish(10, true),
    ));
    seeds.push((
        "select-out-of-range",
        Raw::new(10)
            .select(99)
            .key(0, b"k")
            .str(b"v")
            .finish(10, true),
    ));
    seeds.push((
        "duplicate-key",
        Raw::new(10)
            .key(0, b"k")
            .str(b"1")
            .key(0, b"k")
            .str(b"2")
            .finish(10, true),
    ));
    seeds.push(("bad-version", b"REDIS0011\xff".to_vec()));
    let small = save_bytes(&ks, RdbOptions::default());
    seeds.push(("truncated", small[..small.len() / 2].to_vec()));
    let mut r = Raw::new(10);
    r.key(0, b"k")
        .byte(0xC3)
        .len(4)
        .len(5)
        .bytes(&[0, b'a', 0x40, 9]);
    seeds.push(("lzf-bad-reference", r.finish(10, true)));
    seeds
}

#[test]
#[ignore = "rewrites the seed corpus when RDB_WRITE_SEEDS=1"]
fn write_seed_corpus() {
    if std::env::var_os("RDB_WRITE_SEEDS").is_none() {
        return;
    }
    let dir = fuzz_corpus_dir();
    std::fs::create_dir_all(&dir).unwrap();
    for name in [
        "strings",
        "lists",
        "collections",
        "everything",
        "uncompressed",
        "stream",
        "legacy-v9",
        "legacy-v4",
    ] {
        std::fs::write(
            dir.join(format!("golden-{name}")),
            fixture(&format!("{name}.rdb")),
        )
        .unwrap();
    }
    for (name, data) in hand_made_seeds() {
        std::fs::write(dir.join(name), data).unwrap();
    }
}
