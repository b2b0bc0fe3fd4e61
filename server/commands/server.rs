//! Connection and server commands: PING, ECHO, QUIT, AUTH, HELLO, RESET, INFO,
//! CONFIG, CLIENT, TIME, LASTSAVE, SHUTDOWN, MONITOR, SLOWLOG, DEBUG, COMMAND.
//!
//! Arity, flags, ACL categories and docs are Redis 7.0's (as `COMMAND INFO` and
//! `COMMAND DOCS` print them on redis-server 7.0.15); error texts are Redis's.
//! `COMMAND`, `COMMAND INFO` and `COMMAND DOCS` are rendered from the command
//! table, so every family's entries show up without anything registered here.
//!
//! Locks: handlers run under the data lock. They take the clients registry,
//! the config lock, the pause and monitors mutexes one at a time (never two
//! nested except registry -> a handle's `info`, the documented order).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tandem_storage::digest::{dataset_digest, to_hex, value_digest};
use tandem_storage::glob::glob_match;
use tandem_storage::keyspace::ExpireMode;
use tandem_storage::{num, SmallBytes, Value};

use crate::client::{ClientHandle, ClientKind};
use crate::command::{flags::*, lookup_subcommand, table, CommandSpec, KeySpec};
use crate::commands::args::is;
use crate::config::ClientOrigin;
use crate::exec::ExecCtx;
use crate::reply::{Proto, Reply};
use crate::state::{unix_ms, unix_us, CmdStat, Server};
use crate::{info, tri};

/// The flags Redis gives connection commands usable before AUTH.
const CONN: u32 = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY;
const LS: u32 = LOADING | STALE;
const NLS: u32 = NOSCRIPT | LOADING | STALE;
const ANLS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const ALS: u32 = ADMIN | LOADING | STALE;

const CONFIG_SUBS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, ANLS, KeySpec::NONE, config_get)
        .doc(
            "server",
            "2.0.0",
            "Get the values of configuration parameters",
        )
        .complexity("O(N) when N is the number of configuration parameters provided")
        .acl(&["slow"]),
    CommandSpec::new("help", 2, LS, KeySpec::NONE, config_help)
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("resetstat", 2, ANLS, KeySpec::NONE, config_resetstat)
        .doc("server", "2.0.0", "Reset the stats returned by INFO")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("rewrite", 2, ANLS, KeySpec::NONE, config_rewrite)
        .doc(
            "server",
            "2.8.0",
            "Rewrite the configuration file with the in memory configuration",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("set", -4, ANLS, KeySpec::NONE, config_set)
        .doc(
            "server",
            "2.0.0",
            "Set configuration parameters to the given values",
        )
        .complexity("O(N) when N is the number of configuration parameters provided")
        .acl(&["slow"]),
];

const CLIENT_SUBS: &[CommandSpec] = &[
    CommandSpec::new("caching", 3, NLS, KeySpec::NONE, client_caching)
        .doc(
            "connection",
            "6.0.0",
            "Instruct the server about tracking or not keys in the next request",
        )
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("getname", 2, NLS, KeySpec::NONE, client_getname)
        .doc("connection", "2.6.9", "Get the current connection name")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("getredir", 2, NLS, KeySpec::NONE, client_getredir)
        .doc("connection", "6.0.0", "Get tracking notifications redirection client ID if any")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("help", 2, LS, KeySpec::NONE, client_help)
        .doc("connection", "5.0.0", "Show helpful text about the different subcommands")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("id", 2, NLS, KeySpec::NONE, client_id)
        .doc("connection", "5.0.0", "Returns the client ID for the current connection")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("info", 2, NLS, KeySpec::NONE, client_info)
        .doc("connection", "6.2.0", "Returns information about the current client connection.")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("kill", -3, ANLS, KeySpec::NONE, client_kill)
        .doc("connection", "2.4.0", "Kill the connection of a client")
        .complexity("O(N) where N is the number of client connections")
        .acl(&["slow", "connection"]),
    CommandSpec::new("list", -2, ANLS, KeySpec::NONE, client_list)
        .doc("connection", "2.4.0", "Get the list of client connections")
        .complexity("O(N) where N is the number of client connections")
        .acl(&["slow", "connection"]),
    CommandSpec::new("no-evict", 3, ANLS, KeySpec::NONE, client_no_evict)
        .doc("connection", "7.0.0", "Set client eviction mode for the current connection")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("pause", -3, ANLS, KeySpec::NONE, client_pause)
        .doc("connection", "2.9.50", "Stop processing commands from clients for some time")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("reply", 3, NLS, KeySpec::NONE, client_reply)
        .doc("connection", "3.2.0", "Instruct the server whether to reply to commands")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("setname", 3, NLS, KeySpec::NONE, client_setname)
        .doc("connection", "2.6.9", "Set the current connection name")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("tracking", -3, NLS, KeySpec::NONE, client_tracking)
        .doc(
            "connection",
            "6.0.0",
            "Enable or disable server assisted client side caching support",
        )
        .complexity("O(1). Some options may introduce additional complexity.")
        .acl(&["slow", "connection"]),
    CommandSpec::new("trackinginfo", 2, NLS, KeySpec::NONE, client_trackinginfo)
        .doc(
            "connection",
            "6.2.0",
            "Return information about server assisted client side caching for the current connection",
        )
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("unblock", -3, ANLS, KeySpec::NONE, client_unblock)
        .doc(
            "connection",
            "5.0.0",
            "Unblock a client blocked in a blocking command from a different connection",
        )
        .complexity("O(log N) where N is the number of client connections")
        .acl(&["slow", "connection"]),
    CommandSpec::new("unpause", 2, ANLS, KeySpec::NONE, client_unpause)
        .doc("connection", "6.2.0", "Resume processing of clients that were paused")
        .complexity("O(N) Where N is the number of paused clients")
        .acl(&["slow", "connection"]),
];

const SLOWLOG_SUBS: &[CommandSpec] = &[
    CommandSpec::new("get", -2, ALS, KeySpec::NONE, slowlog_get)
        .doc("server", "2.2.12", "Get the slow log's entries")
        .complexity("O(N) where N is the number of entries returned")
        .acl(&["slow"]),
    CommandSpec::new("help", 2, LS, KeySpec::NONE, slowlog_help)
        .doc(
            "server",
            "6.2.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("len", 2, ALS, KeySpec::NONE, slowlog_len)
        .doc("server", "2.2.12", "Get the slow log's length")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("reset", 2, ALS, KeySpec::NONE, slowlog_reset)
        .doc("server", "2.2.12", "Clear all entries from the slow log")
        .complexity("O(N) where N is the number of entries in the slowlog")
        .acl(&["slow"]),
];

const COMMAND_SUBS: &[CommandSpec] = &[
    CommandSpec::new("count", 2, LS, KeySpec::NONE, command_count)
        .doc("server", "2.8.13", "Get total number of Redis commands")
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("docs", -2, LS, KeySpec::NONE, command_docs)
        .doc(
            "server",
            "7.0.0",
            "Get array of specific Redis command documentation",
        )
        .complexity("O(N) where N is the number of commands to look up")
        .acl(&["slow", "connection"]),
    CommandSpec::new("getkeys", -4, LS, KeySpec::NONE, command_getkeys)
        .doc(
            "server",
            "2.8.13",
            "Extract keys given a full Redis command",
        )
        .complexity("O(N) where N is the number of arguments to the command")
        .acl(&["slow", "connection"]),
    CommandSpec::new(
        "getkeysandflags",
        -4,
        LS,
        KeySpec::NONE,
        command_getkeysandflags,
    )
    .doc(
        "server",
        "7.0.0",
        "Extract keys and access flags given a full Redis command",
    )
    .complexity("O(N) where N is the number of arguments to the command")
    .acl(&["slow", "connection"]),
    CommandSpec::new("help", 2, LS, KeySpec::NONE, command_help)
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow", "connection"]),
    CommandSpec::new("info", -2, LS, KeySpec::NONE, command_info)
        .doc(
            "server",
            "2.8.13",
            "Get array of specific Redis command details, or all when no argument is given.",
        )
        .complexity("O(N) where N is the number of commands to look up")
        .acl(&["slow", "connection"]),
    CommandSpec::new("list", -2, LS, KeySpec::NONE, command_list)
        .doc("server", "7.0.0", "Get an array of Redis command names")
        .complexity("O(N) where N is the total number of Redis commands")
        .acl(&["slow", "connection"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST, KeySpec::NONE, ping)
        .doc("connection", "1.0.0", "Ping the server")
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
    CommandSpec::new("echo", 2, LS | FAST, KeySpec::NONE, echo)
        .doc("connection", "1.0.0", "Echo the given string")
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
    CommandSpec::new("quit", -1, CONN, KeySpec::NONE, quit)
        .doc("connection", "1.0.0", "Close the connection")
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
    CommandSpec::new("auth", -2, CONN, KeySpec::NONE, auth)
        .doc("connection", "1.0.0", "Authenticate to the server")
        .complexity("O(N) where N is the number of passwords defined for the user")
        .acl(&["fast", "connection"]),
    CommandSpec::new("hello", -1, CONN, KeySpec::NONE, hello)
        .doc("connection", "6.0.0", "Handshake with Redis")
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
    CommandSpec::new("reset", 1, CONN, KeySpec::NONE, reset)
        .doc("connection", "6.2.0", "Reset the connection")
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
    CommandSpec::new("client", -2, 0, KeySpec::NONE, crate::command::container_handler)
        .doc("connection", "2.4.0", "A container for client connection commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(CLIENT_SUBS),
    CommandSpec::new("info", -1, LS, KeySpec::NONE, info_cmd)
        .doc("server", "1.0.0", "Get information and statistics about the server")
        .complexity("O(1)")
        .acl(&["slow", "dangerous"]),
    CommandSpec::new("config", -2, 0, KeySpec::NONE, crate::command::container_handler)
        .doc("server", "2.0.0", "A container for server configuration commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(CONFIG_SUBS),
    CommandSpec::new("time", 1, LS | FAST, KeySpec::NONE, time)
        .doc("server", "2.6.0", "Return the current server time")
        .complexity("O(1)")
        .acl(&["fast"]),
    CommandSpec::new("lastsave", 1, LS | FAST, KeySpec::NONE, lastsave)
        .doc("server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk")
        .complexity("O(1)")
        .acl(&["admin", "fast", "dangerous"]),
    CommandSpec::new(
        "shutdown",
        -1,
        ANLS | NO_MULTI | ALLOW_BUSY,
        KeySpec::NONE,
        shutdown,
    )
    .doc("server", "1.0.0", "Synchronously save the dataset to disk and then shut down the server")
    .complexity(
        "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
    )
    .acl(&["slow"]),
    CommandSpec::new("monitor", 1, ANLS, KeySpec::NONE, monitor)
        .doc("server", "1.0.0", "Listen for all requests received by the server in real time")
        .acl(&["slow"]),
    CommandSpec::new("slowlog", -2, 0, KeySpec::NONE, crate::command::container_handler)
        .doc("server", "2.2.12", "A container for slow log commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(SLOWLOG_SUBS),
    CommandSpec::new("debug", -2, ANLS, KeySpec::NONE, debug)
        .doc("server", "1.0.0", "A container for debugging commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"]),
    // Bare `COMMAND` runs this handler; `COMMAND <sub>` the subcommands.
    CommandSpec::new("command", -1, LS, KeySpec::NONE, command_all)
        .doc("server", "2.8.13", "Get array of Redis command details")
        .complexity("O(N) where N is the total number of Redis commands")
        .acl(&["slow", "connection"])
        .subs(COMMAND_SUBS),
];

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

fn status(text: impl Into<std::borrow::Cow<'static, str>>) -> Reply {
    Reply::Simple(text.into())
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Redis's `addReplyHelp`: a header, the lines, and the HELP footer.
pub(crate) fn help_reply(cmd: &str, lines: &[&'static str]) -> Reply {
    let mut out = Vec::with_capacity(lines.len() + 3);
    out.push(status(format!(
        "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        cmd.to_ascii_uppercase()
    )));
    out.extend(lines.iter().map(|l| status(*l)));
    out.push(status("HELP"));
    out.push(status("    Prints this help."));
    Reply::Array(out)
}

/// Redis's `addReplySubcommandSyntaxError`.
pub(crate) fn subcommand_syntax_error(cmd: &str, sub: &[u8]) -> Reply {
    let sub = &sub[..sub.len().min(128)];
    Reply::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        lossy(sub),
        cmd.to_ascii_uppercase()
    ))
}

/// Loopback TCP peers and unix-socket clients are local (for `local`
/// settings of `enable-debug-command` and `enable-protected-configs`).
pub(crate) fn origin(handle: &ClientHandle) -> ClientOrigin {
    let addr = handle.addr.as_str();
    // A unix-socket client's address is "<socket path>:0", its laddr the path.
    let unix = addr
        .strip_suffix(":0")
        .is_some_and(|path| path == handle.laddr);
    let local = unix
        || addr.starts_with("127.")
        || addr.starts_with("[::1]:")
        || addr.starts_with("[::ffff:127.");
    if local {
        ClientOrigin::Local
    } else {
        ClientOrigin::Remote
    }
}

/// Logs the client in as `user` with `pass`. A failure is recorded in the
/// ACL log (reason `auth`, object the command's name as sent).
fn authenticate(ctx: &mut ExecCtx<'_>, command: &Bytes, user: &[u8], pass: &[u8]) -> bool {
    authenticate_client(
        ctx.server,
        ctx.client,
        Some(ctx.data.repl.offset),
        command,
        user,
        pass,
    )
}

/// AUTH's check for `client`; a failure is logged in the ACL log (with the
/// replication offset when known: `None` while a busy script holds it).
fn authenticate_client(
    server: &Server,
    client: &mut crate::client::ClientState,
    offset: Option<u64>,
    command: &Bytes,
    user: &[u8],
    pass: &[u8],
) -> bool {
    let slot = server.acl.lock().authenticate(user, pass);
    match slot {
        Some(slot) => {
            client.authenticated = true;
            client.set_user(slot);
            true
        }
        None => {
            let context = if client.multi.is_some() || client.in_exec {
                crate::acl::Context::Multi
            } else {
                crate::acl::Context::Toplevel
            };
            crate::acl::log_event(
                server,
                client,
                offset.unwrap_or(0),
                crate::acl::Reason::Auth,
                context,
                command.clone(),
                Some(Bytes::copy_from_slice(user)),
                &lossy(command).to_ascii_lowercase(),
            );
            false
        }
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Redis's client-name rule: printable ASCII without spaces.
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

fn set_client_name(handle: &ClientHandle, name: &Bytes) {
    handle.info.lock().name = if name.is_empty() {
        None
    } else {
        Some(name.clone())
    };
}

fn client_kind_by_name(name: &[u8]) -> Option<ClientKind> {
    let lower = name.to_ascii_lowercase();
    match lower.as_slice() {
        b"normal" => Some(ClientKind::Normal),
        b"slave" | b"replica" => Some(ClientKind::Replica),
        b"pubsub" => Some(ClientKind::PubSub),
        b"master" => Some(ClientKind::Master),
        _ => None,
    }
}

/// Removes the client from the MONITOR list, if it is there.
fn stop_monitoring(ctx: &mut ExecCtx<'_>) {
    if !ctx.client.monitor {
        return;
    }
    ctx.client.monitor = false;
    ctx.client.handle.info.lock().monitor = false;
    let id = ctx.client.id;
    let mut monitors = ctx.server.monitors.lock();
    monitors.retain(|m| m.id != id);
    ctx.server
        .monitor_count
        .store(monitors.len(), Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Connection commands
// ---------------------------------------------------------------------------

fn ping(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 2 {
        return Reply::wrong_arity("ping");
    }
    if ctx.client.subscribed() && ctx.client.proto == Proto::Resp2 {
        let msg = argv.get(1).cloned().unwrap_or_default();
        return Reply::Array(vec![Reply::bulk_from(b"pong"), Reply::Bulk(msg)]);
    }
    match argv.get(1) {
        None => status("PONG"),
        Some(msg) => Reply::Bulk(msg.clone()),
    }
}

fn echo(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    Reply::Bulk(argv[1].clone())
}

fn quit(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    ctx.client.close_after_reply = true;
    Reply::ok()
}

fn auth(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return Reply::syntax_error();
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.server.acl.lock().default_user().user().nopass {
            return Reply::error(
                "ERR AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            );
        }
        (crate::acl::DEFAULT_USER, &argv[1])
    } else {
        (&argv[1], &argv[2])
    };
    if authenticate(ctx, &argv[0], user, pass) {
        Reply::ok()
    } else {
        Reply::error(WRONGPASS)
    }
}

fn hello(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let offset = ctx.data.repl.offset;
    hello_for(ctx.server, ctx.client, Some(offset), argv)
}

/// HELLO for `client`, which needs no data: a busy script's connection
/// answers it too (`offset` is then unknown).
pub(crate) fn hello_for(
    server: &Server,
    client: &mut crate::client::ClientState,
    offset: Option<u64>,
    argv: &[Bytes],
) -> Reply {
    let mut version = None;
    let mut j = 1;
    if argv.len() >= 2 {
        let Some(v) = num::parse_i64(&argv[1]) else {
            return Reply::error("ERR Protocol version is not an integer or out of range");
        };
        if !(2..=3).contains(&v) {
            return Reply::error("NOPROTO unsupported protocol version");
        }
        version = Some(v);
        j = 2;
    }
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(&argv[j], "auth") && more >= 2 {
            if !authenticate_client(server, client, offset, &argv[0], &argv[j + 1], &argv[j + 2]) {
                return Reply::error(WRONGPASS);
            }
            j += 3;
        } else if is(&argv[j], "setname") && more >= 1 {
            if !valid_client_name(&argv[j + 1]) {
                return Reply::error(BAD_CLIENT_NAME);
            }
            set_client_name(&client.handle, &argv[j + 1]);
            j += 2;
        } else {
            return Reply::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                lossy(&argv[j])
            ));
        }
    }
    if !client.authenticated {
        return Reply::error(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO AUTH <user> <pass> option can be used to authenticate the client and select \
             the RESP protocol version at the same time",
        );
    }
    if let Some(v) = version {
        client.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
        client.handle.info.lock().resp = v as u8;
    }
    let proto = match client.proto {
        Proto::Resp2 => 2,
        Proto::Resp3 => 3,
    };
    let role = if server.config.read().replicaof.is_some() {
        "replica"
    } else {
        "master"
    };
    let kv = |k: &'static str, v: Reply| (Reply::Bulk(Bytes::from_static(k.as_bytes())), v);
    Reply::Map(vec![
        kv("server", Reply::bulk_from(b"redis")),
        kv("version", Reply::bulk_from(crate::REDIS_VERSION.as_bytes())),
        kv("proto", Reply::Int(proto)),
        kv("id", Reply::Int(client.id as i64)),
        kv("mode", Reply::bulk_from(b"standalone")),
        kv("role", Reply::bulk_from(role.as_bytes())),
        kv("modules", Reply::Array(Vec::new())),
    ])
}

/// RESET: back to the state of a new connection (db 0, RESP2, no name, not
/// monitoring, replies on, authenticated only if no password is required).
fn reset(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let kind = ctx.client.handle.info.lock().kind;
    if matches!(kind, ClientKind::Replica | ClientKind::Master) {
        return Reply::error("ERR can only reset normal client connections");
    }
    stop_monitoring(ctx);
    crate::commands::pubsub::unsubscribe_all(ctx);
    ctx.data.tracking.disable(ctx.client.id);
    ctx.client.set_db(0);
    ctx.client.proto = Proto::Resp2;
    let default_user = ctx.server.acl.lock().default_user().clone();
    ctx.client.set_user(default_user);
    ctx.client.authenticated = !ctx.server.auth_required();
    ctx.client.reply_off = false;
    ctx.client.reply_skip_next = false;
    {
        let mut info = ctx.client.handle.info.lock();
        info.resp = 2;
        info.name = None;
        info.no_evict = false;
    }
    status("RESET")
}

// ---------------------------------------------------------------------------
// INFO, TIME, LASTSAVE, SHUTDOWN, MONITOR
// ---------------------------------------------------------------------------

fn info_cmd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let selection = info::Selection::parse(&argv[1..]);
    let text = info::generate(ctx.server, ctx.data, &selection);
    Reply::Verbatim("txt", Bytes::from(text))
}

fn time(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let now = unix_us();
    Reply::Array(vec![
        Reply::Bulk(Bytes::from((now / 1_000_000).to_string())),
        Reply::Bulk(Bytes::from((now % 1_000_000).to_string())),
    ])
}

fn lastsave(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(ctx.data.last_save_unix as i64)
}

fn shutdown(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (flags, abort) = tri!(shutdown_options(argv));
    let caller = (ctx.client.handle.clone(), ctx.client.proto);
    match crate::shutdown::request(ctx.server, flags, abort, caller) {
        Some(reply) => reply,
        None => {
            // Held until the process exits, or told why it did not.
            ctx.client.blocked = true;
            Reply::None
        }
    }
}

/// SHUTDOWN's options and whether it is SHUTDOWN ABORT, or Redis's error.
pub(crate) fn shutdown_options(
    argv: &[Bytes],
) -> Result<(crate::shutdown::ShutdownFlags, bool), Reply> {
    let mut flags = crate::shutdown::ShutdownFlags::default();
    let mut abort = false;
    for a in &argv[1..] {
        if is(a, "nosave") {
            flags.nosave = true;
        } else if is(a, "save") {
            flags.save = true;
        } else if is(a, "now") {
            flags.now = true;
        } else if is(a, "force") {
            flags.force = true;
        } else if is(a, "abort") {
            abort = true;
        } else {
            return Err(Reply::syntax_error());
        }
    }
    let any = flags.nosave || flags.save || flags.now || flags.force;
    if (abort && any) || (flags.nosave && flags.save) {
        return Err(Reply::syntax_error());
    }
    Ok((flags, abort))
}

fn monitor(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let kind = ctx.client.handle.info.lock().kind;
    // Like Redis: a replica or a client already monitoring gets no reply.
    if ctx.client.monitor || kind == ClientKind::Replica {
        return Reply::None;
    }
    ctx.client.monitor = true;
    ctx.client.handle.info.lock().monitor = true;
    let mut monitors = ctx.server.monitors.lock();
    monitors.push(ctx.client.handle.clone());
    ctx.server
        .monitor_count
        .store(monitors.len(), Ordering::Relaxed);
    Reply::ok()
}

// ---------------------------------------------------------------------------
// CONFIG
// ---------------------------------------------------------------------------

fn config_get(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let patterns: Vec<String> = argv[2..].iter().map(|p| lossy(p)).collect();
    let pairs = ctx.server.config.read().get_many(&patterns);
    Reply::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Reply::Bulk(Bytes::from(k)), Reply::Bulk(Bytes::from(v))))
            .collect(),
    )
}

fn config_set(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() & 1 == 1 {
        return Reply::syntax_error();
    }
    let pairs: Vec<(String, String)> = argv[2..]
        .chunks(2)
        .map(|kv| (lossy(&kv[0]), lossy(&kv[1])))
        .collect();
    let who = origin(&ctx.client.handle);
    let (changed, level, dir, backlog_size) = {
        let mut config = ctx.server.config.write();
        let changed = tri!(config.set_as(&pairs, who).map_err(Reply::error));
        ctx.data.refresh_hot_config(&config);
        ctx.server.config_epoch.fetch_add(1, Ordering::Release);
        (
            changed,
            config.loglevel,
            config.dir.clone(),
            config.repl_backlog_size,
        )
    };
    for name in changed {
        match name {
            "loglevel" => crate::log::set_level(level),
            "repl-backlog-size" => {
                // Resize the live ring, keeping the newest bytes that fit.
                if let Some(backlog) = ctx.data.repl.backlog.as_mut() {
                    let size = (backlog_size as usize).max(16 * 1024);
                    if let Err(e) = backlog.resize(size) {
                        tracing::warn!("Could not resize the replication backlog: {e}");
                    }
                }
            }
            "requirepass" | "acllog-max-len" | "acl-pubsub-default" => {
                let config = ctx.server.config.read();
                let pubsub_all =
                    config.value("acl-pubsub-default").as_deref() == Some("allchannels");
                let log_max_len = config.number("acllog-max-len").unwrap_or(128).max(0) as usize;
                let requirepass = config.requirepass.clone();
                drop(config);
                let mut acl = ctx.server.acl.lock();
                match name {
                    "requirepass" => acl.set_requirepass(requirepass.as_deref()),
                    "acllog-max-len" => acl.set_log_max_len(log_max_len),
                    _ => acl.pubsub_all = pubsub_all,
                }
                ctx.server.refresh_auth_open(&acl);
            }
            "appendonly" => {
                let on = ctx.server.config.read().flag("appendonly").unwrap_or(false);
                if !on {
                    crate::aof::stop(ctx.data);
                } else if let Err(e) = crate::aof::start(ctx.server, ctx.data) {
                    return Reply::error(e);
                }
            }
            "dir" => {
                if let Err(e) = std::env::set_current_dir(&dir) {
                    tracing::warn!("Can't chdir to '{dir}': {e}");
                }
            }
            // Everything else is read from the config where it is used.
            _ => {}
        }
    }
    Reply::ok()
}

fn config_resetstat(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    let data = &mut *ctx.data;
    for stat in &mut data.cmdstats {
        *stat = CmdStat::default();
    }
    data.keyspace_hits = 0;
    data.keyspace_misses = 0;
    data.total_commands = 0;
    for i in 0..data.keyspace.db_count() {
        data.keyspace.db(i).expired_total = 0;
    }
    data.persist.saves = 0;
    data.error_stats.clear();
    let s = &ctx.server.stats;
    for counter in [
        &s.connections_received,
        &s.rejected_connections,
        &s.net_input_bytes,
        &s.net_output_bytes,
        &s.total_error_replies,
        &s.unexpected_error_replies,
        &s.client_query_buffer_limit_disconnections,
        &s.ops_per_sec,
        &s.sync_full,
        &s.sync_partial_ok,
        &s.sync_partial_err,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
    // The ops/sec sampler compares against the command counter just reset.
    *s.ops_sample.lock() = (0, 0, 0);
    Reply::ok()
}

fn config_rewrite(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    // As in Redis, `user` lines describe the live users (unless an ACL file
    // keeps them).
    let users: Vec<Vec<String>> = ctx
        .server
        .acl
        .lock()
        .list_lines()
        .iter()
        .map(|line| {
            String::from_utf8_lossy(line)
                .split(' ')
                .skip(1)
                .map(str::to_string)
                .collect()
        })
        .collect();
    let result = {
        let mut config = ctx.server.config.write();
        config.set_users(users);
        config.rewrite()
    };
    match result {
        Ok(()) => {
            tracing::warn!("CONFIG REWRITE executed with success.");
            Reply::ok()
        }
        Err(e) => {
            tracing::warn!("CONFIG REWRITE failed: {e}");
            Reply::error(e)
        }
    }
}

fn config_help(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    help_reply(
        &lossy(&argv[0]),
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}

// ---------------------------------------------------------------------------
// CLIENT
// ---------------------------------------------------------------------------

fn client_id(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(ctx.client.id as i64)
}

/// Makes this connection's own CLIENT LIST line show the running command,
/// as Redis does (the connection records it only after the batch).
fn mark_running(ctx: &mut ExecCtx<'_>, name: &'static str) {
    ctx.client.handle.info.lock().last_cmd = name;
}

fn client_info(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    mark_running(ctx, "client|info");
    let mut line = ctx.client.handle.describe(unix_ms(), ctx.data.repl.offset);
    line.push('\n');
    Reply::Verbatim("txt", Bytes::from(line))
}

fn client_list(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let mut kind = None;
    let mut ids = None;
    if argv.len() == 4 && is(&argv[2], "type") {
        match client_kind_by_name(&argv[3]) {
            Some(k) => kind = Some(k),
            None => {
                return Reply::error(format!("ERR Unknown client type '{}'", lossy(&argv[3])));
            }
        }
    } else if argv.len() > 3 && is(&argv[2], "id") {
        let mut list = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            match num::parse_i64(a) {
                Some(id) => list.push(id),
                None => return Reply::error("ERR Invalid client ID"),
            }
        }
        ids = Some(list);
    } else if argv.len() != 2 {
        return Reply::syntax_error();
    }
    mark_running(ctx, "client|list");
    let now = unix_ms();
    let mut out = String::new();
    let clients = ctx.server.clients.lock();
    let mut emit = |h: &Arc<ClientHandle>| {
        out.push_str(&h.describe(now, ctx.data.repl.offset));
        out.push('\n');
    };
    match ids {
        Some(list) => {
            for id in list {
                if let Some(h) = u64::try_from(id).ok().and_then(|id| clients.get(id)) {
                    emit(h);
                }
            }
        }
        None => {
            for h in clients.iter() {
                if kind.is_none_or(|k| h.info.lock().kind == k) {
                    emit(h);
                }
            }
        }
    }
    drop(clients);
    Reply::Verbatim("txt", Bytes::from(out))
}

fn client_setname(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if !valid_client_name(&argv[2]) {
        return Reply::error(BAD_CLIENT_NAME);
    }
    set_client_name(&ctx.client.handle, &argv[2]);
    Reply::ok()
}

fn client_getname(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    match ctx.client.handle.info.lock().name.clone() {
        Some(name) => Reply::Bulk(name),
        None => Reply::Null,
    }
}

/// The filters of `CLIENT KILL <option> <value> ...`.
#[derive(Debug, Default)]
struct KillFilter {
    addr: Option<Bytes>,
    laddr: Option<Bytes>,
    kind: Option<ClientKind>,
    id: Option<u64>,
    user: Option<Arc<crate::acl::UserSlot>>,
    skipme: bool,
}

fn parse_kill_filter(server: &Server, argv: &[Bytes]) -> Result<KillFilter, Reply> {
    if argv.len() == 3 {
        // Old form: CLIENT KILL <addr>, which may kill the caller too.
        return Ok(KillFilter {
            addr: Some(argv[2].clone()),
            ..KillFilter::default()
        });
    }
    let mut f = KillFilter {
        skipme: true,
        ..KillFilter::default()
    };
    let mut i = 2;
    while i < argv.len() {
        let (opt, Some(value)) = (&argv[i], argv.get(i + 1)) else {
            return Err(Reply::syntax_error());
        };
        if is(opt, "id") {
            match num::parse_i64(value) {
                Some(id) if id >= 1 => f.id = Some(id as u64),
                _ => return Err(Reply::error("ERR client-id should be greater than 0")),
            }
        } else if is(opt, "type") {
            match client_kind_by_name(value) {
                Some(k) => f.kind = Some(k),
                None => {
                    return Err(Reply::error(format!(
                        "ERR Unknown client type '{}'",
                        lossy(value)
                    )))
                }
            }
        } else if is(opt, "addr") {
            f.addr = Some(value.clone());
        } else if is(opt, "laddr") {
            f.laddr = Some(value.clone());
        } else if is(opt, "user") {
            match server.acl.lock().get(value) {
                Some(slot) => f.user = Some(slot.clone()),
                None => return Err(Reply::error(format!("ERR No such user '{}'", lossy(value)))),
            }
        } else if is(opt, "skipme") {
            if is(value, "yes") {
                f.skipme = true;
            } else if is(value, "no") {
                f.skipme = false;
            } else {
                return Err(Reply::syntax_error());
            }
        } else {
            return Err(Reply::syntax_error());
        }
        i += 2;
    }
    Ok(f)
}

fn client_kill(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let filter = tri!(parse_kill_filter(ctx.server, argv));
    let me = ctx.client.id;
    let matched: Vec<Arc<ClientHandle>> = ctx
        .server
        .clients
        .lock()
        .iter()
        .filter(|h| {
            !h.killed.load(Ordering::Relaxed)
                && filter
                    .addr
                    .as_ref()
                    .is_none_or(|a| h.addr.as_bytes() == a.as_ref())
                && filter
                    .laddr
                    .as_ref()
                    .is_none_or(|a| h.laddr.as_bytes() == a.as_ref())
                && filter.kind.is_none_or(|k| h.info.lock().kind == k)
                && filter.id.is_none_or(|id| h.id == id)
                && filter
                    .user
                    .as_ref()
                    .is_none_or(|u| Arc::ptr_eq(u, &h.info.lock().user))
                && !(filter.skipme && h.id == me)
        })
        .cloned()
        .collect();
    let mut killed = 0i64;
    for h in &matched {
        if h.id == me {
            // Like Redis: the caller gets its reply, then the connection closes.
            ctx.client.close_after_reply = true;
        } else {
            h.kill_now();
        }
        killed += 1;
    }
    if argv.len() == 3 {
        if killed == 0 {
            Reply::error("ERR No such client")
        } else {
            Reply::ok()
        }
    } else {
        Reply::Int(killed)
    }
}

fn client_pause(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return subcommand_syntax_error("client", &argv[1]);
    }
    let mut writes_only = false;
    if let Some(mode) = argv.get(3) {
        if is(mode, "write") {
            writes_only = true;
        } else if !is(mode, "all") {
            return Reply::error("ERR CLIENT PAUSE mode must be WRITE or ALL");
        }
    }
    let Some(timeout) = num::parse_i64(&argv[2]) else {
        return Reply::error("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return Reply::error("ERR timeout is negative");
    }
    let now = unix_ms();
    let Some(until) = (timeout as u64)
        .checked_add(now)
        .filter(|u| *u <= i64::MAX as u64)
    else {
        return Reply::error("ERR timeout is out of range");
    };
    let mut pause = ctx.server.pause.lock();
    if pause.until_ms > now {
        // An active pause only gets longer and more restrictive.
        pause.until_ms = pause.until_ms.max(until);
        pause.writes_only = pause.writes_only && writes_only;
    } else {
        pause.until_ms = until;
        pause.writes_only = writes_only;
    }
    ctx.data.expiry_paused_until_ms = pause.until_ms;
    Reply::ok()
}

fn client_unpause(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    {
        // A FAILOVER's pause is not CLIENT UNPAUSE's to lift.
        let mut pause = ctx.server.pause.lock();
        *pause = crate::state::Pause {
            failover: pause.failover,
            shutdown: pause.shutdown,
            ..Default::default()
        };
    }
    ctx.data.expiry_paused_until_ms = 0;
    ctx.server.unpaused.notify_waiters();
    Reply::ok()
}

fn client_no_evict(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let on = if is(&argv[2], "on") {
        true
    } else if is(&argv[2], "off") {
        false
    } else {
        return Reply::syntax_error();
    };
    ctx.client.handle.info.lock().no_evict = on;
    Reply::ok()
}

fn client_reply(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let mode = &argv[2];
    if is(mode, "on") {
        ctx.client.reply_off = false;
        ctx.client.reply_skip_next = false;
        ctx.client.reply_on_now = true;
        Reply::ok()
    } else if is(mode, "off") {
        ctx.client.reply_off = true;
        Reply::None
    } else if is(mode, "skip") {
        if !ctx.client.reply_off {
            ctx.client.reply_skip_next = true;
        }
        Reply::None
    } else {
        Reply::syntax_error()
    }
}

fn client_getredir(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    crate::tracking::client_getredir(ctx.data, ctx.client)
}

/// CLIENT TRACKING (see [`crate::tracking`]).
fn client_tracking(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::tracking::client_tracking(ctx.server, ctx.data, ctx.client, argv)
}

fn client_caching(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    crate::tracking::client_caching(ctx.data, ctx.client, argv)
}

fn client_trackinginfo(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    crate::tracking::client_trackinginfo(ctx.data, ctx.client)
}

fn client_unblock(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return subcommand_syntax_error("client", &argv[1]);
    }
    if let Some(reason) = argv.get(3) {
        if !is(reason, "timeout") && !is(reason, "error") {
            return Reply::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    }
    let Some(id) = num::parse_i64(&argv[2]) else {
        return Reply::not_integer();
    };
    let with_error = argv.get(3).is_some_and(|r| is(r, "error"));
    let unblocked =
        id >= 0 && crate::blocking::unblock(ctx.server, ctx.data, id as u64, with_error);
    Reply::Int(i64::from(unblocked))
}

fn client_help(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    help_reply(
        &lossy(&argv[0]),
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    )
}

// ---------------------------------------------------------------------------
// SLOWLOG
// ---------------------------------------------------------------------------

fn slowlog_get(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() > 3 {
        return subcommand_syntax_error("slowlog", &argv[1]);
    }
    let log = &ctx.data.slowlog;
    let count = match argv.get(2) {
        None => 10,
        Some(arg) => match num::parse_i64(arg) {
            Some(-1) => log.entries.len(),
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Reply::error("ERR count should be greater than or equal to -1"),
        },
    };
    Reply::Array(
        log.entries
            .iter()
            .take(count)
            .map(|e| {
                Reply::Array(vec![
                    Reply::Int(e.id as i64),
                    Reply::Int(e.unix_secs as i64),
                    Reply::Int(e.duration_us as i64),
                    Reply::Array(e.argv.iter().cloned().map(Reply::Bulk).collect()),
                    Reply::bulk_from(e.addr.as_bytes()),
                    Reply::Bulk(e.name.clone()),
                ])
            })
            .collect(),
    )
}

fn slowlog_len(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(ctx.data.slowlog.entries.len() as i64)
}

fn slowlog_reset(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    ctx.data.slowlog.entries.clear();
    Reply::ok()
}

fn slowlog_help(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    help_reply(
        &lossy(&argv[0]),
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}

// ---------------------------------------------------------------------------
// DEBUG
// ---------------------------------------------------------------------------

const DEBUG_NOT_ALLOWED: &str =
    "ERR DEBUG command not allowed. If the enable-debug-command option \
is set to \"local\", you can run it from a local connection, otherwise you need to set this option \
in the configuration file, and then restart the server.";

fn debug(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let allowed = ctx
        .server
        .config
        .read()
        .enable_debug_command
        .allows(origin(&ctx.client.handle));
    if !allowed {
        return Reply::error(DEBUG_NOT_ALLOWED);
    }
    let sub = argv[1].to_ascii_lowercase();
    let argc = argv.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => debug_help(),
        (b"digest", 2) => status(to_hex(&dataset_digest(&ctx.data.keyspace))),
        (b"digest-value", _) => debug_digest_value(ctx, &argv[2..]),
        (b"sleep", 3) => {
            let secs = num::parse_f64(&argv[2]).unwrap_or(0.0);
            if secs.is_finite() && secs > 0.0 {
                // Blocks the whole server, as in Redis: the data lock is held.
                std::thread::sleep(Duration::from_secs_f64(secs.min(1e9)));
            }
            Reply::ok()
        }
        (b"change-repl-id", 2) => {
            // As Redis: a new id and no past one, so that every replica and
            // every cached primary state must resync in full (for tests of
            // the replication subsystem).
            tracing::info!("Changing replication IDs after receiving DEBUG change-repl-id");
            let at = tandem_replication::ReplOffset(ctx.data.repl.offset);
            ctx.data.repl.restart_history(crate::exec::new_replid(), at);
            Reply::ok()
        }
        (b"set-active-expire", 3) => {
            ctx.data.active_expire_enabled = atoi(&argv[2]) != 0;
            Reply::ok()
        }
        (b"set-skip-checksum-validation", 3) => {
            ctx.data.debug.skip_checksum_validation = atoi(&argv[2]) != 0;
            Reply::ok()
        }
        (b"pause-cron", 3) => {
            ctx.data.debug.cron_paused = atoi(&argv[2]) != 0;
            Reply::ok()
        }
        (b"set-disable-deny-scripts", 3) => {
            ctx.data.debug.deny_scripts_disabled = atoi(&argv[2]) != 0;
            Reply::ok()
        }
        (b"quicklist-packed-threshold", 3) => match crate::config::mem_to_u64(&lossy(&argv[2])) {
            Some(bytes) if bytes < 1 << 32 => {
                ctx.data.debug.quicklist_packed_threshold = bytes;
                Reply::ok()
            }
            _ => Reply::error(
                "ERR argument must be a memory value bigger than 1 and smaller than 4gb",
            ),
        },
        // Reply-buffer tuning knobs: tandem's buffers have none to turn.
        (b"replybuffer", 4) => match argv[2].to_ascii_lowercase().as_slice() {
            b"peak-reset-time" | b"resizing" => Reply::ok(),
            _ => Reply::error("ERR unknown subcommand or wrong number of arguments"),
        },
        (b"htstats", 3..=4) => match std::str::from_utf8(&argv[2])
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&db| db < ctx.data.keyspace.db_count())
        {
            Some(db) => {
                let keys = ctx.data.keyspace.db(db).len();
                let expires = ctx.data.keyspace.db(db).volatile_len();
                Reply::Bulk(Bytes::from(format!(
                    "[Dictionary HT]\nHash table 0 stats (main hash table):\n table size: {}\n number of elements: {keys}\n[Expires HT]\nHash table 0 stats (main hash table):\n table size: {}\n number of elements: {expires}\n",
                    keys.next_power_of_two(),
                    expires.next_power_of_two()
                )))
            }
            None => Reply::error("ERR Out of range database"),
        },
        (b"htstats-key", 3..=4) => debug_htstats_key(ctx, &argv[2]),
        (b"listpack" | b"quicklist" | b"ziplist", 3..=4) => {
            let now = ctx.now_ms;
            with_expired_visible(ctx, |ctx| match ctx.db().peek(&argv[2], now) {
                None => Reply::no_such_key(),
                Some(_) => status("Listpack structure printed on stdout"),
            })
        }
        (b"populate", 3..=5) => debug_populate(ctx, argv),
        (b"loadaof", 2) => match crate::aof::debug_loadaof(ctx.server, ctx.data) {
            Ok(()) => Reply::ok(),
            Err(e) => Reply::error(format!("ERR {e}")),
        },
        (b"reload", _) => {
            let mut o = crate::persist::ReloadOptions::default();
            for a in &argv[2..] {
                if is(a, "nosave") {
                    o.nosave = true;
                } else if is(a, "noflush") {
                    o.noflush = true;
                } else if is(a, "merge") {
                    o.merge = true;
                } else {
                    return Reply::error(
                        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.",
                    );
                }
            }
            match crate::persist::debug_reload(ctx.server, ctx.data, o) {
                Ok(()) => Reply::ok(),
                Err(e) => {
                    tracing::warn!("DEBUG RELOAD failed: {e}");
                    Reply::error("ERR Error trying to load the RDB dump, check server logs.")
                }
            }
        }
        (b"object", 3) => debug_object(ctx, &argv[2]),
        (b"log", 3) => {
            tracing::warn!("DEBUG LOG: {}", lossy(&argv[2]));
            Reply::ok()
        }
        (b"error", 3) => Reply::error(lossy(&argv[2])),
        (b"protocol", 3) => debug_protocol(ctx.client.proto, &argv[2]),
        _ => subcommand_syntax_error("debug", &argv[1]),
    }
}

/// C's `atoi`: leading whitespace, an optional sign, then digits; 0 otherwise.
fn atoi(s: &[u8]) -> i64 {
    let s = s.trim_ascii_start();
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for &b in digits.iter().take_while(|b| b.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(b - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

/// Runs `f` with expired keys visible and kept (Redis's debug lookups use the
/// dictionary directly). `execute` resets the mode before the next command.
fn with_expired_visible<R>(ctx: &mut ExecCtx<'_>, f: impl FnOnce(&mut ExecCtx<'_>) -> R) -> R {
    ctx.data.keyspace.set_expire_mode(ExpireMode::Ignore);
    let r = f(ctx);
    ctx.data.keyspace.set_expire_mode(ExpireMode::Delete);
    r
}

fn debug_digest_value(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    with_expired_visible(ctx, |ctx| {
        Reply::Array(
            keys.iter()
                .map(|k| {
                    let digest = ctx.db().peek(k, now).map_or([0u8; 20], value_digest);
                    status(to_hex(&digest))
                })
                .collect(),
        )
    })
}

fn debug_populate(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";
    let Some(count) = num::parse_i64(&argv[2]).filter(|n| *n >= 0) else {
        return Reply::error(NOT_POSITIVE);
    };
    let prefix: &[u8] = argv.get(3).map_or(b"key", |p| p.as_ref());
    let size = match argv.get(4) {
        None => 0usize,
        Some(arg) => match num::parse_i64(arg).filter(|n| *n >= 0) {
            Some(n) => match usize::try_from(n) {
                Ok(n) => n,
                Err(_) => return Reply::error(NOT_POSITIVE),
            },
            None => return Reply::error(NOT_POSITIVE),
        },
    };
    let now = ctx.now_ms;
    let mut added = 0u64;
    let mut key = Vec::with_capacity(prefix.len() + 21);
    for j in 0..count as u64 {
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(j.to_string().as_bytes());
        // Redis formats into a 128-byte buffer.
        key.truncate(127);
        if ctx.db().contains(&key, now) {
            continue;
        }
        let text = format!("value:{j}");
        let value = if size == 0 {
            SmallBytes::from_slice(text.as_bytes())
        } else {
            let mut v = vec![0u8; size];
            let n = size.min(text.len());
            v[..n].copy_from_slice(&text.as_bytes()[..n]);
            SmallBytes::from_vec(v)
        };
        ctx.db().insert(&key, Value::string(value), None, now);
        added += 1;
    }
    // Redis's dbAdd leaves server.dirty alone: populated keys are neither
    // propagated (DEBUG is not a write command) nor counted as changes.
    ctx.data.dirty_at_last_save += added;
    Reply::ok()
}

/// Bytes of an RDB length prefix.
fn rdb_len_size(n: usize) -> usize {
    if n < 1 << 6 {
        1
    } else if n < 1 << 14 {
        2
    } else if n <= u32::MAX as usize {
        5
    } else {
        9
    }
}

/// Approximately what `rdbSavedObjectLen` reports for a string (no LZF).
fn serialized_len(bytes: &[u8]) -> usize {
    if bytes.len() <= 11 && num::is_canonical_i64(bytes) {
        if let Some(v) = num::parse_i64(bytes) {
            if i8::try_from(v).is_ok() {
                return 2;
            } else if i16::try_from(v).is_ok() {
                return 3;
            } else if i32::try_from(v).is_ok() {
                return 5;
            }
        }
    }
    rdb_len_size(bytes.len()) + bytes.len()
}

fn debug_object(ctx: &mut ExecCtx<'_>, key: &Bytes) -> Reply {
    let now = ctx.now_ms;
    with_expired_visible(ctx, |ctx| {
        let Some(entry) = ctx.db().peek(key, now) else {
            return Reply::no_such_key();
        };
        let encoding = entry.value.encoding();
        let bytes: &[u8] = entry.value.as_str().map_or(&[], |s| s.as_ref());
        // Redis shares the objects of small integers (OBJ_SHARED_INTEGERS).
        let shared =
            encoding == "int" && num::parse_i64(bytes).is_some_and(|v| (0..10_000).contains(&v));
        let refcount = if shared { i32::MAX } else { 1 };
        let access = u64::from(entry.access_secs());
        let idle = (now / 1000).saturating_sub(access);
        status(format!(
            "Value at:{:p} refcount:{refcount} encoding:{encoding} serializedlength:{} lru:{} lru_seconds_idle:{idle}",
            entry as *const _,
            serialized_len(bytes),
            info::lru_clock(access * 1000),
        ))
    })
}

/// DEBUG HTSTATS-KEY: the hash table behind a set, hash or sorted set. tandem
/// grows its tables in one step, so no table is ever caught rehashing.
fn debug_htstats_key(ctx: &mut ExecCtx<'_>, key: &Bytes) -> Reply {
    let now = ctx.now_ms;
    with_expired_visible(ctx, |ctx| {
        let Some(entry) = ctx.db().peek(key, now) else {
            return Reply::no_such_key();
        };
        let encoding = entry.value.encoding();
        if !matches!(encoding, "hashtable" | "skiplist") {
            return Reply::error(
                "ERR The value stored at the specified key is not represented using an hash table",
            );
        }
        let len = match &entry.value {
            Value::Set(s) => s.len(),
            Value::Hash(h) => h.len(),
            Value::ZSet(z) => z.len(),
            _ => 0,
        };
        Reply::Bulk(Bytes::from(format!(
            "Hash table 0 stats (main hash table):\n table size: {}\n number of elements: {len}\n",
            len.next_power_of_two()
        )))
    })
}

/// DEBUG PROTOCOL: one sample of each reply type, for client tests.
fn debug_protocol(proto: Proto, name: &Bytes) -> Reply {
    let resp3 = proto == Proto::Resp3;
    let lower = name.to_ascii_lowercase();
    match lower.as_slice() {
        b"string" => Reply::bulk_from(b"Hello World"),
        b"integer" => Reply::Int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => Reply::Double(3.141),
        b"bignum" => {
            let digits = "1234567999999999999999999999999999999";
            if resp3 {
                Reply::Raw(Bytes::from(format!("({digits}\r\n")))
            } else {
                Reply::bulk_from(digits.as_bytes())
            }
        }
        b"null" => Reply::Null,
        b"array" => Reply::Array((0..3).map(Reply::Int).collect()),
        b"set" => Reply::Set((0..3).map(Reply::Int).collect()),
        b"map" => Reply::Map(
            (0..3)
                .map(|j| (Reply::Int(j), Reply::Bool(j == 1)))
                .collect(),
        ),
        b"attrib" => {
            let follow = "Some real reply following the attribute";
            let mut raw = String::new();
            if resp3 {
                raw.push_str("|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n");
            }
            raw.push_str(&format!("${}\r\n{follow}\r\n", follow.len()));
            Reply::Raw(Bytes::from(raw))
        }
        b"push" => {
            if !resp3 {
                return Reply::error("ERR RESP2 is not supported by this command");
            }
            let follow = "Some real reply following the push reply";
            Reply::Raw(Bytes::from(format!(
                ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n${}\r\n{follow}\r\n",
                follow.len()
            )))
        }
        b"true" => Reply::Bool(true),
        b"false" => Reply::Bool(false),
        b"verbatim" => Reply::Verbatim("txt", Bytes::from_static(b"This is a verbatim\nstring")),
        _ => Reply::error(
            "ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

fn debug_help() -> Reply {
    help_reply(
        "debug",
        &[
            "CHANGE-REPL-ID",
            "    Give the instance a new replication ID and forget the past ones, so",
            "    that every replica must resync in full (for replication tests).",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. These are not propagated to",
            "    replicas.",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
        ],
    )
}

// ---------------------------------------------------------------------------
// COMMAND
// ---------------------------------------------------------------------------

/// The key-spec flags a command's keys get (approximated from its flags).
fn key_flags(bits: u16) -> Reply {
    Reply::Set(crate::keyspecs::flags::names(bits).map(status).collect())
}

fn bulk_str(s: &str) -> Reply {
    Reply::bulk_from(s.as_bytes())
}

fn map(pairs: Vec<(&str, Reply)>) -> Reply {
    Reply::Map(pairs.into_iter().map(|(k, v)| (bulk_str(k), v)).collect())
}

/// `COMMAND INFO`'s key specs of the command `full_name`.
fn key_specs(full_name: &str) -> Vec<Reply> {
    use crate::keyspecs::{BeginSearch, FindKeys};
    let int = |n: i32| Reply::Int(i64::from(n));
    crate::keyspecs::specs(full_name)
        .iter()
        .map(|spec| {
            let (kind, args) = match spec.begin {
                BeginSearch::Index(i) => ("index", vec![("index", int(i))]),
                BeginSearch::Keyword(word, from) => (
                    "keyword",
                    vec![("keyword", bulk_str(word)), ("startfrom", int(from))],
                ),
                BeginSearch::Unknown => ("unknown", Vec::new()),
            };
            let begin = map(vec![("type", bulk_str(kind)), ("spec", map(args))]);
            let (kind, args) = match spec.find {
                FindKeys::Range {
                    lastkey,
                    step,
                    limit,
                } => (
                    "range",
                    vec![
                        ("lastkey", int(lastkey)),
                        ("keystep", int(step)),
                        ("limit", int(limit)),
                    ],
                ),
                FindKeys::Keynum { idx, first, step } => (
                    "keynum",
                    vec![
                        ("keynumidx", int(idx)),
                        ("firstkey", int(first)),
                        ("keystep", int(step)),
                    ],
                ),
                FindKeys::Unknown => ("unknown", Vec::new()),
            };
            let find = map(vec![("type", bulk_str(kind)), ("spec", map(args))]);
            map(vec![
                ("flags", key_flags(spec.flags)),
                ("begin_search", begin),
                ("find_keys", find),
            ])
        })
        .collect()
}

/// One `COMMAND INFO` entry (Redis 7.0's ten fields).
fn info_entry(full_name: &str, spec: &CommandSpec) -> Reply {
    let flags = NAMES
        .iter()
        .filter(|(f, _)| spec.has(*f))
        .map(|(_, n)| status(*n))
        .collect();
    let acl = crate::acl::categories(spec)
        .into_iter()
        .map(|c| status(format!("@{c}")))
        .collect();
    let subcommands = if spec.subcommands.is_empty() {
        Reply::Set(Vec::new())
    } else {
        Reply::Array(
            spec.subcommands
                .iter()
                .map(|s| info_entry(&format!("{full_name}|{}", s.name), s))
                .collect(),
        )
    };
    Reply::Array(vec![
        bulk_str(full_name),
        Reply::Int(i64::from(spec.arity)),
        Reply::Set(flags),
        Reply::Int(i64::from(spec.keys.first)),
        Reply::Int(i64::from(spec.keys.last)),
        Reply::Int(i64::from(spec.keys.step)),
        Reply::Set(acl),
        Reply::Set(Vec::new()),
        Reply::Set(key_specs(full_name)),
        subcommands,
    ])
}

/// One `COMMAND DOCS` value. `summary`, `since` and `group` are always
/// present: redis-cli reads them for its help and hints.
fn docs_entry(full_name: &str, spec: &CommandSpec) -> Reply {
    let mut map = vec![
        (bulk_str("summary"), bulk_str(spec.summary)),
        (bulk_str("since"), bulk_str(spec.since)),
        (bulk_str("group"), bulk_str(spec.group)),
    ];
    if !spec.complexity.is_empty() {
        map.push((bulk_str("complexity"), bulk_str(spec.complexity)));
    }
    if !spec.subcommands.is_empty() {
        let subs = spec
            .subcommands
            .iter()
            .map(|s| {
                let name = format!("{full_name}|{}", s.name);
                let docs = docs_entry(&name, s);
                (bulk_str(&name), docs)
            })
            .collect();
        map.push((bulk_str("subcommands"), Reply::Map(subs)));
    }
    Reply::Map(map)
}

/// Finds `name` or `container|sub`, case-insensitively, with its full name.
fn lookup_full(name: &[u8]) -> Option<(String, &'static CommandSpec)> {
    let mut parts = name.split(|&b| b == b'|');
    let base = table().lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some((base.name.to_string(), base)),
        (Some(sub), None) => {
            let s = lookup_subcommand(base, sub)?;
            Some((format!("{}|{}", base.name, s.name), s))
        }
        _ => None,
    }
}

fn command_all(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Array(
        table()
            .commands
            .iter()
            .map(|c| info_entry(c.name, c))
            .collect(),
    )
}

fn command_count(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::Int(table().commands.len() as i64)
}

fn command_info(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 2 {
        return command_all(ctx, argv);
    }
    Reply::Array(
        argv[2..]
            .iter()
            .map(|n| lookup_full(n).map_or(Reply::Null, |(name, spec)| info_entry(&name, spec)))
            .collect(),
    )
}

fn command_docs(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let pairs = if argv.len() == 2 {
        table()
            .commands
            .iter()
            .map(|c| (bulk_str(c.name), docs_entry(c.name, c)))
            .collect()
    } else {
        argv[2..]
            .iter()
            .filter_map(|n| lookup_full(n))
            .map(|(name, spec)| (bulk_str(&name), docs_entry(&name, spec)))
            .collect()
    };
    Reply::Map(pairs)
}

fn command_list(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    enum Filter {
        None,
        Module,
        AclCat(String),
        Pattern(Bytes),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < argv.len() {
        if is(&argv[i], "filterby") && argv.len() - 1 - i == 2 {
            let (kind, arg) = (&argv[i + 1], &argv[i + 2]);
            filter = if is(kind, "module") {
                Filter::Module
            } else if is(kind, "aclcat") {
                Filter::AclCat(lossy(arg).to_ascii_lowercase())
            } else if is(kind, "pattern") {
                Filter::Pattern(arg.clone())
            } else {
                return Reply::syntax_error();
            };
            i += 3;
        } else {
            return Reply::syntax_error();
        }
    }
    let names = table()
        .flat
        .iter()
        .filter(|(name, spec)| match &filter {
            Filter::None => true,
            Filter::Module => false,
            Filter::AclCat(cat) => crate::acl::categories(spec).iter().any(|c| c == cat),
            Filter::Pattern(p) => glob_match(p, name.as_bytes(), true),
        })
        .map(|(name, _)| bulk_str(name))
        .collect();
    Reply::Array(names)
}

/// The keys of the command in `argv[2..]` with their key-spec flags, or
/// Redis's GETKEYS error.
fn getkeys(argv: &[Bytes]) -> Result<Vec<(Bytes, u16)>, Reply> {
    let target = &argv[2..];
    let invalid = || Reply::error("ERR Invalid command specified");
    let base = table().lookup(&target[0]).ok_or_else(invalid)?;
    let (spec, full_name) = if base.subcommands.is_empty() || target.len() < 2 {
        (base, base.name.to_string())
    } else {
        let sub = lookup_subcommand(base, &target[1]).ok_or_else(invalid)?;
        (sub, format!("{}|{}", base.name, sub.name))
    };
    if !crate::keyspecs::has_keys(&full_name) && !spec.has(MOVABLE_KEYS) {
        return Err(Reply::error("ERR The command has no key arguments"));
    }
    if !spec.arity_ok(target.len()) {
        return Err(Reply::error(
            "ERR Invalid number of arguments specified for command",
        ));
    }
    let keys = crate::keyspecs::keys_and_flags(&full_name, target);
    if keys.is_empty() && !spec.has(NO_MANDATORY_KEYS) {
        return Err(Reply::error("ERR Invalid arguments specified for command"));
    }
    Ok(keys
        .into_iter()
        .map(|(i, flags)| (target[i].clone(), flags))
        .collect())
}

fn command_getkeys(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let keys = tri!(getkeys(argv));
    Reply::Array(keys.into_iter().map(|(k, _)| Reply::Bulk(k)).collect())
}

fn command_getkeysandflags(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let keys = tri!(getkeys(argv));
    Reply::Array(
        keys.into_iter()
            .map(|(k, flags)| Reply::Array(vec![Reply::Bulk(k), key_flags(flags)]))
            .collect(),
    )
}

fn command_help(_: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    help_reply(
        &lossy(&argv[0]),
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientState;
    use crate::commands::testing::encode;
    use crate::config::{Config, ProtectedConfig};
    use crate::exec::execute;
    use crate::state::Server;

    struct Harness {
        server: Arc<Server>,
        client: ClientState,
    }

    impl Harness {
        fn new() -> Harness {
            Harness::with_config(Config::default())
        }

        fn with_config(config: Config) -> Harness {
            let server = Server::new(config);
            let client = Harness::connect(&server, "127.0.0.1:50000");
            Harness { server, client }
        }

        fn connect(server: &Arc<Server>, addr: &str) -> ClientState {
            let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
            let handle = Arc::new(ClientHandle::new(
                id,
                addr.to_string(),
                "127.0.0.1:6379".to_string(),
                7,
                unix_ms(),
                tokio::sync::mpsc::unbounded_channel().0,
            ));
            server.clients.lock().add(handle.clone());
            let mut client = ClientState::new(handle, !server.auth_required());
            client.set_user(server.acl.lock().default_user().clone());
            client
        }

        fn run(&mut self, args: &[&str]) -> Reply {
            let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
            let mut data = self.server.data.lock();
            execute(&self.server, &mut data, &mut self.client, &argv, unix_ms())
        }

        fn text(&mut self, args: &[&str]) -> String {
            match self.run(args) {
                Reply::Bulk(b) | Reply::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
                Reply::Simple(s) => s.into_owned(),
                other => panic!("{args:?}: not text: {other:?}"),
            }
        }

        fn enable_debug(&self) {
            self.server.config.write().enable_debug_command = ProtectedConfig::Yes;
        }
    }

    fn err(reply: Reply) -> String {
        match reply {
            Reply::Error(e) => e.into_owned(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn ping_echo_quit() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["PING"]), status("PONG"));
        assert_eq!(h.run(&["ping", "hi"]), Reply::bulk_from(b"hi"));
        assert_eq!(
            err(h.run(&["ping", "a", "b"])),
            "ERR wrong number of arguments for 'ping' command"
        );
        assert_eq!(h.run(&["echo", "x"]), Reply::bulk_from(b"x"));
        assert_eq!(
            err(h.run(&["echo"])),
            "ERR wrong number of arguments for 'echo' command"
        );
        assert_eq!(h.run(&["quit"]), Reply::ok());
        assert!(h.client.close_after_reply);
    }

    #[test]
    fn a_repeated_name_reuses_its_command_but_never_a_container_s_subcommand() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["ECHO", "a"]), Reply::bulk_from(b"a"));
        assert_eq!(
            err(h.run(&["ECHO"])),
            "ERR wrong number of arguments for 'echo' command",
            "arity is checked on a repeated name too"
        );
        assert_eq!(h.run(&["ECHO", "b"]), Reply::bulk_from(b"b"));
        assert!(h.client.last_command.is_some());
        // CONFIG GET then CONFIG SET: the second must not run as the first.
        assert!(matches!(
            h.run(&["CONFIG", "GET", "hz"]),
            Reply::Map(_) | Reply::Array(_)
        ));
        assert_eq!(h.run(&["CONFIG", "SET", "hz", "20"]), Reply::ok());
        assert_eq!(h.server.config.read().number("hz"), Some(20));
        assert!(h.client.last_command.is_some_and(|c| c.is(b"ECHO")));
    }

    #[test]
    fn auth_without_password() {
        let mut h = Harness::new();
        assert!(err(h.run(&["auth", "x"])).starts_with("ERR AUTH <password> called without"));
        assert_eq!(h.run(&["auth", "default", "whatever"]), Reply::ok());
        assert_eq!(err(h.run(&["auth", "bob", "x"])), WRONGPASS);
        assert_eq!(err(h.run(&["auth", "a", "b", "c"])), "ERR syntax error");
    }

    #[test]
    fn auth_and_hello_with_requirepass() {
        let mut config = Config::default();
        config.requirepass = Some(b"secret".to_vec());
        let mut h = Harness::with_config(config);
        assert!(!h.client.authenticated);
        assert_eq!(err(h.run(&["ping"])), "NOAUTH Authentication required.");
        assert!(err(h.run(&["hello", "3"])).starts_with("NOAUTH HELLO must be called"));
        assert_eq!(err(h.run(&["auth", "wrong"])), WRONGPASS);
        assert_eq!(
            err(h.run(&["hello", "3", "auth", "default", "wrong"])),
            WRONGPASS
        );
        let reply = h.run(&["hello", "3", "AUTH", "default", "secret", "SETNAME", "me"]);
        assert!(h.client.authenticated);
        assert_eq!(h.client.proto, Proto::Resp3);
        let Reply::Map(pairs) = reply else {
            panic!("HELLO replies with a map")
        };
        let keys: Vec<Reply> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let want: Vec<Reply> = [
            "server", "version", "proto", "id", "mode", "role", "modules",
        ]
        .iter()
        .map(|k| bulk_str(k))
        .collect();
        assert_eq!(keys, want);
        assert_eq!(pairs[2].1, Reply::Int(3));
        assert_eq!(pairs[3].1, Reply::Int(h.client.id as i64));
        assert_eq!(h.run(&["client", "getname"]), Reply::bulk_from(b"me"));
        assert_eq!(h.client.handle.info.lock().resp, 3);
        // RESET drops authentication again when a password is required.
        assert_eq!(h.run(&["reset"]), status("RESET"));
        assert!(!h.client.authenticated);
        assert_eq!(h.client.proto, Proto::Resp2);
        assert_eq!(h.client.handle.info.lock().name, None);
        assert_eq!(h.run(&["auth", "secret"]), Reply::ok());
    }

    #[test]
    fn hello_errors() {
        let mut h = Harness::new();
        assert_eq!(
            err(h.run(&["hello", "4"])),
            "NOPROTO unsupported protocol version"
        );
        assert_eq!(
            err(h.run(&["hello", "x"])),
            "ERR Protocol version is not an integer or out of range"
        );
        assert_eq!(
            err(h.run(&["hello", "3", "foo"])),
            "ERR Syntax error in HELLO option 'foo'"
        );
        assert_eq!(
            err(h.run(&["hello", "2", "setname", "a b"])),
            BAD_CLIENT_NAME
        );
        let reply = h.run(&["hello"]);
        let bytes = encode(&reply, Proto::Resp2);
        assert!(bytes.starts_with(b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n"));
    }

    #[test]
    fn info_has_sections_and_fields() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        h.run(&["get", "k"]);
        let text = h.text(&["info"]);
        for section in [
            "# Server\r\n",
            "# Clients\r\n",
            "# Memory\r\n",
            "# Persistence\r\n",
            "# Stats\r\n",
            "# Replication\r\n",
            "# CPU\r\n",
            "# Modules\r\n",
            "# Errorstats\r\n",
            "# Cluster\r\n",
            "# Keyspace\r\n",
        ] {
            assert!(text.contains(section), "missing {section:?}");
        }
        assert!(!text.contains("# Commandstats"));
        assert!(text.starts_with("# Server\r\nredis_version:7.0.15\r\n"));
        assert!(text.contains("\r\n\r\n# Clients\r\n"));
        for field in [
            "redis_mode:standalone\r\n",
            "arch_bits:64\r\n",
            "multiplexing_api:epoll\r\n",
            "tandem_version:",
            "connected_clients:1\r\n",
            "mem_allocator:jemalloc-5.3.0\r\n",
            "maxmemory_policy:noeviction\r\n",
            "rdb_changes_since_last_save:1\r\n",
            "rdb_bgsave_in_progress:0\r\n",
            "total_commands_processed:2\r\n",
            "keyspace_hits:1\r\n",
            "role:master\r\n",
            "connected_slaves:0\r\n",
            "master_replid2:0000000000000000000000000000000000000000\r\n",
            "second_repl_offset:-1\r\n",
            "repl_backlog_size:1048576\r\n",
            "used_cpu_sys:",
            "cluster_enabled:0\r\n",
            "db0:keys=1,expires=0,avg_ttl=0\r\n",
        ] {
            assert!(text.contains(field), "missing {field:?}");
        }
        let run_id = format!("run_id:{}\r\n", h.server.run_id);
        assert!(text.contains(&run_id));
        assert!(text.ends_with("\r\n") && !text.ends_with("\r\n\r\n"));

        let stats = h.text(&["info", "commandstats"]);
        assert!(stats.starts_with("# Commandstats\r\n"), "{stats}");
        assert!(stats.contains("cmdstat_get:calls=1,usec="));
        assert!(stats.contains(",rejected_calls=0,failed_calls=0\r\n"));
        assert!(stats.contains("cmdstat_info:calls=1,"));

        let server_only = h.text(&["INFO", "Server"]);
        assert!(server_only.starts_with("# Server\r\n") && !server_only.contains("# Clients"));
        let all = h.text(&["info", "everything"]);
        assert!(all.contains("# Commandstats\r\n") && all.contains("# Latencystats\r\n"));
        // RESP3: a verbatim string.
        let reply = h.run(&["info", "cluster"]);
        assert_eq!(
            encode(&reply, Proto::Resp3),
            b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n".to_vec()
        );
    }

    #[test]
    fn commandstats_names_subcommands() {
        let mut h = Harness::new();
        h.run(&["config", "get", "port"]);
        h.run(&["config", "nosuch"]);
        let stats = h.text(&["info", "commandstats"]);
        assert!(stats.contains("cmdstat_config|get:calls=1,"), "{stats}");
        assert!(stats.contains(
            "cmdstat_config:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n"
        ));
    }

    #[test]
    fn config_get_set_round_trip() {
        let mut h = Harness::new();
        let reply = h.run(&["config", "get", "maxmemory-policy", "hz"]);
        let bytes = encode(&reply, Proto::Resp2);
        assert_eq!(
            bytes,
            b"*4\r\n$16\r\nmaxmemory-policy\r\n$10\r\nnoeviction\r\n$2\r\nhz\r\n$2\r\n10\r\n"
                .to_vec()
        );
        assert_eq!(
            h.run(&["config", "set", "hz", "20", "slowlog-max-len", "5"]),
            Reply::ok()
        );
        assert_eq!(h.server.config.read().hz, 20);
        assert_eq!(h.server.config.read().slowlog_max_len, 5);
        let reply = h.run(&["config", "get", "hz"]);
        assert_eq!(reply, Reply::Map(vec![(bulk_str("hz"), bulk_str("20"))]));
        assert_eq!(
            err(h.run(&["config", "set", "nosuch", "1"])),
            "ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'"
        );
        assert_eq!(
            err(h.run(&["config", "set", "hz", "1", "x"])),
            "ERR syntax error"
        );
        assert_eq!(
            err(h.run(&["config", "set", "hz"])),
            "ERR wrong number of arguments for 'config|set' command"
        );
        assert_eq!(
            err(h.run(&["config", "bogus"])),
            "ERR unknown subcommand 'bogus'. Try CONFIG HELP."
        );
        assert_eq!(
            h.run(&["config", "set", "loglevel", "warning"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["config", "set", "loglevel", "notice"]), Reply::ok());
        let Reply::Array(help) = h.run(&["config", "help"]) else {
            panic!("help is an array")
        };
        assert_eq!(
            help[0],
            status("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
    }

    #[test]
    fn config_resetstat_clears_counters() {
        let mut h = Harness::new();
        h.run(&["get", "missing"]);
        h.run(&["ping"]);
        assert_eq!(h.run(&["config", "resetstat"]), Reply::ok());
        let data = h.server.data.lock();
        assert_eq!(data.keyspace_misses, 0);
        // Only CONFIG RESETSTAT itself, counted after it ran.
        assert_eq!(data.total_commands, 1);
        assert_eq!(data.cmdstats.iter().map(|s| s.calls).sum::<u64>(), 1);
    }

    #[test]
    fn client_names_and_ids() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["client", "getname"]), Reply::Null);
        assert_eq!(h.run(&["client", "setname", "worker-1"]), Reply::ok());
        assert_eq!(h.run(&["client", "getname"]), Reply::bulk_from(b"worker-1"));
        assert_eq!(err(h.run(&["client", "setname", "a b"])), BAD_CLIENT_NAME);
        assert_eq!(err(h.run(&["client", "setname", "a\nb"])), BAD_CLIENT_NAME);
        assert_eq!(h.run(&["client", "setname", ""]), Reply::ok());
        assert_eq!(h.run(&["client", "getname"]), Reply::Null);
        assert_eq!(h.run(&["client", "id"]), Reply::Int(h.client.id as i64));
        assert_eq!(
            err(h.run(&["client"])),
            "ERR wrong number of arguments for 'client' command"
        );
        assert_eq!(
            err(h.run(&["client", "setname"])),
            "ERR wrong number of arguments for 'client|setname' command"
        );
    }

    #[test]
    fn client_list_info_and_kill() {
        let mut h = Harness::new();
        let other = Harness::connect(&h.server, "10.0.0.2:4000");
        h.run(&["client", "setname", "me"]);
        let list = h.text(&["client", "list"]);
        let lines: Vec<&str> = list.lines().collect();
        assert_eq!(lines.len(), 2, "{list}");
        assert!(list.ends_with('\n'));
        assert!(lines[0].starts_with(&format!("id={} addr=127.0.0.1:50000 ", h.client.id)));
        assert!(lines[0].contains(" name=me ") && lines[0].contains(" cmd=client|list "));
        let info = h.text(&["client", "info"]);
        assert!(info.starts_with(&format!("id={} ", h.client.id)) && info.ends_with('\n'));
        let by_id = h.text(&["client", "list", "id", &other.id.to_string(), "999"]);
        assert_eq!(by_id.lines().count(), 1);
        assert!(by_id.contains("addr=10.0.0.2:4000"));
        assert_eq!(h.text(&["client", "list", "type", "replica"]), "");
        assert_eq!(
            err(h.run(&["client", "list", "type", "bogus"])),
            "ERR Unknown client type 'bogus'"
        );
        assert_eq!(
            err(h.run(&["client", "list", "id", "x"])),
            "ERR Invalid client ID"
        );
        assert_eq!(err(h.run(&["client", "list", "x"])), "ERR syntax error");

        assert_eq!(
            err(h.run(&["client", "kill", "1.2.3.4:5"])),
            "ERR No such client"
        );
        assert_eq!(
            err(h.run(&["client", "kill", "id", "0"])),
            "ERR client-id should be greater than 0"
        );
        assert_eq!(
            err(h.run(&["client", "kill", "user", "bob"])),
            "ERR No such user 'bob'"
        );
        // Three arguments are the old form: "id" is taken as an address.
        assert_eq!(err(h.run(&["client", "kill", "id"])), "ERR No such client");
        assert_eq!(
            err(h.run(&["client", "kill", "id", "5", "skipme"])),
            "ERR syntax error"
        );
        // New form skips the caller by default.
        assert_eq!(h.run(&["client", "kill", "type", "normal"]), Reply::Int(1));
        assert!(other.handle.killed.load(Ordering::Relaxed));
        assert!(!h.client.close_after_reply);
        assert_eq!(h.run(&["client", "kill", "127.0.0.1:50000"]), Reply::ok());
        assert!(h.client.close_after_reply);
    }

    #[test]
    fn client_pause_reply_and_no_evict() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["client", "pause", "100000", "write"]), Reply::ok());
        let p = *h.server.pause.lock();
        assert!(p.writes_only && p.until_ms > unix_ms());
        // A second, shorter ALL pause makes it more restrictive, not shorter.
        assert_eq!(h.run(&["client", "pause", "10", "all"]), Reply::ok());
        let q = *h.server.pause.lock();
        assert!(!q.writes_only && q.until_ms == p.until_ms);
        assert_eq!(h.run(&["client", "unpause"]), Reply::ok());
        assert_eq!(h.server.pause.lock().until_ms, 0);
        assert_eq!(
            err(h.run(&["client", "pause", "x"])),
            "ERR timeout is not an integer or out of range"
        );
        assert_eq!(
            err(h.run(&["client", "pause", "-1"])),
            "ERR timeout is negative"
        );
        assert_eq!(
            err(h.run(&["client", "pause", "1", "foo"])),
            "ERR CLIENT PAUSE mode must be WRITE or ALL"
        );
        assert_eq!(h.run(&["client", "no-evict", "on"]), Reply::ok());
        assert!(h.client.handle.info.lock().no_evict);
        assert_eq!(err(h.run(&["client", "no-evict", "x"])), "ERR syntax error");
        assert_eq!(h.run(&["client", "reply", "skip"]), Reply::None);
        assert!(h.client.reply_skip_next);
        assert_eq!(h.run(&["client", "reply", "off"]), Reply::None);
        assert!(h.client.reply_off);
        assert_eq!(h.run(&["client", "reply", "on"]), Reply::ok());
        assert!(!h.client.reply_off && !h.client.reply_skip_next);
    }

    #[test]
    fn client_tracking_options() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["client", "tracking", "off"]), Reply::ok());
        assert_eq!(
            err(h.run(&["client", "tracking", "on", "optin", "optout"])),
            "ERR You can't specify both OPTIN mode and OPTOUT mode"
        );
        assert_eq!(
            err(h.run(&["client", "tracking", "on", "bogus"])),
            "ERR syntax error"
        );
        assert!(err(h.run(&["client", "caching", "yes"])).starts_with("ERR CLIENT CACHING can be"));
        assert_eq!(h.run(&["client", "getredir"]), Reply::Int(-1));
    }

    #[test]
    fn monitor_registers_once() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["monitor"]), Reply::ok());
        assert_eq!(h.server.monitor_count.load(Ordering::Relaxed), 1);
        assert_eq!(h.run(&["monitor"]), Reply::None);
        assert_eq!(h.server.monitors.lock().len(), 1);
        h.run(&["reset"]);
        assert_eq!(h.server.monitor_count.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn time_lastsave_shutdown() {
        let mut h = Harness::new();
        let Reply::Array(t) = h.run(&["time"]) else {
            panic!("TIME is an array")
        };
        assert_eq!(t.len(), 2);
        let last = h.server.data.lock().last_save_unix as i64;
        assert_eq!(h.run(&["lastsave"]), Reply::Int(last));
        assert_eq!(
            err(h.run(&["shutdown", "abort"])),
            "ERR No shutdown in progress."
        );
        assert_eq!(err(h.run(&["shutdown", "bogus"])), "ERR syntax error");
        assert_eq!(
            err(h.run(&["shutdown", "save", "nosave"])),
            "ERR syntax error"
        );
        // SHUTDOWN holds its caller and hands the request to the shutdown
        // sequence; a save that cannot be written refuses the shutdown.
        h.server.config.write().dir = "/nonexistent/tandem-test-dir".into();
        assert_eq!(h.run(&["shutdown", "save"]), Reply::None);
        assert!(h.client.blocked);
        assert!(h.server.shutdown_requested.load(Ordering::SeqCst));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        assert!(!runtime.block_on(crate::shutdown::prepare(&h.server)));
        assert!(!h.server.shutdown_requested.load(Ordering::SeqCst));
        assert!(h.server.shutdown_state.lock().waiters.is_empty());
        h.client.blocked = false;
        assert_eq!(h.run(&["shutdown", "nosave"]), Reply::None);
        assert!(h.server.shutdown_requested.load(Ordering::SeqCst));
        assert!(runtime.block_on(crate::shutdown::prepare(&h.server)));
    }

    #[test]
    fn slowlog_records_and_resets() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["config", "set", "slowlog-log-slower-than", "0"]),
            Reply::ok()
        );
        h.run(&["client", "setname", "slow-one"]);
        h.run(&["set", "k", "v"]);
        let Reply::Int(len) = h.run(&["slowlog", "len"]) else {
            panic!("LEN is an integer")
        };
        assert!(len >= 2);
        let Reply::Array(entries) = h.run(&["slowlog", "get", "1"]) else {
            panic!("GET is an array")
        };
        assert_eq!(entries.len(), 1);
        let Reply::Array(entry) = &entries[0] else {
            panic!("an entry is an array")
        };
        assert_eq!(entry.len(), 6);
        // The newest entry is SLOWLOG LEN itself.
        assert_eq!(
            entry[3],
            Reply::Array(vec![bulk_str("slowlog"), bulk_str("len")])
        );
        assert_eq!(entry[4], bulk_str("127.0.0.1:50000"));
        assert_eq!(entry[5], bulk_str("slow-one"));
        assert_eq!(
            err(h.run(&["slowlog", "get", "-2"])),
            "ERR count should be greater than or equal to -1"
        );
        assert_eq!(h.run(&["slowlog", "reset"]), Reply::ok());
        // As in Redis, SLOWLOG RESET is itself logged once it has run.
        assert_eq!(h.run(&["slowlog", "len"]), Reply::Int(1));
    }

    #[test]
    fn debug_is_guarded() {
        let mut h = Harness::new();
        assert_eq!(err(h.run(&["debug", "digest"])), DEBUG_NOT_ALLOWED);
        h.server.config.write().enable_debug_command = ProtectedConfig::Local;
        assert_eq!(h.run(&["debug", "digest"]), status("0".repeat(40)));
        let mut remote = Harness::connect(&h.server, "10.1.1.1:999");
        let argv = vec![Bytes::from_static(b"debug"), Bytes::from_static(b"digest")];
        let reply = execute(
            &h.server,
            &mut h.server.data.lock(),
            &mut remote,
            &argv,
            unix_ms(),
        );
        assert_eq!(err(reply), DEBUG_NOT_ALLOWED);
    }

    #[test]
    fn debug_digest_populate_object() {
        let mut h = Harness::new();
        h.enable_debug();
        assert_eq!(h.run(&["debug", "digest"]), status("0".repeat(40)));
        assert_eq!(h.run(&["set", "foo", "bar"]), Reply::ok());
        let Reply::Simple(d) = h.run(&["debug", "digest"]) else {
            panic!("digest is a status")
        };
        assert_eq!(d.len(), 40);
        assert_ne!(d, "0".repeat(40));
        let Reply::Array(values) = h.run(&["debug", "digest-value", "foo", "nokey"]) else {
            panic!("DIGEST-VALUE is an array")
        };
        assert_eq!(values.len(), 2);
        assert_ne!(values[0], status("0".repeat(40)));
        assert_eq!(values[1], status("0".repeat(40)));
        let dirty_before = h.text(&["info", "persistence"]);
        assert_eq!(h.run(&["debug", "populate", "3", "pre", "3"]), Reply::ok());
        assert_eq!(h.run(&["get", "pre:1"]), Reply::bulk_from(b"val"));
        assert_eq!(h.run(&["debug", "populate", "2"]), Reply::ok());
        assert_eq!(h.run(&["get", "key:1"]), Reply::bulk_from(b"value:1"));
        assert_eq!(h.run(&["debug", "populate", "2", "pre", "10"]), Reply::ok());
        assert_eq!(
            h.run(&["get", "pre:0"]),
            Reply::bulk_from(b"val"),
            "not overwritten"
        );
        assert_eq!(h.run(&["debug", "populate", "2", "z", "10"]), Reply::ok());
        assert_eq!(h.run(&["get", "z:1"]), Reply::bulk_from(b"value:1\0\0\0"));
        let dirty_after = h.text(&["info", "persistence"]);
        let changes = |t: &str| {
            t.lines()
                .find_map(|l| l.strip_prefix("rdb_changes_since_last_save:"))
                .map(str::to_string)
        };
        assert_eq!(changes(&dirty_before), changes(&dirty_after));
        assert_eq!(
            err(h.run(&["debug", "populate", "-1"])),
            "ERR value is out of range, must be positive"
        );
        let object = h.text(&["debug", "object", "foo"]);
        assert!(object.starts_with("Value at:0x"), "{object}");
        assert!(object.contains(" refcount:1 encoding:embstr serializedlength:4 lru:"));
        h.run(&["set", "n", "12"]);
        let object = h.text(&["debug", "object", "n"]);
        assert!(object.contains("refcount:2147483647 encoding:int serializedlength:2 "));
        assert_eq!(err(h.run(&["debug", "object", "nokey"])), "ERR no such key");
        assert_eq!(
            err(h.run(&["debug", "bogus"])),
            "ERR unknown subcommand or wrong number of arguments for 'bogus'. Try DEBUG HELP."
        );
        assert_eq!(h.run(&["debug", "set-active-expire", "0"]), Reply::ok());
        assert!(!h.server.data.lock().active_expire_enabled);
        assert_eq!(h.run(&["debug", "sleep", "0"]), Reply::ok());
        assert_eq!(err(h.run(&["debug", "error", "MYERR x"])), "MYERR x");
        let before = h.server.data.lock().repl.lineage.current();
        assert_eq!(h.run(&["debug", "change-repl-id"]), Reply::ok());
        let data = h.server.data.lock();
        assert_ne!(data.repl.lineage.current(), before);
        assert_eq!(data.repl.lineage.past().len(), 0, "no past id is kept");
    }

    /// Redis 7.0.15's DEBUG DIGEST-VALUE after `SET foo bar`. Ignored until
    /// `tandem_storage::digest::value_digest` mixes in the type code first, as
    /// Redis's `xorObjectDigest` does.
    #[test]
    fn debug_digest_value_matches_redis() {
        let mut h = Harness::new();
        h.enable_debug();
        h.run(&["set", "foo", "bar"]);
        assert_eq!(
            h.run(&["debug", "digest-value", "foo"]),
            Reply::Array(vec![status("68467c70ae30376e7ce005bcc8827f5ba7fd67dc")])
        );
    }

    #[test]
    fn command_count_info_docs() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["command", "count"]),
            Reply::Int(table().commands.len() as i64)
        );
        let reply = h.run(&["command", "info", "get", "nosuch", "config|get"]);
        let Reply::Array(items) = reply else {
            panic!("COMMAND INFO is an array")
        };
        assert_eq!(items.len(), 3);
        assert_eq!(items[1], Reply::Null);
        let Reply::Array(get) = &items[0] else {
            panic!("an entry is an array")
        };
        assert_eq!(get.len(), 10);
        assert_eq!(get[0], bulk_str("get"));
        assert_eq!(get[1], Reply::Int(2));
        assert_eq!(get[2], Reply::Set(vec![status("readonly"), status("fast")]));
        assert_eq!(&get[3..6], &[Reply::Int(1), Reply::Int(1), Reply::Int(1)]);
        assert_eq!(
            get[6],
            Reply::Set(vec![status("@read"), status("@string"), status("@fast")])
        );
        assert_eq!(get[9], Reply::Set(vec![]));
        let Reply::Array(cfg) = &items[2] else {
            panic!("an entry is an array")
        };
        assert_eq!(cfg[0], bulk_str("config|get"));
        assert_eq!(
            cfg[6],
            Reply::Set(vec![
                status("@admin"),
                status("@slow"),
                status("@dangerous")
            ])
        );

        let Reply::Array(all) = h.run(&["command", "info"]) else {
            panic!("COMMAND INFO is an array")
        };
        assert_eq!(all.len(), table().commands.len());

        let Reply::Map(docs) = h.run(&["command", "docs", "config", "nosuch"]) else {
            panic!("COMMAND DOCS is a map")
        };
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].0, bulk_str("config"));
        let Reply::Map(fields) = &docs[0].1 else {
            panic!("docs are a map")
        };
        let names: Vec<&Reply> = fields.iter().map(|(k, _)| k).collect();
        assert_eq!(
            names,
            [
                &bulk_str("summary"),
                &bulk_str("since"),
                &bulk_str("group"),
                &bulk_str("complexity"),
                &bulk_str("subcommands"),
            ]
        );
        let Reply::Map(all_docs) = h.run(&["command", "docs"]) else {
            panic!("COMMAND DOCS is a map")
        };
        assert_eq!(all_docs.len(), table().commands.len());

        let Reply::Array(list) = h.run(&["command", "list"]) else {
            panic!("COMMAND LIST is an array")
        };
        assert_eq!(list.len(), table().flat.len());
        let Reply::Array(list) = h.run(&["command", "list", "filterby", "pattern", "config|*"])
        else {
            panic!("COMMAND LIST is an array")
        };
        assert_eq!(list.len(), CONFIG_SUBS.len());
        let Reply::Array(list) = h.run(&["command", "list", "filterby", "aclcat", "nosuch"]) else {
            panic!("COMMAND LIST is an array")
        };
        assert!(list.is_empty());
        assert_eq!(err(h.run(&["command", "list", "x"])), "ERR syntax error");
    }

    #[test]
    fn command_getkeys() {
        let mut h = Harness::new();
        // Keys that move with the arguments: key counts and STORE options.
        assert_eq!(
            h.run(&["command", "getkeys", "zunionstore", "d", "2", "a", "b"]),
            Reply::Array(vec![bulk_str("d"), bulk_str("a"), bulk_str("b")])
        );
        assert_eq!(
            h.run(&["command", "getkeys", "eval", "return 1", "1", "k", "arg"]),
            Reply::Array(vec![bulk_str("k")])
        );
        assert_eq!(
            h.run(&["command", "getkeys", "eval", "return 1", "0"]),
            Reply::Array(vec![])
        );
        assert_eq!(
            h.run(&["command", "getkeys", "sort", "k", "by", "w*", "store", "d"]),
            Reply::Array(vec![bulk_str("k"), bulk_str("d")])
        );
        assert_eq!(
            err(h.run(&["command", "getkeys", "lmpop", "5", "a", "left"])),
            "ERR Invalid arguments specified for command"
        );
        assert_eq!(
            h.run(&["command", "getkeys", "mset", "a", "1", "b", "2"]),
            Reply::Array(vec![bulk_str("a"), bulk_str("b")])
        );
        assert_eq!(
            err(h.run(&["command", "getkeys", "ping", "x"])),
            "ERR The command has no key arguments"
        );
        assert_eq!(
            err(h.run(&["command", "getkeys", "nosuch", "a"])),
            "ERR Invalid command specified"
        );
        assert_eq!(
            err(h.run(&["command", "getkeys", "set", "a"])),
            "ERR Invalid number of arguments specified for command"
        );
        assert_eq!(
            err(h.run(&["command", "getkeys", "get"])),
            "ERR wrong number of arguments for 'command|getkeys' command"
        );
        assert_eq!(
            h.run(&["command", "getkeysandflags", "get", "k"]),
            Reply::Array(vec![Reply::Array(vec![
                bulk_str("k"),
                Reply::Set(vec![status("RO"), status("access")])
            ])])
        );
    }

    #[test]
    fn arity_errors_come_from_the_table() {
        let mut h = Harness::new();
        for spec in COMMANDS.iter().filter(|s| s.arity > 1) {
            // One argument too many for fixed-arity commands.
            let mut args = vec![spec.name];
            args.extend(std::iter::repeat_n("x", spec.arity as usize));
            assert_eq!(
                err(h.run(&args)),
                format!("ERR wrong number of arguments for '{}' command", spec.name)
            );
        }
        assert_eq!(
            err(h.run(&["slowlog", "len", "x"])),
            "ERR wrong number of arguments for 'slowlog|len' command"
        );
    }

    #[test]
    fn help_replies() {
        let mut h = Harness::new();
        for cmd in ["client", "slowlog", "command", "config"] {
            let Reply::Array(lines) = h.run(&[cmd, "help"]) else {
                panic!("{cmd} HELP is an array")
            };
            assert_eq!(
                lines[0],
                status(format!(
                    "{} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    cmd.to_uppercase()
                ))
            );
            assert_eq!(lines.last(), Some(&status("    Prints this help.")));
        }
    }

    #[test]
    fn origin_detection() {
        let make = |addr: &str, laddr: &str| {
            ClientHandle::new(
                1,
                addr.to_string(),
                laddr.to_string(),
                0,
                0,
                tokio::sync::mpsc::unbounded_channel().0,
            )
        };
        let tcp = "10.0.0.9:6379";
        assert_eq!(origin(&make("127.0.0.1:1234", tcp)), ClientOrigin::Local);
        assert_eq!(origin(&make("[::1]:1234", tcp)), ClientOrigin::Local);
        assert_eq!(
            origin(&make("/tmp/redis.sock:0", "/tmp/redis.sock")),
            ClientOrigin::Local
        );
        assert_eq!(origin(&make("10.0.0.1:1234", tcp)), ClientOrigin::Remote);
        assert_eq!(
            origin(&make("[2001:db8::1]:1234", tcp)),
            ClientOrigin::Remote
        );
    }

    #[test]
    fn atoi_like_c() {
        assert_eq!(atoi(b"1"), 1);
        assert_eq!(atoi(b" -12x"), -12);
        assert_eq!(atoi(b"abc"), 0);
    }
}
