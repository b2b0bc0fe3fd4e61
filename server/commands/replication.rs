//! Replication commands: SYNC, PSYNC, REPLCONF, ROLE, WAIT.
//!
//! SYNC and PSYNC only mark the connection; `crate::primary` takes its socket
//! over once the reply loop sees the mark. WAIT that cannot answer at once
//! marks the connection too, which then waits for acknowledgements.

use bytes::Bytes;

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::exec::ExecCtx;
use crate::primary::SyncRequest;
use crate::reply::Reply;
use crate::tri;

const SYNC_FLAGS: u32 = ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sync", 1, SYNC_FLAGS, KeySpec::NONE, sync)
        .doc("server", "1.0.0", "Internal command used for replication")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("psync", -3, SYNC_FLAGS, KeySpec::NONE, psync)
        .doc("server", "2.8.0", "Internal command used for replication")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, KeySpec::NONE, replconf)
        .doc("server", "3.0.0", "An internal command for configuring the replication stream")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("role", 1, NOSCRIPT | LOADING | STALE | FAST, KeySpec::NONE, role)
        .doc("server", "2.8.12", "Return the role of the instance in the context of replication")
        .acl(&["admin", "fast", "dangerous"]),
    CommandSpec::new("replicaof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, KeySpec::NONE, replicaof)
        .doc("server", "5.0.0", "Make the server a replica of another instance, or promote it as master")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("slaveof", 3, ADMIN | NOSCRIPT | STALE | NO_ASYNC_LOADING, KeySpec::NONE, replicaof)
        .doc("server", "1.0.0", "Make the server a replica of another instance, or promote it as master")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("wait", 3, NOSCRIPT, KeySpec::NONE, wait)
        .doc("generic", "3.0.0", "Wait for the synchronous replication of all the write commands sent in the context of the current connection")
        .acl(&["slow", "connection"]),
];

fn sync(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if let Some(refused) = crate::failover::check_sync(ctx, argv) {
        return refused;
    }
    ctx.client.sync_request = Some(SyncRequest::Sync);
    Reply::None
}

fn psync(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    // `PSYNC <replid> <offset> FAILOVER` may promote us first.
    if let Some(refused) = crate::failover::check_sync(ctx, argv) {
        return refused;
    }
    ctx.client.sync_request = Some(SyncRequest::Psync {
        replid: argv[1].clone(),
        offset: argv[2].clone(),
    });
    Reply::None
}

fn replconf(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len().is_multiple_of(2) {
        return Reply::syntax_error();
    }
    for pair in argv[1..].chunks(2) {
        let (opt, value) = (&pair[0], &pair[1]);
        let conf = &mut ctx.client.replica_conf;
        if is(opt, "listening-port") {
            let port = tri!(args::int(value));
            conf.listening_port = u16::try_from(port).unwrap_or(0);
        } else if is(opt, "ip-address") {
            if value.len() >= 256 {
                return Reply::error(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                ));
            }
            conf.ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if is(opt, "capa") {
            if is(value, "eof") {
                conf.capa_eof = true;
            } else if is(value, "psync2") {
                conf.capa_psync2 = true;
            }
        } else if is(opt, "ack") || is(opt, "getack") {
            // Acks arrive on replica links (handled by the primary driver);
            // from an ordinary client they are ignored, without a reply.
            return Reply::None;
        } else if is(opt, "rdb-only") {
            conf.rdb_only = value.as_ref() == b"1";
        } else if is(opt, "rdb-filter-only") {
            // Include filters: none means an empty RDB; "functions" the
            // libraries alone.
            let mut functions = false;
            for word in String::from_utf8_lossy(value).split_whitespace() {
                if word.eq_ignore_ascii_case("functions") {
                    functions = true;
                } else {
                    return Reply::error(format!("ERR Unsupported rdb-filter-only option: {word}"));
                }
            }
            conf.rdb_filter_functions = Some(functions);
        } else {
            return Reply::error(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    Reply::ok()
}

fn replicaof(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if let Some(refused) = crate::failover::replicaof_refused(ctx.data) {
        return refused;
    }
    if is(&argv[1], "no") && is(&argv[2], "one") {
        if ctx.data.replica_of {
            promote(ctx.server, ctx.data);
            tracing::info!(
                "MASTER MODE enabled (user request from 'id={} addr={}')",
                ctx.client.id,
                ctx.client.handle.addr
            );
        }
        return Reply::ok();
    }
    let port = tri!(args::int(&argv[2]));
    let Ok(port) = u16::try_from(port) else {
        return Reply::error("ERR Invalid master port");
    };
    let host = String::from_utf8_lossy(&argv[1]).into_owned();
    let same = ctx.server.link.lock().master.as_ref() == Some(&(host.clone(), port));
    if same && ctx.data.replica_of {
        return Reply::Simple("OK Already connected to specified master".into());
    }
    demote(ctx.server, ctx.data, host.clone(), port);
    tracing::info!(
        "REPLICAOF {host}:{port} enabled (user request from 'id={} addr={}')",
        ctx.client.id,
        ctx.client.handle.addr
    );
    Reply::ok()
}

/// Makes this replica a primary: REPLICAOF NO ONE, a FAILOVER target that
/// accepts `PSYNC ... FAILOVER`, and a FAILOVER aborted after its demotion.
pub(crate) fn promote(server: &crate::state::Server, data: &mut crate::state::Data) {
    crate::replica::stop(server);
    let repl = &mut data.repl;
    // Promotion keeps the data and the backlog; the current id moves
    // into the lineage and a new one starts at the same offset.
    repl.shift_id(crate::exec::new_replid());
    // Sub-replicas reconnect at once, PSYNC, and learn the new id
    // from `+CONTINUE <id>`.
    disconnect_replicas(server);
    repl.proxy_only = false;
    data.replica_of = false;
    server.config.write().replicaof = None;
}

/// Makes this node a replica of `host:port`: REPLICAOF host port, and a
/// FAILOVER handing its role over.
pub(crate) fn demote(
    server: &crate::state::Server,
    data: &mut crate::state::Data,
    host: String,
    port: u16,
) {
    if !data.replica_of {
        crate::blocking::unblock_all_for_demotion(server, data);
    }
    data.replica_of = true;
    // A demoted primary that produced a stream first tries PSYNC with its
    // own id and offset, as Redis does.
    if data.repl.backlog.is_some() {
        data.repl.cached_master = true;
    }
    data.repl.proxy_only = true;
    server.config.write().replicaof = Some((host.clone(), port));
    crate::replica::start(server, host, port);
}

fn role(ctx: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    if ctx.data.replica_of {
        let link = ctx.server.link.lock().clone();
        let (host, port) = link.master.unwrap_or_default();
        return Reply::Array(vec![
            Reply::bulk_from(b"slave"),
            Reply::bulk_from(host.as_bytes()),
            Reply::Int(i64::from(port)),
            Reply::bulk_from(link.state.as_bytes()),
            Reply::Int(ctx.data.repl.offset as i64),
        ]);
    }
    let replicas: Vec<Reply> = ctx
        .server
        .replicas
        .lock()
        .values()
        .map(|r| {
            Reply::Array(vec![
                Reply::bulk_from(r.ip.as_bytes()),
                Reply::bulk_from(r.port.to_string().as_bytes()),
                Reply::bulk_from(r.ack_offset.to_string().as_bytes()),
            ])
        })
        .collect();
    Reply::Array(vec![
        Reply::bulk_from(b"master"),
        Reply::Int(ctx.data.repl.offset as i64),
        Reply::Array(replicas),
    ])
}

/// Replicas whose acknowledged offset reached `offset`.
pub fn acked(server: &crate::state::Server, offset: u64) -> usize {
    server
        .replicas
        .lock()
        .values()
        .filter(|r| r.state == "online" && r.ack_offset >= offset)
        .count()
}

fn wait(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let wanted = tri!(args::int(&argv[1]));
    let timeout = tri!(args::int(&argv[2]));
    if timeout < 0 {
        return Reply::error("ERR timeout is negative");
    }
    let offset = ctx.data.repl.offset;
    let have = acked(ctx.server, offset);
    if wanted <= 0 || have >= wanted as usize || ctx.client.multi.is_some() {
        return Reply::Int(have as i64);
    }
    // Ask every replica for an ack now, then wait for enough of them. Not
    // while a FAILOVER waits for a replica to match our offset, nor while
    // clients are paused (the stream stays still), as Redis.
    if !ctx.data.failover.is_active() && ctx.data.expiry_paused_until_ms <= ctx.now_ms {
        ctx.data.repl.feed_raw(&[b"REPLCONF", b"GETACK", b"*"]);
    }
    let deadline = if timeout == 0 {
        0
    } else {
        ctx.now_ms + timeout as u64
    };
    ctx.client.wait = Some((offset, wanted as usize, deadline));
    Reply::None
}

/// Closes every replica link (promotion: they come back with PSYNC).
pub(crate) fn disconnect_replicas(server: &crate::state::Server) {
    for client in server.clients.lock().iter() {
        if client.info.lock().kind == crate::client::ClientKind::Replica {
            client.kill();
        }
    }
    // Streaming senders wait on the feed, not on their kill events: wake
    // them so each sees its kill now and closes its socket at once.
    server.repl_notify.notify_waiters();
}
