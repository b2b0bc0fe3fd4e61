//! Side-by-side comparison of tandem and redis-server on this machine.
//!
//! Starts both servers on free loopback ports, runs the same redis-benchmark
//! load against each (alternating, so drift on a shared machine hits both), and
//! prints each throughput and the ratio tandem/redis. Then reports the idle RSS
//! of each server and the RSS after `DEBUG POPULATE 1000000`.
//!
//! Run: `cargo bench --bench compare` (needs redis-server and redis-benchmark).
//! Knobs: COMPARE_N (requests per test, default 1000000), COMPARE_ROUNDS
//! (default 1), COMPARE_TESTS (default "set,get,incr,mset"), COMPARE_PIPELINES
//! (default "1,16"), COMPARE_CLIENTS (default 50), COMPARE_POPULATE (default 1000000).

mod support;

use support::{env_or, redis_benchmark, rss_kb, start, Server};

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
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
        let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for round in 0..rounds {
            let order: [&Server; 2] = if round % 2 == 0 {
                [&tandem, &redis]
            } else {
                [&redis, &tandem]
            };
            for server in order {
                cli(server.port, &["FLUSHALL"]);
                for (test, rps) in redis_benchmark(server.port, &tests, &n, &clients, p) {
                    let e = sums.entry(test).or_default();
                    if server.name == "tandem" {
                        e.0 += rps;
                    } else {
                        e.1 += rps;
                    }
                }
            }
        }
        for (test, (t, r)) in sums {
            let (t, r) = (t / rounds as f64, r / rounds as f64);
            println!(
                "{test:<16} {p:>4} {t:>14.0} {r:>14.0} {:>7.2}",
                if r > 0.0 { t / r } else { 0.0 }
            );
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
}
