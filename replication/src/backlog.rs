//! The replication backlog: a ring over a memory mapping holding the newest
//! bytes of the replication stream, so a replica that reconnects can continue
//! with PSYNC, and so replica senders can write slices of the mapping straight
//! to their sockets (the stream is never copied per replica).
//!
//! # Offset convention
//!
//! A [`ReplOffset`] is a stream *position*: the number of stream bytes before
//! a point. The first byte ever produced is at position 0, and
//! [`Backlog::end_offset`] (one past the last byte held) equals Redis's
//! `master_repl_offset`. Redis numbers bytes from 1, so its
//! `repl_backlog_first_byte_offset` is `start_offset() + 1`
//! ([`Backlog::info_first_byte_offset`]) and a `PSYNC <id> <n>` asks for the
//! bytes from position `n - 1` on.
//!
//! # Invariants
//!
//! - `start_offset() <= end_offset()` and `end_offset() - start_offset() <= size()`.
//! - The byte at position `p` (for `start <= p < end`) lives at index
//!   `p % size` of the ring, so positions never move while held.
//! - Offsets only grow through [`Backlog::append`]; [`Backlog::clear`] and
//!   [`Backlog::reset`] are the only ways to drop history.
//!
//! # File-backed rings
//!
//! [`Backlog::file_backed`] maps a file laid out as one header page
//! ([`HEADER_LEN`] bytes) followed by the ring. The header holds two slots,
//! written alternately with a sequence number and a checksum, each recording
//! magic, version, size, start offset, end offset and replication id. An
//! append that overwrites old bytes first commits the advanced start offset,
//! then writes the bytes, then commits the new end offset, so after a crash
//! at any point the newest valid slot only claims bytes that are intact. The
//! ring survives a process crash (the page cache holds it); it survives an
//! operating-system crash only as far as the last [`Backlog::flush`].
//! Nothing else may write the file while it is open.
//!
//! # Zero-copy senders
//!
//! [`Backlog::share`] hands a replica's sender a [`SharedSpan`]: the bytes
//! from an offset on, as slices of the mapping itself, which it writes to its
//! socket without holding any lock and without copying them. The mapping
//! lives in a reference-counted region that a span keeps alive; the backlog
//! records every span in flight, and before it writes ring bytes that a
//! span covers (a sender so far behind that the ring wrapped onto it, or a
//! reset), it moves to a fresh region, leaving the old one to the spans
//! until they drop. So the bytes of a live span never change.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use memmap2::MmapMut;

use crate::ids::{ReplId, ReplOffset, REPL_ID_LEN};

/// Length of the header page in front of a file-backed ring.
pub const HEADER_LEN: usize = 4096;

const MAGIC: [u8; 8] = *b"TNDMBKLG";
const VERSION: u32 = 1;
/// Bytes between the starts of the two header slots.
const SLOT_STRIDE: usize = 128;
/// Bytes of a slot covered by its checksum.
const SLOT_BODY: usize = 88;

/// Errors from creating, opening, resizing or flushing a backlog.
#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    /// A ring needs room for at least one byte.
    #[error("a backlog needs a size of at least 1 byte")]
    ZeroSize,
    /// The requested size does not fit the address space.
    #[error("a backlog of {size} bytes does not fit this platform's address space")]
    TooLarge {
        /// The size asked for.
        size: u64,
    },
    /// The anonymous mapping could not be created.
    #[error("cannot map {len} bytes of memory for the backlog: {source}")]
    Map {
        /// Bytes asked for.
        len: usize,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The backing file could not be opened, sized, mapped, written or renamed.
    #[error("backlog file {}: {source}", path.display())]
    File {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
}

/// A span of stream positions `[start, end)` held by a backlog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetRange {
    /// Position of the first byte held.
    pub start: ReplOffset,
    /// One past the last byte held.
    pub end: ReplOffset,
}

impl OffsetRange {
    /// Whether a sender can continue from `offset`: `start <= offset <= end`
    /// (`offset == end` means "nothing to send yet").
    pub fn contains(&self, offset: ReplOffset) -> bool {
        self.start <= offset && offset <= self.end
    }

    /// Number of bytes held.
    pub fn len(&self) -> u64 {
        self.end.0.saturating_sub(self.start.0)
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// What [`Backlog::file_backed`] found in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// There was no file (or it was empty): a fresh, empty ring at offset 0.
    Created,
    /// The header was valid: the ring holds what it held before. If the file
    /// was sized differently, the newest bytes that fit were kept.
    Restored {
        /// The id recorded with [`Backlog::set_replid`], if any.
        replid: Option<ReplId>,
        /// The positions held after reopening (and resizing).
        range: OffsetRange,
        /// The ring size recorded in the file.
        previous_size: usize,
    },
    /// The file could not be trusted; it was reinitialised as a fresh, empty
    /// ring at offset 0.
    Discarded {
        /// Why, for the log.
        reason: String,
    },
}

/// A mapping shared by the backlog (its only writer) and the spans handed
/// to senders.
#[derive(Debug)]
struct Region {
    /// Owns the mapping. Its bytes are reached only through `base`, so the
    /// writer's stores and the spans' reads each cover just their own bytes.
    map: MmapMut,
    base: *mut u8,
    len: usize,
    /// The byte ranges (index in the mapping, length) of live spans, by token.
    in_flight: Mutex<BTreeMap<u64, [(usize, usize); 2]>>,
    /// How many spans are live: the writer's check skips the mutex at 0.
    /// Spans are only created under `&Backlog` (never during a write), so a
    /// count read by the writer is 0 only when no span can be live.
    live: std::sync::atomic::AtomicUsize,
    next_token: AtomicU64,
}

// SAFETY: `base` points into `map`, which the region owns and which lives as
// long as it; the only writes go through `&mut Backlog` to bytes no live
// span covers (see `Backlog::write_region`), and spans only read.
unsafe impl Send for Region {}
// SAFETY: as above; shared access is reads of span bytes plus the mutex.
unsafe impl Sync for Region {}

impl Region {
    fn new(mut map: MmapMut) -> Arc<Region> {
        let base = map.as_mut_ptr();
        let len = map.len();
        Arc::new(Region {
            map,
            base,
            len,
            in_flight: Mutex::new(BTreeMap::new()),
            live: std::sync::atomic::AtomicUsize::new(0),
            next_token: AtomicU64::new(0),
        })
    }

    /// Shared view of `len` bytes from `at`.
    fn bytes(&self, at: usize, len: usize) -> &[u8] {
        assert!(
            at <= self.len && len <= self.len - at,
            "range inside the mapping"
        );
        // SAFETY: in bounds (checked); the bytes are not written while this
        // borrow lives: the backlog writes only through `&mut self`, which a
        // borrow of it excludes, and never writes bytes a span covers.
        unsafe { std::slice::from_raw_parts(self.base.add(at), len) }
    }

    /// Whether any live span covers a byte of `[at, at + len)`.
    fn covered(&self, at: usize, len: usize) -> bool {
        if self.live.load(Ordering::Acquire) == 0 {
            return false;
        }
        let spans = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        spans
            .values()
            .flatten()
            .any(|&(a, l)| l > 0 && len > 0 && a < at + len && at < a + l)
    }
}

/// Stream bytes handed to a sender: slices of the backlog's mapping that stay
/// unchanged while the span lives (see the module docs).
#[derive(Debug)]
pub struct SharedSpan {
    region: Arc<Region>,
    token: u64,
    parts: [(usize, usize); 2],
    from: ReplOffset,
}

impl SharedSpan {
    /// The bytes, in stream order (the second slice is empty unless the span
    /// wraps around the ring).
    pub fn slices(&self) -> (&[u8], &[u8]) {
        let [(a, la), (b, lb)] = self.parts;
        (self.region.bytes(a, la), self.region.bytes(b, lb))
    }

    /// Number of bytes.
    pub fn len(&self) -> usize {
        self.parts[0].1 + self.parts[1].1
    }

    /// Whether the span holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The stream position of the first byte.
    pub fn from(&self) -> ReplOffset {
        self.from
    }
}

impl Drop for SharedSpan {
    fn drop(&mut self) {
        let mut spans = self
            .region
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        spans.remove(&self.token);
        self.region.live.fetch_sub(1, Ordering::Release);
    }
}

/// The replication backlog ring. See the module docs for the offset
/// convention and the invariants.
#[derive(Debug)]
pub struct Backlog {
    region: Arc<Region>,
    /// Index of the ring's first byte in `map` (0, or [`HEADER_LEN`]).
    data_at: usize,
    size: usize,
    start: u64,
    end: u64,
    file: Option<FileState>,
}

#[derive(Debug)]
struct FileState {
    path: PathBuf,
    /// Kept open for the life of the mapping; the mapping does not need it,
    /// but holding it documents that the file is ours.
    _file: File,
    replid: Option<ReplId>,
    seq: u64,
}

/// The fields a header slot records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Header {
    seq: u64,
    size: u64,
    start: u64,
    end: u64,
    replid: Option<ReplId>,
}

impl Backlog {
    /// An empty ring of `size` bytes over an anonymous mapping, at offset 0.
    pub fn new(size: usize) -> Result<Backlog, BacklogError> {
        Ok(Backlog {
            region: Region::new(map_anon(size)?),
            data_at: 0,
            size,
            start: 0,
            end: 0,
            file: None,
        })
    }

    /// A ring of `size` bytes mapped from the file at `path`, created if
    /// missing. An existing file with a valid header is reopened with its
    /// contents (see [`Recovery`]); one that is corrupt or of another format
    /// or version is reinitialised empty, with the reason reported.
    pub fn file_backed(path: &Path, size: usize) -> Result<(Backlog, Recovery), BacklogError> {
        let file_len = file_len_for(size)?;
        let file_err = |source| BacklogError::File {
            path: path.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(file_err)?;
        let existing = file.metadata().map_err(file_err)?.len();
        if existing == 0 {
            let backlog = Backlog::init_file(path, file, file_len, size)?;
            return Ok((backlog, Recovery::Created));
        }
        let map = map_file(path, &file)?;
        match Backlog::validate(&map, existing) {
            Ok(header) => {
                let previous_size = usize::try_from(header.size)
                    .expect("validate checked the size against the file length");
                let mut backlog = Backlog {
                    region: Region::new(map),
                    data_at: HEADER_LEN,
                    size: previous_size,
                    start: header.start,
                    end: header.end,
                    file: Some(FileState {
                        path: path.to_path_buf(),
                        _file: file,
                        replid: header.replid,
                        seq: header.seq,
                    }),
                };
                if previous_size != size {
                    backlog.resize(size)?;
                }
                let recovery = Recovery::Restored {
                    replid: header.replid,
                    range: backlog.range(),
                    previous_size,
                };
                Ok((backlog, recovery))
            }
            Err(reason) => {
                drop(map);
                file.set_len(0).map_err(file_err)?;
                let backlog = Backlog::init_file(path, file, file_len, size)?;
                Ok((backlog, Recovery::Discarded { reason }))
            }
        }
    }

    /// Sizes `file` for a ring of `size`, maps it and commits an empty header.
    fn init_file(
        path: &Path,
        file: File,
        file_len: u64,
        size: usize,
    ) -> Result<Backlog, BacklogError> {
        preallocate(path, &file, file_len)?;
        let map = map_file(path, &file)?;
        let mut backlog = Backlog {
            region: Region::new(map),
            data_at: HEADER_LEN,
            size,
            start: 0,
            end: 0,
            file: Some(FileState {
                path: path.to_path_buf(),
                _file: file,
                replid: None,
                seq: 0,
            }),
        };
        backlog.commit(0, 0);
        Ok(backlog)
    }

    /// Picks the newest valid header slot and checks it against the file.
    fn validate(map: &[u8], file_len: u64) -> Result<Header, String> {
        if map.len() < HEADER_LEN {
            return Err(format!(
                "the file is {file_len} bytes, shorter than the {HEADER_LEN}-byte header"
            ));
        }
        let slots = [
            read_slot(&map[..SLOT_STRIDE]),
            read_slot(&map[SLOT_STRIDE..2 * SLOT_STRIDE]),
        ];
        let header = match slots {
            [Ok(a), Ok(b)] => {
                if a.seq >= b.seq {
                    a
                } else {
                    b
                }
            }
            [Ok(h), Err(_)] | [Err(_), Ok(h)] => h,
            [Err(a), Err(_)] => return Err(a),
        };
        let expected_len = u64::try_from(HEADER_LEN)
            .ok()
            .and_then(|h| h.checked_add(header.size));
        if header.size == 0 || expected_len != Some(file_len) {
            return Err(format!(
                "the header records a ring of {} bytes but the file is {file_len} bytes",
                header.size
            ));
        }
        if usize::try_from(header.size).is_err() {
            return Err(format!(
                "a ring of {} bytes does not fit in memory",
                header.size
            ));
        }
        if header.start > header.end || header.end - header.start > header.size {
            return Err(format!(
                "the header's offsets are inconsistent (start {}, end {}, size {})",
                header.start, header.end, header.size
            ));
        }
        Ok(header)
    }

    /// Ring size in bytes (`repl-backlog-size`).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Position of the first byte held.
    pub fn start_offset(&self) -> ReplOffset {
        ReplOffset(self.start)
    }

    /// One past the last byte held: Redis's `master_repl_offset`.
    pub fn end_offset(&self) -> ReplOffset {
        ReplOffset(self.end)
    }

    /// The positions held.
    pub fn range(&self) -> OffsetRange {
        OffsetRange {
            start: self.start_offset(),
            end: self.end_offset(),
        }
    }

    /// INFO `repl_backlog_first_byte_offset`: Redis's 1-based number of the
    /// first byte held, `start_offset() + 1`.
    pub fn info_first_byte_offset(&self) -> u64 {
        self.start.saturating_add(1)
    }

    /// INFO `repl_backlog_histlen`: bytes held.
    pub fn histlen(&self) -> u64 {
        self.end - self.start
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Whether a sender can continue from `offset` (`start <= offset <= end`).
    pub fn contains(&self, offset: ReplOffset) -> bool {
        self.range().contains(offset)
    }

    /// The bytes from `offset` to the end, as at most two slices of the
    /// mapping in stream order (the second is empty unless the span wraps).
    /// `None` when the ring no longer (or not yet) holds `offset`.
    pub fn slices_from(&self, offset: ReplOffset) -> Option<(&[u8], &[u8])> {
        if !self.contains(offset) {
            return None;
        }
        let len = usize::try_from(self.end - offset.0).expect("at most `size` bytes are held");
        let [(a, la), (b, lb)] = self.parts_of(offset.0, len);
        Some((self.region.bytes(a, la), self.region.bytes(b, lb)))
    }

    /// Up to `max` bytes from `offset` on, as a [`SharedSpan`] a sender may
    /// hold without borrowing the backlog (see the module docs). `None` when
    /// the ring no longer (or not yet) holds `offset`.
    pub fn share(&self, offset: ReplOffset, max: usize) -> Option<SharedSpan> {
        if !self.contains(offset) {
            return None;
        }
        let held = usize::try_from(self.end - offset.0).expect("at most `size` bytes are held");
        let parts = self.parts_of(offset.0, held.min(max));
        let token = self.region.next_token.fetch_add(1, Ordering::Relaxed);
        self.region.live.fetch_add(1, Ordering::AcqRel);
        self.region
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token, parts);
        Some(SharedSpan {
            region: Arc::clone(&self.region),
            token,
            parts,
            from: offset,
        })
    }

    /// Where the `len` held bytes from position `offset` lie in the mapping:
    /// (index, length) of the part up to the ring's end, then the wrapped part.
    fn parts_of(&self, offset: u64, len: usize) -> [(usize, usize); 2] {
        let at = self.index_of(offset);
        let first = len.min(self.size - at);
        [(self.data_at + at, first), (self.data_at, len - first)]
    }

    /// Stores `bytes` (at most `size` of them) into the ring from ring index
    /// `at`, wrapping. Bytes a live span covers are never written: the ring
    /// first moves to a fresh region, copying what it holds.
    fn write_ring_at(&mut self, at: usize, bytes: &[u8]) {
        let first = bytes.len().min(self.size - at);
        let targets = [
            (self.data_at + at, first),
            (self.data_at, bytes.len() - first),
        ];
        if targets.iter().any(|&(a, l)| self.region.covered(a, l)) {
            // Ignoring a failure here would let a sender read bytes as they
            // change; without a new mapping the ring cannot go on at all.
            self.rebuild(self.size)
                .expect("a fresh mapping for the backlog ring");
        }
        self.write_region(self.data_at + at, &bytes[..first]);
        self.write_region(self.data_at, &bytes[first..]);
    }

    /// Stores `bytes` at mapping index `at`.
    fn write_region(&mut self, at: usize, bytes: &[u8]) {
        let region = &self.region;
        assert!(
            at <= region.len && bytes.len() <= region.len - at,
            "range inside the mapping"
        );
        // SAFETY: in bounds (checked); `&mut self` makes this the only
        // writer, and callers never target bytes a live span covers, so no
        // reference to these bytes exists meanwhile.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), region.base.add(at), bytes.len());
        }
    }

    /// Appends stream bytes; the ring keeps the newest `size()` of them.
    pub fn append(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let n = u64::try_from(bytes.len()).expect("a slice length fits u64");
        let new_end = self.end.saturating_add(n);
        let kept = &bytes[bytes.len().saturating_sub(self.size)..];
        let kept_from = new_end - u64::try_from(kept.len()).expect("a slice length fits u64");
        let new_start = self.start.max(new_end.saturating_sub(self.size as u64));
        if self.file.is_some() && new_start > self.start {
            // Release the bytes about to be overwritten before touching them.
            let end = self.end;
            self.commit(new_start.min(end), end);
        }
        let at = self.index_of(kept_from);
        self.write_ring_at(at, kept);
        self.start = new_start;
        self.end = new_end;
        if self.file.is_some() {
            self.commit(new_start, new_end);
        }
    }

    /// Drops every byte held; the end offset stays where it is.
    pub fn clear(&mut self) {
        self.start = self.end;
        self.commit_if_file();
    }

    /// Drops the bytes from `end` on, keeping those before it: the tail of an
    /// incomplete unit (half a `MULTI` block) found after a crash. `end` is
    /// clamped into the held range.
    pub fn truncate(&mut self, end: ReplOffset) {
        self.end = end.0.clamp(self.start, self.end);
        self.commit_if_file();
    }

    /// Drops every byte held and moves both offsets to `offset` (a replica
    /// after a full sync at `offset`, a new history).
    pub fn reset(&mut self, offset: ReplOffset) {
        self.start = offset.0;
        self.end = offset.0;
        self.commit_if_file();
    }

    /// Changes the ring size (CONFIG SET repl-backlog-size), keeping the newest
    /// bytes that fit. A file-backed ring is rewritten to a sibling file that
    /// then replaces the old one, so a crash leaves one of the two intact.
    pub fn resize(&mut self, new_size: usize) -> Result<(), BacklogError> {
        if new_size == self.size {
            return Ok(());
        }
        self.rebuild(new_size)
    }

    /// Moves the ring into a fresh mapping of `new_size` bytes, keeping the
    /// newest bytes that fit (live spans keep the old mapping alive).
    fn rebuild(&mut self, new_size: usize) -> Result<(), BacklogError> {
        let new_start = self.start.max(self.end.saturating_sub(new_size as u64));
        let (first, second) = self
            .slices_from(ReplOffset(new_start))
            .expect("new_start lies within the held range");
        match &self.file {
            None => {
                let mut map = map_anon(new_size)?;
                copy_into(&mut map, new_size, new_start, first, second);
                self.region = Region::new(map);
            }
            Some(state) => {
                let tmp = sibling_tmp(&state.path);
                let file_len = file_len_for(new_size)?;
                let file_err = |source| BacklogError::File {
                    path: tmp.clone(),
                    source,
                };
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .open(&tmp)
                    .map_err(file_err)?;
                preallocate(&tmp, &file, file_len)?;
                let mut map = map_file(&tmp, &file)?;
                copy_into(&mut map[HEADER_LEN..], new_size, new_start, first, second);
                let header = Header {
                    seq: state.seq + 1,
                    size: new_size as u64,
                    start: new_start,
                    end: self.end,
                    replid: state.replid,
                };
                write_slot(&mut map[..SLOT_STRIDE], &header);
                write_slot(&mut map[SLOT_STRIDE..2 * SLOT_STRIDE], &header);
                map.flush().map_err(file_err)?;
                std::fs::rename(&tmp, &state.path).map_err(file_err)?;
                let path = state.path.clone();
                self.region = Region::new(map);
                self.file = Some(FileState {
                    path,
                    _file: file,
                    replid: header.replid,
                    seq: header.seq,
                });
            }
        }
        self.size = new_size;
        self.start = new_start;
        Ok(())
    }

    /// Records which replication history the bytes belong to (the current id);
    /// a file-backed ring stores it in its header for the next start.
    pub fn set_replid(&mut self, replid: Option<ReplId>) {
        if let Some(state) = &mut self.file {
            state.replid = replid;
            self.commit(self.start, self.end);
        }
    }

    /// The id recorded by [`Backlog::set_replid`] (always `None` for an
    /// anonymous ring, which outlives no restart).
    pub fn replid(&self) -> Option<ReplId> {
        self.file.as_ref().and_then(|s| s.replid)
    }

    /// The backing file, if any.
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|s| s.path.as_path())
    }

    /// Writes a file-backed ring through to its file (msync); a no-op for an
    /// anonymous ring.
    pub fn flush(&self) -> Result<(), BacklogError> {
        match &self.file {
            Some(state) => self
                .region
                .map
                .flush()
                .map_err(|source| BacklogError::File {
                    path: state.path.clone(),
                    source,
                }),
            None => Ok(()),
        }
    }

    fn index_of(&self, offset: u64) -> usize {
        usize::try_from(offset % self.size as u64).expect("an index below `size` fits usize")
    }

    fn commit_if_file(&mut self) {
        if self.file.is_some() {
            self.commit(self.start, self.end);
        }
    }

    /// Writes the next header slot of a file-backed ring.
    fn commit(&mut self, start: u64, end: u64) {
        let Some(state) = &mut self.file else {
            return;
        };
        state.seq += 1;
        let header = Header {
            seq: state.seq,
            size: self.size as u64,
            start,
            end,
            replid: state.replid,
        };
        let slot = usize::from(state.seq % 2 == 1) * SLOT_STRIDE;
        // The fences keep the ring's stores and the header's in program order
        // (neither the compiler nor the CPU may reorder them), which is what
        // makes a process killed between any two stores leave a valid file.
        fence(Ordering::SeqCst);
        let mut bytes = [0u8; SLOT_STRIDE];
        write_slot(&mut bytes, &header);
        // The header page is never part of a span.
        self.write_region(slot, &bytes);
        fence(Ordering::SeqCst);
    }
}

fn map_anon(size: usize) -> Result<MmapMut, BacklogError> {
    if size == 0 {
        return Err(BacklogError::ZeroSize);
    }
    MmapMut::map_anon(size).map_err(|source| BacklogError::Map { len: size, source })
}

fn map_file(path: &Path, file: &File) -> Result<MmapMut, BacklogError> {
    // SAFETY: the file is this backlog's own (the module docs require that
    // nothing else writes it while it is open), it is never truncated while
    // mapped, and the mapping is only reached through `&self`/`&mut self`.
    unsafe { MmapMut::map_mut(file) }.map_err(|source| BacklogError::File {
        path: path.to_path_buf(),
        source,
    })
}

fn file_len_for(size: usize) -> Result<u64, BacklogError> {
    if size == 0 {
        return Err(BacklogError::ZeroSize);
    }
    let too_large = BacklogError::TooLarge { size: size as u64 };
    let total = size.checked_add(HEADER_LEN).ok_or(too_large)?;
    Ok(total as u64)
}

/// Writes zeros up to `len` so the blocks exist: storing into a sparse hole
/// of a mapping on a full disk would kill the process with SIGBUS instead of
/// failing here with an error.
fn preallocate(path: &Path, mut file: &File, len: u64) -> Result<(), BacklogError> {
    const CHUNK: usize = 1 << 20;
    let file_err = |source| BacklogError::File {
        path: path.to_path_buf(),
        source,
    };
    file.set_len(0).map_err(file_err)?;
    file.seek(SeekFrom::Start(0)).map_err(file_err)?;
    let zeros = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        file.write_all(&zeros[..n]).map_err(file_err)?;
        left -= n as u64;
    }
    file.flush().map_err(file_err)
}

fn sibling_tmp(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".resize");
    PathBuf::from(name)
}

/// Writes `bytes` (at most `ring.len()` of them) into `ring` from index `at`,
/// wrapping around the end.
fn write_ring(ring: &mut [u8], at: usize, bytes: &[u8]) {
    let first = bytes.len().min(ring.len() - at);
    ring[at..at + first].copy_from_slice(&bytes[..first]);
    ring[..bytes.len() - first].copy_from_slice(&bytes[first..]);
}

/// Lays the stream bytes `first ++ second`, which start at position `from`,
/// into a ring of `size` bytes.
fn copy_into(ring: &mut [u8], size: usize, from: u64, first: &[u8], second: &[u8]) {
    let ring = &mut ring[..size];
    let at = usize::try_from(from % size as u64).expect("an index below `size` fits usize");
    write_ring(ring, at, first);
    let at2 = (at + first.len()) % size;
    write_ring(ring, at2, second);
}

fn checksum(body: &[u8]) -> u64 {
    // FNV-1a over 8-byte words: cheap enough to run twice per append, and any
    // torn or stray write to a slot changes it.
    body.chunks(8).fold(0xcbf2_9ce4_8422_2325u64, |h, word| {
        let mut w = [0u8; 8];
        w[..word.len()].copy_from_slice(word);
        (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn write_slot(slot: &mut [u8], header: &Header) {
    let replid = header.replid.unwrap_or(ReplId::ZERO);
    slot[0..8].copy_from_slice(&MAGIC);
    slot[8..12].copy_from_slice(&VERSION.to_le_bytes());
    slot[12..16].copy_from_slice(&[0; 4]);
    slot[16..24].copy_from_slice(&header.seq.to_le_bytes());
    slot[24..32].copy_from_slice(&header.size.to_le_bytes());
    slot[32..40].copy_from_slice(&header.start.to_le_bytes());
    slot[40..48].copy_from_slice(&header.end.to_le_bytes());
    slot[48..48 + REPL_ID_LEN].copy_from_slice(replid.as_str().as_bytes());
    let sum = checksum(&slot[..SLOT_BODY]);
    slot[SLOT_BODY..SLOT_BODY + 8].copy_from_slice(&sum.to_le_bytes());
}

fn read_slot(slot: &[u8]) -> Result<Header, String> {
    let u64_at =
        |at: usize| u64::from_le_bytes(slot[at..at + 8].try_into().expect("an 8-byte field"));
    if slot[0..8] != MAGIC {
        return Err("not a tandem backlog file (bad magic)".to_owned());
    }
    let version = u32::from_le_bytes(slot[8..12].try_into().expect("a 4-byte field"));
    if u64_at(SLOT_BODY) != checksum(&slot[..SLOT_BODY]) {
        return Err("header checksum mismatch (torn or corrupt header)".to_owned());
    }
    if version != VERSION {
        return Err(format!(
            "backlog file format version {version}, this build reads version {VERSION}"
        ));
    }
    let replid = ReplId::parse(&slot[48..48 + REPL_ID_LEN])
        .ok_or_else(|| "the header's replication id is not 40 hex characters".to_owned())?;
    Ok(Header {
        seq: u64_at(16),
        size: u64_at(24),
        start: u64_at(32),
        end: u64_at(40),
        replid: (replid != ReplId::ZERO).then_some(replid),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A path in the system temp dir, removed (with its resize sibling) on drop.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(tag: &str) -> TempPath {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let name = format!("tandem-backlog-{}-{tag}-{n}", std::process::id());
            let path = std::env::temp_dir().join(name);
            let _ = std::fs::remove_file(&path);
            TempPath(path)
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            let _ = std::fs::remove_file(sibling_tmp(&self.0));
        }
    }

    fn collect(b: &Backlog, from: u64) -> Option<Vec<u8>> {
        b.slices_from(ReplOffset(from))
            .map(|(a, c)| [a, c].concat())
    }

    fn id(n: u8) -> ReplId {
        ReplId::from_random([n; 20])
    }

    #[test]
    fn zero_size_is_refused() {
        assert!(matches!(Backlog::new(0), Err(BacklogError::ZeroSize)));
    }

    #[test]
    fn new_backlog_is_empty_at_zero() {
        let b = Backlog::new(16).unwrap();
        assert_eq!(b.start_offset(), ReplOffset(0));
        assert_eq!(b.end_offset(), ReplOffset(0));
        assert_eq!(b.histlen(), 0);
        assert_eq!(b.info_first_byte_offset(), 1);
        assert!(b.contains(ReplOffset(0)));
        assert!(!b.contains(ReplOffset(1)));
        assert_eq!(collect(&b, 0), Some(vec![]));
    }

    #[test]
    fn append_wraps_and_keeps_the_newest_bytes() {
        let mut b = Backlog::new(8).unwrap();
        b.append(b"abcdef");
        assert_eq!(collect(&b, 0).unwrap(), b"abcdef");
        b.append(b"ghij");
        assert_eq!(b.start_offset(), ReplOffset(2));
        assert_eq!(b.end_offset(), ReplOffset(10));
        assert_eq!(b.info_first_byte_offset(), 3);
        assert_eq!(b.histlen(), 8);
        assert!(!b.contains(ReplOffset(1)));
        assert_eq!(b.slices_from(ReplOffset(1)), None);
        // Position 2 sits at index 2; the span wraps after index 7.
        assert_eq!(
            b.slices_from(ReplOffset(2)),
            Some((&b"cdefgh"[..], &b"ij"[..]))
        );
        assert_eq!(b.slices_from(ReplOffset(8)), Some((&b"ij"[..], &b""[..])));
        assert_eq!(b.slices_from(ReplOffset(10)), Some((&b""[..], &b""[..])));
        assert_eq!(b.slices_from(ReplOffset(11)), None);
    }

    #[test]
    fn append_larger_than_the_ring_keeps_its_tail() {
        let mut b = Backlog::new(4).unwrap();
        b.append(b"xy");
        b.append(b"0123456789");
        assert_eq!(
            b.range(),
            OffsetRange {
                start: ReplOffset(8),
                end: ReplOffset(12)
            }
        );
        assert_eq!(collect(&b, 8).unwrap(), b"6789");
    }

    #[test]
    fn clear_and_reset_drop_history() {
        let mut b = Backlog::new(8).unwrap();
        b.append(b"hello");
        b.clear();
        assert_eq!(
            b.range(),
            OffsetRange {
                start: ReplOffset(5),
                end: ReplOffset(5)
            }
        );
        assert!(b.is_empty());
        b.reset(ReplOffset(1000));
        assert_eq!(b.info_first_byte_offset(), 1001);
        b.append(b"*1\r\n");
        assert_eq!(collect(&b, 1000).unwrap(), b"*1\r\n");
    }

    #[test]
    fn resize_keeps_what_fits() {
        let mut b = Backlog::new(8).unwrap();
        b.append(b"0123456789");
        b.resize(4).unwrap();
        assert_eq!(b.size(), 4);
        assert_eq!(
            b.range(),
            OffsetRange {
                start: ReplOffset(6),
                end: ReplOffset(10)
            }
        );
        assert_eq!(collect(&b, 6).unwrap(), b"6789");
        b.resize(16).unwrap();
        assert_eq!(collect(&b, 6).unwrap(), b"6789");
        b.append(b"abcdefghijkl");
        assert_eq!(collect(&b, 6).unwrap(), b"6789abcdefghijkl");
    }

    #[test]
    fn file_backed_survives_reopen() {
        let tmp = TempPath::new("reopen");
        {
            let (mut b, rec) = Backlog::file_backed(&tmp.0, 8).unwrap();
            assert_eq!(rec, Recovery::Created);
            b.set_replid(Some(id(7)));
            b.append(b"0123456789");
            b.flush().unwrap();
        }
        let (b, rec) = Backlog::file_backed(&tmp.0, 8).unwrap();
        assert_eq!(
            rec,
            Recovery::Restored {
                replid: Some(id(7)),
                range: OffsetRange {
                    start: ReplOffset(2),
                    end: ReplOffset(10)
                },
                previous_size: 8,
            }
        );
        assert_eq!(b.replid(), Some(id(7)));
        assert_eq!(collect(&b, 2).unwrap(), b"23456789");
        assert_eq!(b.path(), Some(tmp.0.as_path()));
    }

    #[test]
    fn file_backed_reopened_at_another_size_keeps_the_newest_bytes() {
        let tmp = TempPath::new("resize-reopen");
        {
            let (mut b, _) = Backlog::file_backed(&tmp.0, 8).unwrap();
            b.append(b"0123456789");
        }
        let (b, rec) = Backlog::file_backed(&tmp.0, 3).unwrap();
        assert_eq!(
            rec,
            Recovery::Restored {
                replid: None,
                range: OffsetRange {
                    start: ReplOffset(7),
                    end: ReplOffset(10)
                },
                previous_size: 8,
            }
        );
        assert_eq!(collect(&b, 7).unwrap(), b"789");
        drop(b);
        let (b, _) = Backlog::file_backed(&tmp.0, 3).unwrap();
        assert_eq!(collect(&b, 7).unwrap(), b"789");
        assert!(!sibling_tmp(&tmp.0).exists());
    }

    fn corrupt_and_reopen(tag: &str, damage: impl FnOnce(&mut Vec<u8>)) -> Recovery {
        let tmp = TempPath::new(tag);
        {
            let (mut b, _) = Backlog::file_backed(&tmp.0, 16).unwrap();
            b.append(b"some stream bytes");
        }
        let mut raw = std::fs::read(&tmp.0).unwrap();
        damage(&mut raw);
        std::fs::write(&tmp.0, &raw).unwrap();
        let (b, rec) = Backlog::file_backed(&tmp.0, 16).unwrap();
        assert_eq!(
            b.range(),
            OffsetRange {
                start: ReplOffset(0),
                end: ReplOffset(0)
            }
        );
        assert_eq!(b.replid(), None);
        // The reinitialised file must itself reopen cleanly.
        drop(b);
        let (_, again) = Backlog::file_backed(&tmp.0, 16).unwrap();
        assert!(matches!(again, Recovery::Restored { .. }), "{again:?}");
        rec
    }

    fn reason(rec: Recovery) -> String {
        match rec {
            Recovery::Discarded { reason } => reason,
            other => panic!("expected Discarded, got {other:?}"),
        }
    }

    #[test]
    fn bad_magic_is_discarded() {
        let r = reason(corrupt_and_reopen("magic", |raw| {
            raw[0] = b'X';
            raw[SLOT_STRIDE] = b'X';
        }));
        assert_eq!(r, "not a tandem backlog file (bad magic)");
    }

    #[test]
    fn torn_slots_are_discarded_but_one_good_slot_suffices() {
        let r = reason(corrupt_and_reopen("torn", |raw| {
            raw[40] ^= 1;
            raw[SLOT_STRIDE + 40] ^= 1;
        }));
        assert_eq!(r, "header checksum mismatch (torn or corrupt header)");

        let tmp = TempPath::new("one-torn");
        {
            let (mut b, _) = Backlog::file_backed(&tmp.0, 16).unwrap();
            b.append(b"abc");
            b.append(b"def");
        }
        let mut raw = std::fs::read(&tmp.0).unwrap();
        // Tear the newest slot: the previous commit (after "abc") is used.
        let (newest, _) = [0, SLOT_STRIDE]
            .map(|at| {
                (
                    at,
                    u64::from_le_bytes(raw[at + 16..at + 24].try_into().unwrap()),
                )
            })
            .into_iter()
            .max_by_key(|&(_, seq)| seq)
            .unwrap();
        raw[newest + 40] ^= 0xff;
        std::fs::write(&tmp.0, &raw).unwrap();
        let (b, rec) = Backlog::file_backed(&tmp.0, 16).unwrap();
        assert!(matches!(rec, Recovery::Restored { .. }), "{rec:?}");
        assert_eq!(collect(&b, 0).unwrap(), b"abc");
    }

    #[test]
    fn truncate_drops_the_tail_and_survives_reopening() {
        let tmp = TempPath::new("truncate");
        {
            let (mut b, _) = Backlog::file_backed(&tmp.0, 16).unwrap();
            b.append(b"abcdef");
            b.truncate(ReplOffset(4));
            assert_eq!(b.end_offset(), ReplOffset(4));
            // Out-of-range requests are clamped, never extend the ring.
            b.truncate(ReplOffset(99));
            assert_eq!(b.end_offset(), ReplOffset(4));
        }
        let (b, rec) = Backlog::file_backed(&tmp.0, 16).unwrap();
        assert!(matches!(rec, Recovery::Restored { .. }), "{rec:?}");
        assert_eq!(collect(&b, 0).unwrap(), b"abcd");
    }

    #[test]
    fn a_live_span_never_changes_while_the_ring_moves_on() {
        let mut b = Backlog::new(8).unwrap();
        b.append(b"abcdef");
        let span = b.share(ReplOffset(2), 3).unwrap();
        assert_eq!(span.from(), ReplOffset(2));
        assert_eq!(span.len(), 3);
        let bytes = |s: &SharedSpan| {
            let (a, c) = s.slices();
            [a, c].concat()
        };
        assert_eq!(bytes(&span), b"cde");
        // Wrap the ring over the span's bytes, reset it, resize it: the span
        // still reads what it was given, and the ring holds the new bytes.
        b.append(b"ghijklmn");
        assert_eq!(bytes(&span), b"cde");
        assert_eq!(collect(&b, 6).unwrap(), b"ghijklmn");
        b.reset(ReplOffset(100));
        b.append(b"XYZ");
        assert_eq!(bytes(&span), b"cde");
        assert_eq!(collect(&b, 100).unwrap(), b"XYZ");
        drop(span);
        // Without live spans the ring writes in place again.
        let region = Arc::as_ptr(&b.region);
        b.append(b"0123456789");
        assert_eq!(Arc::as_ptr(&b.region), region);
        assert_eq!(collect(&b, 108).unwrap(), b"56789");
    }

    #[test]
    fn spans_wrap_and_are_capped() {
        let mut b = Backlog::new(8).unwrap();
        b.append(b"0123456789"); // holds 23456789, ring wrapped
        let span = b.share(ReplOffset(4), 100).unwrap();
        let (a, c) = span.slices();
        assert_eq!([a, c].concat(), b"456789");
        assert!(b.share(ReplOffset(1), 4).is_none(), "fallen out");
        assert!(b.share(ReplOffset(11), 4).is_none(), "not yet produced");
        assert!(b.share(ReplOffset(10), 4).unwrap().is_empty());
        let capped = b.share(ReplOffset(2), 3).unwrap();
        let (a, c) = capped.slices();
        assert_eq!([a, c].concat(), b"234");
    }

    #[test]
    fn file_backed_ring_moves_to_a_new_file_under_a_live_span() {
        let tmp = TempPath::new("span");
        let (mut b, _) = Backlog::file_backed(&tmp.0, 8).unwrap();
        b.set_replid(Some(id(3)));
        b.append(b"abcdefgh");
        let span = b.share(ReplOffset(0), 8).unwrap();
        b.append(b"ijkl");
        let (a, c) = span.slices();
        assert_eq!([a, c].concat(), b"abcdefgh");
        drop(span);
        drop(b);
        let (b, rec) = Backlog::file_backed(&tmp.0, 8).unwrap();
        assert!(
            matches!(rec, Recovery::Restored { replid: Some(r), .. } if r == id(3)),
            "{rec:?}"
        );
        assert_eq!(collect(&b, 4).unwrap(), b"efghijkl");
    }

    #[test]
    fn other_version_is_discarded() {
        let r = reason(corrupt_and_reopen("version", |raw| {
            for at in [0, SLOT_STRIDE] {
                raw[at + 8..at + 12].copy_from_slice(&2u32.to_le_bytes());
                let sum = checksum(&raw[at..at + SLOT_BODY]);
                raw[at + SLOT_BODY..at + SLOT_BODY + 8].copy_from_slice(&sum.to_le_bytes());
            }
        }));
        assert_eq!(
            r,
            "backlog file format version 2, this build reads version 1"
        );
    }

    #[test]
    fn truncated_file_is_discarded() {
        let r = reason(corrupt_and_reopen("short", |raw| {
            raw.truncate(HEADER_LEN + 3)
        }));
        assert_eq!(
            r,
            "the header records a ring of 16 bytes but the file is 4099 bytes"
        );
        let r = reason(corrupt_and_reopen("tiny", |raw| raw.truncate(10)));
        assert_eq!(r, "the file is 10 bytes, shorter than the 4096-byte header");
    }

    #[test]
    fn inconsistent_offsets_are_discarded() {
        let r = reason(corrupt_and_reopen("offsets", |raw| {
            for at in [0, SLOT_STRIDE] {
                raw[at + 32..at + 40].copy_from_slice(&100u64.to_le_bytes());
                let sum = checksum(&raw[at..at + SLOT_BODY]);
                raw[at + SLOT_BODY..at + SLOT_BODY + 8].copy_from_slice(&sum.to_le_bytes());
            }
        }));
        assert!(
            r.starts_with("the header's offsets are inconsistent (start 100"),
            "{r}"
        );
    }

    #[derive(Clone, Debug)]
    enum Op {
        Append(Vec<u8>),
        Resize(usize),
        Clear,
        Reset(u64),
        Reopen,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Append),
            1 => (1usize..32).prop_map(Op::Resize),
            1 => Just(Op::Clear),
            1 => (0u64..200).prop_map(Op::Reset),
            1 => Just(Op::Reopen),
        ]
    }

    /// The model: every byte since the last clear/reset, from `base` on.
    struct Model {
        base: u64,
        bytes: Vec<u8>,
        size: usize,
    }

    impl Model {
        fn end(&self) -> u64 {
            self.base + self.bytes.len() as u64
        }
        fn start(&self) -> u64 {
            self.end().saturating_sub(self.size as u64).max(self.base)
        }
        fn from(&self, offset: u64) -> Option<Vec<u8>> {
            (self.start() <= offset && offset <= self.end())
                .then(|| self.bytes[(offset - self.base) as usize..].to_vec())
        }
        fn trim(&mut self) {
            let start = self.start();
            self.bytes.drain(..(start - self.base) as usize);
            self.base = start;
        }
    }

    fn run(ops: Vec<Op>, queries: Vec<u64>, file: Option<&Path>) -> Result<(), TestCaseError> {
        let size0 = 8;
        let mut b = match file {
            Some(p) => Backlog::file_backed(p, size0).unwrap().0,
            None => Backlog::new(size0).unwrap(),
        };
        let mut m = Model {
            base: 0,
            bytes: vec![],
            size: size0,
        };
        for op in ops {
            match op {
                Op::Append(bytes) => {
                    b.append(&bytes);
                    m.bytes.extend_from_slice(&bytes);
                }
                Op::Resize(n) => {
                    b.resize(n).unwrap();
                    m.size = n;
                }
                Op::Clear => {
                    b.clear();
                    m.base = m.end();
                    m.bytes.clear();
                }
                Op::Reset(at) => {
                    b.reset(ReplOffset(at));
                    m.base = at;
                    m.bytes.clear();
                }
                Op::Reopen => {
                    if let Some(p) = file {
                        let size = b.size();
                        drop(b);
                        let (again, rec) = Backlog::file_backed(p, size).unwrap();
                        prop_assert!(matches!(rec, Recovery::Restored { .. }), "{:?}", rec);
                        b = again;
                    }
                }
            }
            m.trim();
            prop_assert_eq!(b.start_offset().0, m.start());
            prop_assert_eq!(b.end_offset().0, m.end());
            prop_assert_eq!(b.histlen(), m.end() - m.start());
            let lo = m.start().saturating_sub(3);
            for offset in lo..=m.end() + 3 {
                prop_assert_eq!(collect(&b, offset), m.from(offset), "offset {}", offset);
            }
            for &q in &queries {
                prop_assert_eq!(collect(&b, q), m.from(q), "offset {}", q);
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn anonymous_ring_matches_model(
            ops in prop::collection::vec(op(), 1..40),
            queries in prop::collection::vec(0u64..400, 0..8),
        ) {
            run(ops, queries, None)?;
        }

        #[test]
        fn file_backed_ring_matches_model_across_reopens(
            ops in prop::collection::vec(op(), 1..30),
            queries in prop::collection::vec(0u64..400, 0..4),
        ) {
            let tmp = TempPath::new("prop");
            run(ops, queries, Some(&tmp.0))?;
        }
    }
}
