//! RESP decoding: client requests (multibulk and inline) and the general RESP2/RESP3
//! frame decoder used to read replies (the replica link, tests).
//!
//! Invariants:
//! - "Not enough bytes yet" is `Ok(None)`, never an error, and consumes nothing.
//!   Completeness is established by a scan that allocates nothing; only a whole
//!   request or frame is then taken apart.
//! - [`parse_request`] never copies a multibulk argument: the request's bytes are
//!   split off the read buffer and every argument is a slice of them.
//! - No input makes a decoder panic or allocate more than the input's size: counts
//!   from the wire bound loops only as far as the buffered bytes reach, never a
//!   `Vec` capacity beyond a small cap.
//! - Request errors mirror Redis 7.0's wording; [`ProtocolError`]'s `Display` is
//!   the text that follows `ERR Protocol error: `.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use thiserror::Error;

use crate::reply::{fmt_double, put_int_line, put_len_line};

/// Longest inline request, and longest count line of a multibulk request, that may
/// sit in the buffer without its terminator (Redis's `PROTO_INLINE_MAX_SIZE`).
pub const PROTO_INLINE_MAX_SIZE: usize = 64 * 1024;

/// Default of `proto-max-bulk-len`: the largest bulk argument a client may send.
pub const PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// Largest element count of a multibulk request.
const MAX_MULTIBULK_LEN: i64 = 1024 * 1024;

/// Limits that apply to a client that has not authenticated yet.
const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
const UNAUTH_MAX_BULK_LEN: i64 = 16384;

/// Deepest nesting of aggregates that [`parse_frame`] accepts.
pub const MAX_FRAME_DEPTH: usize = 128;

/// Largest blob (bulk string, blob error, verbatim string) and simple line that
/// [`parse_frame`] accepts.
const MAX_FRAME_BLOB_LEN: i64 = 512 * 1024 * 1024;

/// Largest element count of one aggregate in [`parse_frame`].
const MAX_FRAME_AGGREGATE_LEN: i64 = i32::MAX as i64;

/// A `Vec` built from a count on the wire starts with at most this capacity.
const MAX_PREALLOC: usize = 1024;

/// What a connection's request parser enforces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RequestLimits {
    /// `proto-max-bulk-len`: the largest bulk argument.
    pub max_bulk_len: u64,
    /// The longest unterminated inline request or multibulk count line.
    pub max_inline_len: usize,
    /// Whether the client has authenticated (or needs not); until then multibulk
    /// counts are limited to 10 and bulk lengths to 16384.
    pub authenticated: bool,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            max_bulk_len: PROTO_MAX_BULK_LEN,
            max_inline_len: PROTO_INLINE_MAX_SIZE,
            authenticated: true,
        }
    }
}

/// A malformed request or frame. The connection that sent it is closed after the
/// reply `-ERR Protocol error: <Display>`.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum ProtocolError {
    /// A multibulk count that is not a number, or is too large.
    #[error("invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk length that is not a number, negative, or above `proto-max-bulk-len`.
    #[error("invalid bulk length")]
    InvalidBulkLength,
    /// A multibulk element that does not start with `$`.
    #[error("expected '$', got '{}'", char::from(*.0))]
    ExpectedDollar(u8),
    /// An inline request whose quotes do not close, or close before a non-space.
    #[error("unbalanced quotes in request")]
    UnbalancedQuotes,
    /// An inline request longer than the limit without a newline.
    #[error("too big inline request")]
    TooBigInlineRequest,
    /// A multibulk count line longer than the limit without CRLF.
    #[error("too big mbulk count string")]
    TooBigMbulkCountString,
    /// A bulk length line longer than the limit without CRLF.
    #[error("too big bulk count string")]
    TooBigBulkCountString,
    /// A multibulk count above 10 from a client that has not authenticated.
    #[error("unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk length above 16384 from a client that has not authenticated.
    #[error("unauthenticated bulk length")]
    UnauthenticatedBulkLength,
    /// A frame starting with a byte that is no RESP2/RESP3 type.
    #[error("invalid frame type '{}'", char::from(*.0))]
    InvalidFrameType(u8),
    /// An integer frame (`:`) that is not a 64-bit integer.
    #[error("invalid integer")]
    InvalidInteger,
    /// A double frame (`,`) that is not a number, `inf`, `-inf` or `nan`.
    #[error("invalid double")]
    InvalidDouble,
    /// A boolean frame (`#`) that is neither `t` nor `f`.
    #[error("invalid boolean")]
    InvalidBoolean,
    /// A big number frame (`(`) that is not an optionally signed run of digits.
    #[error("invalid big number")]
    InvalidBigNumber,
    /// A null frame (`_`) with something before its CRLF.
    #[error("invalid null")]
    InvalidNull,
    /// A verbatim string shorter than its `fmt:` prefix, or without the colon.
    #[error("invalid verbatim string")]
    InvalidVerbatim,
    /// A line or blob not terminated by CRLF.
    #[error("expected CRLF")]
    ExpectedCrlf,
    /// A simple line longer than the frame decoder accepts.
    #[error("too long line")]
    LineTooLong,
    /// Aggregates nested deeper than [`MAX_FRAME_DEPTH`].
    #[error("nesting deeper than {} levels", MAX_FRAME_DEPTH)]
    TooDeep,
}

/// If `buf` holds a whole request, removes it from `buf` and returns its arguments.
///
/// A request starting with `*` is multibulk; anything else is an inline line ended
/// by `\n` (an optional `\r` before it), split like `redis-cli` input. An empty or
/// blank line, `*0` and a negative count all give an empty argument list, which the
/// caller skips (replicas send bare `\n` as keepalives). When the request is not
/// whole yet, returns `Ok(None)`, leaves `buf` untouched and allocates nothing.
/// Call it again until `Ok(None)` to drain pipelined requests.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, limits),
        Some(_) => parse_inline(buf, limits),
    }
}

/// Appends `args` encoded as a multibulk request (`*N` then `$len` bulks).
pub fn encode_request<A: AsRef<[u8]>>(args: &[A], out: &mut BytesMut) {
    put_len_line(out, b'*', args.len());
    for arg in args {
        let arg = arg.as_ref();
        put_len_line(out, b'$', arg.len());
        out.reserve(arg.len() + 2);
        out.put_slice(arg);
        out.put_slice(b"\r\n");
    }
}

fn parse_multibulk(
    buf: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let data: &[u8] = buf;
    let Some((count, body)) = multibulk_count(data, limits)? else {
        return Ok(None);
    };
    if count <= 0 {
        buf.advance(body);
        return Ok(Some(Vec::new()));
    }
    // At most MAX_MULTIBULK_LEN, checked by multibulk_count.
    let count = count as usize;

    // Scan: every header is valid and every payload is buffered. The spans of
    // the first arguments are remembered on the stack so the headers are read
    // once; the rest (rare: long commands) are read again below.
    const REMEMBERED: usize = 16;
    let mut spans = [(0usize, 0usize); REMEMBERED];
    let mut end = body;
    for i in 0..count {
        let Some((start, len)) = bulk_header(data, end, limits)? else {
            return Ok(None);
        };
        match start.checked_add(len).and_then(|e| e.checked_add(2)) {
            Some(next) if next <= data.len() => end = next,
            _ => return Ok(None),
        }
        if let Some(span) = spans.get_mut(i) {
            *span = (start, len);
        }
    }

    // Take the request apart; each argument is a slice of the same bytes. A header
    // that scanned as whole scans as whole again, so the error below cannot occur.
    let request = buf.split_to(end).freeze();
    let mut args = Vec::with_capacity(count);
    let mut at = body;
    for i in 0..count {
        let (start, len) = match spans.get(i) {
            Some(&span) => span,
            None => bulk_header(&request, at, limits)?.ok_or(ProtocolError::InvalidBulkLength)?,
        };
        let stop = start + len;
        args.push(request.slice(start..stop));
        at = stop + 2;
    }
    Ok(Some(args))
}

/// Reads `*<count>\r` at the start of `data`: the count and where the first bulk
/// header begins. Like Redis, the byte after `\r` is skipped unseen.
fn multibulk_count(
    data: &[u8],
    limits: &RequestLimits,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(cr) = data.iter().position(|&b| b == b'\r') else {
        if data.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigMbulkCountString);
        }
        return Ok(None);
    };
    if cr + 2 > data.len() {
        return Ok(None);
    }
    let count = match parse_i64_strict(data.get(1..cr).unwrap_or_default()) {
        Some(n) if n <= MAX_MULTIBULK_LEN => n,
        _ => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > UNAUTH_MAX_MULTIBULK_LEN && !limits.authenticated {
        return Err(ProtocolError::UnauthenticatedMultibulkLength);
    }
    Ok(Some((count, cr + 2)))
}

/// Reads `$<len>\r` at `data[pos..]`: where the payload starts and its length. Like
/// Redis, the byte after `\r` (and the two after the payload) are skipped unseen.
fn bulk_header(
    data: &[u8],
    pos: usize,
    limits: &RequestLimits,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    let rest = data.get(pos..).unwrap_or_default();
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigBulkCountString);
        }
        return Ok(None);
    };
    if cr + 2 > rest.len() {
        return Ok(None);
    }
    if rest[0] != b'$' {
        return Err(ProtocolError::ExpectedDollar(rest[0]));
    }
    let len = match parse_i64_strict(&rest[1..cr]) {
        Some(n) if n >= 0 && n.unsigned_abs() <= limits.max_bulk_len => n,
        _ => return Err(ProtocolError::InvalidBulkLength),
    };
    if len > UNAUTH_MAX_BULK_LEN && !limits.authenticated {
        return Err(ProtocolError::UnauthenticatedBulkLength);
    }
    let len = usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?;
    Ok(Some((pos + cr + 2, len)))
}

fn parse_inline(
    buf: &mut BytesMut,
    limits: &RequestLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(newline) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigInlineRequest);
        }
        return Ok(None);
    };
    let mut line_end = newline;
    if newline > 0 && buf[newline - 1] == b'\r' {
        line_end -= 1;
    }
    // Redis splits the line as a C string: nothing after a NUL byte counts.
    if let Some(nul) = buf[..line_end].iter().position(|&b| b == 0) {
        line_end = nul;
    }
    let line = buf.split_to(newline + 1).freeze().slice(..line_end);
    split_inline_args(&line).map(Some)
}

/// An argument being collected: a run of the line's own bytes while it is one,
/// copied out as soon as an escape or a quote interrupts it.
enum Arg {
    Empty,
    Slice(usize, usize),
    Owned(Vec<u8>),
}

impl Arg {
    /// Adds the line's byte at `i`.
    fn push_at(&mut self, line: &[u8], i: usize) {
        match self {
            Arg::Empty => *self = Arg::Slice(i, i + 1),
            Arg::Slice(_, end) if *end == i => *end += 1,
            Arg::Slice(..) | Arg::Owned(_) => self.push_byte(line, line[i]),
        }
    }

    /// Adds a byte that is not the line's own (an escape's value).
    fn push_byte(&mut self, line: &[u8], b: u8) {
        match self {
            Arg::Empty => *self = Arg::Owned(vec![b]),
            Arg::Slice(start, end) => {
                let mut owned = Vec::with_capacity(*end - *start + 16);
                owned.extend_from_slice(&line[*start..*end]);
                owned.push(b);
                *self = Arg::Owned(owned);
            }
            Arg::Owned(v) => v.push(b),
        }
    }

    fn finish(self, line: &Bytes) -> Bytes {
        match self {
            Arg::Empty => Bytes::new(),
            Arg::Slice(start, end) => line.slice(start..end),
            Arg::Owned(v) => Bytes::from(v),
        }
    }
}

/// C's `isspace` in the "C" locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits an inline line into arguments the way `redis-cli` input is split:
/// arguments are separated by spaces; `"..."` understands `\n \r \t \b \a \\ \"`
/// and `\xHH`; `'...'` understands `\'`; a closing quote must be followed by a space
/// or the end of the line.
fn split_inline_args(line: &Bytes) -> Result<Vec<Bytes>, ProtocolError> {
    let s: &[u8] = line;
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if i >= s.len() {
            return Ok(args);
        }
        let mut arg = Arg::Empty;
        let mut in_double = false;
        let mut in_single = false;
        loop {
            if in_double {
                let Some(&c) = s.get(i) else {
                    return Err(ProtocolError::UnbalancedQuotes);
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'x') {
                    let hex = s
                        .get(i + 2)
                        .and_then(|&h| hex_value(h))
                        .zip(s.get(i + 3).and_then(|&l| hex_value(l)));
                    if let Some((h, l)) = hex {
                        arg.push_byte(s, h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < s.len() {
                    let value = match s[i + 1] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => b'\x08',
                        b'a' => b'\x07',
                        other => other,
                    };
                    arg.push_byte(s, value);
                    i += 2;
                } else if c == b'"' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    arg.push_at(s, i);
                    i += 1;
                }
            } else if in_single {
                let Some(&c) = s.get(i) else {
                    return Err(ProtocolError::UnbalancedQuotes);
                };
                if c == b'\\' && s.get(i + 1) == Some(&b'\'') {
                    arg.push_byte(s, b'\'');
                    i += 2;
                } else if c == b'\'' {
                    if s.get(i + 1).is_some_and(|&n| !is_space(n)) {
                        return Err(ProtocolError::UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                } else {
                    arg.push_at(s, i);
                    i += 1;
                }
            } else {
                match s.get(i) {
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(_) => arg.push_at(s, i),
                }
                i += 1;
            }
        }
        args.push(arg.finish(line));
    }
}

/// Parses a decimal `i64` as strictly as Redis's `string2ll`: an optional `-`, no
/// `+`, no spaces, no leading zeros (except `0` itself), no overflow.
fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        if value == 1u64 << 63 {
            Some(i64::MIN)
        } else {
            i64::try_from(value).ok().map(|v| -v)
        }
    } else {
        i64::try_from(value).ok()
    }
}

/// One RESP2 or RESP3 value, as read from a peer's replies.
#[derive(Clone, PartialEq, Debug)]
pub enum Frame {
    /// `+text`
    Simple(Bytes),
    /// `-text` or the blob error `!len`.
    Error(Bytes),
    /// `:n`
    Integer(i64),
    /// `$len`
    Bulk(Bytes),
    /// RESP3 `_`, RESP2 `$-1` and `*-1`.
    Null,
    /// `*n`
    Array(Vec<Frame>),
    /// `%n`
    Map(Vec<(Frame, Frame)>),
    /// `~n`
    Set(Vec<Frame>),
    /// `,text`
    Double(f64),
    /// `#t` / `#f`
    Bool(bool),
    /// `(digits`
    BigNumber(Bytes),
    /// `=len\r\nfmt:data`: the three-byte format and the data.
    Verbatim(Bytes, Bytes),
    /// `>n`
    Push(Vec<Frame>),
}

impl Frame {
    /// Appends this frame's RESP3 encoding to `out`. An error that holds `\r` or
    /// `\n` is written as a blob error (`!len`); simple strings are written as they
    /// are, so one holding `\r\n` does not survive a round trip.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            Frame::Simple(s) => put_simple(out, b'+', s),
            Frame::Error(e) if e.iter().any(|&b| b == b'\r' || b == b'\n') => {
                put_blob(out, b'!', &[e]);
            }
            Frame::Error(e) => put_simple(out, b'-', e),
            Frame::Integer(n) => put_int_line(out, b':', *n),
            Frame::Bulk(b) => put_blob(out, b'$', &[b]),
            Frame::Null => out.put_slice(b"_\r\n"),
            Frame::Array(items) => put_aggregate(out, b'*', items),
            Frame::Map(pairs) => {
                put_len_line(out, b'%', pairs.len());
                for (k, v) in pairs {
                    k.encode(out);
                    v.encode(out);
                }
            }
            Frame::Set(items) => put_aggregate(out, b'~', items),
            Frame::Double(d) => put_simple(out, b',', fmt_double(*d).as_bytes()),
            Frame::Bool(true) => out.put_slice(b"#t\r\n"),
            Frame::Bool(false) => out.put_slice(b"#f\r\n"),
            Frame::BigNumber(n) => put_simple(out, b'(', n),
            Frame::Verbatim(format, data) => put_blob(out, b'=', &[format, b":", data]),
            Frame::Push(items) => put_aggregate(out, b'>', items),
        }
    }
}

fn put_simple(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

fn put_blob(out: &mut BytesMut, kind: u8, parts: &[&[u8]]) {
    let len = parts.iter().map(|p| p.len()).sum();
    put_len_line(out, kind, len);
    out.reserve(len + 2);
    for part in parts {
        out.put_slice(part);
    }
    out.put_slice(b"\r\n");
}

fn put_aggregate(out: &mut BytesMut, kind: u8, items: &[Frame]) {
    put_len_line(out, kind, items.len());
    for item in items {
        item.encode(out);
    }
}

/// If `buf` starts with a whole RESP2/RESP3 frame, returns it and how many bytes
/// it took; `Ok(None)` when more bytes are needed.
///
/// RESP2's `$-1` and `*-1` decode to [`Frame::Null`], a blob error to
/// [`Frame::Error`]. RESP3 attributes (`|`) are read and dropped: the frame they
/// describe is returned, and the bytes taken include them. Streamed strings and
/// aggregates (`$?`, `*?`) are not supported. Aggregates nest at most
/// [`MAX_FRAME_DEPTH`] deep.
pub fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, ProtocolError> {
    // First a scan that allocates nothing, then the build over exactly those bytes.
    let Some((_, end)) = parse_at(buf, 0, 0, false)? else {
        return Ok(None);
    };
    match parse_at(&buf[..end], 0, 0, true)? {
        Some((Some(frame), used)) => Ok(Some((frame, used))),
        // The build pass reads the bytes the scan accepted, so it always yields.
        _ => Err(ProtocolError::InvalidMultibulkLength),
    }
}

/// Where a line starting at `pos` ends: `(line_end, next)` with `buf[line_end]`
/// the `\r` and `next` just past the `\n`.
fn read_line(
    buf: &[u8],
    pos: usize,
    max: usize,
    too_long: ProtocolError,
) -> Result<Option<(usize, usize)>, ProtocolError> {
    let rest = buf.get(pos..).unwrap_or_default();
    let Some(cr) = rest.iter().position(|&b| b == b'\r') else {
        if rest.len() > max {
            return Err(too_long);
        }
        return Ok(None);
    };
    if cr > max {
        return Err(too_long);
    }
    match rest.get(cr + 1) {
        None => Ok(None),
        Some(b'\n') => Ok(Some((pos + cr, pos + cr + 2))),
        Some(_) => Err(ProtocolError::ExpectedCrlf),
    }
}

/// What one step of the frame decoder yields: the frame (only when building) and
/// where the next one starts, or `None` when the buffer ends first.
type Step = Result<Option<(Option<Frame>, usize)>, ProtocolError>;

fn parse_at(buf: &[u8], pos: usize, depth: usize, build: bool) -> Step {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let copy = |s: &[u8]| Bytes::copy_from_slice(s);
    match kind {
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {
            let max = MAX_FRAME_BLOB_LEN as usize;
            let Some((end, next)) = read_line(buf, pos + 1, max, ProtocolError::LineTooLong)?
            else {
                return Ok(None);
            };
            let line = &buf[pos + 1..end];
            let frame = match kind {
                b'+' => build.then(|| Frame::Simple(copy(line))),
                b'-' => build.then(|| Frame::Error(copy(line))),
                b':' => Some(Frame::Integer(
                    parse_i64_strict(line).ok_or(ProtocolError::InvalidInteger)?,
                )),
                b'_' if line.is_empty() => Some(Frame::Null),
                b'_' => return Err(ProtocolError::InvalidNull),
                b',' => Some(Frame::Double(parse_double(line)?)),
                b'#' => match line {
                    b"t" => Some(Frame::Bool(true)),
                    b"f" => Some(Frame::Bool(false)),
                    _ => return Err(ProtocolError::InvalidBoolean),
                },
                _ => {
                    let digits = match line.split_first() {
                        Some((b'-' | b'+', rest)) => rest,
                        _ => line,
                    };
                    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                        return Err(ProtocolError::InvalidBigNumber);
                    }
                    build.then(|| Frame::BigNumber(copy(line)))
                }
            };
            Ok(Some((frame, next)))
        }
        b'$' | b'!' | b'=' => {
            let Some((end, next)) = read_line(
                buf,
                pos + 1,
                PROTO_INLINE_MAX_SIZE,
                ProtocolError::TooBigBulkCountString,
            )?
            else {
                return Ok(None);
            };
            let len = parse_i64_strict(&buf[pos + 1..end]);
            let len = match len {
                Some(-1) if kind == b'$' => return Ok(Some((Some(Frame::Null), next))),
                Some(n) if (0..=MAX_FRAME_BLOB_LEN).contains(&n) => n as usize,
                _ => return Err(ProtocolError::InvalidBulkLength),
            };
            let Some(stop) = next.checked_add(len) else {
                return Err(ProtocolError::InvalidBulkLength);
            };
            let Some(tail) = buf.get(stop..stop.saturating_add(2)) else {
                return Ok(None);
            };
            if tail != b"\r\n" {
                return Err(ProtocolError::ExpectedCrlf);
            }
            let payload = &buf[next..stop];
            let frame = match kind {
                b'$' => build.then(|| Frame::Bulk(copy(payload))),
                b'!' => build.then(|| Frame::Error(copy(payload))),
                _ => {
                    if payload.len() < 4 || payload[3] != b':' {
                        return Err(ProtocolError::InvalidVerbatim);
                    }
                    build.then(|| Frame::Verbatim(copy(&payload[..3]), copy(&payload[4..])))
                }
            };
            Ok(Some((frame, stop + 2)))
        }
        b'*' | b'%' | b'~' | b'>' | b'|' => {
            let Some((end, next)) = read_line(
                buf,
                pos + 1,
                PROTO_INLINE_MAX_SIZE,
                ProtocolError::TooBigMbulkCountString,
            )?
            else {
                return Ok(None);
            };
            let count = match parse_i64_strict(&buf[pos + 1..end]) {
                Some(-1) if kind == b'*' => return Ok(Some((Some(Frame::Null), next))),
                Some(n) if (0..=MAX_FRAME_AGGREGATE_LEN).contains(&n) => n as usize,
                _ => return Err(ProtocolError::InvalidMultibulkLength),
            };
            if depth >= MAX_FRAME_DEPTH {
                return Err(ProtocolError::TooDeep);
            }
            let paired = kind == b'%' || kind == b'|';
            let elements = if paired { count * 2 } else { count };
            // Attributes are scanned, never built: they are dropped.
            let build_items = build && kind != b'|';
            let mut items = if build_items {
                Vec::with_capacity(elements.min(MAX_PREALLOC))
            } else {
                Vec::new()
            };
            let mut at = next;
            for _ in 0..elements {
                let Some((item, after)) = parse_at(buf, at, depth + 1, build_items)? else {
                    return Ok(None);
                };
                items.extend(item);
                at = after;
            }
            let frame = match kind {
                b'|' => return parse_at(buf, at, depth + 1, build),
                _ if !build => None,
                b'*' => Some(Frame::Array(items)),
                b'~' => Some(Frame::Set(items)),
                b'>' => Some(Frame::Push(items)),
                _ => {
                    let mut pairs = Vec::with_capacity(count.min(MAX_PREALLOC));
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        pairs.push((k, v));
                    }
                    Some(Frame::Map(pairs))
                }
            };
            Ok(Some((frame, at)))
        }
        other => Err(ProtocolError::InvalidFrameType(other)),
    }
}

fn parse_double(line: &[u8]) -> Result<f64, ProtocolError> {
    std::str::from_utf8(line)
        .ok()
        .filter(|s| !s.is_empty())
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or(ProtocolError::InvalidDouble)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::{Proto, Reply};
    use proptest::prelude::*;

    fn limits() -> RequestLimits {
        RequestLimits::default()
    }

    fn unauth() -> RequestLimits {
        RequestLimits {
            authenticated: false,
            ..RequestLimits::default()
        }
    }

    fn req(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        parse_request(&mut BytesMut::from(input), &limits())
    }

    fn args(list: &[&str]) -> Vec<Bytes> {
        list.iter()
            .map(|s| Bytes::copy_from_slice(s.as_bytes()))
            .collect()
    }

    fn one(input: &[u8]) -> Vec<Bytes> {
        match req(input) {
            Ok(Some(a)) => a,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn err(input: &[u8]) -> ProtocolError {
        match req(input) {
            Err(e) => e,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(input)),
        }
    }

    #[test]
    fn multibulk() {
        assert_eq!(one(b"*1\r\n$4\r\nPING\r\n"), args(&["PING"]));
        assert_eq!(
            one(b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\na\r\nb\x00\r\n"),
            vec![
                Bytes::from_static(b"SET"),
                Bytes::new(),
                Bytes::from_static(b"a\r\nb\x00")
            ]
        );
        assert_eq!(one(b"*0\r\n"), Vec::<Bytes>::new());
        assert_eq!(one(b"*-1\r\n"), Vec::<Bytes>::new());
        assert_eq!(one(b"*-7\r\n"), Vec::<Bytes>::new());
    }

    #[test]
    fn pipelined_requests_drain_in_order() {
        let mut buf = BytesMut::from(
            &b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nGET k\r\n\n*0\r\n*1\r\n$3\r\nGE"[..],
        );
        let l = limits();
        assert_eq!(parse_request(&mut buf, &l), Ok(Some(args(&["PING"]))));
        assert_eq!(
            parse_request(&mut buf, &l),
            Ok(Some(args(&["SET", "k", "v"])))
        );
        assert_eq!(parse_request(&mut buf, &l), Ok(Some(args(&["GET", "k"]))));
        assert_eq!(parse_request(&mut buf, &l), Ok(Some(vec![])));
        assert_eq!(parse_request(&mut buf, &l), Ok(Some(vec![])));
        assert_eq!(parse_request(&mut buf, &l), Ok(None));
        assert_eq!(&buf[..], b"*1\r\n$3\r\nGE");
        buf.extend_from_slice(b"T\r\n");
        assert_eq!(parse_request(&mut buf, &l), Ok(Some(args(&["GET"]))));
        assert!(buf.is_empty());
        assert_eq!(parse_request(&mut buf, &l), Ok(None));
    }

    #[test]
    fn byte_by_byte() {
        let inputs: &[(&[u8], &[&str])] = &[
            (
                b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\n0123456789\r\n",
                &["SET", "key", "0123456789"],
            ),
            (b"set \"a b\" 'c'\r\n", &["set", "a b", "c"]),
            (b"PING\n", &["PING"]),
        ];
        for (input, want) in inputs {
            let mut buf = BytesMut::new();
            for (i, &b) in input.iter().enumerate() {
                buf.put_u8(b);
                let got = parse_request(&mut buf, &limits());
                if i + 1 < input.len() {
                    assert_eq!(got, Ok(None), "after {} bytes", i + 1);
                    assert_eq!(buf.len(), i + 1, "a partial request is left in place");
                } else {
                    assert_eq!(got, Ok(Some(args(want))));
                    assert!(buf.is_empty());
                }
            }
        }
    }

    #[test]
    fn multibulk_arguments_are_not_copied() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let got = parse_request(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(got[0].as_ptr() as usize, base + 8);
        assert_eq!(got[1].as_ptr() as usize, base + 17);
    }

    #[test]
    fn big_bulk_waits_on_length_not_bytes() {
        let size = 8 * 1024 * 1024;
        let mut buf = BytesMut::new();
        buf.extend_from_slice(format!("*2\r\n$3\r\nSET\r\n${size}\r\n").as_bytes());
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < size {
            let n = chunk.len().min(size - sent);
            buf.extend_from_slice(&chunk[..n]);
            sent += n;
            assert_eq!(parse_request(&mut buf, &limits()), Ok(None));
        }
        buf.extend_from_slice(b"\r\n");
        let got = parse_request(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(got[1].len(), size);
    }

    #[test]
    fn inline_splitting() {
        assert_eq!(one(b"PING\r\n"), args(&["PING"]));
        assert_eq!(one(b"  set  k\tv  \r\n"), args(&["set", "k", "v"]));
        assert_eq!(one(b"\n"), Vec::<Bytes>::new());
        assert_eq!(one(b"\r\n"), Vec::<Bytes>::new());
        assert_eq!(one(b"   \t \r\n"), Vec::<Bytes>::new());
        assert_eq!(one(b"set \"a b\" 'c d'\r\n"), args(&["set", "a b", "c d"]));
        assert_eq!(
            one(b"x \"\\x41\\x7a\\n\\r\\t\\b\\a\\\\\\\"\\q\"\n"),
            vec![
                Bytes::from_static(b"x"),
                Bytes::from_static(b"Az\n\r\t\x08\x07\\\"q")
            ]
        );
        assert_eq!(one(b"\"\\xZZ\"\n"), args(&["xZZ"]));
        assert_eq!(one(b"'it\\'s' 'a\\nb'\n"), args(&["it's", "a\\nb"]));
        assert_eq!(one(b"foo\"bar\" x\n"), args(&["foobar", "x"]));
        assert_eq!(one(b"\"\" ''\n"), args(&["", ""]));
        assert_eq!(one(b"a\"b c\"\n"), args(&["ab c"]));
        // Only one \r before the \n belongs to the terminator.
        assert_eq!(one(b"a\r\r\n"), args(&["a"]));
        // The line counts only up to a NUL byte, as in Redis.
        assert_eq!(one(b"get k\x00ignored\r\n"), args(&["get", "k"]));
        // \v and \f separate leading space but are part of unquoted arguments.
        assert_eq!(one(b"\x0ba\x0bb\n"), args(&["a\x0bb"]));
    }

    #[test]
    fn inline_arguments_without_escapes_are_not_copied() {
        let mut buf = BytesMut::from(&b"get \"key\" \"k\\x41\"\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let got = parse_request(&mut buf, &limits()).unwrap().unwrap();
        assert_eq!(got[0].as_ptr() as usize, base);
        assert_eq!(got[1].as_ptr() as usize, base + 5);
        assert_eq!(&got[2][..], b"kA");
    }

    #[test]
    fn inline_quote_errors() {
        for bad in [
            &b"set \"abc\n"[..],
            b"set 'abc\n",
            b"set \"a\"b\n",
            b"set 'a'b\n",
            b"set \"abc\\\"\n",
            b"set \"a\x00\"\n",
        ] {
            assert_eq!(err(bad), ProtocolError::UnbalancedQuotes, "{bad:?}");
        }
    }

    #[test]
    fn request_errors() {
        use ProtocolError::*;
        assert_eq!(err(b"*x\r\n"), InvalidMultibulkLength);
        assert_eq!(err(b"*\r\n"), InvalidMultibulkLength);
        assert_eq!(err(b"*01\r\n"), InvalidMultibulkLength);
        assert_eq!(err(b"*+1\r\n"), InvalidMultibulkLength);
        assert_eq!(err(b"*1048577\r\n"), InvalidMultibulkLength);
        assert_eq!(err(b"*99999999999999999999999\r\n"), InvalidMultibulkLength);
        assert_eq!(req(b"*1048576\r\n"), Ok(None));
        assert_eq!(err(b"*1\r\n$-1\r\n"), InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$x\r\n"), InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$\r\n"), InvalidBulkLength);
        assert_eq!(err(b"*1\r\n$536870913\r\n"), InvalidBulkLength);
        assert_eq!(req(b"*1\r\n$536870912\r\n"), Ok(None));
        assert_eq!(err(b"*1\r\n:1\r\n"), ExpectedDollar(b':'));
        assert_eq!(err(b"*2\r\n$1\r\na\r\nfoo\r\n"), ExpectedDollar(b'f'));
        assert_eq!(err(b"*1\r\n\r\n"), ExpectedDollar(b'\r'));

        let big = vec![b'a'; PROTO_INLINE_MAX_SIZE + 1];
        assert_eq!(err(&big), TooBigInlineRequest);
        assert_eq!(req(&big[1..]), Ok(None));
        let mut mbulk = b"*".to_vec();
        mbulk.extend_from_slice(&big);
        assert_eq!(err(&mbulk), TooBigMbulkCountString);
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend_from_slice(&big);
        assert_eq!(err(&bulk), TooBigBulkCountString);

        let small = RequestLimits {
            max_bulk_len: 10,
            ..limits()
        };
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &small), Err(InvalidBulkLength));
        let mut buf = BytesMut::from(&b"*1\r\n$10\r\n0123456789\r\n"[..]);
        assert!(parse_request(&mut buf, &small).is_ok());
    }

    #[test]
    fn unauthenticated_limits() {
        let l = unauth();
        let parse = |input: &[u8]| parse_request(&mut BytesMut::from(input), &l);
        assert_eq!(
            parse(b"*11\r\n"),
            Err(ProtocolError::UnauthenticatedMultibulkLength)
        );
        assert_eq!(parse(b"*10\r\n"), Ok(None));
        assert_eq!(
            parse(b"*1\r\n$16385\r\n"),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(parse(b"*1\r\n$16384\r\n"), Ok(None));
        assert_eq!(
            parse(b"*2000000\r\n"),
            Err(ProtocolError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse(b"*2\r\n$4\r\nAUTH\r\n$1\r\np\r\n"),
            Ok(Some(args(&["AUTH", "p"])))
        );
    }

    #[test]
    fn error_texts() {
        assert_eq!(
            ProtocolError::ExpectedDollar(b'x').to_string(),
            "expected '$', got 'x'"
        );
        assert_eq!(
            ProtocolError::InvalidMultibulkLength.to_string(),
            "invalid multibulk length"
        );
        assert_eq!(
            ProtocolError::UnbalancedQuotes.to_string(),
            "unbalanced quotes in request"
        );
        assert_eq!(
            ProtocolError::TooDeep.to_string(),
            "nesting deeper than 128 levels"
        );
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-1"), Some(-1));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"1a",
        ] {
            assert_eq!(parse_i64_strict(bad), None, "{bad:?}");
        }
    }

    fn frame(input: &[u8]) -> Frame {
        match parse_frame(input) {
            Ok(Some((f, used))) => {
                assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(input));
                f
            }
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn frame_err(input: &[u8]) -> ProtocolError {
        match parse_frame(input) {
            Err(e) => e,
            other => panic!("{:?} gave {other:?}", String::from_utf8_lossy(input)),
        }
    }

    fn b(s: &'static [u8]) -> Bytes {
        Bytes::from_static(s)
    }

    #[test]
    fn resp2_frames() {
        assert_eq!(frame(b"+OK\r\n"), Frame::Simple(b(b"OK")));
        assert_eq!(frame(b"-ERR bad\r\n"), Frame::Error(b(b"ERR bad")));
        assert_eq!(frame(b":-12\r\n"), Frame::Integer(-12));
        assert_eq!(frame(b"$3\r\nfoo\r\n"), Frame::Bulk(b(b"foo")));
        assert_eq!(frame(b"$0\r\n\r\n"), Frame::Bulk(Bytes::new()));
        assert_eq!(frame(b"$-1\r\n"), Frame::Null);
        assert_eq!(frame(b"*-1\r\n"), Frame::Null);
        assert_eq!(frame(b"*0\r\n"), Frame::Array(vec![]));
        assert_eq!(
            frame(b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n"),
            Frame::Array(vec![
                Frame::Bulk(b(b"a")),
                Frame::Array(vec![Frame::Integer(1)])
            ])
        );
    }

    #[test]
    fn resp3_frames() {
        assert_eq!(frame(b"_\r\n"), Frame::Null);
        assert_eq!(frame(b",1.5\r\n"), Frame::Double(1.5));
        assert_eq!(frame(b",inf\r\n"), Frame::Double(f64::INFINITY));
        assert_eq!(frame(b",-inf\r\n"), Frame::Double(f64::NEG_INFINITY));
        assert!(matches!(frame(b",nan\r\n"), Frame::Double(d) if d.is_nan()));
        assert_eq!(frame(b",1e+20\r\n"), Frame::Double(1e20));
        assert_eq!(frame(b"#t\r\n"), Frame::Bool(true));
        assert_eq!(frame(b"#f\r\n"), Frame::Bool(false));
        assert_eq!(
            frame(b"(3492890328409238509324850943850943825024385\r\n"),
            Frame::BigNumber(b(b"3492890328409238509324850943850943825024385"))
        );
        assert_eq!(
            frame(b"!21\r\nSYNTAX invalid syntax\r\n"),
            Frame::Error(b(b"SYNTAX invalid syntax"))
        );
        assert_eq!(
            frame(b"=15\r\ntxt:Some string\r\n"),
            Frame::Verbatim(b(b"txt"), b(b"Some string"))
        );
        assert_eq!(
            frame(b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"),
            Frame::Map(vec![
                (Frame::Simple(b(b"first")), Frame::Integer(1)),
                (Frame::Simple(b(b"second")), Frame::Integer(2)),
            ])
        );
        assert_eq!(
            frame(b"~2\r\n+a\r\n#f\r\n"),
            Frame::Set(vec![Frame::Simple(b(b"a")), Frame::Bool(false)])
        );
        assert_eq!(
            frame(b">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n"),
            Frame::Push(vec![Frame::Bulk(b(b"message")), Frame::Bulk(b(b"hi"))])
        );
        // An attribute is dropped; the frame it describes is returned.
        assert_eq!(
            frame(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*1\r\n:2\r\n"),
            Frame::Array(vec![Frame::Integer(2)])
        );
    }

    #[test]
    fn frames_leave_what_follows() {
        let input = b"+OK\r\n:1\r\n$2\r\nhi";
        assert_eq!(parse_frame(input), Ok(Some((Frame::Simple(b(b"OK")), 5))));
        assert_eq!(parse_frame(&input[5..]), Ok(Some((Frame::Integer(1), 4))));
        assert_eq!(parse_frame(&input[9..]), Ok(None));
    }

    #[test]
    fn incomplete_frames() {
        let whole = b"*3\r\n%1\r\n+a\r\n=7\r\ntxt:abc\r\n|1\r\n+k\r\n+v\r\n,2.5\r\n$-1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse_frame(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse_frame(whole).unwrap().is_some());
    }

    #[test]
    fn frame_errors() {
        use ProtocolError::*;
        assert_eq!(frame_err(b"?x\r\n"), InvalidFrameType(b'?'));
        assert_eq!(frame_err(b":1.5\r\n"), InvalidInteger);
        assert_eq!(frame_err(b",abc\r\n"), InvalidDouble);
        assert_eq!(frame_err(b",\r\n"), InvalidDouble);
        assert_eq!(frame_err(b"#x\r\n"), InvalidBoolean);
        assert_eq!(frame_err(b"(12a\r\n"), InvalidBigNumber);
        assert_eq!(frame_err(b"_x\r\n"), InvalidNull);
        assert_eq!(frame_err(b"=3\r\ntxt\r\n"), InvalidVerbatim);
        assert_eq!(frame_err(b"=4\r\ntxt-\r\n"), InvalidVerbatim);
        assert_eq!(frame_err(b"$3\r\nfooXX"), ExpectedCrlf);
        assert_eq!(frame_err(b"+OK\rX"), ExpectedCrlf);
        assert_eq!(frame_err(b"$-2\r\n"), InvalidBulkLength);
        assert_eq!(frame_err(b"$?\r\n"), InvalidBulkLength);
        assert_eq!(frame_err(b"!-1\r\n"), InvalidBulkLength);
        assert_eq!(frame_err(b"%-1\r\n"), InvalidMultibulkLength);
        assert_eq!(frame_err(b"*?\r\n"), InvalidMultibulkLength);
        assert_eq!(frame_err(b"*2147483648\r\n"), InvalidMultibulkLength);
        let long = vec![b'1'; PROTO_INLINE_MAX_SIZE + 1];
        let mut bulk = b"$".to_vec();
        bulk.extend_from_slice(&long);
        assert_eq!(frame_err(&bulk), TooBigBulkCountString);
        bulk[0] = b'*';
        assert_eq!(frame_err(&bulk), TooBigMbulkCountString);
    }

    #[test]
    fn nesting_limit() {
        let nested = |depth: usize| {
            let mut v = b"*1\r\n".repeat(depth);
            v.extend_from_slice(b":1\r\n");
            v
        };
        assert!(matches!(parse_frame(&nested(MAX_FRAME_DEPTH)), Ok(Some(_))));
        assert_eq!(
            parse_frame(&nested(MAX_FRAME_DEPTH + 1)),
            Err(ProtocolError::TooDeep)
        );
        // Chained attributes count as nesting too.
        let mut attrs = b"|0\r\n".repeat(MAX_FRAME_DEPTH + 1);
        attrs.extend_from_slice(b":1\r\n");
        assert_eq!(parse_frame(&attrs), Err(ProtocolError::TooDeep));
        // A huge count with few bytes behind it allocates nothing and waits.
        assert_eq!(parse_frame(b"*2147483647\r\n:1\r\n"), Ok(None));
    }

    #[test]
    fn replies_decode_as_frames() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::error("ERR x"),
            Reply::Int(3),
            Reply::bulk_from(b"v"),
            Reply::Null,
            Reply::NullArray,
            Reply::Map(vec![(Reply::bulk_from(b"k"), Reply::Double(0.5))]),
            Reply::Set(vec![Reply::Bool(true)]),
            Reply::Verbatim("txt", b(b"hi")),
        ]);
        let mut out = BytesMut::new();
        reply.encode(Proto::Resp3, &mut out);
        assert_eq!(
            frame(&out),
            Frame::Array(vec![
                Frame::Simple(b(b"OK")),
                Frame::Error(b(b"ERR x")),
                Frame::Integer(3),
                Frame::Bulk(b(b"v")),
                Frame::Null,
                Frame::Null,
                Frame::Map(vec![(Frame::Bulk(b(b"k")), Frame::Double(0.5))]),
                Frame::Set(vec![Frame::Bool(true)]),
                Frame::Verbatim(b(b"txt"), b(b"hi")),
            ])
        );
        let mut out = BytesMut::new();
        reply.encode(Proto::Resp2, &mut out);
        assert!(matches!(frame(&out), Frame::Array(items) if items.len() == 9));
    }

    fn encode_frame(f: &Frame) -> BytesMut {
        let mut out = BytesMut::new();
        f.encode(&mut out);
        out
    }

    fn line_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>().prop_filter("no CR", |&c| c != b'\r'), 0..16)
            .prop_map(Bytes::from)
    }

    fn blob_bytes() -> impl Strategy<Value = Bytes> {
        proptest::collection::vec(any::<u8>(), 0..32).prop_map(Bytes::from)
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let leaf = prop_oneof![
            line_bytes().prop_map(Frame::Simple),
            blob_bytes().prop_map(Frame::Error),
            any::<i64>().prop_map(Frame::Integer),
            blob_bytes().prop_map(Frame::Bulk),
            Just(Frame::Null),
            any::<f64>()
                .prop_filter("NaN is not equal to itself", |d| !d.is_nan())
                .prop_map(Frame::Double),
            any::<bool>().prop_map(Frame::Bool),
            "-?[1-9][0-9]{0,40}".prop_map(|s| Frame::BigNumber(Bytes::from(s))),
            ("[a-z]{3}", blob_bytes()).prop_map(|(f, d)| Frame::Verbatim(Bytes::from(f), d)),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Frame::Push),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Frame::Map),
            ]
        })
    }

    proptest! {
        #[test]
        fn multibulk_round_trip(
            list in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..12),
            split in any::<prop::sample::Index>(),
        ) {
            let mut wire = BytesMut::new();
            encode_request(&list, &mut wire);
            let want: Vec<Bytes> = list.iter().map(|a| Bytes::copy_from_slice(a)).collect();

            let mut whole = wire.clone();
            prop_assert_eq!(parse_request(&mut whole, &limits()), Ok(Some(want.clone())));
            prop_assert!(whole.is_empty());

            let at = split.index(wire.len());
            let mut buf = BytesMut::from(&wire[..at]);
            prop_assert_eq!(parse_request(&mut buf, &limits()), Ok(None));
            prop_assert_eq!(buf.len(), at);
            buf.extend_from_slice(&wire[at..]);
            prop_assert_eq!(parse_request(&mut buf, &limits()), Ok(Some(want)));
            prop_assert!(buf.is_empty());
        }

        #[test]
        fn frame_round_trip(f in arb_frame(), split in any::<prop::sample::Index>()) {
            let wire = encode_frame(&f);
            prop_assert_eq!(parse_frame(&wire), Ok(Some((f.clone(), wire.len()))));
            let at = split.index(wire.len());
            prop_assert_eq!(parse_frame(&wire[..at]), Ok(None));
            let mut more = wire.clone();
            more.extend_from_slice(b"+next\r\n");
            prop_assert_eq!(parse_frame(&more), Ok(Some((f, wire.len()))));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            for l in [limits(), unauth()] {
                let mut buf = BytesMut::from(&data[..]);
                while let Ok(Some(_)) = parse_request(&mut buf, &l) {}
            }
            let _ = parse_frame(&data);
        }
    }
}
