//! The replica role: the link to a primary, as a tokio driver of the sans-IO
//! pieces in `tandem-replication`.
//!
//! `REPLICAOF host port` (or the `replicaof` directive) starts a link task.
//! It connects, runs the handshake a Redis 7.0 replica runs (PING, AUTH,
//! REPLCONF listening-port, REPLCONF capa eof capa psync2, PSYNC), and then
//! either continues from its offset (`+CONTINUE`) or receives a full sync: the
//! RDB payload (`$<len>` or `$EOF:<mark>`) goes to a temporary file and is
//! loaded into a fresh keyspace that replaces the old one only when complete.
//! The command stream is then applied as the master client (no replies, keys
//! expire only by the primary's DEL), and the exact bytes applied are appended
//! to this node's own backlog, so its sub-replicas see the same stream at the
//! same offsets. `REPLCONF ACK` goes back every second and on GETACK. A link
//! that drops is retried with PSYNC from the cached id and offset.
//!
//! # Deadlock safety
//! Takes only the data lock (and the link-state mutex, a leaf); never across
//! an await.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tandem_replication::framing::PayloadReceiver;
use tandem_replication::lineage::Lineage;
use tandem_replication::stream::{ack_command, StreamEvent, StreamTracker};
use tandem_replication::{ReplId, ReplOffset};
use tandem_storage::rdb::{self, LoadOptions, ReadOptions};
use tandem_storage::Keyspace;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::client::{ClientHandle, ClientKind, ClientState};
use crate::exec::run_command;
use crate::resp::encode_request;
use crate::state::{unix_ms, Server};

/// What INFO and ROLE report about the link.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    pub master: Option<(String, u16)>,
    pub up: bool,
    /// ROLE's state: connect, connecting, handshake, sync, connected.
    pub state: &'static str,
    pub last_io_ms: u64,
    pub down_since_ms: u64,
    pub sync_in_progress: bool,
    pub sync_total_bytes: i64,
    pub sync_read_bytes: u64,
    pub sync_last_io_ms: u64,
    /// Bumped by every REPLICAOF: an older link task sees it and ends.
    pub generation: u64,
}

/// REPLICAOF host port: (re)starts the link. Call under no lock.
pub fn start(server: &Server, host: String, port: u16) {
    let generation = {
        let mut link = server.link.lock();
        link.master = Some((host.clone(), port));
        link.generation += 1;
        link.up = false;
        link.state = "connect";
        link.down_since_ms = unix_ms();
        link.generation
    };
    crate::log::set_role_replica(true);
    if let Some(server) = server.arc() {
        tokio::spawn(run(server, host, port, generation));
    }
}

/// REPLICAOF NO ONE: stops the link; the caller promotes the data.
pub fn stop(server: &Server) {
    let mut link = server.link.lock();
    link.master = None;
    link.generation += 1;
    link.up = false;
    link.state = "none";
    crate::log::set_role_replica(false);
}

fn current(server: &Server, generation: u64) -> bool {
    server.link.lock().generation == generation
}

fn set_link(server: &Server, f: impl FnOnce(&mut LinkState)) {
    f(&mut server.link.lock());
}

async fn run(server: Arc<Server>, host: String, port: u16, generation: u64) {
    info!("Connecting to MASTER {host}:{port}");
    let mut backoff = Duration::from_millis(100);
    while current(&server, generation) {
        match link_once(&server, &host, port, generation).await {
            Ok(()) => {}
            Err(e) => {
                if current(&server, generation) {
                    warn!("Connection with master {host}:{port} lost or failed: {e}");
                }
            }
        }
        let mut was_up = false;
        set_link(&server, |l| {
            if l.generation == generation {
                was_up = l.up;
                if l.up {
                    l.down_since_ms = unix_ms();
                }
                l.up = false;
                l.state = "connect";
                l.sync_in_progress = false;
            }
        });
        // A link that was up starts the backoff over: the drop of a working
        // link (a primary restart, a new id) is retried at once.
        if was_up {
            backoff = Duration::from_millis(100);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

type IoResult<T> = std::io::Result<T>;

fn protocol(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

/// Reads one line (without CRLF) from the socket through `buf`, skipping the
/// bare newlines a primary sends as keepalives.
async fn read_line(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    timeout: Duration,
) -> IoResult<String> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        while let Some(pos) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(pos + 1);
            let text = String::from_utf8_lossy(&line[..pos])
                .trim_end_matches('\r')
                .to_string();
            if !text.is_empty() {
                return Ok(text);
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read_buf(buf))
            .await
            .map_err(|_| protocol("Timeout connecting to the MASTER..."))??;
        if read == 0 {
            return Err(protocol("master closed the connection"));
        }
    }
}

async fn send(stream: &mut TcpStream, args: &[&[u8]]) -> IoResult<()> {
    let mut out = BytesMut::new();
    encode_request(args, &mut out);
    stream.write_all(&out).await
}

async fn link_once(server: &Arc<Server>, host: &str, port: u16, generation: u64) -> IoResult<()> {
    set_link(server, |l| l.state = "connecting");
    // Every step of the handshake waits at most repl-timeout, as Redis's
    // replicationCron cancels a handshake silent for that long.
    let io_timeout = Duration::from_secs(
        server
            .config
            .read()
            .number("repl-timeout")
            .unwrap_or(60)
            .max(1) as u64,
    );
    let mut stream = tokio::time::timeout(io_timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| protocol("Timeout connecting to the MASTER..."))??;
    let _ = stream.set_nodelay(true);
    info!("MASTER <-> REPLICA sync started");
    set_link(server, |l| l.state = "handshake");
    let mut buf = BytesMut::with_capacity(16 * 1024);

    send(&mut stream, &[b"PING"]).await?;
    let pong = read_line(&mut stream, &mut buf, io_timeout).await?;
    if pong.starts_with('-')
        && !pong.starts_with("-NOAUTH")
        && !pong.starts_with("-NOPERM")
        && !pong.starts_with("-ERR operation not permitted")
    {
        return Err(protocol(format!(
            "Error reply to PING from master: '{pong}'"
        )));
    }
    info!("Master replied to PING, replication can continue...");

    let (auth, my_port, announce_ip) = {
        let c = server.config.read();
        let pass = c.value("masterauth").filter(|p| !p.is_empty());
        let user = c.value("masteruser").filter(|u| !u.is_empty());
        let announce_port = c.number("replica-announce-port").unwrap_or(0);
        let port = if announce_port > 0 {
            announce_port as u16
        } else {
            server.tcp_port.load(Ordering::Relaxed) as u16
        };
        (
            pass.map(|p| (user, p)),
            port,
            c.value("replica-announce-ip").filter(|v| !v.is_empty()),
        )
    };
    let mut expected = 2;
    if let Some((user, pass)) = &auth {
        match user {
            Some(u) => send(&mut stream, &[b"AUTH", u.as_bytes(), pass.as_bytes()]).await?,
            None => send(&mut stream, &[b"AUTH", pass.as_bytes()]).await?,
        }
        let reply = read_line(&mut stream, &mut buf, io_timeout).await?;
        if reply.starts_with('-') {
            return Err(protocol(format!("Unable to AUTH to MASTER: {reply}")));
        }
    }
    let port_text = my_port.to_string();
    send(
        &mut stream,
        &[b"REPLCONF", b"listening-port", port_text.as_bytes()],
    )
    .await?;
    if let Some(ip) = &announce_ip {
        send(&mut stream, &[b"REPLCONF", b"ip-address", ip.as_bytes()]).await?;
        expected += 1;
    }
    send(
        &mut stream,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
    )
    .await?;
    for _ in 0..expected {
        let reply = read_line(&mut stream, &mut buf, io_timeout).await?;
        if reply.starts_with('-') {
            info!("(Non critical) Master does not understand REPLCONF: {reply}");
        }
    }

    // PSYNC with what we hold, or `? -1` when we hold nothing from anyone.
    let (cached_id, cached_offset, has_cache, failover) = {
        let data = server.lock_data();
        // A REPLICAOF (or FAILOVER ABORT) during the handshake ends this
        // link before it asks for anything.
        if !current(server, generation) {
            return Err(protocol("replication target changed"));
        }
        (
            data.repl.lineage.current(),
            data.repl.offset,
            data.repl.cached_master,
            // A FAILOVER handing our role over asks this primary to take it.
            crate::failover::psync_failover_arg(&data, generation),
        )
    };
    let psync_offset = (cached_offset + 1).to_string();
    let failover_arg: &[&[u8]] = if failover { &[b"FAILOVER"] } else { &[] };
    let sent = if has_cache {
        info!("Trying a partial resynchronization (request {cached_id}:{psync_offset}).");
        let psync: &[&[u8]] = &[
            b"PSYNC",
            cached_id.as_str().as_bytes(),
            psync_offset.as_bytes(),
        ];
        send(&mut stream, &[psync, failover_arg].concat()).await
    } else {
        info!("Partial resynchronization not possible (no cached master)");
        let psync: &[&[u8]] = &[b"PSYNC", b"?", b"-1"];
        send(&mut stream, &[psync, failover_arg].concat()).await
    };
    let write_failed = sent.is_err();
    let reply = match sent {
        Ok(()) => read_line(&mut stream, &mut buf, io_timeout).await,
        Err(e) => Err(e),
    };
    if failover {
        use crate::failover::{psync_replied, PsyncOutcome};
        let outcome = match &reply {
            _ if write_failed => PsyncOutcome::WriteError,
            Ok(line) => PsyncOutcome::Replied(line),
            Err(_) => PsyncOutcome::NoReply,
        };
        if !psync_replied(server, generation, outcome) {
            return Err(protocol("FAILOVER aborted: no failover PSYNC accepted"));
        }
    }
    let reply = reply?;
    let start_offset = if let Some(rest) = reply.strip_prefix("+FULLRESYNC ") {
        let mut parts = rest.split(' ');
        let id = parts.next().and_then(|p| ReplId::parse(p.as_bytes()));
        let off = parts.next().and_then(|p| p.parse::<u64>().ok());
        let (Some(id), Some(off)) = (id, off) else {
            return Err(protocol(format!("wrong +FULLRESYNC syntax: {reply}")));
        };
        info!("Full resync from master: {id}:{off}");
        full_sync(server, &mut stream, &mut buf, id, off, generation).await?;
        off
    } else if let Some(rest) = reply.strip_prefix("+CONTINUE") {
        let new_id = ReplId::parse(rest.trim().as_bytes());
        let mut data = server.lock_data();
        if !current(server, generation) {
            return Err(protocol("replication target changed"));
        }
        // A replica restarted from its RDB resumes here without a backlog:
        // it needs one to feed sub-replicas and, once promoted, to keep its
        // history servable (Redis creates it on +CONTINUE too).
        let backlog_size = server.config.read().repl_backlog_size as usize;
        if data.repl.ensure_backlog(backlog_size) {
            info!("Replication backlog created at offset {}", data.repl.offset);
        }
        if let Some(id) = new_id {
            if id != data.repl.lineage.current() {
                data.repl.shift_id(id);
                info!("Master replication ID changed to {id}");
                // Sub-replicas reconnect, PSYNC, and learn the new id.
                crate::commands::replication::disconnect_replicas(server);
            }
        }
        info!("Successful partial resynchronization with master.");
        info!("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.");
        data.repl.offset
    } else if reply.starts_with("-NOMASTERLINK") || reply.starts_with("-LOADING") {
        return Err(protocol(format!(
            "Master is currently unable to PSYNC but should be in the future: {reply}"
        )));
    } else {
        return Err(protocol(format!(
            "Unexpected reply to PSYNC from master: {reply}"
        )));
    };
    set_link(server, |l| {
        l.up = true;
        l.state = "connected";
        l.last_io_ms = unix_ms();
        l.sync_in_progress = false;
    });
    stream_commands(server, &mut stream, buf, start_offset, generation).await
}

async fn full_sync(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    replid: ReplId,
    offset: u64,
    generation: u64,
) -> IoResult<()> {
    set_link(server, |l| {
        l.state = "sync";
        l.sync_in_progress = true;
        l.sync_total_bytes = -1;
        l.sync_read_bytes = 0;
        l.sync_last_io_ms = unix_ms();
    });
    // The payload is parsed while it arrives, into a fresh keyspace on a
    // blocking thread: the old data serves reads until the new one is
    // complete, and loading overlaps the transfer instead of following it.
    // With `repl-diskless-load disabled` (Redis's default) the payload is
    // also written to a file that becomes our RDB once loaded, as Redis does,
    // so a restart resumes from the synced point.
    let (dir, dbfilename, via_disk, databases, limits) = {
        let c = server.config.read();
        let via_disk = c
            .value("repl-diskless-load")
            .is_none_or(|v| v == "disabled");
        (
            c.dir.clone(),
            c.dbfilename.clone(),
            via_disk,
            c.databases,
            c.limits(),
        )
    };
    let temp = std::path::Path::new(&dir).join(format!(
        "temp-{}-{}.rdb",
        unix_ms() / 1000,
        std::process::id()
    ));
    let mut file = if via_disk {
        Some(std::io::BufWriter::new(std::fs::File::create(&temp)?))
    } else {
        None
    };
    let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    let loader = tokio::task::spawn_blocking(move || {
        let mut ks = Keyspace::new(databases);
        let opts = LoadOptions {
            read: ReadOptions {
                limits,
                verify_checksum: true,
            },
            now_ms: unix_ms(),
            drop_expired: false,
        };
        let source = ChannelReader {
            rx: chunks_rx,
            current: Vec::new(),
            at: 0,
        };
        rdb::load(std::io::BufReader::new(source), &mut ks, &opts)
            .map(|summary| {
                // The primary's past ids, when the RDB is of this history.
                let same_history = summary.aux(b"repl-id") == Some(replid.as_str().as_bytes());
                let lineage = summary
                    .aux(Lineage::AUX_FIELD.as_bytes())
                    .filter(|_| same_history)
                    .map(<[u8]>::to_vec);
                (ks, lineage, summary.functions)
            })
            .map_err(|e| {
                protocol(format!(
                    "Failed trying to load the MASTER synchronization DB: {e}"
                ))
            })
    });
    info!("MASTER <-> REPLICA sync: Loading DB in memory as it arrives");
    let mut rx = PayloadReceiver::new();
    let timeout = Duration::from_secs(
        server
            .config
            .read()
            .number("repl-timeout")
            .unwrap_or(60)
            .max(1) as u64,
    );
    let cleanup = |temp: &std::path::Path| {
        if via_disk {
            let _ = std::fs::remove_file(temp);
        }
    };
    let leftover;
    loop {
        if !buf.is_empty() {
            let fed = rx.feed(buf).map_err(|e| protocol(e.to_string()))?;
            let mut chunk = Vec::with_capacity(fed.payload[0].len() + fed.payload[1].len());
            chunk.extend_from_slice(fed.payload[0]);
            chunk.extend_from_slice(fed.payload[1]);
            let (consumed, done) = (fed.consumed, fed.done);
            let progress = rx.progress();
            let total = rx.info_total_bytes();
            set_link(server, |l| {
                l.sync_total_bytes = total;
                l.sync_read_bytes = progress.read;
                l.sync_last_io_ms = unix_ms();
            });
            let _ = buf.split_to(consumed);
            if let Some(f) = file.as_mut() {
                f.write_all(&chunk)?;
            }
            // A loader that stopped (bad payload) has dropped its end; its
            // error is reported below.
            if !chunk.is_empty() && chunks_tx.send(chunk).await.is_err() {
                break_with_loader_error(loader, &temp, via_disk).await?;
                return Err(protocol("the RDB loader stopped"));
            }
            if done {
                leftover = std::mem::take(buf);
                break;
            }
        }
        if !current(server, generation) {
            cleanup(&temp);
            return Err(protocol("replication target changed during the transfer"));
        }
        let read = match tokio::time::timeout(timeout, stream.read_buf(buf)).await {
            Ok(read) => read?,
            Err(_) => {
                cleanup(&temp);
                return Err(protocol("Timeout receiving bulk data from MASTER"));
            }
        };
        if read == 0 {
            cleanup(&temp);
            return Err(protocol(
                "I/O error trying to sync with MASTER: connection lost",
            ));
        }
    }
    drop(chunks_tx);
    if let Some(f) = file.take() {
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    info!("MASTER <-> REPLICA sync: Finished receiving the payload; completing the load");
    let loaded = loader.await.map_err(std::io::Error::other)?;
    if loaded.is_err() {
        cleanup(&temp);
    }
    let (ks, lineage_aux, functions) = loaded?;
    info!("MASTER <-> REPLICA sync: Flushing old data");
    {
        let mut data = server.lock_data();
        if !current(server, generation) {
            cleanup(&temp);
            return Err(protocol("replication target changed during the load"));
        }
        data.keyspace = ks;
        crate::persist::load_functions(&mut data, &functions);
        if data.repl.aof.is_some() {
            // The AOF must start again from the new dataset (Redis's
            // restartAOFAfterSYNC): a fresh base of it.
            if let Some(rewrite) = data.aof.rewrite.take() {
                rewrite.cancel();
            }
            if let Err(e) = crate::aof::start_rewrite(server, &mut data) {
                warn!("Failed to restart the AOF after the sync: {e}");
            }
        }
        let size = server.config.read().repl_backlog_size as usize;
        data.repl.ensure_backlog(size);
        if let Some(b) = data.repl.backlog.as_mut() {
            b.reset(ReplOffset(offset));
        }
        data.repl.offset = offset;
        let capacity = data.repl.lineage.capacity();
        let learned = lineage_aux.and_then(|text| {
            Lineage::from_aux(replid, ReplOffset(offset), &text, capacity)
                .map_err(|e| warn!("Ignoring the primary's lineage in its RDB: {e}"))
                .ok()
        });
        match learned {
            Some(lineage) => data.repl.set_lineage(lineage),
            None => data.repl.restart_history(replid, ReplOffset(offset)),
        }
        data.repl.selected_db = None;
        data.repl.master_db = 0;
        data.repl.proxy_only = true;
        // Sub-replicas followed the history we just replaced: they must
        // sync again, from the new one.
        crate::commands::replication::disconnect_replicas(server);
        data.repl.cached_master = true;
        if via_disk {
            // The synced dataset becomes our RDB, as in Redis.
            let target = std::path::Path::new(&dir).join(&dbfilename);
            match std::fs::rename(&temp, &target) {
                Ok(()) => data.dirty_at_last_save = data.keyspace.dirty(),
                Err(e) => {
                    warn!("Could not keep the synced RDB as {}: {e}", target.display());
                    cleanup(&temp);
                }
            }
        }
    }
    info!("MASTER <-> REPLICA sync: Finished with success");
    // With $EOF the primary sends nothing more until it sees an ACK.
    stream.write_all(&ack_command(ReplOffset(offset))).await?;
    *buf = leftover;
    Ok(())
}

/// A master client for applying the stream (also the backlog replay's, which
/// has no socket). With the link's socket it shows in CLIENT LIST as Redis's
/// does: the primary's address, ours, and the descriptor, so `CLIENT KILL
/// <primary ip:port>` finds it.
pub(crate) fn master_client(server: &Server, link: Option<&TcpStream>) -> ClientState {
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
    let (addr, laddr, fd) = match link {
        Some(stream) => {
            use std::os::fd::AsRawFd;
            let show = |a: std::io::Result<std::net::SocketAddr>| {
                a.map_or_else(|_| String::from("?:0"), |a| a.to_string())
            };
            (
                show(stream.peer_addr()),
                show(stream.local_addr()),
                stream.as_raw_fd(),
            )
        }
        None => ("master".into(), String::new(), -1),
    };
    let handle = Arc::new(ClientHandle::new(id, addr, laddr, fd, unix_ms(), tx));
    handle.info.lock().kind = ClientKind::Master;
    let mut client = ClientState::new(handle, true);
    client.is_master = true;
    client
}

async fn stream_commands(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    mut buf: BytesMut,
    offset: u64,
    generation: u64,
) -> IoResult<()> {
    let mut tracker = StreamTracker::new(ReplOffset(offset));
    let mut client = master_client(server, Some(stream));
    // A resumed stream goes on in the database it was in.
    client.db = server.lock_data().repl.master_db;
    server.clients.lock().add(client.handle.clone());
    let result = async {
        let timeout = Duration::from_secs(
            server
                .config
                .read()
                .number("repl-timeout")
                .unwrap_or(60)
                .max(1) as u64,
        );
        let mut last_ack = Instant::now();
        let mut last_data = Instant::now();
        loop {
            if !buf.is_empty() {
                tracker.feed(&buf);
                buf.clear();
                last_data = Instant::now();
                apply_events(server, stream, &mut tracker, &mut client, generation).await?;
            }
            if !current(server, generation) {
                return Ok(());
            }
            if client.handle.killed.load(Ordering::Relaxed) {
                return Err(protocol("the master link was killed (CLIENT KILL)"));
            }
            if last_ack.elapsed() >= Duration::from_secs(1) {
                stream
                    .write_all(&ack_command(tracker.processed_offset()))
                    .await?;
                last_ack = Instant::now();
            }
            if last_data.elapsed() > timeout {
                return Err(protocol("MASTER timeout: no data nor PING received..."));
            }
            match tokio::time::timeout(Duration::from_millis(200), stream.read_buf(&mut buf)).await
            {
                Ok(Ok(0)) => return Err(protocol("master closed the connection")),
                Ok(Ok(_)) => set_link(server, |l| l.last_io_ms = unix_ms()),
                Ok(Err(e)) => return Err(e),
                Err(_) => {}
            }
        }
    }
    .await;
    client.handle.socket_closing();
    server.clients.lock().remove(client.id);
    result
}

/// Most commands applied per prefetch pass.
const APPLY_BATCH: usize = 32;

async fn apply_events(
    server: &Arc<Server>,
    stream: &mut TcpStream,
    tracker: &mut StreamTracker,
    client: &mut ClientState,
    generation: u64,
) -> IoResult<()> {
    let mut acks = Vec::new();
    {
        let mut data = server.lock_data();
        // REPLICAOF changes the generation under this same lock: once it has
        // run, nothing from the old primary may be applied or proxied.
        if !current(server, generation) {
            return Err(protocol("replication target changed"));
        }
        let now = unix_ms();
        let mut batch = Vec::with_capacity(APPLY_BATCH);
        loop {
            // A batch of commands at a time, their keys fetched ahead.
            let mut failed = None;
            while batch.len() < APPLY_BATCH {
                match tracker.poll_event() {
                    Ok(Some(event)) => batch.push(event),
                    Ok(None) => break,
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if batch.is_empty() {
                match failed {
                    Some(e) => return Err(protocol(e.to_string())),
                    None => break,
                }
            }
            if batch.len() > 1 {
                let argvs = batch.iter().filter_map(|event| match event {
                    StreamEvent::Applied { argv, .. } => Some(argv.as_slice()),
                    StreamEvent::GetAck { .. } => None,
                });
                crate::exec::prefetch_first_keys(&data, client.db, argvs);
            }
            for event in batch.drain(..) {
                match event {
                    StreamEvent::Applied { argv, .. } => {
                        let mut ops = Vec::new();
                        let _ = run_command(server, &mut data, client, &argv, now, false, &mut ops);
                        // Only the AOF takes these: the stream is proxied.
                        data.repl.feed_call(&ops);
                    }
                    StreamEvent::GetAck { offset_before } => acks.push(offset_before),
                }
            }
            if let Some(e) = failed {
                return Err(protocol(e.to_string()));
            }
        }
        data.repl.master_db = client.db;
        crate::aof::flush(&mut data);
        let chunks: Vec<Bytes> = tracker.drain_proxy().collect();
        for chunk in chunks {
            data.repl.append_proxied(&chunk);
        }
    }
    server.repl_notify.notify_waiters();
    for off in acks {
        stream.write_all(&ack_command(off)).await?;
    }
    Ok(())
}

/// After the loader hung up early: removes the temp file and returns its
/// error, which says what was wrong with the payload.
/// What the full-sync loader produces: the keyspace, the primary's lineage
/// AUX field (when of this history) and its function libraries.
type LoadedSync = (Keyspace, Option<Vec<u8>>, Vec<Vec<u8>>);

async fn break_with_loader_error(
    loader: tokio::task::JoinHandle<IoResult<LoadedSync>>,
    temp: &std::path::Path,
    via_disk: bool,
) -> IoResult<()> {
    if via_disk {
        let _ = std::fs::remove_file(temp);
    }
    match loader.await.map_err(std::io::Error::other)? {
        Err(e) => Err(e),
        Ok(_) => Ok(()),
    }
}

/// The payload as a `Read` for the loader thread: chunks arrive over a
/// bounded channel (so a slow load slows the transfer, never grows memory);
/// the end of the channel is the end of the payload.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.current.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.current.len() - self.at);
        out[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
