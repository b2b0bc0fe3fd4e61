//! Blocking pops, transactions and pub/sub against a real tandem-server,
//! compared with a real redis-server where the behaviour is deterministic.

mod common;

use std::time::{Duration, Instant};

use common::{render, Client, ServerProcess};

#[test]
fn blocked_clients_are_served_in_arrival_order() {
    let s = ServerProcess::tandem(&[]);
    let mut waiters: Vec<Client> = (0..3).map(|_| s.client()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&["BLPOP", "queue", "5"]).expect("send");
        // Make the arrival order unambiguous.
        let mut probe = s.client();
        assert!(common::wait_until(Duration::from_secs(5), || {
            probe
                .q(&["INFO", "clients"])
                .contains(&format!("blocked_clients:{}", i + 1))
        }));
    }
    let mut pusher = s.client();
    assert_eq!(pusher.q(&["RPUSH", "queue", "a", "b", "c"]), ":3");
    for (w, want) in waiters.iter_mut().zip(["a", "b", "c"]) {
        assert_eq!(
            render(&w.read().expect("served")),
            format!("[\"queue\", \"{want}\"]")
        );
    }
    assert_eq!(pusher.q(&["EXISTS", "queue"]), ":0");
}

#[test]
fn blocking_timeout_returns_null_after_the_timeout() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    let started = Instant::now();
    assert_eq!(c.q(&["BLPOP", "nothing", "0.3"]), "(nil)");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(290),
        "returned after {took:?}"
    );
    assert!(took < Duration::from_secs(3), "returned after {took:?}");
    assert_eq!(c.q(&["BLPOP", "nothing", "-1"]), "-ERR timeout is negative");
    assert_eq!(
        c.q(&["BLPOP", "nothing", "abc"]),
        "-ERR timeout is not a float or out of range"
    );
    // The connection still works after a timeout.
    assert_eq!(c.q(&["PING"]), "+PONG");
}

#[test]
fn blocked_client_is_served_by_a_push_inside_multi_exec() {
    let s = ServerProcess::tandem(&[]);
    let mut waiter = s.client();
    waiter.send(&["BRPOP", "jobs", "5"]).expect("send");
    let mut probe = s.client();
    assert!(common::wait_until(Duration::from_secs(5), || {
        probe.q(&["INFO", "clients"]).contains("blocked_clients:1")
    }));
    let mut tx = s.client();
    assert_eq!(tx.q(&["MULTI"]), "+OK");
    assert_eq!(tx.q(&["LPUSH", "jobs", "j1"]), "+QUEUED");
    assert_eq!(tx.q(&["LPUSH", "jobs", "j2"]), "+QUEUED");
    // Not served while the transaction is only queued.
    assert_eq!(probe.q(&["LLEN", "jobs"]), ":0");
    assert_eq!(tx.q(&["EXEC"]), "[:1, :2]");
    // Served after EXEC, with the element that is at the right end then.
    assert_eq!(
        render(&waiter.read().expect("served")),
        "[\"jobs\", \"j1\"]"
    );
    assert_eq!(probe.q(&["LRANGE", "jobs", "0", "-1"]), "[\"j2\"]");
}

#[test]
fn blocking_command_inside_multi_does_not_block() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.q(&["MULTI"]);
    c.q(&["BLPOP", "empty", "0"]);
    assert_eq!(c.q(&["EXEC"]), "[(nil)]");
}

#[test]
fn client_unblock_ends_a_wait() {
    let s = ServerProcess::tandem(&[]);
    let mut waiter = s.client();
    let id = waiter.q(&["CLIENT", "ID"]);
    waiter.send(&["BLPOP", "k", "0"]).expect("send");
    let mut c = s.client();
    assert!(common::wait_until(Duration::from_secs(5), || {
        c.q(&["CLIENT", "UNBLOCK", &id[1..], "ERROR"]) == ":1"
    }));
    assert_eq!(
        render(&waiter.read().expect("unblocked")),
        "-UNBLOCKED client unblocked via CLIENT UNBLOCK"
    );
}

fn transaction_script(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    let steps: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "a", "1"],
        &["INCR", "a"],
        &["LPUSH", "a", "x"],
        &["EXEC"],
        &["GET", "a"],
        &["MULTI"],
        &["SET", "b", "1"],
        &["NOSUCHCMD"],
        &["EXEC"],
        &["EXISTS", "b"],
        &["MULTI"],
        &["GET"],
        &["EXEC"],
        &["EXEC"],
        &["DISCARD"],
        &["MULTI"],
        &["MULTI"],
        &["WATCH", "x"],
        &["DISCARD"],
        &["WATCH", "w"],
        &["SET", "w", "changed"],
        &["MULTI"],
        &["SET", "w", "tx"],
        &["EXEC"],
        &["GET", "w"],
        &["WATCH", "w"],
        &["MULTI"],
        &["SET", "w", "tx2"],
        &["EXEC"],
        &["GET", "w"],
    ];
    for step in steps {
        out.push(c.q(step));
    }
    out
}

#[test]
fn transactions_match_redis() {
    let s = ServerProcess::tandem(&[]);
    let ours = transaction_script(&mut s.client());
    assert_eq!(
        ours[4],
        "[+OK, :2, -WRONGTYPE Operation against a key holding the wrong kind of value]"
    );
    assert_eq!(
        ours[9],
        "-EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(
        ours[24], "(nil)",
        "EXEC after a watched key changed must fail"
    );
    assert_eq!(ours[29], "[+OK]");
    if let Some(r) = ServerProcess::redis(&[]) {
        assert_eq!(ours, transaction_script(&mut r.client()));
    }
}

#[test]
fn watch_is_broken_by_another_client() {
    let s = ServerProcess::tandem(&[]);
    let mut a = s.client();
    let mut b = s.client();
    a.q(&["SET", "balance", "10"]);
    a.q(&["WATCH", "balance"]);
    b.q(&["INCRBY", "balance", "5"]);
    a.q(&["MULTI"]);
    a.q(&["DECRBY", "balance", "10"]);
    assert_eq!(a.q(&["EXEC"]), "(nil)");
    assert_eq!(a.q(&["GET", "balance"]), "\"15\"");
}

fn pubsub_exchange(server: &ServerProcess) -> Vec<String> {
    let mut sub = server.client();
    let mut psub = server.client();
    let mut publisher = server.client();
    let mut out = vec![sub.q(&["SUBSCRIBE", "news", "sport"])];
    out.push(render(&sub.read().expect("second subscribe")));
    out.push(psub.q(&["PSUBSCRIBE", "n*"]));
    out.push(publisher.q(&["PUBLISH", "news", "hello"]));
    out.push(render(&sub.read().expect("message")));
    out.push(render(&psub.read().expect("pmessage")));
    out.push(publisher.q(&["PUBSUB", "NUMSUB", "news", "none"]));
    out.push(publisher.q(&["PUBSUB", "NUMPAT"]));
    out.push(publisher.q(&["PUBSUB", "CHANNELS", "s*"]));
    out.push(sub.q(&["GET", "x"]));
    out.push(sub.q(&["PING"]));
    out.push(sub.q(&["UNSUBSCRIBE", "news"]));
    out.push(publisher.q(&["PUBLISH", "news", "again"]));
    out
}

#[test]
fn pubsub_matches_redis() {
    let s = ServerProcess::tandem(&[]);
    let ours = pubsub_exchange(&s);
    assert_eq!(ours[3], ":2");
    assert_eq!(ours[4], "[\"message\", \"news\", \"hello\"]");
    assert_eq!(ours[5], "[\"pmessage\", \"n*\", \"news\", \"hello\"]");
    if let Some(r) = ServerProcess::redis(&[]) {
        assert_eq!(ours, pubsub_exchange(&r));
    }
}

/// WATCH scenarios where Redis 7.0 invalidates only the keys a command
/// really changed. Each returns what EXEC answered.
fn watch_scenarios(s: &ServerProcess) -> Vec<(&'static str, String)> {
    let mut c = s.client();
    let mut w = s.client();
    let mut run = |name: &'static str, setup: &[&[&str]], watch: &str, act: &[&[&str]]| {
        c.q(&["FLUSHALL"]);
        c.q(&["SELECT", "0"]);
        w.q(&["SELECT", "0"]);
        for cmd in setup {
            c.q(cmd);
        }
        w.q(&["WATCH", watch]);
        for cmd in act {
            c.q(cmd);
        }
        w.q(&["MULTI"]);
        w.q(&["PING"]);
        (name, w.q(&["EXEC"]))
    };
    vec![
        run("flushdb, watched key missing", &[], "x", &[&["FLUSHDB"]]),
        run(
            "flushdb, watched key present",
            &[&["SET", "x", "1"]],
            "x",
            &[&["FLUSHDB"]],
        ),
        run(
            "flushall, key missing",
            &[&["SET", "y", "1"]],
            "x",
            &[&["FLUSHALL"]],
        ),
        run(
            "flushdb of another db",
            &[&["SET", "x", "1"]],
            "x",
            &[&["SELECT", "9"], &["FLUSHDB"], &["SELECT", "0"]],
        ),
        run(
            "swapdb brings a value in",
            &[&["SELECT", "1"], &["SET", "x", "1"], &["SELECT", "0"]],
            "x",
            &[&["SWAPDB", "0", "1"]],
        ),
        run("swapdb of empty dbs", &[], "x", &[&["SWAPDB", "0", "1"]]),
        run(
            "del of another key",
            &[&["SET", "y", "1"]],
            "x",
            &[&["DEL", "x", "y"]],
        ),
        run(
            "sunionstore source",
            &[&["SADD", "x", "a"]],
            "x",
            &[&["SUNIONSTORE", "d", "x"]],
        ),
        run(
            "smove to a set that has it",
            &[&["SADD", "s", "a"], &["SADD", "x", "a"]],
            "x",
            &[&["SMOVE", "s", "x", "a"]],
        ),
        run(
            "copy source",
            &[&["SET", "x", "1"]],
            "x",
            &[&["COPY", "x", "d"]],
        ),
        run(
            "copy destination",
            &[&["SET", "s", "1"]],
            "x",
            &[&["COPY", "s", "x"]],
        ),
        run(
            "move to another db",
            &[&["SET", "x", "1"]],
            "x",
            &[&["MOVE", "x", "3"]],
        ),
        run(
            "ltrim that trims nothing",
            &[&["RPUSH", "x", "a", "b"]],
            "x",
            &[&["LTRIM", "x", "0", "-1"]],
        ),
        run(
            "blpop from another key",
            &[&["RPUSH", "y", "a"]],
            "x",
            &[&["BLPOP", "x", "y", "1"]],
        ),
    ]
}

#[test]
fn watch_is_invalidated_only_by_real_changes_as_in_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let ours = watch_scenarios(&tandem);
    // Redis 7.0's answers, which the comparison below also checks live.
    let expected_aborted = [
        "flushdb, watched key present",
        "swapdb brings a value in",
        "copy destination",
        "move to another db",
        "ltrim that trims nothing",
    ];
    for (name, reply) in &ours {
        let aborted = expected_aborted.contains(name);
        assert_eq!(
            reply.as_str(),
            if aborted { "(nil)" } else { "[+PONG]" },
            "{name}"
        );
    }
    if let Some(redis) = ServerProcess::redis(&[]) {
        assert_eq!(watch_scenarios(&redis), ours);
    }
}

fn unblocked_by_demotion(primary: &ServerProcess, other: &ServerProcess) -> String {
    let mut blocked = primary.client();
    blocked
        .send(&["BLPOP", "never-pushed", "0"])
        .expect("send BLPOP");
    let mut admin = primary.client();
    assert!(common::wait_until(Duration::from_secs(5), || admin
        .q(&["INFO", "clients"])
        .contains("blocked_clients:1")));
    admin.q(&["REPLICAOF", "127.0.0.1", &other.port.to_string()]);
    let reply = render(&blocked.read().expect("a reply to the blocked BLPOP"));
    admin.q(&["REPLICAOF", "NO", "ONE"]);
    reply
}

#[test]
fn becoming_a_replica_unblocks_waiting_clients_with_an_error() {
    let (tandem, target) = (ServerProcess::tandem(&[]), ServerProcess::tandem(&[]));
    let ours = unblocked_by_demotion(&tandem, &target);
    assert!(ours.starts_with("-UNBLOCKED"), "{ours}");
    if let (Some(redis), Some(redis_target)) =
        (ServerProcess::redis(&[]), ServerProcess::redis(&[]))
    {
        assert_eq!(unblocked_by_demotion(&redis, &redis_target), ours);
    }
}
