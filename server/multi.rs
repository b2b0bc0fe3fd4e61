//! Transactions: MULTI queueing, EXEC, DISCARD, WATCH.
//!
//! A transaction runs whole under the data lock, so it is one unit in the
//! write order; its writes reach the replication feed wrapped in MULTI/EXEC.
//! WATCH records (db, key) pairs; any call that changes a watched key (by the
//! command's key positions, expiry, or a flush/swap of its database) marks
//! every client watching it, and their EXEC then fails with a null reply.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::client::ClientState;
use crate::command::{flags, CommandSpec};
use crate::reply::Reply;
use crate::state::Data;

/// Who watches what, and whose watch has been broken.
#[derive(Debug, Default)]
pub struct Watches {
    by_key: HashMap<(usize, Bytes), HashSet<u64>>,
    /// Clients whose EXEC must fail.
    pub dirty: HashSet<u64>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn watch(&mut self, client: u64, db: usize, key: Bytes) {
        self.by_key.entry((db, key)).or_default().insert(client);
    }

    /// Forgets every watch of `client` (EXEC, DISCARD, UNWATCH, disconnect).
    pub fn unwatch_all(&mut self, client: u64, keys: &[(usize, Bytes)]) {
        for k in keys {
            if let Some(set) = self.by_key.get_mut(k) {
                set.remove(&client);
                if set.is_empty() {
                    self.by_key.remove(k);
                }
            }
        }
        self.dirty.remove(&client);
    }

    fn touch(&mut self, db: usize, key: &Bytes) {
        if let Some(clients) = self.by_key.get(&(db, key.clone())) {
            self.dirty.extend(clients.iter().copied());
        }
    }

    fn touch_db(&mut self, db: Option<usize>) {
        for ((d, _), clients) in &self.by_key {
            if db.is_none_or(|db| db == *d) {
                self.dirty.extend(clients.iter().copied());
            }
        }
    }
}

/// Marks watchers of one key.
pub fn touch_key(data: &mut Data, db: usize, key: &Bytes) {
    if !data.watches.is_empty() {
        data.watches.touch(db, key);
    }
}

/// Marks watchers of every key a changing command names (and of whole
/// databases for FLUSHDB, FLUSHALL and SWAPDB).
pub fn touch_watched(data: &mut Data, spec: &CommandSpec, argv: &[Bytes], db: usize) {
    if data.watches.is_empty() {
        return;
    }
    let name = argv[0].to_ascii_lowercase();
    match name.as_slice() {
        b"flushall" => data.watches.touch_db(None),
        b"flushdb" => data.watches.touch_db(Some(db)),
        b"swapdb" | b"move" | b"copy" => data.watches.touch_db(None),
        _ => {
            for key in spec.keys.keys(argv) {
                data.watches.touch(db, key);
            }
        }
    }
}

/// Marks the current transaction as failed (a queued command was refused).
pub fn flag_error(client: &mut ClientState) {
    if client.multi.is_some() {
        client.multi_error = true;
    }
}

/// Inside MULTI, queues the command and answers QUEUED, or refuses what may
/// not be queued. Returns `None` when the command must run now.
pub fn maybe_queue(client: &mut ClientState, spec: &CommandSpec, argv: &[Bytes]) -> Option<Reply> {
    let queue = client.multi.as_mut()?;
    let name = argv[0].to_ascii_lowercase();
    match name.as_slice() {
        b"exec" | b"discard" | b"multi" | b"watch" | b"quit" | b"reset" => None,
        _ if spec.has(flags::NO_MULTI) => {
            client.multi_error = true;
            Some(Reply::error("ERR Command not allowed inside a transaction"))
        }
        _ => {
            queue.push(argv.to_vec());
            Some(Reply::Simple("QUEUED".into()))
        }
    }
}
