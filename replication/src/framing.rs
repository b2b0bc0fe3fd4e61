//! Framing of the full-sync payload (spec §2.2), both ends.
//!
//! - Disk format: `$<len>\r\n` then exactly `len` payload bytes, no CRLF after.
//! - Diskless format: `$EOF:<40-byte mark>\r\n`, the payload, then the same 40
//!   bytes. The payload's length is not known in advance.
//!
//! Before the header a primary may send `\n` keepalives (one per second); a
//! line starting with `-` aborts the transfer. Whatever follows the payload
//! (or the trailing mark) is the command stream.
//!
//! [`PayloadReceiver`] is sans-IO: feed it chunks as they arrive, cut
//! anywhere. It delivers payload bytes as they become certain, never delivers
//! any byte of the trailing mark, and says where the stream starts. The mark
//! is found at any position, not only at the end of a read: unlike a real
//! Redis replica, it does not hang if stream bytes share a read with the mark.

use std::fmt;

use crate::numbers::parse_u64;

/// Length of the diskless end mark (`RDB_EOF_MARK_SIZE`).
pub const EOF_MARK_LEN: usize = 40;

/// Longest header line accepted (Redis reads it into a 1024-byte buffer).
const MAX_LINE: usize = 1024;

/// The 40 bytes that announce and end a diskless payload.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EofMark([u8; EOF_MARK_LEN]);

impl EofMark {
    /// A mark of 40 lowercase hex characters from 20 random bytes supplied by
    /// the caller (this crate owns no RNG).
    pub fn from_random(random: [u8; EOF_MARK_LEN / 2]) -> EofMark {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut mark = [0u8; EOF_MARK_LEN];
        for (i, b) in random.iter().enumerate() {
            mark[2 * i] = HEX[usize::from(b >> 4)];
            mark[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        EofMark(mark)
    }

    /// A mark from its bytes (as received in a `$EOF:` header).
    pub fn new(bytes: [u8; EOF_MARK_LEN]) -> EofMark {
        EofMark(bytes)
    }

    /// The mark's bytes: what follows the payload.
    pub fn as_bytes(&self) -> &[u8; EOF_MARK_LEN] {
        &self.0
    }
}

impl fmt::Debug for EofMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EofMark({})", String::from_utf8_lossy(&self.0))
    }
}

/// The header line of a payload, i.e. its format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadHeader {
    /// `$<len>\r\n`: exactly `len` bytes follow.
    Len(u64),
    /// `$EOF:<mark>\r\n`: the payload ends with the mark.
    Eof(EofMark),
}

impl PayloadHeader {
    /// Appends the header line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PayloadHeader::Len(len) => out.extend_from_slice(format!("${len}\r\n").as_bytes()),
            PayloadHeader::Eof(mark) => {
                out.extend_from_slice(b"$EOF:");
                out.extend_from_slice(mark.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
        }
    }

    /// The header line, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        self.encode(&mut out);
        out
    }

    /// What the sender writes after the payload: the mark, or nothing.
    pub fn trailer(&self) -> &[u8] {
        match self {
            PayloadHeader::Len(_) => &[],
            PayloadHeader::Eof(mark) => mark.as_bytes(),
        }
    }
}

/// Why a transfer cannot go on. The texts are Redis's log lines.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// The primary sent an error line instead of a payload.
    #[error("MASTER aborted replication with an error: {0}")]
    Aborted(String),
    /// The first line is neither a keepalive, an error nor a `$` header.
    #[error(
        "Bad protocol from MASTER, the first byte is not '$' (we received '{0}'), are you sure \
         the host and port are right?"
    )]
    NotAHeader(String),
    /// A `$` line that is neither `$<len>` nor `$EOF:<40 bytes>`.
    #[error("Bad protocol from MASTER, invalid payload header '{0}'")]
    BadHeader(String),
    /// No newline within the first 1024 bytes of a line.
    #[error("Bad protocol from MASTER, a header line is longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// The receiver was fed again after it failed.
    #[error("the transfer already failed")]
    Failed,
}

/// How far a transfer has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The payload length when known (`$<len>`), `None` before the header and
    /// for the EOF format.
    pub total: Option<u64>,
    /// Bytes received after the header: payload bytes, plus those of the
    /// trailing mark in the EOF format (Redis's `repl_transfer_read`).
    pub read: u64,
}

/// The outcome of one [`PayloadReceiver::feed`].
#[derive(Debug, PartialEq, Eq)]
pub struct Fed<'a> {
    /// Payload bytes that became certain, in order: `payload[0]` then
    /// `payload[1]`. Either may be empty.
    pub payload: [&'a [u8]; 2],
    /// How many input bytes belonged to the transfer. Unless `done`, this is
    /// the whole input; once `done`, `input[consumed..]` is the start of the
    /// command stream.
    pub consumed: usize,
    /// The payload is complete.
    pub done: bool,
}

/// The receiving end of a full-sync payload; see the module docs.
#[derive(Debug)]
pub struct PayloadReceiver {
    state: RxState,
    line: Vec<u8>,
    keepalives: u64,
    read: u64,
    /// EOF format: payload bytes not yet delivered because they might start
    /// the mark (at most 39).
    held: [u8; EOF_MARK_LEN - 1],
    held_len: usize,
    /// Held bytes released by the current `feed`, lent out in its [`Fed`].
    released: [u8; EOF_MARK_LEN - 1],
    /// EOF format: the Horspool skip table of the mark.
    skip: [u8; 256],
}

#[derive(Clone, Copy, Debug)]
enum RxState {
    Header,
    Len { total: u64, left: u64 },
    Eof { mark: EofMark },
    Done(PayloadHeader),
    Failed,
}

impl Default for PayloadReceiver {
    fn default() -> Self {
        PayloadReceiver::new()
    }
}

impl PayloadReceiver {
    /// A receiver waiting for the header line.
    pub fn new() -> PayloadReceiver {
        PayloadReceiver {
            state: RxState::Header,
            line: Vec::new(),
            keepalives: 0,
            read: 0,
            held: [0; EOF_MARK_LEN - 1],
            held_len: 0,
            released: [0; EOF_MARK_LEN - 1],
            skip: [0; 256],
        }
    }

    /// The header, once received.
    pub fn header(&self) -> Option<PayloadHeader> {
        match &self.state {
            RxState::Header | RxState::Failed => None,
            RxState::Len { total, .. } => Some(PayloadHeader::Len(*total)),
            RxState::Eof { mark, .. } => Some(PayloadHeader::Eof(*mark)),
            RxState::Done(header) => Some(*header),
        }
    }

    /// Whether the whole payload has been received.
    pub fn is_done(&self) -> bool {
        matches!(self.state, RxState::Done(_))
    }

    /// Keepalive newlines seen before the header.
    pub fn keepalives(&self) -> u64 {
        self.keepalives
    }

    /// Transfer progress.
    pub fn progress(&self) -> Progress {
        let total = match self.header() {
            Some(PayloadHeader::Len(total)) => Some(total),
            _ => None,
        };
        Progress {
            total,
            read: self.read,
        }
    }

    /// INFO `master_sync_total_bytes`: -1 before the header, 0 for the EOF
    /// format, else the announced length.
    pub fn info_total_bytes(&self) -> i64 {
        match self.header() {
            None => -1,
            Some(PayloadHeader::Eof(_)) => 0,
            Some(PayloadHeader::Len(total)) => i64::try_from(total).unwrap_or(i64::MAX),
        }
    }

    /// Consumes the next chunk of the connection; see [`Fed`].
    pub fn feed<'a>(&'a mut self, input: &'a [u8]) -> Result<Fed<'a>, FramingError> {
        let mut at = 0;
        if matches!(self.state, RxState::Failed) {
            return Err(FramingError::Failed);
        }
        while matches!(self.state, RxState::Header) {
            let Some(nl) = input[at..].iter().position(|&b| b == b'\n') else {
                self.push_line(&input[at..])?;
                return Ok(Fed {
                    payload: [&[], &[]],
                    consumed: input.len(),
                    done: false,
                });
            };
            self.push_line(&input[at..at + nl])?;
            at += nl + 1;
            let line = std::mem::take(&mut self.line);
            if let Err(e) = self.header_line(&line) {
                self.state = RxState::Failed;
                return Err(e);
            }
        }
        let input_rest = &input[at..];
        match self.state {
            RxState::Len { total, left } => {
                let take =
                    usize::try_from(left).map_or(input_rest.len(), |l| l.min(input_rest.len()));
                let left = left - take as u64;
                self.read += take as u64;
                let done = left == 0;
                self.state = if done {
                    RxState::Done(PayloadHeader::Len(total))
                } else {
                    RxState::Len { total, left }
                };
                Ok(Fed {
                    payload: [&input_rest[..take], &[]],
                    consumed: at + take,
                    done,
                })
            }
            RxState::Eof { mark } => Ok(self.feed_eof(&mark, at, input_rest)),
            RxState::Done(_) => Ok(Fed {
                payload: [&[], &[]],
                consumed: at,
                done: true,
            }),
            // The header loop above leaves only with a header, or returns.
            RxState::Header | RxState::Failed => Err(FramingError::Failed),
        }
    }

    fn push_line(&mut self, bytes: &[u8]) -> Result<(), FramingError> {
        if self.line.len() + bytes.len() > MAX_LINE {
            self.state = RxState::Failed;
            return Err(FramingError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn header_line(&mut self, line: &[u8]) -> Result<(), FramingError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let text = || String::from_utf8_lossy(line).into_owned();
        match line.first() {
            None => {
                self.keepalives += 1;
                Ok(())
            }
            Some(b'-') => Err(FramingError::Aborted(
                String::from_utf8_lossy(&line[1..]).into_owned(),
            )),
            Some(b'$') => {
                if let Some(mark) = line.strip_prefix(b"$EOF:") {
                    let mark: [u8; EOF_MARK_LEN] = mark
                        .try_into()
                        .map_err(|_| FramingError::BadHeader(text()))?;
                    let mark = EofMark::new(mark);
                    self.skip = skip_table(&mark);
                    self.state = RxState::Eof { mark };
                } else {
                    let total =
                        parse_u64(&line[1..]).ok_or_else(|| FramingError::BadHeader(text()))?;
                    self.state = if total == 0 {
                        RxState::Done(PayloadHeader::Len(0))
                    } else {
                        RxState::Len { total, left: total }
                    };
                }
                Ok(())
            }
            Some(_) => Err(FramingError::NotAHeader(text())),
        }
    }

    /// EOF format: the candidate region is `held ++ input`; deliver all of it
    /// that cannot be part of the mark.
    fn feed_eof<'a>(&'a mut self, mark: &EofMark, at: usize, input: &'a [u8]) -> Fed<'a> {
        let hl = self.held_len;
        let found = self.find_in_region(mark, input);
        let region = hl + input.len();
        let (deliver, consumed_input, done) = match found {
            Some(q) => (q, q + EOF_MARK_LEN - hl, true),
            None => {
                let keep = self.mark_prefix_suffix(mark, input);
                (region - keep, input.len(), false)
            }
        };
        self.read += consumed_input as u64;
        // Bytes delivered from `held`, then from `input`.
        let from_held = deliver.min(hl);
        let from_input = deliver - from_held;
        self.released[..from_held].copy_from_slice(&self.held[..from_held]);
        if done {
            self.held_len = 0;
            self.state = RxState::Done(PayloadHeader::Eof(*mark));
        } else {
            // The new held bytes: the rest of `held`, then the rest of `input`.
            let mut next = [0u8; EOF_MARK_LEN - 1];
            let old = &self.held[from_held..hl];
            let new = &input[from_input..];
            next[..old.len()].copy_from_slice(old);
            next[old.len()..old.len() + new.len()].copy_from_slice(new);
            self.held_len = old.len() + new.len();
            self.held = next;
        }
        Fed {
            payload: [&self.released[..from_held], &input[..from_input]],
            consumed: at + consumed_input,
            done,
        }
    }

    /// Position in `held ++ input` of the first occurrence of the mark.
    fn find_in_region(&self, mark: &EofMark, input: &[u8]) -> Option<usize> {
        let hl = self.held_len;
        let skip = &self.skip;
        if hl > 0 {
            // Every occurrence starting inside `held` lies within this window,
            // and so does any in `input` that starts earlier than one found here.
            let take = input.len().min(EOF_MARK_LEN - 1);
            let mut window = [0u8; 2 * (EOF_MARK_LEN - 1)];
            window[..hl].copy_from_slice(&self.held[..hl]);
            window[hl..hl + take].copy_from_slice(&input[..take]);
            if let Some(q) = find_mark(&window[..hl + take], mark, skip) {
                return Some(q);
            }
        }
        find_mark(input, mark, skip).map(|q| hl + q)
    }

    /// Length of the longest suffix of `held ++ input` (shorter than the mark)
    /// that is a prefix of the mark: those bytes must wait for more input.
    fn mark_prefix_suffix(&self, mark: &EofMark, input: &[u8]) -> usize {
        let hl = self.held_len;
        let region = hl + input.len();
        let max = region.min(EOF_MARK_LEN - 1);
        let at = |i: usize| if i < hl { self.held[i] } else { input[i - hl] };
        (1..=max)
            .rev()
            .find(|&k| (0..k).all(|j| at(region - k + j) == mark.0[j]))
            .unwrap_or(0)
    }
}

/// Horspool skip table: how far to move when the window's last byte is `b`.
fn skip_table(mark: &EofMark) -> [u8; 256] {
    let len = u8::try_from(EOF_MARK_LEN).expect("the mark is 40 bytes");
    let mut skip = [len; 256];
    for (j, &b) in mark.0[..EOF_MARK_LEN - 1].iter().enumerate() {
        skip[usize::from(b)] = len - 1 - u8::try_from(j).expect("j < 40");
    }
    skip
}

/// First occurrence of the mark in `hay` (Boyer-Moore-Horspool: the mark is
/// 40 random hex bytes, so most windows are skipped whole).
fn find_mark(hay: &[u8], mark: &EofMark, skip: &[u8; 256]) -> Option<usize> {
    let m = EOF_MARK_LEN;
    let mut i = 0;
    while i + m <= hay.len() {
        let last = hay[i + m - 1];
        if last == mark.0[m - 1] && hay[i..i + m - 1] == mark.0[..m - 1] {
            return Some(i);
        }
        i += usize::from(skip[usize::from(last)]);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: &[u8; 40] = b"204a1af2ad60e758ed8e26e9c79cb5ddfc1339f0";

    /// What a receiver made of a whole input.
    #[derive(Debug, PartialEq, Eq)]
    struct Outcome {
        payload: Vec<u8>,
        rest: Vec<u8>,
        done: bool,
        error: Option<FramingError>,
    }

    fn run(chunks: &[&[u8]]) -> (Outcome, PayloadReceiver) {
        let mut rx = PayloadReceiver::new();
        let mut out = Outcome {
            payload: vec![],
            rest: vec![],
            done: false,
            error: None,
        };
        for chunk in chunks {
            if out.done {
                out.rest.extend_from_slice(chunk);
                continue;
            }
            match rx.feed(chunk) {
                Ok(fed) => {
                    for p in fed.payload {
                        out.payload.extend_from_slice(p);
                    }
                    if fed.done {
                        out.done = true;
                        out.rest.extend_from_slice(&chunk[fed.consumed..]);
                    } else {
                        assert_eq!(fed.consumed, chunk.len());
                    }
                }
                Err(e) => {
                    out.error = Some(e);
                    break;
                }
            }
        }
        (out, rx)
    }

    /// Feeds `input` whole, split at every position, split at every pair of
    /// positions, and byte by byte; every way must give `expected`.
    fn check_all_splits(input: &[u8], expected: &Outcome) {
        assert_eq!(&run(&[input]).0, expected, "whole");
        for i in 0..=input.len() {
            let (a, b) = input.split_at(i);
            assert_eq!(&run(&[a, b]).0, expected, "split at {i}");
        }
        if input.len() <= 160 {
            for i in 0..=input.len() {
                for j in i..=input.len() {
                    let chunks = [&input[..i], &input[i..j], &input[j..]];
                    assert_eq!(&run(&chunks).0, expected, "split at {i} and {j}");
                }
            }
        }
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(&run(&bytes).0, expected, "byte by byte");
    }

    fn ok(payload: &[u8], rest: &[u8]) -> Outcome {
        Outcome {
            payload: payload.to_vec(),
            rest: rest.to_vec(),
            done: true,
            error: None,
        }
    }

    fn eof_input(keepalives: &[u8], payload: &[u8], rest: &[u8]) -> Vec<u8> {
        [keepalives, b"$EOF:", MARK, b"\r\n", payload, MARK, rest].concat()
    }

    #[test]
    fn sender_side_bytes() {
        assert_eq!(PayloadHeader::Len(258).to_bytes(), b"$258\r\n");
        let h = PayloadHeader::Eof(EofMark::new(*MARK));
        assert_eq!(h.to_bytes(), [&b"$EOF:"[..], MARK, b"\r\n"].concat());
        assert_eq!(h.trailer(), MARK);
        assert_eq!(PayloadHeader::Len(1).trailer(), b"");
        let m = EofMark::from_random([0x20; 20]);
        assert_eq!(m.as_bytes(), b"2020202020202020202020202020202020202020");
    }

    #[test]
    fn disk_format_with_keepalives_and_stream_after() {
        let input = b"\n\n\r\n$5\r\nREDIS*1\r\n$4\r\nping\r\n";
        check_all_splits(input, &ok(b"REDIS", b"*1\r\n$4\r\nping\r\n"));
        let (_, rx) = run(&[input]);
        assert_eq!(rx.keepalives(), 3);
        assert_eq!(rx.header(), Some(PayloadHeader::Len(5)));
        assert_eq!(
            rx.progress(),
            Progress {
                total: Some(5),
                read: 5
            }
        );
        assert_eq!(rx.info_total_bytes(), 5);
    }

    #[test]
    fn disk_format_empty_payload() {
        check_all_splits(b"$0\r\nstream", &ok(b"", b"stream"));
    }

    #[test]
    fn eof_format_appendix_a() {
        let payload = b"REDIS0010\xfa\tredis-ver\x067.0.15\xff\x01\x02\x03\x04\x05\x06\x07\x08";
        let input = eof_input(b"\n\n\n\n\n", payload, b"");
        check_all_splits(&input, &ok(payload, b""));
        let (_, rx) = run(&[&input]);
        assert_eq!(rx.header(), Some(PayloadHeader::Eof(EofMark::new(*MARK))));
        assert_eq!(rx.info_total_bytes(), 0);
        assert_eq!(
            rx.progress(),
            Progress {
                total: None,
                read: (payload.len() + 40) as u64
            }
        );
        assert!(rx.is_done());
    }

    #[test]
    fn eof_format_leaves_stream_bytes_after_the_mark() {
        let input = eof_input(b"", b"RDBDATA", b"*1\r\n$4\r\nping\r\n");
        check_all_splits(&input, &ok(b"RDBDATA", b"*1\r\n$4\r\nping\r\n"));
    }

    #[test]
    fn eof_payload_containing_partial_marks_is_delivered_whole() {
        // Mark prefixes inside the payload, and a payload ending in one.
        let payload = [
            &b"x"[..],
            &MARK[..39],
            b"2",
            &MARK[..10],
            &MARK[..1],
            &MARK[..39],
        ]
        .concat();
        let input = eof_input(b"\n", &payload, b"tail");
        check_all_splits(&input, &ok(&payload, b"tail"));
    }

    #[test]
    fn eof_empty_payload_and_self_overlapping_mark() {
        check_all_splits(&eof_input(b"", b"", b"after"), &ok(b"", b"after"));
        // A mark that overlaps itself ("aaaa...") must still be found at its
        // first occurrence.
        let mark = [b'a'; 40];
        let input = [&b"$EOF:"[..], &mark, b"\r\n", b"bbb", &[b'a'; 45][..], b"c"].concat();
        let expected = ok(b"bbb", b"aaaaac");
        check_all_splits(&input, &expected);
    }

    #[test]
    fn mark_is_never_delivered_early() {
        let mut rx = PayloadReceiver::new();
        let header = [&b"$EOF:"[..], MARK, b"\r\n"].concat();
        let fed = rx.feed(&header).unwrap();
        assert_eq!(fed.consumed, header.len());
        // A payload ending in 39 bytes of the mark: those are held back.
        let chunk = [&b"data"[..], &MARK[..39]].concat();
        let fed = rx.feed(&chunk).unwrap();
        assert_eq!(fed.payload, [&b""[..], &b"data"[..]]);
        assert!(!fed.done);
        // The next byte is not the mark's last: the held bytes are payload.
        let fed = rx.feed(b"Z").unwrap();
        assert_eq!(
            [fed.payload[0], fed.payload[1]].concat(),
            [&MARK[..39], b"Z"].concat()
        );
        // Unrelated bytes are delivered at once.
        let fed = rx.feed(b"qq").unwrap();
        assert_eq!(fed.payload, [&b""[..], &b"qq"[..]]);
        let fed = rx.feed(MARK).unwrap();
        assert!(fed.done);
        assert_eq!(fed.payload, [&b""[..], &b""[..]]);
        assert_eq!(fed.consumed, 40);
        // Fed after the end: nothing is consumed.
        let fed = rx.feed(b"more").unwrap();
        assert_eq!((fed.consumed, fed.done), (0, true));
    }

    #[test]
    fn error_line_aborts() {
        check_all_splits(
            b"\n-ERR something went wrong\r\nignored",
            &Outcome {
                payload: vec![],
                rest: vec![],
                done: false,
                error: Some(FramingError::Aborted("ERR something went wrong".to_owned())),
            },
        );
        assert_eq!(
            FramingError::Aborted("ERR x".to_owned()).to_string(),
            "MASTER aborted replication with an error: ERR x"
        );
    }

    #[test]
    fn bad_first_lines() {
        let err = |input: &[u8]| run(&[input]).0.error;
        assert_eq!(
            err(b"+FULLRESYNC x 1\r\n"),
            Some(FramingError::NotAHeader("+FULLRESYNC x 1".to_owned()))
        );
        assert_eq!(
            FramingError::NotAHeader("hi".to_owned()).to_string(),
            "Bad protocol from MASTER, the first byte is not '$' (we received 'hi'), are you \
             sure the host and port are right?"
        );
        assert_eq!(
            err(b"$abc\r\n"),
            Some(FramingError::BadHeader("$abc".to_owned()))
        );
        assert_eq!(
            err(b"$-1\r\n"),
            Some(FramingError::BadHeader("$-1".to_owned()))
        );
        assert_eq!(
            err(b"$EOF:short\r\n"),
            Some(FramingError::BadHeader("$EOF:short".to_owned()))
        );
        assert_eq!(err(&[b'x'; 2000]), Some(FramingError::LineTooLong));
        let long = [&[b'$'][..], &[b'1'; 1100], b"\r\n"].concat();
        assert_eq!(
            run(&[&long[..600], &long[600..]]).0.error,
            Some(FramingError::LineTooLong)
        );
        // A failed receiver stays failed.
        let mut rx = PayloadReceiver::new();
        assert!(rx.feed(b"?\n").is_err());
        assert_eq!(rx.feed(b"$1\r\n"), Err(FramingError::Failed));
    }

    #[test]
    fn progress_before_and_during() {
        let mut rx = PayloadReceiver::new();
        assert_eq!(rx.info_total_bytes(), -1);
        assert_eq!(
            rx.progress(),
            Progress {
                total: None,
                read: 0
            }
        );
        rx.feed(b"\n$10\r\nabc").unwrap();
        assert_eq!(
            rx.progress(),
            Progress {
                total: Some(10),
                read: 3
            }
        );
        assert!(!rx.is_done());
    }

    proptest::proptest! {
        /// Arbitrary input never panics, and however it is cut, the receiver
        /// reaches the same outcome.
        #[test]
        fn arbitrary_bytes_give_the_same_outcome_however_cut(
            input in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"$EOF:\r\n-204a1af".to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..120,
            ),
            cuts in proptest::collection::vec(0usize..120, 0..6),
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
            cuts.sort_unstable();
            let mut chunks = Vec::new();
            let mut from = 0;
            for c in cuts {
                chunks.push(&input[from..c]);
                from = c;
            }
            chunks.push(&input[from..]);
            proptest::prop_assert_eq!(run(&chunks).0, run(&[&input]).0);
        }

        /// Any payload, framed either way and cut anywhere, comes back exact.
        #[test]
        fn any_payload_round_trips(
            payload in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(MARK.to_vec()),
                    proptest::prelude::any::<u8>(),
                ],
                0..200,
            ),
            eof in proptest::prelude::any::<bool>(),
            cut in 0usize..300,
        ) {
            let header = if eof {
                PayloadHeader::Eof(EofMark::new(*MARK))
            } else {
                PayloadHeader::Len(payload.len() as u64)
            };
            // A payload that happens to contain the whole mark cannot be sent
            // in the EOF format (nor can Redis send it); skip it.
            proptest::prop_assume!(!eof || find_mark(&payload, &EofMark::new(*MARK), &skip_table(&EofMark::new(*MARK))).is_none());
            let input = [&b"\n"[..], &header.to_bytes(), &payload, header.trailer(), b"*1\r\n"].concat();
            let cut = cut.min(input.len());
            let (a, b) = input.split_at(cut);
            proptest::prop_assert_eq!(run(&[a, b]).0, ok(&payload, b"*1\r\n"));
        }
    }

    #[test]
    fn large_payload_in_uneven_chunks() {
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let input = eof_input(b"", &payload, b"*1\r\n");
        for size in [1usize, 7, 39, 40, 41, 4096, 16384] {
            let chunks: Vec<&[u8]> = input.chunks(size).collect();
            assert_eq!(run(&chunks).0, ok(&payload, b"*1\r\n"), "chunk size {size}");
        }
    }
}
