//! Failover without full syncs: promote a replica of a fan-out, re-point the
//! other replica to it, and bring the old primary back as a replica: PSYNC
//! everywhere, thanks to the replication-id lineage.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};

fn stat(c: &mut Client, field: &str) -> u64 {
    info_field(c, "stats", field)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX)
}

fn converged(nodes: &mut [&mut Client]) -> bool {
    let digest = nodes[0].q(&["DEBUG", "DIGEST"]);
    let offset = info_field(nodes[0], "replication", "master_repl_offset");
    nodes.iter_mut().skip(1).all(|n| {
        info_field(n, "replication", "master_link_status").as_deref() == Some("up")
            && n.q(&["DEBUG", "DIGEST"]) == digest
            && info_field(n, "replication", "master_repl_offset") == offset
    })
}

fn writes(c: &mut Client, tag: &str) {
    for i in 0..100 {
        c.q(&["SET", &format!("{tag}{i}"), "v"]);
        c.q(&["INCR", "counter"]);
    }
}

#[test]
fn promotion_repoint_and_rejoin_without_full_syncs() {
    let a = ServerProcess::tandem(&[]);
    let mut ca = a.client();
    writes(&mut ca, "before");
    let a_port = a.port.to_string();
    let b = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a_port]);
    let c = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a_port]);
    let (mut cb, mut cc) = (b.client(), c.client());
    writes(&mut ca, "fanout");
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut ca, &mut cb, &mut cc
    ])));
    assert_eq!(stat(&mut ca, "sync_full"), 2);

    // 1. Promote B, re-point C to B: C continues with PSYNC.
    assert_eq!(cb.q(&["REPLICAOF", "NO", "ONE"]), "+OK");
    let b_port = b.port.to_string();
    assert_eq!(cc.q(&["REPLICAOF", "127.0.0.1", &b_port]), "+OK");
    writes(&mut cb, "after-promotion");
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut cb, &mut cc
    ])));
    assert_eq!(
        stat(&mut cb, "sync_full"),
        0,
        "re-pointing C must not need a full sync"
    );
    assert_eq!(stat(&mut cb, "sync_partial_ok"), 1);

    // 2. The old primary A rejoins as a replica of B: PSYNC with its own id.
    assert_eq!(ca.q(&["REPLICAOF", "127.0.0.1", &b_port]), "+OK");
    writes(&mut cb, "after-rejoin");
    let ok = wait_until(Duration::from_secs(20), || {
        converged(&mut [&mut cb, &mut cc, &mut ca])
    });
    assert!(
        ok,
        "not converged:\nB {}\nC {}\nA {}\nA log:\n{}",
        cb.q(&["INFO", "replication"]),
        cc.q(&["INFO", "replication"]),
        ca.q(&["INFO", "replication"]),
        a.log()
    );
    assert_eq!(
        stat(&mut cb, "sync_full"),
        0,
        "the old primary must rejoin without a full sync"
    );
    assert_eq!(stat(&mut cb, "sync_partial_ok"), 2);
}

#[test]
fn diverged_old_primary_is_fully_resynced_and_loses_its_unreplicated_writes() {
    let a = ServerProcess::tandem(&[]);
    let mut ca = a.client();
    writes(&mut ca, "shared");
    let a_port = a.port.to_string();
    let b = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a_port]);
    let mut cb = b.client();
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut ca, &mut cb
    ])));

    // B is promoted while A, cut off from it, keeps accepting writes: the
    // two histories diverge at B's promotion offset.
    assert_eq!(cb.q(&["REPLICAOF", "NO", "ONE"]), "+OK");
    writes(&mut ca, "lost-on-a");
    writes(&mut cb, "new-on-b");

    // A rejoins as B's replica: its PSYNC (own id, its offset) is past the
    // point where B's lineage left that id, so a full sync replaces A's data.
    assert_eq!(
        ca.q(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]),
        "+OK"
    );
    let ok = wait_until(Duration::from_secs(20), || {
        converged(&mut [&mut cb, &mut ca])
    });
    assert!(ok, "A log:\n{}\nB log:\n{}", a.log(), b.log());
    assert_eq!(stat(&mut cb, "sync_full"), 1, "{}", b.log());
    assert_eq!(stat(&mut cb, "sync_partial_ok"), 0);
    assert!(
        b.log().contains("diverged from my history"),
        "B's log says why:\n{}",
        b.log()
    );
    assert_eq!(
        ca.q(&["EXISTS", "lost-on-a0"]),
        ":0",
        "A's diverged writes are gone"
    );
    assert_eq!(ca.q(&["EXISTS", "new-on-b0"]), ":1");
    assert_eq!(ca.q(&["DEBUG", "DIGEST"]), cb.q(&["DEBUG", "DIGEST"]));
}

#[test]
fn debug_change_repl_id_makes_the_next_resync_a_full_one() {
    let a = ServerProcess::tandem(&[]);
    let mut ca = a.client();
    let a_port = a.port.to_string();
    let b = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a_port]);
    let mut cb = b.client();
    writes(&mut ca, "before");
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut ca, &mut cb
    ])));
    assert_eq!(stat(&mut ca, "sync_full"), 1);
    let old_id = info_field(&mut ca, "replication", "master_replid");

    assert_eq!(ca.q(&["DEBUG", "CHANGE-REPL-ID"]), "+OK");
    assert_ne!(info_field(&mut ca, "replication", "master_replid"), old_id);
    assert_eq!(
        info_field(&mut ca, "replication", "master_replid2").as_deref(),
        Some("0000000000000000000000000000000000000000"),
        "no past id is kept"
    );
    assert_eq!(cb.q(&["CLIENT", "KILL", "TYPE", "master"]), ":1");
    writes(&mut ca, "after");
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut ca, &mut cb
    ])));
    assert_eq!(stat(&mut ca, "sync_full"), 2, "the old id is refused");
    assert_eq!(stat(&mut ca, "sync_partial_err"), 1);
    assert_eq!(
        info_field(&mut cb, "replication", "master_replid"),
        info_field(&mut ca, "replication", "master_replid")
    );
}
