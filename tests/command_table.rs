//! tandem's command table against a real redis-server 7.0's: for every
//! command (and subcommand) both know, `COMMAND INFO` gives the same name,
//! arity, flags and legacy key triple. Clients route and redis-cli hints by
//! these, so a wrong flag (say, a missing `noscript` or `movablekeys`) is a
//! visible bug even when the command itself works.

mod common;

use std::collections::BTreeSet;

use common::{Client, ServerProcess};
use tandem_server::resp::Frame;

fn text(frame: &Frame) -> String {
    match frame {
        Frame::Simple(b) | Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    }
}

fn command_list(c: &mut Client) -> BTreeSet<String> {
    match c.cmd(&["COMMAND", "LIST"]).expect("COMMAND LIST") {
        Frame::Array(items) => items.iter().map(text).collect(),
        other => panic!("COMMAND LIST: {other:?}"),
    }
}

/// (name, arity, sorted flags, first, last, step) of each named command.
fn command_info(c: &mut Client, names: &[&str]) -> Vec<String> {
    let mut args = vec!["COMMAND", "INFO"];
    args.extend_from_slice(names);
    let Frame::Array(entries) = c.cmd(&args).expect("COMMAND INFO") else {
        panic!("COMMAND INFO is not an array");
    };
    entries
        .iter()
        .map(|entry| match entry {
            Frame::Array(fields) if fields.len() >= 6 => {
                let flags: BTreeSet<String> = match &fields[2] {
                    Frame::Array(f) | Frame::Set(f) => f.iter().map(text).collect(),
                    other => panic!("flags: {other:?}"),
                };
                format!(
                    "{} {:?} {:?} {:?} {:?} {:?}",
                    text(&fields[0]),
                    fields[1],
                    flags,
                    fields[3],
                    fields[4],
                    fields[5]
                )
            }
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn command_info_matches_redis_for_every_shared_command() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let ours = command_list(&mut t);
    let theirs = command_list(&mut r);
    let shared: Vec<&str> = ours.intersection(&theirs).map(String::as_str).collect();
    assert!(shared.len() > 250, "only {} shared commands", shared.len());
    // Nothing tandem lists is unknown to Redis 7.0.
    let extra: Vec<&String> = ours.difference(&theirs).collect();
    assert!(
        extra.is_empty(),
        "commands Redis 7.0 does not have: {extra:?}"
    );
    let (a, b) = (command_info(&mut t, &shared), command_info(&mut r, &shared));
    let differences: Vec<String> = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("  tandem: {x}\n  redis:  {y}"))
        .collect();
    assert!(
        differences.is_empty(),
        "COMMAND INFO differs:\n{}",
        differences.join("\n")
    );
}

/// What clients probe to learn the kind of server: cluster and module
/// commands answer as a Redis 7.0 without cluster support or modules.
#[test]
fn cluster_and_module_probes_answer_as_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let probes: &[&[&str]] = &[
        &["CLUSTER", "INFO"],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "SHARDS"],
        &["CLUSTER", "HELP"],
        &["CLUSTER", "bogus"],
        &["CLUSTER"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
        &["MODULE", "LIST"],
        &["MODULE", "LOAD", "/nonexistent.so"],
        &["MODULE", "UNLOAD", "nosuch"],
        &["MODULE", "HELP"],
        &["MODULE", "bogus"],
    ];
    for probe in probes {
        assert_eq!(t.q(probe), r.q(probe), "reply to {probe:?}");
    }
}

/// Drops Redis's free-text `notes` from key specs (tandem does not carry
/// them), recursively, and renders the rest.
fn without_notes(frame: &Frame) -> String {
    match frame {
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .filter(|(k, _)| text(k) != "notes")
                .map(|(k, v)| format!("{}: {}", without_notes(k), without_notes(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Frame::Array(items) | Frame::Set(items) => format!(
            "[{}]",
            items
                .iter()
                .map(without_notes)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => common::render(other),
    }
}

/// (full name, key specs) of a COMMAND INFO entry and its subcommands.
fn key_specs_of(entry: &Frame, out: &mut Vec<(String, String)>) {
    let Frame::Array(fields) = entry else {
        out.push(("?".into(), format!("{entry:?}")));
        return;
    };
    out.push((text(&fields[0]), without_notes(&fields[8])));
    if let Frame::Array(subs) = &fields[9] {
        for s in subs {
            key_specs_of(s, out);
        }
    }
}

/// The key specs (flags, begin search, find keys) of every command and
/// subcommand are Redis's, in RESP3 where they are maps.
#[test]
fn key_specs_match_redis_for_every_shared_command() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let shared: Vec<String> = command_list(&mut t)
        .intersection(&command_list(&mut r))
        .filter(|n| !n.contains('|'))
        .cloned()
        .collect();
    let mut specs = Vec::new();
    for c in [&mut t, &mut r] {
        c.cmd(&["HELLO", "3"]).expect("HELLO 3");
        let mut args = vec!["COMMAND", "INFO"];
        args.extend(shared.iter().map(String::as_str));
        let Frame::Array(entries) = c.cmd(&args).expect("COMMAND INFO") else {
            panic!("COMMAND INFO is not an array");
        };
        let mut all = Vec::new();
        for e in &entries {
            key_specs_of(e, &mut all);
        }
        // Redis lists subcommands in its dict's order.
        all.sort();
        specs.push(all);
    }
    assert!(specs[0].len() > 300, "only {} entries", specs[0].len());
    let differences: Vec<String> = specs[0]
        .iter()
        .zip(&specs[1])
        .filter(|(x, y)| x != y)
        .map(|(x, y)| format!("  tandem: {x:?}\n  redis:  {y:?}"))
        .collect();
    assert!(
        differences.is_empty(),
        "key specs differ:\n{}",
        differences.join("\n")
    );
}

/// COMMAND GETKEYS and GETKEYSANDFLAGS give Redis's keys, per-call flags
/// (SET with and without GET, BITFIELD GET, SORT STORE, MIGRATE KEYS) and
/// errors for a spread of commands and argument shapes.
#[test]
fn getkeys_and_flags_match_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let lines = [
        "set k1 v1",
        "set k1 v1 get",
        "set k1 v1 GET",
        "set k1 v1 nx get",
        "set k1 v1 ex 10",
        "set k1 get",
        "mset k1 v1 k2 v2",
        "msetnx k1 v1 k2 v2",
        "mget a b c",
        "get a",
        "getex a persist",
        "getdel a",
        "getset a b",
        "append a b",
        "incr a",
        "del a b c",
        "unlink a b",
        "exists a b",
        "touch a",
        "rename a b",
        "renamenx a b",
        "copy a b",
        "copy a b db 1 replace",
        "move a 1",
        "expire a 10",
        "persist a",
        "ttl a",
        "type a",
        "dump a",
        "restore a 0 x",
        "object encoding a",
        "object freq a",
        "memory usage a",
        "xinfo stream s",
        "xinfo groups s",
        "lmove k1 k2 left right",
        "blmove k1 k2 left right 0",
        "rpoplpush a b",
        "brpoplpush a b 0",
        "lpush a 1",
        "rpushx a 1",
        "linsert a before 1 2",
        "lpop a",
        "blpop a b 0",
        "lmpop 2 a b left",
        "lmpop 0 a left",
        "lmpop 3 a b left",
        "blmpop 0 2 a b left",
        "sort k1 store k2",
        "sort k1",
        "sort k1 by x get y store k2 store k3",
        "sort k1 limit 0 1 store k2",
        "sort k1 store",
        "sort_ro k1 by x get y",
        "bitfield k get u8 0",
        "bitfield k set u8 0 1",
        "bitfield k set u8 0 1 get u8 0",
        "bitfield k incrby u8 0 1",
        "bitfield k get u8",
        "bitfield k",
        "bitfield k get set 0",
        "bitfield k get incrby 0 1",
        "bitfield k foo",
        "bitfield k overflow set",
        "bitfield k overflow wrap get u8 0",
        "bitfield k get u8 0 get u8",
        "bitfield_ro k get u8 0",
        "bitop and d a b",
        "bitcount a",
        "setbit a 1 1",
        "pfadd h a",
        "pfcount a b",
        "pfmerge d a b",
        "sadd s a",
        "smove a b m",
        "sinterstore d a b",
        "sunionstore d a",
        "sdiff a b",
        "sintercard 2 a b",
        "sintercard 2 a b limit 1",
        "sintercard 0 a",
        "hset h f v",
        "hgetall h",
        "hincrbyfloat h f 1",
        "zadd z 1 a",
        "zunionstore d 2 a b",
        "zunionstore d 2 a b weights 1 2",
        "zunionstore d 0 a",
        "zunionstore d x a",
        "zunionstore d 3 a b",
        "zinterstore d 1 a",
        "zdiffstore d 2 a b",
        "zunion 2 a b",
        "zinter 1 a withscores",
        "zdiff 2 a b",
        "zintercard 2 a b",
        "zrangestore d s 0 1",
        "zmpop 2 a b min",
        "bzmpop 0 1 a max",
        "bzpopmin a b 0",
        "zrange z 0 1",
        "geoadd g 1 2 m",
        "georadius g 1 2 3 km store d",
        "georadius g 1 2 3 km storedist d",
        "georadius g 1 2 3 km store d storedist e",
        "georadius g 1 2 3 km",
        "georadiusbymember g m 3 km store d",
        "georadius_ro g 1 2 3 km",
        "geosearchstore d s frommember m byradius 1 km",
        "geosearch s frommember m byradius 1 km",
        "xadd s * a b",
        "xread streams a b 0 0",
        "xread count 1 streams a 0",
        "xread streams a b 0",
        "xread streams a",
        "xread block 0 streams streams 0",
        "xreadgroup group g c streams a 0",
        "xreadgroup group g c count 1 streams a b > >",
        "xgroup create s g $",
        "xgroup createconsumer s g c",
        "xautoclaim s g c 0 0",
        "xclaim s g c 0 1-1",
        "xack s g 1-1",
        "xtrim s maxlen 1",
        "eval s 0",
        "eval s 2 a b",
        "eval s 1 a b",
        "eval s 3 a b",
        "eval s x",
        "evalsha x 1 a",
        "eval_ro s 1 a",
        "fcall f 2 a b",
        "fcall_ro f 0",
        "migrate h 1 k 0 1",
        "migrate h 1 \"\" 0 1 keys a b",
        "migrate h 1 \"\" 0 1 copy replace keys a b",
        "migrate h 1 k 0 1 keys a b",
        "watch a b",
        "spublish c m",
        "publish c m",
        "ping",
        "get",
        "nosuchcommand a",
        "config get x",
        "object",
        "object nosuch a",
        "debug object a",
        "lcs a b",
        "strlen a",
        "pexpireat a 1",
        "expiretime a",
        "randomkey",
        "scan 0",
    ];
    for line in lines {
        // Words in double quotes are one argument (the empty key).
        let words: Vec<&str> = line
            .split(' ')
            .map(|w| if w == "\"\"" { "" } else { w })
            .collect();
        for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
            let mut args = vec!["COMMAND", sub];
            args.extend(&words);
            assert_eq!(t.q(&args), r.q(&args), "COMMAND {sub} {line}");
        }
    }
}
