//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
//! the sharded SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, and PUBSUB. Subscription
//! replies are several frames per command, so they are encoded here for the
//! client's protocol and returned as one raw reply.
//!
//! Counts in (un)subscribe replies follow Redis: channels plus patterns for
//! the classic kinds, shard channels alone for the sharded ones.

use bytes::{Bytes, BytesMut};

use crate::client::ClientState;
use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::exec::ExecCtx;
use crate::pubsub::push_frame;
use crate::reply::Reply;

const PS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUB: u32 = PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE;

/// The shard channel arguments of SSUBSCRIBE/SUNSUBSCRIBE (COMMAND INFO
/// shows them as `not_key` key specs).
const SHARD_CHANNELS: KeySpec = KeySpec::ALL;
const PUBSUB_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "channels",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_channels,
    )
    .doc("pubsub", "2.8.0", "List active channels")
    .acl(&["pubsub", "slow"]),
    CommandSpec::new(
        "numsub",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_numsub,
    )
    .doc(
        "pubsub",
        "2.8.0",
        "Get the count of subscribers for channels",
    )
    .acl(&["pubsub", "slow"]),
    CommandSpec::new(
        "numpat",
        2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_numpat,
    )
    .doc(
        "pubsub",
        "2.8.0",
        "Get the count of unique patterns pattern subscriptions",
    )
    .acl(&["pubsub", "slow"]),
    CommandSpec::new(
        "shardchannels",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_shardchannels,
    )
    .doc("pubsub", "7.0.0", "List active shard channels")
    .complexity("O(N) where N is the number of active shard channels, and assuming constant time pattern matching (relatively short shard channels).")
    .acl(&["pubsub", "slow"]),
    CommandSpec::new(
        "shardnumsub",
        -2,
        PUBSUB | LOADING | STALE,
        KeySpec::NONE,
        pubsub_shardnumsub,
    )
    .doc(
        "pubsub",
        "7.0.0",
        "Get the count of subscribers for shard channels",
    )
    .complexity("O(N) for the SHARDNUMSUB subcommand, where N is the number of requested shard channels")
    .acl(&["pubsub", "slow"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, pubsub_help)
        .doc(
            "pubsub",
            "6.2.0",
            "Show helpful text about the different subcommands",
        )
        .acl(&["slow"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("subscribe", -2, PS, KeySpec::NONE, subscribe)
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to the given channels",
        )
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("unsubscribe", -1, PS, KeySpec::NONE, unsubscribe)
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to the given channels",
        )
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("psubscribe", -2, PS, KeySpec::NONE, psubscribe)
        .doc(
            "pubsub",
            "2.0.0",
            "Listen for messages published to channels matching the given patterns",
        )
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("punsubscribe", -1, PS, KeySpec::NONE, punsubscribe)
        .doc(
            "pubsub",
            "2.0.0",
            "Stop listening for messages posted to channels matching the given patterns",
        )
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("publish", 3, PUB, KeySpec::NONE, publish)
        .doc("pubsub", "2.0.0", "Post a message to a channel")
        .acl(&["pubsub", "fast"]),
    CommandSpec::new("ssubscribe", -2, PS, SHARD_CHANNELS, ssubscribe)
        .doc(
            "pubsub",
            "7.0.0",
            "Listen for messages published to the given shard channels",
        )
        .complexity("O(N) where N is the number of shard channels to subscribe to.")
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("sunsubscribe", -1, PS, SHARD_CHANNELS, sunsubscribe)
        .doc(
            "pubsub",
            "7.0.0",
            "Stop listening for messages posted to the given shard channels",
        )
        .complexity("O(N) where N is the number of clients already subscribed to a shard channel.")
        .acl(&["pubsub", "slow"]),
    CommandSpec::new("spublish", 3, PUB, KeySpec::ONE, spublish)
        .doc("pubsub", "7.0.0", "Post a message to a shard channel")
        .complexity(
            "O(N) where N is the number of clients subscribed to the receiving shard channel.",
        )
        .acl(&["pubsub", "fast"]),
    CommandSpec::new(
        "pubsub",
        -2,
        0,
        KeySpec::NONE,
        crate::command::container_handler,
    )
    .doc("pubsub", "2.8.0", "A container for Pub/Sub commands")
    .acl(&["slow"])
    .subs(PUBSUB_SUBS),
];

fn bulk(b: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(b))
}

/// The three subscription kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    fn subscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"subscribe",
            Kind::Pattern => b"psubscribe",
            Kind::Shard => b"ssubscribe",
        }
    }

    fn unsubscribe_name(self) -> &'static [u8] {
        match self {
            Kind::Channel => b"unsubscribe",
            Kind::Pattern => b"punsubscribe",
            Kind::Shard => b"sunsubscribe",
        }
    }

    /// The client's own list of names of this kind.
    fn names(self, client: &mut ClientState) -> &mut Vec<Bytes> {
        match self {
            Kind::Channel => &mut client.channels,
            Kind::Pattern => &mut client.patterns,
            Kind::Shard => &mut client.shard_channels,
        }
    }

    /// The count a (un)subscribe reply of this kind carries.
    fn count(self, ctx: &ExecCtx<'_>) -> i64 {
        let n = match self {
            Kind::Channel | Kind::Pattern => ctx.client.channels.len() + ctx.client.patterns.len(),
            Kind::Shard => ctx.client.shard_channels.len(),
        };
        n as i64
    }
}

fn publish_counts(ctx: &mut ExecCtx<'_>) {
    let mut info = ctx.client.handle.info.lock();
    info.sub = ctx.client.channels.len();
    info.psub = ctx.client.patterns.len();
    info.ssub = ctx.client.shard_channels.len();
}

fn subscribe_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], kind: Kind) -> Reply {
    let mut out = BytesMut::new();
    for name in &argv[1..] {
        let added = {
            let mut ps = ctx.server.pubsub.lock();
            let (handle, proto) = (&ctx.client.handle, ctx.client.proto);
            match kind {
                Kind::Channel => ps.subscribe(handle, proto, name),
                Kind::Pattern => ps.psubscribe(handle, proto, name),
                Kind::Shard => ps.ssubscribe(handle, proto, name),
            }
        };
        if added {
            kind.names(ctx.client).push(name.clone());
        }
        let count = kind.count(ctx);
        push_frame(
            ctx.client.proto,
            vec![
                bulk(kind.subscribe_name()),
                Reply::Bulk(name.clone()),
                Reply::Int(count),
            ],
            &mut out,
        );
    }
    publish_counts(ctx);
    Reply::Raw(out.freeze())
}

fn unsubscribe_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], kind: Kind) -> Reply {
    let names: Vec<Bytes> = if argv.len() > 1 {
        argv[1..].to_vec()
    } else {
        kind.names(ctx.client).clone()
    };
    let mut out = BytesMut::new();
    if names.is_empty() {
        let count = kind.count(ctx);
        push_frame(
            ctx.client.proto,
            vec![
                bulk(kind.unsubscribe_name()),
                Reply::Null,
                Reply::Int(count),
            ],
            &mut out,
        );
        return Reply::Raw(out.freeze());
    }
    for name in names {
        drop_subscription(ctx, kind, &name);
        let count = kind.count(ctx);
        push_frame(
            ctx.client.proto,
            vec![
                bulk(kind.unsubscribe_name()),
                Reply::Bulk(name),
                Reply::Int(count),
            ],
            &mut out,
        );
    }
    publish_counts(ctx);
    Reply::Raw(out.freeze())
}

/// Removes one subscription from the registry and the client's list.
fn drop_subscription(ctx: &mut ExecCtx<'_>, kind: Kind, name: &Bytes) {
    {
        let mut ps = ctx.server.pubsub.lock();
        let id = ctx.client.id;
        match kind {
            Kind::Channel => ps.unsubscribe(id, name),
            Kind::Pattern => ps.punsubscribe(id, name),
            Kind::Shard => ps.sunsubscribe(id, name),
        };
    }
    kind.names(ctx.client).retain(|n| n != name);
}

/// Drops every subscription without notifying the client (RESET).
pub fn unsubscribe_all(ctx: &mut ExecCtx<'_>) {
    for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
        for name in std::mem::take(kind.names(ctx.client)) {
            drop_subscription(ctx, kind, &name);
        }
    }
    publish_counts(ctx);
}

fn subscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    subscribe_generic(ctx, argv, Kind::Channel)
}

fn psubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    subscribe_generic(ctx, argv, Kind::Pattern)
}

fn ssubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    // Redis refuses it where a single reply is expected (inside EXEC).
    if !ctx.may_block {
        return Reply::error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
    }
    subscribe_generic(ctx, argv, Kind::Shard)
}

fn unsubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, argv, Kind::Channel)
}

fn punsubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, argv, Kind::Pattern)
}

fn sunsubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, argv, Kind::Shard)
}

/// Replies with the receiver count, after any frames the publisher itself
/// received. PUBLISH and SPUBLISH replicate although they change no key, as
/// Redis does outside cluster mode.
fn publish_reply(ctx: &mut ExecCtx<'_>, receivers: i64, own: BytesMut) -> Reply {
    ctx.force_propagation();
    if own.is_empty() {
        return Reply::Int(receivers);
    }
    let mut out = own;
    Reply::Int(receivers).encode(ctx.client.proto, &mut out);
    Reply::Raw(out.freeze())
}

fn publish(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (receivers, own) = ctx
        .server
        .pubsub
        .lock()
        .publish(&argv[1], &argv[2], ctx.client.id);
    publish_reply(ctx, receivers, own)
}

fn spublish(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (receivers, own) = ctx
        .server
        .pubsub
        .lock()
        .spublish(&argv[1], &argv[2], ctx.client.id);
    publish_reply(ctx, receivers, own)
}

fn pubsub_channels(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return crate::commands::server::subcommand_syntax_error("pubsub", &argv[1]);
    }
    let pattern = argv.get(2).map(|p| p.as_ref());
    let channels = ctx.server.pubsub.lock().channels(pattern);
    Reply::Array(channels.into_iter().map(Reply::Bulk).collect())
}

/// NUMSUB and SHARDNUMSUB: a flat array of name, count pairs in both
/// protocols, as Redis 7.0 replies.
fn numsub_reply(names: &[Bytes], count: impl Fn(&Bytes) -> usize) -> Reply {
    let mut items = Vec::with_capacity(names.len() * 2);
    for name in names {
        items.push(Reply::Bulk(name.clone()));
        items.push(Reply::Int(count(name) as i64));
    }
    Reply::Array(items)
}

fn pubsub_numsub(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let ps = ctx.server.pubsub.lock();
    numsub_reply(&argv[2..], |c| ps.numsub(c))
}

fn pubsub_shardchannels(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return crate::commands::server::subcommand_syntax_error("pubsub", &argv[1]);
    }
    let pattern = argv.get(2).map(|p| p.as_ref());
    let channels = ctx.server.pubsub.lock().shard_channels(pattern);
    Reply::Array(channels.into_iter().map(Reply::Bulk).collect())
}

fn pubsub_shardnumsub(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let ps = ctx.server.pubsub.lock();
    numsub_reply(&argv[2..], |c| ps.shard_numsub(c))
}

fn pubsub_numpat(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(ctx.server.pubsub.lock().numpat() as i64)
}

fn pubsub_help(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let lines = [
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
}

/// True for the commands a RESP2 client may send while subscribed.
pub fn allowed_while_subscribed(argv0: &Bytes) -> bool {
    [
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "ping",
        "quit",
        "reset",
    ]
    .iter()
    .any(|c| is(argv0, c))
}

/// The commands whose replies are subscription confirmations (pushes in
/// RESP3).
pub fn is_subscription_command(name: &[u8]) -> bool {
    const NAMES: [&[u8]; 6] = [
        b"subscribe",
        b"unsubscribe",
        b"psubscribe",
        b"punsubscribe",
        b"ssubscribe",
        b"sunsubscribe",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::Harness;
    use crate::reply::Proto;

    /// The raw RESP a multi-frame reply wrote, as text.
    fn raw(reply: Reply) -> String {
        match reply {
            Reply::Raw(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            other => panic!("not a raw reply: {other:?}"),
        }
    }

    fn is_err(reply: &Reply, text: &str) -> bool {
        let mut out = BytesMut::new();
        reply.encode(Proto::Resp2, &mut out);
        out.starts_with(format!("-{text}").as_bytes())
    }

    #[test]
    fn table_entries_match_redis() {
        let t = crate::command::table();
        let spec = |n: &str| t.lookup(n.as_bytes()).expect("registered");
        assert_eq!(spec("ssubscribe").arity, -2);
        assert_eq!(spec("sunsubscribe").arity, -1);
        assert_eq!(spec("spublish").arity, 3);
        assert_eq!(spec("spublish").flags, spec("publish").flags);
        let k = spec("ssubscribe").keys;
        assert_eq!((k.first, k.last, k.step), (1, -1, 1));
        let k = spec("spublish").keys;
        assert_eq!((k.first, k.last, k.step), (1, 1, 1));
    }

    #[test]
    fn ssubscribe_counts_shard_channels_only() {
        let mut h = Harness::new();
        raw(h.run(&["SUBSCRIBE", "x"]));
        assert_eq!(
            raw(h.run(&["SSUBSCRIBE", "a", "b", "a"])),
            "*3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n:1\r\n\
             *3\r\n$10\r\nssubscribe\r\n$1\r\nb\r\n:2\r\n\
             *3\r\n$10\r\nssubscribe\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(
            raw(h.run(&["PSUBSCRIBE", "p*"])),
            "*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:2\r\n"
        );
        assert_eq!(
            raw(h.run(&["SUNSUBSCRIBE", "a", "zz"])),
            "*3\r\n$12\r\nsunsubscribe\r\n$1\r\na\r\n:1\r\n\
             *3\r\n$12\r\nsunsubscribe\r\n$2\r\nzz\r\n:1\r\n"
        );
        assert_eq!(
            raw(h.run(&["SUNSUBSCRIBE"])),
            "*3\r\n$12\r\nsunsubscribe\r\n$1\r\nb\r\n:0\r\n"
        );
        assert_eq!(
            raw(h.run(&["SUNSUBSCRIBE"])),
            "*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n"
        );
        let info = h.client.handle.info.lock().clone();
        assert_eq!((info.sub, info.psub, info.ssub), (1, 1, 0));
    }

    #[test]
    fn resp2_shard_subscriber_is_restricted_until_unsubscribed() {
        let mut h = Harness::new();
        raw(h.run(&["SSUBSCRIBE", "a"]));
        assert!(is_err(
            &h.run(&["GET", "k"]),
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE"
        ));
        assert_eq!(
            h.run(&["PING"]),
            Reply::Array(vec![Reply::bulk_from(b"pong"), Reply::bulk_from(b"")])
        );
        raw(h.run(&["SUNSUBSCRIBE", "a"]));
        assert_eq!(h.run(&["GET", "k"]), Reply::Null);
    }

    #[test]
    fn spublish_replicates_and_reaches_only_shard_subscribers() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SPUBLISH", "c", "m"]), Reply::Int(0));
        assert_eq!(h.repl(), ["SPUBLISH c m"]);
        // RESP3, so that publishing while subscribed is allowed.
        h.client.proto = Proto::Resp3;
        raw(h.run(&["SSUBSCRIBE", "c"]));
        assert_eq!(h.server.pubsub.lock().numsub(&Bytes::from_static(b"c")), 0);
        assert_eq!(
            raw(h.run(&["SPUBLISH", "c", "m"])),
            ">3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$1\r\nm\r\n:1\r\n"
        );
        assert_eq!(h.run(&["PUBLISH", "c", "m"]), Reply::Int(0));
    }

    #[test]
    fn pubsub_shard_subcommands() {
        let mut h = Harness::new();
        h.client.proto = Proto::Resp3;
        raw(h.run(&["SSUBSCRIBE", "b", "a"]));
        let bulks = |names: &[&str]| {
            Reply::Array(
                names
                    .iter()
                    .map(|n| Reply::bulk_from(n.as_bytes()))
                    .collect(),
            )
        };
        assert_eq!(h.run(&["PUBSUB", "SHARDCHANNELS"]), bulks(&["a", "b"]));
        assert_eq!(h.run(&["PUBSUB", "SHARDCHANNELS", "a*"]), bulks(&["a"]));
        assert_eq!(h.run(&["PUBSUB", "CHANNELS"]), bulks(&[]));
        assert!(is_err(
            &h.run(&["PUBSUB", "shardchannels", "a", "b"]),
            "ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP."
        ));
        assert_eq!(
            h.run(&["PUBSUB", "SHARDNUMSUB", "a", "zz"]),
            Reply::Array(vec![
                Reply::bulk_from(b"a"),
                Reply::Int(1),
                Reply::bulk_from(b"zz"),
                Reply::Int(0),
            ])
        );
        assert_eq!(
            h.run(&["PUBSUB", "NUMSUB", "a"]),
            Reply::Array(vec![Reply::bulk_from(b"a"), Reply::Int(0)])
        );
    }

    #[test]
    fn ssubscribe_refused_inside_exec_and_reset_drops_subscriptions() {
        let mut h = Harness::new();
        h.run(&["MULTI"]);
        h.run(&["SSUBSCRIBE", "a"]);
        let Reply::Array(items) = h.run(&["EXEC"]) else {
            panic!("EXEC replies an array");
        };
        assert!(is_err(
            &items[0],
            "ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client"
        ));
        raw(h.run(&["SSUBSCRIBE", "a"]));
        raw(h.run(&["SUBSCRIBE", "b"]));
        h.run(&["RESET"]);
        assert!(!h.client.subscribed());
        assert_eq!(h.server.pubsub.lock().shard_channel_count(), 0);
        assert_eq!(h.server.pubsub.lock().channel_count(), 0);
        assert_eq!(h.run(&["GET", "k"]), Reply::Null);
    }
}
