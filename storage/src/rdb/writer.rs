//! The streaming RDB writer.
//!
//! Bytes go through a 64 KiB buffer; the CRC is updated as the buffer is
//! handed to the sink, and strings larger than the buffer go to the sink
//! directly. Besides the buffer, memory is bounded by the value being written:
//! one listpack node (about 8 KiB) for lists, one listpack or intset blob for
//! compact hashes, sets and sorted sets, and the LZF output of one string.
//!
//! Call order: [`RdbWriter::write_header`], any [`RdbWriter::aux`] /
//! [`RdbWriter::function_library`], then per database
//! [`RdbWriter::select_db`] and its [`RdbWriter::write_entry`] calls, then
//! [`RdbWriter::finish`]. After an I/O error the output is unusable.

use std::io::{self, Write};

use super::crc64::Crc64;
use super::listpack::{self, Builder};
use super::lzf::Compressor;
use super::{intset, opcode, value_type, RDB_VERSION};
use crate::num;
use crate::types::hash::HashValue;
use crate::types::list::ListValue;
use crate::types::set::{Member, SetValue};
use crate::types::stream::StreamValue;
use crate::types::zset::ZSetValue;
use crate::value::Value;

const BUF_CAP: usize = 64 * 1024;
/// Scratch buffers larger than this are released after use.
const SCRATCH_KEEP: usize = 1 << 20;
/// Elements this large get a quicklist node of their own, stored PLAIN
/// (Redis 7.0's default `packed_threshold`).
const PACKED_THRESHOLD: usize = 1 << 30;
/// Quicklist node size limits for `list-max-listpack-size` -1 to -5.
const NODE_SIZE_LEVELS: [usize; 5] = [4096, 8192, 16384, 32768, 65536];
/// The node size a positive (count) fill may not pass.
const NODE_SIZE_SAFETY_LIMIT: usize = 8192;
/// Redis's per-entry overhead estimate when it decides whether a node is full.
const NODE_ENTRY_OVERHEAD: usize = 8;
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

/// Writer settings (the redis.conf directives that shape the output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RdbOptions {
    /// `rdbcompression`: LZF-compress strings longer than 20 bytes when it
    /// saves at least 4 bytes.
    pub compression: bool,
    /// `rdbchecksum`: write the CRC-64 trailer (otherwise 8 zero bytes).
    pub checksum: bool,
    /// `list-max-listpack-size`: how lists are cut into quicklist nodes.
    pub list_max_listpack_size: i64,
}

impl Default for RdbOptions {
    fn default() -> Self {
        RdbOptions {
            compression: true,
            checksum: true,
            list_max_listpack_size: -2,
        }
    }
}

/// The replication AUX fields (`repl-stream-db`, `repl-id`, `repl-offset`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplAux {
    pub stream_db: i64,
    /// The 40-character replication id.
    pub id: String,
    pub offset: i64,
}

/// The AUX fields Redis writes at the top of every RDB, in its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuxFields {
    pub redis_ver: String,
    pub redis_bits: u32,
    /// Creation time, Unix seconds.
    pub ctime_secs: u64,
    pub used_mem: u64,
    pub repl: Option<ReplAux>,
    /// Further fields of tandem's own (e.g. the replication lineage), written
    /// after the replication fields. Readers skip fields they do not know.
    pub extra: Vec<(String, String)>,
    pub aof_base: bool,
    /// Function libraries' sources, written as FUNCTION2 records after the
    /// AUX fields (where Redis writes them, before the first database).
    pub functions: Vec<Vec<u8>>,
}

impl AuxFields {
    /// Redis 7.0.15's fields for a 64-bit build, without replication info.
    pub fn new(ctime_secs: u64, used_mem: u64) -> AuxFields {
        AuxFields {
            redis_ver: "7.0.15".into(),
            redis_bits: 64,
            ctime_secs,
            used_mem,
            repl: None,
            extra: Vec::new(),
            aof_base: false,
            functions: Vec::new(),
        }
    }
}

/// A streaming RDB encoder over any sink.
///
/// Bytes go through a 64 KiB buffer (larger strings go to the sink
/// directly) and the CRC-64 follows them out. Besides the buffer, memory is
/// bounded by the value being written: one quicklist node (about 8 KiB) at a
/// time for lists, one listpack or intset blob for compact hashes, sets and
/// sorted sets, and the LZF output of one string.
///
/// Call order: [`RdbWriter::write_header`], any [`RdbWriter::aux`] /
/// [`RdbWriter::function_library`], then per database
/// [`RdbWriter::select_db`] and its [`RdbWriter::write_entry`] calls, then
/// [`RdbWriter::finish`]. After an I/O error the output is unusable.
pub struct RdbWriter<W: Write> {
    sink: W,
    opts: RdbOptions,
    buf: Vec<u8>,
    crc: Crc64,
    /// Bytes already handed to the sink.
    flushed: u64,
    lzf: Compressor,
    lzf_out: Vec<u8>,
    lp: Builder,
    ints: Vec<i64>,
    blob: Vec<u8>,
    nodes: Vec<Node>,
}

impl<W: Write> std::fmt::Debug for RdbWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RdbWriter")
            .field("opts", &self.opts)
            .field("bytes_written", &self.bytes_written())
            .finish_non_exhaustive()
    }
}

/// One planned quicklist node: how many elements, and whether it is PLAIN.
#[derive(Clone, Copy, Debug)]
struct Node {
    count: usize,
    plain: bool,
}

/// Redis's `_quicklistNodeAllowInsert`: may an element of `sz` bytes join a
/// node whose listpack is `node_bytes` long and holds `count` elements?
fn node_allows(node_bytes: usize, count: usize, sz: usize, fill: i64) -> bool {
    let new_sz = node_bytes + sz + NODE_ENTRY_OVERHEAD;
    if fill < 0 {
        let level = fill
            .checked_neg()
            .and_then(|f| usize::try_from(f - 1).ok())
            .and_then(|i| NODE_SIZE_LEVELS.get(i));
        if level.is_some_and(|&limit| new_sz <= limit) {
            return true;
        }
    }
    if new_sz > NODE_SIZE_SAFETY_LIMIT {
        return false;
    }
    i64::try_from(count).is_ok_and(|c| c < fill)
}

/// Redis's `double2ll`: the integer a listpack stores for an integral score.
fn score_as_int(score: f64) -> Option<i64> {
    const LIMIT: f64 = (i64::MAX / 2) as f64;
    if !(-LIMIT..=LIMIT).contains(&score) {
        return None;
    }
    let v = score as i64;
    (v as f64 == score).then_some(v)
}

/// Redis's `d2string` for a score that is not stored as an integer.
fn score_text(score: f64) -> String {
    num::fmt_g17(score)
}

impl<W: Write> RdbWriter<W> {
    pub fn new(sink: W, opts: RdbOptions) -> RdbWriter<W> {
        RdbWriter {
            sink,
            opts,
            buf: Vec::with_capacity(BUF_CAP),
            crc: Crc64::new(),
            flushed: 0,
            lzf: Compressor::new(),
            lzf_out: Vec::new(),
            lp: Builder::new(),
            ints: Vec::new(),
            blob: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Bytes produced so far (buffered ones included).
    pub fn bytes_written(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// Writes `REDIS0010`, the standard AUX fields and the function libraries.
    pub fn write_header(&mut self, aux: &AuxFields) -> io::Result<()> {
        self.put(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        self.aux(b"redis-ver", aux.redis_ver.as_bytes())?;
        self.aux_int(b"redis-bits", i64::from(aux.redis_bits))?;
        self.aux_int(b"ctime", clamp_i64(aux.ctime_secs))?;
        self.aux_int(b"used-mem", clamp_i64(aux.used_mem))?;
        if let Some(repl) = &aux.repl {
            self.aux_int(b"repl-stream-db", repl.stream_db)?;
            self.aux(b"repl-id", repl.id.as_bytes())?;
            self.aux_int(b"repl-offset", repl.offset)?;
        }
        for (key, value) in &aux.extra {
            self.aux(key.as_bytes(), value.as_bytes())?;
        }
        self.aux_int(b"aof-base", i64::from(aux.aof_base))?;
        for code in &aux.functions {
            self.function_library(code)?;
        }
        Ok(())
    }

    /// Writes one AUX field. Readers ignore fields they do not know.
    pub fn aux(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.put(&[opcode::AUX])?;
        self.put_string(key)?;
        self.put_string(value)
    }

    /// Writes an AUX field whose value is an integer (stored as Redis does,
    /// as an integer-encoded string when it fits 32 bits).
    pub fn aux_int(&mut self, key: &[u8], value: i64) -> io::Result<()> {
        self.aux(key, &num::i64_to_bytes(value))
    }

    /// Writes a FUNCTION2 record: one function library's source.
    pub fn function_library(&mut self, code: &[u8]) -> io::Result<()> {
        self.put(&[opcode::FUNCTION2])?;
        self.put_string(code)
    }

    /// Starts database `db`: SELECTDB, then the RESIZEDB hint.
    pub fn select_db(&mut self, db: u32, keys: u64, expires: u64) -> io::Result<()> {
        self.put(&[opcode::SELECTDB])?;
        self.put_len(u64::from(db))?;
        self.put(&[opcode::RESIZEDB])?;
        self.put_len(keys)?;
        self.put_len(expires)
    }

    /// Writes one key: its expiry (absolute Unix ms) if any, its type, the
    /// key and the value. Empty aggregates are skipped (Redis never keeps
    /// one, and skips them when loading).
    pub fn write_entry(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_at_ms: Option<u64>,
    ) -> io::Result<()> {
        if value.is_empty_aggregate() {
            return Ok(());
        }
        if let Some(at) = expire_at_ms {
            self.put(&[opcode::EXPIRETIME_MS])?;
            self.put(&clamp_i64(at).to_le_bytes())?;
        }
        self.write_object(Some(key), value)
    }

    /// Writes one value as a key's record holds it, without the key: its
    /// type and its serialization (the body of a DUMP payload).
    pub fn write_value(&mut self, value: &Value) -> io::Result<()> {
        self.write_object(None, value)
    }

    /// The type, the key when there is one, and the value.
    fn write_object(&mut self, key: Option<&[u8]>, value: &Value) -> io::Result<()> {
        match value {
            Value::Str(s) => {
                self.put_header(value_type::STRING, key)?;
                self.put_string(s)
            }
            Value::List(l) => self.write_list(key, l),
            Value::Set(s) => self.write_set(key, s),
            Value::ZSet(z) => self.write_zset(key, z),
            Value::Hash(h) => self.write_hash(key, h),
            Value::Stream(st) => self.write_stream(key, st),
        }
    }

    /// A stream as Redis 7.0 saves it (`RDB_TYPE_STREAM_LISTPACKS_2`): the
    /// nodes (master ID key, listpack), the metadata, then each group with
    /// its PEL (with delivery times and counts) and its consumers (each with
    /// its seen time and its PEL as bare IDs).
    fn write_stream(&mut self, key: Option<&[u8]>, s: &StreamValue) -> io::Result<()> {
        self.put_header(value_type::STREAM_LISTPACKS_2, key)?;
        self.put_len(s.node_count() as u64)?;
        let mut result = Ok(());
        s.for_each_node(|master, lp| {
            if result.is_ok() {
                result = self
                    .put_string(&master.to_be_bytes())
                    .and_then(|()| self.put_string(lp));
            }
        });
        result?;
        self.put_len(s.len())?;
        for id in [s.last_id, s.first_id, s.max_deleted_id] {
            self.put_len(id.ms)?;
            self.put_len(id.seq)?;
        }
        self.put_len(s.entries_added)?;
        self.put_len(s.groups.len() as u64)?;
        for (name, g) in &s.groups {
            self.put_string(name)?;
            self.put_len(g.last_id.ms)?;
            self.put_len(g.last_id.seq)?;
            // Redis saves the signed counter through its unsigned length writer.
            self.put_len(g.entries_read as u64)?;
            self.put_len(g.pel.len() as u64)?;
            for (id, nack) in &g.pel {
                self.put(&id.to_be_bytes())?;
                self.put(&clamp_i64(nack.delivery_time).to_le_bytes())?;
                self.put_len(nack.delivery_count)?;
            }
            self.put_len(g.consumers.len() as u64)?;
            for (cname, c) in &g.consumers {
                self.put_string(cname)?;
                self.put(&clamp_i64(c.seen_time).to_le_bytes())?;
                self.put_len(c.pel.len() as u64)?;
                for id in &c.pel {
                    self.put(&id.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Flushes what is buffered and returns the sink, writing no EOF and
    /// no checksum (for a DUMP payload, whose trailer differs).
    pub fn into_sink(mut self) -> io::Result<W> {
        self.flush_buf()?;
        self.sink.flush()?;
        Ok(self.sink)
    }

    /// A value's type byte, then its key when it has one.
    fn put_header(&mut self, type_code: u8, key: Option<&[u8]>) -> io::Result<()> {
        self.put(&[type_code])?;
        match key {
            Some(key) => self.put_string(key),
            None => Ok(()),
        }
    }

    /// Writes EOF and the checksum trailer, flushes, and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        self.put(&[opcode::EOF])?;
        self.flush_buf()?;
        let crc = if self.opts.checksum {
            self.crc.value()
        } else {
            0
        };
        self.sink.write_all(&crc.to_le_bytes())?;
        self.sink.flush()?;
        Ok(self.sink)
    }

    fn write_list(&mut self, key: Option<&[u8]>, list: &ListValue) -> io::Result<()> {
        // Plan the nodes first: the node count comes before the nodes.
        // Redis clamps the fill as `quicklistSetFill` does.
        let fill = self.opts.list_max_listpack_size.clamp(-5, 32767);
        let mut nodes = std::mem::take(&mut self.nodes);
        nodes.clear();
        let mut count = 0;
        let mut bytes = 7; // an empty listpack
        for elem in list.iter() {
            if elem.len() >= PACKED_THRESHOLD {
                if count > 0 {
                    nodes.push(Node {
                        count,
                        plain: false,
                    });
                }
                nodes.push(Node {
                    count: 1,
                    plain: true,
                });
                count = 0;
                bytes = 7;
                continue;
            }
            if count > 0 && !node_allows(bytes, count, elem.len(), fill) {
                nodes.push(Node {
                    count,
                    plain: false,
                });
                count = 0;
                bytes = 7;
            }
            bytes += listpack::entry_size(elem);
            count += 1;
        }
        if count > 0 {
            nodes.push(Node {
                count,
                plain: false,
            });
        }

        self.put_header(value_type::LIST_QUICKLIST_2, key)?;
        self.put_len(nodes.len() as u64)?;
        let mut elems = list.iter();
        let mut lp = std::mem::take(&mut self.lp);
        let mut result = Ok(());
        for node in &nodes {
            if node.plain {
                result = match elems.next() {
                    Some(elem) => self
                        .put_len(CONTAINER_PLAIN)
                        .and_then(|()| self.put_string(elem)),
                    None => Err(io::Error::other("list changed while being written")),
                };
            } else {
                lp.clear();
                for elem in elems.by_ref().take(node.count) {
                    lp.push(elem);
                }
                result = self
                    .put_len(CONTAINER_PACKED)
                    .and_then(|()| self.put_string(lp.finish()));
            }
            if result.is_err() {
                break;
            }
        }
        lp.clear();
        self.lp = lp;
        self.nodes = nodes;
        result
    }

    fn write_set(&mut self, key: Option<&[u8]>, set: &SetValue) -> io::Result<()> {
        if set.is_intset() {
            let mut ints = std::mem::take(&mut self.ints);
            ints.clear();
            ints.extend(set.iter().filter_map(|m| match m {
                Member::Int(v) => Some(v),
                Member::Bytes(b) => num::parse_i64(b),
            }));
            if ints.len() == set.len() && ints.windows(2).all(|w| w[0] < w[1]) {
                let mut blob = std::mem::take(&mut self.blob);
                intset::encode(&ints, &mut blob);
                let r = self
                    .put_header(value_type::SET_INTSET, key)
                    .and_then(|()| self.put_string(&blob));
                self.blob = keep(blob);
                self.ints = if ints.capacity() > SCRATCH_KEEP {
                    Vec::new()
                } else {
                    ints
                };
                return r;
            }
            self.ints = ints;
        }
        self.put_header(value_type::SET, key)?;
        self.put_len(set.len() as u64)?;
        for m in set.iter() {
            m.with_bytes(|b| self.put_string(b))?;
        }
        Ok(())
    }

    fn write_zset(&mut self, key: Option<&[u8]>, zset: &ZSetValue) -> io::Result<()> {
        if zset.is_listpack() {
            let mut lp = std::mem::take(&mut self.lp);
            lp.clear();
            for (member, score) in zset.iter() {
                lp.push(member);
                match score_as_int(score) {
                    Some(v) => lp.push_int(v),
                    None => lp.push_str(score_text(score).as_bytes()),
                }
            }
            let r = self
                .put_header(value_type::ZSET_LISTPACK, key)
                .and_then(|()| self.put_string(lp.finish()));
            lp.clear();
            self.lp = lp;
            return r;
        }
        // Largest score first, as Redis writes a skiplist.
        self.put_header(value_type::ZSET_2, key)?;
        let len = zset.len();
        self.put_len(len as u64)?;
        if len > 0 {
            for (member, score) in zset.iter_from(len - 1, true) {
                self.put_string(member)?;
                self.put(&score.to_le_bytes())?;
            }
        }
        Ok(())
    }

    fn write_hash(&mut self, key: Option<&[u8]>, hash: &HashValue) -> io::Result<()> {
        if hash.is_packed() {
            let mut lp = std::mem::take(&mut self.lp);
            lp.clear();
            for (field, value) in hash.iter() {
                lp.push(field);
                lp.push(value);
            }
            let r = self
                .put_header(value_type::HASH_LISTPACK, key)
                .and_then(|()| self.put_string(lp.finish()));
            lp.clear();
            self.lp = lp;
            return r;
        }
        self.put_header(value_type::HASH, key)?;
        self.put_len(hash.len() as u64)?;
        for (field, value) in hash.iter() {
            self.put_string(field)?;
            self.put_string(value)?;
        }
        Ok(())
    }

    /// A string as `rdbSaveRawString` writes it: integer-encoded when it is
    /// the canonical text of a 32-bit integer, LZF when enabled, longer than
    /// 20 bytes and at least 4 bytes smaller, else length and bytes.
    fn put_string(&mut self, s: &[u8]) -> io::Result<()> {
        if s.len() <= 11 {
            if let Some(v) = num::parse_i64(s) {
                if let Ok(v) = i8::try_from(v) {
                    return self.put(&[0xC0, v as u8]);
                }
                if let Ok(v) = i16::try_from(v) {
                    let b = v.to_le_bytes();
                    return self.put(&[0xC1, b[0], b[1]]);
                }
                if let Ok(v) = i32::try_from(v) {
                    let b = v.to_le_bytes();
                    return self.put(&[0xC2, b[0], b[1], b[2], b[3]]);
                }
            }
        }
        if self.opts.compression && s.len() > 20 {
            let mut out = std::mem::take(&mut self.lzf_out);
            let r = if self.lzf.compress(s, s.len() - 4, &mut out) {
                Some(
                    self.put(&[0xC3])
                        .and_then(|()| self.put_len(out.len() as u64))
                        .and_then(|()| self.put_len(s.len() as u64))
                        .and_then(|()| self.put(&out)),
                )
            } else {
                None
            };
            self.lzf_out = keep(out);
            if let Some(r) = r {
                return r;
            }
        }
        self.put_len(s.len() as u64)?;
        self.put(s)
    }

    /// A length in the 6/14/32/64-bit forms (`rdbSaveLen`).
    fn put_len(&mut self, len: u64) -> io::Result<()> {
        if len < 1 << 6 {
            self.put(&[len as u8])
        } else if len < 1 << 14 {
            self.put(&[0x40 | (len >> 8) as u8, (len & 0xff) as u8])
        } else if let Ok(l) = u32::try_from(len) {
            let b = l.to_be_bytes();
            self.put(&[0x80, b[0], b[1], b[2], b[3]])
        } else {
            self.put(&[0x81])?;
            self.put(&len.to_be_bytes())
        }
    }

    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > BUF_CAP {
            self.flush_buf()?;
            if data.len() >= BUF_CAP {
                self.crc.update(data);
                self.sink.write_all(data)?;
                self.flushed += data.len() as u64;
                return Ok(());
            }
        }
        self.buf.extend_from_slice(data);
        Ok(())
    }

    fn flush_buf(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.crc.update(&self.buf);
            self.sink.write_all(&self.buf)?;
            self.flushed += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Keeps a scratch buffer unless it grew large.
fn keep(buf: Vec<u8>) -> Vec<u8> {
    if buf.capacity() > SCRATCH_KEEP {
        Vec::new()
    } else {
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SmallBytes;

    fn written(f: impl FnOnce(&mut RdbWriter<Vec<u8>>) -> io::Result<()>) -> Vec<u8> {
        let mut w = RdbWriter::new(
            Vec::new(),
            RdbOptions {
                compression: false,
                ..RdbOptions::default()
            },
        );
        f(&mut w).unwrap();
        w.flush_buf().unwrap();
        w.sink
    }

    #[test]
    fn lengths_use_every_form() {
        let out = written(|w| {
            for l in [0u64, 63, 64, 16383, 16384, u64::from(u32::MAX), 1 << 32] {
                w.put_len(l)?;
            }
            Ok(())
        });
        assert_eq!(
            out,
            [
                0x00, 0x3f, 0x40, 0x40, 0x7f, 0xff, 0x80, 0, 0, 0x40, 0, 0x80, 0xff, 0xff, 0xff,
                0xff, 0x81, 0, 0, 0, 1, 0, 0, 0, 0
            ]
        );
    }

    #[test]
    fn strings_are_integer_encoded_like_redis() {
        let out = written(|w| {
            for s in [
                &b"0"[..],
                b"-128",
                b"127",
                b"128",
                b"-32769",
                b"2147483647",
                b"2147483648",
                b"007",
                b"",
            ] {
                w.put_string(s)?;
            }
            Ok(())
        });
        let mut want = vec![0xC0, 0, 0xC0, 0x80, 0xC0, 0x7f, 0xC1, 0x80, 0x00];
        want.extend_from_slice(&[0xC2, 0xff, 0x7f, 0xff, 0xff]);
        want.extend_from_slice(&[0xC2, 0xff, 0xff, 0xff, 0x7f]);
        want.push(10);
        want.extend_from_slice(b"2147483648");
        want.push(3);
        want.extend_from_slice(b"007");
        want.push(0);
        assert_eq!(out, want);
    }

    #[test]
    fn compresses_only_when_it_pays() {
        let mut w = RdbWriter::new(Vec::new(), RdbOptions::default());
        w.put_string(&[b'a'; 20]).unwrap();
        w.put_string(&[b'a'; 21]).unwrap();
        w.flush_buf().unwrap();
        let out = w.sink;
        assert_eq!(out[0], 20);
        assert_eq!(out[21], 0xC3);
        assert_eq!(out[23], 21);
    }

    #[test]
    fn quicklist_nodes_follow_the_fill() {
        // Default fill -2: nodes of at most 8 KiB.
        let list: ListValue = (0..5000)
            .map(|i| SmallBytes::from(format!("element-{i:06}").as_str()))
            .collect();
        let out = written(|w| w.write_list(Some(b"k"), &list));
        // Type, key "k", node count.
        assert_eq!(out[0], value_type::LIST_QUICKLIST_2);
        assert!(out[3] < 64, "a 6-bit node count");
        let nodes = usize::from(out[3]);
        // 16 bytes per entry: about 500 entries per 8 KiB node.
        assert!((9..=11).contains(&nodes), "{nodes}");
        assert!(node_allows(7, 0, 8000, -2));
        assert!(!node_allows(8000, 1, 200, -2));
        assert!(node_allows(100, 3, 10, 5));
        assert!(!node_allows(100, 5, 10, 5));
        assert!(!node_allows(100, 0, 9000, 5));
        assert!(!node_allows(100, 1, 10, i64::MIN));
    }

    #[test]
    fn scores_are_stored_like_zzl_insert() {
        assert_eq!(score_as_int(3.0), Some(3));
        assert_eq!(score_as_int(-0.0), Some(0));
        assert_eq!(score_as_int(1.5), None);
        assert_eq!(score_as_int(f64::INFINITY), None);
        assert_eq!(score_as_int(1e300), None);
        assert_eq!(score_text(f64::NEG_INFINITY), "-inf");
        assert_eq!(score_text(0.1), "0.10000000000000001");
    }
}
