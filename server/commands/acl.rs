//! ACL: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, GENPASS, LOG,
//! DRYRUN, SAVE, LOAD, HELP (users and rules live in `crate::acl`).
//!
//! Arity, flags and docs are Redis 7.0's. As in Redis 7.0, deleting a user
//! (or replacing it with ACL LOAD) closes its connections, and a change of
//! rules closes only the subscribed connections whose channels it revokes;
//! other connections see new rules from their next command.

use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;

use crate::acl::{self, UserSlot};
use crate::command::{container_handler, flags::*, table, CommandSpec, KeySpec};
use crate::commands::args;
use crate::commands::server::{help_reply, subcommand_syntax_error};
use crate::exec::ExecCtx;
use crate::reply::Reply;
use crate::tri;

const NLS: u32 = NOSCRIPT | LOADING | STALE;
const ANLS: u32 = ADMIN | NLS;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("cat", -2, NLS, KeySpec::NONE, cat)
        .doc(
            "server",
            "6.0.0",
            "List the ACL categories or the commands inside a category",
        )
        .complexity("O(1) since the categories and commands are a fixed set."),
    CommandSpec::new("deluser", -3, ANLS, KeySpec::NONE, deluser)
        .doc(
            "server",
            "6.0.0",
            "Remove the specified ACL users and the associated rules",
        )
        .complexity("O(1) amortized time considering the typical user."),
    CommandSpec::new("dryrun", -4, ANLS, KeySpec::NONE, dryrun)
        .doc(
            "server",
            "7.0.0",
            "Returns whether the user can execute the given command without executing the command.",
        )
        .complexity("O(1)."),
    CommandSpec::new("genpass", -2, NLS, KeySpec::NONE, genpass)
        .doc(
            "server",
            "6.0.0",
            "Generate a pseudorandom secure password to use for ACL users",
        )
        .complexity("O(1)"),
    CommandSpec::new("getuser", 3, ANLS, KeySpec::NONE, getuser)
        .doc("server", "6.0.0", "Get the rules for a specific ACL user")
        .complexity(
            "O(N). Where N is the number of password, command and pattern rules that the user has.",
        ),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, help)
        .doc(
            "server",
            "6.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)"),
    CommandSpec::new("list", 2, ANLS, KeySpec::NONE, list)
        .doc(
            "server",
            "6.0.0",
            "List the current ACL rules in ACL config file format",
        )
        .complexity("O(N). Where N is the number of configured users."),
    CommandSpec::new("load", 2, ANLS, KeySpec::NONE, load)
        .doc(
            "server",
            "6.0.0",
            "Reload the ACLs from the configured ACL file",
        )
        .complexity("O(N). Where N is the number of configured users."),
    CommandSpec::new("log", -2, ANLS, KeySpec::NONE, log)
        .doc(
            "server",
            "6.0.0",
            "List latest events denied because of ACLs in place",
        )
        .complexity("O(N) with N being the number of entries shown."),
    CommandSpec::new("save", 2, ANLS, KeySpec::NONE, save)
        .doc(
            "server",
            "6.0.0",
            "Save the current ACL rules in the configured ACL file",
        )
        .complexity("O(N). Where N is the number of configured users."),
    CommandSpec::new("setuser", -3, ANLS, KeySpec::NONE, setuser)
        .doc(
            "server",
            "6.0.0",
            "Modify or create the rules for a specific ACL user",
        )
        .complexity("O(N). Where N is the number of rules provided."),
    CommandSpec::new("users", 2, ANLS, KeySpec::NONE, users)
        .doc(
            "server",
            "6.0.0",
            "List the username of all the configured ACL rules",
        )
        .complexity("O(N). Where N is the number of configured users."),
    CommandSpec::new("whoami", 2, NLS, KeySpec::NONE, whoami)
        .doc(
            "server",
            "6.0.0",
            "Return the name of the user associated to the current connection",
        )
        .complexity("O(1)"),
];

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("acl", -2, 0, KeySpec::NONE, container_handler)
            .doc(
                "server",
                "6.0.0",
                "A container for Access List Control commands ",
            )
            .complexity("Depends on subcommand.")
            .subs(SUBCOMMANDS),
    ];

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn setuser(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let name = &argv[2];
    if name
        .iter()
        .any(|&b| b.is_ascii_whitespace() || b == 0 || b == 0x0b)
    {
        return Reply::error("ERR Usernames can't contain spaces or null characters");
    }
    let outcome = {
        let mut acl = ctx.server.acl.lock();
        let outcome = acl.set_user(name, &argv[3..]);
        ctx.server.refresh_auth_open(&acl);
        outcome
    };
    match outcome {
        Ok(outcome) => {
            if outcome.channels_revoked {
                drop_revoked_subscribers(ctx, &outcome.slot);
            }
            Reply::ok()
        }
        Err(e) => Reply::error(format!("ERR {}", e.replace(['\r', '\n'], " "))),
    }
}

/// Closes the subscribed connections of `slot`'s user whose channels its new
/// rules no longer allow (Redis's `ACLKillPubsubClientsIfNeeded`).
fn drop_revoked_subscribers(ctx: &mut ExecCtx<'_>, slot: &Arc<UserSlot>) {
    let handles: Vec<_> = ctx
        .server
        .clients
        .lock()
        .iter()
        .filter(|h| {
            let info = h.info.lock();
            Arc::ptr_eq(&info.user, slot) && info.sub + info.psub + info.ssub > 0
        })
        .cloned()
        .collect();
    let user = slot.user().clone();
    for handle in handles {
        let (channels, patterns, shard) = ctx.server.pubsub.lock().subscriptions_of(handle.id);
        if !user.allows_subscriptions(&channels, &patterns, &shard) {
            if handle.id == ctx.client.id {
                ctx.client.close_after_reply = true;
            } else {
                handle.kill();
            }
        }
    }
}

fn deluser(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv[2..].iter().any(|n| n.as_ref() == acl::DEFAULT_USER) {
        return Reply::error("ERR The 'default' user cannot be removed");
    }
    let gone: Vec<Arc<UserSlot>> = {
        let mut acl = ctx.server.acl.lock();
        argv[2..]
            .iter()
            .filter_map(|n| acl.delete_user(n))
            .collect()
    };
    ctx.server.disconnect_users(&gone, ctx.client);
    Reply::Int(gone.len() as i64)
}

fn getuser(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let acl = ctx.server.acl.lock();
    match acl.get(&argv[2]) {
        Some(slot) => slot.user().getuser_reply(),
        None => Reply::Null,
    }
}

fn list(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let lines = ctx.server.acl.lock().list_lines();
    Reply::Array(
        lines
            .into_iter()
            .map(|l| Reply::Bulk(Bytes::from(l)))
            .collect(),
    )
}

fn users(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let acl = ctx.server.acl.lock();
    Reply::Array(acl.users().map(|s| Reply::Bulk(s.name.clone())).collect())
}

fn whoami(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Bulk(ctx.client.user.name.clone())
}

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may \
     want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming \
     you have a Redis configuration file set) in order to store users in the Redis \
     configuration.";

fn load(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let Some(file) = acl::acl_file(ctx.server) else {
        return Reply::error(NO_ACL_FILE);
    };
    let result = {
        let mut acl = ctx.server.acl.lock();
        let result = acl::load_file(&mut acl, &file);
        ctx.server.refresh_auth_open(&acl);
        result
    };
    match result {
        Ok(gone) => {
            ctx.server.disconnect_users(&gone, ctx.client);
            Reply::ok()
        }
        Err(e) => Reply::error(format!("ERR {e}")),
    }
}

fn save(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let Some(file) = acl::acl_file(ctx.server) else {
        return Reply::error(NO_ACL_FILE);
    };
    let result = acl::save_file(&ctx.server.acl.lock(), &file);
    match result {
        Ok(()) => Reply::ok(),
        Err(e) => {
            tracing::warn!("Writing ACL file for ACL SAVE: {e}");
            Reply::error(
                "ERR There was an error trying to save the ACLs. Please check the server logs \
                 for more information",
            )
        }
    }
}

fn cat(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => Reply::Array(
            acl::CATEGORIES
                .iter()
                .map(|c| Reply::bulk_from(c.as_bytes()))
                .collect(),
        ),
        3 => {
            let wanted = &argv[2];
            let Some(bit) = acl::CATEGORIES
                .iter()
                .position(|c| c.as_bytes().eq_ignore_ascii_case(wanted))
            else {
                let shown = &wanted[..wanted.len().min(128)];
                return Reply::error(format!("ERR Unknown category '{}'", lossy(shown)));
            };
            let name = acl::CATEGORIES[bit];
            Reply::Array(
                table()
                    .flat
                    .iter()
                    .filter(|(_, spec)| acl::categories(spec).contains(&name))
                    .map(|(full, _)| Reply::bulk_from(full.as_bytes()))
                    .collect(),
            )
        }
        _ => subcommand_syntax_error("acl", &argv[1]),
    }
}

/// `bits` of randomness from the kernel, as hex (ACL GENPASS).
fn random_hex(chars: usize) -> String {
    let mut raw = vec![0u8; chars.div_ceil(2)];
    let from_kernel = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut raw))
        .is_ok();
    if !from_kernel {
        raw.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    let mut out = String::with_capacity(chars + 1);
    for b in raw {
        out.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        out.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    out.truncate(chars);
    out
}

fn genpass(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return subcommand_syntax_error("acl", &argv[1]);
    }
    let bits = match argv.get(2) {
        Some(a) => tri!(args::int(a)),
        None => 256,
    };
    if bits <= 0 || bits > 4096 {
        return Reply::error(
            "ERR ACL GENPASS argument must be the number of bits for the output password, a \
             positive number up to 4096",
        );
    }
    Reply::Bulk(Bytes::from(random_hex(((bits + 3) / 4) as usize)))
}

fn log(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return subcommand_syntax_error("acl", &argv[1]);
    }
    let mut count = 10usize;
    if let Some(a) = argv.get(2) {
        if args::is(a, "reset") {
            ctx.server.acl.lock().log_reset();
            return Reply::ok();
        }
        count = tri!(args::int(a)).max(0) as usize;
    }
    ctx.server
        .acl
        .lock()
        .log_reply(count, crate::state::unix_ms())
}

fn dryrun(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let Some(slot) = ctx.server.acl.lock().get(&argv[2]).cloned() else {
        return Reply::error(format!("ERR User '{}' not found", lossy(&argv[2])));
    };
    let target = &argv[3..];
    let not_found = || Reply::error(format!("ERR Command '{}' not found", lossy(&target[0])));
    let Some(base) = table().lookup(&target[0]) else {
        return not_found();
    };
    let spec = if base.subcommands.is_empty() || target.len() < 2 {
        base
    } else {
        match crate::command::lookup_subcommand(base, &target[1]) {
            Some(sub) => sub,
            None => return not_found(),
        }
    };
    let id = table().stat_id(spec);
    if !spec.arity_ok(target.len()) {
        return Reply::error(format!(
            "ERR wrong number of arguments for '{}' command",
            table().flat[id].0
        ));
    }
    match slot.check(spec, id, target) {
        Ok(()) => Reply::ok(),
        Err(denied) => {
            let text = match denied.reason {
                acl::Reason::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    table().flat[id].0
                ),
                acl::Reason::Key => format!(
                    "This user has no permissions to access the '{}' key",
                    lossy(&target[denied.pos])
                ),
                _ => format!(
                    "This user has no permissions to access the '{}' channel",
                    lossy(&target[denied.pos])
                ),
            };
            Reply::Bulk(Bytes::from(text))
        }
    }
}

fn help(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    help_reply(
        "acl",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    )
}
