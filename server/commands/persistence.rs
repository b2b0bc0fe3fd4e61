//! Persistence commands: SAVE, BGSAVE (state and work in `crate::persist`)
//! and BGREWRITEAOF (in `crate::aof`).

use bytes::Bytes;

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::exec::ExecCtx;
use crate::persist;
use crate::reply::Reply;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "save",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI,
        KeySpec::NONE,
        save,
    )
    .doc("server", "1.0.0", "Synchronously save the dataset to disk")
    .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new(
        "bgsave",
        -1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        KeySpec::NONE,
        bgsave,
    )
    .doc("server", "1.0.0", "Asynchronously save the dataset to disk")
    .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new(
        "bgrewriteaof",
        1,
        ADMIN | NOSCRIPT | NO_ASYNC_LOADING,
        KeySpec::NONE,
        bgrewriteaof,
    )
    .doc(
        "server",
        "1.0.0",
        "Asynchronously rewrite the append-only file to disk",
    )
    .acl(&["admin", "slow", "dangerous"]),
];

fn bgrewriteaof(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    if ctx.data.aof.rewrite.is_some() {
        return Reply::error("ERR Background append only file rewriting already in progress");
    }
    match crate::aof::start_rewrite(ctx.server, ctx.data) {
        Ok(()) => Reply::Simple("Background append only file rewriting started".into()),
        Err(e) => Reply::error(e),
    }
}

fn save(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    if ctx.data.persist.bgsave_started.is_some() {
        return Reply::error("ERR Background save already in progress");
    }
    match persist::save_locked(ctx.server, ctx.data) {
        Ok(()) => Reply::ok(),
        Err(_) => Reply::error("ERR"),
    }
}

fn bgsave(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let schedule = match argv.get(1) {
        None => false,
        Some(a) if argv.len() == 2 && is(a, "schedule") => true,
        Some(_) => return Reply::syntax_error(),
    };
    if ctx.data.persist.bgsave_started.is_some() {
        if schedule {
            ctx.data.persist.bgsave_scheduled = true;
            return Reply::Simple("Background saving scheduled".into());
        }
        return Reply::error("ERR Background save already in progress");
    }
    match persist::bgsave(ctx.server, ctx.data) {
        Ok(()) => Reply::Simple("Background saving started".into()),
        Err(e) => Reply::error(e),
    }
}
