//! The aggregate value types. Each module owns one type: its representation
//! (compact encoding for small values, a general one past the thresholds), the
//! operations its commands need, its `OBJECT ENCODING` name and its
//! contribution to `DEBUG DIGEST`.
//!
//! Encoding thresholds come from the caller ([`Limits`]) so this crate stays
//! free of configuration state.

pub mod hash;
pub mod list;
pub mod set;
pub mod stream;
pub mod zset;
mod zset_index;

/// The encoding thresholds of redis.conf (`hash-max-listpack-entries`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: usize,
    pub hash_max_listpack_value: usize,
    pub set_max_intset_entries: usize,
    pub zset_max_listpack_entries: usize,
    pub zset_max_listpack_value: usize,
    /// `stream-node-max-bytes` and `stream-node-max-entries`.
    pub stream_node: stream::NodeLimits,
}

impl Default for Limits {
    /// Redis 7.0's defaults.
    fn default() -> Limits {
        Limits {
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            set_max_intset_entries: 512,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            stream_node: stream::NodeLimits::default(),
        }
    }
}
