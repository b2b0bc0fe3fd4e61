//! ACL against a real redis-server 7.0: the same ACL SETUSER rules give the
//! same replies, ACL GETUSER and ACL LIST descriptions, ACL CAT lists, NOPERM
//! errors (at call time, in MULTI/EXEC, in scripts, for keys, channels and
//! subcommands), ACL DRYRUN answers and ACL LOG entries. Redis lists single
//! commands of a description in its hash table's order, which changes from
//! process to process, so descriptions compare with their rules sorted.
//!
//! Key permissions (`%R~`, `%W~`) are checked with ACL DRYRUN for every keyed
//! command, and seeded random rule sequences (`TANDEM_ACL_SEED`,
//! `TANDEM_ACL_STEPS`) compare every reply and description.
//!
//! Also: AUTH and HELLO AUTH, `requirepass` as the default user's password,
//! passwords redacted in SLOWLOG and MONITOR, `user` directives, the ACL file
//! round trip (a file Redis wrote loads into tandem), deleted users losing
//! their connections (and CLIENT KILL USER), and replication where the
//! replica authenticates with `masteruser` in both directions.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::rng::{env_count, env_seeds, Rng};
use common::{assert_converged, render, wait_until, Client, ServerProcess};
use tandem_server::resp::Frame;

/// A tandem and a redis-server, or `None` when redis-server is missing.
fn pair(extra: &[&str]) -> Option<(ServerProcess, ServerProcess)> {
    let tandem = ServerProcess::tandem(extra);
    let redis = ServerProcess::redis(extra)?;
    Some((tandem, redis))
}

/// Sorts the space-separated rules of an ACL description (see the module
/// doc), each selector's rules on their own, selectors kept in order.
fn normalize_rules(text: &str) -> String {
    let mut root: Vec<&str> = Vec::new();
    let mut selectors: Vec<Vec<&str>> = Vec::new();
    let mut open: Option<Vec<&str>> = None;
    for token in text.split(' ') {
        if let Some(group) = open.as_mut() {
            match token.strip_suffix(')') {
                Some(last) => {
                    group.push(last);
                    if let Some(done) = open.take() {
                        selectors.push(done);
                    }
                }
                None => group.push(token),
            }
        } else if let Some(first) = token.strip_prefix('(') {
            match first.strip_suffix(')') {
                Some(only) => selectors.push(vec![only]),
                None => open = Some(vec![first]),
            }
        } else {
            root.push(token);
        }
    }
    root.sort_unstable();
    let mut out = root.join(" ");
    for mut group in selectors.into_iter().chain(open) {
        group.sort_unstable();
        out.push_str(&format!(" ({})", group.join(" ")));
    }
    out
}

/// A reply with every bulk string's rules sorted.
fn normalized(frame: &Frame) -> String {
    match frame {
        Frame::Bulk(b) => format!("\"{}\"", normalize_rules(&String::from_utf8_lossy(b))),
        Frame::Array(items) | Frame::Set(items) => format!(
            "[{}]",
            items.iter().map(normalized).collect::<Vec<_>>().join(", ")
        ),
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), normalized(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => render(other),
    }
}

fn same(t: &mut Client, r: &mut Client, args: &[&str]) -> String {
    let (a, b) = (t.q(args), r.q(args));
    assert_eq!(a, b, "reply to {args:?}");
    a
}

fn same_normalized(t: &mut Client, r: &mut Client, args: &[&str]) {
    let a = normalized(&t.cmd(args).expect("tandem reply"));
    let b = normalized(&r.cmd(args).expect("redis reply"));
    assert_eq!(a, b, "reply to {args:?}");
}

/// Asserts that the server closed `c`: a command gets no reply.
fn assert_closed(c: &mut Client) {
    match c.cmd(&["PING"]) {
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ),
            "expected a closed connection, got {e}"
        ),
        Ok(reply) => panic!("connection still open: {}", render(&reply)),
    }
}

/// A connection authenticated as `user` (with password `pass`).
fn login(server: &ServerProcess, user: &str, pass: &str) -> Client {
    let mut c = server.client();
    assert_eq!(c.q(&["AUTH", user, pass]), "+OK", "AUTH {user}");
    c
}

const RULE_SETS: &[&[&str]] = &[
    &[],
    &["on", ">p1", "~cached:*", "+get", "+@hash", "-hdel"],
    &["on", "nopass", "allkeys", "allchannels", "allcommands"],
    &["reset"],
    &[
        "on",
        "%R~r*",
        "%W~w*",
        "%RW~x",
        "~x",
        "&chan*",
        "+@read",
        "-@dangerous",
    ],
    &[
        "+select|0",
        "+select|1",
        "+config|get",
        "+client",
        "-client|kill",
    ],
    &["+@all", "-@admin", "-debug", "+config|get"],
    &[
        "-@all",
        "+@string",
        "+@list",
        "-lpush",
        "+@set",
        "+@sortedset",
    ],
    &["+@all", "-@write", "+set"],
    &["(~a* +get)", "(+set", "~b*)", "+ping"],
    &["clearselectors", "resetkeys", "resetchannels", "nocommands"],
    &[
        "#2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ">foo",
    ],
    &["!2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"],
    &["resetpass", ">a", ">b", "<a"],
    &["skip-sanitize-payload", "off"],
    &["sanitize-payload", "on"],
    // Errors: nothing changes.
    &["+nosuchcommand"],
    &["+@nosuchcategory"],
    &["on", "~*", "~more"],
    &["&*", "&more"],
    &["<neverset"],
    &["#tooshort"],
    &["!ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789"],
    &["(~a +get"],
    &["+config|get|x"],
    &["+debug|"],
    &["-select|0"],
    &["%X~k"],
    &["~a b"],
    &["what"],
    &["(+nosuch)"],
    &["()"],
    &["(", ")"],
    &["(\"\")"],
    &["%"],
    &["%R"],
    &["%RW"],
    &["%~x"],
    &["%wr~z"],
    &["%Rx"],
    &["%RR~x"],
    &["+"],
    &["-"],
    &["+@"],
    &["+|"],
    &["+get|x", "+get|Y", "+get|x"],
    &["-get", "+client|list", "-client", "+client|help"],
    &["~a", "%R~a", "%W~b", "%W~a"],
    &["&a", "&a", "&b"],
    &[""],
];

#[test]
fn setuser_rules_describe_as_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    for (i, rules) in RULE_SETS.iter().enumerate() {
        // Each set applies to a fresh user and, cumulatively, to one user.
        for user in [format!("fresh{i}"), "acc".to_string()] {
            let mut args = vec!["ACL", "SETUSER", user.as_str()];
            args.extend_from_slice(rules);
            same(&mut t, &mut r, &args);
            same_normalized(&mut t, &mut r, &["ACL", "GETUSER", &user]);
        }
    }
    same_normalized(&mut t, &mut r, &["ACL", "LIST"]);
    same(&mut t, &mut r, &["ACL", "USERS"]);
    same(&mut t, &mut r, &["ACL", "SETUSER", "bad name"]);
    same(&mut t, &mut r, &["ACL", "GETUSER", "nosuch"]);
    same(&mut t, &mut r, &["ACL", "GETUSER", "default"]);
    same(
        &mut t,
        &mut r,
        &["ACL", "DELUSER", "fresh1", "nosuch", "fresh2"],
    );
    same(&mut t, &mut r, &["ACL", "DELUSER", "fresh3", "default"]);
    same(&mut t, &mut r, &["ACL", "USERS"]);
    same(&mut t, &mut r, &["ACL", "WHOAMI"]);
    same(&mut t, &mut r, &["ACL", "HELP"]);
    same(&mut t, &mut r, &["ACL", "NOSUCH"]);
    same(&mut t, &mut r, &["ACL", "CAT", "a", "b"]);
    same(&mut t, &mut r, &["ACL", "GENPASS", "0"]);
    same(&mut t, &mut r, &["ACL", "GENPASS", "4097"]);
    same(&mut t, &mut r, &["ACL", "GENPASS", "x"]);
    same(&mut t, &mut r, &["ACL", "LOAD"]);
    same(&mut t, &mut r, &["ACL", "SAVE"]);
    for bits in ["1", "5", "64", "255", "4096"] {
        let (Frame::Bulk(a), Frame::Bulk(b)) = (
            t.cmd(&["ACL", "GENPASS", bits]).expect("genpass"),
            r.cmd(&["ACL", "GENPASS", bits]).expect("genpass"),
        ) else {
            panic!("ACL GENPASS {bits} is not a bulk string");
        };
        assert_eq!(a.len(), b.len(), "ACL GENPASS {bits} length");
        assert!(a.iter().all(u8::is_ascii_hexdigit));
    }
    assert_ne!(
        t.q(&["ACL", "GENPASS"]),
        t.q(&["ACL", "GENPASS"]),
        "passwords are random"
    );
}

/// Names of every command and subcommand a server knows (COMMAND INFO).
fn all_names(c: &mut Client) -> BTreeSet<String> {
    let Frame::Array(entries) = c.cmd(&["COMMAND"]).expect("COMMAND") else {
        panic!("COMMAND is not an array");
    };
    let mut names = BTreeSet::new();
    fn collect(entry: &Frame, names: &mut BTreeSet<String>) {
        let Frame::Array(fields) = entry else { return };
        if let Some(Frame::Bulk(name)) = fields.first() {
            names.insert(String::from_utf8_lossy(name).into_owned());
        }
        if let Some(Frame::Array(subs)) = fields.get(9) {
            for s in subs {
                collect(s, names);
            }
        }
    }
    for e in &entries {
        collect(e, &mut names);
    }
    names
}

fn string_set(frame: Frame) -> BTreeSet<String> {
    match frame {
        Frame::Array(items) => items
            .iter()
            .map(|i| match i {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => render(other),
            })
            .collect(),
        other => panic!("not an array: {}", render(&other)),
    }
}

/// RESP3 shapes (maps, sets) of ACL GETUSER and ACL LOG, and new users'
/// channels under `acl-pubsub-default allchannels`.
#[test]
fn resp3_and_pubsub_default_as_redis() {
    let Some((tandem, redis)) = pair(&["--acl-pubsub-default", "allchannels"]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    t.cmd(&["HELLO", "3"]).expect("hello");
    r.cmd(&["HELLO", "3"]).expect("hello");
    same(
        &mut t,
        &mut r,
        &["ACL", "SETUSER", "p", "on", ">x", "+get", "(~a* +set)"],
    );
    same_normalized(&mut t, &mut r, &["ACL", "GETUSER", "p"]);
    same(&mut t, &mut r, &["ACL", "SETUSER", "q", "reset", "&x"]);
    same_normalized(&mut t, &mut r, &["ACL", "GETUSER", "q"]);
    same(
        &mut t,
        &mut r,
        &["CONFIG", "SET", "acl-pubsub-default", "resetchannels"],
    );
    same(&mut t, &mut r, &["ACL", "SETUSER", "n", "on"]);
    same_normalized(&mut t, &mut r, &["ACL", "LIST"]);
    same(&mut t, &mut r, &["AUTH", "p", "wrong"]);
    let (Frame::Array(a), Frame::Array(b)) = (
        t.cmd(&["ACL", "LOG"]).expect("log"),
        r.cmd(&["ACL", "LOG"]).expect("log"),
    ) else {
        panic!("ACL LOG");
    };
    let shape = |f: &Frame| match f {
        Frame::Map(p) => format!("map of {}", p.len()),
        other => render(other),
    };
    assert_eq!(
        a.iter().map(shape).collect::<Vec<_>>(),
        b.iter().map(shape).collect::<Vec<_>>()
    );
}

#[test]
fn acl_cat_lists_as_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let categories = same(&mut t, &mut r, &["ACL", "CAT"]);
    assert!(categories.contains("\"scripting\""));
    same(&mut t, &mut r, &["ACL", "CAT", "nosuch"]);
    let ours = all_names(&mut t);
    let theirs = all_names(&mut r);
    let Frame::Array(cats) = r.cmd(&["ACL", "CAT"]).expect("ACL CAT") else {
        panic!("ACL CAT");
    };
    let mut differences = Vec::new();
    for cat in cats {
        let Frame::Bulk(cat) = cat else { continue };
        let cat = String::from_utf8_lossy(&cat).into_owned();
        let a = string_set(t.cmd(&["ACL", "CAT", &cat]).expect("tandem"));
        let b: BTreeSet<String> =
            string_set(r.cmd(&["ACL", "CAT", &cat.to_uppercase()]).expect("redis"))
                .into_iter()
                .filter(|n| ours.contains(n))
                .collect();
        if a != b {
            differences.push(format!("ACL CAT {cat}: tandem {a:?}, redis {b:?}"));
        }
        assert!(a.iter().all(|n| theirs.contains(n)));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Users both servers get, and commands each runs as them.
const USERS: &[&[&str]] = &[
    &[
        "limited",
        "on",
        ">pw",
        "~k*",
        "&news",
        "+@all",
        "-flushall",
        "-config|set",
    ],
    &[
        "reader",
        "on",
        ">pw",
        "%R~*",
        "%W~w*",
        "+@all",
        "-@dangerous",
    ],
    &[
        "picky",
        "on",
        ">pw",
        "~*",
        "+get",
        "+select|0",
        "+config|get",
        "+multi",
        "+exec",
        "+eval",
        "+publish",
    ],
    &[
        "sel",
        "on",
        ">pw",
        "+get",
        "~a*",
        "(+set ~b*)",
        "(+@list %R~c*)",
    ],
];

const CALLS: &[&[&str]] = &[
    &["GET", "k1"],
    &["GET", "x1"],
    &["SET", "k1", "v"],
    &["SET", "w1", "v"],
    &["SET", "w1", "v", "GET"],
    &["SET", "b1", "v"],
    &["SET", "a1", "v"],
    &["GET", "a1"],
    &["GET", "b1"],
    &["LRANGE", "c1", "0", "-1"],
    &["LPUSH", "c1", "x"],
    &["RPOPLPUSH", "c1", "c2"],
    &["FLUSHALL"],
    &["CONFIG", "SET", "maxmemory", "0"],
    &["CONFIG", "GET", "maxmemory"],
    &["CONFIG", "RESETSTAT"],
    &["PUBLISH", "news", "hi"],
    &["PUBLISH", "other", "hi"],
    &["SUBSCRIBE", "other"],
    &["PSUBSCRIBE", "n*"],
    &["SPUBLISH", "news", "hi"],
    &["SPUBLISH", "other", "hi"],
    &["SSUBSCRIBE", "other"],
    &["PUBSUB", "NUMSUB", "other"],
    &["UNSUBSCRIBE", "other"],
    &["MSET", "k1", "a", "x1", "b"],
    &["COPY", "k1", "w2"],
    &["COPY", "w1", "k2"],
    &["SELECT", "0"],
    &["SELECT", "1"],
    &["DEBUG", "SLEEP", "0"],
    &["EXISTS", "x1"],
    &["ZUNIONSTORE", "w3", "2", "k1", "x1"],
    &["SORT", "k1", "STORE", "x9"],
    &["EVAL", "return redis.call('get', KEYS[1])", "1", "x1"],
    &["EVAL", "return redis.call('get', 'x1')", "0"],
    &["EVAL", "return redis.pcall('flushall')", "0"],
    &["PING"],
    &["ACL", "WHOAMI"],
    &["NOSUCH"],
];

fn setup_users(t: &mut Client, r: &mut Client) {
    for u in USERS {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(u);
        same(t, r, &args);
    }
}

#[test]
fn noperm_errors_match_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    setup_users(&mut t, &mut r);
    for u in USERS {
        let (mut tu, mut ru) = (login(&tandem, u[0], "pw"), login(&redis, u[0], "pw"));
        for call in CALLS {
            same(&mut tu, &mut ru, call);
        }
        // Inside MULTI a refused command is refused when queued, and the
        // transaction aborts.
        if same(&mut tu, &mut ru, &["MULTI"]) == "+OK" {
            same(&mut tu, &mut ru, &["GET", "k1"]);
            same(&mut tu, &mut ru, &["FLUSHALL"]);
            same(&mut tu, &mut ru, &["GET", "x1"]);
            same(&mut tu, &mut ru, &["EXEC"]);
        }
    }
    // Rules that change between MULTI and EXEC refuse at EXEC.
    let (mut tu, mut ru) = (login(&tandem, "picky", "pw"), login(&redis, "picky", "pw"));
    same(&mut tu, &mut ru, &["MULTI"]);
    same(&mut tu, &mut ru, &["GET", "k1"]);
    same(&mut tu, &mut ru, &["PUBLISH", "news", "x"]);
    same(
        &mut t,
        &mut r,
        &["ACL", "SETUSER", "picky", "-get", "resetchannels"],
    );
    same(&mut tu, &mut ru, &["EXEC"]);
    // ACL DRYRUN answers for any user without running anything.
    for u in USERS {
        for call in CALLS {
            let mut args = vec!["ACL", "DRYRUN", u[0]];
            args.extend_from_slice(call);
            same(&mut t, &mut r, &args);
        }
    }
    same(&mut t, &mut r, &["ACL", "DRYRUN", "nosuch", "get", "x"]);
    same(&mut t, &mut r, &["ACL", "DRYRUN", "limited", "nosuch"]);
    same(
        &mut t,
        &mut r,
        &["ACL", "DRYRUN", "limited", "config", "nosuch"],
    );
    same(&mut t, &mut r, &["ACL", "DRYRUN", "limited", "get"]);
    same(&mut t, &mut r, &["ACL", "DRYRUN", "limited", "config"]);
}

/// ACL LOG entries without their times and client descriptions.
fn log_entries(c: &mut Client) -> Vec<String> {
    let Frame::Array(entries) = c.cmd(&["ACL", "LOG"]).expect("ACL LOG") else {
        panic!("ACL LOG is not an array");
    };
    entries
        .iter()
        .map(|e| {
            let fields: Vec<(String, String)> = match e {
                Frame::Array(items) => items
                    .chunks(2)
                    .map(|kv| (render(&kv[0]), render(&kv[1])))
                    .collect(),
                Frame::Map(pairs) => pairs.iter().map(|(k, v)| (render(k), render(v))).collect(),
                other => panic!("entry {}", render(other)),
            };
            let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(
                names,
                [
                    "\"count\"",
                    "\"reason\"",
                    "\"context\"",
                    "\"object\"",
                    "\"username\"",
                    "\"age-seconds\"",
                    "\"client-info\""
                ]
            );
            // Of the client description, the fields both servers share.
            let info = fields
                .iter()
                .find(|(k, _)| k == "\"client-info\"")
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let shared: Vec<&str> = info
                .trim_matches('"')
                .split(' ')
                .filter(|f| {
                    ["cmd=", "user=", "db=", "multi=", "flags=", "name=", "resp="]
                        .iter()
                        .any(|p| f.starts_with(p))
                })
                .collect();
            let mut line = fields
                .iter()
                .filter(|(k, _)| k != "\"age-seconds\"" && k != "\"client-info\"")
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ");
            line.push_str(&format!(" client-info[{}]", shared.join(" ")));
            line
        })
        .collect()
}

#[test]
fn acl_log_matches_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    setup_users(&mut t, &mut r);
    let (mut tu, mut ru) = (
        login(&tandem, "limited", "pw"),
        login(&redis, "limited", "pw"),
    );
    for call in [
        &["FLUSHALL"][..],
        &["FLUSHALL"],
        &["GET", "x1"],
        &["PUBLISH", "other", "x"],
        &["CONFIG", "SET", "maxmemory", "0"],
        &["EVAL", "return redis.call('get', 'zz')", "0"],
    ] {
        same(&mut tu, &mut ru, call);
    }
    same(&mut tu, &mut ru, &["MULTI"]);
    same(&mut tu, &mut ru, &["FLUSHALL"]);
    same(&mut tu, &mut ru, &["DISCARD"]);
    same(&mut tu, &mut ru, &["AUTH", "limited", "wrong"]);
    same(&mut tu, &mut ru, &["AUTH", "nosuch", "wrong"]);
    same(
        &mut tu,
        &mut ru,
        &["HELLO", "2", "AUTH", "limited", "wrong"],
    );
    assert_eq!(log_entries(&mut t), log_entries(&mut r));
    let Frame::Array(two) = t.cmd(&["ACL", "LOG", "2"]).expect("ACL LOG 2") else {
        panic!("ACL LOG 2");
    };
    assert_eq!(two.len(), 2);
    assert_eq!(t.q(&["ACL", "LOG", "x"]), r.q(&["ACL", "LOG", "x"]));
    same(&mut t, &mut r, &["ACL", "LOG", "RESET"]);
    same(&mut t, &mut r, &["ACL", "LOG"]);
    // acllog-max-len bounds the log from the next entry on.
    same(&mut t, &mut r, &["CONFIG", "SET", "acllog-max-len", "2"]);
    for key in ["x1", "x2", "x3", "x2"] {
        same(&mut tu, &mut ru, &["GET", key]);
    }
    let entries = log_entries(&mut t);
    assert_eq!(entries, log_entries(&mut r));
    assert_eq!(entries.len(), 2);
}

#[test]
fn auth_and_hello_as_redis() {
    let Some((tandem, redis)) = pair(&["--requirepass", "secret"]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    same(&mut t, &mut r, &["PING"]);
    same(&mut t, &mut r, &["ACL", "WHOAMI"]);
    same(&mut t, &mut r, &["HELLO", "3"]);
    same(&mut t, &mut r, &["AUTH", "wrong"]);
    same(&mut t, &mut r, &["AUTH", "default", "wrong"]);
    same(&mut t, &mut r, &["AUTH", "secret"]);
    same(&mut t, &mut r, &["ACL", "WHOAMI"]);
    same_normalized(&mut t, &mut r, &["ACL", "GETUSER", "default"]);
    same(
        &mut t,
        &mut r,
        &["ACL", "SETUSER", "u", "on", ">up", "+@all", "~*"],
    );
    same(
        &mut t,
        &mut r,
        &["ACL", "SETUSER", "off", "off", ">x", "+@all"],
    );
    let (mut t2, mut r2) = (tandem.client(), redis.client());
    same(&mut t2, &mut r2, &["AUTH", "off", "x"]);
    same(&mut t2, &mut r2, &["AUTH", "u", "wrong"]);
    same(&mut t2, &mut r2, &["GET", "k"]);
    let hello_t = t2.q(&["HELLO", "2", "AUTH", "u", "up", "SETNAME", "cli"]);
    assert!(hello_t.contains("\"proto\", :2"), "{hello_t}");
    r2.q(&["HELLO", "2", "AUTH", "u", "up", "SETNAME", "cli"]);
    same(&mut t2, &mut r2, &["ACL", "WHOAMI"]);
    same(&mut t2, &mut r2, &["GET", "k"]);
    let info = t2.q(&["CLIENT", "INFO"]);
    assert!(info.contains(" user=u "), "{info}");
    assert!(info.contains(" name=cli "), "{info}");
    // CONFIG SET requirepass changes the default user's password.
    same(&mut t, &mut r, &["CONFIG", "SET", "requirepass", "other"]);
    let (mut t3, mut r3) = (tandem.client(), redis.client());
    same(&mut t3, &mut r3, &["AUTH", "secret"]);
    same(&mut t3, &mut r3, &["AUTH", "other"]);
    same(&mut t, &mut r, &["CONFIG", "SET", "requirepass", ""]);
    let (mut t4, mut r4) = (tandem.client(), redis.client());
    same(&mut t4, &mut r4, &["PING"]);
    same(&mut t4, &mut r4, &["AUTH", "x"]);
    // RESET goes back to the default user.
    same(&mut t2, &mut r2, &["RESET"]);
    same(&mut t2, &mut r2, &["ACL", "WHOAMI"]);
}

#[test]
fn deleted_user_loses_its_connections() {
    let tandem = ServerProcess::tandem(&[]);
    let mut admin = tandem.client();
    assert_eq!(
        admin.q(&["ACL", "SETUSER", "gone", "on", ">pw", "+@all", "~*"]),
        "+OK"
    );
    assert_eq!(
        admin.q(&["ACL", "SETUSER", "sub", "on", ">pw", "+@all", "~*", "&a*"]),
        "+OK"
    );
    let mut victim = login(&tandem, "gone", "pw");
    assert_eq!(victim.q(&["PING"]), "+PONG");
    // Changing rules keeps the connection and applies at once.
    assert_eq!(admin.q(&["ACL", "SETUSER", "gone", "-ping"]), "+OK");
    assert_eq!(
        victim.q(&["PING"]),
        "-NOPERM this user has no permissions to run the 'ping' command"
    );
    assert_eq!(admin.q(&["ACL", "DELUSER", "gone"]), ":1");
    assert_closed(&mut victim);
    // A subscriber whose channels are revoked is disconnected; one whose
    // channels stay allowed is kept.
    let mut keeps = login(&tandem, "sub", "pw");
    assert!(keeps.q(&["SUBSCRIBE", "ab"]).contains("subscribe"));
    assert_eq!(admin.q(&["ACL", "SETUSER", "sub", "&b*"]), "+OK");
    assert_eq!(admin.q(&["PUBLISH", "ab", "m"]), ":1");
    assert!(keeps.read().is_ok(), "still subscribed");
    assert_eq!(
        admin.q(&["ACL", "SETUSER", "sub", "resetchannels", "&b*"]),
        "+OK"
    );
    assert_closed(&mut keeps);
    // CLIENT KILL USER closes a user's connections only.
    let (mut k1, mut k2) = (login(&tandem, "sub", "pw"), login(&tandem, "sub", "pw"));
    assert_eq!(admin.q(&["CLIENT", "KILL", "USER", "sub"]), ":2");
    assert_closed(&mut k1);
    assert_closed(&mut k2);
    assert_eq!(admin.q(&["PING"]), "+PONG");
    assert_eq!(
        admin.q(&["CLIENT", "KILL", "USER", "nosuch"]),
        "-ERR No such user 'nosuch'"
    );
    // A user deleting itself gets its reply first.
    assert_eq!(
        admin.q(&["ACL", "SETUSER", "self", "on", ">pw", "+@all", "~*"]),
        "+OK"
    );
    let mut me = login(&tandem, "self", "pw");
    assert_eq!(me.q(&["ACL", "DELUSER", "self"]), ":1");
    assert_closed(&mut me);
}

#[test]
fn user_directives_and_acl_file() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let dir = common::TempDir::new("aclfile");
    // `user` directives in a config file.
    let conf = dir.path().join("users.conf");
    std::fs::write(
        &conf,
        "user alice on >apw ~a* +get\nuser default on nopass ~* &* +@all -flushall\n",
    )
    .expect("write config");
    let conf_s = conf.display().to_string();
    let tandem = ServerProcess::tandem(&["--include", &conf_s]);
    let mut t = tandem.client();
    assert_eq!(
        t.q(&["FLUSHALL"]),
        "-NOPERM this user has no permissions to run the 'flushall' command"
    );
    let mut alice = login(&tandem, "alice", "apw");
    assert_eq!(alice.q(&["GET", "a1"]), "(nil)");
    drop(tandem);

    // ACL SAVE writes Redis's format; a file Redis saved loads into tandem.
    let aclfile = dir.path().join("users.acl");
    std::fs::write(&aclfile, "").expect("empty acl file");
    let aclfile_s = aclfile.display().to_string();
    let tandem = ServerProcess::tandem(&["--aclfile", &aclfile_s]);
    let mut t = tandem.client();
    let mut r = redis.client();
    for u in USERS {
        let mut args = vec!["ACL", "SETUSER"];
        args.extend_from_slice(u);
        same(&mut t, &mut r, &args);
    }
    assert_eq!(t.q(&["ACL", "SAVE"]), "+OK");
    let saved = std::fs::read_to_string(&aclfile).expect("saved acl file");
    let Frame::Array(list) = t.cmd(&["ACL", "LIST"]).expect("ACL LIST") else {
        panic!("ACL LIST");
    };
    let listed: Vec<String> = list
        .iter()
        .map(|l| render(l).trim_matches('"').to_string())
        .collect();
    assert_eq!(
        saved,
        listed.iter().map(|l| format!("{l}\n")).collect::<String>()
    );
    // Reload what was saved: same users.
    let before = normalized(&t.cmd(&["ACL", "LIST"]).expect("list"));
    assert_eq!(t.q(&["ACL", "LOAD"]), "+OK");
    assert_eq!(normalized(&t.cmd(&["ACL", "LIST"]).expect("list")), before);
    // Redis's own file, and a broken file (nothing changes).
    let redis_acl = dir.path().join("redis.acl");
    let Frame::Array(redis_list) = r.cmd(&["ACL", "LIST"]).expect("redis ACL LIST") else {
        panic!("ACL LIST");
    };
    let redis_text: String = redis_list
        .iter()
        .map(|l| format!("{}\n", render(l).trim_matches('"')))
        .collect();
    std::fs::write(&redis_acl, &redis_text).expect("write");
    std::fs::copy(&redis_acl, &aclfile).expect("copy");
    let mut old_user = login(&tandem, "limited", "pw");
    assert_eq!(t.q(&["ACL", "LOAD"]), "+OK");
    assert_eq!(
        normalized(&t.cmd(&["ACL", "LIST"]).expect("list")),
        normalized(&Frame::Array(redis_list))
    );
    // ACL LOAD replaces users and closes their connections.
    assert_closed(&mut old_user);
    std::fs::write(&aclfile, "user x on +nosuch\nuser y bogus\n# comment\n").expect("write");
    let err = t.q(&["ACL", "LOAD"]);
    assert_eq!(
        err,
        format!(
            "-ERR {f}:1: Error in applying operation '+nosuch': Unknown command or category name in ACL. \
             {f}:2: Syntax error. {f}:3 should start with user keyword followed by the username. \
             WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
            f = aclfile_s
        )
    );
    assert_eq!(
        normalized(&t.cmd(&["ACL", "LIST"]).expect("list")),
        list_of(&redis_text)
    );
}

/// The normalized ACL LIST reply that lists the lines of `text`.
fn list_of(text: &str) -> String {
    let lines: Vec<Frame> = text
        .lines()
        .map(|l| Frame::Bulk(bytes::Bytes::copy_from_slice(l.as_bytes())))
        .collect();
    normalized(&Frame::Array(lines))
}

/// The rules a replica's user needs.
const REPL_USER: &[&str] = &[
    "ACL",
    "SETUSER",
    "repl",
    "on",
    ">rpw",
    "-@all",
    "+psync",
    "+sync",
    "+replconf",
    "+ping",
];

fn replicate(primary: &ServerProcess, replica: &ServerProcess) {
    let mut c = replica.client();
    let port = primary.port.to_string();
    assert_eq!(c.q(&["CONFIG", "SET", "masteruser", "repl"]), "+OK");
    assert_eq!(c.q(&["CONFIG", "SET", "masterauth", "rpw"]), "+OK");
    assert_eq!(c.q(&["REPLICAOF", "127.0.0.1", &port]), "+OK");
    assert!(
        wait_until(Duration::from_secs(20), || {
            common::info_field(&mut c, "replication", "master_link_status").as_deref() == Some("up")
        }),
        "replica did not connect with masteruser; log:\n{}",
        replica.log()
    );
}

#[test]
fn replicas_authenticate_with_masteruser() {
    // A tandem primary whose default user is locked: the replicas log in as
    // `repl`, which can do nothing but replicate.
    let primary = ServerProcess::tandem(&["--requirepass", "adminpw"]);
    let mut p = primary.client();
    assert_eq!(p.q(&["AUTH", "adminpw"]), "+OK");
    assert_eq!(p.q(REPL_USER), "+OK");
    let replica = ServerProcess::tandem(&[]);
    replicate(&primary, &replica);
    for i in 0..100 {
        p.q(&["SET", &format!("k{i}"), &i.to_string()]);
    }
    assert_converged(&mut p, &mut replica.client());
    if let Some(redis_replica) = ServerProcess::redis(&[]) {
        replicate(&primary, &redis_replica);
        p.q(&["INCR", "counter"]);
        assert_converged(&mut p, &mut redis_replica.client());
    }
    // Deleting the replication user drops the links, and they cannot log in
    // again.
    assert_eq!(p.q(&["ACL", "DELUSER", "repl"]), ":1");
    let mut rc = replica.client();
    assert!(wait_until(Duration::from_secs(10), || {
        common::info_field(&mut rc, "replication", "master_link_status").as_deref() == Some("down")
    }));
    assert!(!p.q(&["CLIENT", "LIST"]).contains("flags=S"));
    // A tandem replica of a redis-server primary with the same setup.
    let Some(redis_primary) = ServerProcess::redis(&["--requirepass", "adminpw"]) else {
        return;
    };
    let mut rp = redis_primary.client();
    assert_eq!(rp.q(&["AUTH", "adminpw"]), "+OK");
    assert_eq!(rp.q(REPL_USER), "+OK");
    let replica2 = ServerProcess::tandem(&[]);
    replicate(&redis_primary, &replica2);
    rp.q(&["SET", "from", "redis"]);
    assert_converged(&mut rp, &mut replica2.client());
    // Without the right password the link stays down.
    let replica3 = ServerProcess::tandem(&[]);
    let mut c3 = replica3.client();
    assert_eq!(c3.q(&["CONFIG", "SET", "masteruser", "repl"]), "+OK");
    assert_eq!(c3.q(&["CONFIG", "SET", "masterauth", "wrong"]), "+OK");
    let port = primary.port.to_string();
    assert_eq!(c3.q(&["REPLICAOF", "127.0.0.1", &port]), "+OK");
    std::thread::sleep(Duration::from_millis(1500));
    assert_ne!(
        common::info_field(&mut c3, "replication", "master_link_status").as_deref(),
        Some("up")
    );
}

/// Every keyed command of tandem's table, its arguments all `1` (a key
/// name, a count of one key, a number), under users who may only read, only
/// write, or only name keys: ACL DRYRUN answers as Redis's key specs say.
#[test]
fn key_permissions_follow_redis_key_specs() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    for rules in [
        &["ACL", "SETUSER", "ro", "+@all", "%R~*"][..],
        &["ACL", "SETUSER", "wo", "+@all", "%W~*"],
        &["ACL", "SETUSER", "named", "+@all", "%R~zz"],
        &["ACL", "SETUSER", "one", "+@all", "~1"],
        &["ACL", "SETUSER", "k", "+@all", "%R~k", "%W~d"],
    ] {
        same(&mut t, &mut r, rules);
    }
    let Frame::Array(entries) = t.cmd(&["COMMAND"]).expect("COMMAND") else {
        panic!("COMMAND");
    };
    let mut calls: Vec<Vec<String>> = Vec::new();
    fn collect(entry: &Frame, calls: &mut Vec<Vec<String>>) {
        let Frame::Array(f) = entry else { return };
        let (Some(Frame::Bulk(name)), Some(Frame::Integer(arity)), Some(Frame::Integer(first))) =
            (f.first(), f.get(1), f.get(3))
        else {
            return;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        if let Some(Frame::Array(subs)) = f.get(9) {
            for s in subs {
                collect(s, calls);
            }
        }
        if *first <= 0 {
            return;
        }
        let words: Vec<String> = name.split('|').map(str::to_string).collect();
        let argc = arity.unsigned_abs() as usize;
        for extra in [0, 2] {
            let mut argv = words.clone();
            while argv.len() < argc + extra {
                argv.push("1".to_string());
            }
            calls.push(argv);
        }
    }
    for e in &entries {
        collect(e, &mut calls);
    }
    // Commands whose keys move (a key count, keywords): first key 0.
    for call in [
        "eval x 1 k a",
        "eval_ro x 1 k a",
        "evalsha x 1 k",
        "evalsha_ro x 1 k",
        "fcall f 1 k",
        "fcall_ro f 1 k",
        "eval x 0 a",
        "zunion 2 k j",
        "zinter 1 k",
        "zdiff 1 k",
        "zintercard 2 k j",
        "sintercard 1 k",
        "lmpop 1 k left",
        "zmpop 1 k min",
        "blmpop 0 1 k left",
        "bzmpop 0 1 k min",
        "zunionstore d 2 k j",
        "georadius k 0 0 1 km store d",
        "georadius k 0 0 1 km storedist d",
        "georadiusbymember k m 1 km store d",
        "sort k by w get g store d",
        "sort_ro k",
        "bitfield k get u8 0",
        "bitfield k overflow wrap get u8 0",
        "bitfield k incrby u8 0 1",
        "set k v nx get",
    ] {
        calls.push(call.split(' ').map(str::to_string).collect());
    }
    calls.push(vec!["set".into(), "1".into(), "1".into(), "get".into()]);
    calls.push(vec!["sort".into(), "1".into(), "store".into(), "1".into()]);
    assert!(calls.len() > 200, "{} calls", calls.len());
    let mut differences = Vec::new();
    for user in ["ro", "wo", "named", "one", "k"] {
        for call in &calls {
            let mut args = vec!["ACL", "DRYRUN", user];
            args.extend(call.iter().map(String::as_str));
            let (a, b) = (t.q(&args), r.q(&args));
            if a != b {
                differences.push(format!("{args:?}: tandem {a}, redis {b}"));
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

const CATEGORY_NAMES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "all",
];
const RULE_COMMANDS: &[&str] = &[
    "get",
    "set",
    "del",
    "config",
    "config|get",
    "config|set",
    "client",
    "client|kill",
    "client|list",
    "select|0",
    "select|9",
    "debug",
    "flushall",
    "keys",
    "hset",
    "lpush",
    "eval",
    "publish",
    "subscribe",
    "ping",
    "xadd",
    "xgroup|create",
    "object|encoding",
    "sort",
    "get|x",
    "@all",
];
const FLAG_RULES: &[&str] = &[
    "on",
    "off",
    "nopass",
    "resetpass",
    ">p1",
    ">p2",
    "<p1",
    "reset",
    "skip-sanitize-payload",
    "sanitize-payload",
    "clearselectors",
];
const PATTERN_RULES: &[&str] = &[
    "~k*",
    "~*",
    "allkeys",
    "resetkeys",
    "%R~r*",
    "%W~w*",
    "%RW~x*",
    "%R~k*",
    "&c*",
    "&*",
    "allchannels",
    "resetchannels",
    "&news",
    "allcommands",
    "nocommands",
    "%R",
    "%W~",
];

/// One random rule a selector may hold.
fn selector_rule(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => rng.pick(PATTERN_RULES).to_string(),
        1 => format!(
            "{}@{}",
            if rng.percent(50) { '+' } else { '-' },
            rng.pick(CATEGORY_NAMES)
        ),
        _ => format!(
            "{}{}",
            if rng.percent(70) { '+' } else { '-' },
            rng.pick(RULE_COMMANDS)
        ),
    }
}

fn random_rule(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 | 1 => rng.pick(FLAG_RULES).to_string(),
        2 => {
            let n = rng.between(1, 3);
            let inner: Vec<String> = (0..n).map(|_| selector_rule(rng)).collect();
            format!("({})", inner.join(" "))
        }
        _ => selector_rule(rng),
    }
}

const DRYRUN_CALLS: &[&[&str]] = &[
    &["get", "k1"],
    &["get", "r1"],
    &["set", "w1", "v"],
    &["set", "x1", "v", "get"],
    &["del", "k1", "w1"],
    &["config", "get", "maxmemory"],
    &["config", "set", "maxmemory", "0"],
    &["client", "kill", "id", "9"],
    &["client", "list"],
    &["select", "0"],
    &["select", "9"],
    &["publish", "news", "m"],
    &["publish", "c1", "m"],
    &["subscribe", "c1", "news"],
    &["psubscribe", "c*"],
    &["object", "encoding", "k1"],
    &["sort", "r1", "store", "w1"],
    &["eval", "return 1", "1", "x1"],
    &["hset", "k1", "f", "v"],
    &["lpush", "w1", "a"],
    &["ping"],
    &["debug", "sleep", "0"],
];

/// Seeded random ACL SETUSER sequences on a few users: every reply, every
/// description and ACL DRYRUN of a set of calls match Redis.
///
/// Environment: `TANDEM_ACL_SEED` (comma-separated seeds), `TANDEM_ACL_STEPS`.
#[test]
fn random_rules_match_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let steps = env_count("TANDEM_ACL_STEPS", 300);
    for seed in env_seeds("TANDEM_ACL_SEED", &[1, 2, 3]) {
        eprintln!("random_rules_match_redis: seed {seed}, {steps} steps");
        let mut rng = Rng::new(seed);
        for step in 0..steps {
            let user = format!("u{seed}_{}", rng.below(3));
            let n = rng.between(1, 4);
            let rules: Vec<String> = (0..n).map(|_| random_rule(&mut rng)).collect();
            let mut args = vec!["ACL", "SETUSER", user.as_str()];
            args.extend(rules.iter().map(String::as_str));
            let context = format!("seed {seed} step {step}: {args:?}");
            assert_eq!(t.q(&args), r.q(&args), "{context}");
            let get = ["ACL", "GETUSER", user.as_str()];
            assert_eq!(
                normalized(&t.cmd(&get).expect("getuser")),
                normalized(&r.cmd(&get).expect("getuser")),
                "{context}"
            );
            if step % 5 == 0 {
                for call in DRYRUN_CALLS {
                    let mut args = vec!["ACL", "DRYRUN", user.as_str()];
                    args.extend_from_slice(call);
                    assert_eq!(t.q(&args), r.q(&args), "{context}");
                }
            }
        }
        let list = ["ACL", "LIST"];
        assert_eq!(
            normalized(&t.cmd(&list).expect("list")),
            normalized(&r.cmd(&list).expect("list")),
            "seed {seed}"
        );
    }
}

/// The arguments of each SLOWLOG entry, newest first.
fn slowlog_args(c: &mut Client) -> Vec<String> {
    let Frame::Array(entries) = c.cmd(&["SLOWLOG", "GET", "20"]).expect("SLOWLOG GET") else {
        panic!("SLOWLOG GET");
    };
    entries
        .iter()
        .map(|e| match e {
            Frame::Array(fields) => render(&fields[3]),
            other => render(other),
        })
        .collect()
}

/// Passwords and ACL rules never show in SLOWLOG or MONITOR: they read
/// `(redacted)` where Redis hides them.
#[test]
fn secrets_are_redacted_as_redis() {
    let Some((tandem, redis)) = pair(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let (mut tm, mut rm) = (tandem.client(), redis.client());
    same(&mut tm, &mut rm, &["MONITOR"]);
    same(
        &mut t,
        &mut r,
        &["CONFIG", "SET", "slowlog-log-slower-than", "0"],
    );
    same(&mut t, &mut r, &["SLOWLOG", "RESET"]);
    let calls: &[&[&str]] = &[
        &["ACL", "SETUSER", "zed", "on", ">secretpw", "+@all", "~*"],
        &["AUTH", "zed", "secretpw"],
        &["AUTH", "wrongpw"],
        &["HELLO", "2", "AUTH", "zed", "secretpw", "SETNAME", "n"],
        &["HELLO", "9", "AUTH", "zed", "shown"],
        &["CONFIG", "SET", "masterauth", "topsecret", "maxmemory", "0"],
        &["PING"],
    ];
    for call in calls {
        // HELLO's reply carries the connection id, which differs.
        if call[0] == "HELLO" {
            t.q(call);
            r.q(call);
        } else {
            same(&mut t, &mut r, call);
        }
    }
    assert_eq!(slowlog_args(&mut t), slowlog_args(&mut r));
    assert!(slowlog_args(&mut t).iter().all(|e| !e.contains("secret")));
    // MONITOR: the same lines after the timestamp and client address.
    let strip = |line: String| {
        line.split_once(']')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or(line)
    };
    let mut lines = (Vec::new(), Vec::new());
    for _ in 0..4 {
        lines
            .0
            .push(strip(render(&tm.read().expect("monitor line"))));
        lines
            .1
            .push(strip(render(&rm.read().expect("monitor line"))));
    }
    assert_eq!(lines.0, lines.1);
    assert!(
        lines.0.iter().all(|l| !l.contains("secret")),
        "{:?}",
        lines.0
    );
}
