//! BGSAVE under write load, tandem against redis-server side by side.
//!
//! For each server: `DEBUG POPULATE N` (default 5,000,000), then a client
//! writes continuously (SET on random populated keys) while the latency of
//! every write is recorded, first idle for a few seconds, then during a
//! BGSAVE. Reports snapshot throughput (RDB bytes / wall time of the BGSAVE),
//! peak RSS of the server and all its children (redis forks) over the RSS
//! before the save, and p99/max write latency during the snapshot against idle.
//!
//! Run: `cargo bench --bench snapshot`. Knobs: SNAPSHOT_KEYS (default
//! 5000000), SNAPSHOT_IDLE_SECS (default 3).

mod support;

use support::{rss_kb, start, Server};

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A minimal RESP client: sends a command, reads one reply line (and a bulk
/// body when there is one), returns the text.
struct Conn(TcpStream);

impl Conn {
    fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).ok();
        Conn(s)
    }

    fn cmd(&mut self, args: &[&str]) -> String {
        let mut out = format!("*{}\r\n", args.len());
        for a in args {
            out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.0.write_all(out.as_bytes()).expect("write");
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            self.0.read_exact(&mut b).expect("read");
            line.push(b[0]);
        }
        let text = String::from_utf8_lossy(&line[..line.len() - 2]).into_owned();
        if let Some(len) = text.strip_prefix('$').and_then(|l| l.parse::<i64>().ok()) {
            if len >= 0 {
                let mut body = vec![0u8; len as usize + 2];
                self.0.read_exact(&mut body).expect("read body");
                return String::from_utf8_lossy(&body[..len as usize]).into_owned();
            }
        }
        text
    }

    fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        let info = self.cmd(&["INFO", section]);
        info.lines().find_map(|l| {
            l.strip_prefix(&format!("{field}:"))
                .map(|v| v.trim().to_string())
        })
    }
}

/// RSS of `pid` plus every direct child (a forked BGSAVE).
fn tree_rss_kb(pid: u32) -> u64 {
    let mut total = rss_kb(pid);
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for c in children
        .split_whitespace()
        .filter_map(|c| c.parse::<u32>().ok())
    {
        total += rss_kb(c);
    }
    total
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

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

/// Writes until `stop`, recording each write's latency in microseconds.
fn writer(port: u16, keys: u64, stop: Arc<AtomicBool>, count: Arc<AtomicU64>) -> Vec<u64> {
    let mut c = Conn::new(port);
    let mut lat = Vec::new();
    let mut x: u64 = 0x2545f4914f6cdd1d;
    while !stop.load(Ordering::Relaxed) && lat.len() < 20_000_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let key = format!("key:{}", x % keys);
        let t = Instant::now();
        c.cmd(&["SET", &key, "updated-value"]);
        lat.push(t.elapsed().as_micros() as u64);
        count.fetch_add(1, Ordering::Relaxed);
    }
    lat
}

fn measure(server: &Server, keys: u64, idle_secs: u64) -> Figures {
    let mut admin = Conn::new(server.port);
    admin.cmd(&["DEBUG", "POPULATE", &keys.to_string()]);
    std::thread::sleep(Duration::from_millis(500));
    let pid = server.child.id();

    // Idle latency.
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let (s2, c2, port) = (stop.clone(), count.clone(), server.port);
    let idle = std::thread::spawn(move || writer(port, keys, s2, c2));
    std::thread::sleep(Duration::from_secs(idle_secs));
    stop.store(true, Ordering::Relaxed);
    let mut idle_lat = idle.join().expect("idle writer");
    idle_lat.sort_unstable();

    // Latency and memory during BGSAVE.
    let rss_before = tree_rss_kb(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let (s2, c2) = (stop.clone(), count.clone());
    let during = std::thread::spawn(move || writer(port, keys, s2, c2));
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
    stop.store(true, Ordering::Relaxed);
    let mut save_lat = during.join().expect("writer");
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
    let idle_secs: u64 = std::env::var("SNAPSHOT_IDLE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let tandem = start("tandem", env!("CARGO_BIN_EXE_tandem-server"), &[]);
    let t = measure(&tandem, keys, idle_secs);
    drop(tandem);
    let redis = start("redis", "redis-server", &[]);
    let r = measure(&redis, keys, idle_secs);
    drop(redis);
    println!("# BGSAVE of DEBUG POPULATE {keys} while one client writes SET continuously");
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
