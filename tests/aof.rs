//! The append-only file against real processes: writes survive a SIGKILL
//! and a restart, BGREWRITEAOF replaces the base and deletes the old files,
//! `appendonly yes` at run time captures the existing data, a torn tail is
//! dropped (or refused), and tandem and redis-server 7.0 load each other's
//! AOF directories.

mod common;

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess, TempDir};

fn load_rich(c: &mut Client) {
    for i in 0..300 {
        c.q(&["SET", &format!("s:{i}"), &format!("value-{i}")]);
        c.q(&["RPUSH", "list", &format!("e{i}")]);
        c.q(&["HSET", "hash", &format!("f{i}"), &format!("v{i}")]);
        c.q(&["SADD", "set", &format!("m{i}")]);
        c.q(&[
            "ZADD",
            "zset",
            &format!("{}", i as f64 / 3.0),
            &format!("z{i}"),
        ]);
    }
    c.q(&["SET", "ttl", "v", "EX", "100000"]);
    c.q(&["INCRBYFLOAT", "float", "1.25"]);
    c.q(&["XADD", "stream", "1-1", "a", "1"]);
    c.q(&["XGROUP", "CREATE", "stream", "g", "0"]);
    c.q(&["MULTI"]);
    c.q(&["INCR", "counter"]);
    c.q(&["LPUSH", "list", "head"]);
    assert!(c.q(&["EXEC"]).starts_with('['));
    c.q(&["SELECT", "3"]);
    c.q(&["SET", "in-db-3", "x"]);
    c.q(&["SELECT", "0"]);
    c.q(&["DEL", "s:0"]);
}

fn digest(c: &mut Client) -> String {
    c.q(&["DEBUG", "DIGEST"])
}

fn wait_rewrite_done(c: &mut Client) {
    assert!(wait_until(Duration::from_secs(30), || {
        info_field(c, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
    }));
    assert_eq!(
        info_field(c, "persistence", "aof_last_bgrewrite_status").as_deref(),
        Some("ok")
    );
}

fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
        .expect("the manifest exists")
}

fn kill_hard(s: &mut ServerProcess) {
    s.signal("KILL");
    assert!(s.wait_exit(Duration::from_secs(10)).is_some());
}

#[test]
fn writes_survive_sigkill_restart_and_rewrite() {
    let dir = TempDir::new("aof-kill");
    let d = dir.path().display().to_string();
    let mut s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    assert_eq!(
        info_field(&mut c, "persistence", "aof_enabled").as_deref(),
        Some("1")
    );
    load_rich(&mut c);
    let before = digest(&mut c);
    assert!(manifest(dir.path()).contains("appendonly.aof.1.incr.aof seq 1 type i"));
    kill_hard(&mut s);

    let mut s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    assert_eq!(digest(&mut c), before, "the AOF replays every write");
    let ttl: i64 = c.q(&["TTL", "ttl"])[1..].parse().unwrap_or(-1);
    assert!((99_000..=100_000).contains(&ttl), "ttl {ttl}");

    assert_eq!(
        c.q(&["BGREWRITEAOF"]),
        "+Background append only file rewriting started"
    );
    wait_rewrite_done(&mut c);
    let m = manifest(dir.path());
    assert!(m.contains("appendonly.aof.2.base.rdb seq 2 type b"), "{m}");
    assert!(m.contains("appendonly.aof.2.incr.aof seq 2 type i"), "{m}");
    assert!(!m.contains(".1."), "old files leave the manifest: {m}");
    assert!(!dir
        .path()
        .join("appendonlydir/appendonly.aof.1.incr.aof")
        .exists());
    c.q(&["SET", "after-rewrite", "1"]);
    c.q(&["HDEL", "hash", "f1"]);
    let before = digest(&mut c);
    kill_hard(&mut s);

    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    assert_eq!(digest(&mut c), before, "new base plus new increment");
    // DEBUG LOADAOF reloads the same data.
    assert_eq!(c.q(&["DEBUG", "LOADAOF"]), "+OK");
    assert_eq!(digest(&mut c), before);
}

#[test]
fn appendonly_turned_on_at_run_time_keeps_existing_data() {
    let dir = TempDir::new("aof-runtime");
    let d = dir.path().display().to_string();
    let s = ServerProcess::tandem(&["--dir", &d]);
    let mut c = s.client();
    load_rich(&mut c);
    assert_eq!(c.q(&["CONFIG", "SET", "appendonly", "yes"]), "+OK");
    wait_rewrite_done(&mut c);
    c.q(&["SET", "later", "1"]);
    let before = digest(&mut c);
    // Off again: the file stays as it was, later writes are not recorded.
    assert_eq!(c.q(&["CONFIG", "SET", "appendonly", "no"]), "+OK");
    c.q(&["SET", "unrecorded", "1"]);
    drop(c);
    drop(s);
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    assert_eq!(digest(&mut s.client()), before);
}

#[test]
fn torn_tail_is_dropped_or_refused() {
    let dir = TempDir::new("aof-torn");
    let d = dir.path().display().to_string();
    let mut s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    c.q(&["SET", "kept", "1"]);
    let before = digest(&mut c);
    kill_hard(&mut s);
    let incr = dir.path().join("appendonlydir/appendonly.aof.1.incr.aof");
    let whole = std::fs::metadata(&incr).expect("incr file").len();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&incr)
        .and_then(|mut f| f.write_all(b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$5\r\nva"))
        .expect("append a torn command");

    // aof-load-truncated no: the server refuses to start and says why.
    let log = dir.path().join("refused.log");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_tandem-server"))
        .args([
            "--port",
            &common::free_port().to_string(),
            "--dir",
            &d,
            "--appendonly",
            "yes",
            "--aof-load-truncated",
            "no",
            "--logfile",
            &log.display().to_string(),
        ])
        .status()
        .expect("run tandem-server");
    assert!(!status.success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(text.contains("appendonly.aof.1.incr.aof"), "{text}");

    // The default loads what is whole and cuts the file there.
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    assert_eq!(digest(&mut c), before);
    assert_eq!(c.q(&["EXISTS", "torn"]), ":0");
    assert_eq!(std::fs::metadata(&incr).expect("incr").len(), whole);
    assert!(s.log().contains("short read"), "{}", s.log());
}

#[test]
fn tandem_and_redis_load_each_others_aof() {
    // tandem writes (a base from a rewrite, then an increment) ...
    let dir = TempDir::new("aof-interop-t");
    let d = dir.path().display().to_string();
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    load_rich(&mut c);
    c.q(&["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    c.q(&["SET", "tail", "1"]);
    c.q(&["SELECT", "3"]);
    c.q(&["SET", "tail3", "1"]);
    let ours = digest(&mut c);
    drop(c);
    drop(s);
    // ... and redis-server 7.0 loads it.
    let Some(redis) = ServerProcess::redis(&["--dir", &d, "--appendonly", "yes"]) else {
        return;
    };
    assert_eq!(
        digest(&mut redis.client()),
        ours,
        "redis-server loads tandem's AOF"
    );
    drop(redis);

    // redis-server writes ...
    let dir = TempDir::new("aof-interop-r");
    let d = dir.path().display().to_string();
    let Some(redis) = ServerProcess::redis(&["--dir", &d, "--appendonly", "yes"]) else {
        return;
    };
    let mut c = redis.client();
    load_rich(&mut c);
    c.q(&["BGREWRITEAOF"]);
    wait_rewrite_done(&mut c);
    c.q(&["SET", "tail", "1"]);
    let theirs = digest(&mut c);
    // (redis writes its AOF in the event loop: wait for a second's fsync.)
    std::thread::sleep(Duration::from_millis(1100));
    drop(c);
    drop(redis);
    // ... and tandem loads it.
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    assert_eq!(
        digest(&mut s.client()),
        theirs,
        "tandem loads redis-server's AOF"
    );
}

/// `appendonly no` during a slow rewrite stops its writer, as Redis kills
/// its rewrite child: the log says so, the temporary file goes, and a
/// rewrite started afterwards produces a base that restores the data.
#[test]
fn turning_aof_off_cancels_a_running_rewrite() {
    let dir = TempDir::new("aof-cancel");
    let d = dir.path().display().to_string();
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = s.client();
    wait_rewrite_done(&mut c);
    for i in 0..20 {
        c.q(&["SET", &format!("k{i}"), "v"]);
    }
    // One second per key: the rewrite would take 20 seconds.
    assert_eq!(
        c.q(&["CONFIG", "SET", "rdb-key-save-delay", "1000000"]),
        "+OK"
    );
    assert!(c.q(&["BGREWRITEAOF"]).contains("rewriting started"));
    let temp_files = || {
        std::fs::read_dir(dir.path().join("appendonlydir"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(5), || temp_files() == 1));
    assert_eq!(c.q(&["CONFIG", "SET", "appendonly", "no"]), "+OK");
    assert!(
        wait_until(Duration::from_secs(5), || temp_files() == 0),
        "the abandoned rewrite left its file"
    );
    assert!(
        s.log().contains("Killing running AOF rewrite child"),
        "{}",
        s.log()
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_rewrite_in_progress").as_deref(),
        Some("0")
    );

    assert_eq!(c.q(&["CONFIG", "SET", "rdb-key-save-delay", "0"]), "+OK");
    c.q(&["SET", "after", "1"]);
    assert_eq!(c.q(&["CONFIG", "SET", "appendonly", "yes"]), "+OK");
    wait_rewrite_done(&mut c);
    let before = digest(&mut c);
    drop(c);
    drop(s);
    let s = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    assert_eq!(digest(&mut s.client()), before);
}

#[test]
fn bgrewriteaof_with_the_aof_off_writes_a_base_alone() {
    let dir = TempDir::new("aof-base-alone");
    let d = dir.path().display().to_string();
    let s = ServerProcess::tandem(&["--dir", &d]);
    let mut c = s.client();
    let library = "#!lua name=lib\nredis.register_function('one', function() return 1 end)";
    assert_eq!(c.q(&["FUNCTION", "LOAD", library]), "\"lib\"");
    c.q(&["SET", "k", "v"]);
    assert!(c.q(&["BGREWRITEAOF"]).contains("rewriting started"));
    wait_rewrite_done(&mut c);
    let written = manifest(dir.path());
    assert!(written.contains("type b"), "{written}");
    assert!(
        !written.contains("type i"),
        "recording stayed off: {written}"
    );
    assert_eq!(
        info_field(&mut c, "persistence", "aof_enabled").as_deref(),
        Some("0")
    );

    // The base holds the functions and the keys as they were.
    assert_eq!(c.q(&["FUNCTION", "FLUSH"]), "+OK");
    c.q(&["SET", "k", "changed"]);
    assert_eq!(c.q(&["DEBUG", "LOADAOF"]), "+OK");
    assert_eq!(c.q(&["FCALL", "one", "0"]), ":1");
    assert_eq!(c.q(&["GET", "k"]), "\"v\"");
}
