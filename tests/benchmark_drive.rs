//! redis-benchmark, unchanged, drives tandem to completion without errors.

mod common;

use common::{have, ServerProcess};

#[test]
fn redis_benchmark_core_tests_complete_without_errors() {
    assert!(
        have("redis-benchmark"),
        "redis-benchmark must be installed (apt-get install redis-tools)"
    );
    let tandem = ServerProcess::tandem(&[]);
    let out = tandem.cli(&["FLUSHALL"]);
    assert!(out.status.success());
    let port = tandem.port.to_string();
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "-n",
            "20000",
            "-t",
            "ping,set,get,incr,mset",
        ])
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed:\n{stdout}\n{stderr}"
    );
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let line = stdout
            .split(['\r', '\n'])
            .find(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"));
        assert!(line.is_some(), "no result for {test}:\n{stdout}\n{stderr}");
    }
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains("Error") && !all.contains("ERR"),
        "errors reported:\n{all}"
    );
    // Every INCR reached the server: redis-benchmark's INCR key is fixed without -r.
    let mut c = tandem.client();
    assert_eq!(c.q(&["GET", "counter:__rand_int__"]), "\"20000\"");
    // SET and MSET wrote their 3-byte values under the fixed key.
    assert_eq!(c.q(&["STRLEN", "key:__rand_int__"]), ":3");
}

#[test]
fn pipelined_benchmark_completes() {
    assert!(have("redis-benchmark"), "redis-benchmark must be installed");
    let tandem = ServerProcess::tandem(&[]);
    let port = tandem.port.to_string();
    let out = std::process::Command::new("redis-benchmark")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-q",
            "-n",
            "20000",
            "-P",
            "16",
            "-t",
            "set,incr",
            "-r",
            "1000",
        ])
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("SET: ") && stdout.contains("INCR: "),
        "{stdout}"
    );
    let mut c = tandem.client();
    let size: i64 = c.q(&["DBSIZE"])[1..].parse().expect("dbsize");
    assert!(size > 100 && size <= 2000, "dbsize {size}");
}

#[test]
fn full_default_redis_benchmark_suite_completes_without_errors() {
    assert!(have("redis-benchmark"), "redis-benchmark must be installed");
    let tandem = ServerProcess::tandem(&[]);
    let port = tandem.port.to_string();
    let out = std::process::Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port, "-q", "-n", "20000"])
        .output()
        .expect("run redis-benchmark");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "redis-benchmark failed:\n{stdout}\n{stderr}"
    );
    let results: Vec<&str> = stdout
        .split(['\r', '\n'])
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "LPUSH",
        "RPUSH",
        "LPOP",
        "RPOP",
        "SADD",
        "HSET",
        "SPOP",
        "ZADD",
        "ZPOPMIN",
        "LPUSH (needed to benchmark LRANGE)",
        "LRANGE_100 (first 100 elements)",
        "LRANGE_300 (first 300 elements)",
        "LRANGE_500 (first 500 elements)",
        "LRANGE_600 (first 600 elements)",
        "MSET (10 keys)",
    ] {
        assert!(
            results.iter().any(|l| l.starts_with(&format!("{test}: "))),
            "no result line for {test}:\n{stdout}\n{stderr}"
        );
    }
    let all = format!("{stdout}{stderr}");
    assert!(
        !all.contains("Error") && !all.contains("ERR"),
        "errors reported:\n{all}"
    );
    // The list the LRANGE tests read is really there and long enough.
    let mut c = tandem.client();
    let len: i64 = c.q(&["LLEN", "mylist"])[1..].parse().expect("llen");
    assert!(len >= 600, "mylist has {len} elements");
}
