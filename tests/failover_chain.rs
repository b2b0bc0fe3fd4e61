//! Failover without full syncs, scenario 3: three failovers in a row
//! (A -> B -> C -> D) while replica E sleeps (SIGSTOP) through all of them and
//! then follows D. tandem's replication-id lineage still knows A's id on D, so
//! E continues with PSYNC; Redis 7.0 keeps one past id (master_replid2) and
//! needs a full sync. The same scenario runs on tandem and on redis-server in
//! one test, so the difference is measured, not claimed.
//!
//! Scenarios 1 and 2 (promote and re-point a fan-out, the old primary rejoins)
//! are in tests/failover.rs.

mod common;

use std::time::Duration;

use common::topology::{SyncCounts, Topology, WriteLog};
use common::{have, Flavor};

/// Writes at each step; each is followed by `WAIT 1 <WAIT_MS>`.
const WRITES: u64 = 150;
const WAIT_MS: u64 = 1000;
const CONVERGE: Duration = Duration::from_secs(30);

struct Outcome {
    /// The syncs after the initial fan-out (4 full syncs from A).
    initial: SyncCounts,
    /// The syncs of the three failovers and of E following D.
    failovers: SyncCounts,
    writes: WriteLog,
    /// Every node's state and logs, for a failed assertion.
    report: String,
}

fn write(t: &Topology, log: &mut WriteLog, primary: usize) {
    write_waiting(t, log, primary, WAIT_MS);
}

fn write_waiting(t: &Topology, log: &mut WriteLog, primary: usize, wait_ms: u64) {
    let mut c = t.client(primary);
    if let Err(e) = log.write(&mut c, WRITES, wait_ms) {
        panic!(
            "{:?}: a write to {} failed: {e}\n{}",
            t.flavor,
            t.name(primary),
            t.report()
        );
    }
}

fn converge(t: &Topology, nodes: &[usize], step: &str) {
    if let Err(report) = t.wait_converged(nodes, CONVERGE) {
        panic!("{:?}, {step}: {report}", t.flavor);
    }
}

fn scenario3(flavor: Flavor) -> Outcome {
    let (a, b, c, d, e) = (0, 1, 2, 3, 4);
    let mut t = Topology::start(flavor, 5, &[]);
    let mut log = WriteLog::default();
    // No replica yet: no WAIT.
    write_waiting(&t, &mut log, a, 0);
    t.fan_out(a, &[b, c, d, e]);
    write(&t, &mut log, a);
    converge(&t, &[a, b, c, d, e], "initial fan-out");
    let initial = t.sync_counts();

    // E sleeps through the three failovers, its link to A still open.
    let mut client_e = t.client(e);
    t.freeze(e);
    let awake = [a, b, c, d];
    let mut primary = a;
    for next in [b, c, d] {
        write(&t, &mut log, primary);
        // A controlled failover: the next primary has every write, and the
        // old one stands aside (no expiry of its own) until re-pointed.
        converge(&t, &awake, "before a failover");
        t.q(primary, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
        t.promote(next);
        for n in awake.into_iter().filter(|&n| n != next) {
            t.replicaof(n, next);
        }
        t.q(primary, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
        primary = next;
        write(&t, &mut log, primary);
        converge(&t, &awake, "after a failover");
    }

    // E wakes up with `REPLICAOF D` already queued, so it never tries A again.
    let port_d = t.port(d).to_string();
    client_e
        .send(&["REPLICAOF", "127.0.0.1", &port_d])
        .expect("queue REPLICAOF on the frozen E");
    t.thaw(e);
    let reply = client_e.read().expect("REPLICAOF reply from E");
    assert!(
        matches!(&reply, tandem_server::resp::Frame::Simple(s) if s.starts_with(b"OK")),
        "{flavor:?}: REPLICAOF on E: {reply:?}"
    );
    t.nodes[e].upstream = Some(d);
    write(&t, &mut log, d);
    converge(&t, &[d, a, b, c, e], "E follows D");

    // A controlled failover loses nothing: every acknowledged write is on D.
    let missing = t.missing(d, &log.acked);
    assert!(
        missing.is_empty(),
        "{flavor:?}: {} acknowledged writes missing on D, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        !log.wait_acked.is_empty(),
        "{flavor:?}: no write was acknowledged by a replica"
    );
    Outcome {
        initial,
        failovers: t.sync_counts().since(initial),
        writes: log,
        report: t.report(),
    }
}

#[test]
fn three_failovers_while_a_replica_sleeps() {
    let tandem = scenario3(Flavor::Tandem);
    assert_eq!(
        tandem.initial.full, 4,
        "the initial fan-out is 4 full syncs"
    );
    let redis = if have("redis-server") {
        Some(scenario3(Flavor::Redis))
    } else {
        eprintln!("SKIPPED the redis-server half: redis-server is not installed");
        None
    };
    let r = redis.as_ref().map(|r| r.failovers);
    let show = |v: Option<u64>| v.map_or("skipped".to_string(), |v| v.to_string());
    println!(
        "scenario3 full_syncs tandem={} redis={} partial tandem={} redis={} (writes tandem={}/{} redis={})",
        tandem.failovers.full,
        show(r.map(|r| r.full)),
        tandem.failovers.partial_ok,
        show(r.map(|r| r.partial_ok)),
        tandem.writes.wait_acked.len(),
        tandem.writes.acked.len(),
        show(redis.as_ref().map(|r| r.writes.acked.len() as u64)),
    );
    assert_eq!(
        tandem.failovers.full, 0,
        "tandem: three failovers and the sleeper rejoining need no full sync\n{}",
        tandem.report
    );
    // A, B, C, D re-pointed three times (3 x 3) and E following D.
    assert_eq!(tandem.failovers.partial_ok, 10, "{}", tandem.report);
    if let Some(r) = r {
        assert!(
            r.full >= 1,
            "redis-server 7.0 was expected to need a full sync for E (it keeps one past id): {r:?}"
        );
    }
}

/// Scenarios 1 and 2 (promote a replica of a three-node fan-out, re-point the
/// other, then the old primary rejoins) and 6 (the old primary took writes
/// after it was cut off, then rejoins: diverged histories), on one flavour.
/// Returns the syncs of each step after the initial fan-out.
fn scenarios_1_2_6(flavor: Flavor) -> [SyncCounts; 3] {
    let (a, b, c) = (0, 1, 2);
    let mut t = Topology::start(flavor, 3, &[]);
    let mut log = WriteLog::default();
    write_waiting(&t, &mut log, a, 0);
    t.fan_out(a, &[b, c]);
    write(&t, &mut log, a);
    converge(&t, &[a, b, c], "initial fan-out");
    let base = t.sync_counts();

    // 1. Promote B, re-point C. A, the old primary, stands aside as a failed
    //    primary would: its own active expiry (the load writes keys with a
    //    300 ms TTL) would otherwise add DELs to its history after B took
    //    over, a real divergence that costs a full sync on either server.
    t.q(a, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    t.promote(b);
    t.replicaof(c, b);
    write(&t, &mut log, b);
    converge(&t, &[b, c], "scenario 1");
    let after1 = t.sync_counts();

    // 2. The old primary A rejoins as B's replica.
    t.replicaof(a, b);
    t.q(a, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    write(&t, &mut log, b);
    converge(&t, &[b, c, a], "scenario 2");
    let after2 = t.sync_counts();

    // 6. C is promoted while B, cut off from it, keeps taking writes; then B
    //    rejoins under C: its history diverged, so a full sync replaces it.
    t.promote(c);
    t.replicaof(a, c);
    write_waiting(&t, &mut log, b, 0);
    write(&t, &mut log, c);
    t.replicaof(b, c);
    write(&t, &mut log, c);
    converge(&t, &[c, a, b], "scenario 6");
    let after6 = t.sync_counts();
    [
        after1.since(base),
        after2.since(after1),
        after6.since(after2),
    ]
}

#[test]
fn promotion_rejoin_and_divergence_on_both_servers() {
    let tandem = scenarios_1_2_6(Flavor::Tandem);
    assert_eq!(tandem[0].full, 0, "scenario 1: {:?}", tandem[0]);
    assert_eq!(tandem[1].full, 0, "scenario 2: {:?}", tandem[1]);
    assert_eq!(
        tandem[2].full, 1,
        "scenario 6: the diverged node alone is fully resynced: {:?}",
        tandem[2]
    );
    let redis = have("redis-server").then(|| scenarios_1_2_6(Flavor::Redis));
    for (i, name) in ["scenario1", "scenario2", "scenario6"].iter().enumerate() {
        let r = redis.as_ref().map(|r| r[i]);
        println!(
            "{name} full_syncs tandem={} redis={} partial tandem={} redis={}",
            tandem[i].full,
            r.map_or("skipped".into(), |r| r.full.to_string()),
            tandem[i].partial_ok,
            r.map_or("skipped".into(), |r| r.partial_ok.to_string()),
        );
    }
}
