//! RDB persistence against real processes: BGSAVE while clients write, restart
//! and reload, interop with redis-server and redis-check-rdb, refusing corrupt
//! files, saving at shutdown.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{render, wait_until, Client, ServerProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_tandem-server");

fn load_rich(c: &mut Client) {
    for i in 0..2000 {
        c.q(&["SET", &format!("s:{i}"), &format!("value-{i}")]);
    }
    c.q(&["SET", "big", &"lzf-friendly ".repeat(500)]);
    c.q(&["SET", "n", "12345"]);
    c.q(&["SET", "ttl", "v", "EX", "100000"]);
    for i in 0..300 {
        c.q(&["RPUSH", "list", &format!("e{i}")]);
        c.q(&["HSET", "bighash", &format!("f{i}"), &format!("v{i}")]);
        c.q(&["SADD", "bigset", &format!("m{i}")]);
        c.q(&[
            "ZADD",
            "bigzset",
            &format!("{}", i as f64 / 3.0),
            &format!("z{i}"),
        ]);
    }
    c.q(&["HSET", "smallhash", "a", "1", "b", "2"]);
    c.q(&["SADD", "intset", "1", "2", "3"]);
    c.q(&["ZADD", "smallzset", "-inf", "a", "inf", "b", "1.5", "c"]);
    c.q(&["SELECT", "5"]);
    c.q(&["SET", "in-db-5", "x"]);
    c.q(&["SELECT", "0"]);
}

fn digest(c: &mut Client) -> String {
    c.q(&["DEBUG", "DIGEST"])
}

fn wait_bgsave_done(c: &mut Client) {
    assert!(wait_until(Duration::from_secs(60), || {
        c.q(&["INFO", "persistence"])
            .contains("rdb_bgsave_in_progress:0")
    }));
    assert!(c
        .q(&["INFO", "persistence"])
        .contains("rdb_last_bgsave_status:ok"));
}

#[test]
fn bgsave_restart_and_redis_interop() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    load_rich(&mut c);
    let before = digest(&mut c);
    assert_eq!(c.q(&["BGSAVE"]), "+Background saving started");
    wait_bgsave_done(&mut c);
    let file = s.dir.path().join("dump.rdb");
    assert!(file.exists());
    let dir = s.dir.path().display().to_string();

    // tandem restarted on the same file.
    let again = ServerProcess::tandem(&["--dir", &dir]);
    assert_eq!(digest(&mut again.client()), before);
    drop(again);

    common::assert_redis_check_rdb_accepts(&file);
    if let Some(redis) = ServerProcess::redis(&["--dir", &dir]) {
        assert_eq!(
            digest(&mut redis.client()),
            before,
            "redis-server loads tandem's RDB"
        );
    }
}

#[test]
fn tandem_loads_redis_dump() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let mut r = redis.client();
    load_rich(&mut r);
    let theirs = digest(&mut r);
    assert_eq!(r.q(&["SAVE"]), "+OK");
    let dir = redis.dir.path().display().to_string();
    let t = ServerProcess::tandem(&["--dir", &dir]);
    assert_eq!(digest(&mut t.client()), theirs);
}

#[test]
fn snapshot_is_exactly_the_bgsave_instant_under_concurrent_writes() {
    // Stretch the snapshot so writes overlap it even on a loaded machine:
    // 200 µs per key.
    let s = ServerProcess::tandem(&["--rdb-key-save-delay", "200"]);
    let mut c = s.client();
    load_rich(&mut c);
    // The instant: DEBUG DIGEST and BGSAVE run atomically in one transaction.
    c.q(&["MULTI"]);
    c.q(&["DEBUG", "DIGEST"]);
    c.q(&["BGSAVE"]);
    let exec = c.cmd(&["EXEC"]).expect("exec");
    let at_instant = match &exec {
        tandem_server::resp::Frame::Array(items) => render(&items[0]),
        other => panic!("EXEC: {}", render(other)),
    };
    assert!(c
        .q(&["INFO", "persistence"])
        .contains("rdb_bgsave_in_progress:1"));
    // Heavy writes of every type while the snapshot is serialized. A failed
    // command shows the server's log, to tell a crash from a slow machine.
    let mut w = s.client();
    let ask = |c: &mut Client, args: &[&str]| -> String {
        match c.cmd(args) {
            Ok(frame) => render(&frame),
            Err(e) => panic!("{args:?}: {e}\nserver log:\n{}", s.log()),
        }
    };
    let mut rounds = 0;
    while w
        .q(&["INFO", "persistence"])
        .contains("rdb_bgsave_in_progress:1")
        && rounds < 400
    {
        for i in 0..25 {
            let k = (rounds * 25 + i) % 2000;
            ask(&mut w, &["SET", &format!("s:{k}"), "overwritten"]);
            ask(&mut w, &["DEL", &format!("s:{}", (k + 7) % 2000)]);
            ask(
                &mut w,
                &["EXPIRE", &format!("s:{}", (k + 13) % 2000), "5000"],
            );
        }
        ask(&mut w, &["RPUSH", "list", "new"]);
        ask(&mut w, &["LPOP", "list"]);
        ask(&mut w, &["HSET", "bighash", "f1", "changed"]);
        ask(&mut w, &["SREM", "bigset", &format!("m{rounds}")]);
        ask(&mut w, &["ZINCRBY", "bigzset", "10", "z5"]);
        ask(&mut w, &["FLUSHDB"]);
        rounds += 1;
        if rounds == 1 {
            // Recreate what FLUSHDB removed so later rounds keep changing data.
            load_rich(&mut w);
        }
    }
    assert!(rounds > 1, "the writes did not overlap the snapshot");
    wait_bgsave_done(&mut c);
    let after_writes = digest(&mut c);
    assert_ne!(after_writes, at_instant, "the writes changed the dataset");
    let dir = s.dir.path().display().to_string();
    let loaded = ServerProcess::tandem(&["--dir", &dir]);
    assert_eq!(
        digest(&mut loaded.client()),
        at_instant,
        "the file holds exactly the instant"
    );
}

#[test]
fn corrupt_rdb_refuses_to_start_and_names_the_file() {
    let dir = TempDir::new("corrupt");
    let file = dir.path().join("dump.rdb");
    std::fs::write(
        &file,
        b"REDIS0010\xfa\x09redis-ver\x067.0.15\xfe\x00\xfb\x01\x00\x00\x03key",
    )
    .expect("write");
    let port = common::free_port().to_string();
    let out = Command::new(BIN)
        .args([
            "--port",
            &port,
            "--dir",
            &dir.path().display().to_string(),
            "--save",
            "",
        ])
        .output()
        .expect("run");
    assert!(!out.status.success(), "must not start on a corrupt file");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dump.rdb"), "{err}");
}

#[test]
fn shutdown_save_and_sigterm_with_save_points_persist() {
    let mut s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.q(&["SET", "kept", "1"]);
    let _ = c.send(&["SHUTDOWN", "SAVE"]);
    assert!(s.wait_exit(Duration::from_secs(10)).is_some());
    let dir = s.dir.path().display().to_string();
    let mut s2 = ServerProcess::tandem(&["--dir", &dir, "--save", "3600 1"]);
    let mut c2 = s2.client();
    assert_eq!(c2.q(&["GET", "kept"]), "\"1\"");
    c2.q(&["SET", "also", "2"]);
    s2.signal("TERM");
    assert!(s2.wait_exit(Duration::from_secs(10)).is_some());
    let s3 = ServerProcess::tandem(&["--dir", &dir]);
    assert_eq!(s3.client().q(&["GET", "also"]), "\"2\"");
}

#[test]
fn save_points_trigger_a_background_save() {
    let s = ServerProcess::tandem(&["--save", "1 3"]);
    let mut c = s.client();
    for i in 0..5 {
        c.q(&["SET", &format!("k{i}"), "v"]);
    }
    assert!(wait_until(Duration::from_secs(10), || {
        c.q(&["INFO", "persistence"])
            .contains("rdb_changes_since_last_save:0")
    }));
    assert!(s.dir.path().join("dump.rdb").exists());
    assert!(s.log().contains("Background saving started"), "{}", s.log());
}

#[test]
fn save_bgsave_schedule_and_lastsave() {
    let s = ServerProcess::tandem(&["--rdb-key-save-delay", "200"]);
    let mut c = s.client();
    for i in 0..2000 {
        c.q(&["SET", &format!("k{i}"), "v"]);
    }
    let before: i64 = c.q(&["LASTSAVE"])[1..].parse().expect("lastsave");
    assert_eq!(c.q(&["BGSAVE"]), "+Background saving started");
    assert_eq!(c.q(&["BGSAVE"]), "-ERR Background save already in progress");
    assert_eq!(c.q(&["SAVE"]), "-ERR Background save already in progress");
    assert_eq!(c.q(&["BGSAVE", "SCHEDULE"]), "+Background saving scheduled");
    wait_bgsave_done(&mut c);
    assert!(wait_until(Duration::from_secs(60), || {
        c.q(&["INFO", "persistence"]).contains("rdb_saves:2")
    }));
    wait_bgsave_done(&mut c);
    let after: i64 = c.q(&["LASTSAVE"])[1..].parse().expect("lastsave");
    assert!(after >= before);
    c.q(&["CONFIG", "SET", "rdb-key-save-delay", "0"]);
    assert_eq!(c.q(&["SAVE"]), "+OK");
    assert_eq!(c.q(&["DEBUG", "RELOAD"]), "+OK");
    assert_eq!(c.q(&["DBSIZE"]), ":2000");
}
