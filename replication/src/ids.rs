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

    /// Parses an id received from a peer; `None` unless it is exactly 40 hex
    /// characters. Uppercase digits are folded to lowercase, so equality of two
    /// ids is Redis's `strcasecmp` comparison.
    pub fn parse(text: &[u8]) -> Option<ReplId> {
        let mut id: [u8; REPL_ID_LEN] = text.try_into().ok()?;
        if !id.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        id.make_ascii_lowercase();
        Some(ReplId(id))
    }

    /// The id as text (40 lowercase hex characters).
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

    #[test]
    fn parse_folds_case_like_strcasecmp() {
        let lower = ReplId::parse(b"69a2add0ffb0d2c76b89b48261b340d7832fbf77").unwrap();
        let upper = ReplId::parse(b"69A2ADD0FFB0D2C76B89B48261B340D7832FBF77").unwrap();
        assert_eq!(lower, upper);
        assert_eq!(upper.as_str(), "69a2add0ffb0d2c76b89b48261b340d7832fbf77");
    }
}
