//! The streaming RDB reader.
//!
//! It reads exactly the bytes of one RDB: the header, the records, the EOF
//! opcode and (from version 5) the 8-byte checksum, and never a byte more, so
//! a replication link can keep reading the same source afterwards. It does
//! not buffer: wrap a socket or file in a `BufReader`.
//!
//! Every byte consumed goes through the running CRC and the offset counter;
//! errors report the offset where the record or value being read starts.

use std::collections::BTreeSet;
use std::io::{self, Read};

use super::crc64::Crc64;
use super::listpack::{self, Entry};
use super::{intset, lzf, opcode, show, value_type as t, ziplist, zipmap};
use super::{Malformed, RdbError};
use crate::num;
use crate::types::hash::HashValue;
use crate::types::list::ListValue;
use crate::types::set::SetValue;
use crate::types::stream::{Consumer, Group, Nack, StreamId, StreamValue};
use crate::types::zset::{parse_score, ZSetValue};
use crate::types::Limits;
use crate::value::Value;
use crate::SmallBytes;

/// Strings up to this size are read into a buffer allocated up front; longer
/// ones grow as their bytes arrive, so a corrupt length cannot make the
/// reader allocate memory the input does not back.
const PREALLOC_MAX: u64 = 1 << 20;
/// Scratch buffers larger than this are released after use.
const SCRATCH_KEEP: usize = 1 << 20;
/// How many elements a count read from the file may reserve up front.
const RESERVE_MAX: u64 = 1024;

/// How the reader builds values and checks the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// The encoding thresholds loaded values are given (as Redis converts
    /// what it loads under its own configuration).
    pub limits: Limits,
    /// `rdbchecksum`: compare the trailer with the data (a stored 0 is never
    /// compared: it means the writer did not compute one).
    pub verify_checksum: bool,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            limits: Limits::default(),
            verify_checksum: true,
        }
    }
}

/// One key read from the file.
#[derive(Clone, Debug, PartialEq)]
pub struct RdbEntry {
    /// The database selected by the last SELECTDB (0 before any).
    pub db: u64,
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute expiry, Unix ms (EXPIRETIME seconds are converted; a time
    /// before the epoch reads as 0).
    pub expire_at_ms: Option<u64>,
    /// The LRU idle time the IDLE opcode gave, in seconds.
    pub idle_secs: Option<u64>,
    /// The LFU counter the FREQ opcode gave.
    pub freq: Option<u8>,
}

/// What the reader found next.
#[derive(Clone, Debug, PartialEq)]
pub enum RdbEvent {
    /// An AUX field (integer-encoded values come as decimal text).
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    /// SELECTDB: the following keys belong to `db`.
    SelectDb {
        db: u64,
    },
    /// RESIZEDB: a size hint for the current database.
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    Entry(RdbEntry),
    /// A function library's source (FUNCTION2, or 7.0-rc FUNCTION records
    /// rewritten to the same `#!<engine> name=<name>` form).
    FunctionLibrary {
        code: Vec<u8>,
    },
    /// Module aux data, skipped: the 9-character module type name and the
    /// `when` it was saved for.
    ModuleAux {
        module: String,
        when: u64,
    },
    /// The EOF opcode; `checksum` is the stored trailer (`None` before
    /// version 5, which had none). Nothing follows.
    End {
        checksum: Option<u64>,
    },
}

/// Counting, checksumming access to the source.
struct Input<R> {
    inner: R,
    offset: u64,
    crc: Crc64,
    /// Bytes read but not yet checksummed: fields are small, and the CRC
    /// runs several times faster over a few KiB at once than field by field.
    crc_pending: Vec<u8>,
    lzf_in: Vec<u8>,
}

/// How many read bytes wait before they are checksummed together.
const CRC_BATCH: usize = 8 * 1024;

/// A length as `rdbLoadLenByRef` reads it: a plain length, or the number of
/// a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<R: Read> Input<R> {
    fn read_exact(&mut self, buf: &mut [u8], expected: &'static str) -> Result<(), RdbError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.checksum(buf);
                self.offset += buf.len() as u64;
                Ok(())
            }
            Err(e) => Err(self.io_error(e, expected)),
        }
    }

    fn checksum(&mut self, bytes: &[u8]) {
        if self.crc_pending.len() + bytes.len() > CRC_BATCH {
            self.crc.update(&self.crc_pending);
            self.crc_pending.clear();
        }
        if bytes.len() >= CRC_BATCH {
            self.crc.update(bytes);
        } else {
            self.crc_pending.extend_from_slice(bytes);
        }
    }

    /// The CRC of every byte read so far.
    fn crc_value(&mut self) -> u64 {
        self.crc.update(&self.crc_pending);
        self.crc_pending.clear();
        self.crc.value()
    }

    fn io_error(&self, e: io::Error, expected: &'static str) -> RdbError {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            RdbError::Truncated {
                offset: self.offset,
                expected,
            }
        } else {
            RdbError::Io {
                offset: self.offset,
                source: e,
            }
        }
    }

    fn u8(&mut self, expected: &'static str) -> Result<u8, RdbError> {
        let mut b = [0u8; 1];
        self.read_exact(&mut b, expected)?;
        Ok(b[0])
    }

    fn array<const N: usize>(&mut self, expected: &'static str) -> Result<[u8; N], RdbError> {
        let mut b = [0u8; N];
        self.read_exact(&mut b, expected)?;
        Ok(b)
    }

    /// Reads `len` bytes into `out` (cleared first).
    fn bytes(
        &mut self,
        len: u64,
        out: &mut Vec<u8>,
        expected: &'static str,
    ) -> Result<(), RdbError> {
        out.clear();
        if len <= PREALLOC_MAX {
            out.resize(len as usize, 0);
            return self.read_exact(out, expected);
        }
        let start = self.offset;
        let got = match (&mut self.inner).take(len).read_to_end(out) {
            Ok(n) => n as u64,
            Err(e) => return Err(self.io_error(e, expected)),
        };
        self.checksum(out);
        self.offset += got;
        if got < len {
            return Err(RdbError::Truncated {
                offset: start,
                expected,
            });
        }
        Ok(())
    }

    fn len_or_encoding(&mut self, expected: &'static str) -> Result<Len, RdbError> {
        let at = self.offset;
        let b = self.u8(expected)?;
        Ok(match b >> 6 {
            0 => Len::Plain(u64::from(b & 0x3f)),
            1 => Len::Plain(u64::from(b & 0x3f) << 8 | u64::from(self.u8(expected)?)),
            2 => match b {
                0x80 => Len::Plain(u64::from(u32::from_be_bytes(self.array(expected)?))),
                0x81 => Len::Plain(u64::from_be_bytes(self.array(expected)?)),
                _ => {
                    return Err(RdbError::Corrupt {
                        offset: at,
                        expected,
                        found: format!("the unknown length encoding 0x{b:02x}"),
                    })
                }
            },
            _ => Len::Encoded(b & 0x3f),
        })
    }

    fn len(&mut self, expected: &'static str) -> Result<u64, RdbError> {
        let at = self.offset;
        match self.len_or_encoding(expected)? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(e) => Err(RdbError::Corrupt {
                offset: at,
                expected,
                found: format!("the string encoding {e}"),
            }),
        }
    }

    /// A string in any of its forms, into `out` (cleared first).
    fn string(&mut self, out: &mut Vec<u8>, expected: &'static str) -> Result<(), RdbError> {
        let at = self.offset;
        match self.len_or_encoding(expected)? {
            Len::Plain(n) => self.bytes(n, out, expected),
            Len::Encoded(0) => {
                let v = self.u8(expected)? as i8;
                out.clear();
                num::push_i64(out, i64::from(v));
                Ok(())
            }
            Len::Encoded(1) => {
                let v = i16::from_le_bytes(self.array(expected)?);
                out.clear();
                num::push_i64(out, i64::from(v));
                Ok(())
            }
            Len::Encoded(2) => {
                let v = i32::from_le_bytes(self.array(expected)?);
                out.clear();
                num::push_i64(out, i64::from(v));
                Ok(())
            }
            Len::Encoded(3) => {
                let clen = self.len("the compressed length of an LZF string")?;
                let ulen = self.len("the length of an LZF string")?;
                let plausible = usize::try_from(clen)
                    .ok()
                    .filter(|&c| c > 0)
                    .map(lzf::max_expansion)
                    .is_some_and(|max| ulen <= max as u64);
                if !plausible {
                    return Err(RdbError::Corrupt {
                        offset: at,
                        expected: "an LZF string whose lengths are possible",
                        found: format!("{clen} compressed bytes for {ulen}"),
                    });
                }
                let mut input = std::mem::take(&mut self.lzf_in);
                let r = self.bytes(clen, &mut input, "LZF-compressed bytes");
                let r = r.and_then(|()| {
                    lzf::decompress_into(&input, ulen as usize, out).map_err(|e| {
                        RdbError::Corrupt {
                            offset: at,
                            expected: "a valid LZF string",
                            found: e.to_string(),
                        }
                    })
                });
                self.lzf_in = keep(input);
                r
            }
            Len::Encoded(e) => Err(RdbError::Corrupt {
                offset: at,
                expected,
                found: format!("the unknown string encoding {e}"),
            }),
        }
    }

    fn string_vec(&mut self, expected: &'static str) -> Result<Vec<u8>, RdbError> {
        let mut v = Vec::new();
        self.string(&mut v, expected)?;
        Ok(v)
    }
}

/// Keeps a scratch buffer unless it grew large.
fn keep(buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > SCRATCH_KEEP {
        Vec::new()
    } else {
        buf
    }
}

/// Redis's name for the module type with this 64-bit id (9 characters from
/// the top 54 bits; the low 10 bits are the encoding version).
fn module_name(id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = id >> 10;
    let mut name = [0u8; 9];
    for slot in name.iter_mut().rev() {
        *slot = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}

/// A streaming RDB decoder: pulls [`RdbEvent`]s from any reader.
///
/// It consumes exactly the bytes of one RDB (the header, the records, EOF
/// and the 8-byte checksum from version 5 on) and never a byte more, so the
/// source can go on being read afterwards ([`RdbReader::into_inner`]). It
/// does not buffer: wrap a file or socket in a `BufReader`. A read error
/// (including a timeout) ends the stream.
pub struct RdbReader<R> {
    input: Input<R>,
    opts: ReadOptions,
    version: Option<u32>,
    db: u64,
    /// Where the last event's record started (its first opcode).
    event_at: u64,
    /// Key attributes read but not yet used. As in Redis, they wait for the
    /// next key even across other opcodes.
    pending: Pending,
    done: bool,
    empty_keys_skipped: u64,
    a: Vec<u8>,
    b: Vec<u8>,
}

impl<R> std::fmt::Debug for RdbReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdbReader")
            .field("offset", &self.input.offset)
            .field("version", &self.version)
            .field("db", &self.db)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// What the key-specific opcodes before a key said.
#[derive(Default)]
struct Pending {
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
}

impl<R: Read> RdbReader<R> {
    pub fn new(src: R, opts: ReadOptions) -> RdbReader<R> {
        RdbReader {
            input: Input {
                inner: src,
                offset: 0,
                crc: Crc64::new(),
                crc_pending: Vec::with_capacity(CRC_BATCH),
                lzf_in: Vec::new(),
            },
            opts,
            version: None,
            db: 0,
            event_at: 0,
            pending: Pending::default(),
            done: false,
            empty_keys_skipped: 0,
            a: Vec::new(),
            b: Vec::new(),
        }
    }

    /// The file's RDB version, once the header has been read.
    pub fn version(&self) -> Option<u32> {
        self.version
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.input.offset
    }

    /// Where the record of the last event returned starts: its first opcode
    /// (for a key, the expiry or LRU/LFU opcode before its type, if any).
    pub fn event_offset(&self) -> u64 {
        self.event_at
    }

    /// Empty aggregates skipped so far (Redis skips them with a warning).
    pub fn empty_keys_skipped(&self) -> u64 {
        self.empty_keys_skipped
    }

    /// The source, positioned just after the last byte read.
    pub fn into_inner(self) -> R {
        self.input.inner
    }

    /// The next event; `Ok(None)` after [`RdbEvent::End`] or an error.
    pub fn next_event(&mut self) -> Result<Option<RdbEvent>, RdbError> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_event();
        if !matches!(&r, Ok(Some(e)) if !matches!(e, RdbEvent::End { .. })) {
            self.done = true;
        }
        r
    }

    fn read_header(&mut self) -> Result<u32, RdbError> {
        let mut magic = [0u8; 9];
        if let Err(e) = self.input.read_exact(&mut magic, "the RDB header") {
            return Err(match e {
                RdbError::Truncated { .. } => RdbError::Signature {
                    found: "fewer than 9 bytes".into(),
                },
                e => e,
            });
        }
        if &magic[..5] != b"REDIS" || !magic[5..].iter().all(u8::is_ascii_digit) {
            return Err(RdbError::Signature {
                found: show(&magic),
            });
        }
        let version = magic[5..]
            .iter()
            .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
        if !(1..=super::RDB_VERSION).contains(&version) {
            return Err(RdbError::Version { version });
        }
        Ok(version)
    }

    fn read_event(&mut self) -> Result<Option<RdbEvent>, RdbError> {
        let version = match self.version {
            Some(v) => v,
            None => {
                let v = self.read_header()?;
                self.version = Some(v);
                v
            }
        };
        let mut fresh = true;
        loop {
            let at = self.input.offset;
            if fresh {
                self.event_at = at;
            }
            fresh = false;
            let code = self.input.u8("an opcode or a value type")?;
            match code {
                opcode::EXPIRETIME => {
                    let secs = i32::from_le_bytes(self.input.array("an expiry in seconds")?);
                    self.pending.expire_ms = Some(i64::from(secs) * 1000);
                }
                opcode::EXPIRETIME_MS => {
                    let ms = i64::from_le_bytes(self.input.array("an expiry in milliseconds")?);
                    self.pending.expire_ms = Some(ms);
                }
                opcode::FREQ => self.pending.freq = Some(self.input.u8("an LFU counter")?),
                opcode::IDLE => self.pending.idle = Some(self.input.len("an LRU idle time")?),
                opcode::EOF => {
                    if version < 5 {
                        return Ok(Some(RdbEvent::End { checksum: None }));
                    }
                    let computed = self.input.crc_value();
                    let trailer_at = self.input.offset;
                    let stored = u64::from_le_bytes(self.input.array("the checksum")?);
                    if self.opts.verify_checksum && stored != 0 && stored != computed {
                        return Err(RdbError::Checksum {
                            offset: trailer_at,
                            stored,
                            computed,
                        });
                    }
                    return Ok(Some(RdbEvent::End {
                        checksum: Some(stored),
                    }));
                }
                opcode::SELECTDB => {
                    let db = self.input.len("a database number")?;
                    self.db = db;
                    return Ok(Some(RdbEvent::SelectDb { db }));
                }
                opcode::RESIZEDB => {
                    let keys = self.input.len("a RESIZEDB key count")?;
                    let expires = self.input.len("a RESIZEDB expiry count")?;
                    return Ok(Some(RdbEvent::ResizeDb { keys, expires }));
                }
                opcode::AUX => {
                    let key = self.input.string_vec("an AUX field name")?;
                    let value = self.input.string_vec("an AUX field value")?;
                    return Ok(Some(RdbEvent::Aux { key, value }));
                }
                opcode::MODULE_AUX => {
                    let id = self.input.len("a module id")?;
                    let when_op = self.input.len("a module aux 'when' opcode")?;
                    if when_op != 2 {
                        return Err(RdbError::Corrupt {
                            offset: at,
                            expected: "module aux data starting with a UINT 'when'",
                            found: format!("opcode {when_op}"),
                        });
                    }
                    let when = self.input.len("a module aux 'when'")?;
                    self.skip_module_value()?;
                    return Ok(Some(RdbEvent::ModuleAux {
                        module: module_name(id),
                        when,
                    }));
                }
                opcode::FUNCTION2 => {
                    let code = self.input.string_vec("a function library")?;
                    return Ok(Some(RdbEvent::FunctionLibrary { code }));
                }
                opcode::FUNCTION => {
                    let name = self.input.string_vec("a function library name")?;
                    let engine = self.input.string_vec("a function engine name")?;
                    if self.input.len("a function description flag")? != 0 {
                        self.input.string_vec("a function description")?;
                    }
                    let body = self.input.string_vec("a function library body")?;
                    let mut code = Vec::with_capacity(body.len() + 16 + name.len());
                    code.extend_from_slice(b"#!");
                    code.extend_from_slice(&engine);
                    code.extend_from_slice(b" name=");
                    code.extend_from_slice(&name);
                    code.push(b'\n');
                    code.extend_from_slice(&body);
                    return Ok(Some(RdbEvent::FunctionLibrary { code }));
                }
                _ => {
                    let mut key = std::mem::take(&mut self.a);
                    let r = self.input.string(&mut key, "a key");
                    let key_bytes = SmallBytes::from_slice(&key);
                    self.a = keep(key);
                    r?;
                    let value = self.read_value(code, &key_bytes, at)?;
                    let pending = std::mem::take(&mut self.pending);
                    let Some(value) = value else {
                        self.empty_keys_skipped += 1;
                        fresh = true;
                        continue;
                    };
                    let expire_at_ms = pending.expire_ms.and_then(|ms| match ms {
                        -1 => None,
                        ms => Some(u64::try_from(ms).unwrap_or(0)),
                    });
                    return Ok(Some(RdbEvent::Entry(RdbEntry {
                        db: self.db,
                        key: key_bytes,
                        value,
                        expire_at_ms,
                        idle_secs: pending.idle,
                        freq: pending.freq,
                    })));
                }
            }
        }
    }

    /// Reads one FUNCTION2 record (a library's source) of a FUNCTION DUMP
    /// payload: `Ok(None)` when the next byte is another record type.
    pub(super) fn read_function_record(&mut self) -> Result<Option<Vec<u8>>, RdbError> {
        if self.input.u8("a record type")? != opcode::FUNCTION2 {
            return Ok(None);
        }
        self.input.string_vec("a function library").map(Some)
    }

    /// Reads one value without a header or key around it: a type byte and
    /// the value (the body of a DUMP payload). `key` only names the value in
    /// errors. `None` for an empty aggregate.
    pub(super) fn read_object(&mut self, key: &[u8]) -> Result<Option<Value>, RdbError> {
        let at = self.input.offset;
        self.event_at = at;
        let code = self.input.u8("a value type")?;
        self.read_value(code, key, at)
    }

    /// Skips a module value written with opcodes (`rdbLoadCheckModuleValue`).
    fn skip_module_value(&mut self) -> Result<(), RdbError> {
        let mut scratch = std::mem::take(&mut self.b);
        let r = loop {
            let at = self.input.offset;
            match self.input.len("a module value opcode") {
                Err(e) => break Err(e),
                Ok(0) => break Ok(()),
                Ok(1 | 2) => {
                    if let Err(e) = self.input.len("a module integer") {
                        break Err(e);
                    }
                }
                Ok(3) => {
                    if let Err(e) = self.input.array::<4>("a module float") {
                        break Err(e);
                    }
                }
                Ok(4) => {
                    if let Err(e) = self.input.array::<8>("a module double") {
                        break Err(e);
                    }
                }
                Ok(5) => {
                    if let Err(e) = self.input.string(&mut scratch, "a module string") {
                        break Err(e);
                    }
                }
                Ok(op) => {
                    break Err(RdbError::Corrupt {
                        offset: at,
                        expected: "a module value opcode (0 to 5)",
                        found: op.to_string(),
                    })
                }
            }
        };
        self.b = keep(scratch);
        r
    }

    /// Reads a value of type `code`. `None` for an empty aggregate.
    fn read_value(
        &mut self,
        code: u8,
        key: &[u8],
        record_at: u64,
    ) -> Result<Option<Value>, RdbError> {
        let at = self.input.offset;
        let limits = self.opts.limits;
        match code {
            t::STRING => {
                let mut s = Vec::new();
                self.input.string(&mut s, "a string value")?;
                Ok(Some(Value::string(SmallBytes::from_vec(s))))
            }
            t::LIST => {
                let n = self.input.len("a list length")?;
                let mut items = Vec::with_capacity(n.min(RESERVE_MAX) as usize);
                for _ in 0..n {
                    items.push(self.small("a list element")?);
                }
                Ok(list_value(items))
            }
            t::SET => {
                let n = self.input.len("a set size")?;
                if n == 0 {
                    return Ok(None);
                }
                let mut set = SetValue::new();
                let mut m = std::mem::take(&mut self.b);
                let mut r = Ok(());
                for _ in 0..n {
                    let member_at = self.input.offset;
                    r = self.input.string(&mut m, "a set member");
                    if r.is_err() {
                        break;
                    }
                    if !set.add(&m, &limits) {
                        r = Err(duplicate(member_at, "set member", key, &m));
                        break;
                    }
                }
                self.b = keep(m);
                r.map(|()| Some(Value::Set(Box::new(set))))
            }
            t::ZSET | t::ZSET_2 => {
                let n = self.input.len("a sorted set size")?;
                let mut pairs = Vec::with_capacity(n.min(RESERVE_MAX) as usize);
                for _ in 0..n {
                    let member = self.small("a sorted set member")?;
                    let score_at = self.input.offset;
                    let score = if code == t::ZSET_2 {
                        f64::from_le_bytes(self.input.array("a binary score")?)
                    } else {
                        self.text_score()?
                    };
                    if score.is_nan() {
                        return Err(RdbError::Corrupt {
                            offset: score_at,
                            expected: "a score that is a number",
                            found: "NaN".into(),
                        });
                    }
                    pairs.push((member, score));
                }
                zset_value(pairs, &limits, at, key)
            }
            t::HASH => {
                let n = self.input.len("a hash size")?;
                if n == 0 {
                    return Ok(None);
                }
                let mut hash = HashValue::new();
                let mut f = std::mem::take(&mut self.a);
                let mut v = std::mem::take(&mut self.b);
                let mut r = Ok(());
                for _ in 0..n {
                    let field_at = self.input.offset;
                    r = self
                        .input
                        .string(&mut f, "a hash field")
                        .and_then(|()| self.input.string(&mut v, "a hash value"));
                    if r.is_err() {
                        break;
                    }
                    if !hash.set(&f, &v, &limits) {
                        r = Err(duplicate(field_at, "hash field", key, &f));
                        break;
                    }
                }
                self.a = keep(f);
                self.b = keep(v);
                r.map(|()| Some(Value::Hash(Box::new(hash))))
            }
            t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => {
                let nodes = self.input.len("a quicklist node count")?;
                let mut items: Vec<SmallBytes> = Vec::new();
                let mut blob = std::mem::take(&mut self.b);
                let mut r = Ok(());
                for _ in 0..nodes {
                    let node_at = self.input.offset;
                    let container = if code == t::LIST_QUICKLIST_2 {
                        match self.input.len("a quicklist container type") {
                            Ok(c @ (1 | 2)) => c,
                            Ok(c) => {
                                r = Err(RdbError::Corrupt {
                                    offset: node_at,
                                    expected: "a quicklist container of 1 (plain) or 2 (packed)",
                                    found: c.to_string(),
                                });
                                break;
                            }
                            Err(e) => {
                                r = Err(e);
                                break;
                            }
                        }
                    } else {
                        2
                    };
                    let blob_at = self.input.offset;
                    if let Err(e) = self.input.string(&mut blob, "a quicklist node") {
                        r = Err(e);
                        break;
                    }
                    if blob.is_empty() {
                        r = Err(RdbError::Corrupt {
                            offset: blob_at,
                            expected: "a non-empty quicklist node",
                            found: "an empty string".into(),
                        });
                        break;
                    }
                    if container == 1 {
                        items.push(SmallBytes::from_slice(&blob));
                        continue;
                    }
                    let parsed = if code == t::LIST_QUICKLIST_2 {
                        listpack::parse(&blob).map_err(|m| m.into_error(blob_at, "listpack"))
                    } else {
                        ziplist::parse(&blob).map_err(|m| m.into_error(blob_at, "ziplist"))
                    };
                    match parsed {
                        Ok(entries) => items.extend(entries.into_iter().map(small_entry)),
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                self.b = keep(blob);
                r?;
                Ok(list_value(items))
            }
            t::HASH_ZIPMAP
            | t::LIST_ZIPLIST
            | t::SET_INTSET
            | t::ZSET_ZIPLIST
            | t::HASH_ZIPLIST
            | t::HASH_LISTPACK
            | t::ZSET_LISTPACK => {
                let mut blob = std::mem::take(&mut self.b);
                let r = self
                    .input
                    .string(&mut blob, "an encoded value")
                    .and_then(|()| blob_value(code, &blob, &limits, at, key));
                self.b = keep(blob);
                r
            }
            t::STREAM_LISTPACKS | t::STREAM_LISTPACKS_2 | t::STREAM_LISTPACKS_3 => self
                .read_stream(code)
                .map(|s| Some(Value::Stream(Box::new(s)))),
            t::MODULE | t::MODULE_2 => {
                let id = self.input.len("a module type id")?;
                Err(RdbError::Module {
                    offset: record_at,
                    module: module_name(id),
                    what: format!("the value of key {:?}", show(key)),
                })
            }
            other => Err(RdbError::Corrupt {
                offset: record_at,
                expected: "an opcode or a value type Redis 7.0 knows",
                found: format!("type {other} (key {:?})", show(key)),
            }),
        }
    }

    /// A stream of any of the three RDB stream types (Redis's
    /// `rdbLoadObject` for `RDB_TYPE_STREAM_LISTPACKS*`).
    fn read_stream(&mut self, code: u8) -> Result<StreamValue, RdbError> {
        let corrupt = |offset: u64, expected: &'static str, found: String| RdbError::Corrupt {
            offset,
            expected,
            found,
        };
        let mut s = StreamValue::new();
        let nodes = self.input.len("a stream node count")?;
        let mut blob = std::mem::take(&mut self.b);
        let mut r = Ok(());
        for _ in 0..nodes {
            let key_at = self.input.offset;
            let key = match self.input.string_vec("a stream node key") {
                Ok(k) => k,
                Err(e) => {
                    r = Err(e);
                    break;
                }
            };
            let Ok(raw) = <[u8; 16]>::try_from(key.as_slice()) else {
                r = Err(corrupt(
                    key_at,
                    "a stream node key of 16 bytes",
                    format!("{} bytes", key.len()),
                ));
                break;
            };
            let lp_at = self.input.offset;
            if let Err(e) = self.input.string(&mut blob, "a stream listpack") {
                r = Err(e);
                break;
            }
            if let Err(e) = s.load_node(StreamId::from_be_bytes(raw), &blob) {
                r = Err(corrupt(lp_at, "a valid stream listpack", e));
                break;
            }
        }
        self.b = keep(blob);
        r?;
        let length = self.input.len("a stream length")?;
        s.last_id = self.stream_id()?;
        if code == t::STREAM_LISTPACKS {
            s.entries_added = length;
        } else {
            s.first_id = self.stream_id()?;
            s.max_deleted_id = self.stream_id()?;
            s.entries_added = self.input.len("a stream's entries-added counter")?;
        }
        let meta_at = self.input.offset;
        s.finish_load(length)
            .map_err(|e| corrupt(meta_at, "stream metadata matching its nodes", e))?;
        if code == t::STREAM_LISTPACKS {
            s.first_id = s.first_live_id().unwrap_or(StreamId::MAX);
        }
        let groups = self.input.len("a stream group count")?;
        for _ in 0..groups {
            let name_at = self.input.offset;
            let name = self.input.string_vec("a consumer group name")?;
            let last_id = self.stream_id()?;
            let entries_read = if code == t::STREAM_LISTPACKS {
                s.estimate_distance(last_id)
            } else {
                self.input.len("a group's entries-read counter")? as i64
            };
            let mut group = Group::new(last_id, entries_read);
            let pel = self.input.len("a group PEL size")?;
            for _ in 0..pel {
                let id_at = self.input.offset;
                let id = StreamId::from_be_bytes(self.input.array("a PEL entry ID")?);
                let delivery_time =
                    i64::from_le_bytes(self.input.array("a PEL delivery time")?) as u64;
                let delivery_count = self.input.len("a PEL delivery count")?;
                let nack = Nack {
                    delivery_time,
                    delivery_count,
                    consumer: SmallBytes::default(),
                };
                if group.pel.insert(id, nack).is_some() {
                    return Err(corrupt(id_at, "distinct group PEL entries", id.to_string()));
                }
            }
            let consumers = self.input.len("a consumer count")?;
            for _ in 0..consumers {
                let cname_at = self.input.offset;
                let cname = self.small("a consumer name")?;
                let seen_time =
                    i64::from_le_bytes(self.input.array("a consumer seen time")?) as u64;
                if code == t::STREAM_LISTPACKS_3 {
                    self.input.array::<8>("a consumer active time")?;
                }
                let n = self.input.len("a consumer PEL size")?;
                let mut own = BTreeSet::new();
                for _ in 0..n {
                    let id_at = self.input.offset;
                    let id = StreamId::from_be_bytes(self.input.array("a consumer PEL ID")?);
                    match group.pel.get_mut(&id) {
                        Some(nack) => nack.consumer = cname.clone(),
                        None => {
                            return Err(corrupt(
                                id_at,
                                "a consumer PEL entry that is in the group PEL",
                                id.to_string(),
                            ))
                        }
                    }
                    own.insert(id);
                }
                if group.consumers.contains_key(cname.as_slice()) {
                    return Err(corrupt(cname_at, "distinct consumer names", show(&cname)));
                }
                group.consumers.insert(
                    cname,
                    Consumer {
                        seen_time,
                        pel: own,
                    },
                );
            }
            let owned: usize = group.consumers.values().map(|c| c.pel.len()).sum();
            if owned != group.pel.len() {
                return Err(corrupt(
                    name_at,
                    "a group whose every PEL entry has a consumer",
                    show(&name),
                ));
            }
            if s.groups.insert(SmallBytes::from_vec(name), group).is_some() {
                return Err(corrupt(
                    name_at,
                    "distinct consumer group names",
                    "a duplicate".into(),
                ));
            }
        }
        Ok(s)
    }

    fn stream_id(&mut self) -> Result<StreamId, RdbError> {
        let ms = self.input.len("a stream ID's milliseconds")?;
        let seq = self.input.len("a stream ID's sequence")?;
        Ok(StreamId::new(ms, seq))
    }

    /// A string as a `SmallBytes`, through a reusable buffer.
    fn small(&mut self, expected: &'static str) -> Result<SmallBytes, RdbError> {
        let mut buf = std::mem::take(&mut self.a);
        let r = self.input.string(&mut buf, expected);
        let s = SmallBytes::from_slice(&buf);
        self.a = keep(buf);
        r.map(|()| s)
    }

    /// A score of the legacy ZSET type: a length byte (253 NaN, 254 +inf,
    /// 255 -inf) and that many bytes of decimal text.
    fn text_score(&mut self) -> Result<f64, RdbError> {
        let at = self.input.offset;
        match self.input.u8("a score")? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let mut text = [0u8; 252];
                let text = &mut text[..usize::from(n)];
                self.input.read_exact(text, "a score")?;
                parse_score(text).ok_or_else(|| RdbError::Corrupt {
                    offset: at,
                    expected: "a score in decimal",
                    found: format!("{:?}", show(text)),
                })
            }
        }
    }
}

impl<R: Read> Iterator for RdbReader<R> {
    type Item = Result<RdbEvent, RdbError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

fn duplicate(offset: u64, what: &'static str, key: &[u8], item: &[u8]) -> RdbError {
    RdbError::Corrupt {
        offset,
        expected: "distinct members",
        found: format!("{what} {:?} twice in key {:?}", show(item), show(key)),
    }
}

fn small_entry(e: Entry<'_>) -> SmallBytes {
    match e {
        Entry::Str(s) => SmallBytes::from_slice(s),
        Entry::Int(v) => SmallBytes::from_vec(num::i64_to_bytes(v)),
    }
}

fn list_value(items: Vec<SmallBytes>) -> Option<Value> {
    if items.is_empty() {
        return None;
    }
    Some(Value::List(Box::new(ListValue::from_iter(items))))
}

/// A sorted set from distinct `(member, score)` pairs; duplicates are corrupt.
fn zset_value(
    pairs: Vec<(SmallBytes, f64)>,
    limits: &Limits,
    at: u64,
    key: &[u8],
) -> Result<Option<Value>, RdbError> {
    if pairs.is_empty() {
        return Ok(None);
    }
    let n = pairs.len();
    let zset = ZSetValue::from_pairs(pairs, limits);
    let mut dup = zset.len() != n;
    if !dup && zset.is_listpack() {
        // The compact form keeps whatever it is given: look for repeats.
        let mut members: Vec<&[u8]> = zset.iter().map(|(m, _)| m).collect();
        members.sort_unstable();
        dup = members.windows(2).any(|w| w[0] == w[1]);
    }
    if dup {
        return Err(RdbError::Corrupt {
            offset: at,
            expected: "distinct members",
            found: format!("a repeated member in sorted set {:?}", show(key)),
        });
    }
    Ok(Some(Value::ZSet(Box::new(zset))))
}

/// A flat list of pairs must hold an even number of entries.
fn even_entries(
    count: usize,
    at: u64,
    expected: &'static str,
    kind: &str,
    key: &[u8],
) -> Result<(), RdbError> {
    if count.is_multiple_of(2) {
        return Ok(());
    }
    Err(RdbError::Corrupt {
        offset: at,
        expected,
        found: format!("{count} entries in {kind} {:?}", show(key)),
    })
}

/// Hash pairs from a flat list of entries (field, value, field, value, ...).
fn hash_from_entries(
    entries: &[Entry<'_>],
    limits: &Limits,
    at: u64,
    key: &[u8],
) -> Result<Option<Value>, RdbError> {
    even_entries(entries.len(), at, "field/value pairs", "hash", key)?;
    if entries.is_empty() {
        return Ok(None);
    }
    let mut hash = HashValue::new();
    for pair in entries.chunks_exact(2) {
        let added = pair[0].with_bytes(|f| pair[1].with_bytes(|v| hash.set(f, v, limits)));
        if !added {
            return Err(pair[0].with_bytes(|f| duplicate(at, "hash field", key, f)));
        }
    }
    Ok(Some(Value::Hash(Box::new(hash))))
}

/// Sorted set pairs from a flat list of entries (member, score, ...).
fn zset_from_entries(
    entries: &[Entry<'_>],
    limits: &Limits,
    at: u64,
    key: &[u8],
) -> Result<Option<Value>, RdbError> {
    even_entries(entries.len(), at, "member/score pairs", "sorted set", key)?;
    let mut pairs = Vec::with_capacity(entries.len() / 2);
    for pair in entries.chunks_exact(2) {
        let score = match pair[1] {
            Entry::Int(v) => v as f64,
            Entry::Str(s) => {
                parse_score(s)
                    .filter(|v| !v.is_nan())
                    .ok_or_else(|| RdbError::Corrupt {
                        offset: at,
                        expected: "a score in decimal",
                        found: format!("{:?} in sorted set {:?}", show(s), show(key)),
                    })?
            }
        };
        pairs.push((small_entry(pair[0]), score));
    }
    zset_value(pairs, limits, at, key)
}

fn parse_lp(blob: &[u8], at: u64) -> Result<Vec<Entry<'_>>, RdbError> {
    listpack::parse(blob).map_err(|m: Malformed| m.into_error(at, "listpack"))
}

fn parse_zl(blob: &[u8], at: u64) -> Result<Vec<Entry<'_>>, RdbError> {
    ziplist::parse(blob).map_err(|m: Malformed| m.into_error(at, "ziplist"))
}

/// The value of a type stored as one encoded blob.
fn blob_value(
    code: u8,
    blob: &[u8],
    limits: &Limits,
    at: u64,
    key: &[u8],
) -> Result<Option<Value>, RdbError> {
    match code {
        t::HASH_ZIPMAP => {
            let pairs = zipmap::parse(blob).map_err(|m| m.into_error(at, "zipmap"))?;
            if pairs.is_empty() {
                // Redis's zipmap check refuses an empty one.
                return Err(RdbError::Corrupt {
                    offset: at,
                    expected: "a non-empty zipmap",
                    found: format!("an empty one for key {:?}", show(key)),
                });
            }
            let mut hash = HashValue::new();
            for (f, v) in pairs {
                if !hash.set(f, v, limits) {
                    return Err(duplicate(at, "hash field", key, f));
                }
            }
            Ok(Some(Value::Hash(Box::new(hash))))
        }
        t::LIST_ZIPLIST => Ok(list_value(
            parse_zl(blob, at)?.into_iter().map(small_entry).collect(),
        )),
        t::SET_INTSET => {
            let ints = intset::decode(blob).map_err(|m| m.into_error(at, "intset"))?;
            if ints.is_empty() {
                return Err(RdbError::Corrupt {
                    offset: at,
                    expected: "a non-empty intset",
                    found: format!("an empty one for key {:?}", show(key)),
                });
            }
            let mut set = SetValue::new();
            let mut text = Vec::with_capacity(20);
            for v in ints {
                text.clear();
                num::push_i64(&mut text, v);
                set.add(&text, limits);
            }
            Ok(Some(Value::Set(Box::new(set))))
        }
        t::ZSET_ZIPLIST => zset_from_entries(&parse_zl(blob, at)?, limits, at, key),
        t::ZSET_LISTPACK => zset_from_entries(&parse_lp(blob, at)?, limits, at, key),
        t::HASH_ZIPLIST => hash_from_entries(&parse_zl(blob, at)?, limits, at, key),
        t::HASH_LISTPACK => hash_from_entries(&parse_lp(blob, at)?, limits, at, key),
        _ => Err(RdbError::Corrupt {
            offset: at,
            expected: "an encoded value type",
            found: code.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_decode() {
        // "mymodtype" with encoding version 3, as RedisModule_CreateDataType builds it.
        let cs = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut id: u64 = 0;
        for c in b"mymodtype" {
            let pos = cs.iter().position(|x| x == c).unwrap() as u64;
            id = (id << 6) | pos;
        }
        id = (id << 10) | 3;
        assert_eq!(module_name(id), "mymodtype");
    }
}
