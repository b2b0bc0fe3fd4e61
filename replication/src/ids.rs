//! Replication ids and offsets as newtypes, so they can never be mixed up with
//! other strings and integers.

use std::fmt;

/// Length of a replication id in hex characters (`CONFIG_RUN_ID_SIZE`).
pub const REPL_ID_LEN: usize = 40;

/// A 40-character lowercase hex replication id.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplId([u8; REPL_ID_LEN]);

impl ReplId {
    /// The "no id" value Redis uses for an absent `master_replid2`: forty `'0'`s.
    pub const ZERO: ReplId = ReplId([b'0'; REPL_ID_LEN]);

    /// A new id from 20 random bytes supplied by the caller (this crate owns no RNG).
    pub fn from_random(random: [u8; REPL_ID_LEN / 2]) -> ReplId {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut id = [0u8; REPL_ID_LEN];
        for (i, b) in random.iter().enumerate() {
            id[2 * i] = HEX[usize::from(b >> 4)];
            id[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        ReplId(id)
    }

    /// Parses an id received from a peer; `None` unless it is exactly 40 hex characters.
    pub fn parse(text: &[u8]) -> Option<ReplId> {
        let id: [u8; REPL_ID_LEN] = text.try_into().ok()?;
        id.iter().all(u8::is_ascii_hexdigit).then_some(ReplId(id))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a ReplId holds only ASCII hex digits")
    }
}

impl fmt::Display for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ReplId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplId({})", self.as_str())
    }
}

/// A byte position in the replication stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplOffset(pub u64);

impl fmt::Display for ReplOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_id_is_forty_lowercase_hex() {
        let id = ReplId::from_random([0xab; 20]);
        assert_eq!(id.as_str().len(), 40);
        assert!(id.as_str().starts_with("abab"));
        assert_eq!(ReplId::parse(id.as_str().as_bytes()), Some(id));
    }

    #[test]
    fn parse_rejects_wrong_length_and_non_hex() {
        assert_eq!(ReplId::parse(b"abc"), None);
        assert_eq!(ReplId::parse(&[b'g'; 40]), None);
        assert_eq!(ReplId::parse(&[b'0'; 40]), Some(ReplId::ZERO));
    }
}
