//! MIGRATE between real servers: tandem to redis-server 7.0, redis-server to
//! tandem, tandem to tandem; with COPY, REPLACE, KEYS, AUTH, TTLs, and the
//! replies Redis gives when the target refuses a key or cannot be reached.

mod common;

use common::{Client, Flavor, ServerProcess};
use tandem_server::resp::Frame;

/// What a source/target pair ends with after the same MIGRATE script.
fn run_script(source: &ServerProcess, target: &ServerProcess) -> Vec<String> {
    let mut s = source.client();
    let mut t = target.client();
    let port = target.port.to_string();
    let mut out = Vec::new();
    s.q(&["SET", "a", "1"]);
    s.q(&["RPUSH", "l", "x", "y"]);
    s.q(&["PEXPIRE", "l", "500000"]);
    s.q(&["HSET", "h", "f", "v"]);
    s.q(&["SET", "b", "2"]);
    t.q(&["SELECT", "2"]);
    t.q(&["SET", "b", "theirs"]);
    let mut m = |s: &mut Client, args: &[&str]| {
        let mut argv = vec!["MIGRATE", "127.0.0.1", &port];
        argv.extend_from_slice(args);
        out.push(format!("{args:?} => {}", s.q(&argv)));
    };
    m(&mut s, &["a", "2", "5000"]);
    m(&mut s, &["missing", "2", "5000"]);
    m(&mut s, &["", "2", "5000", "COPY", "KEYS", "l", "h", "nope"]);
    m(&mut s, &["b", "2", "5000"]);
    m(&mut s, &["b", "2", "5000", "REPLACE"]);
    m(&mut s, &["l", "2", "5000", "KEYS", "h"]);
    m(&mut s, &["", "2", "5000", "REPLACE", "KEYS", "l", "h"]);
    m(&mut s, &["a", "x", "5000"]);
    m(&mut s, &["a", "2", "5000", "BOGUS"]);
    out.push(format!("source keys {}", sorted_keys(&mut s)));
    out.push(format!("target keys {}", sorted_keys(&mut t)));
    let pttl: i64 = t.q(&["PTTL", "l"])[1..].parse().unwrap_or(-1);
    out.push(format!("ttl kept {}", (400_000..=500_000).contains(&pttl)));
    out.push(format!("b {}", t.q(&["GET", "b"])));
    out.push(format!("h {}", t.q(&["HGETALL", "h"])));
    out
}

fn sorted_keys(c: &mut Client) -> String {
    let Ok(Frame::Array(items)) = c.cmd(&["KEYS", "*"]) else {
        return String::new();
    };
    let mut keys: Vec<String> = items.iter().map(common::render).collect();
    keys.sort();
    keys.join(",")
}

#[test]
fn migrate_matches_redis_in_every_direction() {
    let Some(redis_src) = ServerProcess::redis(&[]) else {
        return;
    };
    let Some(redis_dst) = ServerProcess::redis(&[]) else {
        return;
    };
    let expected = run_script(&redis_src, &redis_dst);
    let pairs = [
        ("tandem -> redis", ServerProcess::tandem(&[]), Flavor::Redis),
        (
            "tandem -> tandem",
            ServerProcess::tandem(&[]),
            Flavor::Tandem,
        ),
    ];
    for (name, source, flavor) in pairs {
        let target = ServerProcess::start(flavor, &[]);
        assert_eq!(run_script(&source, &target), expected, "{name}");
    }
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let target = ServerProcess::tandem(&[]);
    assert_eq!(run_script(&redis, &target), expected, "redis -> tandem");
}

#[test]
fn migrate_authenticates_reports_unreachable_targets_and_replicates_deletes() {
    let target = ServerProcess::tandem(&["--requirepass", "secret"]);
    let source = ServerProcess::tandem(&[]);
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &source.port.to_string()]);
    let mut s = source.client();
    s.q(&["SET", "k", "v"]);
    let port = target.port.to_string();
    let unauth = s.q(&["MIGRATE", "127.0.0.1", &port, "k", "0", "2000"]);
    assert!(
        unauth.starts_with("-ERR Target instance replied with error: NOAUTH"),
        "{unauth}"
    );
    assert_eq!(
        s.q(&[
            "MIGRATE",
            "127.0.0.1",
            &port,
            "k",
            "0",
            "2000",
            "AUTH",
            "secret"
        ]),
        "+OK"
    );
    let mut t = target.client();
    t.q(&["AUTH", "secret"]);
    assert_eq!(t.q(&["GET", "k"]), "\"v\"");
    s.q(&["SET", "k2", "v"]);
    let closed = common::free_port().to_string();
    assert_eq!(
        s.q(&["MIGRATE", "127.0.0.1", &closed, "k2", "0", "500"]),
        "-IOERR error or timeout connecting to the client"
    );
    assert_eq!(s.q(&["EXISTS", "k2"]), ":1");
    let mut r = replica.client();
    common::assert_converged(&mut s, &mut r);
    assert_eq!(r.q(&["EXISTS", "k"]), ":0");
    assert_eq!(r.q(&["EXISTS", "k2"]), ":1");
}
