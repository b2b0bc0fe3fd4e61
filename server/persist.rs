//! RDB persistence: SAVE, BGSAVE (fork-free), save points, load at startup.
//!
//! BGSAVE takes a point-in-time snapshot of the keyspace under the data lock
//! (`Keyspace::start_snapshot`: no copy, no fork) and serializes it on its own
//! thread, taking the lock only for short steps that hand over shard images.
//! Writers keep going; an entry they change before the serializer reaches its
//! shard is copied first, so the file is exactly the dataset at the instant
//! BGSAVE ran, and the extra memory is only the entries changed meanwhile.
//! Files are written to a temporary name, fsynced, then renamed over
//! `dbfilename` (and the directory fsynced), so a crash never leaves a torn file.
//!
//! # Deadlock safety
//! The BGSAVE thread takes the data lock only inside `snapshot_step` and at the
//! end; it never holds it while writing to disk.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tandem_storage::rdb::{self, AuxFields, LoadOptions, RdbOptions, RdbWriter, ReadOptions};
use tandem_storage::snapshot::{DbSizes, SnapshotId};
use tracing::{info, warn};

use crate::exec::ReplFeed;
use crate::state::{unix_ms, Data, Server};

/// Entries handed over per snapshot step (bounds each hold of the data lock).
const STEP_ENTRIES: usize = 64;

/// Persistence facts INFO reports, kept under the data lock.
#[derive(Debug)]
pub struct PersistState {
    /// When the running BGSAVE started, if one runs.
    pub bgsave_started: Option<Instant>,
    /// A BGSAVE SCHEDULE waits for the running one to end.
    pub bgsave_scheduled: bool,
    pub last_bgsave_ok: bool,
    pub last_bgsave_secs: i64,
    /// When the last failed BGSAVE ended (save points retry after a delay).
    pub last_failure_ms: u64,
    pub saves: u64,
    pub keys_loaded: u64,
    pub keys_expired_on_load: u64,
    /// Keys the startup load dropped as expired, until a restarted primary
    /// replicates their DELs (`recovery::restore_replication`).
    pub expired_on_load: Vec<(usize, Vec<u8>)>,
}

impl Default for PersistState {
    fn default() -> Self {
        PersistState {
            bgsave_started: None,
            bgsave_scheduled: false,
            last_bgsave_ok: true,
            last_bgsave_secs: -1,
            last_failure_ms: 0,
            saves: 0,
            keys_loaded: 0,
            keys_expired_on_load: 0,
            expired_on_load: Vec::new(),
        }
    }
}

struct SaveSettings {
    path: PathBuf,
    options: RdbOptions,
    key_delay_us: u64,
}

fn settings(server: &Server) -> SaveSettings {
    let c = server.config.read();
    SaveSettings {
        path: Path::new(&c.dir).join(&c.dbfilename),
        options: RdbOptions {
            compression: c.flag("rdbcompression").unwrap_or(true),
            checksum: c.flag("rdbchecksum").unwrap_or(true),
            list_max_listpack_size: c.list_max_listpack_size,
        },
        key_delay_us: c.number("rdb-key-save-delay").unwrap_or(0).max(0) as u64,
    }
}

/// The RDB options a DUMP-style payload uses: compression as configured,
/// a checksum always (the payload's trailer carries one anyway).
pub fn payload_options(config: &crate::config::Config) -> RdbOptions {
    RdbOptions {
        compression: config.flag("rdbcompression").unwrap_or(true),
        checksum: true,
        list_max_listpack_size: config.list_max_listpack_size,
    }
}

fn aux_fields() -> AuxFields {
    let info = crate::info::mem_stats();
    AuxFields::new(unix_ms() / 1000, info.allocated)
}

/// AUX fields for a saved RDB: the replication id, offset and lineage of the
/// dataset (so a restarted node resumes its history with PSYNC). As in Redis,
/// a primary that never had a backlog writes no replication fields.
pub(crate) fn data_aux(data: &Data) -> AuxFields {
    let mut aux = if data.repl.backlog.is_none() && !data.replica_of && !data.repl.cached_master {
        aux_fields()
    } else {
        // The database the stream is in: a replica's primary's, or our own.
        let stream_db = if data.replica_of {
            data.repl.master_db
        } else {
            data.repl.selected_db.unwrap_or(0)
        };
        repl_aux(&data.repl, stream_db)
    };
    aux.functions = data.scripts.functions.sources();
    aux
}

/// Replaces the function libraries with an RDB's, logging any that fail.
pub fn load_functions(data: &mut Data, sources: &[Vec<u8>]) {
    if sources.is_empty() && data.scripts.functions.libraries().is_empty() {
        return;
    }
    for error in data.scripts.functions.replace_all(sources) {
        warn!("Failed loading a function library from the RDB: {error}");
    }
}

/// AUX fields and function libraries for a full sync's snapshot, taken with
/// it: the stream after it starts with a SELECT (database 0 here).
pub fn sync_aux(data: &Data) -> AuxFields {
    let mut aux = repl_aux(&data.repl, 0);
    aux.functions = data.scripts.functions.sources();
    aux
}

/// AUX fields for an RDB of the stream's current point: the replication id,
/// offset and lineage (what a replica learns from a full sync's payload).
pub fn repl_aux(repl: &ReplFeed, stream_db: usize) -> AuxFields {
    let mut aux = aux_fields();
    aux.repl = Some(rdb::ReplAux {
        stream_db: i64::try_from(stream_db).unwrap_or(0),
        id: repl.lineage.current().to_string(),
        offset: i64::try_from(repl.offset).unwrap_or(i64::MAX),
    });
    aux.extra.push((
        tandem_replication::lineage::Lineage::AUX_FIELD.to_string(),
        repl.lineage.to_aux(),
    ));
    aux
}

/// Streams snapshot `id` into any sink with the configured RDB options (the
/// diskless full sync's serializer thread).
pub fn write_snapshot_to<W: Write>(
    server: &Server,
    id: SnapshotId,
    sizes: &[DbSizes],
    aux: &AuxFields,
    sink: W,
) -> std::io::Result<W> {
    let s = settings(server);
    write_snapshot(server, id, sizes, aux, sink, &s, None)
}

/// As [`write_snapshot_to`], abandoning the snapshot with an `Interrupted`
/// error once `cancel` is set (checked between steps and between keys, so
/// also during `rdb-key-save-delay`).
pub fn write_snapshot_cancellable<W: Write>(
    server: &Server,
    id: SnapshotId,
    sizes: &[DbSizes],
    aux: &AuxFields,
    sink: W,
    cancel: &AtomicBool,
) -> std::io::Result<W> {
    let s = settings(server);
    write_snapshot(server, id, sizes, aux, sink, &s, Some(cancel))
}

/// Writes snapshot `id` to a temporary file next to `dbfilename` on a
/// blocking thread (the disk-based full sync) and returns its path.
pub async fn snapshot_to_temp_file(
    server: &Arc<Server>,
    id: SnapshotId,
    sizes: &[DbSizes],
    aux: &AuxFields,
) -> std::io::Result<PathBuf> {
    let s = settings(server);
    let temp = temp_path(&s.path, &format!("sync-{}", fastrand::u32(..)));
    let (srv, sizes, aux, path) = (server.clone(), sizes.to_vec(), aux.clone(), temp.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let s = settings(&srv);
        let file = File::create(&path)?;
        let sink = write_snapshot(&srv, id, &sizes, &aux, BufWriter::new(file), &s, None)?;
        sink.into_inner().map_err(|e| e.into_error())?.sync_all()
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(temp)
}

fn temp_path(target: &Path, tag: &str) -> PathBuf {
    let dir = target.parent().unwrap_or(Path::new("."));
    dir.join(format!("temp-{tag}-{}.rdb", std::process::id()))
}

/// Makes `temp` the file at `target`: fsync, rename, fsync the directory.
fn commit_file(file: File, temp: &Path, target: &Path) -> std::io::Result<()> {
    file.sync_all()?;
    drop(file);
    std::fs::rename(temp, target)?;
    if let Some(dir) = target.parent() {
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// SAVE: writes the whole dataset now, holding the data lock (the server does
/// nothing else meanwhile, as with Redis's SAVE).
pub fn save_locked(server: &Server, data: &mut Data) -> Result<(), String> {
    let s = settings(server);
    let temp = temp_path(&s.path, "save");
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&temp)?;
        let sink = rdb::save(
            BufWriter::new(file),
            &data.keyspace,
            &data_aux(data),
            s.options,
        )?;
        let file = sink.into_inner().map_err(|e| e.into_error())?;
        commit_file(file, &temp, &s.path)
    })();
    match result {
        Ok(()) => {
            data.dirty_at_last_save = data.keyspace.dirty();
            data.last_save_unix = unix_ms() / 1000;
            data.persist.saves += 1;
            info!(
                "DB saved on disk in {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            warn!("Failed saving the DB: {e}");
            Err(format!("{e}"))
        }
    }
}

/// BGSAVE: snapshots now and serializes on a thread. Errors are Redis's texts.
pub fn bgsave(server: &Server, data: &mut Data) -> Result<(), &'static str> {
    if data.persist.bgsave_started.is_some() {
        return Err("ERR Background save already in progress");
    }
    let Some(server) = server.arc() else {
        return Err("ERR server is shutting down");
    };
    let (id, sizes) = data.keyspace.start_snapshot();
    let dirty_at_start = data.keyspace.dirty();
    data.persist.bgsave_started = Some(Instant::now());
    let aux = data_aux(data);
    let spawned = std::thread::Builder::new()
        .name("tandem-bgsave".into())
        .spawn(move || run_bgsave(server, id, sizes, aux, dirty_at_start));
    if spawned.is_err() {
        data.keyspace.cancel_snapshot(id);
        data.persist.bgsave_started = None;
        return Err("ERR could not start the background save");
    }
    info!("Background saving started");
    Ok(())
}

/// Lowers the calling thread's CPU priority (nice 10): serializing a snapshot
/// must not take CPU time from the threads serving clients.
pub fn lower_thread_priority() {
    // SAFETY: setpriority on our own thread id changes only this thread's
    // nice value; no memory is passed.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn run_bgsave(
    server: Arc<Server>,
    id: SnapshotId,
    sizes: Vec<DbSizes>,
    aux: AuxFields,
    dirty: u64,
) {
    lower_thread_priority();
    let s = settings(&server);
    let temp = temp_path(&s.path, "bgsave");
    let started = Instant::now();
    let result = (|| -> std::io::Result<()> {
        let file = File::create(&temp)?;
        let sink = write_snapshot(&server, id, &sizes, &aux, BufWriter::new(file), &s, None)?;
        let file = sink.into_inner().map_err(|e| e.into_error())?;
        commit_file(file, &temp, &s.path)
    })();
    let mut data = server.lock_data();
    data.persist.bgsave_started = None;
    data.persist.last_bgsave_secs = started.elapsed().as_secs() as i64;
    match result {
        Ok(()) => {
            info!("DB saved on disk");
            info!("Background saving terminated with success");
            data.dirty_at_last_save = dirty;
            data.last_save_unix = unix_ms() / 1000;
            data.persist.last_bgsave_ok = true;
            data.persist.saves += 1;
        }
        Err(e) => {
            data.keyspace.cancel_snapshot(id);
            let _ = std::fs::remove_file(&temp);
            warn!("Background saving error: {e}");
            data.persist.last_bgsave_ok = false;
            data.persist.last_failure_ms = unix_ms();
        }
    }
    if std::mem::take(&mut data.persist.bgsave_scheduled) {
        let _ = bgsave(&server, &mut data);
    }
}

/// Streams snapshot `id` as an RDB into `sink`, taking the data lock only to
/// fetch each batch of shard images. Used by BGSAVE and (later) full syncs.
fn write_snapshot<W: Write>(
    server: &Server,
    id: SnapshotId,
    sizes: &[DbSizes],
    aux: &AuxFields,
    sink: W,
    s: &SaveSettings,
    cancel: Option<&AtomicBool>,
) -> std::io::Result<W> {
    /// Counts this writer in `Server::snapshot_writers` while it lives.
    struct Writing<'a>(&'a AtomicUsize);
    impl Drop for Writing<'_> {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::Relaxed);
        }
    }
    server.snapshot_writers.fetch_add(1, Ordering::Relaxed);
    let _writing = Writing(&server.snapshot_writers);
    let mut w = RdbWriter::new(sink, s.options);
    let fail = |w: std::io::Error| {
        server.lock_data().keyspace.cancel_snapshot(id);
        w
    };
    w.write_header(aux).map_err(fail)?;
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let interrupted = || {
        server.lock_data().keyspace.cancel_snapshot(id);
        std::io::Error::new(
            std::io::ErrorKind::Interrupted,
            "the snapshot was cancelled",
        )
    };
    let mut current_db = None;
    loop {
        if cancelled() {
            return Err(interrupted());
        }
        let step = {
            let mut data = server.lock_data();
            let step = data.keyspace.snapshot_step(id, STEP_ENTRIES);
            // Hand the lock straight to a waiting client: without this the
            // serializer could take it again and again ahead of them.
            parking_lot::MutexGuard::unlock_fair(data);
            step
        };
        let Some(images) = step else {
            break;
        };
        for image in images {
            if current_db != Some(image.db) {
                let size = sizes.iter().find(|d| d.db == image.db);
                w.select_db(
                    image.db as u32,
                    size.map_or(0, |d| d.keys as u64),
                    size.map_or(0, |d| d.expires as u64),
                )
                .map_err(fail)?;
                current_db = Some(image.db);
            }
            for entry in &image.entries {
                w.write_entry(entry.key(), &entry.value, entry.expire_at())
                    .map_err(fail)?;
                if s.key_delay_us > 0 {
                    // A test knob (Redis's rdb-key-save-delay): slept in
                    // slices so that a cancel is seen within 100 ms.
                    let until = Instant::now() + Duration::from_micros(s.key_delay_us);
                    while let Some(left) = until.checked_duration_since(Instant::now()) {
                        if cancelled() {
                            return Err(interrupted());
                        }
                        std::thread::sleep(left.min(Duration::from_millis(100)));
                    }
                }
            }
        }
    }
    w.finish()
}

/// Runs due save points (called once a second by cron).
pub fn cron(server: &Server) {
    let points = server.config.read().save_points.clone();
    if points.is_empty() {
        return;
    }
    let mut data = server.lock_data();
    if data.persist.bgsave_started.is_some() {
        return;
    }
    let now = unix_ms();
    // After a failure, wait before trying again (Redis: 5 seconds).
    if !data.persist.last_bgsave_ok && now < data.persist.last_failure_ms + 5000 {
        return;
    }
    let changes = data
        .keyspace
        .dirty()
        .saturating_sub(data.dirty_at_last_save);
    let elapsed = (now / 1000).saturating_sub(data.last_save_unix);
    if let Some((secs, n)) = points
        .iter()
        .find(|(secs, n)| changes >= *n && elapsed >= *secs)
    {
        info!("{n} changes in {secs} seconds. Saving...");
        let _ = bgsave(server, &mut data);
    }
}

/// How a file read at startup (the RDB, an AOF's base) is loaded: expired
/// keys are dropped on a primary, unless a backlog file may be replayed on
/// top (its stream expires them itself, in order).
pub(crate) fn startup_load_options(server: &Server) -> LoadOptions {
    let c = server.config.read();
    LoadOptions {
        read: ReadOptions {
            limits: c.limits(),
            verify_checksum: c.flag("rdbchecksum").unwrap_or(true),
        },
        now_ms: unix_ms(),
        drop_expired: c.replicaof.is_none()
            && c.value("repl-backlog-file").is_none_or(|v| v.is_empty()),
    }
}

/// Loads `dbfilename` at startup if it exists. A file that cannot be read is
/// an error naming it: the caller refuses to start rather than serve nothing.
pub fn load_at_startup(server: &Server) -> Result<(), String> {
    let s = settings(server);
    let file = match File::open(&s.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(format!(
                "Fatal error loading the DB ({}): {e}. Exiting.",
                s.path.display()
            ))
        }
    };
    let started = Instant::now();
    let opts = startup_load_options(server);
    let mut data = server.lock_data();
    match rdb::load(BufReader::new(file), &mut data.keyspace, &opts) {
        Ok(summary) => {
            if let Some(ver) = summary.aux(b"redis-ver") {
                info!(
                    "Loading RDB produced by version {}",
                    String::from_utf8_lossy(ver)
                );
            }
            info!(
                "Done loading RDB, keys loaded: {}, keys expired: {}.",
                summary.keys_loaded, summary.keys_expired
            );
            load_functions(&mut data, &summary.functions);
            info!(
                "DB loaded from disk: {:.3} seconds",
                started.elapsed().as_secs_f64()
            );
            // The replication id and offset the file was saved at: a replica
            // restarted from it continues with PSYNC.
            let id = summary
                .aux(b"repl-id")
                .and_then(tandem_replication::ReplId::parse);
            let offset = summary
                .aux(b"repl-offset")
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok());
            let stream_db = summary
                .aux(b"repl-stream-db")
                .and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
            if let (Some(id), Some(offset)) = (id, offset) {
                use tandem_replication::lineage::Lineage;
                let at = tandem_replication::ReplOffset(offset);
                let capacity = data.repl.lineage.capacity();
                let lineage = summary
                    .aux(Lineage::AUX_FIELD.as_bytes())
                    .and_then(|text| {
                        Lineage::from_aux(id, at, text, capacity)
                            .map_err(|e| warn!("Ignoring the lineage in the RDB: {e}"))
                            .ok()
                    })
                    .unwrap_or_else(|| Lineage::with_capacity(id, at, capacity));
                data.repl.offset = offset;
                data.repl.lineage = lineage;
                data.repl.master_db = stream_db.unwrap_or(0);
                data.repl.cached_master = true;
                info!(
                    "Loaded replication id {id} at offset {offset} from the RDB ({} past ids)",
                    data.repl.lineage.len()
                );
            }
            data.persist.keys_loaded = summary.keys_loaded;
            data.persist.keys_expired_on_load = summary.keys_expired;
            data.persist.expired_on_load = summary.expired_keys;
            data.dirty_at_last_save = data.keyspace.dirty();
            Ok(())
        }
        Err(e) => {
            data.keyspace.clear();
            Err(format!(
                "Fatal error loading the DB from {}: {e}. Exiting.",
                s.path.display()
            ))
        }
    }
}

/// What DEBUG RELOAD's options ask for.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReloadOptions {
    /// NOSAVE: load the file as it is, without saving first.
    pub nosave: bool,
    /// NOFLUSH: keep the current data and add the file's to it.
    pub noflush: bool,
    /// MERGE: with NOFLUSH, the file's keys and libraries replace ours.
    pub merge: bool,
}

/// DEBUG RELOAD: save (unless NOSAVE), empty the dataset (unless NOFLUSH),
/// load the file again. Under NOFLUSH without MERGE a key or library the
/// file shares with the dataset is an error and nothing changes.
pub fn debug_reload(server: &Server, data: &mut Data, o: ReloadOptions) -> Result<(), String> {
    if !o.nosave {
        save_locked(server, data)?;
    }
    let s = settings(server);
    let file = File::open(&s.path).map_err(|e| e.to_string())?;
    let opts = LoadOptions {
        read: ReadOptions {
            limits: server.config.read().limits(),
            verify_checksum: !data.debug.skip_checksum_validation,
        },
        now_ms: unix_ms(),
        drop_expired: false,
    };
    let mut fresh = tandem_storage::Keyspace::new(data.keyspace.db_count());
    let summary = rdb::load(BufReader::new(file), &mut fresh, &opts).map_err(|e| e.to_string())?;
    if !o.noflush {
        data.keyspace.clear();
        load_functions(data, &summary.functions);
    } else if !o.merge {
        let shared_key = (0..fresh.db_count()).any(|db| {
            fresh
                .db_ref(db)
                .iter()
                .any(|e| data.keyspace.db_ref(db).present(e.key()))
        });
        if shared_key {
            return Err("a key of the file is already in the dataset".into());
        }
    }
    if o.noflush {
        for code in &summary.functions {
            let code = bytes::Bytes::copy_from_slice(code);
            if let Err(e) = data.scripts.functions.load(&code, o.merge) {
                return Err(e.to_string());
            }
        }
    }
    let now = unix_ms();
    for db in 0..fresh.db_count() {
        for e in fresh.db_ref(db).iter() {
            let (key, value, at) = (e.key().clone(), e.value.clone(), e.expire_at());
            data.keyspace.db(db).insert(&key, value, at, now);
        }
    }
    data.dirty_at_last_save = data.keyspace.dirty();
    Ok(())
}
