//! DUMP / RESTORE payloads, as Redis 7.0 writes and checks them:
//!
//! ```text
//! +----------+------------------+-----------------+---------------------+
//! | type (1) | value, RDB-coded | RDB version (2) | CRC-64 (8)          |
//! +----------+------------------+-----------------+---------------------+
//! ```
//!
//! The value is coded exactly as in an RDB file (the record without its
//! key); the version and the CRC-64 (of every byte before it) are
//! little-endian. Payloads of versions up to [`RDB_VERSION`] are accepted.
//!
//! As in Redis, the value is read from the whole payload, trailer included,
//! and bytes the value does not use are not looked at.

use std::io;

use thiserror::Error;

use super::crc64::Crc64;
use super::{RdbError, RdbOptions, RdbReader, RdbWriter, ReadOptions, RDB_VERSION};
use crate::value::Value;

/// Bytes after the value: the RDB version and the CRC-64.
const TRAILER_LEN: usize = 10;

/// Why a payload cannot be restored.
#[derive(Debug, Error)]
pub enum PayloadError {
    /// Too short for its trailer, a version above [`RDB_VERSION`], or a
    /// checksum that does not match.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The value itself cannot be read.
    #[error("bad data format: {0}")]
    BadData(#[source] RdbError),
    /// The value is an empty aggregate, which Redis never keeps.
    #[error("bad data format: an empty aggregate")]
    Empty,
}

/// The DUMP payload of `value`. Strings are LZF-compressed and lists cut
/// into nodes as `opts` says, as an RDB file would have them.
pub fn dump_payload(value: &Value, opts: RdbOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), opts);
    let written = w.write_value(value).and_then(|()| w.into_sink());
    let mut out = match written {
        Ok(out) => out,
        Err(e) => unreachable!("writing to a Vec cannot fail: {e}"),
    };
    push_trailer(&mut out);
    out
}

/// The FUNCTION DUMP payload of libraries' `sources`: one FUNCTION2 record
/// each, then the same trailer as a DUMP payload.
pub fn dump_functions(sources: &[Vec<u8>], opts: RdbOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(Vec::new(), opts);
    let written = sources
        .iter()
        .try_for_each(|code| w.function_library(code))
        .and_then(|()| w.into_sink());
    let mut out = match written {
        Ok(out) => out,
        Err(e) => unreachable!("writing to a Vec cannot fail: {e}"),
    };
    push_trailer(&mut out);
    out
}

/// Why a FUNCTION RESTORE payload cannot be read (Redis's texts).
#[derive(Debug, Error)]
pub enum FunctionPayloadError {
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    #[error("given type is not a function")]
    NotAFunction,
    #[error("can not read data type")]
    Unreadable,
}

/// The library sources of a FUNCTION DUMP payload, trailer checked.
pub fn load_functions(payload: &[u8]) -> Result<Vec<Vec<u8>>, FunctionPayloadError> {
    check_payload(payload).map_err(|_| FunctionPayloadError::VersionOrChecksum)?;
    let body = &payload[..payload.len() - TRAILER_LEN];
    let mut reader = RdbReader::new(io::Cursor::new(body), ReadOptions::default());
    let mut sources = Vec::new();
    while reader.offset() < body.len() as u64 {
        match reader.read_function_record() {
            Ok(Some(code)) => sources.push(code),
            Ok(None) => return Err(FunctionPayloadError::NotAFunction),
            Err(_) => return Err(FunctionPayloadError::Unreadable),
        }
    }
    Ok(sources)
}

/// Appends the RDB version and the CRC-64 of everything before it.
fn push_trailer(out: &mut Vec<u8>) {
    let version = u16::try_from(RDB_VERSION).expect("the RDB version fits two bytes");
    out.extend_from_slice(&version.to_le_bytes());
    let mut crc = Crc64::new();
    crc.update(out);
    out.extend_from_slice(&crc.value().to_le_bytes());
}

/// Checks a payload's trailer as Redis's `verifyDumpPayload` does, and
/// returns its RDB version.
pub fn check_payload(payload: &[u8]) -> Result<u16, PayloadError> {
    check_payload_with(payload, true)
}

/// [`check_payload`], skipping the CRC when `verify_crc` is false (Redis's
/// `DEBUG SET-SKIP-CHECKSUM-VALIDATION 1`); the version is always checked.
pub fn check_payload_with(payload: &[u8], verify_crc: bool) -> Result<u16, PayloadError> {
    let Some(body_len) = payload.len().checked_sub(TRAILER_LEN) else {
        return Err(PayloadError::VersionOrChecksum);
    };
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if u32::from(version) > RDB_VERSION {
        return Err(PayloadError::VersionOrChecksum);
    }
    if !verify_crc {
        return Ok(version);
    }
    let mut crc = Crc64::new();
    crc.update(&payload[..body_len + 2]);
    let stored = u64::from_le_bytes(footer[2..].try_into().expect("eight bytes"));
    if crc.value() != stored {
        return Err(PayloadError::VersionOrChecksum);
    }
    Ok(version)
}

/// The value of a checked payload (see [`check_payload`]), with the
/// encodings `opts.limits` gives it. `key` only names it in errors.
pub fn load_payload(payload: &[u8], key: &[u8], opts: ReadOptions) -> Result<Value, PayloadError> {
    let mut reader = RdbReader::new(io::Cursor::new(payload), opts);
    match reader.read_object(key) {
        Ok(Some(value)) => Ok(value),
        Ok(None) => Err(PayloadError::Empty),
        Err(e) => Err(PayloadError::BadData(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::hash::HashValue;
    use crate::types::list::ListValue;
    use crate::types::set::SetValue;
    use crate::types::zset::ZSetValue;
    use crate::types::Limits;
    use crate::SmallBytes;

    fn round_trip(value: &Value) -> Value {
        let payload = dump_payload(value, RdbOptions::default());
        assert_eq!(check_payload(&payload).unwrap(), 10);
        load_payload(&payload, b"k", ReadOptions::default()).unwrap()
    }

    fn values() -> Vec<Value> {
        let limits = Limits::default();
        let mut out = vec![
            Value::string("hello"),
            Value::string("12345"),
            Value::string("-9223372036854775808"),
            Value::string(""),
            Value::string("x".repeat(100).as_str()),
            Value::List(Box::new(
                ["a", "1", "", "b"]
                    .iter()
                    .map(|s| SmallBytes::from(*s))
                    .collect(),
            )),
            Value::List(Box::new(
                (0..3000)
                    .map(|i| SmallBytes::from(format!("e{i}").as_str()))
                    .collect::<ListValue>(),
            )),
        ];
        for members in [vec!["1", "-5", "70000"], vec!["a", "b", "3"]] {
            let mut s = SetValue::new();
            for m in members {
                s.add(m.as_bytes(), &limits);
            }
            out.push(Value::Set(Box::new(s)));
        }
        let mut big = SetValue::new();
        for i in 0..1000 {
            big.add(i.to_string().as_bytes(), &limits);
        }
        out.push(Value::Set(Box::new(big)));
        for n in [3, 300] {
            let mut h = HashValue::new();
            let mut z = ZSetValue::new();
            for i in 0..n {
                h.set(
                    format!("f{i}").as_bytes(),
                    i.to_string().as_bytes(),
                    &limits,
                );
                z.insert(format!("m{i}").as_bytes(), f64::from(i) / 3.0, &limits);
            }
            out.push(Value::Hash(Box::new(h)));
            out.push(Value::ZSet(Box::new(z)));
        }
        out
    }

    #[test]
    fn every_type_round_trips_in_its_encoding() {
        for value in values() {
            let back = round_trip(&value);
            assert_eq!(back, value, "{value:?}");
            assert_eq!(back.encoding(), value.encoding());
        }
    }

    /// `DUMP k` of `SET k hello` on redis-server 7.0.15.
    #[test]
    fn string_payload_is_redis_bytes() {
        let payload = dump_payload(&Value::string("hello"), RdbOptions::default());
        assert_eq!(payload, b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a".to_vec());
    }

    #[test]
    fn trailer_is_checked() {
        let good = dump_payload(&Value::string("v"), RdbOptions::default());
        assert!(check_payload(&good).is_ok());
        assert!(matches!(
            check_payload(&good[..9]),
            Err(PayloadError::VersionOrChecksum)
        ));
        let mut bad_crc = good.clone();
        *bad_crc.last_mut().unwrap() ^= 1;
        assert!(check_payload(&bad_crc).is_err());
        let mut bad_body = good.clone();
        bad_body[1] ^= 1;
        assert!(check_payload(&bad_body).is_err());
        // A newer RDB version, with a matching checksum, is refused.
        let mut newer = good[..good.len() - 10].to_vec();
        newer.extend_from_slice(&11u16.to_le_bytes());
        let mut crc = Crc64::new();
        crc.update(&newer);
        newer.extend_from_slice(&crc.value().to_le_bytes());
        assert!(check_payload(&newer).is_err());
        // An older one is accepted.
        let mut older = good[..good.len() - 10].to_vec();
        older.extend_from_slice(&9u16.to_le_bytes());
        let mut crc = Crc64::new();
        crc.update(&older);
        older.extend_from_slice(&crc.value().to_le_bytes());
        assert_eq!(check_payload(&older).unwrap(), 9);
    }

    #[test]
    fn bad_values_are_refused() {
        let load = |body: &[u8]| {
            let mut p = body.to_vec();
            p.extend_from_slice(&[10, 0]);
            let mut crc = Crc64::new();
            crc.update(&p);
            p.extend_from_slice(&crc.value().to_le_bytes());
            check_payload(&p).unwrap();
            load_payload(&p, b"k", ReadOptions::default())
        };
        // An unknown type, a stream, an empty set, an empty hash.
        assert!(matches!(load(b"\x08"), Err(PayloadError::BadData(_))));
        assert!(matches!(load(b"\x0f"), Err(PayloadError::BadData(_))));
        assert!(matches!(load(b"\x02\x00"), Err(PayloadError::Empty)));
        assert!(matches!(load(b"\x04\x00"), Err(PayloadError::Empty)));
        // A string longer than the payload.
        assert!(matches!(load(b"\x00\x30ab"), Err(PayloadError::BadData(_))));
        // A set repeating a member.
        assert!(matches!(
            load(b"\x02\x02\x01a\x01a"),
            Err(PayloadError::BadData(_))
        ));
        // Bytes after the value are not looked at.
        assert_eq!(load(b"\x00\x01vjunk").unwrap(), Value::string("v"));
    }
}
