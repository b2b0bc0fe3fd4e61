//! The RDB format, version 10: what Redis 7.0 writes and reads.
//!
//! - [`RdbWriter`] streams a dataset into any [`std::io::Write`] sink in
//!   bounded memory (a 64 KiB buffer plus the one value being encoded), with a
//!   running CRC-64 and LZF compression under `rdbcompression`. It writes only
//!   the types Redis 7.0 itself writes: STRING (integer-encoded when it can),
//!   QUICKLIST_2 lists, SET_INTSET / SET, ZSET_LISTPACK / ZSET_2 and
//!   HASH_LISTPACK / HASH, following each value's encoding.
//! - [`RdbReader`] pulls [`RdbEvent`]s from any [`std::io::Read`] source,
//!   reading exactly the bytes of the file and nothing after its trailer, so it
//!   also works on a replication socket (wrap unbuffered sources in a
//!   `BufReader`; [`RdbReader::into_inner`] hands the source back). It reads
//!   everything Redis 7.0 loads: versions 1 to 10, LZF and integer-encoded
//!   strings anywhere, listpacks, intsets, ziplists, zipmaps, quicklists of
//!   both kinds, the plain forms, FUNCTION/FUNCTION2 records and module aux
//!   data (skipped and reported). Streams and module values are clear errors
//!   naming the key.
//! - [`load`] and [`save`] move a whole [`Keyspace`] through those two.
//! - [`dump`]: DUMP / RESTORE payloads, one value coded by the same two.
//!
//! Loaded values take the encodings Redis would give them under the caller's
//! [`Limits`](crate::types::Limits): a small hash becomes a listpack, a big one a hashtable, and so
//! on, whatever the file used.
//!
//! Invariants:
//! - No input makes the reader panic or allocate much more than the input
//!   holds: lengths read from the file only size allocations after the bytes
//!   they describe have arrived (or up to a small cap).
//! - Every error carries the byte offset where the offending item starts.
//! - The writer's output is loadable by redis-server 7.0 with
//!   `sanitize-dump-payload yes` and passes `redis-check-rdb`.
//!
//! Submodules: [`crc64`] (the trailer checksum), `lzf`, `listpack`, `intset`,
//! `ziplist`, `zipmap` (the packed containers), `writer` and `reader`.

pub mod crc64;
pub mod dump;
mod intset;
pub(crate) mod listpack;
mod lzf;
mod reader;
mod writer;
mod ziplist;
mod zipmap;

use std::io::{self, Read, Write};

use thiserror::Error;

use crate::keyspace::Keyspace;

pub use reader::{RdbEntry, RdbEvent, RdbReader, ReadOptions};
pub use writer::{AuxFields, RdbOptions, RdbWriter, ReplAux};

/// The RDB version this module writes (Redis 7.0's `RDB_VERSION`).
pub const RDB_VERSION: u32 = 10;

/// Opcodes that may appear where a value type is expected.
pub mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value type codes (`RDB_TYPE_*`).
pub mod value_type {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Redis 7.2's set listpack and later types: never in a version-10 file.
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// Why an RDB could not be read or loaded.
#[derive(Debug, Error)]
pub enum RdbError {
    #[error("I/O error reading RDB at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: io::Error,
    },
    #[error("RDB truncated at byte {offset}: expected {expected}")]
    Truncated { offset: u64, expected: &'static str },
    #[error("corrupt RDB at byte {offset}: expected {expected}, found {found}")]
    Corrupt {
        offset: u64,
        expected: &'static str,
        found: String,
    },
    #[error("not an RDB file: expected \"REDIS\" and a 4-digit version, found {found:?}")]
    Signature { found: String },
    #[error("can't handle RDB format version {version} (Redis 7.0 reads 1 to 10)")]
    Version { version: u32 },
    #[error("wrong RDB checksum at byte {offset}: the file says {stored:016x}, the data gives {computed:016x}")]
    Checksum {
        offset: u64,
        stored: u64,
        computed: u64,
    },
    #[error("RDB byte {offset}: {what} needs module type {module:?}, which tandem does not have")]
    Module {
        offset: u64,
        module: String,
        what: String,
    },
    #[error("RDB byte {offset}: database {db} is out of range (this server has {databases})")]
    DbOutOfRange {
        offset: u64,
        db: u64,
        databases: usize,
    },
    #[error("RDB byte {offset}: key {key:?} appears twice in database {db}")]
    DuplicateKey { offset: u64, db: u64, key: String },
}

impl RdbError {
    /// The byte offset the error refers to, when it has one.
    pub fn offset(&self) -> Option<u64> {
        match self {
            RdbError::Io { offset, .. }
            | RdbError::Truncated { offset, .. }
            | RdbError::Corrupt { offset, .. }
            | RdbError::Checksum { offset, .. }
            | RdbError::Module { offset, .. }
            | RdbError::DbOutOfRange { offset, .. }
            | RdbError::DuplicateKey { offset, .. } => Some(*offset),
            RdbError::Signature { .. } | RdbError::Version { .. } => None,
        }
    }
}

/// A problem inside a packed blob (listpack, ziplist, ...), at a byte offset
/// of the blob; the reader turns it into [`RdbError::Corrupt`].
#[derive(Debug)]
pub(crate) struct Malformed {
    pub(crate) at: usize,
    pub(crate) expected: &'static str,
    pub(crate) found: String,
}

impl Malformed {
    fn into_error(self, blob_offset: u64, blob: &str) -> RdbError {
        RdbError::Corrupt {
            offset: blob_offset,
            expected: self.expected,
            found: format!("{} (byte {} of the {blob})", self.found, self.at),
        }
    }
}

/// A key or member for an error message: lossy UTF-8, cut at 100 characters.
pub(crate) fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(100) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.into_owned(),
    }
}

/// How [`load`] treats what it reads. The default is a replica's load with
/// Redis 7.0's limits: checksum verified, expired keys kept.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    /// Encoding thresholds for the loaded values, and checksum checking.
    pub read: ReadOptions,
    /// The current time, for access times and for `drop_expired`.
    pub now_ms: u64,
    /// Skip keys whose expiry is at or before `now_ms`, as a primary does
    /// when it loads a file (a replica keeps them: expiry is its primary's
    /// business).
    pub drop_expired: bool,
}

/// What [`load`] found besides the keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub version: u32,
    pub keys_loaded: u64,
    /// Keys skipped because they had expired (with `drop_expired`).
    pub keys_expired: u64,
    /// Those keys, as (database, key): a restarted primary replicates their
    /// deletion, as Redis does, so replicas that continue its history drop
    /// them too.
    pub expired_keys: Vec<(usize, Vec<u8>)>,
    /// Empty aggregates skipped, as Redis skips them.
    pub empty_keys_skipped: u64,
    /// Every AUX field, in file order (integer values as decimal text).
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// The source of every function library (FUNCTION2 payloads).
    pub functions: Vec<Vec<u8>>,
    /// The stored checksum (`None` before version 5; `Some(0)` means the
    /// writer did not compute one).
    pub checksum: Option<u64>,
}

impl LoadSummary {
    /// The value of an AUX field.
    pub fn aux(&self, key: &[u8]) -> Option<&[u8]> {
        self.aux
            .iter()
            .find(|(k, _)| k.as_slice() == key)
            .map(|(_, v)| v.as_slice())
    }
}

/// Reads a whole RDB from `src` into `ks`, which should be empty (a duplicate
/// key is an error, as in Redis). Module aux data is an error, since tandem
/// has no modules to hand it to; so is a database index `ks` does not have.
pub fn load<R: Read>(
    src: R,
    ks: &mut Keyspace,
    opts: &LoadOptions,
) -> Result<LoadSummary, RdbError> {
    let mut reader = RdbReader::new(src, opts.read);
    let mut summary = LoadSummary::default();
    let mut current_db = None;
    while let Some(event) = reader.next_event()? {
        let at = reader.event_offset();
        match event {
            RdbEvent::Aux { key, value } => summary.aux.push((key, value)),
            RdbEvent::SelectDb { db } => {
                if usize::try_from(db).map_or(true, |d| d >= ks.db_count()) {
                    return Err(RdbError::DbOutOfRange {
                        offset: at,
                        db,
                        databases: ks.db_count(),
                    });
                }
                current_db = usize::try_from(db).ok();
            }
            RdbEvent::ResizeDb { keys, .. } => {
                if let Some(db) = current_db {
                    ks.db(db).reserve(keys);
                }
            }
            RdbEvent::Entry(entry) => {
                let expire = entry.expire_at_ms.map(|t| t.max(1));
                if opts.drop_expired && expire.is_some_and(|t| t <= opts.now_ms) {
                    summary.keys_expired += 1;
                    if let Ok(db) = usize::try_from(entry.db) {
                        summary.expired_keys.push((db, entry.key.to_vec()));
                    }
                } else {
                    let db_count = ks.db_count();
                    let index = usize::try_from(entry.db).unwrap_or(usize::MAX);
                    if index >= db_count {
                        return Err(RdbError::DbOutOfRange {
                            offset: at,
                            db: entry.db,
                            databases: db_count,
                        });
                    }
                    let db = ks.db(index);
                    let before = db.len();
                    let old = db.insert(entry.key.as_slice(), entry.value, expire, opts.now_ms);
                    if old.is_some() || db.len() != before + 1 {
                        return Err(RdbError::DuplicateKey {
                            offset: at,
                            db: entry.db,
                            key: show(&entry.key),
                        });
                    }
                    summary.keys_loaded += 1;
                }
            }
            RdbEvent::FunctionLibrary { code } => summary.functions.push(code),
            RdbEvent::ModuleAux { module, .. } => {
                return Err(RdbError::Module {
                    offset: at,
                    module,
                    what: "module aux data".into(),
                });
            }
            RdbEvent::End { checksum } => summary.checksum = checksum,
        }
    }
    summary.version = reader.version().unwrap_or(0);
    summary.empty_keys_skipped = reader.empty_keys_skipped();
    Ok(summary)
}

/// Writes every database of `ks` (keys with an expiry in the past included,
/// as Redis writes them) as one RDB into `sink`, and returns the sink.
pub fn save<W: Write>(sink: W, ks: &Keyspace, aux: &AuxFields, opts: RdbOptions) -> io::Result<W> {
    let mut w = RdbWriter::new(sink, opts);
    w.write_header(aux)?;
    for (index, db) in ks.dbs().iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let id = u32::try_from(index).map_err(|_| io::Error::other("database index"))?;
        w.select_db(id, db.len() as u64, db.volatile_len() as u64)?;
        for entry in db.iter() {
            w.write_entry(entry.key(), &entry.value, entry.expire_at())?;
        }
    }
    w.finish()
}
