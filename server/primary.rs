//! The primary role: serving replicas (SYNC/PSYNC), as a tokio driver of the
//! sans-IO pieces in `tandem-replication`.
//!
//! A connection that sends SYNC or PSYNC leaves the command loop and runs
//! [`serve_replica`] with its socket. Under the data lock it decides between a
//! partial resync (`+CONTINUE`, then the backlog from the asked offset) and a
//! full one: a fork-free snapshot taken at the current offset, announced with
//! `+FULLRESYNC <id> <offset>`, streamed as RDB (diskless `$EOF:<mark>` when
//! the replica has `capa eof`, else `$<len>` through a file), followed by the
//! stream from that offset. Streaming takes each new stretch of the backlog
//! as a span of its mapping under the lock and writes it to the socket
//! without the lock and without a copy (see `tandem_replication::backlog`). With `$EOF:` nothing
//! follows the end mark until the replica's first `REPLCONF ACK` (a Redis
//! replica reading the mark could otherwise swallow stream bytes).
//!
//! # Deadlock safety
//! Takes the data lock, then the `replicas` registry; never holds either
//! across an await.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tandem_replication::framing::{EofMark, PayloadHeader};
use tandem_replication::psync::{decide, PrimaryState, PsyncDecision, PsyncReply, PsyncRequest};
use tandem_replication::ReplOffset;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{info, warn};

use crate::client::ClientState;
use crate::resp::{parse_request, RequestLimits};
use crate::state::{unix_ms, Server};

/// What a replica asked for.
#[derive(Debug, Clone)]
pub enum SyncRequest {
    Psync { replid: Bytes, offset: Bytes },
    Sync,
}

/// What a replica told us with REPLCONF before syncing.
#[derive(Debug, Clone, Default)]
pub struct ReplicaConf {
    pub listening_port: u16,
    pub ip: Option<String>,
    pub capa_eof: bool,
    pub capa_psync2: bool,
    pub rdb_only: bool,
    /// REPLCONF rdb-filter-only: the RDB holds no keys, and function
    /// libraries only when asked (`true`). `None`: the whole dataset.
    pub rdb_filter_functions: Option<bool>,
}

/// A replica as INFO, ROLE and WAIT see it.
#[derive(Debug, Clone)]
pub struct ReplicaStatus {
    pub ip: String,
    pub port: u16,
    pub state: &'static str,
    pub ack_offset: u64,
    pub ack_time_ms: u64,
    /// At least one REPLCONF ACK arrived.
    pub acked: bool,
}

/// Every connected replica, by client id.
pub type Replicas = BTreeMap<u64, ReplicaStatus>;

/// Most bytes copied out of the backlog per lock hold.
const STREAM_CHUNK: usize = 1 << 20;

fn set_state(server: &Server, id: u64, state: &'static str) {
    if let Some(r) = server.replicas.lock().get_mut(&id) {
        r.state = state;
    }
}

/// Serves one replica until its link ends.
pub async fn serve_replica<S>(
    server: &Arc<Server>,
    stream: &mut S,
    rbuf: &mut BytesMut,
    client: &mut ClientState,
    request: SyncRequest,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conf = client.replica_conf.clone();
    let name = format!(
        "{}:{}",
        conf.ip
            .clone()
            .unwrap_or_else(|| peer_ip(&client.handle.addr)),
        conf.listening_port
    );
    let id = client.id;
    server.replicas.lock().insert(
        id,
        ReplicaStatus {
            ip: conf
                .ip
                .clone()
                .unwrap_or_else(|| peer_ip(&client.handle.addr)),
            port: conf.listening_port,
            state: "wait_bgsave",
            ack_offset: 0,
            ack_time_ms: unix_ms(),
            acked: false,
        },
    );
    client.handle.info.lock().kind = crate::client::ClientKind::Replica;
    // CLIENT KILL and a promotion (which drops sub-replicas so that they
    // PSYNC again and learn the new id) end the link, in any phase; while
    // streaming, `stream_to_replica` also checks under the data lock.
    let handle = client.handle.clone();
    let result = tokio::select! {
        result = run_replica(server, stream, rbuf, id, &name, &conf, request) => result,
        () = killed(&handle) => Ok(()),
    };
    server.replicas.lock().remove(&id);
    server.lock_data().repl.pins.remove(&id);
    if let Err(e) = &result {
        info!("Connection with replica {name} lost: {e}");
    }
    result
}

/// Resolves once the connection is killed.
async fn killed(handle: &crate::client::ClientHandle) {
    while !handle.killed.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn peer_ip(addr: &str) -> String {
    addr.rsplit_once(':').map_or(addr, |(ip, _)| ip).to_string()
}

async fn run_replica<S>(
    server: &Arc<Server>,
    stream: &mut S,
    rbuf: &mut BytesMut,
    id: u64,
    name: &str,
    conf: &ReplicaConf,
    request: SyncRequest,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let plan = match make_plan(server, id, name, conf, &request) {
        Ok(plan) => plan,
        Err(error_line) => {
            stream.write_all(&error_line).await?;
            return Ok(());
        }
    };

    let start = match plan {
        Plan::Shared { events, psync } => {
            let offset = receive_shared_sync(server, stream, events, psync, id).await?;
            info!("Synchronization with replica {name} succeeded");
            if conf.rdb_only {
                return Ok(());
            }
            wait_first_ack(server, stream, rbuf, id).await?;
            set_state(server, id, "online");
            offset
        }
        Plan::Continue { reply, from } => {
            stream.write_all(&reply.to_bytes()).await?;
            set_state(server, id, "online");
            from.0
        }
        Plan::Full {
            snapshot,
            offset,
            replid,
            psync,
            aux,
            ..
        } if conf.rdb_filter_functions.is_some() => {
            server.lock_data().keyspace.cancel_snapshot(snapshot);
            let functions = conf.rdb_filter_functions == Some(true);
            let announce = psync.then_some(replid);
            send_filtered_rdb(server, stream, id, announce, offset, aux, functions).await?;
            info!("Synchronization with replica {name} succeeded");
            if conf.rdb_only {
                return Ok(());
            }
            // A filtered payload goes to a tool (redis-cli --replica), which
            // sends no ACK to wait for: the stream follows at once.
            set_state(server, id, "online");
            offset
        }
        Plan::Full {
            snapshot,
            sizes,
            offset,
            replid,
            psync,
            diskless,
            aux,
        } => {
            announce_full_sync(server, stream, id, psync.then_some(replid), offset).await?;
            if diskless {
                let header = eof_header();
                stream.write_all(&header.to_bytes()).await?;
                send_snapshot(server, snapshot, sizes, aux, stream).await?;
                stream.write_all(header.trailer()).await?;
                info!("Synchronization with replica {name} succeeded");
                if conf.rdb_only {
                    return Ok(());
                }
                // Nothing after the mark until the replica's first ACK.
                wait_first_ack(server, stream, rbuf, id).await?;
            } else {
                let file =
                    crate::persist::snapshot_to_temp_file(server, snapshot, &sizes, &aux).await?;
                let len = std::fs::metadata(&file)?.len();
                stream
                    .write_all(&PayloadHeader::Len(len).to_bytes())
                    .await?;
                let mut f = tokio::fs::File::open(&file).await?;
                tokio::io::copy(&mut f, stream).await?;
                let _ = std::fs::remove_file(&file);
                info!("Synchronization with replica {name} succeeded");
                if conf.rdb_only {
                    return Ok(());
                }
            }
            set_state(server, id, "online");
            offset
        }
    };
    stream_to_replica(server, stream, rbuf, id, name, start).await
}

/// `+FULLRESYNC <replid> <offset>` (for PSYNC; SYNC gets no line), then the
/// replica is in `send_bulk`.
async fn announce_full_sync<S>(
    server: &Server,
    stream: &mut S,
    id: u64,
    replid: Option<tandem_replication::ReplId>,
    offset: u64,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    if let Some(replid) = replid {
        let line = PsyncReply::FullResync {
            replid,
            offset: ReplOffset(offset),
        };
        stream.write_all(&line.to_bytes()).await?;
    }
    set_state(server, id, "send_bulk");
    Ok(())
}

/// A full sync that wants no keys (REPLCONF rdb-filter-only, as redis-cli's
/// `--functions-rdb` and `--replica` ask): an RDB of the function libraries,
/// or of nothing, sent whole after the announcement (none for SYNC).
async fn send_filtered_rdb<S>(
    server: &Server,
    stream: &mut S,
    id: u64,
    announce: Option<tandem_replication::ReplId>,
    offset: u64,
    mut aux: tandem_storage::rdb::AuxFields,
    functions: bool,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    if !functions {
        aux.functions.clear();
    }
    let databases = server.lock_data().keyspace.db_count();
    let empty = tandem_storage::Keyspace::new(databases);
    let options = crate::persist::payload_options(&server.config.read());
    let payload = tandem_storage::rdb::save(Vec::new(), &empty, &aux, options)?;
    announce_full_sync(server, stream, id, announce, offset).await?;
    stream
        .write_all(&PayloadHeader::Len(payload.len() as u64).to_bytes())
        .await?;
    stream.write_all(&payload).await
}

/// A diskless payload's `$EOF:<mark>` header with a fresh random mark.
fn eof_header() -> PayloadHeader {
    let mut random = [0u8; 20];
    for b in &mut random {
        *b = fastrand::u8(..);
    }
    PayloadHeader::Eof(EofMark::from_random(random))
}

/// A member's side of a shared diskless sync: keepalive newlines while the
/// group waits (as Redis sends them), then `+FULLRESYNC`, the payload between
/// `$EOF:` marks. Returns the snapshot's offset.
async fn receive_shared_sync<S>(
    server: &Server,
    stream: &mut S,
    mut events: tokio::sync::mpsc::Receiver<crate::diskless::Event>,
    psync: bool,
    id: u64,
) -> std::io::Result<u64>
where
    S: AsyncWrite + Unpin,
{
    use crate::diskless::Event;
    let cancelled = || std::io::Error::other("the shared full sync was cancelled");
    let (replid, offset) = loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Start { replid, offset }) => break (replid, offset),
                _ => return Err(cancelled()),
            },
            () = tokio::time::sleep(Duration::from_secs(1)) => stream.write_all(b"\n").await?,
        }
    };
    announce_full_sync(server, stream, id, psync.then_some(replid), offset).await?;
    let header = eof_header();
    stream.write_all(&header.to_bytes()).await?;
    loop {
        match events.recv().await {
            Some(Event::Chunk(bytes)) => stream.write_all(&bytes).await?,
            Some(Event::End(Ok(()))) => break,
            Some(Event::End(Err(e))) => return Err(std::io::Error::other(e)),
            Some(Event::Start { .. }) | None => return Err(cancelled()),
        }
    }
    stream.write_all(header.trailer()).await?;
    Ok(offset)
}

/// Decides between a partial and a full resync under the data lock; a full
/// sync takes its snapshot in the same hold. `Err` is an error line to send.
fn make_plan(
    server: &Arc<Server>,
    id: u64,
    name: &str,
    conf: &ReplicaConf,
    request: &SyncRequest,
) -> Result<Plan, Vec<u8>> {
    let backlog_size = server.config.read().repl_backlog_size as usize;
    let link_up = server.link.lock().up;
    // Decide under the lock; a full sync takes its snapshot in the same hold.
    let plan = {
        let mut data = server.lock_data();
        // A replica serves its own replicas only what it holds of a live
        // link: without one it has no history to give (spec §5.5).
        if data.replica_of && !link_up {
            return Err(
                b"-NOMASTERLINK Can't SYNC while not connected with my master\r\n".to_vec(),
            );
        }
        if data.repl.ensure_backlog(backlog_size) {
            info!(
                "Replication backlog created, my new replication IDs are '{}' and '{}'",
                data.repl.lineage.current(),
                data.repl.lineage.replid2()
            );
        }
        let psync = match request {
            SyncRequest::Psync { replid, offset } => {
                match PsyncRequest::parse(replid, offset, conf.capa_psync2) {
                    Ok(r) => Some(r),
                    Err(e) => return Err(format!("-ERR {e}\r\n").into_bytes()),
                }
            }
            SyncRequest::Sync => None,
        };
        let decision = psync.as_ref().map(|r| {
            let state = PrimaryState {
                lineage: &data.repl.lineage,
                backlog: data.repl.backlog.as_ref().map(|b| b.range()),
                master_repl_offset: ReplOffset(data.repl.offset),
            };
            decide(r, &state)
        });
        if let Some(line) = decision.as_ref().and_then(|d| d.accepted_log_line(name)) {
            info!("{line}");
        }
        match decision {
            Some(PsyncDecision::Continue { reply, from, .. }) => {
                server.stats.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
                data.repl.pins.insert(id, from.0);
                Plan::Continue { reply, from }
            }
            other => {
                if let Some(PsyncDecision::FullResync(reason)) = &other {
                    for line in reason.log_line(name).lines() {
                        info!("{line}");
                    }
                    if reason.counts_as_partial_err() {
                        server
                            .stats
                            .sync_partial_err
                            .fetch_add(1, Ordering::Relaxed);
                    }
                }
                server.stats.sync_full.fetch_add(1, Ordering::Relaxed);
                if psync.is_none() {
                    info!("Replica {name} asks for synchronization (SYNC): full resync");
                }
                let (diskless, delay, max_replicas) = {
                    let c = server.config.read();
                    (
                        conf.capa_eof && c.flag("repl-diskless-sync").unwrap_or(true),
                        c.number("repl-diskless-sync-delay").unwrap_or(5).max(0) as u64,
                        c.number("repl-diskless-sync-max-replicas")
                            .unwrap_or(0)
                            .max(0) as usize,
                    )
                };
                if diskless && delay > 0 && conf.rdb_filter_functions.is_none() {
                    // Wait for other replicas to share one snapshot.
                    let events =
                        crate::diskless::join(server, id, Duration::from_secs(delay), max_replicas);
                    return Ok(Plan::Shared {
                        events,
                        psync: psync.is_some(),
                    });
                }
                let (snapshot, sizes) = data.keyspace.start_snapshot();
                let offset = data.repl.offset;
                // Keep the stream from the snapshot on until this replica
                // has loaded it and starts streaming.
                data.repl.pins.insert(id, offset);
                // The stream after the snapshot must start with a SELECT.
                data.repl.selected_db = None;
                info!(
                    "Starting BGSAVE for SYNC with target: {}",
                    if diskless { "replicas sockets" } else { "disk" }
                );
                Plan::Full {
                    snapshot,
                    sizes,
                    offset,
                    // The stream after the snapshot starts with SELECT.
                    aux: crate::persist::sync_aux(&data),
                    replid: data.repl.lineage.current(),
                    psync: psync.is_some(),
                    diskless,
                }
            }
        }
    };
    Ok(plan)
}

enum Plan {
    /// A diskless full sync shared with the replicas that join within
    /// `repl-diskless-sync-delay` (see `crate::diskless`).
    Shared {
        events: tokio::sync::mpsc::Receiver<crate::diskless::Event>,
        psync: bool,
    },
    Continue {
        reply: PsyncReply,
        from: ReplOffset,
    },
    Full {
        snapshot: tandem_storage::snapshot::SnapshotId,
        sizes: Vec<tandem_storage::snapshot::DbSizes>,
        offset: u64,
        replid: tandem_replication::ReplId,
        aux: tandem_storage::rdb::AuxFields,
        psync: bool,
        diskless: bool,
    },
}

/// Streams snapshot `id` as an RDB into the socket: a thread serializes it
/// into chunks, this task writes them.
async fn send_snapshot<S>(
    server: &Arc<Server>,
    id: tandem_storage::snapshot::SnapshotId,
    sizes: Vec<tandem_storage::snapshot::DbSizes>,
    aux: tandem_storage::rdb::AuxFields,
    stream: &mut S,
) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    let srv = server.clone();
    let worker = std::thread::Builder::new()
        .name("tandem-sync-rdb".into())
        .spawn(move || {
            crate::persist::lower_thread_priority();
            let sink = std::io::BufWriter::with_capacity(64 * 1024, ChannelWriter(tx));
            crate::persist::write_snapshot_to(&srv, id, &sizes, &aux, sink).map(|_| ())
        })?;
    while let Some(chunk) = rx.recv().await {
        stream.write_all(&chunk).await?;
    }
    match worker.join() {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::other("snapshot serializer panicked")),
    }
}

/// A `Write` that hands buffers to an async task.
struct ChannelWriter(tokio::sync::mpsc::Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.blocking_send(buf.to_vec()).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "replica link closed")
        })?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Reads what the replica sends (REPLCONF ACK, keepalive newlines) and
/// records acks. Returns false when the link closed.
async fn read_replica_input<S>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    id: u64,
) -> std::io::Result<bool>
where
    S: AsyncRead + Unpin,
{
    if stream.read_buf(rbuf).await? == 0 {
        return Ok(false);
    }
    let limits = RequestLimits {
        authenticated: true,
        ..RequestLimits::default()
    };
    while let Ok(Some(argv)) = parse_request(rbuf, &limits) {
        if argv.len() >= 3
            && argv[0].eq_ignore_ascii_case(b"replconf")
            && argv[1].eq_ignore_ascii_case(b"ack")
        {
            if let Some(off) = tandem_storage::num::parse_u64(&argv[2]) {
                if let Some(r) = server.replicas.lock().get_mut(&id) {
                    r.ack_offset = r.ack_offset.max(off);
                    r.ack_time_ms = unix_ms();
                    r.acked = true;
                }
                server.acks.notify_waiters();
            }
        } else if let Some(r) = server.replicas.lock().get_mut(&id) {
            // Newlines and anything else refresh the ack time only.
            r.ack_time_ms = unix_ms();
        }
    }
    Ok(true)
}

async fn wait_first_ack<S>(
    server: &Server,
    stream: &mut S,
    rbuf: &mut BytesMut,
    id: u64,
) -> std::io::Result<()>
where
    S: AsyncRead + Unpin,
{
    let timeout = Duration::from_secs(
        server
            .config
            .read()
            .number("repl-timeout")
            .unwrap_or(60)
            .max(1) as u64,
    );
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let acked = server.replicas.lock().get(&id).is_some_and(|r| r.acked);
        if acked {
            return Ok(());
        }
        tokio::select! {
            read = read_replica_input(server, stream, rbuf, id) => {
                if !read? {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "replica closed the link"));
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no REPLCONF ACK after the RDB"));
            }
        }
    }
}

/// A write at least this large is followed at once by the next one.
const PACE_BYTES: usize = 16 * 1024;

/// How long the stream gathers after a smaller write.
const PACE: Duration = Duration::from_millis(1);

/// How often a streaming sender re-reads its limits and looks for the
/// replica's ACKs while the stream keeps it busy.
const HOUSEKEEPING: Duration = Duration::from_millis(20);

/// Sends the stream from `pos` on, forever: backlog stretches as they appear.
///
/// Writes are paced: after a write smaller than [`PACE_BYTES`] the sender
/// lets the stream gather for [`PACE`] before it looks again, so a replica
/// under a steady flow of small writes gets a few large writes per
/// millisecond instead of one per command, and spends its time applying
/// rather than waking up. A burst past [`PACE_BYTES`] goes out at once; an
/// idle stream's first write is not delayed.
async fn stream_to_replica<S>(
    server: &Arc<Server>,
    stream: &mut S,
    rbuf: &mut BytesMut,
    id: u64,
    name: &str,
    mut pos: u64,
) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let handle = server.clients.lock().get(id).cloned();
    // When the pending output first passed the soft limit.
    let mut over_soft_since: Option<std::time::Instant> = None;
    let mut last_housekeeping: Option<std::time::Instant> = None;
    let mut limit = server.config.read().client_output_buffer_limit.replica;
    let idle = tokio::time::sleep(Duration::from_millis(100));
    tokio::pin!(idle);
    let pace = tokio::time::sleep(PACE);
    tokio::pin!(pace);
    loop {
        let notified = server.repl_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if last_housekeeping.is_none_or(|t| t.elapsed() >= HOUSEKEEPING) {
            last_housekeeping = Some(std::time::Instant::now());
            let timeout_ms = {
                let c = server.config.read();
                limit = c.client_output_buffer_limit.replica;
                c.number("repl-timeout").unwrap_or(60).max(1) as u64 * 1000
            };
            // While the stream keeps us busy, still take in what the replica
            // sent (its ACKs feed WAIT and the timeout below) when it is
            // already there: one poll, no waiting.
            match poll_once(read_replica_input(server, stream, rbuf, id)).await {
                Some(Ok(false)) => return Ok(()),
                Some(Err(e)) => return Err(e),
                Some(Ok(true)) | None => {}
            }
            // A replica that has sent no ACK for repl-timeout is gone (frozen,
            // partitioned): drop it, as Redis does; it resumes with PSYNC.
            let last_ack = server.replicas.lock().get(&id).map(|r| r.ack_time_ms);
            if last_ack.is_some_and(|t| unix_ms().saturating_sub(t) > timeout_ms) {
                warn!("Disconnecting timedout replica (streaming sync): {name}");
                return Ok(());
            }
            if let Some(handle) = &handle {
                handle.info.lock().repl_sent = Some(pos);
            }
        }
        let span = {
            let mut data = server.lock_data();
            // A kill (CLIENT KILL, or a new replication id: see
            // `disconnect_replicas`) is seen under the lock that changed the
            // id, so no byte of the new history reaches a replica that
            // attached under the old one.
            if handle
                .as_ref()
                .is_some_and(|h| h.killed.load(Ordering::Relaxed))
            {
                return Ok(());
            }
            data.repl.pins.insert(id, pos);
            // What this replica has not been sent yet is its output buffer.
            let pending = data.repl.offset.saturating_sub(pos);
            let over_hard = limit.hard_bytes > 0 && pending >= limit.hard_bytes;
            let over_soft = limit.soft_bytes > 0 && pending >= limit.soft_bytes;
            if !over_soft {
                over_soft_since = None;
            }
            let soft_expired = over_soft
                && over_soft_since
                    .get_or_insert_with(std::time::Instant::now)
                    .elapsed()
                    >= Duration::from_secs(limit.soft_seconds);
            if over_hard || soft_expired {
                drop(data);
                warn!(
                    "Client id={id} addr={name} (replica) scheduled to be closed ASAP for overcoming of output buffer limits ({pending} bytes pending)."
                );
                return Ok(());
            }
            let Some(backlog) = data.repl.backlog.as_ref() else {
                return Err(std::io::Error::other("the backlog was freed"));
            };
            match backlog.share(ReplOffset(pos), STREAM_CHUNK) {
                Some(span) => span,
                None => {
                    drop(data);
                    warn!("Replica {name} fell out of the backlog at offset {pos}: disconnecting it, it must resync");
                    return Ok(());
                }
            }
        };
        if !span.is_empty() {
            // Zero-copy: the slices are the backlog's own mapping, unchanged
            // while the span lives, written without the lock.
            let (first, second) = span.slices();
            stream.write_all(first).await?;
            stream.write_all(second).await?;
            pos += span.len() as u64;
            if span.len() < PACE_BYTES {
                // A small write: let the stream gather for a moment before
                // the next one (taking in ACKs meanwhile).
                drop(span);
                pace.as_mut().reset(tokio::time::Instant::now() + PACE);
                tokio::select! {
                    _ = &mut pace => {}
                    read = read_replica_input(server, stream, rbuf, id) => {
                        if !read? {
                            return Ok(());
                        }
                    }
                }
            }
            continue;
        }
        drop(span);
        if let Some(handle) = &handle {
            handle.info.lock().repl_sent = Some(pos);
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = &mut idle => {
                idle.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(100));
                last_housekeeping = None;
            }
            read = read_replica_input(server, stream, rbuf, id) => {
                if !read? {
                    return Ok(());
                }
            }
        }
    }
}

/// Polls `future` once: its output if it was ready, `None` (and the future
/// dropped) if not. For cancel-safe futures only.
async fn poll_once<F: std::future::Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match future.as_mut().poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
