//! Transactions: MULTI queueing, EXEC, DISCARD, WATCH.
//!
//! A transaction runs whole under the data lock, so it is one unit in the
//! write order; its writes reach the replication feed wrapped in MULTI/EXEC.
//! WATCH records (db, key) pairs; any call that changes a watched key marks
//! every client watching it, and their EXEC then fails with a null reply.
//! As in Redis: a changing command touches the keys it names (MOVE the key
//! in both databases, COPY only its destination), an expiry touches the
//! expired key, and FLUSHDB / FLUSHALL / SWAPDB touch watched keys in a
//! database they empty or swap in (see [`touch_before_flush`]).
//!
//! A key that was already expired (stale) when WATCHed is logically absent:
//! its lazy deletion changes nothing and does not break the watch, while a
//! key that was live at WATCH time and has expired by EXEC does.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use crate::client::ClientState;
use crate::command::{flags, CommandSpec};
use crate::reply::Reply;
use crate::state::Data;

/// Who watches what, and whose watch has been broken.
#[derive(Debug, Default)]
pub struct Watches {
    /// Watchers of each key, each with whether the key was stale (present
    /// but expired) when it watched.
    by_key: HashMap<(usize, Bytes), HashMap<u64, bool>>,
    /// Clients whose EXEC must fail.
    pub dirty: HashSet<u64>,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn watch(&mut self, client: u64, db: usize, key: Bytes, stale: bool) {
        self.by_key
            .entry((db, key))
            .or_default()
            .insert(client, stale);
    }

    /// Whether `client` watched `key` while it was stale (and still counts
    /// it so).
    pub fn watched_stale(&self, client: u64, db: usize, key: &Bytes) -> bool {
        self.by_key
            .get(&(db, key.clone()))
            .and_then(|w| w.get(&client))
            .copied()
            .unwrap_or(false)
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

    /// Marks the watchers of a changed key; `present` says whether the key is
    /// still in the table. A stale key's deletion is no change: its watchers
    /// only forget that it was stale.
    fn touch(&mut self, db: usize, key: &Bytes, present: bool) {
        if let Some(clients) = self.by_key.get_mut(&(db, key.clone())) {
            for (client, stale) in clients.iter_mut() {
                if *stale && !present {
                    *stale = false;
                } else {
                    self.dirty.insert(*client);
                }
            }
        }
    }
}

/// FLUSHDB, FLUSHALL and SWAPDB call this before they act, for each
/// database they empty (`emptied`) and, for SWAPDB, the one about to take its
/// place (`replaced_with`). A watched key in either counts, stale or not; then
/// per watcher, as Redis's touchAllWatchedKeysInDb decides:
/// - one that watched it stale is not marked if the key leaves (it only
///   forgets the staleness) or if it stays stale in the incoming database;
/// - one that watched it missing is not marked if it comes back stale (the
///   watch then counts it stale);
/// - every other watcher is marked.
pub fn touch_before_flush(
    data: &mut Data,
    emptied: usize,
    replaced_with: Option<usize>,
    now_ms: u64,
) {
    if data.watches.is_empty() {
        return;
    }
    let keyspace = &data.keyspace;
    let watches = &mut data.watches;
    for ((db, key), clients) in watches.by_key.iter_mut() {
        if *db != emptied {
            continue;
        }
        let in_emptied = keyspace.db_ref(emptied).present(key);
        let incoming = replaced_with.map(|r| keyspace.db_ref(r));
        let in_incoming = incoming.is_some_and(|db| db.present(key));
        if !in_emptied && !in_incoming {
            continue;
        }
        let incoming_stale = in_incoming && !incoming.is_some_and(|db| db.holds(key, now_ms));
        for (client, stale) in clients.iter_mut() {
            if *stale {
                if !in_incoming {
                    *stale = false;
                    continue;
                }
                if incoming_stale {
                    continue;
                }
            } else if !in_emptied && incoming_stale {
                *stale = true;
                continue;
            }
            watches.dirty.insert(*client);
        }
    }
}

/// Marks watchers of one key changed by the running command (Redis's
/// signalModifiedKey), and invalidates it for tracking clients.
pub fn touch_key(data: &mut Data, db: usize, key: &Bytes) {
    touch_key_by(data, db, key, true);
}

/// As [`touch_key`]; `by_client` is false for a deletion by expiry or
/// eviction (no client made the change, for BCAST's NOLOOP).
pub fn touch_key_by(data: &mut Data, db: usize, key: &Bytes, by_client: bool) {
    if !data.watches.is_empty() {
        let present = data.keyspace.db_ref(db).present(key);
        data.watches.touch(db, key, present);
    }
    if !data.tracking.is_idle() {
        data.tracking.invalidate(key, by_client, true);
    }
}

/// Marks watchers of the keys a changing command names (FLUSHDB, FLUSHALL
/// and SWAPDB mark theirs beforehand: see [`touch_before_flush`]).
pub fn touch_watched(data: &mut Data, spec: &CommandSpec, argv: &[Bytes], db: usize) {
    if data.watches.is_empty() && data.tracking.is_idle() {
        return;
    }
    let name = argv[0].to_ascii_lowercase();
    let db_arg =
        |arg: Option<&Bytes>| arg.and_then(|a| std::str::from_utf8(a).ok()?.parse::<usize>().ok());
    match name.as_slice() {
        // Tracking clients get a null invalidation (watchers were marked
        // before the flush).
        b"flushall" | b"flushdb" => data.tracking.invalidate_all(),
        // These mark exactly the keys they changed themselves.
        b"swapdb" | b"del" | b"unlink" | b"smove" | b"blpop" | b"brpop" | b"bzpopmin"
        | b"bzpopmax" | b"georadius" | b"georadiusbymember" | b"geosearchstore" | b"sort"
        | b"sort_ro" => {}
        // Only the destination of a *STORE changes.
        b"sinterstore" | b"sunionstore" | b"sdiffstore" | b"zrangestore" | b"zunionstore"
        | b"zinterstore" | b"zdiffstore" => touch_key(data, db, &argv[1]),
        b"bitop" => touch_key(data, db, &argv[2]),
        // Redis signals the destination first (tracking invalidations
        // follow that order).
        b"lmove" | b"blmove" | b"rpoplpush" | b"brpoplpush" => {
            touch_key(data, db, &argv[2]);
            touch_key(data, db, &argv[1]);
        }
        b"move" => {
            touch_key(data, db, &argv[1]);
            if let Some(target) = db_arg(argv.get(2)) {
                touch_key(data, target, &argv[1]);
            }
        }
        b"copy" => {
            // Only the destination changes, in the DB option's database.
            let target = argv
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"db"))
                .and_then(|i| db_arg(argv.get(i + 1)))
                .unwrap_or(db);
            touch_key(data, target, &argv[2]);
        }
        _ => {
            for key in spec.keys.keys(argv) {
                touch_key(data, db, key);
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
