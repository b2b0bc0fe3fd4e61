//! Clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, ...).
//!
//! A blocking command that finds nothing to serve registers a waiter here with
//! its argv. Commands that may make a key ready (pushes, adds) signal it; after
//! the signalling call has been propagated, [`serve_ready`] re-runs the
//! waiters' commands for each ready key in FIFO order, under the same data
//! lock, so a served pop lands in the write order right after the push that
//! fed it. A waiter whose command still finds nothing keeps its place.
//! The waiting connection receives its reply as `ConnEvent::Unblocked`; at
//! its deadline it removes itself with [`take_timed_out`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::client::{ClientHandle, ClientState};
use crate::exec::{run_command, BlockRequest};
use crate::reply::{Proto, Reply};
use crate::state::{Data, Server};

#[derive(Debug)]
struct Waiter {
    handle: Arc<ClientHandle>,
    db: usize,
    proto: Proto,
    argv: Vec<Bytes>,
    keys: Vec<Bytes>,
    deadline_ms: Option<u64>,
    timeout_reply: Reply,
}

/// Every blocked client, and per key the queue of who waits on it.
#[derive(Debug, Default)]
pub struct Blocked {
    by_key: HashMap<(usize, Bytes), VecDeque<u64>>,
    waiters: HashMap<u64, Waiter>,
}

impl Blocked {
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Keys with at least one waiter (INFO blocked_keys... style counts).
    pub fn key_count(&self) -> usize {
        self.by_key.len()
    }

    fn remove(&mut self, id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            let k = (waiter.db, key.clone());
            if let Some(queue) = self.by_key.get_mut(&k) {
                queue.retain(|&w| w != id);
                if queue.is_empty() {
                    self.by_key.remove(&k);
                }
            }
        }
        Some(waiter)
    }
}

/// Records that `client` waits; a client already waiting keeps its place.
pub fn register(data: &mut Data, client: &mut ClientState, argv: &[Bytes], request: BlockRequest) {
    client.blocked = true;
    if data.blocked.waiters.contains_key(&client.id) {
        return;
    }
    for key in &request.keys {
        let queue = data
            .blocked
            .by_key
            .entry((client.db, key.clone()))
            .or_default();
        if !queue.contains(&client.id) {
            queue.push_back(client.id);
        }
    }
    data.blocked.waiters.insert(
        client.id,
        Waiter {
            handle: client.handle.clone(),
            db: client.db,
            proto: client.proto,
            argv: request.argv.unwrap_or_else(|| argv.to_vec()),
            keys: request.keys,
            deadline_ms: request.deadline_ms,
            timeout_reply: request.timeout_reply,
        },
    );
}

/// Sends the reply that ends a wait, after `pushes` (the waiter's own
/// keyspace notifications raised by the served command).
fn deliver(waiter: &Waiter, pushes: BytesMut, reply: &Reply) {
    deliver_with(waiter, pushes, reply, &[]);
}

/// As [`deliver`], with pushes that follow the reply (tracking
/// invalidations of keys the served command changed).
fn deliver_with(waiter: &Waiter, pushes: BytesMut, reply: &Reply, after: &[u8]) {
    let mut out = pushes;
    reply.encode(waiter.proto, &mut out);
    out.extend_from_slice(after);
    waiter.handle.send_unblocked(out.freeze());
}

/// Serves waiters of every key signalled ready, until no signal is left.
pub fn serve_ready(server: &Server, data: &mut Data, now_ms: u64) {
    if data.blocked.is_empty() {
        // Nobody waits: nothing to serve (the common case of every push).
        data.ready_keys.clear();
        return;
    }
    // Each pass serves or skips every waiter of the ready keys once; a served
    // command can signal more keys, so passes repeat, boundedly.
    for _ in 0..10_000 {
        if data.ready_keys.is_empty() {
            return;
        }
        let ready = std::mem::take(&mut data.ready_keys);
        let mut seen = Vec::with_capacity(ready.len());
        for key in ready {
            if seen.contains(&key) {
                continue;
            }
            seen.push(key.clone());
            let Some(queue) = data.blocked.by_key.get(&key) else {
                continue;
            };
            let ids: Vec<u64> = queue.iter().copied().collect();
            for id in ids {
                serve_one(server, data, id, now_ms);
            }
        }
    }
    data.ready_keys.clear();
}

fn serve_one(server: &Server, data: &mut Data, id: u64, now_ms: u64) {
    let Some(waiter) = data.blocked.waiters.get(&id) else {
        return;
    };
    let mut client = ClientState::new(waiter.handle.clone(), true);
    client.db = waiter.db;
    client.proto = waiter.proto;
    client.woken = true;
    let argv = waiter.argv.clone();
    let mut ops = Vec::new();
    let reply = run_command(server, data, &mut client, &argv, now_ms, true, &mut ops);
    crate::exec::feed_expired_dels(data);
    data.repl.feed_call(&ops);
    // A key that became another type is not ready for this waiter: Redis
    // serves a blocked pop only from a key of the type it waits on.
    if client.blocked || reply == Reply::wrong_type() {
        return;
    }
    if let Some(waiter) = data.blocked.remove(id) {
        deliver_with(
            &waiter,
            std::mem::take(&mut client.pending_pushes),
            &reply,
            &client.pending_after,
        );
    }
}

impl Data {
    /// The deadline of a blocked client's wait, if it has one.
    pub fn blocked_deadline(&self, id: u64) -> Option<u64> {
        self.blocked.waiters.get(&id).and_then(|w| w.deadline_ms)
    }
}

/// At a waiter's deadline: removes it and returns the timeout reply, or
/// `None` if it was served meanwhile (its reply is then on the way).
pub fn take_timed_out(data: &mut Data, id: u64) -> Option<Reply> {
    data.blocked.remove(id).map(|w| w.timeout_reply)
}

/// Forgets a client that disconnected while blocked.
pub fn forget(data: &mut Data, id: u64) {
    data.blocked.remove(id);
}

/// A primary turning replica ends every wait with Redis's error: the keys
/// will now change only through the new primary's stream, and a client
/// waiting to pop (a write) could never be served here.
pub fn unblock_all_for_demotion(server: &Server, data: &mut Data) {
    let ids: Vec<u64> = data.blocked.waiters.keys().copied().collect();
    let text =
        "UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)";
    for id in ids {
        if let Some(waiter) = data.blocked.remove(id) {
            fail(server, data, &waiter, text);
        }
    }
}

/// CLIENT UNBLOCK: ends a wait as a timeout, or with an UNBLOCKED error.
pub fn unblock(server: &Server, data: &mut Data, id: u64, with_error: bool) -> bool {
    let Some(waiter) = data.blocked.remove(id) else {
        return false;
    };
    if with_error {
        fail(
            server,
            data,
            &waiter,
            "UNBLOCKED client unblocked via CLIENT UNBLOCK",
        );
    } else {
        deliver(&waiter, BytesMut::new(), &waiter.timeout_reply);
    }
    true
}

/// Ends a wait with an error, counted as Redis counts an error reply to
/// the blocked command: in INFO errorstats and the command's failed_calls.
fn fail(server: &Server, data: &mut Data, waiter: &Waiter, text: &'static str) {
    crate::exec::count_error(server, data, text);
    if let Ok(spec) = crate::exec::resolve(&waiter.argv) {
        data.cmdstats[crate::command::table().stat_id(spec)].failed_calls += 1;
    }
    deliver(waiter, BytesMut::new(), &Reply::error(text));
}
