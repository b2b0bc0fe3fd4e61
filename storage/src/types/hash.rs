//! Placeholder: being written.

/// The hash value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashValue {}

impl HashValue {
    pub fn len(&self) -> usize {
        0
    }

    pub fn is_empty(&self) -> bool {
        true
    }

    /// OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        "unknown"
    }

    /// Mixes this value into a key digest as Redis's DEBUG DIGEST does.
    pub fn digest(&self, _key_digest: &mut crate::digest::Digest) {}

    /// Heap bytes owned (approximate).
    pub fn heap_size(&self) -> usize {
        0
    }
}
