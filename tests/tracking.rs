//! Client-side caching (CLIENT TRACKING) against a real redis-server 7.0:
//! the same scripted conversations, over several connections, are played
//! against both servers, and every frame each connection receives (replies,
//! `invalidate` pushes, `__redis__:invalidate` messages, `tracking-redir-
//! broken` pushes) must be identical, in the same order.
//!
//! A script step names a connection, a command, and how many frames to read
//! after sending it; `$R` in a command is replaced by the id of connection
//! `r` on that server. Replies that carry ids (HELLO, CLIENT ID) are read but
//! not compared. Invalidations that other connections caused are read by a
//! step with no command.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{Client, ServerProcess};
use tandem_server::resp::Frame;

/// One step: connection, command (empty: only read), frames to read, and
/// whether they are compared.
type Step = (&'static str, &'static [&'static str], usize, bool);

const fn c(conn: &'static str, args: &'static [&'static str], frames: usize) -> Step {
    (conn, args, frames, true)
}

/// A command whose reply differs by nature (ids): read, not compared.
const fn u(conn: &'static str, args: &'static [&'static str]) -> Step {
    (conn, args, 1, false)
}

/// Reads `n` frames that another connection's command caused.
const fn r(conn: &'static str, n: usize) -> Step {
    (conn, &[], n, true)
}

/// Frames count of a PING step that reads every push before the PONG.
const SYNC: usize = usize::MAX;

/// After a pause, PING and read everything up to the PONG: the pushes that
/// other connections' commands caused, however many.
fn sync(conn: &'static str) -> [Step; 2] {
    [sleep(50), (conn, &["PING"], SYNC, true)]
}

/// A pause (ms), for expiry.
const fn sleep(ms: usize) -> Step {
    ("", &[], ms, false)
}

fn play(server: &ServerProcess, script: &[Step]) -> Vec<(usize, String)> {
    let mut conns: BTreeMap<&str, Client> = BTreeMap::new();
    let mut redirect_id = String::new();
    let mut seen = Vec::new();
    for (i, &(name, args, frames, compare)) in script.iter().enumerate() {
        if name.is_empty() {
            std::thread::sleep(Duration::from_millis(frames as u64));
            continue;
        }
        let conn = conns.entry(name).or_insert_with(|| server.client());
        if !args.is_empty() {
            let args: Vec<&str> = args
                .iter()
                .map(|a| if *a == "$R" { redirect_id.as_str() } else { a })
                .collect();
            conn.send(&args).expect("send");
        }
        let sync = frames == SYNC;
        let frames = if sync { usize::MAX } else { frames };
        for _ in 0..frames {
            let frame = conn
                .read()
                .unwrap_or_else(|e| panic!("step {i} {name} {args:?}: {e}"));
            if name == "r" && args == ["CLIENT", "ID"] {
                if let Frame::Integer(id) = frame {
                    redirect_id = id.to_string();
                }
            }
            let pong = sync && frame == Frame::Simple("PONG".into());
            if compare {
                // The redirect id differs between the servers.
                let text = format!("{frame:?}")
                    .replace(&format!("Integer({redirect_id})"), "Integer(<redirect id>)");
                seen.push((i, format!("{name} {args:?} -> {text}")));
            }
            if pong {
                break;
            }
        }
    }
    seen
}

fn differential(script: &[Step]) {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let tandem = ServerProcess::tandem(&[]);
    let want = play(&redis, script);
    let got = play(&tandem, script);
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(g, w, "tandem (left) and redis (right) differ");
    }
    assert_eq!(got.len(), want.len());
    assert!(!want.is_empty());
}

#[test]
fn resp3_default_mode_invalidates_readers_once() {
    differential(&[
        u("a", &["HELLO", "3"]),
        c("a", &["CLIENT", "TRACKING", "on"], 1),
        c("a", &["SET", "k", "1"], 1),
        c("a", &["GET", "k"], 1),
        // The client's own write: the invalidation follows the reply.
        c("a", &["SET", "k", "2"], 2),
        c("a", &["SET", "k", "3"], 1),
        c("a", &["MGET", "k", "j"], 1),
        c("b", &["MSET", "k", "1", "j", "2"], 1),
        r("a", 2),
        c("a", &["GET", "k"], 1),
        c("b", &["DEL", "k"], 1),
        r("a", 1),
        // A transaction's invalidations follow EXEC's reply.
        c("a", &["MSET", "x", "1", "y", "2"], 1),
        c("a", &["GET", "x"], 1),
        c("a", &["MULTI"], 1),
        c("a", &["INCR", "x"], 1),
        c("a", &["GET", "y"], 1),
        c("a", &["EXEC"], 2),
        // A served blocked command: its reply, then the invalidation.
        c("a", &["LRANGE", "l2", "0", "-1"], 1),
        c("a", &["BLMOVE", "l1", "l2", "LEFT", "LEFT", "0"], 0),
        c("b", &["RPUSH", "l1", "foo"], 1),
        r("a", 2),
        c("a", &["CLIENT", "TRACKINGINFO"], 1),
        c("a", &["CLIENT", "GETREDIR"], 1),
        c("a", &["CLIENT", "TRACKING", "off"], 1),
        c("b", &["SET", "l2", "x"], 1),
        c("a", &["PING"], 1),
    ]);
}

#[test]
fn resp2_redirect_gets_pubsub_messages_and_broken_redirect() {
    differential(&[
        u("r", &["CLIENT", "ID"]),
        c("r", &["SUBSCRIBE", "__redis__:invalidate"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "REDIRECT", "$R"], 1),
        c("a", &["MGET", "k1", "k2"], 1),
        c("b", &["MSET", "k1", "1", "k2", "2"], 1),
        r("r", 2),
        c("a", &["GET", "k1"], 1),
        c("b", &["FLUSHALL"], 1),
        r("r", 1),
        // Expiry invalidates too.
        c("a", &["GET", "e1"], 1),
        c("b", &["SET", "e1", "1", "PX", "30"], 1),
        c("a", &["GET", "e1"], 1),
        sleep(400),
        r("r", 1),
        u("d", &["HELLO", "3"]),
        c("d", &["CLIENT", "TRACKING", "on", "REDIRECT", "$R"], 1),
        c("d", &["GET", "w1"], 1),
        c("r", &["QUIT"], 1),
        sleep(200),
        c("d", &["SET", "w1", "2"], 2),
        c("d", &["CLIENT", "TRACKINGINFO"], 1),
        c("d", &["GET", "w1"], 1),
        c("b", &["SET", "w1", "4"], 1),
        r("d", 1),
    ]);
}

#[test]
fn bcast_prefixes_optin_optout_noloop_and_flush() {
    differential(&[
        u("a", &["HELLO", "3"]),
        c(
            "a",
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "cd",
            ],
            1,
        ),
        c("a", &["CLIENT", "TRACKINGINFO"], 1),
        c(
            "b",
            &["MSET", "abx", "1", "cdy", "2", "zz", "3", "ab0", "3"],
            1,
        ),
        r("a", 2),
        c("a", &["SET", "cdq", "1"], 2),
        c("a", &["CLIENT", "TRACKING", "off"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP"], 1),
        c("a", &["SET", "cdq", "1"], 1),
        c("b", &["SET", "cdq", "1"], 1),
        r("a", 1),
        c("a", &["CLIENT", "TRACKING", "off"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "NOLOOP"], 1),
        c("a", &["GET", "n1"], 1),
        c("a", &["SET", "n1", "x"], 1),
        c("a", &["GET", "n1"], 1),
        c("b", &["SET", "n1", "y"], 1),
        r("a", 1),
        u("o", &["HELLO", "3"]),
        c("o", &["CLIENT", "TRACKING", "on", "OPTIN"], 1),
        c("o", &["GET", "o1"], 1),
        c("o", &["CLIENT", "CACHING", "yes"], 1),
        c("o", &["CLIENT", "TRACKINGINFO"], 1),
        c("o", &["GET", "o2"], 1),
        c("b", &["MSET", "o1", "1", "o2", "2"], 1),
        r("o", 1),
        u("p", &["HELLO", "3"]),
        c("p", &["CLIENT", "TRACKING", "on", "OPTOUT"], 1),
        c("p", &["GET", "p1"], 1),
        c("p", &["CLIENT", "CACHING", "no"], 1),
        c("p", &["CLIENT", "TRACKINGINFO"], 1),
        c("p", &["GET", "p2"], 1),
        c("b", &["MSET", "p1", "1", "p2", "2"], 1),
        r("p", 1),
        // A flush: a null invalidation to every tracking client, the
        // flushing one after its reply.
        c("p", &["FLUSHDB"], 2),
        r("o", 1),
        r("a", 1),
    ]);
}

#[test]
fn option_errors_match_redis() {
    differential(&[
        c("a", &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "PREFIX", "x"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "REDIRECT", "abc"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "BOGUS"], 1),
        c("a", &["CLIENT", "TRACKING", "maybe"], 1),
        c("a", &["CLIENT", "CACHING", "yes"], 1),
        c(
            "a",
            &[
                "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a",
            ],
            1,
        ),
        c(
            "a",
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab"],
            1,
        ),
        c(
            "a",
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "abc"],
            1,
        ),
        c("a", &["CLIENT", "TRACKING", "on"], 1),
        c("a", &["CLIENT", "CACHING", "yes"], 1),
        c("a", &["CLIENT", "TRACKING", "off"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "OPTIN"], 1),
        c("a", &["CLIENT", "TRACKING", "on", "OPTOUT"], 1),
        c("a", &["CLIENT", "CACHING", "no"], 1),
        c("a", &["CLIENT", "CACHING", "maybe"], 1),
        c("a", &["CLIENT", "TRACKINGINFO"], 1),
        c("a", &["RESET"], 1),
        c("a", &["CLIENT", "TRACKINGINFO"], 1),
        c("a", &["CLIENT", "GETREDIR"], 1),
    ]);
}

#[test]
fn info_and_client_list_show_tracking() {
    let s = ServerProcess::tandem(&[]);
    let mut a = s.client();
    let mut b = s.client();
    assert_eq!(a.q(&["CLIENT", "TRACKING", "on"]), "+OK");
    a.q(&["MGET", "k1", "k2"]);
    assert_eq!(
        b.q(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "p"]),
        "+OK"
    );
    b.q(&["GET", "k1"]);
    let field = |c: &mut Client, section: &str, name: &str| {
        common::info_field(c, section, name).unwrap_or_default()
    };
    assert_eq!(field(&mut a, "clients", "tracking_clients"), "2");
    assert_eq!(field(&mut a, "stats", "tracking_total_keys"), "2");
    assert_eq!(field(&mut a, "stats", "tracking_total_items"), "2");
    assert_eq!(field(&mut a, "stats", "tracking_total_prefixes"), "1");
    assert!(a.q(&["CLIENT", "INFO"]).contains("flags=t "));
    assert!(b.q(&["CLIENT", "INFO"]).contains("flags=tB "));
    // The table limit evicts keys; disconnecting forgets the client.
    assert_eq!(
        b.q(&["CONFIG", "SET", "tracking-table-max-keys", "1"]),
        "+OK"
    );
    assert!(common::wait_until(Duration::from_secs(5), || {
        b.q(&["PING"]);
        field(&mut b, "stats", "tracking_total_keys") == "1"
    }));
    drop(a);
    assert!(common::wait_until(Duration::from_secs(5), || {
        field(&mut b, "clients", "tracking_clients") == "1"
    }));
    assert_eq!(b.q(&["CLIENT", "TRACKING", "off"]), "+OK");
    assert_eq!(field(&mut b, "stats", "tracking_total_prefixes"), "0");
}

/// Write commands of every kind, each after a tracking client read all the
/// keys (in two databases: the table ignores the database, as Redis's does):
/// the same invalidations, in the same order.
#[test]
fn every_kind_of_write_invalidates_as_redis_does() {
    const WRITES: &[&[&str]] = &[
        &["RENAME", "s1", "s2"],
        &["COPY", "s1", "s2", "REPLACE"],
        &["MOVE", "s1", "1"],
        &["SWAPDB", "0", "1"],
        &["EXPIRE", "s1", "100"],
        &["PERSIST", "s1"],
        &["SETRANGE", "s1", "0", "x"],
        &["GETDEL", "s1"],
        &["GETEX", "s1", "PX", "100"],
        &["LMPOP", "2", "l1", "l2", "LEFT"],
        &["LMOVE", "l1", "l2", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "l1", "l1"],
        &["SINTERSTORE", "s2", "st1", "st2"],
        &["SORT", "l1", "STORE", "s2"],
        &["ZUNIONSTORE", "s2", "1", "z1"],
        &["SMOVE", "st1", "st2", "a"],
        &["DEL", "s1", "s2", "l1"],
        &["UNLINK", "s1", "l2"],
        &["HDEL", "h1", "f", "zz"],
        &["SREM", "st1", "nope"],
        &["PFADD", "s1", "a"],
        &["BITOP", "AND", "s2", "s1"],
        &["EVAL", "redis.call('del', KEYS[1])", "1", "s1"],
        &["SET", "s1", "v", "NX"],
        &["XADD", "x1", "9-1", "a", "1"],
        &["ZPOPMIN", "z1"],
        &["INCRBYFLOAT", "n1", "1.5"],
        &["FLUSHDB"],
    ];
    const SETUP: &[&[&str]] = &[
        &["FLUSHALL"],
        &["MSET", "s1", "v1", "s2", "v2", "n1", "1"],
        &["RPUSH", "l1", "a", "b"],
        &["RPUSH", "l2", "c"],
        &["SADD", "st1", "a", "b"],
        &["SADD", "st2", "b"],
        &["ZADD", "z1", "1", "m"],
        &["HSET", "h1", "f", "v"],
        &["XADD", "x1", "1-1", "a", "1"],
        &["SELECT", "1"],
        &["SET", "s1", "db1"],
        &["SELECT", "0"],
    ];
    let mut script = vec![
        u("a", &["HELLO", "3"]),
        c("a", &["CLIENT", "TRACKING", "on"], 1),
    ];
    for write in WRITES {
        script.extend(SETUP.iter().map(|cmd| c("b", cmd, 1)));
        script.extend(sync("a"));
        script.push(c(
            "a",
            &[
                "MGET", "s1", "s2", "l1", "l2", "st1", "st2", "z1", "h1", "x1", "n1",
            ],
            1,
        ));
        script.push(c("a", &["SELECT", "1"], 1));
        script.push(c("a", &["GET", "s1"], 1));
        script.push(c("a", &["SELECT", "0"], 1));
        script.push(c("b", write, 1));
        script.extend(sync("a"));
    }
    differential(&script);
}
