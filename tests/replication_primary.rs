//! tandem as a primary with real redis-server 7.0 replicas: full sync
//! (diskless and disk-based), the command stream for every type, PSYNC resume
//! after a link drop, WAIT, and redis-cli --rdb / --replica.

mod common;

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use common::{assert_converged, have, info_field, wait_until, Client, ServerProcess};

fn load_rich(c: &mut Client) {
    c.q(&["DEBUG", "POPULATE", "5000"]);
    for i in 0..200 {
        c.q(&["RPUSH", "list", &format!("e{i}")]);
        c.q(&["HSET", "hash", &format!("f{i}"), &format!("v{i}")]);
        c.q(&["SADD", "set", &format!("m{i}")]);
        c.q(&["ZADD", "zset", &i.to_string(), &format!("z{i}")]);
    }
    c.q(&["SET", "ttl", "v", "EX", "100000"]);
    c.q(&["SELECT", "2"]);
    c.q(&["SET", "db2", "x"]);
    c.q(&["SELECT", "0"]);
}

fn write_every_type(c: &mut Client, round: usize) {
    c.q(&["SET", &format!("s{round}"), "v"]);
    c.q(&["INCR", "counter"]);
    c.q(&["INCRBYFLOAT", "float", "0.1"]);
    c.q(&["APPEND", "app", "x"]);
    c.q(&["SET", &format!("px{round}"), "v", "PX", "100000000"]);
    c.q(&["EXPIRE", &format!("s{round}"), "100000"]);
    c.q(&["LPUSH", "list", "new"]);
    c.q(&["RPOP", "list"]);
    c.q(&["HINCRBYFLOAT", "hash", "f1", "1.5"]);
    c.q(&["SPOP", "set"]);
    c.q(&["ZINCRBY", "zset", "2", "z3"]);
    c.q(&["ZPOPMIN", "zset"]);
    c.q(&["MULTI"]);
    c.q(&["INCR", "tx"]);
    c.q(&["SADD", "txset", "a", "b"]);
    c.q(&["EXEC"]);
    c.q(&["SELECT", "3"]);
    c.q(&["SET", &format!("d3-{round}"), "v"]);
    c.q(&["SELECT", "0"]);
    c.q(&["DEL", "app"]);
}

fn primary_to_redis(diskless: bool) {
    let mode = if diskless { "yes" } else { "no" };
    let tandem = ServerProcess::tandem(&["--repl-diskless-sync", mode]);
    let mut p = tandem.client();
    load_rich(&mut p);
    let port = tandem.port.to_string();
    let Some(redis) = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]) else {
        return;
    };
    let mut r = redis.client();
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    }));
    for round in 0..20 {
        write_every_type(&mut p, round);
    }
    assert_converged(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );
    let target = if diskless { "replicas sockets" } else { "disk" };
    assert!(
        tandem.log().contains(&format!("target: {target}")),
        "{}",
        tandem.log()
    );

    // Drop the link from the replica's side: it must come back with PSYNC.
    r.q(&["CLIENT", "KILL", "TYPE", "master"]);
    for round in 20..30 {
        write_every_type(&mut p, round);
    }
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut p, "stats", "sync_partial_ok").as_deref() == Some("1")
    }));
    assert_converged(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "no second full sync"
    );
    assert!(
        redis
            .log()
            .contains("Successful partial resynchronization with master"),
        "{}",
        redis.log()
    );

    // WAIT counts the replica's acknowledgement.
    p.q(&["SET", "waited", "1"]);
    assert_eq!(p.q(&["WAIT", "1", "5000"]), ":1");
    let role = p.q(&["ROLE"]);
    assert!(role.starts_with("[\"master\", :"), "{role}");
}

#[test]
fn tandem_primary_to_redis_replica_diskless() {
    primary_to_redis(true);
}

#[test]
fn tandem_primary_to_redis_replica_disk_based() {
    primary_to_redis(false);
}

#[test]
fn wait_without_replicas_returns_zero_after_timeout() {
    let tandem = ServerProcess::tandem(&[]);
    let mut c = tandem.client();
    c.q(&["SET", "k", "v"]);
    assert_eq!(c.q(&["WAIT", "0", "0"]), ":0");
    assert_eq!(c.q(&["WAIT", "1", "100"]), ":0");
}

#[test]
fn redis_cli_rdb_and_replica_modes() {
    if !have("redis-cli") {
        return;
    }
    let tandem = ServerProcess::tandem(&[]);
    let mut c = tandem.client();
    load_rich(&mut c);
    let digest = c.q(&["DEBUG", "DIGEST"]);
    let file = tandem.dir.path().join("fetched.rdb");
    let port = tandem.port.to_string();
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--rdb",
            &file.display().to_string(),
        ])
        .output()
        .expect("redis-cli --rdb");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The fetched file loads into a fresh tandem with the same data.
    let dir = common::TempDir::new("fetched");
    std::fs::copy(&file, dir.path().join("dump.rdb")).expect("copy");
    let loaded = ServerProcess::tandem(&["--dir", &dir.path().display().to_string()]);
    assert_eq!(loaded.client().q(&["DEBUG", "DIGEST"]), digest);

    // redis-cli --replica: full sync, then the command stream, printed
    // (line-buffered, read by a thread while the writes go on).
    let mut child = Command::new("stdbuf")
        .args([
            "-oL",
            "-eL",
            "redis-cli",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "--replica",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli --replica");
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut readers = Vec::new();
    let pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("stdout")),
        Box::new(child.stderr.take().expect("stderr")),
    ];
    for mut pipe in pipes {
        let seen = seen.clone();
        readers.push(std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = seen.lock() {
                    s.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }
        }));
    }
    let text = || seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(10), || text().contains("SYNC done")),
        "{}",
        text()
    );
    let ok = wait_until(Duration::from_secs(10), || {
        c.q(&["SET", "streamed", "yes"]);
        text().contains("\"SET\",\"streamed\",\"yes\"")
    });
    // Shown as an online replica, as a real Redis shows redis-cli there.
    let replication = c.q(&["INFO", "replication"]);
    let _ = child.kill();
    let _ = child.wait();
    for r in readers {
        let _ = r.join();
    }
    assert!(ok, "{}", text());
    assert!(
        replication.contains("slave0:") && replication.contains("state=online"),
        "{replication}"
    );
}

/// A frozen replica while the primary writes far more than its backlog.
/// With `cut_link` its link is also dropped meanwhile (the link is down for
/// longer than the backlog covers); otherwise it stays connected and only
/// the output-buffer limit can cut it off (a connected replica's unsent
/// stream is kept, as in Redis 7's shared replication buffer).
fn slow_replica_scenario(primary_args: &[&str], cut_link: bool, expect_in_log: &str) {
    let primary = ServerProcess::tandem(primary_args);
    let mut p = primary.client();
    p.q(&["SET", "before", "1"]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    }));
    drop(r);
    // Freeze the replica and write far more than the backlog, the output
    // limit and the socket buffers hold.
    replica.signal("STOP");
    if cut_link {
        assert_eq!(p.q(&["CLIENT", "KILL", "TYPE", "replica"]), ":1");
    }
    let value = "x".repeat(10_000);
    for i in 0..3000 {
        p.q(&["SET", &format!("big{}", i % 100), &value]);
    }
    replica.signal("CONT");
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);
    let full: u64 = info_field(&mut p, "stats", "sync_full")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        full >= 2,
        "the replica had to resync fully, sync_full={full}"
    );
    let log = primary.log();
    assert!(
        log.contains(expect_in_log),
        "primary log lacks {expect_in_log:?}:\n{log}"
    );
}

#[test]
fn replica_behind_the_backlog_resyncs_fully_and_the_log_says_why() {
    slow_replica_scenario(
        &["--repl-backlog-size", "16kb"],
        true,
        "for lack of backlog",
    );
}

#[test]
fn replica_past_its_output_limit_is_cut_off_and_recovers() {
    slow_replica_scenario(
        &["--client-output-buffer-limit", "replica 256kb 0 0"],
        false,
        "overcoming of output buffer limits",
    );
}

#[test]
fn min_replicas_to_write_and_backlog_ttl() {
    let primary =
        ServerProcess::tandem(&["--min-replicas-to-write", "1", "--repl-backlog-ttl", "1"]);
    let mut p = primary.client();
    assert_eq!(
        p.q(&["SET", "k", "v"]),
        "-NOREPLICAS Not enough good replicas to write."
    );
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    assert!(wait_until(Duration::from_secs(20), || p
        .q(&["SET", "k", "v"])
        == "+OK"));
    assert_eq!(
        info_field(&mut p, "replication", "repl_backlog_active").as_deref(),
        Some("1")
    );
    drop(replica);
    // Without replicas the writes are refused again and, after the TTL, the
    // backlog is freed.
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut p, "replication", "repl_backlog_active").as_deref() == Some("0")
    }));
    assert!(
        primary
            .log()
            .contains("Replication backlog freed after 1 seconds"),
        "{}",
        primary.log()
    );
}

fn replica_omem(p: &mut Client) -> u64 {
    let list = p.q(&["CLIENT", "LIST", "TYPE", "replica"]);
    list.split_whitespace()
        .find_map(|f| f.strip_prefix("omem="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn client_list_shows_a_lagging_replicas_pending_stream_as_omem() {
    let primary = ServerProcess::tandem(&["--repl-backlog-size", "128mb"]);
    let mut p = primary.client();
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);
    drop(r);
    replica.signal("STOP");
    // 40 MB: far more than loopback socket buffers absorb.
    let value = "x".repeat(10_000);
    for i in 0..4000 {
        p.q(&["SET", &format!("big{}", i % 100), &value]);
    }
    let lagging = wait_until(Duration::from_secs(10), || replica_omem(&mut p) > 1_000_000);
    let omem = replica_omem(&mut p);
    let clients = p.q(&["CLIENT", "LIST"]);
    replica.signal("CONT");
    assert!(
        lagging,
        "omem={omem}\n{clients}\nprimary log:\n{}\nreplica log:\n{}",
        primary.log(),
        replica.log()
    );
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);
    assert!(
        wait_until(Duration::from_secs(10), || replica_omem(&mut p) == 0),
        "omem back to 0 once the replica caught up"
    );
}

/// Writes while a full sync is in flight outrun the 1 MB default ring; the
/// primary must keep what the syncing replica still needs (growing the ring,
/// as Redis 7 keeps it in its replication buffer) instead of cutting the
/// replica off into another full sync, and shrink back afterwards.
fn full_sync_under_writes(replica_flavor: common::Flavor) {
    // 50k keys at 40 µs each: a snapshot of about 2 s.
    let primary = ServerProcess::tandem(&["--rdb-key-save-delay", "40"]);
    let mut p = primary.client();
    p.q(&["DEBUG", "POPULATE", "50000"]);
    let port = primary.port.to_string();
    let replica = match replica_flavor {
        common::Flavor::Tandem => ServerProcess::tandem(&[]),
        common::Flavor::Redis => match ServerProcess::redis(&[]) {
            Some(r) => r,
            None => return,
        },
    };
    let mut r = replica.client();
    assert_eq!(r.q(&["REPLICAOF", "127.0.0.1", &port]), "+OK");
    // Write about 8 MB while the sync runs (bounded in count and time).
    let value = "w".repeat(8_000);
    let started = std::time::Instant::now();
    let mut written = 0;
    while written < 1000 && started.elapsed() < Duration::from_secs(20) {
        p.q(&["SET", &format!("w{}", written % 50), &value]);
        written += 1;
    }
    assert_converged(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "one full sync, not a loop of them:\n{}",
        primary.log()
    );
    assert!(
        primary.log().contains("Replication backlog grown"),
        "{}",
        primary.log()
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            info_field(&mut p, "replication", "repl_backlog_size").as_deref() == Some("1048576")
        }),
        "the ring returns to repl-backlog-size once the replica caught up"
    );
}

#[test]
fn full_sync_under_writes_keeps_the_stream_for_a_tandem_replica() {
    full_sync_under_writes(common::Flavor::Tandem);
}

#[test]
fn full_sync_under_writes_keeps_the_stream_for_a_redis_replica() {
    full_sync_under_writes(common::Flavor::Redis);
}

#[test]
fn replicas_arriving_within_the_delay_share_one_diskless_snapshot() {
    // A long delay, but the sync starts as soon as two replicas wait.
    let primary = ServerProcess::tandem(&[
        "--repl-diskless-sync-delay",
        "60",
        "--repl-diskless-sync-max-replicas",
        "2",
    ]);
    let mut p = primary.client();
    load_rich(&mut p);
    let port = primary.port.to_string();
    let first = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    // The first waits for company (Redis's wait_bgsave state).
    assert!(wait_until(Duration::from_secs(10), || {
        p.q(&["INFO", "replication"]).contains("state=wait_bgsave")
    }));
    p.q(&["SET", "written-while-waiting", "1"]);
    let second = match ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]) {
        Some(redis) => redis,
        None => ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]),
    };
    let started = std::time::Instant::now();
    let (mut r1, mut r2) = (first.client(), second.client());
    assert_converged(&mut p, &mut r1);
    assert_converged(&mut p, &mut r2);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "max-replicas started the sync without waiting out the delay"
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("2")
    );
    let log = primary.log();
    assert_eq!(
        log.matches("Starting BGSAVE for SYNC").count(),
        1,
        "one snapshot for both:\n{log}"
    );
    assert!(log.contains("(2 replicas)"), "{log}");
}

#[test]
fn a_silent_replica_is_dropped_after_repl_timeout_and_resumes_with_psync() {
    let primary = ServerProcess::tandem(&["--repl-timeout", "2"]);
    let mut p = primary.client();
    p.q(&["SET", "before", "1"]);
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);
    drop(r);
    replica.signal("STOP");
    let dropped = wait_until(Duration::from_secs(15), || {
        primary.log().contains("Disconnecting timedout replica")
    });
    p.q(&["SET", "while-frozen", "1"]);
    replica.signal("CONT");
    assert!(dropped, "{}", primary.log());
    let mut r = replica.client();
    assert_converged(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "it came back with PSYNC"
    );
}
