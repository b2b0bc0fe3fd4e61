//! Diskless full syncs shared by several replicas: `repl-diskless-sync-delay`
//! and `repl-diskless-sync-max-replicas`, as in Redis.
//!
//! The first replica that needs a diskless full sync opens a group and waits
//! up to the delay (or until `max-replicas` have joined) for others. Then
//! one snapshot is taken, at one offset, and serialized once; every member
//! gets the same `+FULLRESYNC <id> <offset>` and the same payload bytes,
//! then streams from that offset like any replica. The slowest member paces
//! the serializer (bounded channels), as Redis's RDB pipe does.
//!
//! This module owns the waiting group and the fan-out of payload chunks. It
//! never touches a replica socket: each member's task (in `primary`) writes
//! what it receives.
//!
//! # Deadlock safety
//! `Server::diskless` is taken alone, or with the data lock held first (by
//! [`join`], called under it); never across an await.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tandem_replication::ReplId;
use tracing::{info, warn};

use crate::state::Server;

/// What a member of a shared sync receives, in order: `Start`, the payload's
/// `Chunk`s, then `End`.
#[derive(Debug)]
pub enum Event {
    /// The snapshot is taken: announce `+FULLRESYNC <replid> <offset>`.
    Start { replid: ReplId, offset: u64 },
    /// RDB bytes.
    Chunk(Bytes),
    /// The payload is complete (`Ok`) or failed.
    End(Result<(), String>),
}

/// The group waiting for its snapshot, if any.
#[derive(Debug, Default)]
pub struct Groups {
    waiting: Option<Waiting>,
}

#[derive(Debug)]
struct Waiting {
    members: Vec<(u64, tokio::sync::mpsc::Sender<Event>)>,
    full: Arc<tokio::sync::Notify>,
}

/// Joins the waiting group, opening one (whose start is `delay` away) if
/// none waits. Call under the data lock, after deciding on a full sync.
pub fn join(
    server: &Arc<Server>,
    replica_id: u64,
    delay: Duration,
    max_replicas: usize,
) -> tokio::sync::mpsc::Receiver<Event> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let mut groups = server.diskless.lock();
    match &mut groups.waiting {
        Some(waiting) => {
            waiting.members.push((replica_id, tx));
            if max_replicas > 0 && waiting.members.len() >= max_replicas {
                waiting.full.notify_one();
            }
        }
        None => {
            let full = Arc::new(tokio::sync::Notify::new());
            groups.waiting = Some(Waiting {
                members: vec![(replica_id, tx)],
                full: full.clone(),
            });
            if max_replicas == 1 {
                full.notify_one();
            }
            info!(
                "Delay next BGSAVE for diskless SYNC ({} s, or {} replicas)",
                delay.as_secs(),
                max_replicas
            );
            tokio::spawn(lead(server.clone(), delay, full));
        }
    }
    rx
}

/// Waits out the delay, takes the snapshot for every member still there and
/// serializes it once to all of them.
async fn lead(server: Arc<Server>, delay: Duration, full: Arc<tokio::sync::Notify>) {
    tokio::select! {
        () = tokio::time::sleep(delay) => {}
        () = full.notified() => {}
    }
    let Some(waiting) = server.diskless.lock().waiting.take() else {
        return;
    };
    let members: Vec<_> = waiting
        .members
        .into_iter()
        .filter(|(_, tx)| !tx.is_closed())
        .collect();
    if members.is_empty() {
        return;
    }
    let (snapshot, sizes, offset, replid, aux) = {
        let mut data = server.lock_data();
        let (snapshot, sizes) = data.keyspace.start_snapshot();
        let offset = data.repl.offset;
        // Each member needs the stream from the snapshot on.
        for (id, _) in &members {
            data.repl.pins.insert(*id, offset);
        }
        // The stream after the snapshot must start with a SELECT.
        data.repl.selected_db = None;
        let aux = crate::persist::sync_aux(&data);
        (snapshot, sizes, offset, data.repl.lineage.current(), aux)
    };
    info!(
        "Starting BGSAVE for SYNC with target: replicas sockets ({} replicas)",
        members.len()
    );
    let mut senders = Vec::with_capacity(members.len());
    for (_, tx) in members {
        if tx.send(Event::Start { replid, offset }).await.is_ok() {
            senders.push(tx);
        }
    }
    let srv = server.clone();
    let spawned = std::thread::Builder::new()
        .name("tandem-sync-rdb".into())
        .spawn(move || {
            crate::persist::lower_thread_priority();
            let mut fanout = Fanout { senders };
            let result = crate::persist::write_snapshot_to(
                &srv,
                snapshot,
                &sizes,
                &aux,
                std::io::BufWriter::with_capacity(64 * 1024, &mut fanout),
            )
            .map(|_| ())
            .map_err(|e| e.to_string());
            for tx in &fanout.senders {
                let _ = tx.blocking_send(Event::End(result.clone()));
            }
        });
    if let Err(e) = spawned {
        warn!("Could not start the shared sync serializer: {e}");
        server.lock_data().keyspace.cancel_snapshot(snapshot);
    }
}

/// A `Write` that hands each buffer to every member still listening.
struct Fanout {
    senders: Vec<tokio::sync::mpsc::Sender<Event>>,
}

impl std::io::Write for &mut Fanout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let chunk = Bytes::copy_from_slice(buf);
        self.senders
            .retain(|tx| tx.blocking_send(Event::Chunk(chunk.clone())).is_ok());
        if self.senders.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "every replica of the shared sync went away",
            ));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
