//! Scripted redis-cli sessions, one per command family, run against tandem and
//! (when installed) a real redis-server 7.0: the outputs must be identical, and
//! key lines are also checked against explicit expectations.

mod common;

use common::{have, ServerProcess};
use std::io::Write;
use std::process::{Command, Stdio};

/// Pipes `script` into redis-cli connected to `server`, returning stdout.
fn run_script(server: &ServerProcess, script: &str) -> String {
    let port = server.port.to_string();
    let mut child = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("redis-cli output");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `script` on tandem and on redis-server; asserts the outputs agree line
/// by line and returns tandem's output lines.
fn differential(script: &str) -> Vec<String> {
    assert!(
        have("redis-cli"),
        "redis-cli must be installed (apt-get install redis-tools)"
    );
    let tandem = ServerProcess::tandem(&[]);
    let ours = run_script(&tandem, script);
    if let Some(redis) = ServerProcess::redis(&[]) {
        let theirs = run_script(&redis, script);
        let cmds: Vec<&str> = script.lines().collect();
        for (i, (a, b)) in ours.lines().zip(theirs.lines()).enumerate() {
            assert_eq!(
                a, b,
                "output line {i} differs (script: {cmds:?})\ntandem:\n{ours}\nredis:\n{theirs}"
            );
        }
        assert_eq!(
            ours.lines().count(),
            theirs.lines().count(),
            "output lengths differ\ntandem:\n{ours}\nredis:\n{theirs}"
        );
    }
    ours.lines().map(str::to_string).collect()
}

fn contains_line(lines: &[String], want: &str) -> bool {
    lines.iter().any(|l| l == want)
}

#[test]
fn strings_family() {
    let script = "\
SET k v
GET k
SET k v2 NX
SET k v3 XX GET
GET k
SET n 10
INCR n
INCRBY n 5
DECR n
DECRBY n 3
INCRBY n notanumber
INCR k
SET big 9223372036854775807
INCR big
INCRBYFLOAT f 10.5
INCRBYFLOAT f 0.1
SET f2 1000.1
INCRBYFLOAT f2 0.1
APPEND s hello
APPEND s \" world\"
STRLEN s
GETRANGE s 0 4
GETRANGE s -5 -1
GETRANGE s 100 200
SETRANGE s 6 WORLD
GET s
SETRANGE pad 3 x
STRLEN pad
SETRANGE s -1 x
MSET a 1 b 2 c 3
MGET a b nosuch c
MSETNX a 9 z 9
MSETNX y 1 z 2
GETSET a new
GETDEL a
GET a
SETNX a first
SETNX a second
GET a
SET e v EX 0
SET e v EX notint
SET e v NX XX
SET e v EX 100 PX 100
SETEX e 100 val
PSETEX e 100000 val
GETEX e PERSIST
TTL e
GETEX nosuch EX 10
MSET odd
GET
OBJECT ENCODING n
OBJECT ENCODING s
OBJECT ENCODING k
";
    let out = differential(script);
    for want in [
        "OK",
        "v3",
        "16",
        "ERR value is not an integer or out of range",
        "ERR increment or decrement would overflow",
        "10.6",
        "1000.19999999999999996",
        "hello WORLD",
        "ERR offset is out of range",
        "ERR invalid expire time in 'set' command",
        "ERR syntax error",
        "ERR wrong number of arguments for 'mset' command",
        "ERR wrong number of arguments for 'get' command",
        "embstr",
        "raw",
        "int",
    ] {
        assert!(
            contains_line(&out, want),
            "missing {want:?} in:\n{}",
            out.join("\n")
        );
    }
}

#[test]
fn keys_family() {
    let script = "\
MSET a 1 b 2 c 3
DEL a nosuch
EXISTS a b c b
TYPE b
TYPE nosuch
RENAME b b2
GET b2
RENAME nosuch x
RENAMENX b2 c
RENAMENX b2 d
COPY d e
GET e
COPY d e
COPY d e REPLACE
MOVE e 1
SELECT 1
GET e
SELECT 0
EXISTS e
SELECT 99
SELECT x
DBSIZE
TOUCH c d nosuch
UNLINK c
EXPIRE d 100
TTL d
PTTL nosuch
TTL e
EXPIRE d 50 GT
EXPIRE d 500 GT
EXPIRE d 50 NX
EXPIRE d 50 XX LT
EXPIRE d 10 NX XX
PERSIST d
PERSIST d
TTL d
EXPIRETIME d
PEXPIREAT d 1
EXISTS d
SET t x
EXPIREAT t 4102444800
EXPIRETIME t
PEXPIRETIME t
KEYS t*
SCAN 0 MATCH t* COUNT 1000
SCAN notacursor
SWAPDB 0 1
GET e
SWAPDB 0 99
FLUSHDB
DBSIZE
FLUSHALL
DBSIZE
FLUSHALL ASYNC
FLUSHALL BADARG
OBJECT FOO
OBJECT ENCODING nosuch
";
    let out = differential(script);
    for want in [
        "3",
        "string",
        "none",
        "ERR no such key",
        "ERR DB index is out of range",
        "4102444800",
        "4102444800000",
        "ERR syntax error",
    ] {
        assert!(
            contains_line(&out, want),
            "missing {want:?} in:\n{}",
            out.join("\n")
        );
    }
}

#[test]
fn server_and_connection_family() {
    let script = "\
PING
PING hello
ECHO hi
SELECT 2
SET x 1
DBSIZE
SELECT 0
DBSIZE
CLIENT SETNAME tester
CLIENT GETNAME
CLIENT SETNAME \"bad name\"
CONFIG SET maxclients 500
CONFIG GET maxclients
CONFIG GET nosuchparam
CONFIG SET nosuchparam 1
CONFIG SET daemonize yes
AUTH foo
HELLO 4
DEBUG DIGEST-VALUE nosuch
SLOWLOG RESET
SLOWLOG LEN
CONFIG FOO
NOSUCHCOMMAND a b
LASTSAVE x
";
    let out = differential(script);
    for want in [
        "PONG",
        "hello",
        "hi",
        "tester",
        "ERR Client names cannot contain spaces, newlines or special characters.",
        "500",
        "NOPROTO unsupported protocol version",
        "ERR unknown command 'NOSUCHCOMMAND', with args beginning with: 'a' 'b' ",
    ] {
        assert!(
            contains_line(&out, want),
            "missing {want:?} in:\n{}",
            out.join("\n")
        );
    }
}

#[test]
fn server_commands_with_varying_output() {
    let tandem = ServerProcess::tandem(&[]);
    let mut c = tandem.client();
    assert!(c.q(&["INFO"]).contains("redis_version:"));
    let info = c.q(&["INFO", "server"]);
    assert!(
        info.contains(&format!("tcp_port:{}", tandem.port)),
        "{info}"
    );
    assert!(
        info.contains(&format!("process_id:{}", tandem.pid())),
        "{info}"
    );
    for section in [
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "keyspace",
    ] {
        let text = c.q(&["INFO", section]);
        assert!(
            text.to_lowercase().contains(&format!("# {section}")),
            "{section}: {text}"
        );
    }
    c.q(&["SET", "k", "v"]);
    assert!(c.q(&["INFO", "keyspace"]).contains("db0:keys=1,expires=0"));
    assert!(c
        .q(&["INFO", "commandstats"])
        .contains("cmdstat_set:calls=1"));
    let time = c.q(&["TIME"]);
    assert!(time.starts_with("[\"") && time.contains(", \""), "{time}");
    let list = c.q(&["CLIENT", "LIST"]);
    assert!(list.contains("cmd=client|list"), "{list}");
    let id = c.q(&["CLIENT", "ID"]);
    assert!(list.contains(&format!("id={}", &id[1..])), "{list} / {id}");
    assert_eq!(c.q(&["RANDOMKEY"]), "\"k\"");
    assert!(c.q(&["COMMAND", "COUNT"]).starts_with(':'));
    let count: i64 = c.q(&["COMMAND", "COUNT"])[1..].parse().expect("count");
    assert!(count > 60, "only {count} commands");
    assert!(c.q(&["COMMAND", "INFO", "get"]).contains("\"get\""));
    assert!(c.q(&["COMMAND", "DOCS", "set"]).contains("summary"));
    assert_eq!(c.q(&["QUIT"]), "+OK");
    assert!(c.is_closed());
}
