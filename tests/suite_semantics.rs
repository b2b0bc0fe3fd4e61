//! Behaviours that Redis's own test suite (tests/unit, tests/integration of
//! redis 7.0) checks and tandem once got wrong, each shown here against real
//! processes, and compared live with redis-server where the answer is
//! deterministic.

mod common;

use std::time::Duration;

use common::{info_field, render, wait_until, Client, Flavor, ServerProcess, TempDir};
use tandem_server::resp::Frame;

fn stat(c: &mut Client, field: &str) -> u64 {
    info_field(c, "stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

/// WATCH of keys with a TTL: a key live at WATCH and expired by EXEC breaks
/// the transaction even if nothing deleted it yet; a key already stale at
/// WATCH does not, even when a lookup deletes it meanwhile.
fn expiring_watch_scenarios(s: &ServerProcess) -> Vec<(&'static str, String)> {
    let mut c = s.client();
    c.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    let mut out = Vec::new();

    c.q(&["SET", "live", "1", "PX", "60"]);
    c.q(&["WATCH", "live"]);
    std::thread::sleep(Duration::from_millis(120));
    c.q(&["MULTI"]);
    c.q(&["INCR", "live"]);
    out.push(("expired after WATCH", c.q(&["EXEC"])));

    c.q(&["SET", "stale", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    c.q(&["WATCH", "stale"]);
    out.push(("lookup of the stale key", c.q(&["EXISTS", "stale"])));
    c.q(&["MULTI"]);
    c.q(&["PING"]);
    out.push(("stale key deleted by a lookup", c.q(&["EXEC"])));

    c.q(&["SET", "stale2", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    c.q(&["WATCH", "stale2"]);
    c.q(&["SET", "stale2", "again"]);
    c.q(&["MULTI"]);
    c.q(&["PING"]);
    out.push(("stale key written again", c.q(&["EXEC"])));

    // SWAPDB bringing a stale key where the watched one was missing.
    c.q(&["SELECT", "2"]);
    c.q(&["SET", "swapped", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    c.q(&["SELECT", "3"]);
    c.q(&["WATCH", "swapped"]);
    c.q(&["SWAPDB", "2", "3"]);
    c.q(&["MULTI"]);
    c.q(&["PING"]);
    out.push(("missing key swapped for a stale one", c.q(&["EXEC"])));
    // ... and for a live one.
    c.q(&["SELECT", "2"]);
    c.q(&["SET", "swapped_live", "1"]);
    c.q(&["SELECT", "3"]);
    c.q(&["WATCH", "swapped_live"]);
    c.q(&["SWAPDB", "2", "3"]);
    c.q(&["MULTI"]);
    c.q(&["PING"]);
    out.push(("missing key swapped for a live one", c.q(&["EXEC"])));
    c.q(&["SELECT", "0"]);
    c.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    out
}

#[test]
fn watch_of_expiring_keys_matches_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let ours = expiring_watch_scenarios(&tandem);
    assert_eq!(
        ours,
        vec![
            ("expired after WATCH", "(nil)".to_string()),
            ("lookup of the stale key", ":0".to_string()),
            ("stale key deleted by a lookup", "[+PONG]".to_string()),
            ("stale key written again", "(nil)".to_string()),
            ("missing key swapped for a stale one", "[+PONG]".to_string()),
            ("missing key swapped for a live one", "(nil)".to_string()),
        ]
    );
    if let Some(redis) = ServerProcess::redis(&[]) {
        assert_eq!(expiring_watch_scenarios(&redis), ours);
    }
}

#[test]
fn a_blocked_pop_ignores_a_key_that_became_another_type() {
    let s = ServerProcess::tandem(&[]);
    let mut waiter = s.client();
    waiter.send(&["BZPOPMIN", "z", "5"]).expect("send");
    let mut c = s.client();
    assert!(wait_until(Duration::from_secs(5), || c
        .q(&["INFO", "clients"])
        .contains("blocked_clients:1")));
    c.q(&["MULTI"]);
    c.q(&["ZADD", "z", "0", "foo"]);
    c.q(&["DEL", "z"]);
    c.q(&["SET", "z", "a string now"]);
    c.q(&["EXEC"]);
    // Still waiting: the key holds a string, not a sorted set.
    assert!(c.q(&["INFO", "clients"]).contains("blocked_clients:1"));
    c.q(&["DEL", "z"]);
    c.q(&["ZADD", "z", "1", "bar"]);
    assert_eq!(
        render(&waiter.read().expect("served")),
        "[\"z\", \"bar\", \"1\"]"
    );
}

#[test]
fn command_getkeys_follows_sort_and_georadius_rules() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    let cases: &[&[&str]] = &[
        &[
            "SORT", "abc", "STORE", "invalid", "STORE", "stillbad", "STORE", "def",
        ],
        &[
            "SORT", "abc", "LIMIT", "0", "1", "BY", "store", "GET", "store", "STORE", "d",
        ],
        &[
            "GEORADIUS",
            "g",
            "0",
            "0",
            "1",
            "km",
            "STORE",
            "a",
            "STOREDIST",
            "b",
        ],
    ];
    let mut ours = Vec::new();
    for args in cases {
        let mut full = vec!["COMMAND", "GETKEYS"];
        full.extend_from_slice(args);
        ours.push(c.q(&full));
    }
    assert_eq!(ours[0], "[\"abc\", \"def\"]");
    assert_eq!(ours[1], "[\"abc\", \"d\"]");
    assert_eq!(ours[2], "[\"g\", \"a\", \"b\"]");
    if let Some(redis) = ServerProcess::redis(&[]) {
        let mut r = redis.client();
        for (args, mine) in cases.iter().zip(&ours) {
            let mut full = vec!["COMMAND", "GETKEYS"];
            full.extend_from_slice(args);
            assert_eq!(&r.q(&full), mine, "{args:?}");
        }
    }
}

#[test]
fn debug_test_hooks_act_as_in_redis() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.q(&["SET", "k", "v"]);
    let Ok(Frame::Bulk(payload)) = c.cmd(&["DUMP", "k"]) else {
        panic!("DUMP gave no payload");
    };
    // Flip one CRC byte: refused, until checksum validation is off.
    let mut bad = payload.to_vec();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    let restore = |c: &mut Client| {
        let mut frame = Vec::new();
        frame.extend_from_slice(b"*4\r\n$7\r\nRESTORE\r\n$2\r\nk2\r\n$1\r\n0\r\n");
        frame.extend_from_slice(format!("${}\r\n", bad.len()).as_bytes());
        frame.extend_from_slice(&bad);
        frame.extend_from_slice(b"\r\n");
        c.send_raw(&frame).expect("send");
        render(&c.read().expect("reply"))
    };
    assert_eq!(
        restore(&mut c),
        "-ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(c.q(&["DEBUG", "SET-SKIP-CHECKSUM-VALIDATION", "1"]), "+OK");
    assert_eq!(restore(&mut c), "+OK");
    assert_eq!(c.q(&["GET", "k2"]), "\"v\"");
    assert_eq!(c.q(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "1b"]), "+OK");
    assert!(c
        .q(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "5gb"])
        .starts_with("-ERR argument must be a memory value"));
    c.q(&["RPUSH", "list", "a", "b"]);
    assert!(c.q(&["DEBUG", "HTSTATS-KEY", "list"]).starts_with(
        "-ERR The value stored at the specified key is not represented using an hash table"
    ));
    for i in 0..200 {
        c.q(&["SADD", "set", &format!("m{i}")]);
    }
    assert!(c
        .q(&["DEBUG", "HTSTATS-KEY", "set"])
        .contains("number of elements: 200"));
}

#[test]
fn client_kill_by_address_drops_the_master_link_and_psync_resumes() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    let mut r = replica.client();
    p.q(&["SET", "a", "1"]);
    common::assert_converged(&mut p, &mut r);
    let addr = format!("127.0.0.1:{port}");
    let list = r.q(&["CLIENT", "LIST"]);
    assert!(
        list.lines()
            .any(|l| l.contains(&format!("addr={addr} ")) && l.contains("flags=M")),
        "{list}"
    );
    assert_eq!(r.q(&["CLIENT", "KILL", &addr]), "+OK");
    p.q(&["SET", "b", "2"]);
    common::assert_converged(&mut p, &mut r);
    assert!(wait_until(Duration::from_secs(10), || stat(
        &mut p,
        "sync_partial_ok"
    ) == 1));
    assert_eq!(stat(&mut p, "sync_full"), 1);
    // CONFIG RESETSTAT clears the sync counters too, as Redis's does.
    assert_eq!(p.q(&["CONFIG", "RESETSTAT"]), "+OK");
    assert_eq!(stat(&mut p, "sync_full"), 0);
    assert_eq!(stat(&mut p, "sync_partial_ok"), 0);
}

#[test]
fn a_writable_replica_expires_the_keys_its_clients_gave_a_ttl() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&[
        "--replicaof",
        "127.0.0.1",
        &port,
        "--replica-read-only",
        "no",
    ]);
    let mut p = primary.client();
    let mut r = replica.client();
    p.q(&["SET", "from-primary", "1"]);
    common::assert_converged(&mut p, &mut r);
    r.q(&["SELECT", "5"]);
    for k in ["k1", "k2", "k3"] {
        assert_eq!(r.q(&["SET", k, "v", "PX", "200"]), "+OK");
    }
    assert_eq!(r.q(&["DBSIZE"]), ":3");
    assert!(
        wait_until(Duration::from_secs(5), || r.q(&["DBSIZE"]) == ":0"),
        "the replica's own keys were never expired"
    );
    r.q(&["SELECT", "0"]);
    assert_eq!(r.q(&["GET", "from-primary"]), "\"1\"");
}

#[test]
fn a_restarted_primary_replicates_the_deletion_of_keys_that_expired_while_down() {
    let data = TempDir::new("expired-while-down");
    let port = common::free_port();
    let start = || {
        ServerProcess::start_at(Flavor::Tandem, port, data.path(), &["--save", "3600 1"])
            .expect("primary starts")
    };
    let mut primary = start();
    let port_s = port.to_string();
    let mut replicas = vec![ServerProcess::tandem(&[
        "--replicaof",
        "127.0.0.1",
        &port_s,
    ])];
    replicas.extend(ServerProcess::redis(&["--replicaof", "127.0.0.1", &port_s]));
    let mut p = primary.client();
    p.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for i in 0..50 {
        p.q(&["SELECT", &(i % 3).to_string()]);
        p.q(&["SET", &format!("short{i}"), "v", "PX", "300"]);
        p.q(&["SET", &format!("kept{i}"), "v"]);
    }
    for r in &replicas {
        common::assert_converged(&mut p, &mut r.client());
    }
    let offset_before: u64 = info_field(&mut p, "replication", "master_repl_offset")
        .and_then(|v| v.parse().ok())
        .expect("offset");
    let _ = p.send(&["SHUTDOWN", "SAVE"]);
    assert!(primary.wait_exit(Duration::from_secs(10)).is_some());
    std::thread::sleep(Duration::from_millis(400));
    primary = start();
    let mut p = primary.client();
    assert_eq!(
        info_field(&mut p, "persistence", "rdb_last_load_keys_expired").as_deref(),
        Some("50")
    );
    for r in &replicas {
        common::assert_converged(&mut p, &mut r.client());
        let mut rc = r.client();
        let keys: u64 = (0..3)
            .map(|db| {
                rc.q(&["SELECT", &db.to_string()]);
                rc.q(&["DBSIZE"])[1..].parse::<u64>().unwrap_or(0)
            })
            .sum();
        assert_eq!(keys, 50, "{:?} still holds expired keys", r.flavor);
    }
    let offset_after: u64 = info_field(&mut p, "replication", "master_repl_offset")
        .and_then(|v| v.parse().ok())
        .expect("offset");
    assert!(offset_after > offset_before, "the DELs were replicated");
    assert_eq!(stat(&mut p, "sync_full"), 0, "{}", primary.log());
    assert_eq!(stat(&mut p, "sync_partial_ok"), replicas.len() as u64);
}

/// INFO errorstats after a sequence of failing calls: each error counted
/// once, where it arose (inside EXEC, inside a script, a script passing on a
/// command's error).
fn error_stats_after_failures(s: &ServerProcess) -> (String, String) {
    let mut c = s.client();
    c.q(&["CONFIG", "RESETSTAT"]);
    c.q(&["AUTH", "k"]);
    c.q(&["MULTI"]);
    c.q(&["SET", "a", "b"]);
    c.q(&["AUTH", "a"]);
    c.q(&["EXEC"]);
    c.q(&["EXEC"]);
    c.q(&["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"]);
    c.q(&["EVAL", "return redis.call('select', 99)", "0"]);
    c.q(&["EVAL", "redis.pcall('select', 99) return 1", "0"]);
    c.q(&["EVAL", "return redis.error_reply('MY own error')", "0"]);
    c.q(&["SET", "s", "x"]);
    c.q(&["LPUSH", "s", "x"]);
    c.q(&["NOSUCHCOMMAND"]);
    c.q(&["GET"]);
    // A blocked pop ended by CLIENT UNBLOCK ... ERROR fails that call.
    let mut blocked = s.client();
    let id = blocked
        .q(&["CLIENT", "ID"])
        .trim_start_matches(':')
        .to_string();
    blocked.send(&["BLPOP", "nolist", "0"]).expect("send BLPOP");
    assert!(
        wait_until(Duration::from_secs(5), || {
            info_field(&mut c, "clients", "blocked_clients").as_deref() == Some("1")
        }),
        "BLPOP did not block"
    );
    assert_eq!(c.q(&["CLIENT", "UNBLOCK", &id, "ERROR"]), ":1");
    let unblocked = blocked.read().expect("the BLPOP reply");
    assert!(
        render(&unblocked).starts_with("-UNBLOCKED"),
        "{}",
        render(&unblocked)
    );
    // cmdstat_blpop without its timings: calls=..,rejected_calls=..,failed_calls=..
    let blpop = c
        .q(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_blpop:"))
        .map(|l| {
            let calls = l.split(',').next().unwrap_or_default();
            let outcome = l.find("rejected").map_or("", |at| &l[at..]);
            format!("{calls},{outcome}")
        })
        .unwrap_or_default();
    let errors = c.q(&["INFO", "errorstats"]) + &blpop;
    let total = info_field(&mut c, "stats", "total_error_replies").unwrap_or_default();
    (errors, total)
}

#[test]
fn error_and_latency_stats_are_reported_as_redis_reports_them() {
    let tandem = ServerProcess::tandem(&[]);
    let (errors, total) = error_stats_after_failures(&tandem);
    assert!(errors.contains("errorstat_ERR:count="), "{errors}");
    assert!(errors.contains("errorstat_WRONGTYPE:count=1"), "{errors}");
    assert!(errors.contains("errorstat_NOSCRIPT:count=1"), "{errors}");
    assert!(errors.contains("errorstat_MY:count=1"), "{errors}");
    assert!(errors.contains("errorstat_UNBLOCKED:count=1"), "{errors}");
    assert!(
        errors.ends_with("calls=1,rejected_calls=0,failed_calls=1"),
        "{errors}"
    );
    if let Some(redis) = ServerProcess::redis(&[]) {
        assert_eq!(error_stats_after_failures(&redis), (errors, total));
    }

    let mut c = tandem.client();
    c.q(&["CONFIG", "RESETSTAT"]);
    c.q(&[
        "CONFIG",
        "SET",
        "latency-tracking-info-percentiles",
        "0 50 99.9",
    ]);
    c.q(&["SET", "k", "v"]);
    c.q(&["DEBUG", "SLEEP", "0.02"]);
    let stats = c.q(&["INFO", "latencystats"]);
    let line = |cmd: &str| {
        stats
            .lines()
            .find(|l| l.starts_with(&format!("latency_percentiles_usec_{cmd}:")))
            .map(str::to_string)
            .unwrap_or_else(|| panic!("no {cmd} line in {stats}"))
    };
    let set = line("set");
    assert!(
        set.contains(":p0=") && set.contains(",p50=") && set.contains(",p99.9="),
        "{set}"
    );
    let debug = line("debug");
    let p50: f64 = debug
        .split("p50=")
        .nth(1)
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.parse().ok())
        .expect("p50 value");
    assert!(p50 >= 20_000.0, "DEBUG SLEEP 0.02 took {p50} µs: {debug}");
    c.q(&["CONFIG", "SET", "latency-tracking", "no"]);
    c.q(&["CONFIG", "RESETSTAT"]);
    c.q(&["GET", "k"]);
    assert!(!c
        .q(&["INFO", "latencystats"])
        .contains("latency_percentiles_usec_get"));
}

#[test]
fn shutdown_waits_for_a_lagging_replica_and_can_be_aborted() {
    let mut primary = ServerProcess::tandem(&["--shutdown-timeout", "30"]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut p = primary.client();
    let mut r = replica.client();
    p.q(&["SET", "k", "1"]);
    common::assert_converged(&mut p, &mut r);

    // A frozen replica cannot acknowledge: SHUTDOWN waits, writes pause.
    replica.signal("STOP");
    p.q(&["INCR", "k"]);
    let mut first = primary.client();
    first.send(&["SHUTDOWN"]).expect("send");
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut p, "server", "shutdown_in_milliseconds")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|ms| ms > 0)
    }));
    assert!(p.q(&["INFO", "clients"]).contains("blocked_clients:1"));
    assert_eq!(p.q(&["SHUTDOWN", "ABORT"]), "+OK");
    assert_eq!(
        render(&first.read().expect("the SHUTDOWN caller is told")),
        "-ERR Errors trying to SHUTDOWN. Check logs."
    );
    assert_eq!(p.q(&["SHUTDOWN", "ABORT"]), "-ERR No shutdown in progress.");
    assert_eq!(p.q(&["INCR", "k"]), ":3", "writes resume after the abort");

    // Again, and this time the replica wakes up: it gets every write first.
    p.q(&["INCR", "k"]);
    let _ = p.send(&["SHUTDOWN", "NOSAVE"]);
    std::thread::sleep(Duration::from_millis(300));
    replica.signal("CONT");
    assert!(
        primary.wait_exit(Duration::from_secs(20)).is_some(),
        "{}",
        primary.log()
    );
    assert_eq!(r.q(&["GET", "k"]), "\"4\"");
    let log = primary.log();
    assert!(
        log.contains("Waiting for replicas before shutting down."),
        "{log}"
    );
    assert!(log.contains("Shutdown manually aborted."), "{log}");
    assert!(
        log.contains("1 of 1 replicas are in sync when shutting down."),
        "{log}"
    );
}

#[test]
fn redis_cli_functions_rdb_holds_the_libraries_and_no_keys() {
    if !common::have("redis-cli") {
        eprintln!("SKIPPED: redis-cli is not installed");
        return;
    }
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.q(&["SET", "k", "v"]);
    assert_eq!(
        c.q(&[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib1\nredis.register_function('f1', function() return 123 end)"
        ]),
        "\"lib1\""
    );
    let out_dir = TempDir::new("functions-rdb");
    let file = out_dir.path().join("dump.rdb");
    let file_s = file.display().to_string();
    let out = s.cli(&["--functions-rdb", &file_s]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Transfer finished with success"), "{text}");
    let dir = out_dir.path().display().to_string();
    let loaded = ServerProcess::tandem(&["--dir", &dir]);
    let mut l = loaded.client();
    assert_eq!(l.q(&["DBSIZE"]), ":0");
    assert_eq!(l.q(&["FCALL", "f1", "0"]), ":123");
}
