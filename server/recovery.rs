//! What a node restores of its replication state at startup, once the RDB is
//! loaded ([`crate::persist::load_at_startup`] set the id, offset, lineage and
//! stream database the file recorded).
//!
//! - `repl-backlog-file`: the ring is reopened. When its recorded lineage
//!   shows it continues the RDB's history and it holds the RDB's offset, the
//!   stream bytes written after the RDB are replayed onto the dataset (so a
//!   primary killed after its last save loses none of the writes its ring
//!   recorded), and the ring keeps serving PSYNC. Otherwise it is reset, and
//!   the log says why.
//! - A primary restarted with a history (RDB replication fields or a ring)
//!   keeps a backlog from that offset and, as Redis 7.0 does, moves the old id
//!   into the lineage under a fresh one, capped at the restart offset: its
//!   replicas continue with PSYNC, and a replica that holds bytes the restart
//!   lost (past that offset) is refused instead of silently diverging.
//!
//! This module owns no socket and no task; it runs once, before the listeners
//! accept anything, under the data lock.

use std::path::Path;

use tandem_replication::backlog::{Backlog, Recovery};
use tandem_replication::lineage::Lineage;
use tandem_replication::stream::{StreamEvent, StreamTracker};
use tandem_replication::ReplOffset;
use tracing::{info, warn};

use crate::exec::{new_replid, run_command, ReplFeed};
use crate::state::{unix_ms, Data, Server};

/// Restores the backlog file and a restarted primary's history (see the
/// module docs). Call once, after the RDB load, before serving.
pub fn restore_replication(server: &Server) {
    let (backlog_file, backlog_size, is_replica) = {
        let c = server.config.read();
        let file = c.value("repl-backlog-file").filter(|v| !v.is_empty());
        let size = (c.repl_backlog_size as usize).max(16 * 1024);
        (file, size, c.replicaof.is_some())
    };
    let mut data = server.lock_data();
    if let Some(path) = backlog_file {
        let path = std::path::PathBuf::from(path);
        data.repl.backlog_file = Some(path.clone());
        restore_backlog_file(server, &mut data, &path, backlog_size);
    }
    let expired_on_load = std::mem::take(&mut data.persist.expired_on_load);
    if is_replica || !data.repl.cached_master {
        return;
    }
    // A restarted primary: keep its history servable from this offset on.
    let repl = &mut data.repl;
    repl.cached_master = false;
    if repl.backlog.is_none() {
        match Backlog::new(backlog_size) {
            Ok(mut backlog) => {
                backlog.reset(ReplOffset(repl.offset));
                repl.backlog = Some(backlog);
            }
            Err(e) => {
                warn!("Could not create the replication backlog: {e}");
                return;
            }
        }
    }
    repl.enabled = true;
    repl.selected_db = None;
    let old = repl.lineage.current();
    repl.shift_id(new_replid());
    info!(
        "Restarted primary keeps its history: my new replication IDs are '{}' and '{old}' \
         (offset {})",
        repl.lineage.current(),
        repl.offset
    );
    // Keys that expired while we were down were dropped by the load; the
    // replicas that continue this history hold them still. Their DELs go
    // first in the new id's stream, as Redis feeds them during its load.
    for (db, key) in &expired_on_load {
        repl.feed(*db, &[b"DEL", key]);
    }
    if !expired_on_load.is_empty() {
        info!(
            "Replicating the deletion of {} keys that expired while the server was down",
            expired_on_load.len()
        );
    }
}

/// Reopens the file-backed ring and, when it continues the RDB's history,
/// replays what it holds past the RDB.
fn restore_backlog_file(server: &Server, data: &mut Data, path: &Path, size: usize) {
    let (mut backlog, recovery) = match Backlog::file_backed(path, size) {
        Ok(opened) => opened,
        Err(e) => {
            warn!("Could not open the backlog file, using memory instead: {e}");
            data.repl.backlog_file = None;
            return;
        }
    };
    let verdict = match recovery {
        Recovery::Created => Err(format!("created a new backlog file {}", path.display())),
        Recovery::Discarded { reason } => Err(format!(
            "the backlog file {} was discarded: {reason}",
            path.display()
        )),
        Recovery::Restored { replid, range, .. } => {
            let lineage_text = std::fs::read(ReplFeed::lineage_file(path)).unwrap_or_default();
            continuation(data, replid, range.start, range.end, &lineage_text)
        }
    };
    match verdict {
        Ok((from, lineage)) => {
            let (applied, processed) = replay(server, data, &backlog, from);
            // Half a MULTI block at the end was never acknowledged: drop it.
            backlog.truncate(processed);
            let mut lineage = lineage;
            lineage.end_at(processed);
            data.repl.lineage = lineage;
            data.repl.offset = processed.0;
            data.repl.cached_master = true;
            info!(
                "Backlog file {} resumed at offset {}: replayed {} bytes ({applied} commands) \
                 written after the RDB",
                path.display(),
                processed.0,
                processed.0 - from.0
            );
        }
        Err(why) => {
            info!(
                "Backlog file not replayed: {why}. It starts empty at offset {}.",
                data.repl.offset
            );
            backlog.reset(ReplOffset(data.repl.offset));
        }
    }
    data.repl.backlog = Some(backlog);
    data.repl.enabled = true;
    data.repl.selected_db = None;
    data.repl.lineage_changed();
}

/// Whether the ring's bytes continue the dataset just loaded. Returns the
/// position to replay from and the ring's lineage, or why not.
fn continuation(
    data: &Data,
    ring_id: Option<tandem_replication::ReplId>,
    start: ReplOffset,
    end: ReplOffset,
    lineage_text: &[u8],
) -> Result<(ReplOffset, Lineage), String> {
    let ring_id = ring_id.ok_or("the backlog file records no replication id")?;
    let text = std::str::from_utf8(lineage_text).map_err(|_| "the lineage file is not text")?;
    let (id_text, aux) = text
        .trim_end()
        .split_once(' ')
        .ok_or("the lineage file is missing or malformed")?;
    if id_text.as_bytes() != ring_id.as_str().as_bytes() {
        return Err(format!(
            "the lineage file names {id_text} but the ring records {ring_id}"
        ));
    }
    let capacity = data.repl.lineage.capacity();
    let lineage = Lineage::from_aux(ring_id, end, aux.as_bytes(), capacity)?;
    // The dataset's point in history: the RDB's, or the very beginning when
    // there was no RDB and the ring still holds the whole stream.
    let (rdb_id, rdb_offset) = if data.repl.cached_master {
        (data.repl.lineage.current(), ReplOffset(data.repl.offset))
    } else if data.keyspace.dbs().iter().all(|db| db.is_empty()) && start == ReplOffset(0) {
        (ring_id, ReplOffset(0))
    } else {
        return Err("the RDB has no replication id to continue from".into());
    };
    let same_history = rdb_id == ring_id
        || lineage
            .find(rdb_id)
            .is_some_and(|(_, entry)| entry.covers(rdb_offset));
    if !same_history {
        return Err(format!(
            "the ring's history ({ring_id}) does not continue the RDB's ({rdb_id} at offset {})",
            rdb_offset.0
        ));
    }
    if rdb_offset < start || rdb_offset > end {
        return Err(format!(
            "the ring holds offsets {}..{}, not the RDB's offset {}",
            start.0, end.0, rdb_offset.0
        ));
    }
    Ok((rdb_offset, lineage))
}

/// Applies the ring's stream from `from` to its end, as a primary's stream
/// is applied on a replica. Returns the commands applied and the position
/// after the last complete one.
fn replay(
    server: &Server,
    data: &mut Data,
    backlog: &Backlog,
    from: ReplOffset,
) -> (u64, ReplOffset) {
    let Some((first, second)) = backlog.slices_from(from) else {
        return (0, from);
    };
    let mut tracker = StreamTracker::new(from);
    let mut client = crate::replica::master_client(server, None);
    client.db = data.repl.master_db;
    let mut ops = Vec::new();
    let mut applied = 0u64;
    let now = unix_ms();
    for slice in [first, second] {
        for chunk in slice.chunks(1 << 20) {
            tracker.feed(chunk);
            loop {
                match tracker.poll_event() {
                    Ok(Some(StreamEvent::Applied { argv, .. })) => {
                        let _ = run_command(server, data, &mut client, &argv, now, false, &mut ops);
                        ops.clear();
                        applied += 1;
                    }
                    Ok(Some(StreamEvent::GetAck { .. })) => {}
                    Ok(None) => break,
                    Err(e) => {
                        warn!("Backlog file replay stopped at a malformed command: {e}");
                        let _ = tracker.drain_proxy().count();
                        return (applied, tracker.processed_offset());
                    }
                }
            }
            let _ = tracker.drain_proxy().count();
        }
    }
    data.repl.master_db = client.db;
    (applied, tracker.processed_offset())
}
