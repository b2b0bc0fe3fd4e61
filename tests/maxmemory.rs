//! `maxmemory` against real processes: eviction per policy keeps used
//! memory near the limit and evicts the right kind of keys, `noeviction`
//! refuses writes with Redis's exact error (also inside MULTI and scripts,
//! compared reply for reply with a redis-server 7.0), and replicas (tandem
//! and redis-server) stay equal to a primary that evicts.
//!
//! tandem's fixed memory (its key tables) is larger than Redis's, so each
//! test sets `maxmemory` relative to the server's own `used_memory` at rest.
//!
//! Environment: `TANDEM_MAXMEMORY_SEED` (comma-separated seeds) for the
//! replica test's random writes.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::rng::{env_seeds, Rng};
use common::{assert_converged, info_field, wait_until, Client, ServerProcess};
use tandem_server::resp::Frame;

const OOM: &str = "-OOM command not allowed when used memory > 'maxmemory'.";
const MB: u64 = 1 << 20;

fn info_u64(c: &mut Client, section: &str, field: &str) -> u64 {
    info_field(c, section, field)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {field}"))
}

/// Sends `commands` pipelined (in batches) and returns the replies.
fn pipeline(c: &mut Client, commands: &[Vec<String>]) -> Vec<String> {
    let mut replies = Vec::with_capacity(commands.len());
    for batch in commands.chunks(500) {
        for cmd in batch {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            c.send(&args).expect("send");
        }
        for _ in batch {
            replies.push(common::render(&c.read().expect("reply")));
        }
    }
    replies
}

fn set_commands(prefix: &str, n: usize, value_len: usize, ttl: Option<u64>) -> Vec<Vec<String>> {
    let value = "v".repeat(value_len);
    (0..n)
        .map(|i| {
            let mut cmd = vec!["SET".to_string(), format!("{prefix}:{i}"), value.clone()];
            if let Some(ttl) = ttl {
                cmd.extend(["EX".to_string(), (ttl + i as u64).to_string()]);
            }
            cmd
        })
        .collect()
}

/// Sets `maxmemory` to `extra` bytes above what the server uses at rest.
fn limit_above_rest(c: &mut Client, extra: u64, policy: &str) -> u64 {
    let rest = info_u64(c, "memory", "used_memory");
    let limit = rest + extra;
    assert_eq!(
        c.q(&["CONFIG", "SET", "maxmemory", &limit.to_string()]),
        "+OK"
    );
    assert_eq!(c.q(&["CONFIG", "SET", "maxmemory-policy", policy]), "+OK");
    limit
}

/// Keys of `prefix:0..n` still present.
fn present(c: &mut Client, prefix: &str, n: usize) -> HashSet<usize> {
    let commands: Vec<Vec<String>> = (0..n)
        .map(|i| vec!["EXISTS".to_string(), format!("{prefix}:{i}")])
        .collect();
    pipeline(c, &commands)
        .iter()
        .enumerate()
        .filter(|(_, r)| r.as_str() == ":1")
        .map(|(i, _)| i)
        .collect()
}

/// Used memory stays near the limit: over it by at most what one write and
/// the server's own buffers may add before the next eviction.
fn assert_near_limit(c: &mut Client, limit: u64, what: &str) {
    let used = info_u64(c, "memory", "used_memory");
    eprintln!("{what}: used_memory {used}, maxmemory {limit}");
    assert!(
        used <= limit + limit / 20 + MB,
        "{what}: used_memory {used} far above maxmemory {limit}"
    );
    assert!(
        used + 4 * MB >= limit,
        "{what}: used_memory {used} far below maxmemory {limit}: evicted too much"
    );
}

/// Every key written is either left or counted in `evicted_keys`. Any
/// command first evicts what the previous one added over the limit, so the
/// INFO that reads the counter may have evicted a few keys counted after
/// `left` was taken.
fn assert_accounted(left: u64, evicted: u64, written: u64, what: &str) {
    assert!(
        (written..written + 50).contains(&(left + evicted)),
        "{what}: {left} keys left and {evicted} evicted of {written} written"
    );
}

#[test]
fn allkeys_policies_keep_used_memory_near_the_limit() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let server = ServerProcess::tandem(&[]);
        let mut c = server.client();
        let limit = limit_above_rest(&mut c, 8 * MB, policy);
        let replies = pipeline(&mut c, &set_commands("k", 40_000, 500, None));
        assert!(
            replies.iter().all(|r| r == "+OK"),
            "{policy}: a write was refused"
        );
        let dbsize: u64 = c.q(&["DBSIZE"]).trim_start_matches(':').parse().unwrap();
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        assert!(evicted > 10_000, "{policy}: evicted_keys {evicted}");
        assert_accounted(dbsize, evicted, 40_000, policy);
        assert_near_limit(&mut c, limit, policy);
        assert_eq!(
            info_field(&mut c, "memory", "maxmemory_policy").as_deref(),
            Some(policy)
        );
        assert_eq!(
            info_field(&mut c, "memory", "maxmemory").as_deref(),
            Some(limit.to_string().as_str())
        );
        assert_eq!(
            info_field(&mut c, "memory", "mem_not_counted_for_evict").as_deref(),
            Some("0")
        );
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let server = ServerProcess::tandem(&[]);
        let mut c = server.client();
        let limit = limit_above_rest(&mut c, 8 * MB, policy);
        // 3 MB that may never go, then 20 MB with a TTL.
        let keep = pipeline(&mut c, &set_commands("keep", 5_000, 500, None));
        assert!(keep.iter().all(|r| r == "+OK"));
        let vol = pipeline(&mut c, &set_commands("vol", 35_000, 500, Some(100_000)));
        assert!(
            vol.iter().all(|r| r == "+OK"),
            "{policy}: a write was refused"
        );
        assert_eq!(
            present(&mut c, "keep", 5_000).len(),
            5_000,
            "{policy}: a key without TTL was evicted"
        );
        let left = present(&mut c, "vol", 35_000).len() as u64;
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        assert!(evicted > 10_000, "{policy}: evicted_keys {evicted}");
        assert_accounted(left, evicted, 35_000, policy);
        assert_near_limit(&mut c, limit, policy);
        if policy == "volatile-ttl" {
            // TTLs grow with the index: the survivors are mostly the
            // late ones, the ones that expire last.
            let survivors = present(&mut c, "vol", 35_000);
            let late = survivors.iter().filter(|&&i| i >= 35_000 / 2).count();
            assert!(
                late * 10 >= survivors.len() * 8,
                "volatile-ttl kept {late} late of {} survivors",
                survivors.len()
            );
        }
        // With a limit no eviction can reach, the commands and the cron
        // evict every key with a TTL; then writes are refused.
        c.q(&["CONFIG", "SET", "maxmemory", "1"]);
        assert!(
            wait_until(Duration::from_secs(20), || c.q(&["DBSIZE"]) == ":5000"),
            "{policy}: keys with a TTL remain"
        );
        assert_eq!(c.q(&["SET", "more", "x"]), OOM, "{policy}");
        assert_eq!(present(&mut c, "keep", 5_000).len(), 5_000, "{policy}");
        assert!(
            info_u64(&mut c, "stats", "current_eviction_exceeded_time") < 60_000,
            "{policy}"
        );
    }
}

#[test]
fn allkeys_lru_keeps_recently_touched_keys() {
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();
    let limit = limit_above_rest(&mut c, 8 * MB, "allkeys-lru");
    // 10000 keys of about 5 MB, then a pause past the LRU clock's second.
    let first = pipeline(&mut c, &set_commands("old", 10_000, 400, None));
    assert!(first.iter().all(|r| r == "+OK"));
    std::thread::sleep(Duration::from_millis(2100));
    // Touch every fifth key.
    let touch: Vec<Vec<String>> = (0..10_000)
        .step_by(5)
        .map(|i| vec!["GET".to_string(), format!("old:{i}")])
        .collect();
    pipeline(&mut c, &touch);
    // 5 MB more: about 2 MB must go, all of it from the untouched keys.
    let second = pipeline(&mut c, &set_commands("new", 10_000, 400, None));
    assert!(second.iter().all(|r| r == "+OK"));
    let evicted = info_u64(&mut c, "stats", "evicted_keys");
    assert!(evicted > 2_000, "evicted_keys {evicted}");
    let survivors = present(&mut c, "old", 10_000);
    let touched = survivors.iter().filter(|&&i| i % 5 == 0).count();
    let untouched = survivors.len() - touched;
    eprintln!("touched kept {touched}/2000, untouched kept {untouched}/8000");
    assert!(
        touched * 10 >= 2_000 * 9,
        "only {touched} of 2000 touched keys survived"
    );
    assert!(
        (touched as f64 / 2_000.0) > (untouched as f64 / 8_000.0) + 0.2,
        "touched {touched}/2000 vs untouched {untouched}/8000"
    );
    assert_near_limit(&mut c, limit, "allkeys-lru");
}

#[test]
fn allkeys_lfu_keeps_frequently_read_keys() {
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();
    limit_above_rest(&mut c, 8 * MB, "allkeys-lfu");
    let first = pipeline(&mut c, &set_commands("old", 10_000, 400, None));
    assert!(first.iter().all(|r| r == "+OK"));
    // Every fifth key is read 30 times: its counter climbs past the
    // initial 5 a new key starts with.
    let reads: Vec<Vec<String>> = (0..30)
        .flat_map(|_| (0..10_000).step_by(5))
        .map(|i| vec!["GET".to_string(), format!("old:{i}")])
        .collect();
    pipeline(&mut c, &reads);
    assert!(
        c.q(&["OBJECT", "FREQ", "old:0"])
            .trim_start_matches(':')
            .parse::<u64>()
            .unwrap()
            > 5
    );
    assert_eq!(c.q(&["OBJECT", "FREQ", "old:1"]), ":5");
    let second = pipeline(&mut c, &set_commands("new", 10_000, 400, None));
    assert!(second.iter().all(|r| r == "+OK"));
    let survivors = present(&mut c, "old", 10_000);
    let hot = survivors.iter().filter(|&&i| i % 5 == 0).count();
    eprintln!(
        "hot kept {hot}/2000, others kept {}/8000",
        survivors.len() - hot
    );
    assert!(
        hot * 10 >= 2_000 * 9,
        "only {hot} of 2000 hot keys survived"
    );
}

/// The same commands to a tandem and a redis-server whose memory is full
/// under `noeviction` give identical replies: writes refused with the OOM
/// error, reads and DEL served, MULTI flagged, scripts refused at their
/// first write (or up front, with a shebang), EXEC of a queued write
/// aborted when memory filled meanwhile.
#[test]
fn noeviction_refuses_writes_like_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let library = "#!lua name=lib\n\
        redis.register_function('f', function(k, a) return redis.call('set', 'fx', 'y') end)\n\
        redis.register_function{function_name='g', callback=function(k, a) \
        return redis.call('set', 'gx', 'y') end, flags={'allow-oom'}}";
    let setup: &[&[&str]] = &[
        &["SET", "k1", "v1"],
        &["SET", "k2", "v2"],
        &["HSET", "h", "f", "v"],
        &["RPUSH", "l", "a", "b"],
        &["FUNCTION", "LOAD", library],
        &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
        &["CONFIG", "SET", "maxmemory", "1"],
    ];
    let script_set = "return redis.call('set', 'x', 'y')";
    let script_pcall = "return redis.pcall('set', 'x', 'y')";
    let script_read_then_set = "redis.call('get', 'k1'); return redis.call('set', 'x', 'y')";
    let shebang_read = "#!lua\nreturn redis.call('get', 'k1')";
    let shebang_allow = "#!lua flags=allow-oom\nreturn redis.call('set', 'allowed', 'y')";
    let shebang_no_writes = "#!lua flags=no-writes\nreturn redis.call('get', 'k2')";
    let script: &[&[&str]] = &[
        &["SET", "a", "b"],
        &["GET", "k1"],
        &["LPUSH", "l", "x"],
        &["INCR", "n"],
        &["APPEND", "k1", "more"],
        &["HGETALL", "h"],
        &["LRANGE", "l", "0", "-1"],
        &["PEXPIREAT", "k2", "4000000000000"],
        &["DEL", "k1"],
        &["EXISTS", "k1"],
        &["UNLINK", "nosuch"],
        &["MULTI"],
        &["SET", "x", "y"],
        &["GET", "k2"],
        &["EXEC"],
        &["MULTI"],
        &["DISCARD"],
        &["EVAL", script_set, "0"],
        &["EVAL", script_pcall, "0"],
        &["EVAL", script_read_then_set, "0"],
        &["EVAL", shebang_read, "0"],
        &["EVAL", shebang_allow, "0"],
        &["EVAL", shebang_no_writes, "0"],
        &["FCALL", "f", "0"],
        &["FCALL", "g", "0"],
        &["FUNCTION", "DELETE", "lib"],
        &["FUNCTION", "LOAD", library],
        &["PING"],
        &["DBSIZE"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["SET", "a", "b"],
    ];
    let mut t = tandem.client();
    let mut r = redis.client();
    for cmd in setup {
        assert_eq!(t.q(cmd), r.q(cmd), "{cmd:?}");
    }
    for cmd in script {
        let (ours, theirs) = (t.q(cmd), r.q(cmd));
        assert_eq!(ours, theirs, "{cmd:?}");
    }
    assert_eq!(t.q(&["DEBUG", "DIGEST"]), r.q(&["DEBUG", "DIGEST"]));

    // EXEC of a queued write once memory has filled since the queueing.
    for (server, c) in [(&tandem, &mut t), (&redis, &mut r)] {
        let mut other = server.client();
        assert_eq!(c.q(&["MULTI"]), "+OK");
        assert_eq!(c.q(&["SET", "queued", "1"]), "+QUEUED");
        assert_eq!(other.q(&["CONFIG", "SET", "maxmemory", "1"]), "+OK");
        assert_eq!(
            c.q(&["EXEC"]),
            "-EXECABORT Transaction discarded because of: OOM command not allowed when used \
             memory > 'maxmemory'."
        );
        assert_eq!(c.q(&["EXEC"]), "-ERR EXEC without MULTI");
        // A transaction of reads queued before memory filled runs.
        other.q(&["CONFIG", "SET", "maxmemory", "0"]);
        assert_eq!(c.q(&["MULTI"]), "+OK");
        assert_eq!(c.q(&["GET", "a"]), "+QUEUED");
        other.q(&["CONFIG", "SET", "maxmemory", "1"]);
        assert_eq!(c.q(&["EXEC"]), "[\"b\"]");
        other.q(&["CONFIG", "SET", "maxmemory", "0"]);
    }

    // The fields INFO shows about it, named as Redis names them.
    for c in [&mut t, &mut r] {
        c.q(&["CONFIG", "SET", "maxmemory", "1"]);
        assert_eq!(c.q(&["SET", "x", "y"]), OOM);
        assert_eq!(
            info_field(c, "memory", "maxmemory_policy").as_deref(),
            Some("noeviction")
        );
        assert_eq!(info_field(c, "memory", "maxmemory").as_deref(), Some("1"));
        assert_eq!(
            info_field(c, "memory", "maxmemory_human").as_deref(),
            Some("1B")
        );
        assert!(info_field(c, "memory", "mem_not_counted_for_evict").is_some());
        assert_eq!(info_u64(c, "stats", "evicted_keys"), 0);
        assert!(info_field(c, "stats", "total_eviction_exceeded_time").is_some());
        assert!(info_field(c, "stats", "current_eviction_exceeded_time").is_some());
        let cmdstat = info_field(c, "commandstats", "cmdstat_set").unwrap_or_default();
        assert!(!cmdstat.contains("rejected_calls=0"), "{cmdstat}");
    }
}

/// One random write (or read, which changes LRU/LFU state only) of the
/// replica test.
fn random_command(rng: &mut Rng) -> Vec<String> {
    let key = format!("key:{}", rng.below(20_000));
    let value = format!("{:0>300}", rng.next_u64());
    let words: Vec<String> = match rng.below(10) {
        0..=3 => vec!["SET".into(), key, value],
        4 => vec!["SET".into(), key, value, "EX".into(), "10000".into()],
        5 => vec!["HSET".into(), key, "f".into(), value],
        6 => vec!["RPUSH".into(), key, value],
        7 => vec!["SADD".into(), key, value],
        8 => vec!["GET".into(), key],
        _ => vec!["DEL".into(), key],
    };
    words
}

/// A primary that evicts (DEL, then UNLINK with lazyfree-lazy-eviction)
/// keeps its replicas equal: a tandem replica, which ignores its own tiny
/// maxmemory as `replica-ignore-maxmemory yes` says, and a redis-server.
#[test]
fn replicas_stay_equal_while_the_primary_evicts() {
    for seed in env_seeds("TANDEM_MAXMEMORY_SEED", &[11]) {
        eprintln!("seed {seed}");
        let primary = ServerProcess::tandem(&[]);
        let port = primary.port.to_string();
        let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
        let redis = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
        let mut p = primary.client();
        let mut replicas = vec![replica.client()];
        replicas.extend(redis.as_ref().map(ServerProcess::client));
        for r in &mut replicas {
            assert!(wait_until(Duration::from_secs(20), || {
                info_field(r, "replication", "master_link_status").as_deref() == Some("up")
            }));
        }
        assert_eq!(replicas[0].q(&["CONFIG", "SET", "maxmemory", "1"]), "+OK");
        limit_above_rest(&mut p, 6 * MB, "allkeys-lru");

        let mut rng = Rng::new(seed);
        for round in 0..2 {
            if round == 1 {
                p.q(&["CONFIG", "SET", "lazyfree-lazy-eviction", "yes"]);
                p.q(&["CONFIG", "SET", "maxmemory-policy", "volatile-ttl"]);
            }
            let commands: Vec<Vec<String>> =
                (0..40_000).map(|_| random_command(&mut rng)).collect();
            let replies = pipeline(&mut p, &commands);
            let refused = replies.iter().filter(|r| r.starts_with("-OOM")).count();
            eprintln!("round {round}: {refused} writes refused");
            for r in &mut replicas {
                assert_converged(&mut p, r);
            }
        }
        let evicted = info_u64(&mut p, "stats", "evicted_keys");
        assert!(evicted > 1_000, "seed {seed}: evicted_keys {evicted}");
        assert_eq!(
            info_u64(&mut replicas[0], "stats", "evicted_keys"),
            0,
            "seed {seed}: the replica evicted by itself"
        );
        // Round 1's evictions reached the replicas as UNLINK.
        for r in &mut replicas {
            let unlinks = info_field(r, "commandstats", "cmdstat_unlink").unwrap_or_default();
            eprintln!("replica cmdstat_unlink: {unlinks}");
            assert!(unlinks.starts_with("calls="), "seed {seed}: {unlinks:?}");
        }
    }
}

/// An evicted key breaks the WATCH on it, as any deletion does, and wakes
/// no client blocked on another key; under volatile-ttl the key with the
/// nearest expiry goes first.
#[test]
fn eviction_touches_watchers_and_wakes_no_blocked_client() {
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();
    let mut watcher = server.client();
    let mut blocked = server.client();
    assert_eq!(c.q(&["SET", "soon", "x", "EX", "100"]), "+OK");
    assert_eq!(c.q(&["SET", "later", "x", "EX", "100000"]), "+OK");
    assert_eq!(watcher.q(&["WATCH", "soon"]), "+OK");
    assert_eq!(watcher.q(&["MULTI"]), "+OK");
    assert_eq!(watcher.q(&["GET", "later"]), "+QUEUED");
    blocked.send(&["BLPOP", "list", "0"]).expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut c, "clients", "blocked_clients").as_deref() == Some("1")
    }));

    limit_above_rest(&mut c, 4 * MB, "volatile-ttl");
    // Keys without TTL fill memory; only the two volatile ones may go,
    // the nearest expiry first.
    pipeline(&mut c, &set_commands("fill", 10_000, 500, None));
    assert_eq!(c.q(&["EXISTS", "soon"]), ":0");
    assert!(info_u64(&mut c, "stats", "evicted_keys") >= 1);
    assert_eq!(
        watcher.q(&["EXEC"]),
        "(nil)",
        "the WATCH survived an eviction"
    );
    assert_eq!(
        info_field(&mut c, "clients", "blocked_clients").as_deref(),
        Some("1")
    );
    // Still blocked, and served by the next push.
    c.q(&["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(c.q(&["RPUSH", "list", "v"]), ":1");
    assert_eq!(
        common::render(&blocked.read().expect("reply")),
        "[\"list\", \"v\"]"
    );
}

/// OBJECT FREQ under an LFU policy, where Redis's steps are certain: a new
/// key starts at 5, its first read takes it to 6, RESTORE ... FREQ sets it;
/// other policies refuse the question with Redis's text.
#[test]
fn object_freq_follows_redis_lfu_counter() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let steps: &[&[&str]] = &[
        &["SET", "k", "v"],
        &["OBJECT", "FREQ", "k"],
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
        &["SET", "fresh", "v"],
        &["OBJECT", "FREQ", "fresh"],
        &["GET", "fresh"],
        &["OBJECT", "FREQ", "fresh"],
        &["OBJECT", "FREQ", "nosuch"],
        &["DEL", "restored"],
        &["OBJECT", "IDLETIME", "fresh"],
        &["CONFIG", "SET", "lfu-decay-time", "0"],
        &["CONFIG", "SET", "maxmemory-policy", "volatile-lfu"],
        &["OBJECT", "FREQ", "fresh"],
    ];
    let mut t = tandem.client();
    let mut r = redis.client();
    for step in steps {
        assert_eq!(t.q(step), r.q(step), "{step:?}");
    }
    // RESTORE ... FREQ, each server with its own DUMP payload.
    for c in [&mut t, &mut r] {
        let Frame::Bulk(payload) = c.cmd(&["DUMP", "fresh"]).expect("DUMP") else {
            panic!("DUMP gave no payload");
        };
        let args: [&[u8]; 6] = [b"RESTORE", b"restored", b"0", &payload, b"FREQ", b"100"];
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        c.send_raw(&out).expect("send");
        assert_eq!(common::render(&c.read().expect("reply")), "+OK");
        assert_eq!(c.q(&["OBJECT", "FREQ", "restored"]), ":100");
    }
}
