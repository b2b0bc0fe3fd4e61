//! SORT / SORT_RO and DUMP / RESTORE next to a real redis-server 7.0.
//!
//! - `sort_matches_redis`: per seed, the same random dataset on both servers
//!   (lists with repeats and NUL bytes, intsets, hash-table sets, small and
//!   large sorted sets, weight strings and hashes, wrongly typed weights),
//!   then a bounded random sequence of SORT / SORT_RO with every option and
//!   error cases. Replies must be identical, and so must DEBUG DIGEST (every
//!   few commands), the keyspace hit/miss counts and the encodings.
//!   Where Redis's answer depends on its hash tables' random order (ALPHA BY
//!   with equal weights over a set or sorted set, a hash-table set left
//!   unsorted), the generator does not go. Seeds: `TANDEM_SORT_SEED=1,2`;
//!   steps per seed: `TANDEM_SORT_STEPS`. A failure names its seed and step.
//! - `sort_range_errors_match_redis`: weights that glibc's strtod answers
//!   with ERANGE. Redis never clears `errno` before strtod, so a later SORT
//!   on the same connection may fail too until some system call resets it;
//!   each case therefore runs on fresh connections (Redis's accept loop
//!   leaves EAGAIN behind).
//! - `dump_restore_crosses_servers`: every type and encoding, small and
//!   large, dumped by each server and restored on both; digests, encodings,
//!   TTLs and errors must agree.

mod common;

use common::rng::{env_count, env_seeds};

use common::{render, Client, ServerProcess};
use tandem_server::resp::Frame;

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3, 4, 5, 6];
const DEFAULT_STEPS: usize = 250;

/// Sends `args` (any bytes) and reads the reply.
fn cmd(c: &mut Client, args: &[&[u8]]) -> Frame {
    let mut out = Vec::new();
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    c.send_raw(&out).expect("send");
    c.read().expect("reply")
}

/// A command for messages: printable bytes as they are, others escaped.
fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| {
            let text: String = a
                .iter()
                .map(|&b| match b {
                    0x21..=0x7e if b != b'\\' && b != b'"' => char::from(b).to_string(),
                    _ => format!("\\x{b:02x}"),
                })
                .collect();
            format!("\"{text}\"")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One client on each server.
struct Pair {
    redis: Client,
    tandem: Client,
}

impl Pair {
    fn new(redis: &ServerProcess, tandem: &ServerProcess) -> Pair {
        Pair {
            redis: redis.client(),
            tandem: tandem.client(),
        }
    }

    /// Runs `args` on both and returns both replies.
    fn both(&mut self, args: &[&[u8]]) -> (Frame, Frame) {
        (cmd(&mut self.redis, args), cmd(&mut self.tandem, args))
    }

    /// Runs `args` on both; the replies must be equal.
    fn same(&mut self, args: &[&[u8]], context: &str) -> Frame {
        let (r, t) = self.both(args);
        let owned: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        assert_eq!(
            r,
            t,
            "{context}: {}\n redis:  {}\n tandem: {}",
            show(&owned),
            render(&r),
            render(&t)
        );
        r
    }

    fn same_str(&mut self, args: &[&str], context: &str) -> Frame {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.same(&args, context)
    }

    /// Sends a batch of commands to both without comparing (data loading).
    fn load(&mut self, commands: &[Vec<Vec<u8>>]) {
        for c in [&mut self.redis, &mut self.tandem] {
            let mut out = Vec::new();
            for args in commands {
                out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
                for a in args {
                    out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                    out.extend_from_slice(a);
                    out.extend_from_slice(b"\r\n");
                }
            }
            c.send_raw(&out).expect("send a batch");
            for args in commands {
                let reply = c.read().expect("batch reply");
                assert!(
                    !matches!(reply, Frame::Error(_)),
                    "loading {}: {}",
                    show(args),
                    render(&reply)
                );
            }
        }
    }

    /// `INFO stats` keyspace_hits and keyspace_misses of each server.
    fn hits_misses(&mut self) -> ((u64, u64), (u64, u64)) {
        let read = |c: &mut Client| {
            let field = |c: &mut Client, f: &str| -> u64 {
                common::info_field(c, "stats", f)
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or_else(|| panic!("INFO stats {f}"))
            };
            (field(c, "keyspace_hits"), field(c, "keyspace_misses"))
        };
        (read(&mut self.redis), read(&mut self.tandem))
    }
}

// ---------------------------------------------------------------------------
// SORT
// ---------------------------------------------------------------------------

/// What a source key holds, for the generator's rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A list: its order is deterministic on both servers.
    Ordered,
    /// An intset: iterated in numeric order on both.
    IntSet,
    /// A hash-table set: Redis iterates it in a random order.
    Unordered,
    /// A sorted set: kept in order without sorting, but fed to a sort in
    /// Redis's random hash order.
    ZSet,
    /// Absent, or not a list/set/zset.
    Other,
}

const NUMERIC: &[&str] = &[
    "0", "1", "2", "3", "5", "8", "10", "13", "21", "-1", "-7", "2.5", "-0.5", "1e2", "007", "3.0",
    " 4", "+6", "0x1f", "inf", "-inf",
];
const ALPHA: &[&str] = &[
    "a", "b", "c", "B", "ab", "abc", "zz", "\u{e9}", "_", "", "x y", "a*b", "k->f",
];
/// Only lists get these: sets and sorted sets are fed in random order by
/// Redis, and C-string comparison makes these equal.
const WITH_NUL: &[&[u8]] = &[b"a\0b", b"a\0c", b"a\0"];

/// Weight patterns with equal or missing values: fine for lists and
/// intsets, ambiguous for ALPHA over unordered sources.
const TIED_PATTERNS: &[&str] = &[
    "wn_*",
    "wa_*",
    "h_*->n",
    "h_*->a",
    "h_*->",
    "*",
    "missing_*",
    "wn_*->n",
];
/// Every element has one, and no two are equal.
const UNIQUE_PATTERNS: &[&str] = &["u_*", "hu_*->u"];
const NO_STAR_PATTERNS: &[&str] = &["nosort", "wn_1", "h_1->n"];
const GET_PATTERNS: &[&str] = &[
    "#",
    "wn_*",
    "wa_*",
    "h_*->a",
    "h_*->n",
    "h_*->missing",
    "v_*",
    "nostar",
    "h_*->",
    "u_*",
    "hu_*->u",
];

struct Dataset {
    sources: Vec<(String, Kind)>,
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(0..items.len())]
}

fn bytes_cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// Builds the same dataset on both servers.
fn load_dataset(pair: &mut Pair, rng: &mut fastrand::Rng) -> Dataset {
    let mut batch: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut universe: Vec<Vec<u8>> = Vec::new();
    let mut push_list = |name: &str, elems: Vec<Vec<u8>>, batch: &mut Vec<Vec<Vec<u8>>>| {
        let mut args = vec![b"RPUSH".to_vec(), name.as_bytes().to_vec()];
        args.extend(elems.iter().cloned());
        universe.extend(elems);
        batch.push(args);
    };
    let numeric = |rng: &mut fastrand::Rng| pick(rng, NUMERIC).as_bytes().to_vec();
    let any = |rng: &mut fastrand::Rng| -> Vec<u8> {
        match rng.u8(0..10) {
            0..=3 => pick(rng, NUMERIC).as_bytes().to_vec(),
            4..=8 => pick(rng, ALPHA).as_bytes().to_vec(),
            _ => pick(rng, WITH_NUL).to_vec(),
        }
    };
    let n = rng.usize(5..40);
    push_list("l_num", (0..n).map(|_| numeric(rng)).collect(), &mut batch);
    let n = rng.usize(5..40);
    push_list("l_mix", (0..n).map(|_| any(rng)).collect(), &mut batch);
    // Long enough for the partial quicksort's median of nine (over 40).
    let n = rng.usize(60..250);
    push_list("l_big", (0..n).map(|_| any(rng)).collect(), &mut batch);
    let n = rng.usize(1..4);
    push_list("l_small", (0..n).map(|_| any(rng)).collect(), &mut batch);

    let mut sets: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    let n = rng.usize(3..30);
    sets.push((
        "s_int",
        (0..n)
            .map(|_| rng.i32(-50..50).to_string().into_bytes())
            .collect(),
    ));
    let n = rng.usize(520..560);
    sets.push((
        "s_bigint",
        (0..n)
            .map(|_| rng.i32(-2000..2000).to_string().into_bytes())
            .collect(),
    ));
    let n = rng.usize(3..20);
    sets.push((
        "s_str",
        (0..n)
            .map(|_| pick(rng, ALPHA).as_bytes().to_vec())
            .chain([b"x".to_vec()])
            .collect(),
    ));
    let n = rng.usize(3..15);
    sets.push((
        "s_num",
        (0..n)
            .map(|_| numeric(rng))
            .chain([b"2.5".to_vec()])
            .collect(),
    ));
    for (name, members) in &sets {
        let mut args = vec![b"SADD".to_vec(), name.as_bytes().to_vec()];
        args.extend(members.iter().cloned());
        universe.extend(members.iter().cloned());
        batch.push(args);
    }

    let mut zsets: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    let n = rng.usize(3..20);
    zsets.push((
        "z_small",
        (0..n)
            .map(|_| {
                if rng.bool() {
                    pick(rng, ALPHA).as_bytes().to_vec()
                } else {
                    numeric(rng)
                }
            })
            .collect(),
    ));
    let n = rng.usize(130..200);
    zsets.push((
        "z_big",
        (0..n).map(|i| format!("m{i}").into_bytes()).collect(),
    ));
    for (name, members) in &zsets {
        let mut args = vec![b"ZADD".to_vec(), name.as_bytes().to_vec()];
        for m in members {
            args.push(format!("{}", rng.i32(-20..20) as f64 / 4.0).into_bytes());
            args.push(m.clone());
        }
        universe.extend(members.iter().cloned());
        batch.push(args);
    }

    universe.sort();
    universe.dedup();
    // Weights: repeated and missing ones, unique complete ones, hashes,
    // GET targets, and some of the wrong type.
    let mut mset = vec![b"MSET".to_vec()];
    for (i, e) in universe.iter().enumerate() {
        let key = |prefix: &str| {
            let mut k = prefix.as_bytes().to_vec();
            k.extend_from_slice(e);
            k
        };
        match rng.u8(0..10) {
            0..=6 => {
                mset.push(key("wn_"));
                mset.push(
                    pick(rng, &["1", "2", "3", "-1", "2.5", "10"])
                        .as_bytes()
                        .to_vec(),
                );
            }
            7 => batch.push(bytes_cmd(&[b"RPUSH", &key("wn_"), b"not a string"])),
            _ => {}
        }
        if rng.u8(0..10) < 7 {
            mset.push(key("wa_"));
            mset.push(
                pick(rng, &["a", "b", "c", "B", "", "a\0x", "a\0y"])
                    .as_bytes()
                    .to_vec(),
            );
        }
        mset.push(key("u_"));
        mset.push(format!("{:06}", universe.len() - i).into_bytes());
        if rng.u8(0..10) < 5 {
            mset.push(key("v_"));
            mset.push(format!("value-{i}").into_bytes());
        }
        let unique = format!("{:06}", (i * 7919) % 100_003).into_bytes();
        batch.push(bytes_cmd(&[b"HSET", &key("hu_"), b"u", &unique]));
        if rng.u8(0..10) < 7 {
            let n = pick(rng, &["1", "2", "3", "x"]).as_bytes();
            let a = pick(rng, &["a", "b", ""]).as_bytes();
            batch.push(bytes_cmd(&[b"HSET", &key("h_"), b"n", n, b"a", a]));
        }
        if mset.len() > 500 {
            batch.push(std::mem::replace(&mut mset, vec![b"MSET".to_vec()]));
        }
    }
    if mset.len() > 1 {
        batch.push(mset);
    }
    batch.push(bytes_cmd(&[b"SET", b"str", b"a string"]));
    batch.push(bytes_cmd(&[b"HSET", b"hash", b"f", b"v"]));
    for chunk in batch.chunks(200) {
        pair.load(chunk);
    }

    let mut sources: Vec<(String, Kind)> = vec![
        ("l_num".into(), Kind::Ordered),
        ("l_mix".into(), Kind::Ordered),
        ("l_big".into(), Kind::Ordered),
        ("l_small".into(), Kind::Ordered),
        ("s_int".into(), Kind::IntSet),
        ("s_bigint".into(), Kind::Unordered),
        ("s_str".into(), Kind::Unordered),
        ("s_num".into(), Kind::Unordered),
        ("z_small".into(), Kind::ZSet),
        ("z_big".into(), Kind::ZSet),
        ("nokey".into(), Kind::Other),
        ("str".into(), Kind::Other),
        ("hash".into(), Kind::Other),
    ];
    // The small sets could have come out as intsets or hash tables.
    for (name, kind) in &mut sources {
        if *kind == Kind::Unordered || *kind == Kind::IntSet {
            let enc = pair.same_str(&["OBJECT", "ENCODING", name], "encoding");
            *kind = if enc == Frame::Bulk("intset".into()) {
                Kind::IntSet
            } else {
                Kind::Unordered
            };
        }
    }
    Dataset { sources }
}

/// One random SORT or SORT_RO whose reply Redis fixes.
fn gen_sort(rng: &mut fastrand::Rng, data: &Dataset) -> Vec<Vec<u8>> {
    let (key, kind) = pick(rng, &data.sources).clone();
    let readonly = rng.u8(0..5) == 0;
    let alpha = rng.bool();
    let store = (!readonly && rng.u8(0..4) == 0)
        .then(|| pick(rng, &["dst", "dst2", "l_small", "wa_a", "s_str"]).to_string());
    // The BY options, in order; the last one with a star is the pattern,
    // any one without a star means "do not sort".
    let mut bys: Vec<&str> = Vec::new();
    let by_count = match rng.u8(0..20) {
        0..=7 => 0,
        8..=16 => 1,
        _ => 2,
    };
    for _ in 0..by_count {
        let p = match rng.u8(0..10) {
            0..=1 => *pick(rng, NO_STAR_PATTERNS),
            2..=4 => *pick(rng, UNIQUE_PATTERNS),
            _ => *pick(rng, TIED_PATTERNS),
        };
        bys.push(p);
    }
    if kind == Kind::Unordered && store.is_none() {
        // Unsorted, Redis answers in its hash order: sort instead.
        bys.retain(|p| p.contains('*'));
    }
    if kind == Kind::Unordered || kind == Kind::ZSet {
        let no_star = bys.iter().any(|p| !p.contains('*'));
        if alpha && !no_star {
            // Equal ALPHA weights keep Redis's random input order.
            for p in &mut bys {
                *p = *pick(rng, UNIQUE_PATTERNS);
            }
        }
    }
    let mut options: Vec<Vec<Vec<u8>>> = Vec::new();
    if alpha {
        options.push(vec![b"ALPHA".to_vec()]);
    }
    for p in &bys {
        options.push(vec![b"BY".to_vec(), p.as_bytes().to_vec()]);
    }
    match rng.u8(0..4) {
        0 => options.push(vec![b"DESC".to_vec()]),
        1 => options.push(vec![b"ASC".to_vec()]),
        2 => {
            options.push(vec![b"ASC".to_vec()]);
            options.push(vec![b"desc".to_vec()]);
        }
        _ => {}
    }
    if rng.u8(0..5) < 2 {
        let bound = |rng: &mut fastrand::Rng| -> String {
            match rng.u8(0..12) {
                0 => "9223372036854775807".into(),
                1 => "-9223372036854775808".into(),
                _ => rng.i64(-3..260).to_string(),
            }
        };
        let (start, count) = (bound(rng), bound(rng));
        options.push(vec![
            b"LIMIT".to_vec(),
            start.into_bytes(),
            count.into_bytes(),
        ]);
    }
    for _ in 0..rng.usize(0..4).saturating_sub(1) {
        options.push(vec![
            b"GET".to_vec(),
            pick(rng, GET_PATTERNS).as_bytes().to_vec(),
        ]);
    }
    if let Some(dst) = &store {
        options.push(vec![b"STORE".to_vec(), dst.as_bytes().to_vec()]);
    }
    rng.shuffle(&mut options);
    let name: &[u8] = if readonly { b"SORT_RO" } else { b"SORT" };
    let mut argv = vec![name.to_vec(), key.into_bytes()];
    argv.extend(options.into_iter().flatten());
    // Now and then a malformed command.
    if rng.u8(0..12) == 0 {
        match rng.u8(0..7) {
            0 => argv.push(b"FOO".to_vec()),
            1 => argv.extend([b"LIMIT".to_vec(), b"1".to_vec()]),
            2 => argv.extend([b"LIMIT".to_vec(), b"x".to_vec(), b"1".to_vec()]),
            3 => argv.push(b"GET".to_vec()),
            4 => argv.push(b"BY".to_vec()),
            5 => argv.push(b"STORE".to_vec()),
            _ => {
                argv[0] = b"SORT_RO".to_vec();
                argv.extend([b"STORE".to_vec(), b"dst".to_vec()]);
            }
        }
    }
    argv
}

#[test]
fn sort_matches_redis() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let tandem = ServerProcess::tandem(&[]);
    let seeds = env_seeds("TANDEM_SORT_SEED", DEFAULT_SEEDS);
    let steps = env_count("TANDEM_SORT_STEPS", DEFAULT_STEPS);
    for seed in seeds {
        let resp3 = seed % 2 == 0;
        eprintln!(
            "sort differential: seed {seed} ({}), {steps} commands",
            if resp3 { "RESP3" } else { "RESP2" }
        );
        let mut pair = Pair::new(&redis, &tandem);
        pair.same_str(&["FLUSHALL"], "flush");
        if resp3 {
            let (r, t) = pair.both(&[b"HELLO", b"3"]);
            assert!(!matches!(r, Frame::Error(_)) && !matches!(t, Frame::Error(_)));
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        let data = load_dataset(&mut pair, &mut rng);
        pair.same_str(&["DEBUG", "DIGEST"], &format!("seed {seed}: after loading"));
        let (r0, t0) = pair.hits_misses();
        for step in 0..steps {
            let argv = gen_sort(&mut rng, &data);
            let args: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            pair.same(&args, &format!("seed {seed} step {step}"));
            if step % 20 == 19 {
                pair.same_str(
                    &["DEBUG", "DIGEST"],
                    &format!("seed {seed} step {step}: digest"),
                );
            }
        }
        let (r1, t1) = pair.hits_misses();
        assert_eq!(
            (r1.0 - r0.0, r1.1 - r0.1),
            (t1.0 - t0.0, t1.1 - t0.1),
            "seed {seed}: keyspace hits and misses"
        );
        for (key, _) in &data.sources {
            pair.same_str(
                &["OBJECT", "ENCODING", key],
                &format!("seed {seed}: encoding of {key}"),
            );
        }
        for key in ["dst", "dst2"] {
            pair.same_str(&["LRANGE", key, "0", "-1"], &format!("seed {seed}"));
        }
        pair.same_str(&["DEBUG", "DIGEST"], &format!("seed {seed}: final digest"));
    }
}

#[test]
fn sort_range_errors_match_redis() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let tandem = ServerProcess::tandem(&[]);
    let weights: &[&[u8]] = &[
        b"1e400",
        b"-1e400",
        b"1e-310",
        b"1e-400",
        b"4.9406564584124654e-324",
        b"2.2250738585072011e-308",
        b"2.2250738585072014e-308",
        b"0x1p-1070",
        b"0x1.8p-1074",
        b"0x1p-1080",
        b"0x2p1023",
        b"0x1.fffffffffffffp1023",
        b"1.7976931348623157e308",
        b"1.8e308",
        b"\x005",
        b"nan",
        b"-nan(1)",
    ];
    for w in weights {
        let mut pair = Pair::new(&redis, &tandem);
        pair.same(&[b"DEL", b"q", b"w_3"], "reset");
        pair.same(&[b"RPUSH", b"q", w, b"3"], "load");
        pair.same(&[b"SORT", b"q"], "range error");
        let mut pair = Pair::new(&redis, &tandem);
        pair.same(&[b"SET", b"w_3", w], "load");
        pair.same(
            &[b"SORT", b"q", b"BY", b"w_*", b"GET", b"#"],
            "range error by",
        );
    }
}

// ---------------------------------------------------------------------------
// DUMP / RESTORE
// ---------------------------------------------------------------------------

/// Every type and encoding, small and large, the same on both servers.
fn dump_dataset() -> Vec<Vec<Vec<u8>>> {
    let mut c: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut add = |args: Vec<Vec<u8>>| c.push(args);
    let s = |x: &str| x.as_bytes().to_vec();
    add(vec![s("SET"), s("str"), s("hello")]);
    add(vec![s("SET"), s("int"), s("12345")]);
    add(vec![s("SET"), s("negint"), s("-42")]);
    add(vec![s("SET"), s("bigint"), s("123456789012")]);
    add(vec![s("SET"), s("minint"), s("-9223372036854775808")]);
    add(vec![s("SET"), s("notint"), s("007")]);
    add(vec![s("SET"), s("empty"), s("")]);
    add(vec![s("SET"), s("binary"), b"\x00\x01\xff\r\n".to_vec()]);
    add(vec![s("SET"), s("embstr"), s(&"e".repeat(44))]);
    add(vec![s("SET"), s("raw"), s(&"r".repeat(45))]);
    add(vec![s("SET"), s("compressible"), s(&"x".repeat(5000))]);
    let noise: Vec<u8> = (0..3000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    add(vec![s("SET"), s("noise"), noise]);
    add(vec![s("APPEND"), s("appended"), s("abc")]);
    add(vec![s("SET"), s("withttl"), s("v"), s("EX"), s("1000")]);

    let list = |name: &str, items: Vec<Vec<u8>>| {
        let mut args = vec![s("RPUSH"), s(name)];
        args.extend(items);
        args
    };
    add(list(
        "list",
        vec![s("a"), s("1"), s(""), s("b"), s("-5"), s("12345678901")],
    ));
    add(list(
        "biglist",
        (0..3000)
            .map(|i| format!("element-{i}").into_bytes())
            .collect(),
    ));
    add(list(
        "intlist",
        (0..300)
            .map(|i| (i * 37).to_string().into_bytes())
            .collect(),
    ));
    add(list(
        "hugeelems",
        vec![s(&"h".repeat(20_000)), s("small"), s(&"i".repeat(9000))],
    ));

    let members = |cmd: &str, name: &str, items: Vec<Vec<u8>>| {
        let mut args = vec![s(cmd), s(name)];
        args.extend(items);
        args
    };
    add(members(
        "SADD",
        "intset",
        vec![s("3"), s("-1"), s("70000"), s("9223372036854775807")],
    ));
    add(members(
        "SADD",
        "bigintset",
        (0..500).map(|i| (i * 3).to_string().into_bytes()).collect(),
    ));
    add(members("SADD", "strset", vec![s("a"), s("b"), s("12")]));
    add(members(
        "SADD",
        "hugeset",
        (0..700).map(|i| format!("m{i}").into_bytes()).collect(),
    ));
    add(members(
        "SADD",
        "hugeintset",
        (0..700).map(|i| i.to_string().into_bytes()).collect(),
    ));

    add(members(
        "HSET",
        "hash",
        vec![s("f"), s("v"), s("n"), s("7"), s("e"), s("")],
    ));
    add(members(
        "HSET",
        "bighash",
        (0..600)
            .flat_map(|i| [format!("f{i}").into_bytes(), format!("{i}").into_bytes()])
            .collect(),
    ));
    add(members(
        "HSET",
        "longvaluehash",
        vec![s("f"), s(&"v".repeat(100))],
    ));

    add(members(
        "ZADD",
        "zset",
        vec![
            s("1"),
            s("a"),
            s("2.5"),
            s("b"),
            s("-inf"),
            s("c"),
            s("inf"),
            s("d"),
            s("0.1"),
            s("e"),
            s("-3"),
            s("f"),
        ],
    ));
    add(members(
        "ZADD",
        "bigzset",
        (0..300)
            .flat_map(|i| {
                [
                    format!("{}", i as f64 / 7.0).into_bytes(),
                    format!("m{i}").into_bytes(),
                ]
            })
            .collect(),
    ));
    add(members(
        "ZADD",
        "longmemberzset",
        vec![s("1"), s(&"m".repeat(80))],
    ));
    c
}

const DUMP_KEYS: &[&str] = &[
    "str",
    "int",
    "negint",
    "bigint",
    "minint",
    "notint",
    "empty",
    "binary",
    "embstr",
    "raw",
    "compressible",
    "noise",
    "appended",
    "withttl",
    "list",
    "biglist",
    "intlist",
    "hugeelems",
    "intset",
    "bigintset",
    "strset",
    "hugeset",
    "hugeintset",
    "hash",
    "bighash",
    "longvaluehash",
    "zset",
    "bigzset",
    "longmemberzset",
];

fn bulk(frame: Frame, what: &str) -> Vec<u8> {
    match frame {
        Frame::Bulk(b) => b.to_vec(),
        other => panic!("{what}: {}", render(&other)),
    }
}

#[test]
fn dump_restore_crosses_servers() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let tandem = ServerProcess::tandem(&[]);
    let mut pair = Pair::new(&redis, &tandem);
    pair.load(&dump_dataset());
    pair.same_str(&["DEBUG", "DIGEST"], "the same data on both");

    for key in DUMP_KEYS {
        let from_redis = bulk(cmd(&mut pair.redis, &[b"DUMP", key.as_bytes()]), key);
        let from_tandem = bulk(cmd(&mut pair.tandem, &[b"DUMP", key.as_bytes()]), key);
        // The trailer: RDB version 10, then the CRC-64.
        let trailer = &from_tandem[from_tandem.len() - 10..];
        assert_eq!(&trailer[..2], &[10, 0], "{key}");
        for (prefix, payload) in [("r:", &from_redis), ("t:", &from_tandem)] {
            let copy = format!("{prefix}{key}");
            pair.same(
                &[b"RESTORE", copy.as_bytes(), b"0", payload],
                &format!("restore {copy}"),
            );
            let ttl_copy = format!("ttl{prefix}{key}");
            pair.same(
                &[b"RESTORE", ttl_copy.as_bytes(), b"1000000", payload],
                &format!("restore {ttl_copy}"),
            );
            let abs_copy = format!("abs{prefix}{key}");
            pair.same(
                &[
                    b"RESTORE",
                    abs_copy.as_bytes(),
                    b"4102444800000",
                    payload,
                    b"ABSTTL",
                    b"IDLETIME",
                    b"50",
                ],
                &format!("restore {abs_copy}"),
            );
            pair.same_str(&["PEXPIRETIME", &abs_copy], "absolute TTL");
            // Each server's LRU clock ticks on its own: allow a tick.
            let (r, t) = pair.both(&[b"OBJECT", b"IDLETIME", abs_copy.as_bytes()]);
            for idle in [r, t] {
                assert!(
                    matches!(idle, Frame::Integer(50..=52)),
                    "OBJECT IDLETIME {abs_copy}: {}",
                    render(&idle)
                );
            }
            // Already there: BUSYKEY; REPLACE overwrites.
            pair.same(
                &[b"RESTORE", copy.as_bytes(), b"0", payload],
                &format!("busy {copy}"),
            );
            pair.same(
                &[b"RESTORE", copy.as_bytes(), b"0", payload, b"REPLACE"],
                &format!("replace {copy}"),
            );
            // One flipped byte: the checksum no longer matches.
            let mut corrupt = payload.to_vec();
            corrupt[0] ^= 0x40;
            pair.same(
                &[b"RESTORE", b"corrupt", b"0", &corrupt],
                &format!("corrupt {key}"),
            );
        }
        let context = format!("digests of {key}");
        let want = pair.same_str(&["DEBUG", "DIGEST-VALUE", key], &context);
        // A digest says whether the key has a TTL: compare like with like.
        let has_ttl = pair.both(&[b"PTTL", key.as_bytes()]).0 != Frame::Integer(-1);
        let ttl = if has_ttl { "ttl" } else { "" };
        for copy in [format!("{ttl}r:{key}"), format!("{ttl}t:{key}")] {
            assert_eq!(
                pair.same_str(&["DEBUG", "DIGEST-VALUE", &copy], &context),
                want,
                "{copy} is not {key}"
            );
            pair.same_str(&["OBJECT", "ENCODING", &copy], &context);
        }
    }
    pair.same_str(&["DEBUG", "DIGEST"], "after every restore");

    // Without compression, strings dump byte for byte as Redis's.
    pair.same_str(&["CONFIG", "SET", "rdbcompression", "no"], "config");
    for key in ["str", "int", "bigint", "compressible", "noise", "intset"] {
        pair.same_str(&["DUMP", key], &format!("uncompressed dump of {key}"));
    }
    pair.same_str(&["CONFIG", "SET", "rdbcompression", "yes"], "config");

    // Errors, in Redis's order.
    let good = bulk(cmd(&mut pair.tandem, &[b"DUMP", b"str"]), "str");
    assert_eq!(
        bulk(cmd(&mut pair.redis, &[b"DUMP", b"str"]), "str"),
        good,
        "a short string dumps identically"
    );
    // RDB version 11 (Redis 7.2), with a checksum that matches.
    let mut newer = good[..good.len() - 10].to_vec();
    newer.extend_from_slice(&[11, 0]);
    let mut crc = tandem_storage::rdb::crc64::Crc64::new();
    crc.update(&newer);
    newer.extend_from_slice(&crc.value().to_le_bytes());
    for args in [
        &[&b"RESTORE"[..], b"str", b"0", &good][..],
        &[b"RESTORE", b"new", b"-1", &good],
        &[b"RESTORE", b"new", b"1.5", &good],
        &[b"RESTORE", b"new", b"0", b"tiny"],
        &[b"RESTORE", b"new", b"0", &newer],
        &[b"RESTORE", b"new", b"0", &good, b"FREQ", b"300"],
        &[b"RESTORE", b"new", b"0", &good, b"IDLETIME", b"-1"],
        &[
            b"RESTORE",
            b"new",
            b"0",
            &good,
            b"IDLETIME",
            b"1",
            b"FREQ",
            b"1",
        ],
        &[b"RESTORE", b"new", b"0", &good, b"BOGUS"],
        &[b"RESTORE", b"new", b"1", &good, b"ABSTTL"],
        &[b"EXISTS", b"new"],
        &[b"RESTORE", b"str", b"1", &good, b"ABSTTL", b"REPLACE"],
        &[b"EXISTS", b"str"],
        &[b"DUMP", b"nokey"],
    ] {
        pair.same(args, "errors");
    }
    pair.same_str(&["DEBUG", "DIGEST"], "at the end");
}
