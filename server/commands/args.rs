//! Argument parsing shared by handlers, with Redis's error replies.

use bytes::Bytes;
use tandem_storage::num;

use crate::reply::Reply;

/// Parses an i64 argument or returns Redis's "not an integer" error.
pub fn int(arg: &[u8]) -> Result<i64, Reply> {
    num::parse_i64(arg).ok_or_else(Reply::not_integer)
}

/// Parses a float argument or returns Redis's "not a valid float" error.
pub fn float(arg: &[u8]) -> Result<f64, Reply> {
    num::parse_f64(arg).ok_or_else(Reply::not_float)
}

/// A database index argument, checked against the number of databases.
pub fn db_index(arg: &[u8], databases: usize) -> Result<usize, Reply> {
    let idx = num::parse_i64(arg).ok_or_else(|| Reply::error("ERR invalid DB index"))?;
    if idx < 0 || idx as usize >= databases {
        return Err(Reply::error("ERR DB index is out of range"));
    }
    Ok(idx as usize)
}

/// True if `arg` equals `word`, ASCII case-insensitively.
pub fn is(arg: &Bytes, word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Unwraps a `Result<T, Reply>` inside a handler, returning the error reply.
#[macro_export]
macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reply) => return reply,
        }
    };
}

/// A blocking command's timeout in seconds (float allowed, 0 = forever), as
/// milliseconds, with Redis 7.0's errors.
pub fn timeout_secs(arg: &[u8]) -> Result<u64, Reply> {
    let secs = num::parse_f64(arg)
        .filter(|v| v.is_finite())
        .ok_or_else(|| Reply::error("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(Reply::error("ERR timeout is negative"));
    }
    let ms = secs * 1000.0;
    if ms > (i64::MAX / 2) as f64 {
        return Err(Reply::error("ERR timeout is out of range"));
    }
    Ok(ms.ceil() as u64)
}

/// A SCAN cursor as Redis's `parseScanCursorOrReply` reads it (`strtoul`:
/// optional sign, digits, up to a NUL; empty means 0; `-n` wraps).
pub fn scan_cursor(arg: &[u8]) -> Result<u64, Reply> {
    let invalid = || Reply::error("ERR invalid cursor");
    let text = match arg.iter().position(|&b| b == 0) {
        Some(end) => &arg[..end],
        None => arg,
    };
    let Some(&first) = text.first() else {
        return Ok(0);
    };
    let (negative, digits) = match first {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or_else(invalid)?;
    }
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}
