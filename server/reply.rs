//! `Reply`: what a command handler returns, and its RESP2/RESP3 encoding.
//!
//! A failed command is a [`Reply::Error`] carrying Redis's exact text (`ERR ...`,
//! `WRONGTYPE ...`), never a Rust `Err`. The encoder writes straight into the
//! connection's `BytesMut` write buffer; integers and lengths are formatted by hand
//! (no `format!` on the hot path).
//!
//! Invariants of the encoding:
//! - Simple strings and errors never contain `\r` or `\n` on the wire: the encoder
//!   writes a space in their place, as Redis does for error replies.
//! - `Reply::None` writes nothing; `Reply::Raw` writes its bytes unchanged.

use std::borrow::Cow;

use bytes::{BufMut, Bytes, BytesMut};

/// The protocol version a connection speaks (`HELLO 2` / `HELLO 3`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    /// RESP2, the default of every new connection.
    Resp2,
    /// RESP3, chosen with `HELLO 3`.
    Resp3,
}

/// What a command answers.
#[derive(Clone, PartialEq, Debug)]
pub enum Reply {
    /// `+OK`
    Simple(Cow<'static, str>),
    /// The full text after `-`, e.g. `ERR syntax error` or `WRONGTYPE ...`.
    Error(Cow<'static, str>),
    /// `:42`
    Int(i64),
    /// A number too big for `Int`, as its decimal text. RESP2: a bulk
    /// string; RESP3: `(text`.
    BigNumber(Bytes),
    /// `$3\r\nfoo`
    Bulk(Bytes),
    /// RESP2 `$-1`, RESP3 `_`.
    Null,
    /// RESP2 `*-1`, RESP3 `_`.
    NullArray,
    /// `*n`
    Array(Vec<Reply>),
    /// RESP2: a flat array of 2n elements; RESP3: `%n`.
    Map(Vec<(Reply, Reply)>),
    /// RESP2: an array; RESP3: `~n`.
    Set(Vec<Reply>),
    /// RESP2: a bulk string of [`fmt_double`]'s text; RESP3: `,text`.
    Double(f64),
    /// RESP2: `:1` / `:0`; RESP3: `#t` / `#f`.
    Bool(bool),
    /// A verbatim string with its three-character format (`txt`, `mkd`).
    /// RESP2: a plain bulk string of the data; RESP3: `=len\r\nfmt:data`.
    Verbatim(&'static str, Bytes),
    /// An out-of-band message (pub/sub). RESP2: an array; RESP3: `>n`.
    Push(Vec<Reply>),
    /// Pre-encoded bytes written as they are (replication streams, cached replies).
    Raw(Bytes),
    /// An array of bulk strings already encoded, `*<n>` header included (the
    /// same bytes in RESP2 and RESP3): range replies written straight from
    /// the stored elements, with no per-element allocation or reference.
    BulkArray(Bytes),
    /// Nothing at all is written (e.g. `REPLCONF ACK`).
    None,
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Simple(Cow::Borrowed("OK"))
    }

    /// An error reply; `msg` is the full text after `-` (`ERR ...`, `WRONGTYPE ...`).
    pub fn error(msg: impl Into<Cow<'static, str>>) -> Reply {
        Reply::Error(msg.into())
    }

    /// A bulk string holding a copy of `data`.
    pub fn bulk_from(data: &[u8]) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(data))
    }

    /// An array of bulk strings holding copies of `items`, encoded at once
    /// into one buffer ([`Reply::BulkArray`]).
    pub fn bulk_array_from<'a>(items: impl ExactSizeIterator<Item = &'a [u8]>) -> Reply {
        let mut out = BytesMut::with_capacity(16 + items.len() * 16);
        put_len_line(&mut out, b'*', items.len());
        for item in items {
            put_bulk(&mut out, item);
        }
        Reply::BulkArray(out.freeze())
    }

    /// This reply with every [`Reply::BulkArray`] decoded into an `Array` of
    /// `Bulk`s, so that tests compare values however they were built.
    #[cfg(test)]
    pub(crate) fn decoded(self) -> Reply {
        let decode_all = |items: Vec<Reply>| items.into_iter().map(Reply::decoded).collect();
        match self {
            Reply::BulkArray(bytes) => {
                let text = bytes.as_ref();
                let line_end = |from: usize| {
                    from + text[from..]
                        .windows(2)
                        .position(|w| w == b"\r\n")
                        .expect("an encoded line")
                };
                let number = |from: usize, to: usize| -> usize {
                    std::str::from_utf8(&text[from..to])
                        .expect("digits")
                        .parse()
                        .expect("a length")
                };
                let end = line_end(1);
                let count = number(1, end);
                let mut at = end + 2;
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    let end = line_end(at + 1);
                    let len = number(at + 1, end);
                    items.push(Reply::Bulk(bytes.slice(end + 2..end + 2 + len)));
                    at = end + 4 + len;
                }
                assert_eq!(at, text.len(), "nothing after the array");
                Reply::Array(items)
            }
            Reply::Array(items) => Reply::Array(decode_all(items)),
            Reply::Set(items) => Reply::Set(decode_all(items)),
            Reply::Push(items) => Reply::Push(decode_all(items)),
            Reply::Map(pairs) => Reply::Map(
                pairs
                    .into_iter()
                    .map(|(k, v)| (k.decoded(), v.decoded()))
                    .collect(),
            ),
            other => other,
        }
    }

    /// Whether this reply is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// `WRONGTYPE Operation against a key holding the wrong kind of value`
    pub fn wrong_type() -> Reply {
        Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value")
    }

    /// `ERR value is not an integer or out of range`
    pub fn not_integer() -> Reply {
        Reply::error("ERR value is not an integer or out of range")
    }

    /// `ERR value is not a valid float`
    pub fn not_float() -> Reply {
        Reply::error("ERR value is not a valid float")
    }

    /// `ERR syntax error`
    pub fn syntax_error() -> Reply {
        Reply::error("ERR syntax error")
    }

    /// `ERR index out of range`
    pub fn out_of_range() -> Reply {
        Reply::error("ERR index out of range")
    }

    /// `ERR no such key`
    pub fn no_such_key() -> Reply {
        Reply::error("ERR no such key")
    }

    /// `ERR wrong number of arguments for '<cmd>' command`, with the name as given
    /// (the command table's lowercase name, `config|get` for a subcommand).
    pub fn wrong_arity(cmd_name: &str) -> Reply {
        Reply::error(format!(
            "ERR wrong number of arguments for '{cmd_name}' command"
        ))
    }

    /// Redis 7.0's reply to an unknown command:
    /// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
    ///
    /// The name is cut to 128 bytes. Arguments are added, each quoted and followed
    /// by a space, while the list so far is shorter than 128 bytes; each argument is
    /// cut to 128 minus the length of the list so far.
    pub fn unknown_command<A: AsRef<[u8]>>(name: &[u8], args: &[A]) -> Reply {
        const LIMIT: usize = 128;
        let mut text: Vec<u8> = Vec::with_capacity(96 + LIMIT * 2);
        text.extend_from_slice(b"ERR unknown command '");
        text.extend_from_slice(&name[..name.len().min(LIMIT)]);
        text.extend_from_slice(b"', with args beginning with: ");
        let mut listed = 0usize;
        for arg in args {
            if listed >= LIMIT {
                break;
            }
            let arg = arg.as_ref();
            let take = arg.len().min(LIMIT - listed);
            text.push(b'\'');
            text.extend_from_slice(&arg[..take]);
            text.extend_from_slice(b"' ");
            listed += take + 3;
        }
        Reply::Error(Cow::Owned(lossy(text)))
    }

    /// `ERR unknown subcommand '<sub>'. Try <CMD> HELP.` (the subcommand cut to 128
    /// bytes, the command's name in upper case).
    pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> Reply {
        let mut text: Vec<u8> = Vec::with_capacity(64 + sub.len().min(128));
        text.extend_from_slice(b"ERR unknown subcommand '");
        text.extend_from_slice(&sub[..sub.len().min(128)]);
        text.extend_from_slice(b"'. Try ");
        text.extend_from_slice(cmd.to_ascii_uppercase().as_bytes());
        text.extend_from_slice(b" HELP.");
        Reply::Error(Cow::Owned(lossy(text)))
    }

    /// Appends this reply's encoding in `proto` to `out`.
    pub fn encode(&self, proto: Proto, out: &mut BytesMut) {
        match self {
            Reply::Simple(s) => put_line(out, b'+', s.as_bytes()),
            Reply::Error(s) => put_line(out, b'-', s.as_bytes()),
            Reply::Int(n) => put_int_line(out, b':', *n),
            Reply::BigNumber(text) => match proto {
                Proto::Resp2 => put_bulk(out, text),
                Proto::Resp3 => put_line(out, b'(', text),
            },
            Reply::Bulk(b) => put_bulk(out, b),
            Reply::Null => match proto {
                Proto::Resp2 => out.put_slice(b"$-1\r\n"),
                Proto::Resp3 => out.put_slice(b"_\r\n"),
            },
            Reply::NullArray => match proto {
                Proto::Resp2 => out.put_slice(b"*-1\r\n"),
                Proto::Resp3 => out.put_slice(b"_\r\n"),
            },
            Reply::Array(items) => {
                put_len_line(out, b'*', items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Map(pairs) => {
                match proto {
                    Proto::Resp2 => put_len_line(out, b'*', pairs.len().saturating_mul(2)),
                    Proto::Resp3 => put_len_line(out, b'%', pairs.len()),
                }
                for (k, v) in pairs {
                    k.encode(proto, out);
                    v.encode(proto, out);
                }
            }
            Reply::Set(items) => {
                let kind = match proto {
                    Proto::Resp2 => b'*',
                    Proto::Resp3 => b'~',
                };
                put_len_line(out, kind, items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Double(d) => {
                let text = fmt_double(*d);
                match proto {
                    Proto::Resp2 => put_bulk(out, text.as_bytes()),
                    Proto::Resp3 => {
                        out.put_u8(b',');
                        out.put_slice(text.as_bytes());
                        out.put_slice(b"\r\n");
                    }
                }
            }
            Reply::Bool(b) => match (proto, b) {
                (Proto::Resp2, true) => out.put_slice(b":1\r\n"),
                (Proto::Resp2, false) => out.put_slice(b":0\r\n"),
                (Proto::Resp3, true) => out.put_slice(b"#t\r\n"),
                (Proto::Resp3, false) => out.put_slice(b"#f\r\n"),
            },
            Reply::Verbatim(format, data) => match proto {
                Proto::Resp2 => put_bulk(out, data),
                Proto::Resp3 => {
                    // The format is exactly three bytes on the wire; anything else
                    // is a programming error, answered as plain text.
                    debug_assert_eq!(format.len(), 3, "verbatim format must be 3 bytes");
                    let format = if format.len() == 3 { format } else { "txt" };
                    put_len_line(out, b'=', data.len() + 4);
                    out.reserve(data.len() + 6);
                    out.put_slice(format.as_bytes());
                    out.put_u8(b':');
                    out.put_slice(data);
                    out.put_slice(b"\r\n");
                }
            },
            Reply::Push(items) => {
                let kind = match proto {
                    Proto::Resp2 => b'*',
                    Proto::Resp3 => b'>',
                };
                put_len_line(out, kind, items.len());
                for item in items {
                    item.encode(proto, out);
                }
            }
            Reply::Raw(bytes) | Reply::BulkArray(bytes) => out.put_slice(bytes),
            Reply::None => {}
        }
    }
}

fn lossy(text: Vec<u8>) -> String {
    match String::from_utf8(text) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// `<kind><text>\r\n`, with every `\r` and `\n` of `text` written as a space.
fn put_line(out: &mut BytesMut, kind: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    if text.iter().any(|&b| b == b'\r' || b == b'\n') {
        out.extend(
            text.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
    } else {
        out.put_slice(text);
    }
    out.put_slice(b"\r\n");
}

fn put_bulk(out: &mut BytesMut, data: &[u8]) {
    let mut digits = [0u8; 20];
    let len = fmt_u64(data.len() as u64, &mut digits);
    // `$` + length + CRLF + data + CRLF, in one reservation.
    out.reserve(len.len() + data.len() + 5);
    out.put_u8(b'$');
    out.put_slice(len);
    out.put_slice(b"\r\n");
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// `<kind><n>\r\n`
pub(crate) fn put_len_line(out: &mut BytesMut, kind: u8, n: usize) {
    let mut digits = [0u8; 20];
    let text = fmt_u64(n as u64, &mut digits);
    out.reserve(text.len() + 3);
    out.put_u8(kind);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// `<kind><n>\r\n` for a signed `n`.
pub(crate) fn put_int_line(out: &mut BytesMut, kind: u8, n: i64) {
    let mut digits = [0u8; 20];
    let text = fmt_u64(n.unsigned_abs(), &mut digits);
    out.reserve(text.len() + 4);
    out.put_u8(kind);
    if n < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// Writes the decimal digits of `n` at the end of `buf` and returns them.
fn fmt_u64(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// Formats `d` the way Redis does for double replies: C's `printf("%.17g")`, except
/// that infinities are `inf` / `-inf` (and NaN is `nan`).
///
/// `%.17g`: round to 17 significant digits; with X the decimal exponent of the
/// rounded value, use fixed notation when -4 <= X < 17 and exponent notation
/// otherwise; drop trailing zeros of the fraction (and a bare decimal point); the
/// exponent has a sign and at least two digits.
pub fn fmt_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".to_owned();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    // Rust's exact-precision formatting rounds the exact binary value half to even,
    // as glibc's printf does: "d.dddddddddddddddde<exp>", 17 significant digits.
    let sci = format!("{:.16e}", d.abs());
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m, e.parse::<i32>().unwrap_or(0)),
        None => (sci.as_str(), 0),
    };
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let mut out = String::with_capacity(26);
    if d < 0.0 {
        out.push('-');
    }
    if (-4..17).contains(&exp) {
        if exp >= 0 {
            let int_len = (exp as usize + 1).min(digits.len());
            push_digits(&mut out, &digits[..int_len]);
            push_fraction(&mut out, &digits[int_len..]);
        } else {
            out.push('0');
            let mut frac: Vec<u8> = vec![b'0'; (-exp - 1) as usize];
            frac.extend_from_slice(&digits);
            push_fraction(&mut out, &frac);
        }
    } else {
        push_digits(&mut out, &digits[..1]);
        push_fraction(&mut out, &digits[1..]);
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    }
    out
}

fn push_digits(out: &mut String, digits: &[u8]) {
    out.extend(digits.iter().map(|&b| char::from(b)));
}

/// Appends `.digits` without trailing zeros, or nothing when all are zero.
fn push_fraction(out: &mut String, digits: &[u8]) {
    let len = digits.iter().rposition(|&b| b != b'0').map_or(0, |p| p + 1);
    if len > 0 {
        out.push('.');
        push_digits(out, &digits[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(reply: &Reply, proto: Proto) -> Vec<u8> {
        let mut out = BytesMut::new();
        reply.encode(proto, &mut out);
        out.to_vec()
    }

    fn both(reply: Reply, resp2: &[u8], resp3: &[u8]) {
        assert_eq!(
            enc(&reply, Proto::Resp2),
            resp2,
            "RESP2 of {reply:?}: {:?}",
            String::from_utf8_lossy(&enc(&reply, Proto::Resp2))
        );
        assert_eq!(
            enc(&reply, Proto::Resp3),
            resp3,
            "RESP3 of {reply:?}: {:?}",
            String::from_utf8_lossy(&enc(&reply, Proto::Resp3))
        );
    }

    #[test]
    fn an_encoded_bulk_array_is_the_array_of_its_bulks() {
        let items: [&[u8]; 4] = [b"a", b"", b"\r\n$3", &[0u8; 300]];
        let built = Reply::bulk_array_from(items.iter().copied());
        let plain = Reply::Array(items.iter().map(|i| Reply::bulk_from(i)).collect());
        for proto in [Proto::Resp2, Proto::Resp3] {
            assert_eq!(enc(&built, proto), enc(&plain, proto));
        }
        assert_eq!(built.clone().decoded(), plain);
        let empty = Reply::bulk_array_from(std::iter::empty());
        both(empty.clone(), b"*0\r\n", b"*0\r\n");
        assert_eq!(empty.decoded(), Reply::Array(vec![]));
    }

    #[test]
    fn scalars() {
        both(Reply::ok(), b"+OK\r\n", b"+OK\r\n");
        both(Reply::Int(0), b":0\r\n", b":0\r\n");
        both(Reply::Int(-42), b":-42\r\n", b":-42\r\n");
        both(
            Reply::Int(i64::MIN),
            b":-9223372036854775808\r\n",
            b":-9223372036854775808\r\n",
        );
        both(
            Reply::Int(i64::MAX),
            b":9223372036854775807\r\n",
            b":9223372036854775807\r\n",
        );
        both(Reply::bulk_from(b"foo"), b"$3\r\nfoo\r\n", b"$3\r\nfoo\r\n");
        both(Reply::Bulk(Bytes::new()), b"$0\r\n\r\n", b"$0\r\n\r\n");
        both(Reply::Null, b"$-1\r\n", b"_\r\n");
        both(Reply::NullArray, b"*-1\r\n", b"_\r\n");
        both(Reply::Bool(true), b":1\r\n", b"#t\r\n");
        both(Reply::Bool(false), b":0\r\n", b"#f\r\n");
        both(Reply::Double(1.5), b"$3\r\n1.5\r\n", b",1.5\r\n");
        both(Reply::Double(f64::INFINITY), b"$3\r\ninf\r\n", b",inf\r\n");
        both(
            Reply::Double(f64::NEG_INFINITY),
            b"$4\r\n-inf\r\n",
            b",-inf\r\n",
        );
        both(
            Reply::Verbatim("txt", Bytes::from_static(b"hello")),
            b"$5\r\nhello\r\n",
            b"=9\r\ntxt:hello\r\n",
        );
        both(
            Reply::Raw(Bytes::from_static(b"+X\r\n")),
            b"+X\r\n",
            b"+X\r\n",
        );
        both(Reply::None, b"", b"");
    }

    #[test]
    fn errors_never_break_lines() {
        both(
            Reply::error("ERR bad\r\nthing\n"),
            b"-ERR bad  thing \r\n",
            b"-ERR bad  thing \r\n",
        );
        both(Reply::Simple("a\nb".into()), b"+a b\r\n", b"+a b\r\n");
        assert!(Reply::syntax_error().is_error());
        assert!(!Reply::ok().is_error());
    }

    #[test]
    fn aggregates() {
        both(
            Reply::Array(vec![Reply::Int(1), Reply::bulk_from(b"a"), Reply::Null]),
            b"*3\r\n:1\r\n$1\r\na\r\n$-1\r\n",
            b"*3\r\n:1\r\n$1\r\na\r\n_\r\n",
        );
        both(Reply::Array(vec![]), b"*0\r\n", b"*0\r\n");
        both(
            Reply::Map(vec![(Reply::bulk_from(b"k"), Reply::Int(7))]),
            b"*2\r\n$1\r\nk\r\n:7\r\n",
            b"%1\r\n$1\r\nk\r\n:7\r\n",
        );
        both(
            Reply::Set(vec![Reply::bulk_from(b"m")]),
            b"*1\r\n$1\r\nm\r\n",
            b"~1\r\n$1\r\nm\r\n",
        );
        both(
            Reply::Push(vec![Reply::bulk_from(b"message"), Reply::Double(3.0)]),
            b"*2\r\n$7\r\nmessage\r\n$1\r\n3\r\n",
            b">2\r\n$7\r\nmessage\r\n,3\r\n",
        );
    }

    #[test]
    fn error_texts() {
        let text = |r: Reply| match r {
            Reply::Error(s) => s.into_owned(),
            other => panic!("not an error: {other:?}"),
        };
        assert_eq!(
            text(Reply::wrong_type()),
            "WRONGTYPE Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            text(Reply::not_integer()),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(text(Reply::not_float()), "ERR value is not a valid float");
        assert_eq!(text(Reply::syntax_error()), "ERR syntax error");
        assert_eq!(text(Reply::out_of_range()), "ERR index out of range");
        assert_eq!(text(Reply::no_such_key()), "ERR no such key");
        assert_eq!(
            text(Reply::wrong_arity("get")),
            "ERR wrong number of arguments for 'get' command"
        );
        assert_eq!(
            text(Reply::unknown_subcommand(b"x", "config")),
            "ERR unknown subcommand 'x'. Try CONFIG HELP."
        );
        assert_eq!(
            text(Reply::unknown_command(b"foo", &[&b"a"[..], b"b"])),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            text(Reply::unknown_command::<&[u8]>(b"foo", &[])),
            "ERR unknown command 'foo', with args beginning with: "
        );
    }

    #[test]
    fn unknown_command_truncation() {
        let long = vec![b'x'; 300];
        let r = Reply::unknown_command(&long, &[long.clone(), long.clone()]);
        let Reply::Error(s) = r else {
            panic!("not an error")
        };
        let expected = format!(
            "ERR unknown command '{}', with args beginning with: '{}' ",
            "x".repeat(128),
            "x".repeat(128)
        );
        assert_eq!(s, expected);

        // 'aaa...'(100) plus quotes and space is 103 bytes; the next gets 25.
        let a = vec![b'a'; 100];
        let b = vec![b'b'; 100];
        let c = vec![b'c'; 5];
        let Reply::Error(s) = Reply::unknown_command(b"f", &[a, b, c]) else {
            panic!("not an error")
        };
        let expected = format!(
            "ERR unknown command 'f', with args beginning with: '{}' '{}' ",
            "a".repeat(100),
            "b".repeat(25)
        );
        assert_eq!(s, expected);
    }

    #[test]
    fn doubles_like_printf_17g() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (0.1, "0.10000000000000001"),
            (1e20, "1e+20"),
            (3.0, "3"),
            (1e-5, "1.0000000000000001e-05"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (0.0, "0"),
            (-0.0, "-0"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (123456789.0, "123456789"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012344999999999999"),
            (1e-4, "0.0001"),
            (1e100, "1e+100"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (1234567890123456.5, "1234567890123456.5"),
            (0.3, "0.29999999999999999"),
            (100.0, "100"),
            (-1e-10, "-1e-10"),
        ];
        for &(d, want) in cases {
            assert_eq!(fmt_double(d), want, "fmt_double({d:e})");
        }
    }

    #[test]
    fn doubles_round_trip() {
        for d in [0.1, 1.0 / 3.0, 2.0f64.powi(60), 6.02214076e23, -1e-300] {
            let s = fmt_double(d);
            assert_eq!(s.parse::<f64>().ok(), Some(d), "{s}");
        }
    }
}
