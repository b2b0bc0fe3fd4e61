//! Executing one command: the write path.
//!
//! [`execute`] runs under the data lock. It resolves the command in the table,
//! checks arity, authentication and the ACL user's permissions (one branch
//! for a user who may run anything), runs the handler, updates statistics and
//! the slow log, feeds MONITOR, and appends the command's replication form to
//! the [`ReplFeed`]. Because all of that happens under one guard, the order of
//! writes in the feed is exactly the order in which they changed the keyspace.
//!
//! Propagation rules (Redis's): a command is propagated when it changed the
//! dataset (the keyspace's dirty counter moved); keys that expired while it ran
//! are propagated first as `DEL`; a handler whose effect is not deterministic
//! from its arguments replaces its own form with [`ExecCtx::propagate_as`].

use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use tandem_storage::keyspace::ExpireMode;
use tandem_storage::Db;

use crate::client::{ClientState, LastCommand};
use crate::command::{flags, lookup_subcommand, table, CommandSpec};
use crate::reply::Reply;
use crate::state::{unix_us, Data, Server, SlowlogEntry};

/// The replication stream as commands are applied: the write order, encoded.
///
/// The feed encodes only when `enabled` (a backlog exists, as in Redis: from
/// the first replica on). Each command is encoded into `buf` and appended to
/// the backlog; without a backlog (unit tests) `buf` keeps the bytes. `offset`
/// counts every byte ever fed (`master_repl_offset`); `lineage` holds the
/// current replication id and the past ones.
///
/// Every change of the lineage goes through [`ReplFeed::shift_id`],
/// [`ReplFeed::restart_history`] or [`ReplFeed::set_lineage`], so a
/// file-backed ring's record of its history stays in step. Before each
/// append the ring grows if it would overwrite a position a connected
/// replica still needs (`pins`); senders read the ring as zero-copy spans
/// (see `tandem_replication::backlog`).
#[derive(Debug)]
pub struct ReplFeed {
    pub enabled: bool,
    pub selected_db: Option<usize>,
    pub buf: BytesMut,
    pub offset: u64,
    pub backlog: Option<tandem_replication::backlog::Backlog>,
    pub lineage: tandem_replication::lineage::Lineage,
    /// A replica never produces stream bytes of its own: it proxies its
    /// primary's bytes ([`ReplFeed::append_proxied`]).
    pub proxy_only: bool,
    /// The id and offset describe a primary's history this data follows (a
    /// sync happened, or the RDB said so): a replica may PSYNC with them.
    pub cached_master: bool,
    /// `repl-backlog-file`: the backlog is mapped from this file, and the
    /// lineage is kept beside it (see [`ReplFeed::lineage_file`]).
    pub backlog_file: Option<std::path::PathBuf>,
    /// On a replica: the database its primary's stream last selected, as
    /// applied. A resumed stream (PSYNC, a restart from the RDB's
    /// `repl-stream-db`) goes on in it without a new SELECT.
    pub master_db: usize,
    /// Stream positions connected replicas still need, by replica client id:
    /// a full sync's snapshot offset until its stream starts, then what its
    /// sender has sent. The ring grows rather than overwrite them (Redis 7
    /// keeps such bytes in its shared replication buffer), up to
    /// `pin_limit` bytes behind the end.
    pub pins: std::collections::HashMap<u64, u64>,
    /// `client-output-buffer-limit replica` hard bytes (0 = no limit): a
    /// replica further behind is cut off anyway, so the ring never grows
    /// past it for one.
    pub pin_limit: u64,
    /// `repl-backlog-size`: what the ring returns to once no replica needs
    /// more.
    pub configured_size: usize,
    /// The append-only file, when `appendonly` is on: it records every
    /// call's operations, whether or not a replica listens.
    pub aof: Option<Box<crate::aof::AofLog>>,
}

impl Default for ReplFeed {
    fn default() -> Self {
        ReplFeed {
            enabled: false,
            selected_db: None,
            buf: BytesMut::new(),
            offset: 0,
            backlog: None,
            proxy_only: false,
            cached_master: false,
            backlog_file: None,
            master_db: 0,
            pins: std::collections::HashMap::new(),
            pin_limit: 256 << 20,
            configured_size: 1 << 20,
            aof: None,
            lineage: tandem_replication::lineage::Lineage::new(
                new_replid(),
                tandem_replication::ReplOffset(0),
            ),
        }
    }
}

/// A fresh random replication id.
pub fn new_replid() -> tandem_replication::ReplId {
    let mut random = [0u8; 20];
    for b in &mut random {
        *b = fastrand::u8(..);
    }
    tandem_replication::ReplId::from_random(random)
}

impl ReplFeed {
    /// Whether a call's operations are wanted: by replicas (not for what
    /// the primary's link applies, which is proxied verbatim) or by the AOF.
    #[inline]
    pub fn records(&self, from_primary: bool) -> bool {
        (self.enabled && !from_primary) || self.aof.is_some()
    }

    /// Appends the operations of one call: a lone operation as it is, several
    /// wrapped in MULTI/EXEC so a replica applies them atomically.
    pub fn feed_call(&mut self, ops: &[Op]) {
        if let Some(aof) = &mut self.aof {
            aof.record(ops);
        }
        if !self.enabled || self.proxy_only || ops.is_empty() {
            return;
        }
        let wrap = ops.len() > 1;
        if wrap {
            // MULTI takes the first operation's database, as Redis's does, so
            // a SELECT goes before it rather than inside the transaction.
            self.feed(ops[0].0, &[b"MULTI"]);
        }
        for (db, argv) in ops {
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
            self.feed(*db, &args);
        }
        if wrap {
            self.feed_raw(&[b"EXEC"]);
        }
    }

    /// Appends a command that belongs to no database (MULTI, EXEC, ping,
    /// REPLCONF GETACK).
    pub fn feed_raw(&mut self, argv: &[&[u8]]) {
        if !self.enabled || self.proxy_only {
            return;
        }
        let before = self.buf.len();
        encode_multibulk(&mut self.buf, argv);
        self.offset += (self.buf.len() - before) as u64;
        self.flush_to_backlog();
    }

    /// A replica's copy of its primary's stream: appended as received, so
    /// offsets are equal down a chain.
    pub fn append_proxied(&mut self, bytes: &[u8]) {
        self.make_room(bytes.len());
        if let Some(backlog) = &mut self.backlog {
            backlog.append(bytes);
        }
        self.offset += bytes.len() as u64;
    }

    fn flush_to_backlog(&mut self) {
        self.make_room(self.buf.len());
        if let Some(backlog) = &mut self.backlog {
            backlog.append(&self.buf);
            self.buf.clear();
        }
    }

    /// Grows the ring (doubling) when appending `incoming` bytes would
    /// overwrite a position a connected replica still needs, as long as that
    /// replica is within `pin_limit`.
    fn make_room(&mut self, incoming: usize) {
        let Some(backlog) = &mut self.backlog else {
            return;
        };
        let start = backlog.start_offset().0;
        let Some(oldest) = self.pins.values().copied().filter(|&p| p >= start).min() else {
            return;
        };
        let end_after = backlog.end_offset().0 + incoming as u64;
        let needed = end_after - oldest;
        if needed <= backlog.size() as u64 || (self.pin_limit > 0 && needed > self.pin_limit) {
            return;
        }
        let Ok(new_size) = usize::try_from(needed.next_power_of_two()) else {
            return;
        };
        let old_size = backlog.size();
        match backlog.resize(new_size) {
            Ok(()) => tracing::info!(
                "Replication backlog grown from {old_size} to {new_size} bytes: a replica still needs offset {oldest}"
            ),
            Err(e) => tracing::warn!("Could not grow the replication backlog: {e}"),
        }
    }

    /// Returns a ring grown by `make_room` to `repl-backlog-size`
    /// once no connected replica needs the extra bytes (the cron's job).
    pub fn shrink_if_unneeded(&mut self) {
        let configured = self.configured_size.max(16 * 1024);
        let Some(backlog) = &mut self.backlog else {
            return;
        };
        if backlog.size() <= configured {
            return;
        }
        let end = backlog.end_offset().0;
        let behind = self
            .pins
            .values()
            .map(|&p| end.saturating_sub(p))
            .max()
            .unwrap_or(0);
        if behind <= configured as u64 {
            let old_size = backlog.size();
            match backlog.resize(configured) {
                Ok(()) => tracing::info!(
                    "Replication backlog returned from {old_size} to {configured} bytes"
                ),
                Err(e) => tracing::warn!("Could not shrink the replication backlog: {e}"),
            }
        }
    }

    /// Creates the backlog if there is none (the first replica), with a new
    /// replication id as Redis does. Returns true when it was created.
    pub fn ensure_backlog(&mut self, size: usize) -> bool {
        if self.backlog.is_some() {
            return false;
        }
        let size = size.max(16 * 1024);
        let file_backed = self.backlog_file.as_ref().and_then(|path| {
            tandem_replication::backlog::Backlog::file_backed(path, size)
                .map_err(|e| {
                    tracing::warn!("Could not map the backlog file, using memory instead: {e}")
                })
                .ok()
                .map(|(backlog, _)| backlog)
        });
        let Some(mut backlog) =
            file_backed.or_else(|| tandem_replication::backlog::Backlog::new(size).ok())
        else {
            return false;
        };
        let at = tandem_replication::ReplOffset(self.offset);
        backlog.reset(at);
        self.backlog = Some(backlog);
        self.enabled = true;
        self.selected_db = None;
        // A primary starts a new history with its first backlog, as Redis
        // does; a replica keeps its primary's id (it proxies that stream).
        if !self.proxy_only {
            self.restart_history(new_replid(), at);
        } else {
            self.lineage_changed();
        }
        true
    }

    /// Promotion (and a replica's `+CONTINUE <new id>`): the current id moves
    /// into the lineage, ending at the current offset, and `new_id` starts
    /// there.
    pub fn shift_id(&mut self, new_id: tandem_replication::ReplId) {
        let at = tandem_replication::ReplOffset(self.offset);
        self.lineage.promote(new_id, at);
        self.lineage_changed();
    }

    /// An unrelated history from `at` on (a new backlog, a full sync, the
    /// backlog TTL): every past id is forgotten.
    pub fn restart_history(
        &mut self,
        new_id: tandem_replication::ReplId,
        at: tandem_replication::ReplOffset,
    ) {
        self.lineage.restart(new_id, at);
        self.lineage_changed();
    }

    /// Replaces the whole lineage (one learned from a primary's RDB).
    pub fn set_lineage(&mut self, lineage: tandem_replication::lineage::Lineage) {
        self.lineage = lineage;
        self.lineage_changed();
    }

    /// Where a file-backed backlog keeps its lineage: beside the ring, so a
    /// restart knows which ids the ring's bytes continue.
    pub fn lineage_file(backlog_file: &std::path::Path) -> std::path::PathBuf {
        let mut name = backlog_file.as_os_str().to_owned();
        name.push(".lineage");
        std::path::PathBuf::from(name)
    }

    /// Keeps a file-backed backlog's record of its history in step with the
    /// lineage: the ring's header names the current id, and the lineage file
    /// (`<id> <lineage aux text>`) says which past ids the bytes continue.
    /// Written atomically (temporary file, fsync, rename); a failure is
    /// logged, and the next start then distrusts the ring.
    pub fn lineage_changed(&mut self) {
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        let Some(path) = backlog.path().map(Self::lineage_file) else {
            return;
        };
        backlog.set_replid(Some(self.lineage.current()));
        let text = format!("{} {}\n", self.lineage.current(), self.lineage.to_aux());
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let written = (|| -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            tracing::warn!("Could not write the lineage file {}: {e}", path.display());
        }
    }

    /// Appends one command in `db`, preceded by SELECT when the stream's
    /// database differs.
    pub fn feed(&mut self, db: usize, argv: &[&[u8]]) {
        if !self.enabled {
            return;
        }
        let before = self.buf.len();
        if self.selected_db != Some(db) {
            let db_text = db.to_string();
            encode_multibulk(&mut self.buf, &[b"SELECT", db_text.as_bytes()]);
            self.selected_db = Some(db);
        }
        encode_multibulk(&mut self.buf, argv);
        self.offset += (self.buf.len() - before) as u64;
        self.flush_to_backlog();
    }
}

/// Encodes `argv` as a RESP multibulk request.
pub fn encode_multibulk(out: &mut BytesMut, argv: &[&[u8]]) {
    out.put_u8(b'*');
    out.extend_from_slice(argv.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in argv {
        out.put_u8(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// What a handler sees.
#[derive(Debug)]
pub struct ExecCtx<'a> {
    pub server: &'a Server,
    pub data: &'a mut Data,
    pub client: &'a mut ClientState,
    /// The time of this command, in Unix ms (one value for the whole command).
    pub now_ms: u64,
    pub spec: &'static CommandSpec,
    rewritten: Option<Vec<Vec<Bytes>>>,
    /// Set by a blocking command that found nothing to serve (see [`ExecCtx::block`]).
    pub(crate) blocked: Option<BlockRequest>,
    /// The replication operations of the current call (several inside EXEC).
    pub(crate) ops: &'a mut Vec<Op>,
    /// Propagate even though the dataset did not change (PUBLISH).
    forced: bool,
    /// False inside MULTI/EXEC and when serving an already-blocked client's retry
    /// after its timeout: blocking commands then answer at once.
    pub may_block: bool,
}

/// What a blocked command waits for.
#[derive(Debug, Clone)]
pub struct BlockRequest {
    /// Keys in the client's database; any write that makes one ready retries the command.
    pub keys: Vec<Bytes>,
    /// Absolute Unix ms deadline; `None` waits forever.
    pub deadline_ms: Option<u64>,
    /// The reply given when the deadline passes.
    pub timeout_reply: Reply,
    /// The command to re-run when woken, if not the one that blocked
    /// (XREAD stores `$` as the ID it stood for).
    pub argv: Option<Vec<Bytes>>,
}

impl ExecCtx<'_> {
    /// The client's selected database.
    pub fn db(&mut self) -> &mut Db {
        self.data.keyspace.db(self.client.db)
    }

    /// Replaces this command's replication form; call several times to emit
    /// several commands, or with nothing to suppress it ([`ExecCtx::propagate_none`]).
    pub fn propagate_as(&mut self, argv: Vec<Bytes>) {
        self.rewritten.get_or_insert_with(Vec::new).push(argv);
    }

    /// Propagates this command even though it changed no key (PUBLISH).
    pub fn force_propagation(&mut self) {
        self.forced = true;
    }

    /// Propagates nothing for this command even if it changed the dataset.
    pub fn propagate_none(&mut self) {
        self.rewritten.get_or_insert_with(Vec::new);
    }

    /// The encoding thresholds currently configured.
    pub fn limits(&self) -> tandem_storage::types::Limits {
        self.server.config.read().limits()
    }

    /// Tells clients blocked on `key` (in the client's database) that it may now
    /// hold data for them: list pushes and sorted-set adds call this.
    pub fn signal_ready(&mut self, key: &Bytes) {
        // The request's own bytes, shared rather than copied: a signal
        // lives only until the command's end (`execute` serves them).
        self.data.ready_keys.push((self.client.db, key.clone()));
    }

    /// Called by a blocking command that has nothing to serve now: the client
    /// waits until one of `keys` is signalled ready or `timeout_ms` passes
    /// (0 = forever), then the command runs again. Returns the reply to give
    /// when blocking is not allowed here (MULTI, scripts): the caller passes the
    /// "nothing" reply (e.g. a null array) and returns what this returns.
    pub fn block(&mut self, keys: Vec<Bytes>, timeout_ms: u64, nothing: Reply) -> Reply {
        if !self.may_block {
            return nothing;
        }
        self.blocked = Some(BlockRequest {
            keys,
            deadline_ms: (timeout_ms > 0).then(|| self.now_ms.saturating_add(timeout_ms)),
            timeout_reply: nothing,
            argv: None,
        });
        Reply::None
    }

    /// [`ExecCtx::block`], re-running `argv` instead of this command when
    /// woken.
    pub fn block_as(
        &mut self,
        argv: Vec<Bytes>,
        keys: Vec<Bytes>,
        timeout_ms: u64,
        nothing: Reply,
    ) -> Reply {
        let reply = self.block(keys, timeout_ms, nothing);
        if let Some(request) = &mut self.blocked {
            request.argv = Some(argv);
        }
        reply
    }

    /// Counts a keyspace hit or miss (INFO stats).
    pub fn count_lookup(&mut self, hit: bool) {
        if hit {
            self.data.keyspace_hits += 1;
        } else {
            self.data.keyspace_misses += 1;
        }
    }
}

/// Formats one MONITOR line.
fn monitor_line(now_us: u64, db: usize, addr: &str, argv: &[Bytes]) -> Bytes {
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now_us / 1_000_000,
        now_us % 1_000_000,
        db,
        addr
    );
    for a in argv {
        line.push_str(" \"");
        for &b in a.iter() {
            match b {
                b'\\' => line.push_str("\\\\"),
                b'"' => line.push_str("\\\""),
                b'\n' => line.push_str("\\n"),
                b'\r' => line.push_str("\\r"),
                b'\t' => line.push_str("\\t"),
                7 => line.push_str("\\a"),
                8 => line.push_str("\\b"),
                0x20..=0x7e => line.push(char::from(b)),
                _ => line.push_str(&format!("\\x{b:02x}")),
            }
        }
        line.push('"');
    }
    line.push_str("\r\n");
    Bytes::from(line)
}

fn feed_monitors(server: &Server, client: &ClientState, argv: &[Bytes]) {
    let addr = if client.in_script {
        "lua"
    } else {
        client.handle.addr.as_str()
    };
    let line = monitor_line(unix_us(), client.db, addr, argv);
    let mut monitors = server.monitors.lock();
    monitors.retain(|m| m.send(line.clone()));
    server
        .monitor_count
        .store(monitors.len(), std::sync::atomic::Ordering::Relaxed);
}

/// Shows a script-running command (EVAL, EVALSHA, FCALL and their _RO forms,
/// which skip the usual MONITOR feed) before the commands its script runs,
/// as Redis does.
pub fn feed_monitors_explicitly(server: &Server, client: &ClientState, argv: &[Bytes]) {
    if server
        .monitor_count
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
    {
        feed_monitors(server, client, argv);
    }
}

/// Resolves `argv` to a spec (descending into subcommands), or the error reply.
pub fn resolve(argv: &[Bytes]) -> Result<&'static CommandSpec, Reply> {
    let name = &argv[0];
    let Some(spec) = table().lookup(name) else {
        return Err(Reply::unknown_command(name, &argv[1..]));
    };
    if spec.subcommands.is_empty() {
        if !spec.arity_ok(argv.len()) {
            return Err(Reply::wrong_arity(spec.name));
        }
        return Ok(spec);
    }
    if argv.len() < 2 {
        // A container whose own arity allows a bare call (COMMAND) runs its handler.
        if spec.arity_ok(argv.len()) {
            return Ok(spec);
        }
        return Err(Reply::wrong_arity(spec.name));
    }
    match lookup_subcommand(spec, &argv[1]) {
        Some(sub) if sub.arity_ok(argv.len()) => Ok(sub),
        Some(sub) => Err(Reply::error(format!(
            "ERR wrong number of arguments for '{}|{}' command",
            spec.name, sub.name
        ))),
        None => Err(Reply::unknown_subcommand(
            &argv[1],
            &spec.name.to_uppercase(),
        )),
    }
}

/// Runs one command for `client` as a whole call: the command itself, then
/// the propagation of everything it changed (wrapped in MULTI/EXEC when it
/// produced several operations, as Redis 7.0 does), then serving clients
/// blocked on keys it made ready. The reply is returned for the caller to encode.
pub fn execute(
    server: &Server,
    data: &mut Data,
    client: &mut ClientState,
    argv: &[Bytes],
    now_ms: u64,
) -> Reply {
    let mut ops = Vec::new();
    // Redis's processCommand: evict before every command while a limit is
    // set; `run_command` refuses a `denyoom` one if that could not help. A
    // primary's stream is never refused.
    data.tracking.set_current(client.id);
    let oom = data.maxmemory.limit != 0
        && !client.is_master
        && crate::maxmemory::perform_evictions(data, now_ms) == crate::maxmemory::Evicted::Fail;
    data.maxmemory.oom = oom;
    data.maxmemory.check_pending = oom;
    let reply = run_command(server, data, client, argv, now_ms, true, &mut ops);
    feed_expired_dels(data);
    data.repl.feed_call(&ops);
    if !data.ready_keys.is_empty() {
        crate::blocking::serve_ready(server, data, now_ms);
    }
    if !data.tracking.is_idle() {
        crate::tracking::end_of_call(server, data, Some(client));
    }
    data.tracking.set_current(0);
    reply
}

/// One replicated operation: (database, argv).
pub type Op = (usize, Vec<Bytes>);

/// Starts fetching the first key of each command of a batch (a pipeline, a
/// stretch of the replication stream) in database `db`, so that the batch's
/// cache misses overlap instead of stalling each command in turn. Only a
/// hint (`Db::prefetch`): nothing changes, and a wrong guess costs a probe.
pub fn prefetch_first_keys<'a>(data: &Data, db: usize, batch: impl Iterator<Item = &'a [Bytes]>) {
    let db = data.keyspace.db_ref(db);
    for key in batch.filter_map(|argv| argv.get(1)) {
        db.prefetch(key);
    }
}

/// Runs one command without propagating: its replication operations are
/// appended to `ops`. MULTI queueing, authentication and arity are checked here.
/// An error reply is counted in the error stats here, once, where it arises
/// (a command inside EXEC or a script counts as it replies).
pub fn run_command(
    server: &Server,
    data: &mut Data,
    client: &mut ClientState,
    argv: &[Bytes],
    now_ms: u64,
    may_block: bool,
    ops: &mut Vec<Op>,
) -> Reply {
    let previous = data.tracking.enter(client.id);
    let reply = run_command_uncounted(server, data, client, argv, now_ms, may_block, ops);
    if let Reply::Error(text) = &reply {
        if !std::mem::take(&mut client.error_already_counted) {
            count_error(server, data, text);
        }
    }
    if data.notify.flags != 0 {
        crate::notify::publish_pending(server, data, Some(client));
    }
    if data.tracking.leave(previous) && !data.tracking.is_idle() {
        data.tracking.end_command(client, argv);
        crate::tracking::flush(server, data, Some(client));
    }
    reply
}

/// Counts one error reply: `total_error_replies` and the `errorstat_<CODE>`
/// of INFO errorstats, whose code is the text's first word (within 32 bytes,
/// else `ERR`), as Redis's afterErrorReply takes it.
pub fn count_error(server: &Server, data: &mut Data, text: &str) {
    server
        .stats
        .total_error_replies
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let head = &text.as_bytes()[..text.len().min(32)];
    let code = match head.iter().position(|&b| b == b' ') {
        Some(end) => &text[..end],
        None => "ERR",
    };
    match data.error_stats.get_mut(code) {
        Some(n) => *n += 1,
        None => {
            data.error_stats.insert(code.to_string(), 1);
        }
    }
}

fn run_command_uncounted(
    server: &Server,
    data: &mut Data,
    client: &mut ClientState,
    argv: &[Bytes],
    now_ms: u64,
    may_block: bool,
    ops: &mut Vec<Op>,
) -> Reply {
    // Only the call `execute` checked: not a transaction's or a script's
    // inner commands.
    let check_oom = std::mem::take(&mut data.maxmemory.check_pending);
    let cached = client
        .last_command
        .filter(|last| last.is(&argv[0]) && last.spec.arity_ok(argv.len()));
    let (spec, stat_id) = match cached {
        Some(last) => (last.spec, last.stat_id),
        None => match resolve(argv) {
            Ok(spec) => {
                let stat_id = table().stat_id(spec);
                // Only a plain command: a container's subcommand (whose name
                // is not argv[0]) depends on argv[1].
                if spec.subcommands.is_empty()
                    && spec.name.as_bytes().eq_ignore_ascii_case(&argv[0])
                {
                    client.last_command = LastCommand::new(&argv[0], spec, stat_id);
                }
                (spec, stat_id)
            }
            Err(reply) => {
                if let Some(spec) = table().lookup(&argv[0]) {
                    data.cmdstats[table().stat_id(spec)].rejected_calls += 1;
                }
                crate::multi::flag_error(client);
                return reply;
            }
        },
    };
    client.last_stat_id = Some(stat_id);
    if !client.authenticated && !spec.has(flags::NO_AUTH) && server.auth_required() {
        data.cmdstats[stat_id].rejected_calls += 1;
        crate::multi::flag_error(client);
        return Reply::error("NOAUTH Authentication required.");
    }
    // A user with every permission (`+@all ~* &*`) costs this one branch.
    if !client.user.is_open() {
        if let Err(denied) = client.user.check(spec, stat_id, argv) {
            return refuse(server, data, client, denied, stat_id, argv);
        }
    }
    if client.proto == crate::reply::Proto::Resp2
        && client.subscribed()
        && !crate::commands::pubsub::allowed_while_subscribed(&argv[0])
    {
        return Reply::error(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            table().flat[stat_id].0
        ));
    }
    if check_oom && refused_on_oom(client, spec) {
        data.cmdstats[stat_id].rejected_calls += 1;
        crate::multi::flag_error(client);
        if client.multi.is_some() && spec.name == "exec" {
            // Redis's execCommandAbort: the transaction is discarded.
            crate::commands::transactions::abort(data, client);
            return Reply::error(format!(
                "EXECABORT Transaction discarded because of: {}",
                crate::maxmemory::OOM_ERROR
            ));
        }
        return Reply::error(crate::maxmemory::OOM_ERROR);
    }
    if let Some(reply) = crate::multi::maybe_queue(client, spec, argv) {
        return reply;
    }
    if server
        .monitor_count
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0
        && !spec.has(flags::SKIP_MONITOR)
        && !spec.has(flags::ADMIN)
    {
        match crate::acl::redact(spec, argv) {
            Some(redacted) => feed_monitors(server, client, &redacted),
            None => feed_monitors(server, client, argv),
        }
    }

    if data.replica_of
        && !client.is_master
        && spec.is_write()
        && server
            .config
            .read()
            .flag("replica-read-only")
            .unwrap_or(true)
    {
        data.cmdstats[stat_id].rejected_calls += 1;
        crate::multi::flag_error(client);
        return Reply::error("READONLY You can't write against a read only replica.");
    }
    if data.replica_of
        && !data.serve_stale_data
        && !client.is_master
        && !spec.has(flags::STALE)
        && !server.link.lock().up
    {
        data.cmdstats[stat_id].rejected_calls += 1;
        crate::multi::flag_error(client);
        return Reply::error(
            "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
        );
    }
    if data.min_replicas_to_write > 0
        && !data.replica_of
        && !client.is_master
        && spec.is_write()
        && good_replicas(server, data.min_replicas_max_lag) < data.min_replicas_to_write
    {
        data.cmdstats[stat_id].rejected_calls += 1;
        crate::multi::flag_error(client);
        return Reply::error("NOREPLICAS Not enough good replicas to write.");
    }
    data.keyspace.set_expire_mode(if client.is_master {
        ExpireMode::Ignore
    } else if data.replica_of || data.failover.is_active() || data.expiry_paused_until_ms > now_ms {
        // A FAILOVER or a CLIENT PAUSE keeps the dataset still.
        ExpireMode::HideOnly
    } else {
        ExpireMode::Delete
    });
    let dirty_before = data.keyspace.dirty();
    // One clock reading per command: a command starts when the previous one
    // of the same batch ended.
    let started = data.clock.take().unwrap_or_else(Instant::now);
    let mut ctx = ExecCtx {
        server,
        data,
        client,
        now_ms,
        spec,
        rewritten: None,
        blocked: None,
        may_block,
        ops,
        forced: false,
    };
    let reply = (spec.handler)(&mut ctx, argv);
    let rewritten = ctx.rewritten.take();
    let blocked = ctx.blocked.take();
    let forced = ctx.forced;
    let ended = Instant::now();
    data.clock = Some(ended);
    let elapsed_us = ended.duration_since(started).as_micros() as u64;

    let db = client.db;
    collect_expired(data);
    if data.notify.flags & crate::notify::KEY_MISS != 0 && !spec.is_write() && !reply.is_error() {
        crate::notify::raise_key_misses(data, spec, argv, db, now_ms);
    }
    // A deleted or replaced stream wakes its XREADGROUP waiters (with an
    // error), as Redis signals such keys.
    for (gone_db, key) in data.keyspace.take_gone_streams() {
        if !data.blocked.is_empty() {
            data.ready_keys
                .push((gone_db, Bytes::copy_from_slice(&key)));
        }
    }
    let changed = data.keyspace.dirty() != dirty_before;
    // What the primary sent is proxied verbatim by the replica link: a
    // command it applies records nothing of its own, but for the AOF.
    if data.repl.records(client.is_master)
        && (forced || (changed && (spec.is_write() || spec.has(flags::MAY_REPLICATE))))
    {
        match rewritten {
            None => ops.push((db, argv.to_vec())),
            Some(commands) => ops.extend(commands.into_iter().map(|c| (db, c))),
        }
    }
    // Keys the command deleted by expiry were touched as they went (in
    // `collect_expired`, with the stale-key rule); only its own changes here.
    if changed {
        crate::multi::touch_watched(data, spec, argv, db);
    }
    if !data.tracking.is_idle() {
        data.tracking
            .remember(client.id, spec, argv, client.in_script);
    }
    if changed && data.replica_of && !client.is_master {
        remember_own_expires(data, spec, argv, db);
    }
    if let Some(request) = blocked {
        crate::blocking::register(data, client, argv, request);
    }

    let tracking = data.latency_tracking;
    let stat = &mut data.cmdstats[stat_id];
    stat.calls += 1;
    stat.usec += elapsed_us;
    if tracking {
        stat.histogram.record(elapsed_us);
    }
    if reply.is_error() {
        stat.failed_calls += 1;
    }
    data.total_commands += 1;
    // The latency monitor costs one comparison while it is off.
    if data.latency_threshold_ms != 0 {
        crate::commands::latency::monitor_command(data, spec, elapsed_us);
    }
    record_slowlog(data, client, argv, spec, elapsed_us);
    reply
}

/// On a writable replica, notes the keys a local write left with a TTL: the
/// replica's cron expires them (see `Data::replica_own_expires`).
fn remember_own_expires(data: &mut Data, spec: &CommandSpec, argv: &[Bytes], db: usize) {
    for key in spec.keys.keys(argv) {
        let has_ttl = data
            .keyspace
            .db(db)
            .peek(key, 0)
            .is_some_and(|e| e.expire_at().is_some());
        if has_ttl {
            data.replica_own_expires.insert((db, key.clone()));
        }
    }
}

/// Answers a command the client's ACL user may not run: NOPERM (the EXEC
/// form for a queued command refused at EXEC), logged in the ACL log.
#[cold]
fn refuse(
    server: &Server,
    data: &mut Data,
    client: &mut ClientState,
    denied: crate::acl::Denied,
    stat_id: usize,
    argv: &[Bytes],
) -> Reply {
    use crate::acl::Context;
    let context = if client.in_exec || client.multi.is_some() {
        Context::Multi
    } else {
        Context::Toplevel
    };
    crate::acl::log_denied(
        server,
        client,
        data.repl.offset,
        denied,
        context,
        stat_id,
        argv,
        client.in_exec.then_some("exec"),
    );
    if client.in_exec {
        return denied.exec_reply();
    }
    data.cmdstats[stat_id].rejected_calls += 1;
    crate::multi::flag_error(client);
    denied.reply(&table().flat[stat_id].0)
}

/// Whether a command is refused while memory is full (Redis's
/// `processCommand`): a `denyoom` one, an EXEC whose queue holds one, and
/// anything but EXEC, DISCARD, QUIT and RESET inside MULTI (queueing could
/// grow memory without bound).
fn refused_on_oom(client: &ClientState, spec: &CommandSpec) -> bool {
    if spec.has(flags::DENYOOM) {
        return true;
    }
    let Some(queue) = client.multi.as_ref() else {
        return false;
    };
    match spec.name {
        "exec" => queue
            .iter()
            .any(|queued| resolve(queued).is_ok_and(|s| s.has(flags::DENYOOM))),
        "discard" | "quit" | "reset" => false,
        _ => true,
    }
}

/// Replicas that acknowledged within `max_lag` seconds (min-replicas-to-write).
fn good_replicas(server: &Server, max_lag: u64) -> u64 {
    let now = crate::state::unix_ms();
    server
        .replicas
        .lock()
        .values()
        .filter(|r| r.state == "online" && now.saturating_sub(r.ack_time_ms) / 1000 <= max_lag)
        .count() as u64
}

/// Moves keys deleted by expiry during a command into `data.expired_dels`
/// (and marks watchers). Those `DEL`s are
/// propagated each on its own, before the operations of the call that found
/// the keys expired, never inside its MULTI/EXEC (as Redis 7.0).
pub(crate) fn collect_expired(data: &mut Data) {
    let expired = data.keyspace.take_expired();
    for (db_index, key) in expired {
        data.notify
            .raise(crate::notify::EXPIRED, "expired", db_index, &key);
        let key = Bytes::copy_from_slice(&key);
        crate::multi::touch_key_by(data, db_index, &key, false);
        if data.repl.records(false) {
            data.expired_dels
                .push((db_index, vec![Bytes::from_static(b"DEL"), key]));
        }
    }
}

/// Propagates keys deleted by expiry as `DEL`, in the order they expired
/// (the caller publishes their `expired` events).
pub fn propagate_expired(data: &mut Data) {
    collect_expired(data);
    feed_expired_dels(data);
}

/// Propagates the `DEL`s of keys found expired, each on its own.
pub fn feed_expired_dels(data: &mut Data) {
    if data.expired_dels.is_empty() {
        return;
    }
    for op in std::mem::take(&mut data.expired_dels) {
        data.repl.feed_call(std::slice::from_ref(&op));
    }
}

fn record_slowlog(
    data: &mut Data,
    client: &ClientState,
    argv: &[Bytes],
    spec: &CommandSpec,
    elapsed_us: u64,
) {
    let (threshold, max_len) = (data.slowlog_threshold_us, data.slowlog_max_len);
    if threshold < 0 || spec.has(flags::SKIP_SLOWLOG) || elapsed_us < threshold as u64 {
        return;
    }
    let redacted = crate::acl::redact(spec, argv);
    let argv = redacted.as_deref().unwrap_or(argv);
    // Redis keeps at most 32 arguments, each at most 128 bytes.
    let mut args: Vec<Bytes> = argv
        .iter()
        .take(32)
        .map(|a| {
            if a.len() > 128 {
                let mut v = a[..128].to_vec();
                v.extend_from_slice(format!("... ({} more bytes)", a.len() - 128).as_bytes());
                Bytes::from(v)
            } else {
                a.clone()
            }
        })
        .collect();
    if argv.len() > 32 {
        args.truncate(31);
        args.push(Bytes::from(format!(
            "... ({} more arguments)",
            argv.len() - 31
        )));
    }
    let log = &mut data.slowlog;
    let name = client.handle.info.lock().name.clone().unwrap_or_default();
    log.entries.push_front(SlowlogEntry {
        id: log.next_id,
        unix_secs: unix_us() / 1_000_000,
        duration_us: elapsed_us,
        argv: args,
        addr: client.handle.addr.clone(),
        name,
    });
    log.next_id += 1;
    log.entries.truncate(max_len as usize);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_inserts_select_when_db_changes() {
        let mut feed = ReplFeed {
            enabled: true,
            ..ReplFeed::default()
        };
        feed.feed(0, &[b"SET", b"k", b"v"]);
        feed.feed(0, &[b"DEL", b"k"]);
        feed.feed(3, &[b"DEL", b"k"]);
        let expected: &[u8] =
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n\
*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n";
        assert_eq!(&feed.buf[..], expected);
        assert_eq!(feed.offset, expected.len() as u64);
    }

    #[test]
    fn a_wrapped_call_selects_its_database_before_multi() {
        let mut feed = ReplFeed {
            enabled: true,
            ..ReplFeed::default()
        };
        let op = |k: &'static [u8]| (2, vec![Bytes::from_static(b"DEL"), Bytes::from_static(k)]);
        feed.feed_call(&[op(b"a"), op(b"b")]);
        let expected: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*1\r\n$5\r\nMULTI\r\n\
*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n";
        assert_eq!(&feed.buf[..], expected);
    }

    #[test]
    fn disabled_feed_records_nothing() {
        let mut feed = ReplFeed::default();
        feed.feed(0, &[b"SET", b"k", b"v"]);
        assert!(feed.buf.is_empty());
        assert_eq!(feed.offset, 0);
    }

    #[test]
    fn monitor_line_escapes_like_redis() {
        let line = monitor_line(
            1_339_518_083_107_412,
            0,
            "127.0.0.1:60866",
            &[
                Bytes::from_static(b"set"),
                Bytes::from_static(b"a\"b\n\x01"),
            ],
        );
        assert_eq!(
            &line[..],
            b"+1339518083.107412 [0 127.0.0.1:60866] \"set\" \"a\\\"b\\n\\x01\"\r\n"
        );
    }
}
