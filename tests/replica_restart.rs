//! A replica restarted from its own RDB (after SHUTDOWN, or SIGKILL with an
//! older BGSAVE file) continues with PSYNC: no full sync while the primary's
//! backlog still covers its offset.

mod common;

use std::time::Duration;

use common::{wait_until, Client, ServerProcess};

fn info_field(c: &mut Client, section: &str, field: &str) -> Option<String> {
    let text = c.q(&["INFO", section]);
    text.split(['\r', '\n'])
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

fn converged(p: &mut Client, r: &mut Client) -> bool {
    info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        && p.q(&["DEBUG", "DIGEST"]) == r.q(&["DEBUG", "DIGEST"])
        && info_field(p, "replication", "master_repl_offset")
            == info_field(r, "replication", "master_repl_offset")
}

fn writes(p: &mut Client, from: usize, to: usize) {
    for i in from..to {
        p.q(&["SET", &format!("k{i}"), &format!("v{i}")]);
        p.q(&["INCR", "counter"]);
        p.q(&["RPUSH", "list", &i.to_string()]);
    }
}

#[test]
fn replica_restarts_resume_with_psync() {
    let primary = ServerProcess::tandem(&[]);
    let mut p = primary.client();
    writes(&mut p, 0, 100);
    let port = primary.port.to_string();
    let mut replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let dir = replica.dir.path().display().to_string();
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // 1. SHUTDOWN SAVE, restart from the file: PSYNC, no full sync.
    let _ = r.send(&["SHUTDOWN", "SAVE"]);
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    writes(&mut p, 100, 200);
    let mut replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "no new full sync"
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );

    // 2. BGSAVE, more writes, SIGKILL, restart from the older file: PSYNC from
    //    the file's offset, the backlog supplies the rest.
    assert_eq!(r.q(&["BGSAVE"]), "+Background saving started");
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut r, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0")
    }));
    writes(&mut p, 200, 300);
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    replica.signal("KILL");
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    writes(&mut p, 300, 400);
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "no new full sync"
    );
    assert_eq!(
        info_field(&mut p, "stats", "sync_partial_ok").as_deref(),
        Some("2")
    );
}

#[test]
fn resumed_stream_stays_in_its_database() {
    // The primary selects db 5 once; after the link drops (and after a
    // restart from the RDB) the stream goes on without a new SELECT, so the
    // replica must remember which database it was in.
    let primary = ServerProcess::tandem(&[]);
    let mut p = primary.client();
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    p.q(&["SELECT", "5"]);
    p.q(&["SET", "before", "1"]);
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));

    // 1. Link drop, PSYNC, more writes in db 5 (no SELECT in the stream).
    r.q(&["CLIENT", "KILL", "TYPE", "master"]);
    p.q(&["SET", "after-psync", "1"]);
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));

    // 2. SHUTDOWN SAVE, restart from the RDB (repl-stream-db), more writes.
    let dir = replica.dir.path().display().to_string();
    let _ = r.send(&["SHUTDOWN", "SAVE"]);
    let mut replica = replica;
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    p.q(&["SET", "after-restart", "1"]);
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port, "--dir", &dir]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || converged(
        &mut p, &mut r
    )));
    r.q(&["SELECT", "5"]);
    for key in ["before", "after-psync", "after-restart"] {
        assert_eq!(r.q(&["EXISTS", key]), ":1", "{key} in db 5");
    }
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1"),
        "PSYNC both times"
    );
}
