//! Streams against a real redis-server 7.0: the same seeded random stream of
//! XADD (explicit IDs, `ms-*`, trimming exact and approximate, LIMIT,
//! NOMKSTREAM), XRANGE/XREVRANGE (exclusive bounds, COUNT), XLEN, XDEL,
//! XTRIM, XSETID, XGROUP, XREADGROUP, XREAD, XACK, XPENDING, XCLAIM,
//! XAUTOCLAIM, XINFO and DUMP/RESTORE must give identical replies (times
//! and idle counters, which depend on the wall clock, are blanked) and the
//! same `DEBUG DIGEST`; small `stream-node-max-entries` and
//! `stream-node-max-bytes` make the node layout (which approximate trimming
//! and DUMP payloads show) matter. A tandem replica and a redis-server
//! replica of the tandem server must converge, groups and PELs included.
//!
//! Also: a redis-server primary holding streams with groups and pending
//! entries full-syncs to a tandem replica and keeps streaming to it; and
//! blocking XREAD/XREADGROUP time out, wake on XADD (also inside
//! MULTI/EXEC) and serve several waiters in the order they blocked.
//!
//! Environment: `TANDEM_STREAMS_SEED` (comma-separated seeds),
//! `TANDEM_STREAMS_STEPS` (commands per seed).

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use common::rng::{env_count, env_seeds, Rng};
use common::{assert_converged, info_field, wait_until, Client, ServerProcess};
use tandem_server::resp::Frame;

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3];
const DEFAULT_STEPS: usize = 2000;
const CHECKPOINT_EVERY: usize = 250;
const KEYS: &[&str] = &["s:0", "s:1", "s:2", "s:3"];
const GROUPS: &[&str] = &["g1", "g2", "g3"];
const CONSUMERS: &[&str] = &["alice", "bob", "carol"];
const FIELDS: &[&str] = &["a", "b", "c", "12", "name", "x-long-field-name-here"];

/// Timestamps (Unix ms) in a reply are wall-clock dependent.
fn blank_times(f: &mut Frame) {
    match f {
        Frame::Integer(n) if *n > 1_000_000_000_000 => *n = 0,
        Frame::Array(items) | Frame::Set(items) => items.iter_mut().for_each(blank_times),
        Frame::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            blank_times(k);
            blank_times(v);
        }),
        _ => {}
    }
}

/// Blanks the values that follow any of `names` in a flat field list.
fn blank_fields(f: &mut Frame, names: &[&str]) {
    match f {
        Frame::Array(items) => {
            for i in 0..items.len() {
                if let Frame::Bulk(b) = &items[i] {
                    if names.iter().any(|n| n.as_bytes() == b.as_ref()) && i + 1 < items.len() {
                        items[i + 1] = Frame::Integer(0);
                        continue;
                    }
                }
                blank_fields(&mut items[i], names);
            }
        }
        Frame::Map(pairs) => {
            for (k, v) in pairs.iter_mut() {
                if matches!(k, Frame::Bulk(b) if names.iter().any(|n| n.as_bytes() == b.as_ref())) {
                    *v = Frame::Integer(0);
                } else {
                    blank_fields(v, names);
                }
            }
        }
        _ => {}
    }
}

/// The reply with wall-clock values blanked for the command `args`.
fn normalize(args: &[String], mut f: Frame) -> Frame {
    let cmd = args[0].to_ascii_uppercase();
    blank_times(&mut f);
    blank_fields(&mut f, &["idle", "seen-time"]);
    if cmd == "XPENDING" && args.len() > 3 {
        // Extended form: [id, consumer, idle, deliveries].
        if let Frame::Array(items) = &mut f {
            for it in items {
                if let Frame::Array(fields) = it {
                    if fields.len() == 4 {
                        fields[2] = Frame::Integer(0);
                    }
                }
            }
        }
    }
    f
}

/// Blanks the delivery counts of PEL entries in an XINFO STREAM FULL reply
/// (`[id, consumer, time, count]` and `[id, time, count]`).
fn blank_delivery_counts(f: &mut Frame) {
    if let Frame::Array(items) = f {
        let pel_entry = matches!(items.first(), Some(Frame::Bulk(_)))
            && matches!(items.last(), Some(Frame::Integer(_)))
            && matches!(
                items.get(items.len().saturating_sub(2)),
                Some(Frame::Integer(_))
            );
        if pel_entry && (items.len() == 3 || items.len() == 4) {
            let last = items.len() - 1;
            items[last] = Frame::Integer(0);
            return;
        }
        items.iter_mut().for_each(blank_delivery_counts);
    }
}

/// Drops consumers with nothing pending from XINFO STREAM FULL's consumer
/// lists (RESP2: flat field lists).
fn drop_idle_consumers(f: &mut Frame) {
    if let Frame::Array(items) = f {
        let is_consumer = |c: &Frame| {
            matches!(c, Frame::Array(kv) if kv.first() == Some(&Frame::Bulk(bytes::Bytes::from_static(b"name")))
                && kv.get(2) == Some(&Frame::Bulk(bytes::Bytes::from_static(b"seen-time"))))
        };
        let empty_pel =
            |c: &Frame| matches!(c, Frame::Array(kv) if kv.get(5) == Some(&Frame::Integer(0)));
        items.retain(|c| !(is_consumer(c) && empty_pel(c)));
        items.iter_mut().for_each(drop_idle_consumers);
    }
}

/// `XINFO STREAM key FULL COUNT 0` as a replica must match it: without the
/// node counts, which follow each server's own node limits, and without
/// groups' read counters and lags, which Redis 7.0 does not propagate
/// (XREADGROUP's XCLAIM ... LASTID moves a replica's last ID only; a
/// redis-server replica of redis-server differs the same way). With
/// `history`, delivery counts and consumers with nothing pending go too:
/// reads of a consumer's history count deliveries, and may create the
/// consumer, without propagating either, in Redis as here.
fn full_info(c: &mut Client, key: &str, history: bool) -> Frame {
    let full = ["XINFO", "STREAM", key, "FULL", "COUNT", "0"];
    let args: Vec<String> = full.iter().map(|a| a.to_string()).collect();
    let mut f = normalize(&args, c.cmd(&full).expect("reply"));
    blank_fields(
        &mut f,
        &["radix-tree-keys", "radix-tree-nodes", "entries-read", "lag"],
    );
    if history {
        blank_delivery_counts(&mut f);
        drop_idle_consumers(&mut f);
    }
    f
}

/// Fails with the first difference of two long replies, in context.
fn assert_same(a: &impl std::fmt::Debug, b: &impl std::fmt::Debug, what: &str) {
    let (x, y) = (format!("{a:?}"), format!("{b:?}"));
    if x == y {
        return;
    }
    let at = x.bytes().zip(y.bytes()).take_while(|(p, q)| p == q).count();
    let from = at.saturating_sub(300);
    let cut = |t: &str| {
        t.get(from..(at + 300).min(t.len()))
            .unwrap_or("")
            .to_string()
    };
    panic!(
        "{what}: differ at byte {at}\n  left:  ...{}\n  right: ...{}",
        cut(&x),
        cut(&y)
    );
}

struct Run {
    seed: u64,
    step: usize,
    t: Client,
    r: Client,
    history: VecDeque<String>,
    /// A clock for explicit IDs, moving forward.
    ms: u64,
    /// IDs added (some since deleted), for XDEL/XCLAIM/XACK picks.
    ids: Vec<String>,
}

impl Run {
    fn fail(&self, what: &str) -> ! {
        let h: Vec<&str> = self.history.iter().map(String::as_str).collect();
        panic!(
            "seed {} step {}: {what}\nrecent commands:\n  {}\nrerun with TANDEM_STREAMS_SEED={}",
            self.seed,
            self.step,
            h.join("\n  "),
            self.seed
        );
    }

    fn both(&mut self, args: &[String]) -> Frame {
        self.history.push_back(args.join(" "));
        if self.history.len() > 15 {
            self.history.pop_front();
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = self.t.cmd(&refs).expect("tandem reply");
        let b = self.r.cmd(&refs).expect("redis reply");
        let (na, nb) = (normalize(args, a.clone()), normalize(args, b));
        if na != nb {
            self.fail(&format!(
                "replies differ\n  tandem: {na:?}\n  redis:  {nb:?}"
            ));
        }
        a
    }

    fn both_str(&mut self, args: &[&str]) -> Frame {
        let v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.both(&v)
    }

    fn check_digest(&mut self) {
        let a = self.t.q(&["DEBUG", "DIGEST"]);
        let b = self.r.q(&["DEBUG", "DIGEST"]);
        if a != b {
            self.fail(&format!("DEBUG DIGEST differs: tandem {a}, redis {b}"));
        }
    }

    fn new_id(&mut self, rng: &mut Rng) -> String {
        let r = rng.below(100);
        if r < 3 {
            return "0-0".into();
        }
        if r < 10 {
            // Probably not above the top item.
            return format!("{}-{}", self.ms.saturating_sub(rng.below(5)), rng.below(3));
        }
        self.ms += rng.below(3);
        if r < 25 {
            return format!("{}-*", self.ms);
        }
        if r < 35 {
            return format!("{}", self.ms);
        }
        format!("{}-{}", self.ms, rng.below(4))
    }

    fn some_id(&mut self, rng: &mut Rng) -> String {
        if self.ids.is_empty() || rng.percent(15) {
            return format!("{}-{}", rng.below(self.ms + 2), rng.below(3));
        }
        let i = rng.below(self.ids.len() as u64) as usize;
        self.ids[i].clone()
    }

    fn bound(&mut self, rng: &mut Rng, low: bool) -> String {
        match rng.below(10) {
            0 => if low { "-" } else { "+" }.into(),
            1 => format!("({}", self.some_id(rng)),
            2 => format!("{}", rng.below(self.ms + 2)),
            _ => self.some_id(rng),
        }
    }
}

fn value(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => rng.range(-100000, 100000).to_string(),
        1 => "v".repeat(rng.between(60, 300) as usize),
        2 => "w".repeat(rng.between(1000, 2500) as usize),
        3 => String::new(),
        _ => format!("val{}", rng.below(1000)),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

fn trim_opts(run: &mut Run, rng: &mut Rng, out: &mut Vec<String>) {
    if rng.percent(50) {
        out.push(s("MAXLEN"));
        match rng.below(3) {
            0 => out.push(s("~")),
            1 => out.push(s("=")),
            _ => {}
        }
        out.push(rng.below(40).to_string());
    } else {
        out.push(s("MINID"));
        match rng.below(3) {
            0 => out.push(s("~")),
            1 => out.push(s("=")),
            _ => {}
        }
        out.push(run.some_id(rng));
    }
    if out.iter().any(|a| a == "~") && rng.percent(30) {
        out.push(s("LIMIT"));
        out.push(rng.below(30).to_string());
    }
}

fn one_step(run: &mut Run, rng: &mut Rng) {
    let key = s(rng.pick(KEYS));
    let group = s(rng.pick(GROUPS));
    let consumer = s(rng.pick(CONSUMERS));
    let roll = rng.below(1000);
    match roll {
        0..=329 => {
            let mut args = vec![s("XADD"), key.clone()];
            if rng.percent(5) {
                args.push(s("NOMKSTREAM"));
            }
            if rng.percent(25) {
                trim_opts(run, rng, &mut args);
            }
            let id = run.new_id(rng);
            args.push(id);
            let n = if rng.percent(3) { 0 } else { rng.between(1, 3) };
            let same = rng.percent(60);
            for i in 0..n {
                let f = if same {
                    FIELDS[i as usize]
                } else {
                    rng.pick(FIELDS)
                };
                args.push(s(f));
                args.push(value(rng));
            }
            if let Frame::Bulk(b) = run.both(&args) {
                run.ids.push(String::from_utf8_lossy(&b).into_owned());
            }
        }
        330..=409 => {
            let rev = rng.percent(40);
            let (a, b) = (run.bound(rng, !rev), run.bound(rng, rev));
            let mut args = vec![s(if rev { "XREVRANGE" } else { "XRANGE" }), key, a, b];
            if rng.percent(50) {
                args.push(s("COUNT"));
                args.push(rng.range(-1, 8).to_string());
            }
            run.both(&args);
        }
        410..=429 => {
            run.both(&[s("XLEN"), key]);
        }
        430..=489 => {
            let mut args = vec![s("XDEL"), key];
            for _ in 0..rng.between(1, 3) {
                args.push(run.some_id(rng));
            }
            run.both(&args);
        }
        490..=519 => {
            let mut args = vec![s("XTRIM"), key];
            trim_opts(run, rng, &mut args);
            run.both(&args);
        }
        520..=529 => {
            let mut args = vec![s("XSETID"), key];
            let ms = run.ms + rng.below(3);
            args.push(format!("{ms}-{}", rng.below(5)));
            run.ms = ms;
            if rng.percent(40) {
                args.push(s("ENTRIESADDED"));
                args.push(rng.below(200).to_string());
            }
            if rng.percent(30) {
                args.push(s("MAXDELETEDID"));
                args.push(run.some_id(rng));
            }
            run.both(&args);
        }
        530..=579 => {
            let mut args = match rng.below(10) {
                0..=4 => {
                    let start = match rng.below(4) {
                        0 => s("$"),
                        1 => s("0"),
                        _ => run.some_id(rng),
                    };
                    let mut a = vec![s("XGROUP"), s("CREATE"), key, group, start];
                    if rng.percent(40) {
                        a.push(s("MKSTREAM"));
                    }
                    a
                }
                5 => vec![s("XGROUP"), s("SETID"), key, group, run.some_id(rng)],
                6 => vec![s("XGROUP"), s("DESTROY"), key, group],
                7 => vec![s("XGROUP"), s("CREATECONSUMER"), key, group, consumer],
                _ => vec![s("XGROUP"), s("DELCONSUMER"), key, group, consumer],
            };
            if (args[1] == "CREATE" || args[1] == "SETID") && rng.percent(20) {
                args.push(s("ENTRIESREAD"));
                args.push(rng.range(-2, 50).to_string());
            }
            run.both(&args);
        }
        580..=699 => {
            let mut args = vec![s("XREADGROUP"), s("GROUP"), group, consumer];
            if rng.percent(60) {
                args.push(s("COUNT"));
                args.push(rng.below(5).to_string());
            }
            if rng.percent(15) {
                args.push(s("NOACK"));
            }
            args.push(s("STREAMS"));
            let two = rng.percent(20);
            args.push(key.clone());
            if two {
                args.push(s(rng.pick(KEYS)));
            }
            for _ in 0..if two { 2 } else { 1 } {
                args.push(if rng.percent(75) {
                    s(">")
                } else if rng.percent(50) {
                    s("0")
                } else {
                    run.some_id(rng)
                });
            }
            run.both(&args);
        }
        700..=749 => {
            let mut args = vec![s("XACK"), key, group];
            for _ in 0..rng.between(1, 3) {
                args.push(run.some_id(rng));
            }
            run.both(&args);
        }
        750..=799 => {
            let mut args = vec![s("XPENDING"), key, group];
            if rng.percent(60) {
                let (a, b) = (run.bound(rng, true), run.bound(rng, false));
                args.extend([a, b, rng.below(10).to_string()]);
                if rng.percent(40) {
                    args.push(consumer);
                }
            }
            run.both(&args);
        }
        800..=859 => {
            let idle = if rng.percent(80) { "0" } else { "100000000" };
            let mut args = vec![s("XCLAIM"), key, group, consumer, s(idle)];
            for _ in 0..rng.between(1, 3) {
                args.push(run.some_id(rng));
            }
            if rng.percent(30) {
                args.push(s("JUSTID"));
            }
            if rng.percent(20) {
                args.push(s("FORCE"));
            }
            if rng.percent(20) {
                args.push(s("RETRYCOUNT"));
                args.push(rng.below(5).to_string());
            }
            if rng.percent(10) {
                args.push(s("LASTID"));
                args.push(run.some_id(rng));
            }
            run.both(&args);
        }
        860..=899 => {
            let idle = if rng.percent(80) { "0" } else { "100000000" };
            let start = run.bound(rng, true);
            let mut args = vec![s("XAUTOCLAIM"), key, group, consumer, s(idle), start];
            if rng.percent(50) {
                args.push(s("COUNT"));
                args.push(rng.between(1, 5).to_string());
            }
            if rng.percent(30) {
                args.push(s("JUSTID"));
            }
            run.both(&args);
        }
        900..=949 => {
            let args = match rng.below(5) {
                0 => vec![s("XINFO"), s("STREAM"), key],
                1 => vec![s("XINFO"), s("STREAM"), key, s("FULL")],
                2 => vec![
                    s("XINFO"),
                    s("STREAM"),
                    key,
                    s("FULL"),
                    s("COUNT"),
                    rng.below(4).to_string(),
                ],
                3 => vec![s("XINFO"), s("GROUPS"), key],
                _ => vec![s("XINFO"), s("CONSUMERS"), key, group],
            };
            run.both(&args);
        }
        950..=969 => {
            let other = s(rng.pick(KEYS));
            let a = run.some_id(rng);
            let b = if rng.percent(50) {
                s("$")
            } else {
                run.some_id(rng)
            };
            run.both(&[
                s("XREAD"),
                s("COUNT"),
                rng.between(1, 5).to_string(),
                s("STREAMS"),
                key,
                other,
                a,
                b,
            ]);
        }
        970..=984 => {
            // DUMP payloads carry the node listpacks: byte for byte, unless
            // groups put delivery and seen times (the wall clock) in them.
            let groups = run.t.cmd(&["XINFO", "GROUPS", &key]).expect("reply");
            let timeless = matches!(&groups, Frame::Array(g) if g.is_empty());
            let dump = if timeless {
                run.both(&[s("DUMP"), key.clone()])
            } else {
                run.t.cmd(&["DUMP", &key]).expect("reply")
            };
            if let Frame::Bulk(payload) = dump {
                // Binary payload: send it raw to both.
                for c in [&mut run.t, &mut run.r] {
                    let mut out = b"*5\r\n$7\r\nRESTORE\r\n".to_vec();
                    let k = format!("{key}:copy");
                    out.extend_from_slice(format!("${}\r\n{k}\r\n$1\r\n0\r\n", k.len()).as_bytes());
                    out.extend_from_slice(format!("${}\r\n", payload.len()).as_bytes());
                    out.extend_from_slice(&payload);
                    out.extend_from_slice(b"\r\n$7\r\nREPLACE\r\n");
                    c.send_raw(&out).expect("send");
                    let reply = c.read().expect("reply");
                    assert_eq!(reply, Frame::Simple(bytes::Bytes::from_static(b"OK")));
                }
            }
        }
        985..=989 => {
            run.both(&[s("TYPE"), key.clone()]);
            run.both(&[s("OBJECT"), s("ENCODING"), key]);
        }
        990..=994 => {
            run.both(&[s("DEBUG"), s("DIGEST-VALUE"), key]);
        }
        _ => {
            if rng.percent(30) {
                run.both(&[s("DEL"), key]);
            } else {
                run.both(&[s("SET"), key, s("not a stream")]);
            }
        }
    }
}

#[test]
fn streams_match_redis_and_replicas_converge() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let port = tandem.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let redis_replica = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut replicas = vec![replica.client()];
    replicas.extend(redis_replica.as_ref().map(|r| r.client()));
    for r in &mut replicas {
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        }));
    }
    let mut run = Run {
        seed: 0,
        step: 0,
        t: tandem.client(),
        r: redis.client(),
        history: VecDeque::new(),
        ms: 1,
        ids: Vec::new(),
    };
    let steps = env_count("TANDEM_STREAMS_STEPS", DEFAULT_STEPS);
    for seed in env_seeds("TANDEM_STREAMS_SEED", DEFAULT_SEEDS) {
        run.seed = seed;
        run.history.clear();
        run.ids.clear();
        run.ms = 1;
        run.both_str(&["FLUSHALL"]);
        let mut rng = Rng::new(seed);
        let entries = ["3", "5", "10", "100"][(seed % 4) as usize];
        let bytes = ["4096", "300", "1000", "0"][(seed % 4) as usize];
        for c in [&mut run.t, &mut run.r] {
            // DUMP payloads are compared byte for byte: no LZF (whose
            // matches tandem finds its own way).
            c.q(&["CONFIG", "SET", "rdbcompression", "no"]);
            c.q(&["CONFIG", "SET", "stream-node-max-entries", entries]);
            c.q(&["CONFIG", "SET", "stream-node-max-bytes", bytes]);
        }
        for step in 0..steps {
            run.step = step;
            one_step(&mut run, &mut rng);
            if (step + 1) % CHECKPOINT_EVERY == 0 {
                run.check_digest();
            }
        }
        for key in KEYS {
            run.both_str(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]);
        }
        run.check_digest();
        for r in &mut replicas {
            assert_converged(&mut run.t, r);
            // Groups and PELs are not in the digest: compare them too.
            for key in KEYS {
                assert_same(
                    &full_info(&mut run.t, key, true),
                    &full_info(r, key, true),
                    &format!("seed {seed}: replica's {key}"),
                );
            }
        }
    }
}

/// XADD with `*` and approximate trims on a tandem primary: replicas get
/// the chosen IDs and the exact trims.
#[test]
fn generated_ids_and_approximate_trims_replicate() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let redis_replica = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    // The replicas build their nodes with other limits: only exact trims
    // keep them equal.
    p.q(&["CONFIG", "SET", "stream-node-max-entries", "7"]);
    let mut replicas = vec![replica.client()];
    replicas.extend(redis_replica.as_ref().map(|r| r.client()));
    for r in &mut replicas {
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        }));
    }
    for i in 0..300 {
        let n = i.to_string();
        p.q(&["XADD", "s", "MAXLEN", "~", "50", "*", "n", &n]);
        if i % 7 == 0 {
            p.q(&["XADD", "m", "*", "n", &n]);
            p.q(&["XTRIM", "m", "MINID", "~", "0"]);
        }
    }
    p.q(&["XGROUP", "CREATE", "s", "g", "0"]);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c1",
        "COUNT",
        "5",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c2",
        "COUNT",
        "3",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&["XAUTOCLAIM", "s", "g", "c3", "0", "0", "COUNT", "2"]);
    let len = p.q(&["XLEN", "s"]);
    assert_ne!(len, ":300", "the approximate trim removed nothing");
    // Replicas that attach now full-sync the streams, groups and PELs from
    // tandem's RDB.
    let late = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let late_redis = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    replicas.push(late.client());
    replicas.extend(late_redis.as_ref().map(|r| r.client()));
    for r in &mut replicas {
        assert_converged(&mut p, r);
        for key in ["s", "m"] {
            assert_eq!(p.q(&["XLEN", key]), r.q(&["XLEN", key]));
            assert_same(
                &full_info(&mut p, key, false),
                &full_info(r, key, false),
                key,
            );
        }
    }
}

/// A redis-server primary with streams, groups and pending entries
/// full-syncs to a tandem replica and then streams its stream commands.
#[test]
fn tandem_replicates_streams_from_redis() {
    let Some(primary) = ServerProcess::redis(&[]) else {
        return;
    };
    let mut p = primary.client();
    let fill = |p: &mut Client, from: usize| {
        for i in from..from + 200 {
            let n = i.to_string();
            p.q(&["XADD", "s", "*", "f", &n, "g", "x"]);
            p.q(&["XADD", "t", &format!("{}-1", i + 1), "only", &n]);
            p.q(&["XADD", "u", "*", "k", &n]);
        }
        p.q(&["XDEL", "s", &format!("{}-1", from + 3)]);
        p.q(&["XTRIM", "t", "MAXLEN", "~", "150"]);
        p.q(&["XDEL", "u", &format!("{}-1", from + 30)]);
    };
    fill(&mut p, 0);
    p.q(&["XGROUP", "CREATE", "s", "g1", "0"]);
    p.q(&["XGROUP", "CREATE", "t", "g2", "$", "ENTRIESREAD", "3"]);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "10",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "4",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&["XGROUP", "CREATECONSUMER", "t", "g2", "idle"]);

    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);

    fill(&mut p, 1000);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "carol",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&[
        "XREADGROUP",
        "GROUP",
        "g1",
        "dave",
        "COUNT",
        "2",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    p.q(&["XCLAIM", "s", "g1", "erin", "0", "0-1"]);
    p.q(&["XAUTOCLAIM", "s", "g1", "frank", "0", "0", "COUNT", "3"]);
    p.q(&["XSETID", "t", "99999999999999-0", "ENTRIESADDED", "5000"]);
    assert_converged(&mut p, &mut r);
    for key in ["s", "t"] {
        assert_same(
            &full_info(&mut p, key, false),
            &full_info(&mut r, key, false),
            key,
        );
        assert_eq!(p.q(&["XPENDING", key, "g1"]), r.q(&["XPENDING", key, "g1"]));
    }
    // The full sync kept Redis's node layout: the same DUMP payload (of a
    // stream without groups, whose payload has no wall-clock times).
    for c in [&mut p, &mut r] {
        c.q(&["CONFIG", "SET", "rdbcompression", "no"]);
    }
    assert_same(
        &p.cmd(&["DUMP", "u"]).ok(),
        &r.cmd(&["DUMP", "u"]).ok(),
        "DUMP u",
    );
}

fn bulk_text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Simple(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

/// The IDs in an XREAD/XREADGROUP reply (RESP2), in order.
fn read_ids(f: &Frame) -> Vec<String> {
    let mut out = Vec::new();
    if let Frame::Array(streams) = f {
        for st in streams {
            if let Frame::Array(kv) = st {
                if let Some(Frame::Array(entries)) = kv.get(1) {
                    for e in entries {
                        if let Frame::Array(parts) = e {
                            out.push(bulk_text(&parts[0]));
                        }
                    }
                }
            }
        }
    }
    out
}

#[test]
fn blocking_reads_time_out_and_wake() {
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();

    // A timeout answers a null array after the time has passed.
    let started = Instant::now();
    assert_eq!(
        c.cmd(&["XREAD", "BLOCK", "150", "STREAMS", "nokey", "$"])
            .expect("reply"),
        Frame::Null
    );
    assert!(started.elapsed() >= Duration::from_millis(140));

    // XREAD BLOCK on $ is woken by an XADD and gets only the new entry.
    c.q(&["XADD", "s", "1-1", "old", "1"]);
    let mut waiter = server.client();
    waiter
        .send(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"])
        .expect("send");
    let mut other = server.client();
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut other, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    c.q(&["XADD", "s", "2-1", "new", "2"]);
    assert_eq!(read_ids(&waiter.read().expect("reply")), ["2-1"]);

    // Woken by an XADD inside MULTI/EXEC.
    waiter
        .send(&["XREAD", "BLOCK", "5000", "STREAMS", "s", "2-1"])
        .expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut other, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    c.q(&["MULTI"]);
    c.q(&["XADD", "s", "3-1", "a", "1"]);
    c.q(&["XADD", "s", "3-2", "b", "2"]);
    c.q(&["EXEC"]);
    assert_eq!(read_ids(&waiter.read().expect("reply")), ["3-1", "3-2"]);

    // An XADD whose trim removes its own entry still wakes the reader, with
    // nothing to read (as Redis's wake-up path does).
    waiter
        .send(&["XREAD", "BLOCK", "5000", "STREAMS", "e", "$"])
        .expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut other, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    c.q(&["XADD", "e", "MAXLEN", "0", "7-1", "gone", "1"]);
    assert_eq!(
        waiter.read().expect("reply"),
        Frame::Array(vec![Frame::Array(vec![
            Frame::Bulk(bytes::Bytes::from_static(b"e")),
            Frame::Array(Vec::new()),
        ])])
    );

    // XREADGROUP BLOCK: several waiters are served in the order they
    // blocked, one entry each.
    c.q(&["XGROUP", "CREATE", "s", "g", "$"]);
    let mut waiters: Vec<Client> = (0..3).map(|_| server.client()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        let name = format!("c{i}");
        w.send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            &name,
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ])
        .expect("send");
        let want = (i + 1).to_string();
        assert!(wait_until(Duration::from_secs(5), || {
            info_field(&mut other, "clients", "blocked_clients").as_deref() == Some(&want)
        }));
    }
    c.q(&["XADD", "s", "4-1", "x", "1"]);
    assert_eq!(read_ids(&waiters[0].read().expect("reply")), ["4-1"]);
    c.q(&["XADD", "s", "5-1", "x", "2"]);
    c.q(&["XADD", "s", "5-2", "x", "3"]);
    assert_eq!(read_ids(&waiters[1].read().expect("reply")), ["5-1"]);
    assert_eq!(read_ids(&waiters[2].read().expect("reply")), ["5-2"]);
    let pending = c.cmd(&["XPENDING", "s", "g"]).expect("reply");
    assert_eq!(
        pending,
        Frame::Array(vec![
            Frame::Integer(3),
            Frame::Bulk(bytes::Bytes::from_static(b"4-1")),
            Frame::Bulk(bytes::Bytes::from_static(b"5-2")),
            Frame::Array(vec![
                Frame::Array(vec![
                    Frame::Bulk(bytes::Bytes::from_static(b"c0")),
                    Frame::Bulk(bytes::Bytes::from_static(b"1")),
                ]),
                Frame::Array(vec![
                    Frame::Bulk(bytes::Bytes::from_static(b"c1")),
                    Frame::Bulk(bytes::Bytes::from_static(b"1")),
                ]),
                Frame::Array(vec![
                    Frame::Bulk(bytes::Bytes::from_static(b"c2")),
                    Frame::Bulk(bytes::Bytes::from_static(b"1")),
                ]),
            ]),
        ])
    );

    // A waiter whose group goes away gets Redis's error.
    let mut w = server.client();
    w.send(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "late",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ])
    .expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut other, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    c.q(&["XGROUP", "DESTROY", "s", "g"]);
    assert_eq!(
        w.read().expect("reply"),
        Frame::Error(bytes::Bytes::from_static(
            b"NOGROUP the consumer group this client was blocked on no longer exists"
        ))
    );

    // Deleting the stream fails a group reader and keeps a plain reader
    // waiting (until its timeout here).
    c.q(&["XGROUP", "CREATE", "dk", "g", "$", "MKSTREAM"]);
    let mut group_reader = server.client();
    group_reader
        .send(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            "dk",
            ">",
        ])
        .expect("send");
    let mut plain_reader = server.client();
    plain_reader
        .send(&["XREAD", "BLOCK", "400", "STREAMS", "dk", "$"])
        .expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut other, "clients", "blocked_clients").as_deref() == Some("2")
    }));
    let deleted_at = Instant::now();
    c.q(&["DEL", "dk"]);
    assert_eq!(
        group_reader.read().expect("reply"),
        Frame::Error(bytes::Bytes::from_static(
            b"UNBLOCKED the stream key no longer exists"
        ))
    );
    assert_eq!(plain_reader.read().expect("reply"), Frame::Null);
    assert!(deleted_at.elapsed() >= Duration::from_millis(300));

    // Inside MULTI a blocking read answers at once.
    c.q(&["MULTI"]);
    c.q(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    assert_eq!(
        c.cmd(&["EXEC"]).expect("reply"),
        Frame::Array(vec![Frame::Null])
    );
}
