//! Values and their encodings.
//!
//! Every value is owned by exactly one key entry. Strings keep their bytes in a
//! [`SmallBytes`]; `OBJECT ENCODING` is derived from the content and a flag that
//! records whether the string was last written by an in-place mutator (APPEND,
//! SETRANGE, SETBIT, BITFIELD) or built by BITOP, which Redis always leaves `raw`.

use crate::num;
use crate::types::hash::HashValue;
use crate::types::list::ListValue;
use crate::types::set::SetValue;
use crate::types::stream::StreamValue;
use crate::types::zset::ZSetValue;
use crate::SmallBytes;

/// Redis's limit above which an `embstr` becomes `raw` (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).
pub const EMBSTR_SIZE_LIMIT: usize = 44;

/// The type of a value, as TYPE, SCAN TYPE and DEBUG DIGEST name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
}

impl Kind {
    /// The name TYPE replies with.
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
        }
    }

    /// The type code DEBUG DIGEST mixes in (Redis's OBJ_* constants).
    pub fn digest_code(self) -> u32 {
        match self {
            Kind::String => 0,
            Kind::List => 1,
            Kind::Set => 2,
            Kind::ZSet => 3,
            Kind::Hash => 4,
            Kind::Stream => 6,
        }
    }

    /// Parses a TYPE name as SCAN ... TYPE accepts it (case-insensitive).
    pub fn from_name(name: &[u8]) -> Option<Kind> {
        [
            Kind::String,
            Kind::List,
            Kind::Set,
            Kind::ZSet,
            Kind::Hash,
            Kind::Stream,
        ]
        .into_iter()
        .find(|k| name.eq_ignore_ascii_case(k.name().as_bytes()))
    }
}

/// A value stored under a key.
///
/// Aggregates are boxed so a `Value` stays small inside the key table.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string. Its bytes' flag bit records that a mutator (APPEND,
    /// SETRANGE, the bit writers) forced Redis's `raw` encoding.
    Str(SmallBytes),
    List(Box<ListValue>),
    Set(Box<SetValue>),
    ZSet(Box<ZSetValue>),
    Hash(Box<HashValue>),
    /// A stream; an empty one is kept (Redis keeps empty streams).
    Stream(Box<StreamValue>),
}

impl Value {
    pub fn string(bytes: impl Into<SmallBytes>) -> Value {
        Value::Str(bytes.into())
    }

    /// A string in Redis's `raw` encoding (what APPEND, SETRANGE and the bit
    /// writers leave).
    pub fn raw_string(mut bytes: SmallBytes) -> Value {
        bytes.set_flag(true);
        Value::Str(bytes)
    }

    pub fn from_i64(v: i64) -> Value {
        Value::string(SmallBytes::from_slice(&num::i64_to_bytes(v)))
    }

    pub fn kind(&self) -> Kind {
        match self {
            Value::Str(_) => Kind::String,
            Value::List(_) => Kind::List,
            Value::Set(_) => Kind::Set,
            Value::ZSet(_) => Kind::ZSet,
            Value::Hash(_) => Kind::Hash,
            Value::Stream(_) => Kind::Stream,
        }
    }

    /// The string bytes, or `None` for other types (the caller replies WRONGTYPE).
    pub fn as_str(&self) -> Option<&SmallBytes> {
        match self {
            Value::Str(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// `OBJECT ENCODING` with Redis's names.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(bytes) => {
                let raw = bytes.flag();
                if !raw && bytes.len() <= 20 && num::is_canonical_i64(bytes) {
                    "int"
                } else if !raw && bytes.len() <= EMBSTR_SIZE_LIMIT {
                    "embstr"
                } else {
                    "raw"
                }
            }
            Value::List(v) => v.encoding(),
            Value::Set(v) => v.encoding(),
            Value::ZSet(v) => v.encoding(),
            Value::Hash(v) => v.encoding(),
            Value::Stream(v) => v.encoding(),
        }
    }

    /// Approximate heap bytes owned by the value (for MEMORY-style accounting).
    pub fn heap_size(&self) -> usize {
        match self {
            Value::Str(bytes) => bytes.heap_size(),
            Value::List(v) => v.heap_size(),
            Value::Set(v) => v.heap_size(),
            Value::ZSet(v) => v.heap_size(),
            Value::Hash(v) => v.heap_size(),
            Value::Stream(v) => v.heap_size(),
        }
    }

    /// True for an aggregate with no elements; Redis never keeps one, so
    /// commands delete the key when this becomes true.
    pub fn is_empty_aggregate(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::List(v) => v.is_empty(),
            Value::Set(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            Value::Stream(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_encodings_follow_redis() {
        assert_eq!(Value::string("123").encoding(), "int");
        assert_eq!(Value::string("0123").encoding(), "embstr");
        assert_eq!(Value::string("x".repeat(44).as_str()).encoding(), "embstr");
        assert_eq!(Value::string("x".repeat(45).as_str()).encoding(), "raw");
        let v = Value::raw_string(SmallBytes::from("12"));
        assert_eq!(v.encoding(), "raw");
    }
}
