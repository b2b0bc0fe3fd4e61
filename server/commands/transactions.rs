//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH (state in `crate::multi`).

use bytes::Bytes;

use crate::client::ClientState;
use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::exec::{run_command, ExecCtx};
use crate::reply::Reply;
use crate::state::Data;

const TX: u32 = NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("multi", 1, TX, KeySpec::NONE, multi)
        .doc(
            "transactions",
            "1.2.0",
            "Mark the start of a transaction block",
        )
        .acl(&["fast", "transaction"]),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        KeySpec::NONE,
        exec,
    )
    .doc(
        "transactions",
        "1.2.0",
        "Execute all commands issued after MULTI",
    )
    .acl(&["slow", "transaction"]),
    CommandSpec::new("discard", 1, TX, KeySpec::NONE, discard)
        .doc(
            "transactions",
            "2.0.0",
            "Discard all commands issued after MULTI",
        )
        .acl(&["fast", "transaction"]),
    CommandSpec::new("watch", -2, TX, KeySpec::ALL, watch)
        .doc(
            "transactions",
            "2.2.0",
            "Watch the given keys to determine execution of the MULTI/EXEC block",
        )
        .acl(&["fast", "transaction"]),
    CommandSpec::new("unwatch", 1, TX, KeySpec::NONE, unwatch)
        .doc("transactions", "2.2.0", "Forget about all watched keys")
        .acl(&["fast", "transaction"]),
];

fn multi(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR MULTI calls can not be nested");
    }
    ctx.client.multi = Some(Vec::new());
    ctx.client.multi_error = false;
    ctx.client.handle.info.lock().multi = 0;
    Reply::ok()
}

fn forget_watches(ctx: &mut ExecCtx<'_>) {
    let watched = std::mem::take(&mut ctx.client.watched);
    ctx.data.watches.unwatch_all(ctx.client.id, &watched);
}

fn end_multi(ctx: &mut ExecCtx<'_>) -> Option<Vec<Vec<Bytes>>> {
    ctx.client.handle.info.lock().multi = -1;
    ctx.client.multi.take()
}

fn exec(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let Some(queue) = end_multi(ctx) else {
        return Reply::error("ERR EXEC without MULTI");
    };
    let aborted = std::mem::take(&mut ctx.client.multi_error);
    let watch_broken = ctx.data.watches.dirty.contains(&ctx.client.id) || watched_key_expired(ctx);
    forget_watches(ctx);
    if aborted {
        return Reply::error("EXECABORT Transaction discarded because of previous errors.");
    }
    if watch_broken {
        return Reply::NullArray;
    }
    let mut replies = Vec::with_capacity(queue.len());
    ctx.client.in_exec = true;
    for argv in &queue {
        replies.push(run_command(
            ctx.server, ctx.data, ctx.client, argv, ctx.now_ms, false, ctx.ops,
        ));
    }
    ctx.client.in_exec = false;
    Reply::Array(replies)
}

/// Whether a key that was live when WATCHed has expired since (it may not
/// have been deleted yet: nothing touched it).
fn watched_key_expired(ctx: &ExecCtx<'_>) -> bool {
    ctx.client.watched.iter().any(|(db, key)| {
        let keys = ctx.data.keyspace.db_ref(*db);
        !ctx.data.watches.watched_stale(ctx.client.id, *db, key)
            && keys.present(key)
            && !keys.holds(key, ctx.now_ms)
    })
}

fn discard(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    if end_multi(ctx).is_none() {
        return Reply::error("ERR DISCARD without MULTI");
    }
    ctx.client.multi_error = false;
    forget_watches(ctx);
    Reply::ok()
}

/// Discards `client`'s transaction from outside its commands: an EXEC
/// refused before it runs (Redis's `execCommandAbort`).
pub(crate) fn abort(data: &mut Data, client: &mut ClientState) {
    client.handle.info.lock().multi = -1;
    client.multi = None;
    client.multi_error = false;
    let watched = std::mem::take(&mut client.watched);
    data.watches.unwatch_all(client.id, &watched);
}

fn watch(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if ctx.client.multi.is_some() {
        return Reply::error("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.client.db;
    for key in &argv[1..] {
        if ctx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        ctx.client.watched.push((db, key.clone()));
        let keys = ctx.data.keyspace.db_ref(db);
        let stale = keys.present(key) && !keys.holds(key, ctx.now_ms);
        ctx.data
            .watches
            .watch(ctx.client.id, db, key.clone(), stale);
    }
    Reply::ok()
}

fn unwatch(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    forget_watches(ctx);
    Reply::ok()
}
