//! tandem as a replica: of a real redis-server 7.0 primary, of another
//! tandem, in chains (tandem -> tandem -> tandem, redis -> tandem -> redis);
//! PSYNC resume after a link drop, read-only replicas, promotion.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};

fn load_rich(c: &mut Client) {
    c.q(&["DEBUG", "POPULATE", "3000"]);
    for i in 0..150 {
        c.q(&["RPUSH", "list", &format!("e{i}")]);
        c.q(&["HSET", "hash", &format!("f{i}"), &format!("v{i}")]);
        c.q(&["SADD", "set", &format!("m{i}")]);
        c.q(&["ZADD", "zset", &i.to_string(), &format!("z{i}")]);
    }
    c.q(&["SET", "ttl", "v", "EX", "100000"]);
}

fn writes(c: &mut Client, round: usize) {
    c.q(&["SET", &format!("s{round}"), "v", "EX", "100000"]);
    c.q(&["INCR", "counter"]);
    c.q(&["INCRBYFLOAT", "float", "0.25"]);
    c.q(&["LPUSH", "list", "x"]);
    c.q(&["LPOP", "list"]);
    c.q(&["HSET", "hash", "f1", &round.to_string()]);
    c.q(&["SPOP", "set"]);
    c.q(&["ZADD", "zset", "7", &format!("n{round}")]);
    c.q(&["MULTI"]);
    c.q(&["INCR", "tx"]);
    c.q(&["DEL", "nothing"]);
    c.q(&["EXEC"]);
    c.q(&["SELECT", "1"]);
    c.q(&["SET", &format!("db1-{round}"), "v"]);
    c.q(&["SELECT", "0"]);
}

fn converged(nodes: &mut [&mut Client]) -> bool {
    let first_digest = nodes[0].q(&["DEBUG", "DIGEST"]);
    let first_offset = info_field(nodes[0], "replication", "master_repl_offset");
    nodes.iter_mut().skip(1).all(|n| {
        n.q(&["DEBUG", "DIGEST"]) == first_digest
            && info_field(n, "replication", "master_repl_offset") == first_offset
    })
}

fn wait_link_up(c: &mut Client) {
    assert!(
        wait_until(Duration::from_secs(20), || {
            info_field(c, "replication", "master_link_status").as_deref() == Some("up")
        }),
        "link never came up: {}",
        c.q(&["INFO", "replication"])
    );
}

#[test]
fn redis_primary_to_tandem_replica_with_psync_resume() {
    let Some(redis) = ServerProcess::redis(&["--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let mut p = redis.client();
    load_rich(&mut p);
    let port = redis.port.to_string();
    let tandem = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = tandem.client();
    wait_link_up(&mut r);
    for round in 0..20 {
        writes(&mut p, round);
    }
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut p, &mut r
    ])));
    assert_eq!(
        r.q(&["SET", "x", "y"]),
        "-READONLY You can't write against a read only replica."
    );
    let role = r.q(&["ROLE"]);
    assert!(role.starts_with("[\"slave\", \"127.0.0.1\""), "{role}");

    let full_before = info_field(&mut p, "stats", "sync_full");
    assert_eq!(r.q(&["CLIENT", "KILL", "TYPE", "master"]), ":1");
    for round in 20..30 {
        writes(&mut p, round);
    }
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut p, "stats", "sync_partial_ok").as_deref() == Some("1")
    }));
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut p, &mut r
    ])));
    assert_eq!(
        info_field(&mut p, "stats", "sync_full"),
        full_before,
        "no second full sync"
    );
    assert!(tandem
        .log()
        .contains("Successful partial resynchronization with master"));
}

#[test]
fn tandem_chain_of_three() {
    let a = ServerProcess::tandem(&[]);
    let mut ca = a.client();
    load_rich(&mut ca);
    let b = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &a.port.to_string()]);
    let mut cb = b.client();
    wait_link_up(&mut cb);
    let c = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &b.port.to_string()]);
    let mut cc = c.client();
    wait_link_up(&mut cc);
    for round in 0..30 {
        writes(&mut ca, round);
    }
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut ca, &mut cb, &mut cc
    ])));

    // Promote the middle node: it keeps its data and takes writes.
    assert_eq!(cb.q(&["REPLICAOF", "NO", "ONE"]), "+OK");
    assert_eq!(cb.q(&["SET", "after-promotion", "1"]), "+OK");
    assert!(wait_until(Duration::from_secs(20), || {
        cc.q(&["GET", "after-promotion"]) == "\"1\""
    }));
    let replid2 = info_field(&mut cb, "replication", "master_replid2");
    assert_ne!(
        replid2.as_deref(),
        Some("0000000000000000000000000000000000000000")
    );
}

#[test]
fn mixed_chain_redis_tandem_redis() {
    let Some(top) = ServerProcess::redis(&["--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let mut ct = top.client();
    load_rich(&mut ct);
    let mid = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &top.port.to_string()]);
    let mut cm = mid.client();
    wait_link_up(&mut cm);
    let Some(bottom) = ServerProcess::redis(&["--replicaof", "127.0.0.1", &mid.port.to_string()])
    else {
        return;
    };
    let mut cb = bottom.client();
    wait_link_up(&mut cb);
    for round in 0..30 {
        writes(&mut ct, round);
    }
    assert!(wait_until(Duration::from_secs(30), || converged(&mut [
        &mut ct, &mut cm, &mut cb
    ])));
}

#[test]
fn actively_expired_key_recreated_survives_on_the_replica() {
    // Regression: keys deleted by the active expiry cycle used to be
    // propagated late, at the next lazy expiry, deleting a recreated key on
    // replicas.
    let primary = ServerProcess::tandem(&["--hz", "100"]);
    let mut p = primary.client();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &primary.port.to_string()]);
    let mut r = replica.client();
    wait_link_up(&mut r);
    p.q(&["SET", "a", "1", "PX", "10"]);
    assert!(wait_until(Duration::from_secs(5), || {
        info_field(&mut p, "stats", "expired_keys").as_deref() == Some("1")
    }));
    p.q(&["SET", "a", "2"]);
    // A lazy expiry of another key (active expiry off, so it is lazy).
    p.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    p.q(&["SET", "b", "1", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(p.q(&["GET", "b"]), "(nil)");
    p.q(&["SET", "c", "3"]);
    assert!(wait_until(Duration::from_secs(10), || r.q(&["GET", "c"]) == "\"3\""));
    assert_eq!(r.q(&["GET", "a"]), "\"2\"");
    assert!(converged(&mut [&mut p, &mut r]));
}

#[test]
fn a_replica_without_a_live_link_refuses_to_feed_sub_replicas() {
    // M points at a port nobody listens on: it has no history to give.
    let nowhere = common::free_port().to_string();
    let m = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &nowhere]);
    let s = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &m.port.to_string()]);
    let mut cm = m.client();
    let mut cs = s.client();
    assert!(wait_until(Duration::from_secs(10), || s
        .log()
        .contains("NOMASTERLINK")));
    assert_eq!(
        info_field(&mut cs, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(
        info_field(&mut cm, "stats", "sync_full").as_deref(),
        Some("0"),
        "M served no sync"
    );

    // Once M follows a real primary, S gets that primary's data through M.
    let p = ServerProcess::tandem(&[]);
    let mut cp = p.client();
    load_rich(&mut cp);
    assert_eq!(
        cm.q(&["REPLICAOF", "127.0.0.1", &p.port.to_string()]),
        "+OK"
    );
    assert!(wait_until(Duration::from_secs(20), || converged(&mut [
        &mut cp, &mut cm, &mut cs
    ])));
}

fn stale_session(s: &ServerProcess) -> Vec<String> {
    let mut c = s.client();
    let mut out = vec![c.q(&["GET", "k"]), c.q(&["PING"]), c.q(&["SET", "k", "v"])];
    out.push(format!(
        "info works: {}",
        c.q(&["INFO", "replication"])
            .contains("master_link_status:down")
    ));
    assert_eq!(
        c.q(&["CONFIG", "SET", "replica-serve-stale-data", "yes"]),
        "+OK"
    );
    out.push(c.q(&["GET", "k"]));
    out
}

#[test]
fn a_replica_with_serve_stale_data_off_refuses_reads_while_its_link_is_down() {
    let nowhere = common::free_port().to_string();
    let args = [
        "--replicaof",
        "127.0.0.1",
        &nowhere,
        "--replica-serve-stale-data",
        "no",
    ];
    let tandem = ServerProcess::tandem(&args);
    let ours = stale_session(&tandem);
    assert!(ours[0].starts_with("-MASTERDOWN"), "{ours:?}");
    assert_eq!(ours[4], "(nil)", "{ours:?}");
    if let Some(redis) = ServerProcess::redis(&args) {
        assert_eq!(stale_session(&redis), ours);
    }
}

#[test]
fn client_kill_drops_the_master_link_at_once_even_inside_a_sleeping_transaction() {
    // The replica kills its link, then sleeps inside the same transaction:
    // the primary must see the replica gone at once, so its backlog expires
    // (repl-backlog-ttl 1) before the replica can ask to resume.
    let primary = ServerProcess::tandem(&["--repl-backlog-ttl", "1"]);
    let replica = ServerProcess::tandem(&[
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        &primary.port.to_string(),
    ]);
    let (mut p, mut r) = (primary.client(), replica.client());
    wait_link_up(&mut r);
    p.q(&["SET", "k", "v"]);
    let full_before = info_field(&mut p, "stats", "sync_full");
    assert_eq!(r.q(&["MULTI"]), "+OK");
    r.q(&["CLIENT", "KILL", "TYPE", "master"]);
    r.q(&["DEBUG", "SLEEP", "2.5"]);
    assert!(r.q(&["EXEC"]).starts_with('['));
    assert!(
        primary.log().contains("Replication backlog freed"),
        "{}",
        primary.log()
    );
    assert!(wait_until(Duration::from_secs(10), || {
        info_field(&mut p, "stats", "sync_full") != full_before
    }));
    wait_link_up(&mut r);
    assert_eq!(r.q(&["GET", "k"]), "\"v\"");
}
