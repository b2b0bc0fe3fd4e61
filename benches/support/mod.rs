//! Shared by the side-by-side benches: servers on free loopback ports in
//! scratch directories, killed by PID when dropped; a minimal RESP client;
//! RSS/PSS readings of a server and its forked children; a continuous SET
//! writer that records every write's latency; redis-benchmark runs.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A server process started by a bench.
pub(crate) struct Server {
    pub(crate) name: &'static str,
    pub(crate) port: u16,
    pub(crate) child: Child,
    pub(crate) dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Makes scratch directories unique when a bench runs several servers.
static NEXT_DIR: AtomicUsize = AtomicUsize::new(0);

/// Starts `program` (tandem-server or redis-server) with debug commands on,
/// no save points, and `extra` directives; waits until it accepts connections.
pub(crate) fn start(name: &'static str, program: &str, extra: &[&str]) -> Server {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!(
        "tandem-bench-{name}-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let child = Command::new(program)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args([
            "--dir",
            &dir.display().to_string(),
            "--enable-debug-command",
            "yes",
        ])
        .args(["--logfile", ""])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {program}: {e}"));
    // Owned from here, so a panic below still kills it.
    let server = Server {
        name,
        port,
        child,
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{name} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// The environment variable `name`, or `default`.
pub(crate) fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The environment variable `name` parsed, or `default` when unset or unparsable.
pub(crate) fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// VmRSS of a process in KiB (0 if it cannot be read).
pub(crate) fn rss_kb(pid: u32) -> u64 {
    status_field_kb(&format!("/proc/{pid}/status"), "VmRSS:")
}

/// Pss of a process in KiB (0 if it cannot be read): pages shared with a
/// forked child count half in each, so a sum over parent and child is the
/// memory the pair really holds. Costlier to read than VmRSS (the kernel
/// walks the page tables).
pub(crate) fn pss_kb(pid: u32) -> u64 {
    status_field_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss:")
}

fn status_field_kb(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Direct children of `pid`, forked from any of its threads.
pub(crate) fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok()),
        );
    }
    out
}

/// RSS of `pid` plus every direct child (redis forks for BGSAVE and full sync).
/// A child's RSS includes pages it still shares with the parent, so for a
/// fork this overstates the memory really added; see [`tree_pss_kb`].
pub(crate) fn tree_rss_kb(pid: u32) -> u64 {
    rss_kb(pid) + children(pid).into_iter().map(rss_kb).sum::<u64>()
}

/// PSS of `pid` plus every direct child.
pub(crate) fn tree_pss_kb(pid: u32) -> u64 {
    pss_kb(pid) + children(pid).into_iter().map(pss_kb).sum::<u64>()
}

/// The `p` quantile (0..=1) of sorted values, 0 when empty.
pub(crate) fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// The median, 0 when empty.
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// A minimal RESP client: sends a command, reads one reply line (and a bulk
/// body when there is one), returns the text. Reads time out after five
/// minutes, so a stuck server fails the bench instead of hanging it.
pub(crate) struct Conn(TcpStream);

impl Conn {
    pub(crate) fn new(port: u16) -> Conn {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_nodelay(true).ok();
        s.set_read_timeout(Some(Duration::from_secs(300))).ok();
        Conn(s)
    }

    pub(crate) fn cmd(&mut self, args: &[&str]) -> String {
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

    /// `INFO section` as `field -> value`.
    pub(crate) fn info(&mut self, section: &str) -> BTreeMap<String, String> {
        self.cmd(&["INFO", section])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect()
    }

    pub(crate) fn info_field(&mut self, section: &str, field: &str) -> Option<String> {
        self.info(section).remove(field)
    }
}

/// One write of a [`Writer`]: when it was sent (since the writer's base
/// instant) and how long the reply took, in microseconds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sample {
    pub(crate) at: Duration,
    pub(crate) us: u64,
}

/// A thread writing `SET key:<random below keys> updated-value` back to back
/// on one connection (the keys `DEBUG POPULATE` makes), timing each write.
pub(crate) struct Writer {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Sample>>,
}

impl Writer {
    /// Most samples kept (16 bytes each).
    const MAX_SAMPLES: usize = 20_000_000;

    pub(crate) fn start(port: u16, keys: u64, base: Instant) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut c = Conn::new(port);
            let mut samples = Vec::new();
            let mut x: u64 = 0x2545f4914f6cdd1d;
            while !flag.load(Ordering::Relaxed) && samples.len() < Self::MAX_SAMPLES {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let key = format!("key:{}", x % keys.max(1));
                let t = Instant::now();
                c.cmd(&["SET", &key, "updated-value"]);
                samples.push(Sample {
                    at: t - base,
                    us: t.elapsed().as_micros() as u64,
                });
            }
            samples
        });
        Writer { stop, handle }
    }

    /// Stops the writer and returns its samples in order.
    pub(crate) fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("writer thread")
    }
}

/// Sorted latencies (µs) of the samples sent in `from..to`.
pub(crate) fn latencies_between(samples: &[Sample], from: Duration, to: Duration) -> Vec<u64> {
    let mut v: Vec<u64> = samples
        .iter()
        .filter(|s| s.at >= from && s.at < to)
        .map(|s| s.us)
        .collect();
    v.sort_unstable();
    v
}

/// Runs redis-benchmark (`-r 100000`) and returns requests/second per test name.
pub(crate) fn redis_benchmark(
    port: u16,
    tests: &str,
    n: &str,
    clients: &str,
    pipeline: &str,
) -> BTreeMap<String, f64> {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--csv"])
        .args([
            "-t", tests, "-n", n, "-c", clients, "-P", pipeline, "-r", "100000",
        ])
        .output()
        .expect("redis-benchmark");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut results = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').map(|f| f.trim_matches('"')).collect();
        if fields.len() >= 2 {
            if let Ok(rps) = fields[1].parse::<f64>() {
                results.insert(fields[0].to_string(), rps);
            }
        }
    }
    results
}
