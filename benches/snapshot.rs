//! BGSAVE under write load, tandem against redis-server side by side.
//!
//! For each server: `DEBUG POPULATE N` (default 5,000,000), then a client
//! writes continuously (SET on random populated keys) while the latency of
//! every write is recorded, first idle for a few seconds, then during a
//! BGSAVE. Reports snapshot throughput (RDB bytes / wall time of the BGSAVE),
//! peak RSS of the server and all its children (redis forks) over the RSS
//! before the save, and p99/max write latency during the snapshot against idle.
//!
//! Besides the strings of DEBUG POPULATE, the dataset holds a mix of the
//! other types: SNAPSHOT_MIX keys (default 5000) each of a list, a hash, a
//! set and a sorted set of 64 elements, in the encodings those sizes take.
//!
//! Run: `cargo bench --bench snapshot`. Knobs: SNAPSHOT_KEYS (default
//! 5000000), SNAPSHOT_MIX (default 5000), SNAPSHOT_IDLE_SECS (default 3).

mod support;

use support::{percentile, start, tree_rss_kb, Conn, Server, Writer};

use std::time::{Duration, Instant};

struct Figures {
    mb_per_sec: f64,
    rss_before_kb: u64,
    peak_extra_kb: u64,
    idle_p99_us: u64,
    idle_max_us: u64,
    save_p99_us: u64,
    save_max_us: u64,
    save_secs: f64,
    rdb_bytes: u64,
}

/// Lists, hashes, sets and sorted sets of 64 elements each, `mix` of each.
fn populate_mix(admin: &mut Conn, mix: u64) {
    let elems: Vec<String> = (0..64).map(|i| format!("element-{i:03}")).collect();
    for k in 0..mix {
        let mut list = vec!["RPUSH".to_string(), format!("mix:list:{k}")];
        list.extend(elems.iter().cloned());
        let mut set = vec!["SADD".to_string(), format!("mix:set:{k}")];
        set.extend(elems.iter().cloned());
        let mut hash = vec!["HSET".to_string(), format!("mix:hash:{k}")];
        let mut zset = vec!["ZADD".to_string(), format!("mix:zset:{k}")];
        for (i, e) in elems.iter().enumerate() {
            hash.push(e.clone());
            hash.push(format!("value-{i}"));
            zset.push(format!("{}.5", i));
            zset.push(e.clone());
        }
        for cmd in [list, set, hash, zset] {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            admin.cmd(&args);
        }
    }
}

fn measure(server: &Server, keys: u64, mix: u64, idle_secs: u64) -> Figures {
    let mut admin = Conn::new(server.port);
    admin.cmd(&["DEBUG", "POPULATE", &keys.to_string()]);
    populate_mix(&mut admin, mix);
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id();

    // Idle latency.
    let idle = Writer::start(server.port, keys, Instant::now());
    std::thread::sleep(Duration::from_secs(idle_secs));
    let mut idle_lat: Vec<u64> = idle.finish().iter().map(|s| s.us).collect();
    idle_lat.sort_unstable();

    // Latency and memory during BGSAVE.
    let rss_before = tree_rss_kb(pid);
    let during = Writer::start(server.port, keys, Instant::now());
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let reply = admin.cmd(&["BGSAVE"]);
    assert!(
        reply.contains("Background saving started"),
        "{}: {reply}",
        server.name
    );
    let mut peak = rss_before;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        peak = peak.max(tree_rss_kb(pid));
        let running = admin.info_field("persistence", "rdb_bgsave_in_progress");
        if running.as_deref() == Some("0") || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let save_secs = started.elapsed().as_secs_f64();
    let mut save_lat: Vec<u64> = during.finish().iter().map(|s| s.us).collect();
    save_lat.sort_unstable();
    let rdb_bytes = std::fs::metadata(server.dir.join("dump.rdb"))
        .map(|m| m.len())
        .unwrap_or(0);
    Figures {
        mb_per_sec: rdb_bytes as f64 / 1e6 / save_secs,
        rss_before_kb: rss_before,
        peak_extra_kb: peak.saturating_sub(rss_before),
        idle_p99_us: percentile(&idle_lat, 0.99),
        idle_max_us: idle_lat.last().copied().unwrap_or(0),
        save_p99_us: percentile(&save_lat, 0.99),
        save_max_us: save_lat.last().copied().unwrap_or(0),
        save_secs,
        rdb_bytes,
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let keys: u64 = std::env::var("SNAPSHOT_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000_000);
    let mix: u64 = std::env::var("SNAPSHOT_MIX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let idle_secs: u64 = std::env::var("SNAPSHOT_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tandem = start("tandem", env!("CARGO_BIN_EXE_tandem-server"), &[]);
    let t = measure(&tandem, keys, mix, idle_secs);
    drop(tandem);
    let redis = start("redis", "redis-server", &[]);
    let r = measure(&redis, keys, mix, idle_secs);
    drop(redis);
    println!(
        "# BGSAVE of DEBUG POPULATE {keys} plus {mix} each of 64-element lists, hashes, sets \
         and sorted sets, while one client writes SET continuously"
    );
    println!("{:<34} {:>14} {:>14} {:>7}", "", "tandem", "redis", "ratio");
    let row = |name: &str, a: f64, b: f64| {
        println!(
            "{name:<34} {a:>14.1} {b:>14.1} {:>7.2}",
            if b > 0.0 { a / b } else { 0.0 }
        );
    };
    row(
        "rdb size (MB)",
        t.rdb_bytes as f64 / 1e6,
        r.rdb_bytes as f64 / 1e6,
    );
    row("bgsave wall time (s)", t.save_secs, r.save_secs);
    row("snapshot throughput (MB/s)", t.mb_per_sec, r.mb_per_sec);
    row(
        "RSS before save (MB)",
        t.rss_before_kb as f64 / 1024.0,
        r.rss_before_kb as f64 / 1024.0,
    );
    row(
        "peak extra RSS during save (MB)",
        t.peak_extra_kb as f64 / 1024.0,
        r.peak_extra_kb as f64 / 1024.0,
    );
    row(
        "peak extra RSS / RSS before (%)",
        100.0 * t.peak_extra_kb as f64 / t.rss_before_kb.max(1) as f64,
        100.0 * r.peak_extra_kb as f64 / r.rss_before_kb.max(1) as f64,
    );
    row(
        "write p99 idle (us)",
        t.idle_p99_us as f64,
        r.idle_p99_us as f64,
    );
    row(
        "write p99 during save (us)",
        t.save_p99_us as f64,
        r.save_p99_us as f64,
    );
    row(
        "write max idle (us)",
        t.idle_max_us as f64,
        r.idle_max_us as f64,
    );
    row(
        "write max during save (us)",
        t.save_max_us as f64,
        r.save_max_us as f64,
    );
}
