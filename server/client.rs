//! Client connections as the rest of the server sees them.
//!
//! [`ClientState`] is owned by a connection task and passed to handlers; it is
//! never shared. [`ClientHandle`] is the shared face of a connection kept in the
//! [`Registry`]: what CLIENT LIST shows and the channel through which other
//! parts of the server talk to the connection (MONITOR lines, kill requests).
//!
//! # Deadlock safety
//! A handle's `info` mutex is a leaf: nothing else is locked while holding it.
//! The registry mutex may be taken while the data lock is held, never the reverse.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::reply::Proto;

/// Something delivered to a connection from outside its own request loop.
#[derive(Debug)]
pub enum ConnEvent {
    /// Bytes to write to the client as they are (MONITOR lines, pushes).
    Write(Bytes),
    /// Close the connection (CLIENT KILL, timeout, shutdown).
    Kill,
    /// The reply that ends a blocking command (served, unblocked or timed out).
    Unblocked(Bytes),
}

/// The kinds CLIENT LIST / CLIENT KILL TYPE distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKind {
    Normal,
    Replica,
    Master,
    PubSub,
}

/// Mutable facts about a connection that other clients can read.
#[derive(Clone, Debug)]
pub struct ClientInfo {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
    pub db: usize,
    pub last_cmd: &'static str,
    pub resp: u8,
    pub monitor: bool,
    pub no_evict: bool,
    pub multi: i64,
    pub qbuf: usize,
    pub obl: usize,
    /// For a replica: the stream position sent so far. What lies between it
    /// and `master_repl_offset` is its pending output (CLIENT LIST `omem`),
    /// held once in the shared backlog rather than per replica.
    pub repl_sent: Option<u64>,
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    pub kind: ClientKind,
    /// The ACL user the connection is authenticated as (CLIENT LIST `user=`).
    pub user: Arc<crate::acl::UserSlot>,
    /// Set while CLIENT TRACKING is on.
    pub tracking: Option<TrackingFlags>,
}

/// A tracking client's mode as CLIENT LIST shows it (flags `t`, `R`, `B`
/// and `redir=`).
#[derive(Clone, Copy, Debug)]
pub struct TrackingFlags {
    pub redirect: u64,
    pub broken: bool,
    pub bcast: bool,
}

/// The shared face of one connection.
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub fd: i32,
    pub created_ms: u64,
    pub last_interaction_ms: AtomicU64,
    pub killed: AtomicBool,
    pub info: Mutex<ClientInfo>,
    events: mpsc::UnboundedSender<ConnEvent>,
    /// `fd` is still this connection's socket: cleared (under this lock)
    /// before the socket closes, so a late kill never reaches a reused fd.
    socket_open: Mutex<bool>,
}

impl ClientHandle {
    pub fn new(
        id: u64,
        addr: String,
        laddr: String,
        fd: i32,
        now_ms: u64,
        events: mpsc::UnboundedSender<ConnEvent>,
    ) -> ClientHandle {
        ClientHandle {
            id,
            addr,
            laddr,
            fd,
            created_ms: now_ms,
            last_interaction_ms: AtomicU64::new(now_ms),
            killed: AtomicBool::new(false),
            socket_open: Mutex::new(fd > 0),
            info: Mutex::new(ClientInfo {
                name: None,
                lib_name: None,
                lib_ver: None,
                db: 0,
                last_cmd: "NULL",
                resp: 2,
                monitor: false,
                no_evict: false,
                multi: -1,
                qbuf: 0,
                obl: 0,
                repl_sent: None,
                sub: 0,
                psub: 0,
                ssub: 0,
                kind: ClientKind::Normal,
                user: crate::acl::superuser(),
                tracking: None,
            }),
            events,
        }
    }

    /// Queues bytes for the connection; false if it is gone.
    pub fn send(&self, data: Bytes) -> bool {
        self.events.send(ConnEvent::Write(data)).is_ok()
    }

    /// Delivers the reply that ends a blocking command.
    pub fn send_unblocked(&self, data: Bytes) -> bool {
        self.events.send(ConnEvent::Unblocked(data)).is_ok()
    }

    /// Asks the connection to close (after what it is doing now).
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        let _ = self.events.send(ConnEvent::Kill);
    }

    /// CLIENT KILL of another client: its socket shuts at once, as Redis
    /// frees the client at once (the peer sees the end even while this
    /// server is busy, say in a DEBUG SLEEP); pending replies are dropped.
    pub fn kill_now(&self) {
        self.kill();
        let open = self.socket_open.lock();
        if *open {
            // SAFETY: shutdown(2) on this connection's own socket, which
            // `socket_open` says is not closed yet (and cannot be while
            // the lock is held).
            unsafe {
                libc::shutdown(self.fd, libc::SHUT_RDWR);
            }
        }
    }

    /// The connection is about to close its socket.
    pub fn socket_closing(&self) {
        *self.socket_open.lock() = false;
    }

    /// One CLIENT LIST / CLIENT INFO line, Redis 7.0's fields in Redis's order.
    /// `repl_offset` (`master_repl_offset`) sizes a replica's pending output.
    pub fn describe(&self, now_ms: u64, repl_offset: u64) -> String {
        let info = self.info.lock().clone();
        let omem = info
            .repl_sent
            .map_or(0, |sent| repl_offset.saturating_sub(sent));
        let age = now_ms.saturating_sub(self.created_ms) / 1000;
        let idle = now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000;
        let mut flags = String::new();
        match info.kind {
            ClientKind::Replica => flags.push('S'),
            ClientKind::Master => flags.push('M'),
            ClientKind::PubSub => flags.push('P'),
            ClientKind::Normal if info.sub + info.psub + info.ssub > 0 => flags.push('P'),
            ClientKind::Normal => {}
        }
        if info.monitor {
            flags.push('O');
        }
        if info.multi >= 0 {
            flags.push('x');
        }
        if let Some(t) = info.tracking {
            flags.push('t');
            if t.broken {
                flags.push('R');
            }
            if t.bcast {
                flags.push('B');
            }
        }
        if info.no_evict {
            flags.push('e');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let text = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl={} oll={} omem={} tot-mem={} events=r cmd={} user={} redir={} resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            text(&info.name),
            age,
            idle,
            flags,
            info.db,
            info.sub,
            info.psub,
            info.ssub,
            info.multi,
            info.qbuf,
            16384usize.saturating_sub(info.qbuf),
            info.obl,
            u64::from(omem > 0),
            omem,
            16384 + info.qbuf as u64 + info.obl as u64 + omem,
            info.last_cmd,
            String::from_utf8_lossy(&info.user.name),
            info.tracking.map_or(-1, |t| t.redirect as i64),
            info.resp,
        )
    }
}

/// Every live connection, by id.
#[derive(Debug, Default)]
pub struct Registry {
    clients: BTreeMap<u64, Arc<ClientHandle>>,
}

impl Registry {
    pub fn add(&mut self, handle: Arc<ClientHandle>) {
        self.clients.insert(handle.id, handle);
    }

    pub fn remove(&mut self, id: u64) {
        self.clients.remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    pub fn get(&self, id: u64) -> Option<&Arc<ClientHandle>> {
        self.clients.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<ClientHandle>> {
        self.clients.values()
    }
}

/// The per-connection state handlers see and change.
#[derive(Debug)]
pub struct ClientState {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    pub authenticated: bool,
    /// The ACL user whose rules apply (internal clients: the superuser).
    pub user: Arc<crate::acl::UserSlot>,
    /// Running the commands of an EXEC (ACL refusals then say so).
    pub in_exec: bool,
    pub handle: Arc<ClientHandle>,
    /// Set by QUIT and fatal errors: reply, then close.
    pub close_after_reply: bool,
    /// Set by MONITOR.
    pub monitor: bool,
    /// Set by CLIENT REPLY OFF/SKIP.
    pub reply_off: bool,
    pub reply_skip_next: bool,
    /// Set by CLIENT REPLY ON: its own OK is written even under SKIP.
    pub reply_on_now: bool,
    /// The client a script's `redis.call` runs as (MONITOR shows it as `lua`).
    pub in_script: bool,
    /// The error the current command replies was already counted in the
    /// error stats (a script passing on its `redis.call`'s error).
    pub error_already_counted: bool,
    /// Commands queued since MULTI; `None` outside a transaction.
    pub multi: Option<Vec<Vec<Bytes>>>,
    /// A queued command was refused: EXEC will abort.
    pub multi_error: bool,
    /// Keys this client WATCHes: (db, key).
    pub watched: Vec<(usize, Bytes)>,
    /// True while a blocking command waits (set by exec, cleared when served).
    pub blocked: bool,
    /// True while a blocked client's command is re-run because a key it
    /// waits on was signalled (XREADGROUP then reports a vanished group
    /// as Redis's wake-up path does).
    pub woken: bool,
    /// Statistics slot of the last command run (CLIENT LIST `cmd=`).
    pub last_stat_id: Option<usize>,
    /// The primary's link applying its stream (no replies, no expiry).
    pub is_master: bool,
    /// What the peer said with REPLCONF (it may become a replica).
    pub replica_conf: crate::primary::ReplicaConf,
    /// Set by SYNC/PSYNC: the connection turns into a replica link.
    pub sync_request: Option<crate::primary::SyncRequest>,
    /// Set by WAIT that must wait: (offset, replicas wanted, deadline ms or 0).
    pub wait: Option<(u64, usize, u64)>,
    /// Subscribed channels, patterns and shard channels, in subscription
    /// order.
    pub channels: Vec<Bytes>,
    pub patterns: Vec<Bytes>,
    pub shard_channels: Vec<Bytes>,
    /// The last plain command this client ran, by its name as sent: a
    /// client usually repeats one, and then skips the table lookup.
    pub last_command: Option<LastCommand>,
    /// Pub/sub messages for this client raised by its own command (its
    /// keyspace notifications), written before the command's reply.
    pub pending_pushes: bytes::BytesMut,
    /// Pushes for this client raised by its own command that follow the
    /// command's reply (tracking invalidations of keys it changed).
    pub pending_after: bytes::BytesMut,
}

/// A resolved command name (see [`ClientState::last_command`]).
#[derive(Clone, Copy, Debug)]
pub struct LastCommand {
    name: [u8; LastCommand::MAX_NAME],
    len: u8,
    pub spec: &'static crate::command::CommandSpec,
    pub stat_id: usize,
}

impl LastCommand {
    const MAX_NAME: usize = 24;

    /// Remembers `spec` under `name` exactly as sent; `None` for a name too
    /// long to keep.
    pub fn new(
        name: &[u8],
        spec: &'static crate::command::CommandSpec,
        stat_id: usize,
    ) -> Option<LastCommand> {
        let mut buf = [0u8; LastCommand::MAX_NAME];
        buf.get_mut(..name.len())?.copy_from_slice(name);
        Some(LastCommand {
            name: buf,
            len: name.len() as u8,
            spec,
            stat_id,
        })
    }

    /// Whether `name` is the remembered one, byte for byte.
    pub fn is(&self, name: &[u8]) -> bool {
        &self.name[..usize::from(self.len)] == name
    }
}

impl ClientState {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> ClientState {
        ClientState {
            id: handle.id,
            db: 0,
            proto: Proto::Resp2,
            authenticated,
            user: crate::acl::superuser(),
            in_exec: false,
            handle,
            close_after_reply: false,
            monitor: false,
            reply_off: false,
            reply_skip_next: false,
            reply_on_now: false,
            in_script: false,
            error_already_counted: false,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            blocked: false,
            woken: false,
            last_stat_id: None,
            is_master: false,
            replica_conf: Default::default(),
            sync_request: None,
            wait: None,
            channels: Vec::new(),
            patterns: Vec::new(),
            shard_channels: Vec::new(),
            last_command: None,
            pending_pushes: bytes::BytesMut::new(),
            pending_after: bytes::BytesMut::new(),
        }
    }

    /// True while subscribed to anything (Redis's `CLIENT_PUBSUB` flag): a
    /// RESP2 client is then limited to the subscription commands.
    pub fn subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// Makes `user` the connection's user (AUTH, HELLO AUTH, RESET).
    pub fn set_user(&mut self, user: Arc<crate::acl::UserSlot>) {
        self.handle.info.lock().user = user.clone();
        self.user = user;
    }

    /// Records the selected database where CLIENT LIST can see it.
    pub fn set_db(&mut self, db: usize) {
        self.db = db;
        self.handle.info.lock().db = db;
    }
}
