//! A replica restarted from its own RDB (after SHUTDOWN, or SIGKILL with an
//! older BGSAVE file) continues with PSYNC: no full sync while the primary's
//! backlog still covers its offset.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};

fn converged(p: &mut Client, r: &mut Client) -> bool {
    info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        && p.q(&["DEBUG", "DIGEST"]) == r.q(&["DEBUG", "DIGEST"])
        && info_field(p, "replication", "master_repl_offset")
            == info_field(r, "replication", "master_repl_offset")
}

fn wait_converged(p: &mut Client, r: &mut Client) {
    assert!(wait_until(Duration::from_secs(20), || converged(p, r)));
}

fn wait_bgsave_done(c: &mut Client) {
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(c, "persistence", "rdb_bgsave_in_progress").as_deref() == Some("0")
    }));
}

/// A replica of `primary_port` started again on the data `dir` it left.
fn restart_replica(primary_port: &str, dir: &str) -> ServerProcess {
    ServerProcess::tandem(&["--replicaof", "127.0.0.1", primary_port, "--dir", dir])
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
    wait_converged(&mut p, &mut r);
    assert_eq!(
        info_field(&mut p, "stats", "sync_full").as_deref(),
        Some("1")
    );

    // 1. SHUTDOWN SAVE, restart from the file: PSYNC, no full sync.
    let _ = r.send(&["SHUTDOWN", "SAVE"]);
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    writes(&mut p, 100, 200);
    let mut replica = restart_replica(&port, &dir);
    let mut r = replica.client();
    wait_converged(&mut p, &mut r);
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
    wait_bgsave_done(&mut r);
    writes(&mut p, 200, 300);
    wait_converged(&mut p, &mut r);
    replica.signal("KILL");
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    writes(&mut p, 300, 400);
    let replica = restart_replica(&port, &dir);
    let mut r = replica.client();
    wait_converged(&mut p, &mut r);
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
    wait_converged(&mut p, &mut r);
    p.q(&["SELECT", "5"]);
    p.q(&["SET", "before", "1"]);
    wait_converged(&mut p, &mut r);

    // 1. Link drop, PSYNC, more writes in db 5 (no SELECT in the stream).
    r.q(&["CLIENT", "KILL", "TYPE", "master"]);
    p.q(&["SET", "after-psync", "1"]);
    wait_converged(&mut p, &mut r);

    // 2. SHUTDOWN SAVE, restart from the RDB (repl-stream-db), more writes.
    let dir = replica.dir.path().display().to_string();
    let _ = r.send(&["SHUTDOWN", "SAVE"]);
    let mut replica = replica;
    assert!(replica.wait_exit(Duration::from_secs(10)).is_some());
    p.q(&["SET", "after-restart", "1"]);
    let replica = restart_replica(&port, &dir);
    let mut r = replica.client();
    wait_converged(&mut p, &mut r);
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

#[test]
fn replica_resumed_from_its_rdb_keeps_a_backlog_for_its_own_promotion() {
    let a = ServerProcess::tandem(&[]);
    let mut ca = a.client();
    writes(&mut ca, 0, 50);
    let a_port = a.port.to_string();
    let mut b = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a_port]);
    let dir = b.dir.path().display().to_string();
    let mut cb = b.client();
    wait_converged(&mut ca, &mut cb);
    assert_eq!(cb.q(&["BGSAVE"]), "+Background saving started");
    wait_bgsave_done(&mut cb);
    b.signal("KILL");
    assert!(b.wait_exit(Duration::from_secs(10)).is_some());
    let b = restart_replica(&a_port, &dir);
    let mut cb = b.client();
    wait_converged(&mut ca, &mut cb);
    assert_eq!(
        info_field(&mut cb, "replication", "repl_backlog_active").as_deref(),
        Some("1"),
        "resumed by PSYNC, it has a backlog"
    );

    // B is promoted, takes writes (its offset moves), and A rejoins by PSYNC.
    assert_eq!(cb.q(&["REPLICAOF", "NO", "ONE"]), "+OK");
    let before = info_field(&mut cb, "replication", "master_repl_offset");
    writes(&mut cb, 50, 60);
    assert_ne!(
        info_field(&mut cb, "replication", "master_repl_offset"),
        before
    );
    assert_eq!(cb.q(&["REPLICAOF", "NO", "ONE"]), "+OK");
    assert_eq!(
        ca.q(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]),
        "+OK"
    );
    wait_converged(&mut cb, &mut ca);
    assert_eq!(
        info_field(&mut cb, "stats", "sync_full").as_deref(),
        Some("0"),
        "{}",
        b.log()
    );
}
