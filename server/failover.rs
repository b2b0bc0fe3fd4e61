//! FAILOVER: a primary hands its role to one of its replicas without losing
//! an acknowledged write (Redis 7.0's coordinated failover,
//! `FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]`).
//!
//! ```text
//!  no-failover --FAILOVER--> waiting-for-sync --replica acked our offset--> failover-in-progress
//!       ^                      |  (writes paused)   (or timeout + FORCE)     (a replica of the
//!       |                      |                                             target; PSYNC ...
//!       +---- ABORT, timeout --+                                             FAILOVER sent)
//!       +---- +CONTINUE / +FULLRESYNC: done, still a replica ---------------------+
//!       +---- any other reply, ABORT: a primary again ----------------------------+
//! ```
//!
//! 1. The command checks its arguments with Redis's errors in Redis's order,
//!    pauses writes and enters `waiting-for-sync`.
//! 2. Every cron tick ([`cron`]) looks for the target (without `TO`: any
//!    replica) whose acknowledged offset equals `master_repl_offset`. The
//!    replicas acknowledge every second on their own. When the `TIMEOUT`
//!    passes first, the failover is aborted, or with `FORCE` goes ahead.
//! 3. Going ahead, the node becomes a replica of the target exactly as
//!    `REPLICAOF host port` makes it one, and its link sends
//!    `PSYNC <replid> <offset+1> FAILOVER` ([`psync_failover_arg`]).
//! 4. The reply to that PSYNC ends it ([`psync_replied`]): `+CONTINUE` or
//!    `+FULLRESYNC` clears the state and lifts the pause (paused writes then
//!    get `-READONLY`: they were never applied); anything else aborts and the
//!    node is a primary again, as after `REPLICAOF NO ONE`.
//!
//! On the target, [`check_sync`] handles `PSYNC <replid> <offset> FAILOVER`:
//! a replica whose replid matches promotes itself as `REPLICAOF NO ONE` does
//! and then serves the PSYNC as usual, which continues through the lineage.
//!
//! Owns: the failover state ([`Failover`], kept in `Data` so each transition
//! is atomic with the offsets it compares), the write pause it holds
//! (`Pause::failover`, which CLIENT UNPAUSE leaves alone), the FAILOVER
//! command, and the refusals while a failover runs (REPLICAOF, SYNC, PSYNC).
//!
//! Must not touch: sockets and timers (the link driver in `crate::replica`
//! sends the PSYNC and reports its reply here), the keyspace, the backlog and
//! the lineage (the role changes go through the same
//! `commands::replication::{promote, demote}` that REPLICAOF uses).
//!
//! While a failover is active the dataset and the stream stay still, as in
//! Redis: no active expiry, lazy expiry hides keys without deleting them, and
//! no `ping` or `REPLCONF GETACK` enters the stream (the callers ask
//! [`Failover::is_active`]). Otherwise the offset would move and no replica
//! could ever match it. Redis 7.0 sends no GETACK while paused either: a
//! replica answers GETACK with the offset *before* it, which can never equal
//! the offset after it, so it would only delay the match.
//!
//! # Deadlock safety
//! Everything here runs under the data lock (held by the caller, or taken by
//! [`cron`] and [`psync_replied`]); under it, `replicas`, `config`, `link`,
//! `clients` and `pause` are taken one at a time, never across an await.

use bytes::Bytes;
use tracing::{info, warn};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::replication::{demote, promote};
use crate::exec::ExecCtx;
use crate::primary::{ReplicaStatus, Replicas};
use crate::reply::Reply;
use crate::state::{unix_ms, Data, Server};
use crate::tri;

pub const COMMANDS: &[CommandSpec] = &[CommandSpec::new(
    "failover",
    -1,
    ADMIN | NOSCRIPT | STALE,
    KeySpec::NONE,
    failover,
)
.doc(
    "server",
    "6.2.0",
    "Start a coordinated failover between this server and one of its replicas.",
)
.complexity("O(1)")
.acl(&["admin", "slow", "dangerous"])];

/// INFO `master_failover_state`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailoverState {
    #[default]
    NoFailover,
    WaitForSync,
    InProgress,
}

impl FailoverState {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverState::NoFailover => "no-failover",
            FailoverState::WaitForSync => "waiting-for-sync",
            FailoverState::InProgress => "failover-in-progress",
        }
    }
}

/// The failover under way, if any (guarded by the data lock).
#[derive(Debug, Default)]
pub struct Failover {
    state: FailoverState,
    /// `TO host port`, or the replica chosen once one caught up.
    target: Option<(String, u16)>,
    /// Unix ms after which `waiting-for-sync` gives up (or, with FORCE, goes on).
    deadline_ms: Option<u64>,
    force: bool,
    /// The replica link started for `failover-in-progress`: only its PSYNC
    /// carries `FAILOVER`, and only its reply ends the failover.
    link_generation: u64,
}

impl Failover {
    pub fn state(&self) -> FailoverState {
        self.state
    }

    /// A failover is waiting or in progress: writes are paused, the dataset
    /// and the stream stay still, REPLICAOF and SYNC are refused.
    pub fn is_active(&self) -> bool {
        self.state != FailoverState::NoFailover
    }
}

/// Redis's `findReplica`: a replica by its announced (or peer) IP and its
/// listening port.
fn find_replica<'a>(replicas: &'a Replicas, host: &str, port: i64) -> Option<&'a ReplicaStatus> {
    replicas
        .values()
        .find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.port) == port)
}

fn failover(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len() == 2 && is(&argv[1], "abort") {
        if !ctx.data.failover.is_active() {
            return Reply::error("ERR No failover in progress.");
        }
        abort(ctx.server, ctx.data, "Failover manually aborted");
        return Reply::ok();
    }
    let mut timeout_ms = 0i64;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < argv.len() {
        if is(&argv[j], "timeout") && j + 1 < argv.len() && timeout_ms == 0 {
            timeout_ms = tri!(args::int(&argv[j + 1]));
            if timeout_ms <= 0 {
                return Reply::error("ERR FAILOVER timeout must be greater than 0");
            }
            j += 2;
        } else if is(&argv[j], "to") && j + 2 < argv.len() && target.is_none() {
            let port = tri!(args::int(&argv[j + 2]));
            target = Some((String::from_utf8_lossy(&argv[j + 1]).into_owned(), port));
            j += 3;
        } else if is(&argv[j], "force") && !force {
            force = true;
            j += 1;
        } else {
            return Reply::syntax_error();
        }
    }
    if ctx.data.failover.is_active() {
        return Reply::error("ERR FAILOVER already in progress.");
    }
    if ctx.data.replica_of {
        return Reply::error("ERR FAILOVER is not valid when server is a replica.");
    }
    let target = {
        let replicas = ctx.server.replicas.lock();
        if replicas.is_empty() {
            return Reply::error("ERR FAILOVER requires connected replicas.");
        }
        if force && (timeout_ms == 0 || target.is_none()) {
            return Reply::error(
                "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
            );
        }
        match &target {
            Some((host, port)) => match find_replica(&replicas, host, *port) {
                None => return Reply::error("ERR FAILOVER target HOST and PORT is not a replica."),
                Some(r) if r.state != "online" => {
                    return Reply::error("ERR FAILOVER target replica is not online.")
                }
                Some(r) => Some((host.clone(), r.port)),
            },
            None => None,
        }
    };
    match &target {
        Some((host, port)) => info!("FAILOVER requested to {host}:{port}."),
        None => info!("FAILOVER requested to any replica."),
    }
    ctx.data.failover = Failover {
        state: FailoverState::WaitForSync,
        target,
        // The cron compares with the wall clock, not the command's clock.
        deadline_ms: (timeout_ms > 0).then(|| unix_ms().saturating_add(timeout_ms as u64)),
        force,
        link_generation: 0,
    };
    ctx.server.pause.lock().failover = true;
    Reply::ok()
}

/// The periodic step of `waiting-for-sync` (Redis's `updateFailoverStatus`):
/// the timeout, then whether the target, or any replica, has acknowledged
/// every byte of the stream.
pub fn cron(server: &Server) {
    let mut data = server.lock_data();
    if data.failover.state != FailoverState::WaitForSync {
        return;
    }
    if data.failover.deadline_ms.is_some_and(|d| d <= unix_ms()) {
        match data.failover.target.clone() {
            Some((host, port)) if data.failover.force => {
                info!("FAILOVER to {host}:{port} time out exceeded, failing over.");
                fail_over_to(server, &mut data, host, port);
            }
            _ => abort(server, &mut data, "Replica never caught up before timeout"),
        }
        return;
    }
    let offset = data.repl.offset;
    let synced = {
        let replicas = server.replicas.lock();
        match &data.failover.target {
            Some((host, port)) => find_replica(&replicas, host, i64::from(*port))
                .filter(|r| r.ack_offset == offset)
                .map(|_| (host.clone(), *port)),
            None => replicas
                .values()
                .find(|r| r.ack_offset == offset)
                .map(|r| (r.ip.clone(), r.port)),
        }
    };
    if let Some((host, port)) = synced {
        info!("Failover target {host}:{port} is synced, failing over.");
        fail_over_to(server, &mut data, host, port);
    }
}

/// `failover-in-progress`: this node becomes a replica of the target, whose
/// link then sends `PSYNC ... FAILOVER`. The pause stays until its reply.
fn fail_over_to(server: &Server, data: &mut Data, host: String, port: u16) {
    data.failover.state = FailoverState::InProgress;
    data.failover.target = Some((host.clone(), port));
    demote(server, data, host, port);
    // The link task cannot reach its PSYNC before we release the data lock.
    data.failover.link_generation = server.link.lock().generation;
}

/// Ends the failover, whatever its state: a node already demoted is a
/// primary again (Redis's `abortFailover`).
fn abort(server: &Server, data: &mut Data, reason: &str) {
    match &data.failover.target {
        Some((host, port)) => info!("FAILOVER to {host}:{port} aborted: {reason}"),
        None => info!("FAILOVER to any replica aborted: {reason}"),
    }
    if data.failover.state == FailoverState::InProgress {
        promote(server, data);
    }
    clear(server, data);
}

/// Forgets the failover and lifts its write pause.
fn clear(server: &Server, data: &mut Data) {
    data.failover = Failover::default();
    server.pause.lock().failover = false;
    server.unpaused.notify_waiters();
}

/// REPLICAOF while failing over.
pub fn replicaof_refused(data: &Data) -> Option<Reply> {
    data.failover
        .is_active()
        .then(|| Reply::error("ERR REPLICAOF not allowed while failing over."))
}

/// Whether the link of `generation` is the one a failover started: its
/// PSYNC carries the `FAILOVER` argument.
pub fn psync_failover_arg(data: &Data, generation: u64) -> bool {
    data.failover.state == FailoverState::InProgress && data.failover.link_generation == generation
}

/// What became of a `PSYNC ... FAILOVER`.
#[derive(Debug)]
pub enum PsyncOutcome<'a> {
    /// It could not be sent.
    WriteError,
    /// No reply line came (the link failed or timed out).
    NoReply,
    /// The reply line.
    Replied(&'a str),
}

/// The link of `generation` reports on its `PSYNC ... FAILOVER`. Returns
/// false when the failover was aborted: the node is a primary again and the
/// link must end.
pub fn psync_replied(server: &Server, generation: u64, outcome: PsyncOutcome<'_>) -> bool {
    let mut data = server.lock_data();
    if !psync_failover_arg(&data, generation) {
        return true;
    }
    match outcome {
        PsyncOutcome::Replied(line)
            if line.starts_with("+CONTINUE") || line.starts_with("+FULLRESYNC") =>
        {
            clear(server, &mut data);
            true
        }
        PsyncOutcome::WriteError => {
            abort(server, &mut data, "Write error to failover target");
            false
        }
        PsyncOutcome::Replied(_) | PsyncOutcome::NoReply => {
            abort(server, &mut data, "Failover target rejected psync request");
            false
        }
    }
}

/// SYNC and PSYNC, before they are served: `PSYNC <replid> <offset>
/// FAILOVER` promotes a replica whose replid matches (Redis's
/// `syncCommand`), and no one syncs with a node that is failing over.
/// `Some` is the reply that refuses the request.
pub fn check_sync(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Option<Reply> {
    if argv.len() > 3 && is(&argv[0], "psync") && is(&argv[3], "failover") {
        warn!(
            "Failover request received for replid {}.",
            String::from_utf8_lossy(&argv[1])
        );
        if !ctx.data.replica_of {
            return Some(Reply::error(
                "ERR PSYNC FAILOVER can't be sent to a master.",
            ));
        }
        let mine = ctx.data.repl.lineage.current();
        if !argv[1].eq_ignore_ascii_case(mine.as_str().as_bytes()) {
            return Some(Reply::error(
                "ERR PSYNC FAILOVER replid must match my replid.",
            ));
        }
        promote(ctx.server, ctx.data);
        info!(
            "MASTER MODE enabled (failover request from 'id={} addr={}')",
            ctx.client.id, ctx.client.handle.addr
        );
    }
    if ctx.data.failover.is_active() {
        return Some(Reply::error("NOMASTERLINK Can't SYNC while failing over"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::Harness;
    use crate::primary::ReplicaStatus;

    fn err(reply: Reply) -> String {
        match reply {
            Reply::Error(e) => e.into_owned(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn add_replica(h: &Harness, id: u64, port: u16, state: &'static str, ack: u64) {
        h.server.replicas.lock().insert(
            id,
            ReplicaStatus {
                ip: "127.0.0.1".into(),
                port,
                state,
                ack_offset: ack,
                ack_time_ms: 0,
                acked: true,
            },
        );
    }

    #[test]
    fn errors_in_redis_order() {
        let mut h = Harness::new();
        let cases: &[(&[&str], &str)] = &[
            (&["failover", "abort"], "ERR No failover in progress."),
            (&["failover"], "ERR FAILOVER requires connected replicas."),
            (
                &["failover", "force"],
                "ERR FAILOVER requires connected replicas.",
            ),
            (
                &["failover", "timeout", "0"],
                "ERR FAILOVER timeout must be greater than 0",
            ),
            (
                &["failover", "timeout", "-1"],
                "ERR FAILOVER timeout must be greater than 0",
            ),
            (
                &["failover", "timeout", "x"],
                "ERR value is not an integer or out of range",
            ),
            (
                &["failover", "to", "h", "x"],
                "ERR value is not an integer or out of range",
            ),
            (&["failover", "to"], "ERR syntax error"),
            (&["failover", "bogus"], "ERR syntax error"),
            (
                &["failover", "timeout", "1", "timeout", "1"],
                "ERR syntax error",
            ),
            (&["failover", "abort", "timeout", "1"], "ERR syntax error"),
            (&["failover", "force", "force"], "ERR syntax error"),
            (
                &["failover", "to", "a", "1", "to", "b", "2"],
                "ERR syntax error",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err(h.run(args)), *want, "{args:?}");
        }
        add_replica(&h, 100, 7001, "online", 0);
        add_replica(&h, 101, 7002, "wait_bgsave", 0);
        let cases: &[(&[&str], &str)] = &[
            (
                &["failover", "force", "timeout", "10"],
                "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
            ),
            (
                &["failover", "to", "127.0.0.1", "7001", "force"],
                "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
            ),
            (
                &["failover", "to", "127.0.0.1", "1234"],
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ),
            (
                &["failover", "to", "127.0.0.1", "99999999"],
                "ERR FAILOVER target HOST and PORT is not a replica.",
            ),
            (
                &["failover", "to", "127.0.0.1", "7002"],
                "ERR FAILOVER target replica is not online.",
            ),
        ];
        for (args, want) in cases {
            assert_eq!(err(h.run(args)), *want, "{args:?}");
        }
        assert_eq!(h.run(&["failover", "to", "127.0.0.1", "7001"]), Reply::ok());
        assert_eq!(
            err(h.run(&["failover"])),
            "ERR FAILOVER already in progress."
        );
        assert_eq!(
            err(h.run(&["replicaof", "127.0.0.1", "7001"])),
            "ERR REPLICAOF not allowed while failing over."
        );
        assert_eq!(
            err(h.run(&["replicaof", "no", "one"])),
            "ERR REPLICAOF not allowed while failing over."
        );
        assert_eq!(
            err(h.run(&["sync"])),
            "NOMASTERLINK Can't SYNC while failing over"
        );
        assert_eq!(
            err(h.run(&["psync", "x", "1", "failover"])),
            "ERR PSYNC FAILOVER can't be sent to a master."
        );
    }

    #[test]
    fn waits_pauses_writes_and_aborts() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        let offset = h.server.data.lock().repl.offset;
        assert!(offset > 0);
        add_replica(&h, 100, 7001, "online", offset - 1);
        assert_eq!(h.run(&["failover", "timeout", "60000"]), Reply::ok());
        assert!(h.server.pause.lock().failover);
        // CLIENT UNPAUSE lifts only CLIENT PAUSE.
        assert_eq!(h.run(&["client", "unpause"]), Reply::ok());
        assert!(h.server.pause.lock().failover);
        cron(&h.server);
        assert_eq!(
            h.server.data.lock().failover.state(),
            FailoverState::WaitForSync
        );
        assert_eq!(h.run(&["failover", "abort"]), Reply::ok());
        let data = h.server.data.lock();
        assert_eq!(data.failover.state(), FailoverState::NoFailover);
        assert!(!data.replica_of);
        assert!(!h.server.pause.lock().failover);
    }

    #[test]
    fn timeout_without_force_aborts() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        add_replica(&h, 100, 7001, "online", 0);
        assert_eq!(
            h.run(&["failover", "to", "127.0.0.1", "7001", "timeout", "1"]),
            Reply::ok()
        );
        h.server.data.lock().failover.deadline_ms = Some(1);
        cron(&h.server);
        assert_eq!(
            h.server.data.lock().failover.state(),
            FailoverState::NoFailover
        );
        assert!(!h.server.pause.lock().failover);
    }

    #[test]
    fn psync_failover_needs_my_replid() {
        let mut h = Harness::new();
        h.server.data.lock().replica_of = true;
        assert_eq!(
            err(h.run(&[
                "psync",
                "0123456789012345678901234567890123456789",
                "1",
                "FAILOVER"
            ])),
            "ERR PSYNC FAILOVER replid must match my replid."
        );
        assert!(h.server.data.lock().replica_of);
    }
}
