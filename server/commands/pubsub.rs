//! Pub/Sub commands: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE, PUBLISH,
//! PUBSUB. Subscription replies are several frames per command, so they are
//! encoded here for the client's protocol and returned as one raw reply.

use bytes::{Bytes, BytesMut};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::exec::ExecCtx;
use crate::pubsub::push_frame;
use crate::reply::Reply;

const PS: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;

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
    CommandSpec::new(
        "publish",
        3,
        PUBSUB | LOADING | STALE | FAST | MAY_REPLICATE,
        KeySpec::NONE,
        publish,
    )
    .doc("pubsub", "2.0.0", "Post a message to a channel")
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

fn subscription_count(ctx: &ExecCtx<'_>) -> i64 {
    (ctx.client.channels.len() + ctx.client.patterns.len()) as i64
}

fn publish_counts(ctx: &mut ExecCtx<'_>) {
    let mut info = ctx.client.handle.info.lock();
    info.sub = ctx.client.channels.len();
    info.psub = ctx.client.patterns.len();
}

fn subscribe_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], pattern: bool) -> Reply {
    let kind: &[u8] = if pattern { b"psubscribe" } else { b"subscribe" };
    let mut out = BytesMut::new();
    for name in &argv[1..] {
        let added = {
            let mut ps = ctx.server.pubsub.lock();
            if pattern {
                ps.psubscribe(&ctx.client.handle, ctx.client.proto, name)
            } else {
                ps.subscribe(&ctx.client.handle, ctx.client.proto, name)
            }
        };
        if added {
            if pattern {
                ctx.client.patterns.push(name.clone());
            } else {
                ctx.client.channels.push(name.clone());
            }
        }
        let count = subscription_count(ctx);
        push_frame(
            ctx.client.proto,
            vec![bulk(kind), Reply::Bulk(name.clone()), Reply::Int(count)],
            &mut out,
        );
    }
    publish_counts(ctx);
    Reply::Raw(out.freeze())
}

fn unsubscribe_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], pattern: bool) -> Reply {
    let kind: &[u8] = if pattern {
        b"punsubscribe"
    } else {
        b"unsubscribe"
    };
    let names: Vec<Bytes> = if argv.len() > 1 {
        argv[1..].to_vec()
    } else if pattern {
        ctx.client.patterns.clone()
    } else {
        ctx.client.channels.clone()
    };
    let mut out = BytesMut::new();
    if names.is_empty() {
        let count = subscription_count(ctx);
        push_frame(
            ctx.client.proto,
            vec![bulk(kind), Reply::Null, Reply::Int(count)],
            &mut out,
        );
        return Reply::Raw(out.freeze());
    }
    for name in names {
        {
            let mut ps = ctx.server.pubsub.lock();
            if pattern {
                ps.punsubscribe(ctx.client.id, &name);
            } else {
                ps.unsubscribe(ctx.client.id, &name);
            }
        }
        if pattern {
            ctx.client.patterns.retain(|p| *p != name);
        } else {
            ctx.client.channels.retain(|c| *c != name);
        }
        let count = subscription_count(ctx);
        push_frame(
            ctx.client.proto,
            vec![bulk(kind), Reply::Bulk(name), Reply::Int(count)],
            &mut out,
        );
    }
    publish_counts(ctx);
    Reply::Raw(out.freeze())
}

fn subscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    subscribe_generic(ctx, argv, false)
}

fn psubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    subscribe_generic(ctx, argv, true)
}

fn unsubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, argv, false)
}

fn punsubscribe(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    unsubscribe_generic(ctx, argv, true)
}

fn publish(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (receivers, own) = ctx
        .server
        .pubsub
        .lock()
        .publish(&argv[1], &argv[2], ctx.client.id);
    ctx.force_propagation();
    if own.is_empty() {
        return Reply::Int(receivers);
    }
    let mut out = own;
    Reply::Int(receivers).encode(ctx.client.proto, &mut out);
    Reply::Raw(out.freeze())
}

fn pubsub_channels(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::error("ERR wrong number of arguments for 'pubsub|channels' command");
    }
    let pattern = argv.get(2).map(|p| p.as_ref());
    let channels = ctx.server.pubsub.lock().channels(pattern);
    Reply::Array(channels.into_iter().map(Reply::Bulk).collect())
}

fn pubsub_numsub(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let ps = ctx.server.pubsub.lock();
    let pairs = argv[2..]
        .iter()
        .map(|c| (Reply::Bulk(c.clone()), Reply::Int(ps.numsub(c) as i64)))
        .collect();
    Reply::Map(pairs)
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
        "HELP",
        "    Print this help.",
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
