//! The replica's view of the command stream from its primary: parsing it into
//! commands and counting offsets exactly as Redis does (spec §3.3).
//!
//! # Offsets
//!
//! - The *read* offset ([`StreamTracker::read_offset`], INFO
//!   `slave_read_repl_offset`) counts every byte received.
//! - The *processed* offset ([`StreamTracker::processed_offset`], INFO
//!   `slave_repl_offset`, what `REPLCONF ACK` reports and what PSYNC resumes
//!   from) advances at the end of each command handed out, except inside a
//!   `MULTI` block, which counts as a whole at its `EXEC` (or `DISCARD`).
//!   Empty lines and empty multibulks between commands count with the next
//!   command, as in Redis.
//! - `REPLCONF GETACK` is answered with the offset *before* it (inside an open
//!   `MULTI`, before the block).
//!
//! # Proxying
//!
//! Exactly the processed bytes, in order, come out of
//! [`StreamTracker::drain_proxy`]: the replica appends them to its own
//! backlog and so feeds its sub-replicas, whose offsets then equal the top
//! primary's. A `MULTI` block is released whole at its `EXEC`, never in part.
//!
//! # Driving it
//!
//! Feed every chunk read from the primary with [`StreamTracker::feed`], then
//! call [`StreamTracker::poll_event`] until it returns `Ok(None)`, applying
//! each event in order, then drain the proxy bytes. A `MULTI` block's events
//! are handed out together once its `EXEC` has arrived, so the server never
//! sees half a transaction. After a link drop, call
//! [`StreamTracker::discard_unprocessed`] and PSYNC from the processed offset.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

use crate::ids::ReplOffset;
use crate::numbers::parse_i64;

/// Longest `*<n>` or `$<n>` line accepted (`PROTO_INLINE_MAX_SIZE`).
const MAX_COUNT_LINE: usize = 64 * 1024;

/// Largest argument count accepted (Redis refuses more than `INT_MAX`).
const MAX_ARGS: i64 = i32::MAX as i64;

/// What the stream asks the replica to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEvent {
    /// Apply this command (as the master client, without replying).
    /// `offset_after` is the processed offset once it is applied; inside a
    /// `MULTI` block it stays at the offset before the block until the `EXEC`.
    Applied {
        /// The command and its arguments, as received (case kept).
        argv: Vec<Bytes>,
        /// The processed offset after this command.
        offset_after: ReplOffset,
    },
    /// `REPLCONF GETACK`: send `REPLCONF ACK <offset_before>` now.
    GetAck {
        /// The processed offset before the GETACK.
        offset_before: ReplOffset,
    },
}

/// The primary broke the protocol; the link must be dropped. The texts are
/// Redis's protocol errors, with the stream offset where it happened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A non-empty line that is not a multibulk.
    #[error("Master using the inline protocol. Desync? (at offset {offset})")]
    Inline {
        /// Stream position of the offending byte.
        offset: ReplOffset,
    },
    /// `*<n>` with a bad count.
    #[error("Protocol error: invalid multibulk length (at offset {offset})")]
    MultibulkLength {
        /// Stream position of the `*`.
        offset: ReplOffset,
    },
    /// An argument that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}' (at offset {offset})", found.escape_ascii())]
    ExpectedBulk {
        /// The byte found instead.
        found: u8,
        /// Stream position of that byte.
        offset: ReplOffset,
    },
    /// `$<n>` with a bad length.
    #[error("Protocol error: invalid bulk length (at offset {offset})")]
    BulkLength {
        /// Stream position of the `$`.
        offset: ReplOffset,
    },
    /// An argument's bytes not followed by CRLF.
    #[error("Protocol error: bulk argument not followed by CRLF (at offset {offset})")]
    BulkTerminator {
        /// Stream position where the CRLF should be.
        offset: ReplOffset,
    },
    /// A count line longer than 64KB.
    #[error("Protocol error: too big count string (at offset {offset})")]
    CountTooLong {
        /// Stream position of the line.
        offset: ReplOffset,
    },
}

/// `REPLCONF ACK <offset>` as a replica sends it.
pub fn ack_command(offset: ReplOffset) -> Vec<u8> {
    let off = offset.0.to_string();
    format!(
        "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{off}\r\n",
        off.len()
    )
    .into_bytes()
}

/// The replica's stream parser and offset counter; see the module docs.
#[derive(Debug)]
pub struct StreamTracker {
    /// Received bytes not yet split off as commands; `buf[0]` is at `parsed_end`.
    buf: BytesMut,
    parsed_end: u64,
    processed: u64,
    /// Resumable parse state within `buf`.
    pos: usize,
    expected_args: Option<usize>,
    args: Vec<(usize, usize)>,
    /// The open `MULTI` block: its events and bytes, released at `EXEC`.
    block: Option<Block>,
    ready: VecDeque<StreamEvent>,
    proxy: VecDeque<Bytes>,
    failed: Option<StreamError>,
    /// Scratch for [`StreamTracker::parse_batch`], kept to reuse its memory:
    /// each command's end and the end of its arguments in `batch_args`.
    batch_cmds: Vec<(usize, usize)>,
    batch_args: Vec<(usize, usize)>,
}

#[derive(Debug, Default)]
struct Block {
    events: Vec<StreamEvent>,
    chunks: Vec<Bytes>,
}

impl StreamTracker {
    /// A tracker whose stream starts at `offset` (the `+FULLRESYNC` offset, or
    /// the processed offset a `+CONTINUE` resumed from).
    pub fn new(offset: ReplOffset) -> StreamTracker {
        StreamTracker {
            buf: BytesMut::new(),
            parsed_end: offset.0,
            processed: offset.0,
            pos: 0,
            expected_args: None,
            args: Vec::new(),
            block: None,
            ready: VecDeque::new(),
            proxy: VecDeque::new(),
            failed: None,
            batch_cmds: Vec::new(),
            batch_args: Vec::new(),
        }
    }

    /// Takes bytes as received from the primary.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Every byte received (INFO `slave_read_repl_offset`).
    pub fn read_offset(&self) -> ReplOffset {
        ReplOffset(self.parsed_end.saturating_add(self.buf.len() as u64))
    }

    /// The processed offset (INFO `slave_repl_offset`, `REPLCONF ACK`).
    pub fn processed_offset(&self) -> ReplOffset {
        ReplOffset(self.processed)
    }

    /// Whether a `MULTI` block is open (received but not yet counted).
    pub fn in_multi(&self) -> bool {
        self.block.is_some()
    }

    /// The next thing to do, `Ok(None)` when more bytes are needed. After an
    /// error every call returns it again (events already counted come first).
    pub fn poll_event(&mut self) -> Result<Option<StreamEvent>, StreamError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(Some(event));
            }
            if let Some(e) = &self.failed {
                return Err(e.clone());
            }
            if !self.parse_batch() {
                return Ok(None);
            }
        }
    }

    /// Processed bytes not yet taken, in stream order, to append to this
    /// node's backlog (and so to its sub-replicas).
    pub fn drain_proxy(&mut self) -> impl Iterator<Item = Bytes> + '_ {
        self.proxy.drain(..)
    }

    /// After a link drop: forgets received bytes that were not processed (a
    /// partial command, an open `MULTI` block), so that the read offset falls
    /// back to the processed one, as Redis does when it caches its master.
    /// Events already handed out or counted are kept.
    pub fn discard_unprocessed(&mut self) {
        self.buf.clear();
        self.parsed_end = self.processed;
        self.pos = 0;
        self.expected_args = None;
        self.args.clear();
        self.block = None;
        self.failed = None;
    }

    /// Parses every complete command in `buf`, splits them off in one piece
    /// and hands each to [`StreamTracker::handle`]. False when there was
    /// nothing to do (no complete command, no new error).
    ///
    /// One split per batch, not per command, and the proxy gets one slice
    /// per run of commands rather than one per command: the replica's apply
    /// loop runs through here for every command its primary sends.
    fn parse_batch(&mut self) -> bool {
        let mut cmds = std::mem::take(&mut self.batch_cmds);
        let mut args = std::mem::take(&mut self.batch_args);
        cmds.clear();
        args.clear();
        loop {
            match self.parse() {
                Ok(Some(end)) => {
                    args.append(&mut self.args);
                    cmds.push((end, args.len()));
                }
                Ok(None) => break,
                Err(e) => {
                    self.failed = Some(e);
                    break;
                }
            }
        }
        let progressed = !cmds.is_empty() || self.failed.is_some();
        if let Some(&(last_end, _)) = cmds.last() {
            let batch = self.buf.split_to(last_end).freeze();
            // What is left of `buf` (a partial command) moved to its front.
            self.pos -= last_end;
            for range in &mut self.args {
                range.0 -= last_end;
                range.1 -= last_end;
            }
            let mut run = None;
            let (mut start, mut first_arg) = (0, 0);
            for &(end, args_end) in &cmds {
                let argv = args[first_arg..args_end]
                    .iter()
                    .map(|&(s, e)| batch.slice(s..e))
                    .collect();
                self.parsed_end = self.parsed_end.saturating_add((end - start) as u64);
                self.handle(&batch, start..end, argv, &mut run);
                (start, first_arg) = (end, args_end);
            }
            if let Some(run) = run {
                self.proxy.push_back(batch.slice(run));
            }
        }
        self.batch_cmds = cmds;
        self.batch_args = args;
        progressed
    }

    /// Counts one command (its bytes `batch[range]`, blank lines before it
    /// included) and queues its event. Processed bytes outside a `MULTI`
    /// block extend `run`, the stretch of `batch` still to be proxied.
    fn handle(
        &mut self,
        batch: &Bytes,
        range: std::ops::Range<usize>,
        argv: Vec<Bytes>,
        run: &mut Option<std::ops::Range<usize>>,
    ) {
        let name = &argv[0];
        let is = |cmd: &str| name.eq_ignore_ascii_case(cmd.as_bytes());
        let getack = is("replconf")
            && argv
                .get(1)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"getack"));
        let end = self.parsed_end;
        if getack {
            self.ready.push_back(StreamEvent::GetAck {
                offset_before: ReplOffset(self.processed),
            });
            match &mut self.block {
                Some(block) => block.chunks.push(batch.slice(range)),
                None => {
                    self.processed = end;
                    self.extend_run(batch, range, run);
                }
            }
            return;
        }
        if let Some(block) = &mut self.block {
            let closes = is("exec") || is("discard");
            let offset_after = ReplOffset(if closes { end } else { self.processed });
            block
                .events
                .push(StreamEvent::Applied { argv, offset_after });
            block.chunks.push(batch.slice(range));
            if closes {
                let block = self.block.take().expect("checked just above");
                self.processed = end;
                self.ready.extend(block.events);
                // What was processed before the block goes out before it.
                if let Some(before) = run.take() {
                    self.proxy.push_back(batch.slice(before));
                }
                self.proxy.extend(block.chunks);
            }
            return;
        }
        if is("multi") {
            self.block = Some(Block {
                events: vec![StreamEvent::Applied {
                    argv,
                    offset_after: ReplOffset(self.processed),
                }],
                chunks: vec![batch.slice(range)],
            });
            return;
        }
        self.processed = end;
        self.ready.push_back(StreamEvent::Applied {
            argv,
            offset_after: ReplOffset(end),
        });
        self.extend_run(batch, range, run);
    }

    /// Adds processed bytes to the stretch to proxy (a new stretch if they
    /// do not follow it).
    fn extend_run(
        &mut self,
        batch: &Bytes,
        range: std::ops::Range<usize>,
        run: &mut Option<std::ops::Range<usize>>,
    ) {
        match run {
            Some(r) if r.end == range.start => r.end = range.end,
            _ => {
                if let Some(before) = run.replace(range) {
                    self.proxy.push_back(batch.slice(before));
                }
            }
        }
    }

    fn offset_at(&self, pos: usize) -> ReplOffset {
        ReplOffset(self.parsed_end.saturating_add(pos as u64))
    }

    /// Parses on from `self.pos`, resumable across calls: the end of the
    /// next complete command in `buf` (its arguments in `self.args`), or
    /// `None` if more bytes are needed. Splits nothing off.
    fn parse(&mut self) -> Result<Option<usize>, StreamError> {
        loop {
            let Some(expected) = self.expected_args else {
                // Between commands: blank lines, empty multibulks, or a `*`.
                let Some(&first) = self.buf.get(self.pos) else {
                    return Ok(None);
                };
                match first {
                    b'\n' => self.pos += 1,
                    b'\r' => match self.buf.get(self.pos + 1) {
                        None => return Ok(None),
                        Some(b'\n') => self.pos += 2,
                        Some(_) => {
                            return Err(StreamError::Inline {
                                offset: self.offset_at(self.pos),
                            })
                        }
                    },
                    b'*' => {
                        let at = self.offset_at(self.pos);
                        let Some((count, next)) =
                            self.count_line(|| StreamError::MultibulkLength { offset: at })?
                        else {
                            return Ok(None);
                        };
                        self.pos = next;
                        if count > MAX_ARGS {
                            return Err(StreamError::MultibulkLength { offset: at });
                        }
                        if count > 0 {
                            let count = usize::try_from(count).expect("0 < count <= i32::MAX");
                            self.expected_args = Some(count);
                            self.args.clear();
                        }
                    }
                    _ => {
                        return Err(StreamError::Inline {
                            offset: self.offset_at(self.pos),
                        })
                    }
                }
                continue;
            };
            if self.args.len() == expected {
                self.expected_args = None;
                return Ok(Some(self.pos));
            }
            let Some(&first) = self.buf.get(self.pos) else {
                return Ok(None);
            };
            let at = self.offset_at(self.pos);
            if first != b'$' {
                return Err(StreamError::ExpectedBulk {
                    found: first,
                    offset: at,
                });
            }
            let Some((len, data)) = self.count_line(|| StreamError::BulkLength { offset: at })?
            else {
                return Ok(None);
            };
            let bad_len = || StreamError::BulkLength { offset: at };
            let len = usize::try_from(len).map_err(|_| bad_len())?;
            let data_end = data.checked_add(len).ok_or_else(bad_len)?;
            let Some(terminator) = self.buf.get(data_end..data_end.saturating_add(2)) else {
                return Ok(None);
            };
            if terminator != b"\r\n" {
                return Err(StreamError::BulkTerminator {
                    offset: self.offset_at(data_end),
                });
            }
            self.args.push((data, data_end));
            self.pos = data_end + 2;
        }
    }

    /// Reads `<c><integer>\r\n` at `self.pos`; returns the integer and the
    /// position after the line, or `None` if the line is not complete.
    fn count_line(
        &self,
        invalid: impl Fn() -> StreamError,
    ) -> Result<Option<(i64, usize)>, StreamError> {
        let rest = &self.buf[self.pos..];
        let Some(nl) = rest.iter().take(MAX_COUNT_LINE).position(|&b| b == b'\n') else {
            if rest.len() >= MAX_COUNT_LINE {
                return Err(StreamError::CountTooLong {
                    offset: self.offset_at(self.pos),
                });
            }
            return Ok(None);
        };
        let line = rest[1..nl].strip_suffix(b"\r").ok_or_else(&invalid)?;
        let n = parse_i64(line).ok_or_else(&invalid)?;
        Ok(Some((n, self.pos + nl + 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applied(argv as text, offset_after) or GetAck(offset_before).
    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        A(String, u64),
        G(u64),
    }

    fn ev(e: StreamEvent) -> Ev {
        match e {
            StreamEvent::Applied { argv, offset_after } => {
                let text: Vec<String> = argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                Ev::A(text.join(" "), offset_after.0)
            }
            StreamEvent::GetAck { offset_before } => Ev::G(offset_before.0),
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        events: Vec<Ev>,
        proxied: Vec<u8>,
        processed: u64,
        read: u64,
        error: Option<StreamError>,
    }

    fn run(start: u64, chunks: &[&[u8]]) -> Outcome {
        let mut t = StreamTracker::new(ReplOffset(start));
        let mut out = Outcome {
            events: vec![],
            proxied: vec![],
            processed: 0,
            read: 0,
            error: None,
        };
        for chunk in chunks {
            t.feed(chunk);
            loop {
                match t.poll_event() {
                    Ok(Some(e)) => out.events.push(ev(e)),
                    Ok(None) => break,
                    Err(e) => {
                        out.error = Some(e);
                        break;
                    }
                }
            }
            for b in t.drain_proxy() {
                out.proxied.extend_from_slice(&b);
            }
            if out.error.is_some() {
                break;
            }
        }
        out.processed = t.processed_offset().0;
        out.read = t.read_offset().0;
        out
    }

    /// Whole, at every single split, at every pair of splits for short inputs,
    /// and byte by byte: all must agree.
    fn check_all_splits(start: u64, input: &[u8], expected: &Outcome) {
        assert_eq!(&run(start, &[input]), expected, "whole");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(&run(start, &[a, b]), expected, "split at {i}");
        }
        if input.len() <= 120 {
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let chunks = [&input[..i], &input[i..j], &input[j..]];
                    assert_eq!(&run(start, &chunks), expected, "split at {i} and {j}");
                }
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(&run(start, &bytes), expected, "byte by byte");
    }

    fn a(text: &str, off: u64) -> Ev {
        Ev::A(text.to_owned(), off)
    }

    const SELECT0: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n";
    const GETACK: &[u8] = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
    const PING: &[u8] = b"*1\r\n$4\r\nping\r\n";

    #[test]
    fn appendix_a_stream_after_a_full_sync_at_98() {
        let input: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nset\r\n$2\r\nk3\r\n$2\r\nv3\r\n\
*5\r\n$3\r\nSET\r\n$2\r\nk4\r\n$2\r\nv4\r\n$4\r\nPXAT\r\n$13\r\n1795299885071\r\n\
*3\r\n$9\r\nPEXPIREAT\r\n$2\r\nk3\r\n$13\r\n1795299835077\r\n\
*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nincr\r\n$1\r\na\r\n*2\r\n$4\r\nincr\r\n$1\r\nb\r\n*1\r\n$4\r\nEXEC\r\n\
*1\r\n$4\r\nping\r\n";
        let expected = Outcome {
            events: vec![
                a("SELECT 0", 121),
                a("set k3 v3", 150),
                a("SET k4 v4 PXAT 1795299885071", 209),
                a("PEXPIREAT k3 1795299835077", 256),
                a("MULTI", 256),
                a("incr a", 256),
                a("incr b", 256),
                a("EXEC", 327),
                a("ping", 341),
            ],
            proxied: input.to_vec(),
            processed: 341,
            read: 341,
            error: None,
        };
        // Two-split exhaustiveness is quadratic; single splits and byte-by-byte
        // cover this 243-byte sample.
        check_all_splits(98, input, &expected);
    }

    #[test]
    fn getack_reports_the_offset_before_it() {
        // Spec §3.4 [verified]: from 1000, SELECT+SET (56 B) then GETACK (37 B)
        // gives ACK 1056; the next periodic ACK says 1093.
        let set = b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$5\r\nhello\r\n";
        let input = [SELECT0, set, GETACK].concat();
        let expected = Outcome {
            events: vec![a("SELECT 0", 1023), a("SET foo hello", 1056), Ev::G(1056)],
            proxied: input.clone(),
            processed: 1093,
            read: 1093,
            error: None,
        };
        check_all_splits(1000, &input, &expected);
        assert_eq!(
            ack_command(ReplOffset(1056)),
            b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$4\r\n1056\r\n"
        );
        assert_eq!(
            ack_command(ReplOffset(0)),
            b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$1\r\n0\r\n"
        );
    }

    #[test]
    fn getack_inside_an_open_multi_excludes_the_block() {
        let multi = b"*1\r\n$5\r\nMULTI\r\n";
        let incr = b"*2\r\n$4\r\nincr\r\n$1\r\na\r\n";
        let exec = b"*1\r\n$4\r\nEXEC\r\n";
        // Without the EXEC: the ack excludes the open block, nothing is proxied.
        let open = [PING, multi, incr, GETACK].concat();
        check_all_splits(
            0,
            &open,
            &Outcome {
                events: vec![a("ping", 14), Ev::G(14)],
                proxied: PING.to_vec(),
                processed: 14,
                read: open.len() as u64,
                error: None,
            },
        );
        // With it, the block (GETACK bytes included) counts at EXEC.
        let closed = [&open[..], exec].concat();
        check_all_splits(
            0,
            &closed,
            &Outcome {
                events: vec![
                    a("ping", 14),
                    Ev::G(14),
                    a("MULTI", 14),
                    a("incr a", 14),
                    a("EXEC", 101),
                ],
                proxied: closed.clone(),
                processed: 101,
                read: 101,
                error: None,
            },
        );
    }

    #[test]
    fn discard_closes_a_block_and_nested_multi_is_just_queued() {
        let input = b"*1\r\n$5\r\nmulti\r\n*1\r\n$5\r\nMULTI\r\n*1\r\n$7\r\nDISCARD\r\n";
        check_all_splits(
            10,
            input,
            &Outcome {
                events: vec![a("multi", 10), a("MULTI", 10), a("DISCARD", 57)],
                proxied: input.to_vec(),
                processed: 57,
                read: 57,
                error: None,
            },
        );
    }

    #[test]
    fn blank_lines_and_empty_multibulks_count_with_the_next_command() {
        let input = [&b"\n\r\n*0\r\n*-1\r\n"[..], PING, b"\n"].concat();
        check_all_splits(
            0,
            &input,
            &Outcome {
                events: vec![a("ping", 26)],
                proxied: input[..26].to_vec(),
                processed: 26,
                read: 27,
                error: None,
            },
        );
        // A GETACK after a blank line reports the offset before the blank line.
        let input = [&b"\n"[..], GETACK].concat();
        assert_eq!(run(5, &[&input]).events, vec![Ev::G(5)]);
        assert_eq!(run(5, &[&input]).processed, 43);
    }

    #[test]
    fn binary_arguments_are_kept_exactly() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\n\x00\r\n$4\r\n\r\n\r\n\r\n";
        let mut t = StreamTracker::new(ReplOffset(0));
        t.feed(input);
        match t.poll_event().unwrap().unwrap() {
            StreamEvent::Applied { argv, offset_after } => {
                assert_eq!(
                    argv,
                    vec![
                        Bytes::from_static(b"SET"),
                        Bytes::from_static(b"\x00"),
                        Bytes::from_static(b"\r\n\r\n")
                    ]
                );
                assert_eq!(offset_after, ReplOffset(input.len() as u64));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(t.poll_event(), Ok(None));
    }

    #[test]
    fn protocol_errors() {
        let err = |input: &[u8]| run(100, &[input]).error;
        assert_eq!(
            err(b"PING\r\n"),
            Some(StreamError::Inline {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            err(b"\r\rx"),
            Some(StreamError::Inline {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            err(b"*x\r\n"),
            Some(StreamError::MultibulkLength {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            err(b"*1\n"),
            Some(StreamError::MultibulkLength {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            err(b"*3000000000\r\n"),
            Some(StreamError::MultibulkLength {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            err(b"*1\r\n+OK\r\n"),
            Some(StreamError::ExpectedBulk {
                found: b'+',
                offset: ReplOffset(104)
            })
        );
        assert_eq!(
            err(b"*1\r\n$-1\r\n"),
            Some(StreamError::BulkLength {
                offset: ReplOffset(104)
            })
        );
        assert_eq!(
            err(b"*1\r\n$01\r\nx\r\n"),
            Some(StreamError::BulkLength {
                offset: ReplOffset(104)
            })
        );
        // A huge (but valid) length waits for its bytes, allocating nothing.
        let huge = run(100, &[b"*1\r\n$9223372036854775807\r\nabc"]);
        assert_eq!((huge.error, huge.events, huge.read), (None, vec![], 129));
        assert_eq!(
            err(b"*1\r\n$4\r\npingXX"),
            Some(StreamError::BulkTerminator {
                offset: ReplOffset(112)
            })
        );
        let long = [&b"*"[..], &[b'1'; MAX_COUNT_LINE]].concat();
        assert_eq!(
            err(&long),
            Some(StreamError::CountTooLong {
                offset: ReplOffset(100)
            })
        );
        assert_eq!(
            StreamError::ExpectedBulk {
                found: 0,
                offset: ReplOffset(7)
            }
            .to_string(),
            "Protocol error: expected '$', got '\\x00' (at offset 7)"
        );
        // Commands before the error are still handed out and proxied.
        let out = run(0, &[&[PING, b"junk\r\n"].concat()]);
        assert_eq!(out.events, vec![a("ping", 14)]);
        assert_eq!(out.proxied, PING);
        assert_eq!(
            out.error,
            Some(StreamError::Inline {
                offset: ReplOffset(14)
            })
        );
    }

    #[test]
    fn errors_are_sticky() {
        let mut t = StreamTracker::new(ReplOffset(0));
        t.feed(b"x");
        let e = t.poll_event().unwrap_err();
        t.feed(PING);
        assert_eq!(t.poll_event(), Err(e));
    }

    #[test]
    fn discard_unprocessed_falls_back_to_the_processed_offset() {
        let mut t = StreamTracker::new(ReplOffset(0));
        t.feed(
            &[
                PING,
                b"*1\r\n$5\r\nMULTI\r\n",
                b"*2\r\n$4\r\nincr\r\n$1\r\na\r\n",
                b"*1\r\n$4\r\nEX",
            ]
            .concat(),
        );
        assert_eq!(ev(t.poll_event().unwrap().unwrap()), a("ping", 14));
        assert_eq!(t.poll_event(), Ok(None));
        assert!(t.in_multi());
        assert_eq!(t.read_offset(), ReplOffset(14 + 15 + 21 + 10));
        t.discard_unprocessed();
        assert!(!t.in_multi());
        assert_eq!(t.read_offset(), ReplOffset(14));
        assert_eq!(t.processed_offset(), ReplOffset(14));
        assert_eq!(
            t.drain_proxy().collect::<Vec<_>>(),
            vec![Bytes::from_static(PING)]
        );
        // The resumed stream (after +CONTINUE) parses from a clean state.
        t.feed(PING);
        assert_eq!(ev(t.poll_event().unwrap().unwrap()), a("ping", 28));
    }

    proptest::proptest! {
        /// Whatever a (broken) primary sends, the tracker never panics, the
        /// processed offset never passes the read offset, and the proxy bytes
        /// are exactly a prefix of the input.
        #[test]
        fn arbitrary_bytes_never_panic(
            chunks in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::prop_oneof![
                        proptest::sample::select(b"*$\r\n0123-GETACKMULTIEXEC".to_vec()),
                        proptest::prelude::any::<u8>(),
                    ],
                    0..24,
                ),
                0..12,
            )
        ) {
            let input: Vec<u8> = chunks.concat();
            let slices: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
            let out = run(7, &slices);
            proptest::prop_assert!(out.processed <= out.read || out.error.is_some());
            proptest::prop_assert_eq!(out.processed, 7 + out.proxied.len() as u64);
            proptest::prop_assert!(input.starts_with(&out.proxied));
        }
    }

    #[test]
    fn big_argument_in_small_chunks() {
        let value = vec![b'v'; 100_000];
        let input = [
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n"[..],
            &value,
            b"\r\n",
            PING,
        ]
        .concat();
        for size in [1usize, 3, 1000, 16384] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            let out = run(0, &chunks);
            assert_eq!(out.events.len(), 2, "chunk size {size}");
            assert_eq!(out.proxied, input);
            assert_eq!(out.processed, input.len() as u64);
        }
    }
}
