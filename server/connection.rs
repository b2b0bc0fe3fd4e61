//! One client connection: its socket, read buffer and write buffer.
//!
//! The task reads whatever the socket has, parses every complete request in the
//! buffer, executes the whole batch under one acquisition of the data lock, and
//! writes all replies with one write. Pipelined requests therefore cost one read
//! and one write per batch, not per command. A protocol error is answered with
//! Redis's `-ERR Protocol error: ...` and closes this connection only.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::debug;

use crate::client::{ClientHandle, ClientState, ConnEvent};
use crate::command::{flags, table};
use crate::exec::{execute, resolve};
use crate::reply::Reply;
use crate::resp::{parse_request, RequestLimits};
use crate::state::{unix_ms, Server};

/// Redis's PROTO_INLINE_MAX_SIZE.
const INLINE_MAX: usize = 64 * 1024;
const READ_CHUNK: usize = 16 * 1024;

/// Where a connection came from, for CLIENT LIST.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
}

/// Serves one client until it disconnects, is killed, or errs.
pub async fn serve<S>(server: Arc<Server>, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let id = server.next_client_id.fetch_add(1, Ordering::Relaxed);
    let handle = Arc::new(ClientHandle::new(
        id,
        peer.addr,
        peer.laddr,
        peer.fd,
        unix_ms(),
        tx,
    ));
    server.clients.lock().add(handle.clone());
    let default_user = server.acl.lock().default_user().clone();
    let mut client = ClientState::new(handle, !server.auth_required());
    client.set_user(default_user);
    let mut conn = Connection {
        server: server.clone(),
        stream,
        rbuf: BytesMut::with_capacity(READ_CHUNK),
        wbuf: BytesMut::with_capacity(READ_CHUNK),
        events: rx,
        read_ms: 0,
        fed_stream: false,
        limits: (0, 0),
        limits_epoch: u64::MAX,
    };
    if let Err(e) = conn.run(&mut client).await {
        debug!("Client id={} closed: {e}", id);
    }
    client.handle.socket_closing();
    {
        let mut data = server.lock_data();
        crate::blocking::forget(&mut data, id);
        let watched = std::mem::take(&mut client.watched);
        data.watches.unwatch_all(id, &watched);
        data.tracking.disable(id);
    }
    {
        let mut pubsub = server.pubsub.lock();
        for channel in &client.channels {
            pubsub.unsubscribe(id, channel);
        }
        for pattern in &client.patterns {
            pubsub.punsubscribe(id, pattern);
        }
        for channel in &client.shard_channels {
            pubsub.sunsubscribe(id, channel);
        }
    }
    server.clients.lock().remove(id);
    if client.monitor {
        let mut monitors = server.monitors.lock();
        monitors.retain(|m| m.id != id);
        server
            .monitor_count
            .store(monitors.len(), Ordering::Relaxed);
    }
}

struct Connection<S> {
    server: Arc<Server>,
    stream: S,
    rbuf: BytesMut,
    wbuf: BytesMut,
    events: mpsc::UnboundedReceiver<ConnEvent>,
    /// The clock read when the last input arrived, for the batch it carries
    /// (0 once used: a later batch, after a wait, reads the clock again).
    read_ms: u64,
    /// The batch just run fed the replication stream: wake the senders.
    fed_stream: bool,
    /// `proto-max-bulk-len` and the query-buffer limit, as of config epoch
    /// `limits_epoch` (re-read only when CONFIG SET changed something).
    limits: (u64, u64),
    limits_epoch: u64,
}

enum Next {
    Continue,
    Close,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    async fn run(&mut self, client: &mut ClientState) -> std::io::Result<()> {
        loop {
            if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                self.rbuf.reserve(READ_CHUNK);
            }
            tokio::select! {
                biased;
                event = self.events.recv() => match event {
                    Some(ConnEvent::Write(bytes)) | Some(ConnEvent::Unblocked(bytes)) => {
                        self.stream.write_all(&bytes).await?;
                        self.count_output(bytes.len());
                    }
                    Some(ConnEvent::Kill) | None => return Ok(()),
                },
                read = self.stream.read_buf(&mut self.rbuf) => {
                    let n = read?;
                    if n == 0 {
                        return Ok(());
                    }
                    self.server.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    let now = unix_ms();
                    client.handle.last_interaction_ms.store(now, Ordering::Relaxed);
                    self.read_ms = now;
                    let next = self.process_input(client).await?;
                    if !self.wbuf.is_empty() {
                        self.stream.write_all(&self.wbuf).await?;
                        self.count_output(self.wbuf.len());
                        self.wbuf.clear();
                    }
                    if matches!(next, Next::Close) || client.handle.killed.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                }
            }
        }
    }

    fn count_output(&self, n: usize) {
        self.server
            .stats
            .net_output_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Parses and executes every complete request in the read buffer.
    async fn process_input(&mut self, client: &mut ClientState) -> std::io::Result<Next> {
        let epoch = self.server.config_epoch.load(Ordering::Acquire);
        if epoch != self.limits_epoch {
            let config = self.server.config.read();
            self.limits = (config.proto_max_bulk_len, config.client_query_buffer_limit);
            self.limits_epoch = epoch;
        }
        let (max_bulk_len, qbuf_limit) = self.limits;
        loop {
            let limits = RequestLimits {
                max_bulk_len,
                max_inline_len: INLINE_MAX,
                authenticated: client.authenticated || !self.server.auth_required(),
            };
            let mut batch: Vec<Vec<Bytes>> = Vec::new();
            let mut protocol_error = None;
            loop {
                match parse_request(&mut self.rbuf, &limits) {
                    Ok(Some(argv)) => {
                        if !argv.is_empty() {
                            let is_auth = argv[0].eq_ignore_ascii_case(b"auth")
                                || argv[0].eq_ignore_ascii_case(b"hello");
                            batch.push(argv);
                            // Later requests may depend on the outcome of AUTH.
                            if is_auth && !client.authenticated {
                                break;
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        protocol_error = Some(e);
                        break;
                    }
                }
            }
            let mut start = 0;
            while start < batch.len() {
                self.wait_if_paused(&batch[start..], client.multi.as_deref())
                    .await;
                let done = self.execute_batch(client, &batch[start..]);
                if client.close_after_reply {
                    return Ok(Next::Close);
                }
                start += done;
                if std::mem::take(&mut self.fed_stream) {
                    self.server.repl_notify.notify_waiters();
                }
                if client.blocked {
                    if let Next::Close = self.wait_unblocked(client).await? {
                        return Ok(Next::Close);
                    }
                }
                if let Some(request) = client.sync_request.take() {
                    self.flush().await?;
                    let server = self.server.clone();
                    crate::primary::serve_replica(
                        &server,
                        &mut self.stream,
                        &mut self.rbuf,
                        client,
                        request,
                    )
                    .await?;
                    return Ok(Next::Close);
                }
                if let Some((offset, wanted, deadline)) = client.wait.take() {
                    self.flush().await?;
                    let count = self.wait_for_acks(offset, wanted, deadline).await;
                    Reply::Int(count as i64).encode(client.proto, &mut self.wbuf);
                }
            }
            if let Some(e) = protocol_error {
                tracing::debug!(
                    "Protocol error ({e}) from client: id={} addr={}",
                    client.id,
                    client.handle.addr
                );
                let text = format!("ERR Protocol error: {e}");
                crate::exec::count_error(&self.server, &mut self.server.lock_data(), &text);
                Reply::error(text).encode(client.proto, &mut self.wbuf);
                return Ok(Next::Close);
            }
            if self.rbuf.len() as u64 > qbuf_limit {
                tracing::warn!(
                    "Closing client that reached max query buffer length: id={} addr={} (qbuf initial bytes: {:?})",
                    client.id,
                    client.handle.addr,
                    String::from_utf8_lossy(&self.rbuf[..self.rbuf.len().min(64)])
                );
                self.server
                    .stats
                    .client_query_buffer_limit_disconnections
                    .fetch_add(1, Ordering::Relaxed);
                return Ok(Next::Close);
            }
            // Stop when no complete request is left (the usual case) .
            if batch.is_empty() || self.rbuf.is_empty() {
                return Ok(Next::Continue);
            }
        }
    }

    /// Holds the batch while CLIENT PAUSE, or a FAILOVER's write pause,
    /// applies to it. An EXEC counts as a write when the transaction it
    /// runs (`queued`) holds one, as in Redis.
    async fn wait_if_paused(&self, batch: &[Vec<Bytes>], queued: Option<&[Vec<Bytes>]>) {
        let writes = |argv: &Vec<Bytes>| {
            resolve(argv).is_ok_and(|spec| spec.has(flags::WRITE) || spec.has(flags::MAY_REPLICATE))
        };
        /// Counts this connection in `Server::paused_clients` while it waits.
        struct Held<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Held<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        let mut held: Option<Held<'_>> = None;
        loop {
            let pause = *self.server.pause.lock();
            let now = unix_ms();
            let client_pause = pause.until_ms > now;
            let held_writes = pause.failover || pause.shutdown;
            if !client_pause && !held_writes {
                return;
            }
            if !client_pause || pause.writes_only {
                let any_write = batch.iter().any(|argv| {
                    writes(argv)
                        || (argv
                            .first()
                            .is_some_and(|c| c.eq_ignore_ascii_case(b"exec"))
                            && queued.is_some_and(|q| q.iter().any(writes)))
                });
                if !any_write {
                    return;
                }
            }
            if held.is_none() {
                // A held client counts as blocked in INFO, as in Redis.
                self.server.paused_clients.fetch_add(1, Ordering::Relaxed);
                held = Some(Held(&self.server.paused_clients));
            }
            let left = if client_pause {
                pause.until_ms - now
            } else {
                100
            };
            let wait = Duration::from_millis(left.min(100));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.server.unpaused.notified() => {}
            }
        }
    }

    /// Writes the replies buffered so far.
    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.wbuf.is_empty() {
            self.stream.write_all(&self.wbuf).await?;
            self.count_output(self.wbuf.len());
            self.wbuf.clear();
        }
        Ok(())
    }

    /// WAIT: until `wanted` replicas acknowledged `offset` or the deadline
    /// (Unix ms, 0 = none) passes; returns how many did.
    async fn wait_for_acks(&mut self, offset: u64, wanted: usize, deadline: u64) -> usize {
        loop {
            let notified = self.server.acks.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let have = crate::commands::replication::acked(&self.server, offset);
            let now = unix_ms();
            if have >= wanted || (deadline != 0 && now >= deadline) {
                return have;
            }
            let wait = if deadline == 0 {
                100
            } else {
                (deadline - now).min(100)
            };
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            }
        }
    }

    /// Waits until the blocking command ends: served by another client's
    /// write, unblocked, or timed out. Replies written so far go out first.
    async fn wait_unblocked(&mut self, client: &mut ClientState) -> std::io::Result<Next> {
        self.flush().await?;
        let deadline = self.server.lock_data().blocked_deadline(client.id);
        let sleep = async {
            match deadline {
                Some(ms) => {
                    let wait = ms.saturating_sub(unix_ms());
                    tokio::time::sleep(Duration::from_millis(wait)).await
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(sleep);
        let mut timed_out = false;
        loop {
            tokio::select! {
                event = self.events.recv() => match event {
                    Some(ConnEvent::Unblocked(bytes)) => {
                        self.wbuf.extend_from_slice(&bytes);
                        client.blocked = false;
                        return Ok(Next::Continue);
                    }
                    Some(ConnEvent::Write(bytes)) => {
                        self.stream.write_all(&bytes).await?;
                        self.count_output(bytes.len());
                    }
                    Some(ConnEvent::Kill) | None => return Ok(Next::Close),
                },
                _ = &mut sleep, if !timed_out => {
                    timed_out = true;
                    let reply = crate::blocking::take_timed_out(&mut self.server.lock_data(), client.id);
                    if let Some(reply) = reply {
                        reply.encode(client.proto, &mut self.wbuf);
                        client.blocked = false;
                        return Ok(Next::Continue);
                    }
                    // Served just before the deadline: the reply is in the channel.
                }
                read = self.stream.read_buf(&mut self.rbuf) => {
                    // Keep reading while blocked so a disconnect is noticed;
                    // what arrives waits in the buffer, as Redis does.
                    if read? == 0 {
                        return Ok(Next::Close);
                    }
                    if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
                        self.rbuf.reserve(READ_CHUNK);
                    }
                }
            }
        }
    }

    /// Answers `argv` without the data lock while a script is busy (see
    /// `scripting::busy`): `-BUSY` for what Redis refuses then, SCRIPT KILL,
    /// FUNCTION KILL, FUNCTION STATS, HELLO, QUIT and SHUTDOWN NOSAVE;
    /// `None` for an `allow-busy` command that must wait for the data.
    fn answer_while_busy(&mut self, client: &mut ClientState, argv: &[Bytes]) -> Option<usize> {
        let script = &self.server.running_script;
        let reply = match resolve(argv) {
            Err(reply) => {
                crate::multi::flag_error(client);
                reply
            }
            Ok(spec)
                if !client.authenticated
                    && !spec.has(flags::NO_AUTH)
                    && self.server.auth_required() =>
            {
                crate::multi::flag_error(client);
                Reply::error("NOAUTH Authentication required.")
            }
            Ok(spec) if !spec.has(flags::ALLOW_BUSY) => {
                crate::multi::flag_error(client);
                script.busy_error()
            }
            Ok(spec) => match table().flat[table().stat_id(spec)].0.as_str() {
                "script|kill" => script.kill(true),
                "function|kill" => script.kill(false),
                "function|stats" => script.stats(),
                "quit" => {
                    client.close_after_reply = true;
                    Reply::ok()
                }
                "hello" => crate::commands::server::hello_for(&self.server, client, None, argv),
                "shutdown" => match crate::commands::server::shutdown_options(argv) {
                    Ok((flags, false)) if flags.nosave => {
                        crate::shutdown::exit_while_busy(&self.server)
                    }
                    Ok(_) => script.busy_error(),
                    Err(reply) => reply,
                },
                _ => return None,
            },
        };
        if !std::mem::take(&mut client.reply_skip_next) && !client.reply_off {
            reply.encode(client.proto, &mut self.wbuf);
        }
        Some(1)
    }

    /// Executes requests until the batch ends or one blocks; returns how many ran.
    fn execute_batch(&mut self, client: &mut ClientState, batch: &[Vec<Bytes>]) -> usize {
        let mut last_cmd = None;
        let mut done = 0;
        {
            let mut data = loop {
                if self.server.running_script.is_busy() {
                    if let Some(done) = self.answer_while_busy(client, &batch[0]) {
                        return done;
                    }
                    // An `allow-busy` command that needs the data waits.
                    break self.server.lock_data();
                }
                if let Some(data) = self.server.data.try_lock_for(Duration::from_millis(10)) {
                    break data;
                }
            };
            // One clock reading per batch, as Redis caches time per event-loop
            // turn: the one taken when the input arrived, if still fresh.
            let now_ms = match std::mem::take(&mut self.read_ms) {
                0 => unix_ms(),
                read => read,
            };
            data.clock = None;
            if batch.len() > 1 {
                crate::exec::prefetch_first_keys(&data, client.db, batch.iter().map(Vec::as_slice));
            }
            for argv in batch {
                let skip = std::mem::take(&mut client.reply_skip_next);
                let reply = execute(&self.server, &mut data, client, argv, now_ms);
                if !client.pending_pushes.is_empty() {
                    self.wbuf.extend_from_slice(&client.pending_pushes);
                    client.pending_pushes.clear();
                }
                // CLIENT REPLY ON answers even the command SKIP covered; in
                // (un)subscribe confirmations are pushed messages, which
                // Redis 7.0 delivers whatever CLIENT REPLY says, in both
                // protocols.
                let forced = std::mem::take(&mut client.reply_on_now)
                    || crate::commands::pubsub::is_subscription_command(&argv[0]);
                if forced || (!skip && !client.reply_off) {
                    reply.encode(client.proto, &mut self.wbuf);
                }
                if !client.pending_after.is_empty() {
                    self.wbuf.extend_from_slice(&client.pending_after);
                    client.pending_after.clear();
                }
                last_cmd = Some(argv);
                done += 1;
                if client.blocked
                    || client.sync_request.is_some()
                    || client.wait.is_some()
                    || client.close_after_reply
                    || client.handle.killed.load(Ordering::Relaxed)
                {
                    break;
                }
            }
            self.fed_stream = data.repl.enabled;
            // The batch's writes reach the AOF before its replies leave.
            crate::aof::flush(&mut data);
        }
        if last_cmd.is_some() {
            let name = client
                .last_stat_id
                .map_or("NULL", |id| table().flat[id].0.as_str());
            let mut info = client.handle.info.lock();
            info.last_cmd = name;
            info.qbuf = self.rbuf.len();
        }
        done
    }
}
