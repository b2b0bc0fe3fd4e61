//! Side-by-side comparison of tandem and redis-server on this machine.
//!
//! Starts both servers on free loopback ports, runs the same redis-benchmark
//! load against each, one test at a time on both back to back (the first
//! alternating, so drift on a shared machine hits both sides of a pair), and
//! prints per test the median throughput of each over the rounds and the
//! median of the per-round ratios tandem/redis. Then reports the idle RSS
//! of each server and the RSS after `DEBUG POPULATE 1000000`, and the memory
//! per element of each aggregate type, small (compact encodings: 2000 keys of
//! 64 elements) and large (one key of 200000), as the growth of INFO
//! `used_memory` (allocator bytes: jemalloc for tandem, zmalloc for redis)
//! divided by the element count. COMPARE_MEMORY=0 skips that part.
//!
//! Run: `cargo bench --bench compare` (needs redis-server and redis-benchmark).
//! Knobs: COMPARE_N (requests per test, default 1000000), COMPARE_ROUNDS
//! (default 1), COMPARE_TESTS (default "set,get,incr,mset"), COMPARE_PIPELINES
//! (default "1,16"), COMPARE_CLIENTS (default 50), COMPARE_POPULATE (default 1000000),
//! COMPARE_MEMORY (default 1).

mod support;

use support::{env_or, median, redis_benchmark, rss_kb, start, Server};

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Sends `commands` (RESP) through `redis-cli --pipe`; panics unless every
/// reply came back without an error.
fn pipe(port: u16, commands: &[u8]) {
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli --pipe");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(commands)
        .expect("write the pipe");
    let out = child.wait_with_output().expect("redis-cli --pipe");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0"), "redis-cli --pipe: {text}");
}

fn resp(args: &[String]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn used_memory(port: u16) -> i64 {
    cli(port, &["INFO", "memory"])
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("INFO memory used_memory")
}

/// The commands that build `keys` keys of `per_key` elements of one type,
/// 64 elements per command.
fn build_type(kind: &str, keys: usize, per_key: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for k in 0..keys {
        let key = format!("{kind}:{k}");
        let mut i = 0;
        while i < per_key {
            let end = (i + 64).min(per_key);
            let mut args = vec![String::new(), key.clone()];
            for e in i..end {
                let elem = format!("element:{e:08}");
                match kind {
                    "list" => {
                        args[0] = "RPUSH".into();
                        args.push(elem);
                    }
                    "hash" => {
                        args[0] = "HSET".into();
                        args.push(elem);
                        args.push(format!("value:{e}"));
                    }
                    "set" => {
                        args[0] = "SADD".into();
                        args.push(elem);
                    }
                    "intset" => {
                        args[0] = "SADD".into();
                        args.push((e as u64 * 7919).to_string());
                    }
                    _ => {
                        args[0] = "ZADD".into();
                        args.push(format!("{}", (e as u64 * 7919) % 1_000_003));
                        args.push(elem);
                    }
                }
            }
            out.extend(resp(&args));
            i = end;
        }
    }
    out
}

/// Bytes of `used_memory` per element, per type and size, for both servers.
fn memory_per_element(tandem: &Server, redis: &Server) {
    println!(
        "\n{:<28} {:>12} {:>12} {:>7}",
        "used_memory per element (B)", "tandem", "redis", "ratio"
    );
    for kind in ["list", "hash", "set", "intset", "zset"] {
        for (label, keys, per_key) in [("small", 2000, 64), ("large", 1, 200_000)] {
            let commands = build_type(kind, keys, per_key);
            let mut per_element = [0.0; 2];
            for (i, server) in [tandem, redis].into_iter().enumerate() {
                cli(server.port, &["FLUSHALL"]);
                let before = used_memory(server.port);
                pipe(server.port, &commands);
                let after = used_memory(server.port);
                per_element[i] = (after - before) as f64 / (keys * per_key) as f64;
                cli(server.port, &["FLUSHALL"]);
            }
            let encoding = {
                cli(tandem.port, &["FLUSHALL"]);
                pipe(tandem.port, &build_type(kind, 1, per_key));
                let e = cli(tandem.port, &["OBJECT", "ENCODING", &format!("{kind}:0")]);
                cli(tandem.port, &["FLUSHALL"]);
                e
            };
            println!(
                "{:<28} {:>12.1} {:>12.1} {:>7.2}",
                format!("{kind} {label} ({encoding})"),
                per_element[0],
                per_element[1],
                per_element[0] / per_element[1].max(0.001)
            );
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful:
    // only run the comparison when invoked as a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tandem_bin = env!("CARGO_BIN_EXE_tandem-server");
    let n = env_or("COMPARE_N", "1000000");
    let rounds: usize = env_or("COMPARE_ROUNDS", "1").parse().unwrap_or(1);
    let tests = env_or("COMPARE_TESTS", "set,get,incr,mset");
    let pipelines = env_or("COMPARE_PIPELINES", "1,16");
    let clients = env_or("COMPARE_CLIENTS", "50");
    let populate = env_or("COMPARE_POPULATE", "1000000");

    let tandem = start("tandem", tandem_bin, &["--appendonly", "no"]);
    let redis = start("redis", "redis-server", &["--appendonly", "no"]);
    println!("# tandem vs redis-server: redis-benchmark -t {tests} -n {n} -c {clients} -r 100000");
    println!(
        "{:<16} {:>4} {:>14} {:>14} {:>7}",
        "test", "P", "tandem rps", "redis rps", "ratio"
    );
    for p in pipelines.split(',') {
        // Per test: (tandem, redis) requests/s of each round.
        let mut samples: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for round in 0..rounds {
            for server in [&tandem, &redis] {
                cli(server.port, &["FLUSHALL"]);
            }
            // One test at a time on both servers back to back, the first
            // alternating: a burst of load from elsewhere on the machine then
            // hits both sides of a pair. Both servers see the same sequence
            // of tests, so they hold the same data at each step.
            for (i, test) in tests.split(',').enumerate() {
                let order: [&Server; 2] = if (round + i) % 2 == 0 {
                    [&tandem, &redis]
                } else {
                    [&redis, &tandem]
                };
                let mut results: BTreeMap<String, (f64, f64)> = BTreeMap::new();
                for server in order {
                    for (name, rps) in redis_benchmark(server.port, test, &n, &clients, p) {
                        let e = results.entry(name).or_default();
                        if server.name == "tandem" {
                            e.0 = rps;
                        } else {
                            e.1 = rps;
                        }
                    }
                }
                for (name, pair) in results {
                    samples.entry(name).or_default().push(pair);
                }
            }
        }
        for (test, pairs) in samples {
            let t = median(&pairs.iter().map(|x| x.0).collect::<Vec<_>>());
            let r = median(&pairs.iter().map(|x| x.1).collect::<Vec<_>>());
            let ratio = median(
                &pairs
                    .iter()
                    .map(|(t, r)| if *r > 0.0 { t / r } else { 0.0 })
                    .collect::<Vec<_>>(),
            );
            println!("{test:<16} {p:>4} {t:>14.0} {r:>14.0} {ratio:>7.2}");
        }
    }
    for server in [&tandem, &redis] {
        cli(server.port, &["FLUSHALL"]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let idle = (rss_kb(tandem.child.id()), rss_kb(redis.child.id()));
    for server in [&tandem, &redis] {
        cli(server.port, &["DEBUG", "POPULATE", &populate]);
    }
    std::thread::sleep(Duration::from_millis(500));
    let full = (rss_kb(tandem.child.id()), rss_kb(redis.child.id()));
    println!(
        "\n{:<28} {:>12} {:>12} {:>7}",
        "RSS (KiB)", "tandem", "redis", "ratio"
    );
    println!(
        "{:<28} {:>12} {:>12} {:>7.2}",
        "idle",
        idle.0,
        idle.1,
        idle.0 as f64 / idle.1.max(1) as f64
    );
    println!(
        "{:<28} {:>12} {:>12} {:>7.2}",
        format!("after DEBUG POPULATE {populate}"),
        full.0,
        full.1,
        full.0 as f64 / full.1.max(1) as f64
    );
    if env_or("COMPARE_MEMORY", "1") != "0" {
        memory_per_element(&tandem, &redis);
    }
}
