//! The append-only file, in Redis 7.0's multi-part layout: a directory
//! (`appenddirname` under `dir`) holding a base file (an RDB), incremental
//! files of commands in RESP, and a manifest naming them in order:
//!
//! ```text
//! file appendonly.aof.1.base.rdb seq 1 type b
//! file appendonly.aof.1.incr.aof seq 1 type i
//! ```
//!
//! What this module owns: the manifest, recording writes into the current
//! incremental file ([`AofLog`], fed by `ReplFeed::feed_call` with the same
//! operations the replication stream gets, so the file holds the one write
//! order), `appendfsync`, loading at startup and by DEBUG LOADAOF, and
//! rewriting (BGREWRITEAOF, `appendonly yes` at run time, the automatic
//! rewrite).
//!
//! A rewrite needs no fork and no rewrite buffer: under the data lock it
//! opens a new incremental file, switches recording to it and takes a
//! point-in-time snapshot (`Keyspace::start_snapshot`) of the same instant;
//! a thread writes the snapshot as the new base. The manifest lists the new
//! incremental file at once (after the old ones), so a crash mid-rewrite
//! loses nothing; when the base is complete the manifest is replaced by
//! new base + new incremental file, and the old files are deleted.
//!
//! # Deadlock safety
//! The rewrite thread takes the data lock only for snapshot steps and to
//! finish; fsync for `everysec` happens outside the lock on a cloned handle.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tandem_storage::rdb;
use tracing::{info, warn};

use crate::exec::Op;
use crate::state::{unix_ms, Data, Server};

/// Records writes into the current incremental file.
#[derive(Debug)]
pub struct AofLog {
    file: Arc<File>,
    buf: BytesMut,
    selected_db: Option<usize>,
    always: bool,
    /// Written since the last fsync (`everysec`).
    pub unsynced: bool,
    /// Bytes in the incremental file.
    pub incr_size: u64,
}

impl AofLog {
    fn open(path: &Path, always: bool) -> std::io::Result<AofLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let incr_size = file.metadata()?.len();
        Ok(AofLog {
            file: Arc::new(file),
            buf: BytesMut::new(),
            selected_db: None,
            always,
            unsynced: false,
            incr_size,
        })
    }

    /// Appends one call's operations: several wrapped in MULTI/EXEC, a
    /// SELECT before any that changes database.
    pub fn record(&mut self, ops: &[Op]) {
        if ops.is_empty() {
            return;
        }
        let wrap = ops.len() > 1;
        if wrap {
            self.select(ops[0].0);
            encode(&mut self.buf, &[b"MULTI"]);
        }
        for (db, argv) in ops {
            self.select(*db);
            let args: Vec<&[u8]> = argv.iter().map(|a| a.as_ref()).collect();
            encode(&mut self.buf, &args);
        }
        if wrap {
            encode(&mut self.buf, &[b"EXEC"]);
        }
    }

    fn select(&mut self, db: usize) {
        if self.selected_db != Some(db) {
            let n = db.to_string();
            encode(&mut self.buf, &[b"SELECT", n.as_bytes()]);
            self.selected_db = Some(db);
        }
    }

    /// Writes what was recorded (and fsyncs under `appendfsync always`).
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        (&*self.file).write_all(&self.buf)?;
        self.incr_size += self.buf.len() as u64;
        self.buf.clear();
        if self.always {
            self.file.sync_data()?;
        } else {
            self.unsynced = true;
        }
        Ok(())
    }

    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

fn encode(out: &mut BytesMut, args: &[&[u8]]) {
    crate::resp::encode_request(args, out);
}

/// The manifest: the base file and the incremental files, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    pub base: Option<(String, u64)>,
    pub incrs: Vec<(String, u64)>,
    /// Files a previous rewrite replaced, to delete.
    pub history: Vec<String>,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let mut m = Manifest::default();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words.len().is_multiple_of(2) {
                return Err("Invalid AOF manifest file format".into());
            }
            let (mut name, mut seq, mut kind) = (None, None, None);
            for pair in words.chunks(2) {
                match pair[0] {
                    "file" => name = Some(pair[1].to_string()),
                    "seq" => seq = pair[1].parse::<u64>().ok(),
                    "type" => kind = Some(pair[1]),
                    _ => {}
                }
            }
            let (Some(name), Some(seq), Some(kind)) = (name, seq, kind) else {
                return Err("Invalid AOF manifest file format".into());
            };
            match kind {
                "b" => {
                    if m.base.is_some() {
                        return Err("Found duplicate base file information".into());
                    }
                    m.base = Some((name, seq));
                }
                "i" => m.incrs.push((name, seq)),
                "h" => m.history.push(name),
                _ => return Err(format!("Unknown AOF file type {kind}")),
            }
        }
        Ok(m)
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Some((name, seq)) = &self.base {
            out.push_str(&format!("file {name} seq {seq} type b\n"));
        }
        for name in &self.history {
            out.push_str(&format!("file {name} seq 0 type h\n"));
        }
        for (name, seq) in &self.incrs {
            out.push_str(&format!("file {name} seq {seq} type i\n"));
        }
        out
    }

    fn next_base_seq(&self) -> u64 {
        self.base.as_ref().map_or(0, |b| b.1) + 1
    }

    fn next_incr_seq(&self) -> u64 {
        self.incrs.iter().map(|i| i.1).max().unwrap_or(0) + 1
    }
}

/// A rewrite under way: its writer thread stands for Redis's rewrite child.
#[derive(Debug)]
pub struct Rewrite {
    pub started: Instant,
    /// The snapshot it writes: tells its finish from an abandoned writer's.
    snapshot: tandem_storage::snapshot::SnapshotId,
    /// Set to make the writer abandon its snapshot and file.
    cancel: Arc<AtomicBool>,
}

impl Rewrite {
    /// Stops the writer (appendonly no, a new dataset after a full sync):
    /// it abandons its snapshot within 100 ms and removes its file.
    pub fn cancel(self) {
        info!("Killing running AOF rewrite child (the rewrite thread)");
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// AOF facts INFO reports and the rewrite under way, under the data lock.
#[derive(Debug)]
pub struct AofState {
    pub manifest: Manifest,
    /// The rewrite running, if any.
    pub rewrite: Option<Rewrite>,
    pub rewrite_scheduled: bool,
    pub last_rewrite_secs: i64,
    pub last_rewrite_ok: bool,
    pub rewrites: u64,
    pub consecutive_failures: u64,
    pub last_write_ok: bool,
    /// Size of the AOF after the last rewrite (the automatic rewrite's base).
    pub base_size: u64,
    /// Size of the base file.
    pub base_file_size: u64,
    /// A cloned handle of the current incremental file, for `everysec`.
    sync_file: Option<Arc<File>>,
    last_fsync: Option<Instant>,
}

impl Default for AofState {
    fn default() -> Self {
        AofState {
            manifest: Manifest::default(),
            rewrite: None,
            rewrite_scheduled: false,
            last_rewrite_secs: -1,
            last_rewrite_ok: true,
            rewrites: 0,
            consecutive_failures: 0,
            last_write_ok: true,
            base_size: 0,
            base_file_size: 0,
            sync_file: None,
            last_fsync: None,
        }
    }
}

struct Paths {
    dir: PathBuf,
    name: String,
    always: bool,
}

fn paths(server: &Server) -> Paths {
    let c = server.config.read();
    Paths {
        dir: Path::new(&c.dir).join(
            c.value("appenddirname")
                .unwrap_or_else(|| "appendonlydir".into()),
        ),
        name: c
            .value("appendfilename")
            .unwrap_or_else(|| "appendonly.aof".into()),
        always: c.value("appendfsync").as_deref() == Some("always"),
    }
}

pub fn enabled_in_config(server: &Server) -> bool {
    server.config.read().flag("appendonly").unwrap_or(false)
}

fn manifest_path(p: &Paths) -> PathBuf {
    p.dir.join(format!("{}.manifest", p.name))
}

fn read_manifest(p: &Paths) -> Result<Option<Manifest>, String> {
    match std::fs::read_to_string(manifest_path(p)) {
        Ok(text) => Manifest::parse(&text).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("Can't open the AOF manifest file: {e}")),
    }
}

/// Writes the manifest to a temporary file and renames it into place.
fn persist_manifest(p: &Paths, m: &Manifest) -> std::io::Result<()> {
    std::fs::create_dir_all(&p.dir)?;
    let temp = p.dir.join(format!("temp-{}.manifest", p.name));
    let mut f = File::create(&temp)?;
    f.write_all(m.render().as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&temp, manifest_path(p))?;
    if let Ok(d) = File::open(&p.dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Loads the AOF named by the manifest into `data` (at startup, DEBUG
/// LOADAOF). `Ok(false)` when there is no AOF.
pub fn load(server: &Server, data: &mut Data) -> Result<bool, String> {
    let p = paths(server);
    let Some(manifest) = read_manifest(&p)? else {
        return Ok(false);
    };
    let started = Instant::now();
    let truncated_ok = server
        .config
        .read()
        .flag("aof-load-truncated")
        .unwrap_or(true);
    let mut client = crate::replica::master_client(server, None);
    let total = manifest.base.iter().count() + manifest.incrs.len();
    let mut loaded_any = false;
    let files = manifest
        .base
        .iter()
        .map(|b| (b.0.clone(), true))
        .chain(manifest.incrs.iter().map(|i| (i.0.clone(), false)));
    for (index, (name, is_base)) in files.enumerate() {
        let path = p.dir.join(&name);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut f) => f
                .read_to_end(&mut bytes)
                .map_err(|e| format!("Can't read the append only file {name}: {e}"))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !is_base => {
                // Redis 7.0 tolerates a missing last incremental file only.
                if index + 1 == total {
                    continue;
                }
                return Err(format!("The AOF file {name} doesn't exist"));
            }
            Err(e) => return Err(format!("The AOF file {name} can't be opened: {e}")),
        };
        loaded_any = true;
        if bytes.starts_with(b"REDIS") {
            load_rdb_base(server, data, &bytes, &name)?;
            if is_base {
                data.aof.base_file_size = bytes.len() as u64;
            }
            continue;
        }
        let last = index + 1 == total;
        let valid = replay(server, data, &mut client, &bytes);
        if valid < bytes.len() {
            if last && truncated_ok {
                warn!("!!! Warning: short read while loading the AOF file {name}!!! (pos {valid})");
                warn!("AOF {name} loaded anyway because aof-load-truncated is enabled");
                if let Ok(f) = OpenOptions::new().write(true).open(&path) {
                    let _ = f.set_len(valid as u64);
                }
            } else {
                return Err(format!(
                    "Bad file format reading the append only file {name}: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>"
                ));
            }
        }
        if is_base {
            data.aof.base_file_size = bytes.len() as u64;
        }
    }
    // A transaction cut off at the end is dropped, as Redis reverts it.
    client.multi = None;
    if loaded_any {
        info!(
            "DB loaded from append only file: {:.3} seconds",
            started.elapsed().as_secs_f64()
        );
    }
    data.aof.manifest = manifest;
    Ok(loaded_any)
}

fn load_rdb_base(server: &Server, data: &mut Data, bytes: &[u8], name: &str) -> Result<(), String> {
    let opts = crate::persist::startup_load_options(server);
    let summary = rdb::load(BufReader::new(bytes), &mut data.keyspace, &opts)
        .map_err(|e| format!("Bad file format reading the append only file {name}: {e}"))?;
    info!(
        "Done loading RDB, keys loaded: {}, keys expired: {}.",
        summary.keys_loaded, summary.keys_expired
    );
    crate::persist::load_functions(data, &summary.functions);
    Ok(())
}

/// Runs the commands in `bytes`; returns how many bytes held whole
/// commands (less than the length when the file ends mid-command or holds
/// garbage).
fn replay(
    server: &Server,
    data: &mut Data,
    client: &mut crate::client::ClientState,
    bytes: &[u8],
) -> usize {
    let limits = crate::resp::RequestLimits::default();
    let mut buf = BytesMut::from(bytes);
    let mut consumed = 0;
    loop {
        // Timestamp annotations (`#TS:...`) are comments.
        if buf.first() == Some(&b'#') {
            let Some(end) = buf.iter().position(|&b| b == b'\n') else {
                return consumed;
            };
            let _ = buf.split_to(end + 1);
            consumed += end + 1;
            continue;
        }
        if buf.is_empty() {
            return consumed;
        }
        if buf.first() != Some(&b'*') {
            return consumed;
        }
        let before = buf.len();
        match crate::resp::parse_request(&mut buf, &limits) {
            Ok(Some(argv)) => {
                consumed += before - buf.len();
                if argv.is_empty() {
                    continue;
                }
                let mut ops = Vec::new();
                let now = unix_ms();
                let _ = crate::exec::run_command(server, data, client, &argv, now, false, &mut ops);
            }
            Ok(None) | Err(_) => return consumed,
        }
    }
}

/// At startup with `appendonly yes`: loads the AOF (never the RDB, as Redis
/// 7.0), then opens it for writing, creating a base of the (empty) dataset
/// when there is no AOF yet.
pub fn start_at_boot(server: &Server) -> Result<(), String> {
    let p = paths(server);
    let mut data = server.lock_data();
    for name in read_manifest(&p)?.map(|m| m.history).unwrap_or_default() {
        let _ = std::fs::remove_file(p.dir.join(name));
    }
    load(server, &mut data)?;
    data.dirty_at_last_save = data.keyspace.dirty();
    std::fs::create_dir_all(&p.dir)
        .map_err(|e| format!("Can't create the AOF directory {}: {e}", p.dir.display()))?;
    let mut manifest = data.aof.manifest.clone();
    manifest.history.clear();
    if manifest.base.is_none() && manifest.incrs.is_empty() {
        let seq = manifest.next_base_seq();
        let name = format!("{}.{seq}.base.rdb", p.name);
        let options = crate::persist::payload_options(&server.config.read());
        write_base_now(&data, &p.dir.join(&name), options)
            .map_err(|e| format!("Can't write the AOF base file {name}: {e}"))?;
        manifest.base = Some((name, seq));
    }
    if manifest.incrs.is_empty() {
        let seq = manifest.next_incr_seq();
        manifest
            .incrs
            .push((format!("{}.{seq}.incr.aof", p.name), seq));
    }
    let Some((incr, _)) = manifest.incrs.last().cloned() else {
        return Err("no incremental AOF file".into());
    };
    let log = AofLog::open(&p.dir.join(&incr), p.always)
        .map_err(|e| format!("Can't open the append-only file {incr}: {e}"))?;
    persist_manifest(&p, &manifest).map_err(|e| format!("Can't persist the AOF manifest: {e}"))?;
    data.aof.sync_file = Some(log.file.clone());
    data.aof.base_size = total_size(&p, &manifest);
    data.aof.manifest = manifest;
    data.repl.aof = Some(Box::new(log));
    Ok(())
}

fn write_base_now(data: &Data, path: &Path, options: rdb::RdbOptions) -> std::io::Result<()> {
    let file = File::create(path)?;
    let mut aux = crate::persist::data_aux(data);
    aux.aof_base = true;
    let sink = rdb::save(BufWriter::new(file), &data.keyspace, &aux, options)?;
    sink.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn total_size(p: &Paths, m: &Manifest) -> u64 {
    m.base
        .iter()
        .chain(m.incrs.iter())
        .filter_map(|(name, _)| std::fs::metadata(p.dir.join(name)).ok())
        .map(|md| md.len())
        .sum()
}

/// BGREWRITEAOF, the automatic rewrite and the one after a full sync: see
/// the module docs. With the AOF off it writes a new base alone (recording
/// stays off and the old incremental files leave the manifest), as Redis does.
pub fn start_rewrite(server: &Server, data: &mut Data) -> Result<(), String> {
    rewrite(server, data, false)
}

/// Starts a rewrite; `turning_on` (`appendonly yes`) also starts recording.
fn rewrite(server: &Server, data: &mut Data, turning_on: bool) -> Result<(), String> {
    if data.aof.rewrite.is_some() {
        return Err("ERR Background append only file rewriting already in progress".into());
    }
    if server.arc().is_none() {
        return Err("ERR server is shutting down".into());
    }
    let p = paths(server);
    let fail = |data: &mut Data, e: std::io::Error| {
        data.aof.last_rewrite_ok = false;
        data.aof.consecutive_failures += 1;
        warn!("Can't rewrite the append only file: {e}");
        format!("ERR Can't rewrite the append only file: {e}")
    };
    if let Err(e) = std::fs::create_dir_all(&p.dir) {
        return Err(fail(data, e));
    }
    let was_on = data.repl.aof.is_some();
    if let Some(log) = data.repl.aof.as_mut() {
        let _ = log.flush();
    }
    let seq = data.aof.manifest.next_incr_seq();
    let incr = format!("{}.{seq}.incr.aof", p.name);
    if !was_on && !turning_on {
        // Named after the increment it would have opened, which no manifest
        // lists: finishing drops every incremental file.
        return spawn_rewrite(server, data, &p, incr);
    }
    let log = match AofLog::open(&p.dir.join(&incr), p.always) {
        Ok(log) => log,
        Err(e) => return Err(fail(data, e)),
    };
    if was_on {
        // Listed at once: a crash before the base is done replays the old
        // files, then this one.
        let mut manifest = data.aof.manifest.clone();
        manifest.incrs.push((incr.clone(), seq));
        if let Err(e) = persist_manifest(&p, &manifest) {
            let _ = std::fs::remove_file(p.dir.join(&incr));
            return Err(fail(data, e));
        }
        data.aof.manifest = manifest;
    } else {
        data.aof.manifest.incrs.push((incr.clone(), seq));
    }
    data.aof.sync_file = Some(log.file.clone());
    data.repl.aof = Some(Box::new(log));
    spawn_rewrite(server, data, &p, incr)
}

/// Takes the snapshot and starts the thread that writes it as the new base.
fn spawn_rewrite(server: &Server, data: &mut Data, p: &Paths, incr: String) -> Result<(), String> {
    let Some(arc) = server.arc() else {
        return Err("ERR server is shutting down".into());
    };
    let (id, sizes) = data.keyspace.start_snapshot();
    let mut aux = crate::persist::data_aux(data);
    aux.aof_base = true;
    let cancel = Arc::new(AtomicBool::new(false));
    data.aof.rewrite = Some(Rewrite {
        started: Instant::now(),
        snapshot: id,
        cancel: cancel.clone(),
    });
    data.aof.rewrite_scheduled = false;
    // One name per rewrite: an abandoned writer may still be winding down.
    static REWRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let nth = REWRITES.fetch_add(1, Ordering::Relaxed);
    let temp = p.dir.join(format!(
        "temp-rewriteaof-bg-{}-{nth}.aof",
        std::process::id()
    ));
    let spawned = std::thread::Builder::new()
        .name("tandem-aofrw".into())
        .spawn(move || {
            crate::persist::lower_thread_priority();
            let result = (|| -> std::io::Result<u64> {
                let file = File::create(&temp)?;
                let sink = crate::persist::write_snapshot_cancellable(
                    &arc,
                    id,
                    &sizes,
                    &aux,
                    BufWriter::new(file),
                    &cancel,
                )?;
                let file = sink.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                Ok(file.metadata()?.len())
            })();
            finish_rewrite(&arc, result, &temp, &incr, id);
        });
    if spawned.is_err() {
        data.aof.rewrite = None;
        data.keyspace.cancel_snapshot(id);
        return Err("ERR could not start the AOF rewrite".into());
    }
    info!("Background append only file rewriting started");
    Ok(())
}

fn finish_rewrite(
    server: &Arc<Server>,
    result: std::io::Result<u64>,
    temp: &Path,
    incr: &str,
    id: tandem_storage::snapshot::SnapshotId,
) {
    let p = paths(server);
    let mut data = server.lock_data();
    let started = match &data.aof.rewrite {
        Some(r) if r.snapshot == id => r.started,
        // Cancelled (appendonly no) meanwhile.
        _ => {
            let _ = std::fs::remove_file(temp);
            return;
        }
    };
    data.aof.rewrite = None;
    data.aof.last_rewrite_secs = started.elapsed().as_secs() as i64;
    let outcome = result.and_then(|size| {
        let seq = data.aof.manifest.next_base_seq();
        let base = format!("{}.{seq}.base.rdb", p.name);
        std::fs::rename(temp, p.dir.join(&base))?;
        let mut manifest = data.aof.manifest.clone();
        let keep_from = manifest
            .incrs
            .iter()
            .position(|(name, _)| name == incr)
            .unwrap_or(manifest.incrs.len());
        let old: Vec<String> = manifest
            .base
            .iter()
            .map(|b| b.0.clone())
            .chain(manifest.incrs[..keep_from].iter().map(|i| i.0.clone()))
            .collect();
        manifest.incrs.drain(..keep_from);
        manifest.base = Some((base, seq));
        manifest.history.clear();
        persist_manifest(&p, &manifest)?;
        for name in old {
            let _ = std::fs::remove_file(p.dir.join(name));
        }
        data.aof.manifest = manifest;
        data.aof.base_file_size = size;
        Ok(size)
    });
    match outcome {
        Ok(size) => {
            let incr_size = data.repl.aof.as_ref().map_or(0, |l| l.incr_size);
            data.aof.base_size = size + incr_size;
            data.aof.last_rewrite_ok = true;
            data.aof.consecutive_failures = 0;
            data.aof.rewrites += 1;
            info!("Background AOF rewrite terminated with success");
            info!("Background AOF rewrite finished successfully");
        }
        Err(e) => {
            data.keyspace.cancel_snapshot(id);
            let _ = std::fs::remove_file(temp);
            data.aof.last_rewrite_ok = false;
            data.aof.consecutive_failures += 1;
            warn!("Background AOF rewrite failed: {e}");
        }
    }
    if std::mem::take(&mut data.aof.rewrite_scheduled) {
        let _ = start_rewrite(server, &mut data);
    }
}

/// `appendonly no` at run time: the file is flushed, synced and closed; a
/// rewrite under way is abandoned.
pub fn stop(data: &mut Data) {
    if let Some(mut log) = data.repl.aof.take() {
        let _ = log.flush();
        let _ = log.file.sync_data();
    }
    if let Some(rewrite) = data.aof.rewrite.take() {
        rewrite.cancel();
    }
    data.aof.sync_file = None;
}

/// `appendonly yes` at run time: a rewrite creates the base of the current
/// dataset and recording starts at once.
pub fn start(server: &Server, data: &mut Data) -> Result<(), String> {
    if data.repl.aof.is_some() {
        return Ok(());
    }
    data.aof.manifest = read_manifest(&paths(server))
        .ok()
        .flatten()
        .unwrap_or_default();
    rewrite(server, data, true)
}

/// Writes out what the last commands recorded (end of a batch).
pub fn flush(data: &mut Data) {
    if let Some(log) = data.repl.aof.as_mut() {
        if log.pending() > 0 {
            let ok = log.flush().is_ok();
            if !ok && data.aof.last_write_ok {
                warn!("Error writing to the AOF file");
            }
            data.aof.last_write_ok = ok;
        }
    }
}

/// The cron's share: flush, fsync once a second (`everysec`), and the
/// automatic rewrite (`auto-aof-rewrite-percentage` / `-min-size`).
pub fn cron(server: &Server) {
    let mut data = server.lock_data();
    if data.repl.aof.is_none() {
        return;
    }
    flush(&mut data);
    let due = data
        .aof
        .last_fsync
        .is_none_or(|t| t.elapsed().as_millis() >= 1000);
    let to_sync = match data.repl.aof.as_mut() {
        Some(log) if log.unsynced && due => {
            log.unsynced = false;
            data.aof.sync_file.clone()
        }
        _ => None,
    };
    if to_sync.is_some() {
        data.aof.last_fsync = Some(Instant::now());
    }
    let (percentage, min_size) = {
        let c = server.config.read();
        (
            c.number("auto-aof-rewrite-percentage").unwrap_or(100),
            c.number("auto-aof-rewrite-min-size").unwrap_or(64 << 20),
        )
    };
    if percentage > 0 && data.aof.rewrite.is_none() {
        let size = data.aof.base_file_size + data.repl.aof.as_ref().map_or(0, |l| l.incr_size);
        let base = data.aof.base_size.max(1);
        if size as i64 >= min_size && (size.saturating_sub(base) * 100 / base) as i64 >= percentage
        {
            info!(
                "Starting automatic rewriting of AOF on {}% growth",
                (size.saturating_sub(base) * 100 / base)
            );
            let _ = start_rewrite(server, &mut data);
        }
    }
    drop(data);
    if let Some(file) = to_sync {
        let _ = file.sync_data();
    }
}

/// At shutdown: everything recorded reaches the disk.
pub fn flush_and_sync(data: &mut Data) {
    if let Some(log) = data.repl.aof.as_mut() {
        info!("Calling fsync() on the AOF file.");
        let _ = log.flush();
        let _ = log.file.sync_data();
    }
}

/// DEBUG LOADAOF: flush, empty the dataset and load the AOF again.
pub fn debug_loadaof(server: &Server, data: &mut Data) -> Result<(), String> {
    if let Some(log) = data.repl.aof.as_mut() {
        log.flush().map_err(|e| e.to_string())?;
        let _ = log.file.sync_data();
    }
    let aof = data.repl.aof.take();
    data.keyspace.clear();
    let result = load(server, data);
    data.repl.aof = aof;
    result.map(|_| ())?;
    warn!("Append Only File loaded by DEBUG LOADAOF");
    Ok(())
}

/// INFO persistence's AOF fields.
pub fn info_fields(data: &Data) -> Vec<(&'static str, String)> {
    let a = &data.aof;
    let on = data.repl.aof.is_some();
    let mut out = vec![
        ("aof_enabled", u8::from(on).to_string()),
        (
            "aof_rewrite_in_progress",
            u8::from(a.rewrite.is_some()).to_string(),
        ),
        (
            "aof_rewrite_scheduled",
            u8::from(a.rewrite_scheduled).to_string(),
        ),
        ("aof_last_rewrite_time_sec", a.last_rewrite_secs.to_string()),
        (
            "aof_current_rewrite_time_sec",
            a.rewrite
                .as_ref()
                .map_or(-1, |r| r.started.elapsed().as_secs() as i64)
                .to_string(),
        ),
        (
            "aof_last_bgrewrite_status",
            if a.last_rewrite_ok { "ok" } else { "err" }.into(),
        ),
        ("aof_rewrites", a.rewrites.to_string()),
        (
            "aof_rewrites_consecutive_failures",
            a.consecutive_failures.to_string(),
        ),
        (
            "aof_last_write_status",
            if a.last_write_ok { "ok" } else { "err" }.into(),
        ),
        ("aof_last_cow_size", "0".into()),
        ("module_fork_in_progress", "0".into()),
        ("module_fork_last_cow_size", "0".into()),
    ];
    if let Some(log) = &data.repl.aof {
        out.extend([
            (
                "aof_current_size",
                (a.base_file_size + log.incr_size).to_string(),
            ),
            ("aof_base_size", a.base_size.to_string()),
            (
                "aof_pending_rewrite",
                u8::from(a.rewrite_scheduled).to_string(),
            ),
            ("aof_buffer_length", log.pending().to_string()),
            ("aof_pending_bio_fsync", "0".into()),
            ("aof_delayed_fsync", "0".into()),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    #[test]
    fn manifest_round_trips_and_rejects_garbage() {
        let text = "file appendonly.aof.2.base.rdb seq 2 type b\nfile appendonly.aof.3.incr.aof seq 3 type i\nfile appendonly.aof.4.incr.aof seq 4 type i\n";
        let m = Manifest::parse(text).expect("valid");
        assert_eq!(m.base, Some(("appendonly.aof.2.base.rdb".into(), 2)));
        assert_eq!(m.incrs.len(), 2);
        assert_eq!(m.render(), text);
        assert_eq!(m.next_base_seq(), 3);
        assert_eq!(m.next_incr_seq(), 5);
        assert!(Manifest::parse("file x seq").is_err());
        assert!(Manifest::parse("file x seq 1 type q").is_err());
        assert!(Manifest::parse("file a seq 1 type b\nfile b seq 2 type b").is_err());
    }

    #[test]
    fn log_selects_and_wraps_transactions() {
        let dir = std::env::temp_dir().join(format!("tandem-aof-unit-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("x.aof");
        let _ = std::fs::remove_file(&path);
        let mut log = AofLog::open(&path, false).expect("open");
        log.record(&[(0, argv(&["SET", "a", "1"]))]);
        log.record(&[(0, argv(&["SET", "b", "2"])), (0, argv(&["DEL", "a"]))]);
        log.record(&[(2, argv(&["INCR", "c"]))]);
        log.flush().expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let expected = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n\
*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\na\r\n*1\r\n$4\r\nEXEC\r\n\
*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n";
        assert_eq!(text, expected);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
