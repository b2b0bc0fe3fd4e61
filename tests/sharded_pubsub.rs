//! Sharded Pub/Sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS
//! and SHARDNUMSUB) as a non-cluster Redis 7.0 serves it: the same scenarios
//! run against tandem and a real redis-server must yield identical frames,
//! in RESP2 (arrays) and RESP3 (pushes). SPUBLISH also replicates, as PUBLISH
//! does, so it reaches shard subscribers on a replica.

mod common;

use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};

/// A frame as text that tells arrays from pushes (`render` does not).
fn show(c: &mut Client) -> String {
    format!("{:?}", c.read().expect("a frame"))
}

/// Sends a command and returns its first frame.
fn q(c: &mut Client, args: &[&str]) -> String {
    c.send(args).expect("send");
    show(c)
}

/// The CLIENT LIST fields that Pub/Sub affects, per named client.
fn pubsub_fields(list: &str) -> Vec<String> {
    let mut out: Vec<String> = list
        .lines()
        .filter(|l| !l.contains("name= "))
        .map(|l| {
            l.split(' ')
                .filter(|f| {
                    ["name=", "flags=", "sub=", "psub=", "ssub="]
                        .iter()
                        .any(|p| f.starts_with(p))
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    out.sort();
    out
}

fn client_list(c: &mut Client) -> String {
    match c.cmd(&["CLIENT", "LIST"]).expect("client list") {
        tandem_server::resp::Frame::Bulk(b) | tandem_server::resp::Frame::Verbatim(_, b) => {
            String::from_utf8_lossy(&b).into_owned()
        }
        other => panic!("CLIENT LIST replied {other:?}"),
    }
}

/// One run of the scenario; every frame any client saw, in order.
fn scenario(server: &ServerProcess, resp3: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut c1 = server.client();
    let mut c2 = server.client();
    let mut publisher = server.client();
    for (c, name) in [(&mut c1, "c1"), (&mut c2, "c2"), (&mut publisher, "pub")] {
        if resp3 {
            // HELLO's reply names the server: not compared.
            c.cmd(&["HELLO", "3"]).expect("hello");
        }
        out.push(q(c, &["CLIENT", "SETNAME", name]));
    }

    // Arity errors.
    out.push(q(&mut c1, &["SSUBSCRIBE"]));
    out.push(q(&mut c1, &["SPUBLISH", "a"]));
    out.push(q(&mut c1, &["PUBSUB", "SHARDCHANNELS", "a", "b"]));

    // Subscriptions: each kind's reply counts its own namespace.
    out.push(q(&mut c1, &["SSUBSCRIBE", "a", "b"]));
    out.push(show(&mut c1));
    out.push(q(&mut c1, &["SUBSCRIBE", "x"]));
    out.push(q(&mut c1, &["SSUBSCRIBE", "a"]));
    out.push(q(&mut c2, &["SSUBSCRIBE", "a"]));
    out.push(q(&mut c2, &["PSUBSCRIBE", "*"]));

    // SPUBLISH reaches shard subscribers only, PUBLISH never reaches them.
    out.push(q(&mut publisher, &["SPUBLISH", "a", "hello"]));
    out.push(show(&mut c1));
    out.push(show(&mut c2));
    out.push(q(&mut publisher, &["PUBLISH", "a", "plain"]));
    out.push(show(&mut c2));
    out.push(q(&mut publisher, &["SPUBLISH", "x", "nobody"]));
    out.push(q(&mut publisher, &["SPUBLISH", "b", "to-b"]));
    out.push(show(&mut c1));

    // Introspection.
    out.push(q(
        &mut publisher,
        &["PUBSUB", "SHARDNUMSUB", "a", "b", "x", "nope"],
    ));
    out.push(q(&mut publisher, &["PUBSUB", "SHARDNUMSUB"]));
    out.push(q(&mut publisher, &["PUBSUB", "NUMSUB", "a", "x"]));
    out.push(q(&mut publisher, &["PUBSUB", "SHARDCHANNELS", "b*"]));
    out.push(q(&mut publisher, &["PUBSUB", "CHANNELS"]));
    out.push(q(&mut publisher, &["PUBSUB", "NUMPAT"]));
    let mut all = match publisher
        .cmd(&["PUBSUB", "SHARDCHANNELS"])
        .expect("shardchannels")
    {
        tandem_server::resp::Frame::Array(items) => {
            items.iter().map(|f| format!("{f:?}")).collect::<Vec<_>>()
        }
        other => panic!("SHARDCHANNELS replied {other:?}"),
    };
    all.sort();
    out.push(all.join(","));
    out.push(format!(
        "pubsubshard_channels={:?}",
        info_field(&mut publisher, "stats", "pubsubshard_channels")
    ));
    out.extend(pubsub_fields(&client_list(&mut publisher)));

    // What a subscribed client may still run.
    out.push(q(&mut c1, &["GET", "k"]));
    out.push(q(&mut c1, &["PING"]));
    if resp3 {
        // Publishing to a channel one listens to: the message comes first.
        out.push(q(&mut c1, &["SPUBLISH", "a", "self"]));
        out.push(show(&mut c1));
        out.push(show(&mut c2));
    } else {
        out.push(q(&mut c1, &["SPUBLISH", "a", "self"]));
    }

    // Unsubscribing, one by one and all at once.
    out.push(q(&mut c1, &["SUNSUBSCRIBE", "a", "nope"]));
    out.push(show(&mut c1));
    out.push(q(&mut c1, &["SUNSUBSCRIBE"]));
    out.push(q(&mut c1, &["SUNSUBSCRIBE"]));
    out.push(q(&mut c1, &["GET", "k"]));
    out.push(q(&mut c1, &["UNSUBSCRIBE"]));
    out.push(q(&mut c1, &["GET", "k"]));
    out.push(q(&mut c1, &["SUNSUBSCRIBE", "never"]));
    out.push(q(&mut c1, &["GET", "k"]));

    // Not inside a transaction.
    out.push(q(&mut c1, &["MULTI"]));
    out.push(q(&mut c1, &["SSUBSCRIBE", "a"]));
    out.push(q(&mut c1, &["EXEC"]));

    // RESET drops every subscription.
    out.push(q(&mut c2, &["RESET"]));
    out.push(q(&mut publisher, &["PUBSUB", "SHARDNUMSUB", "a"]));
    out.push(q(&mut publisher, &["PUBSUB", "NUMPAT"]));
    out.extend(pubsub_fields(&client_list(&mut publisher)));

    // A client that disconnects is forgotten.
    let mut c3 = server.client();
    out.push(q(&mut c3, &["SSUBSCRIBE", "gone"]));
    drop(c3);
    let forgotten = wait_until(Duration::from_secs(5), || {
        publisher
            .cmd(&["PUBSUB", "SHARDNUMSUB", "gone"])
            .map(|f| format!("{f:?}").contains("Integer(0)"))
            .unwrap_or(false)
    });
    out.push(format!("forgotten={forgotten}"));
    out.push(q(&mut publisher, &["SPUBLISH", "gone", "m"]));
    out
}

fn compare(resp3: bool) {
    let ours = scenario(&ServerProcess::tandem(&[]), resp3);
    assert!(ours.iter().any(|f| f.contains("smessage")), "{ours:#?}");
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let theirs = scenario(&redis, resp3);
    for (i, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a, b, "frame {i} differs (tandem left, redis right)");
    }
    assert_eq!(ours.len(), theirs.len());
}

#[test]
fn sharded_pubsub_matches_redis_resp2() {
    compare(false);
}

#[test]
fn sharded_pubsub_matches_redis_resp3() {
    compare(true);
}

/// COMMAND INFO and COMMAND DOCS of the new commands agree with Redis.
#[test]
fn command_info_matches_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    for cmd in ["ssubscribe", "sunsubscribe", "spublish"] {
        let args = ["COMMAND", "INFO", cmd];
        assert_eq!(q(&mut t, &args), q(&mut r, &args), "COMMAND INFO {cmd}");
    }
    for sub in ["pubsub|shardchannels", "pubsub|shardnumsub"] {
        let args = ["COMMAND", "INFO", sub];
        assert_eq!(q(&mut t, &args), q(&mut r, &args), "COMMAND INFO {sub}");
    }
    for cmd in [
        "ssubscribe",
        "sunsubscribe",
        "spublish",
        "pubsub|shardnumsub",
    ] {
        let args = ["COMMAND", "DOCS", cmd];
        let (ours, theirs) = (q(&mut t, &args), q(&mut r, &args));
        let complexity = |docs: &str| {
            docs.split("Bulk(b\"complexity\"), ")
                .nth(1)
                .and_then(|rest| rest.split("\")").next())
                .map(str::to_string)
        };
        assert_eq!(complexity(&ours), complexity(&theirs), "{cmd}");
        assert!(complexity(&ours).is_some(), "{cmd}: {ours}");
        for field in ["summary", "since", "group"] {
            assert!(ours.contains(field), "COMMAND DOCS {cmd}: {ours}");
        }
        assert!(theirs.contains("7.0.0") && ours.contains("7.0.0"), "{cmd}");
    }
    let args = ["PUBSUB", "HELP"];
    assert_eq!(q(&mut t, &args), q(&mut r, &args));
}

/// SPUBLISH on a tandem primary reaches a shard subscriber on its replica,
/// and only there: the replica's plain subscribers do not see it.
#[test]
fn spublish_reaches_replica_shard_subscribers() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut r = replica.client();
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    }));
    let mut shard = replica.client();
    let mut plain = replica.client();
    q(&mut shard, &["SSUBSCRIBE", "news"]);
    q(&mut plain, &["SUBSCRIBE", "news"]);
    let mut p = primary.client();
    assert_eq!(q(&mut p, &["SPUBLISH", "news", "sharded"]), "Integer(0)");
    assert_eq!(q(&mut p, &["PUBLISH", "news", "plain"]), "Integer(0)");
    let frame = show(&mut shard);
    assert!(
        frame.contains("smessage") && frame.contains("sharded"),
        "{frame}"
    );
    let frame = show(&mut plain);
    assert!(
        frame.contains("plain") && !frame.contains("smessage"),
        "{frame}"
    );
}
