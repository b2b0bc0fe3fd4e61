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
