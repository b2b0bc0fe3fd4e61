//! HyperLogLog against a real redis-server 7.0: the same seeded random
//! stream of PFADD / PFCOUNT / PFMERGE / PFDEBUG, GET and SET of the raw
//! bytes (HyperLogLogs written by one server are stored into both), corrupted
//! values, wrong types and `hll-sparse-max-bytes` changes must give
//! identical replies, including every byte of every GET, and the same
//! `DEBUG DIGEST` at checkpoints and at the end. Bulk PFADDs of thousands of
//! elements take values from sparse to dense.
//!
//! Corruptions are made the same way on both servers, and a value whose
//! sparse opcodes end in the middle of a two-byte XZERO gets a byte
//! appended: Redis reads such an opcode's missing byte from whatever lies
//! past the string's end in memory, which nothing can reproduce.
//!
//! A second test writes HyperLogLogs to a tandem primary and checks that a
//! tandem replica (and a redis-server replica) end with the same digest.
//!
//! Environment: `TANDEM_HLL_SEED` (comma-separated seeds), `TANDEM_HLL_STEPS`
//! (commands per seed). A failure names the seed, the step and the recent
//! commands.

mod common;

use common::assert_converged;
use common::rng::{env_count, env_seeds, Rng};

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};
use tandem_server::resp::Frame;

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3];
const DEFAULT_STEPS: usize = 1500;
const CHECKPOINT_EVERY: usize = 250;
const HISTORY: usize = 12;

const HLL_KEYS: &[&str] = &["h:0", "h:1", "h:2", "h:3", "h:4", "h:5"];
/// Keys that never hold a HyperLogLog made by PFADD.
const OTHER_KEYS: &[&str] = &["str", "list", "nosuch"];

/// Encodes a binary-safe request.
fn request(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn call(c: &mut Client, args: &[Vec<u8>]) -> Frame {
    c.send_raw(&request(args)).expect("send");
    c.read().expect("reply")
}

fn words(args: &[&str]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.as_bytes().to_vec()).collect()
}

/// A short printable form of a command or reply for failure messages.
fn show(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(80) {
        match b {
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > 80 {
        s.push_str(&format!("...({} bytes)", bytes.len()));
    }
    s
}

fn show_cmd(args: &[Vec<u8>]) -> String {
    let shown: Vec<String> = args.iter().take(8).map(|a| show(a)).collect();
    let mut s = shown.join(" ");
    if args.len() > 8 {
        s.push_str(&format!(" ...({} args)", args.len()));
    }
    s
}

fn show_frame(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) => format!("\"{}\"", show(b)),
        Frame::Array(items) if items.len() > 8 => format!("[{} items]", items.len()),
        other => {
            let text = format!("{other:?}");
            text.chars().take(200).collect()
        }
    }
}

/// Whether a sparse value's opcodes end inside a two-byte XZERO.
fn ends_mid_xzero(v: &[u8]) -> bool {
    if v.len() < 16 || &v[..4] != b"HYLL" || v[4] != 1 {
        return false;
    }
    let mut p = 16;
    while p < v.len() {
        p += if v[p] & 0xc0 == 0x40 { 2 } else { 1 };
    }
    p > v.len()
}

/// Both servers, driven in step.
struct Pair {
    seed: u64,
    step: usize,
    t: Client,
    r: Client,
    history: VecDeque<String>,
    /// (command, reply kind) -> how often, printed at the end of a run.
    tally: BTreeMap<(String, String), u64>,
}

/// A reply's kind for the run's summary; errors by their first word.
fn kind(f: &Frame) -> String {
    match f {
        Frame::Error(e) => {
            String::from_utf8_lossy(e.split(|&b| b == b' ').next().unwrap_or(b"")).into_owned()
        }
        Frame::Integer(_) => "int".into(),
        Frame::Bulk(_) => "bulk".into(),
        Frame::Null => "null".into(),
        Frame::Simple(_) => "simple".into(),
        _ => "other".into(),
    }
}

impl Pair {
    fn fail(&mut self, what: &str) -> ! {
        let dump = self.dump();
        let history: Vec<&str> = self.history.iter().map(String::as_str).collect();
        panic!(
            "seed {} step {}: {what}\nrecent commands:\n  {}\nvalues now: {dump}\nrerun with TANDEM_HLL_SEED={}",
            self.seed,
            self.step,
            history.join("\n  "),
            self.seed
        );
    }

    /// Writes every key's bytes on both servers, in hex, to a temp file.
    fn dump(&mut self) -> String {
        let mut text = String::new();
        for key in HLL_KEYS.iter().chain(OTHER_KEYS) {
            for (name, c) in [("redis", &mut self.r), ("tandem", &mut self.t)] {
                let value = match call(c, &words(&["GET", key])) {
                    Frame::Bulk(b) => b.iter().map(|b| format!("{b:02x}")).collect(),
                    other => format!("{other:?}"),
                };
                text.push_str(&format!("{key} {name} {value}\n"));
            }
        }
        let path = std::env::temp_dir().join(format!("tandem-hll-seed-{}.txt", self.seed));
        match std::fs::write(&path, text) {
            Ok(()) => path.display().to_string(),
            Err(e) => format!("not written: {e}"),
        }
    }

    /// Runs a command on both servers; the replies must be equal.
    fn both(&mut self, args: &[Vec<u8>]) -> Frame {
        self.history.push_back(show_cmd(args));
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
        let ours = call(&mut self.t, args);
        let theirs = call(&mut self.r, args);
        if ours != theirs {
            self.fail(&format!(
                "replies differ for {}\n  redis:  {}\n  tandem: {}",
                show_cmd(args),
                show_frame(&theirs),
                show_frame(&ours)
            ));
        }
        let name = String::from_utf8_lossy(&args[0]).to_uppercase();
        *self.tally.entry((name, kind(&theirs))).or_default() += 1;
        theirs
    }

    fn both_str(&mut self, args: &[&str]) -> Frame {
        self.both(&words(args))
    }

    /// The raw bytes at `key` on redis (both are compared on the way).
    fn get(&mut self, key: &str) -> Option<Vec<u8>> {
        match self.both_str(&["GET", key]) {
            Frame::Bulk(b) => Some(b.to_vec()),
            _ => None,
        }
    }

    fn set(&mut self, key: &str, value: Vec<u8>) {
        self.both(&[b"SET".to_vec(), key.as_bytes().to_vec(), value]);
    }

    fn check_digest(&mut self) {
        self.both_str(&["DEBUG", "DIGEST"]);
        for key in HLL_KEYS.iter().chain(OTHER_KEYS) {
            self.both_str(&["DEBUG", "DIGEST-VALUE", key]);
            self.both_str(&["OBJECT", "ENCODING", key]);
        }
    }
}

/// Elements: mostly from a shared pool (so repeats happen), sometimes
/// binary or empty.
fn element(rng: &mut Rng) -> Vec<u8> {
    match rng.below(10) {
        0 => (0..rng.below(20)).map(|_| rng.byte()).collect(),
        1 => Vec::new(),
        _ => format!("e{}", rng.below(3000)).into_bytes(),
    }
}

fn any_key(rng: &mut Rng) -> &'static str {
    if rng.chance(150) {
        rng.pick(OTHER_KEYS)
    } else {
        rng.pick(HLL_KEYS)
    }
}

/// A corrupted (or otherwise unusual) variant of `v`, a HyperLogLog's bytes.
fn corrupt(rng: &mut Rng, v: &[u8]) -> Vec<u8> {
    let mut v = v.to_vec();
    let dense = v.len() >= 16 && v[4] == 0;
    match rng.below(10) {
        0 => v[4] = rng.between(2, 255) as u8,
        1 => v[rng.below(4) as usize] ^= 0x20,
        2 => v.truncate(rng.below(16) as usize),
        // Registers' opcodes dropped (too few) or added (too many).
        3 if !dense && v.len() > 17 => {
            let keep = rng.between(16, v.len() as u64 - 1) as usize;
            v.truncate(keep);
        }
        4 if !dense => {
            for _ in 0..rng.between(1, 3) {
                v.push(rng.below(64) as u8);
            }
        }
        // Random opcodes in the middle.
        5 if !dense && v.len() > 16 => {
            for _ in 0..rng.between(1, 4) {
                let at = rng.between(16, v.len() as u64 - 1) as usize;
                v[at] = rng.byte();
            }
        }
        // A VAL run past the last register.
        6 if !dense => {
            v.truncate(16);
            v.extend_from_slice(&[0x7f, 0xfe, 0x83]);
        }
        6 if dense => {
            if rng.chance(500) {
                v.pop();
            } else {
                v.push(0);
            }
        }
        // Dense registers with any 6-bit values, the cache marked stale.
        5 if dense => {
            for _ in 0..rng.between(1, 200) {
                let at = rng.between(16, v.len() as u64 - 1) as usize;
                v[at] = rng.byte();
            }
            v[15] |= 0x80;
        }
        // A valid cache holding any number; the unused header bytes set.
        7 => {
            v[8..15].copy_from_slice(&rng.next_u64().to_le_bytes()[..7]);
            v[15] = rng.below(0x80) as u8;
            v[5] = rng.byte();
        }
        _ => {
            // Only the cache marked stale: a valid value.
            v[15] |= 0x80;
        }
    }
    if ends_mid_xzero(&v) {
        v.push(rng.below(0x40) as u8);
    }
    v
}

fn one_step(p: &mut Pair, rng: &mut Rng) {
    let roll = rng.below(1000);
    match roll {
        // PFADD of a few elements.
        0..=249 => {
            let key = any_key(rng);
            let mut args = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
            for _ in 0..rng.below(8) {
                args.push(element(rng));
            }
            // Corrupted values do not linger for ever.
            if let Frame::Error(_) = p.both(&args) {
                if rng.chance(300) {
                    p.both_str(&["DEL", key]);
                }
            }
        }
        // PFADD of thousands: sparse to dense.
        250..=289 => {
            let key = rng.pick(HLL_KEYS);
            let mut args = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
            let base = rng.below(1_000_000);
            for i in 0..rng.between(100, 4000) {
                args.push(format!("b{}", base + i).into_bytes());
            }
            p.both(&args);
        }
        290..=439 => {
            p.both_str(&["PFCOUNT", any_key(rng)]);
        }
        440..=519 => {
            let mut args = vec!["PFCOUNT"];
            for _ in 0..rng.between(2, 4) {
                args.push(any_key(rng));
            }
            p.both_str(&args);
        }
        520..=599 => {
            let mut args = vec!["PFMERGE", any_key(rng)];
            for _ in 0..rng.below(4) {
                args.push(any_key(rng));
            }
            p.both_str(&args);
        }
        600..=689 => {
            p.get(any_key(rng));
        }
        // A HyperLogLog written by one server, stored into both.
        690..=739 => {
            let (src, dst) = (rng.pick(HLL_KEYS), rng.pick(HLL_KEYS));
            let from_tandem = rng.chance(500);
            let c = if from_tandem { &mut p.t } else { &mut p.r };
            if let Frame::Bulk(b) = call(c, &words(&["GET", src])) {
                p.set(dst, b.to_vec());
            }
        }
        740..=769 => {
            let (src, dst) = (rng.pick(HLL_KEYS), rng.pick(HLL_KEYS));
            if let Some(v) = p.get(src) {
                if v.len() >= 16 {
                    let bad = corrupt(rng, &v);
                    p.set(dst, bad);
                }
            }
        }
        // A byte changed in place (SETRANGE keeps the value a string).
        770..=799 => {
            let mut args = vec![b"PFADD".to_vec(), rng.pick(HLL_KEYS).as_bytes().to_vec()];
            for _ in 0..rng.between(1, 50) {
                args.push(element(rng));
            }
            p.both(&args);
        }
        800..=829 => {
            let key = rng.pick(HLL_KEYS);
            let Some(v) = p.get(key) else {
                return;
            };
            let at = rng.below(v.len() as u64 + 1) as usize;
            let byte = vec![rng.byte()];
            p.both(&[
                b"SETRANGE".to_vec(),
                key.as_bytes().to_vec(),
                at.to_string().into_bytes(),
                byte,
            ]);
            if let Some(v) = p.get(key) {
                if ends_mid_xzero(&v) {
                    p.both_str(&["APPEND", key, "\x01"]);
                }
            }
        }
        830..=879 => {
            let sub = match rng.below(20) {
                0 => "GETREG",
                1 => "nosuch",
                2..=7 => "DECODE",
                8..=13 => "ENCODING",
                _ => "TODENSE",
            };
            p.both_str(&["PFDEBUG", sub, any_key(rng)]);
        }
        880..=909 => {
            p.both_str(&["DEL", any_key(rng)]);
        }
        910..=929 => {
            let key = any_key(rng);
            p.both_str(&["OBJECT", "ENCODING", key]);
            p.both_str(&["STRLEN", key]);
        }
        930..=944 => {
            p.both_str(&["SET", "str", rng.pick(&["hello", "HYLL", "12345", ""])]);
        }
        945..=959 => {
            p.both_str(&["DEL", "list"]);
            p.both_str(&["RPUSH", "list", "a", "b"]);
            if rng.chance(300) {
                p.both_str(&["RENAME", "list", rng.pick(HLL_KEYS)]);
            }
        }
        960..=969 => {
            let limit = rng.pick(&["3000", "3000", "1000", "300", "40", "0"]);
            p.both_str(&["CONFIG", "SET", "hll-sparse-max-bytes", limit]);
        }
        970..=984 => {
            p.both_str(&["DEBUG", "DIGEST-VALUE", any_key(rng)]);
        }
        _ => {
            // A sparse value grown past the current limit by SET, then added to.
            let key = rng.pick(HLL_KEYS);
            p.both_str(&["DEL", key]);
            let mut args = vec![b"PFADD".to_vec(), key.as_bytes().to_vec()];
            for _ in 0..rng.between(1, 300) {
                args.push(element(rng));
            }
            p.both(&args);
            p.both_str(&["PFCOUNT", key]);
        }
    }
}

fn seeds() -> Vec<u64> {
    env_seeds("TANDEM_HLL_SEED", DEFAULT_SEEDS)
}

fn steps() -> usize {
    env_count("TANDEM_HLL_STEPS", DEFAULT_STEPS)
}

#[test]
fn hll_matches_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let mut pair = Pair {
        seed: 0,
        step: 0,
        t: tandem.client(),
        r: redis.client(),
        history: VecDeque::new(),
        tally: BTreeMap::new(),
    };
    // The same commands' documentation and key positions.
    for cmd in ["pfadd", "pfcount", "pfmerge", "pfdebug", "pfselftest"] {
        let info = |c: &mut Client| match call(c, &words(&["COMMAND", "INFO", cmd])) {
            Frame::Array(mut entries) => match entries.pop() {
                // Name, arity, flags, first, last, step, ACL categories.
                Some(Frame::Array(mut fields)) => {
                    fields.truncate(7);
                    fields
                }
                other => panic!("COMMAND INFO {cmd}: {other:?}"),
            },
            other => panic!("COMMAND INFO {cmd}: {other:?}"),
        };
        assert_eq!(info(&mut pair.t), info(&mut pair.r), "COMMAND INFO {cmd}");
    }
    pair.both_str(&["PFSELFTEST"]);

    let steps = steps();
    for seed in seeds() {
        pair.seed = seed;
        pair.history.clear();
        pair.both_str(&["FLUSHALL"]);
        pair.both_str(&["CONFIG", "SET", "hll-sparse-max-bytes", "3000"]);
        let mut rng = Rng::new(seed);
        for step in 0..steps {
            pair.step = step;
            one_step(&mut pair, &mut rng);
            if (step + 1) % CHECKPOINT_EVERY == 0 {
                pair.check_digest();
            }
        }
        for key in HLL_KEYS {
            pair.get(key);
            pair.both_str(&["PFCOUNT", key]);
            pair.get(key);
        }
        pair.check_digest();
    }
    for ((cmd, kind), n) in &pair.tally {
        eprintln!("{cmd:>12} {kind:<10} {n}");
    }
}

#[test]
fn replicas_of_tandem_keep_identical_hll_bytes() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let redis = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    let mut replicas = vec![replica.client()];
    replicas.extend(redis.as_ref().map(|r| r.client()));
    for r in &mut replicas {
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        }));
    }

    let mut rng = Rng::new(7);
    for round in 0..20 {
        let key = format!("h:{}", round % 4);
        let mut args = vec![b"PFADD".to_vec(), key.clone().into_bytes()];
        let n = if round % 5 == 4 { 3000 } else { 30 };
        for _ in 0..n {
            args.push(element(&mut rng));
        }
        call(&mut p, &args);
        // PFCOUNT writes the cached cardinality: replicas must too.
        p.q(&["PFCOUNT", &key]);
        p.q(&["PFCOUNT", "h:0", "h:1"]);
    }
    p.q(&["PFMERGE", "merged", "h:0", "h:1", "h:2"]);
    p.q(&["PFMERGE", "h:1", "h:3"]);
    p.q(&["PFADD", "tiny", "x"]);
    p.q(&["PFDEBUG", "TODENSE", "tiny"]);
    p.q(&["PFCOUNT", "tiny"]);
    // A corrupted value that a PFADD changes before failing on it.
    // Its one XZERO covers only the first half of the registers.
    let bad = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x5f\xff".to_vec();
    call(&mut p, &[b"SET".to_vec(), b"bad".to_vec(), bad]);
    let elements: Vec<Vec<u8>> = (0..50).map(|i| format!("e{i}").into_bytes()).collect();
    let mut args = vec![b"PFADD".to_vec(), b"bad".to_vec()];
    args.extend(elements);
    let reply = call(&mut p, &args);
    assert_eq!(
        reply,
        Frame::Error(bytes::Bytes::from_static(
            b"INVALIDOBJ Corrupted HLL object detected"
        ))
    );
    assert_eq!(
        p.q(&["PFDEBUG", "DECODE", "bad"]),
        "\"Z:1318 v:1,1 Z:6873\"",
        "the elements before the failing one stay, as in redis-server"
    );

    for r in &mut replicas {
        assert_converged(&mut p, r);
    }
    for key in ["h:0", "h:1", "h:2", "h:3", "merged", "tiny", "bad"] {
        let ours = call(&mut p, &words(&["GET", key]));
        for r in &mut replicas {
            assert_eq!(call(r, &words(&["GET", key])), ours, "GET {key}");
        }
    }
}
