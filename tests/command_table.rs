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
