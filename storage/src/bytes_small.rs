//! `SmallBytes`: the byte string used for keys and string values.
//!
//! Most keys and values are short, so up to [`INLINE_CAP`] bytes live inside the
//! 24-byte value itself with no heap allocation; longer strings own an exact-size
//! boxed slice. One caller-defined flag bit rides along for free (string values
//! use it for Redis's `raw` encoding), so a `Value` holding a `SmallBytes` stays
//! 24 bytes. The type is immutable from the outside apart from whole-value
//! replacement and the Redis mutators (APPEND, SETRANGE, SETBIT, BITFIELD),
//! which go through [`SmallBytes::modify`] or [`SmallBytes::as_mut_slice`].

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// How many bytes fit without a heap allocation.
pub const INLINE_CAP: usize = 22;

/// Bit 7 of an inline `meta` byte is the flag; bits 0..6 the length.
const INLINE_FLAG: u8 = 0x80;

#[derive(Clone)]
enum Repr {
    Inline { meta: u8, data: [u8; INLINE_CAP] },
    Heap(Box<[u8]>),
    HeapFlagged(Box<[u8]>),
}

/// An owned byte string with small-string optimisation.
#[derive(Clone)]
pub struct SmallBytes(Repr);

impl SmallBytes {
    pub const fn new() -> SmallBytes {
        SmallBytes(Repr::Inline {
            meta: 0,
            data: [0; INLINE_CAP],
        })
    }

    pub fn from_slice(bytes: &[u8]) -> SmallBytes {
        if bytes.len() <= INLINE_CAP {
            let mut data = [0u8; INLINE_CAP];
            data[..bytes.len()].copy_from_slice(bytes);
            SmallBytes(Repr::Inline {
                meta: bytes.len() as u8,
                data,
            })
        } else {
            SmallBytes(Repr::Heap(bytes.into()))
        }
    }

    pub fn from_vec(bytes: Vec<u8>) -> SmallBytes {
        if bytes.len() <= INLINE_CAP {
            SmallBytes::from_slice(&bytes)
        } else {
            SmallBytes(Repr::Heap(bytes.into_boxed_slice()))
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { meta, data } => &data[..usize::from(*meta & !INLINE_FLAG)],
            Repr::Heap(b) | Repr::HeapFlagged(b) => b,
        }
    }

    /// True when the bytes live on the heap (used by OBJECT ENCODING and memory accounting).
    pub fn is_heap(&self) -> bool {
        matches!(self.0, Repr::Heap(_) | Repr::HeapFlagged(_))
    }

    /// Heap bytes owned beyond the 24 inline bytes.
    pub fn heap_size(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) | Repr::HeapFlagged(b) => b.len(),
        }
    }

    /// The caller-defined flag bit.
    pub fn flag(&self) -> bool {
        match &self.0 {
            Repr::Inline { meta, .. } => meta & INLINE_FLAG != 0,
            Repr::Heap(_) => false,
            Repr::HeapFlagged(_) => true,
        }
    }

    /// Sets or clears the caller-defined flag bit.
    pub fn set_flag(&mut self, on: bool) {
        let repr = std::mem::replace(&mut self.0, Repr::Heap(Box::default()));
        self.0 = match repr {
            Repr::Inline { meta, data } => Repr::Inline {
                meta: if on {
                    meta | INLINE_FLAG
                } else {
                    meta & !INLINE_FLAG
                },
                data,
            },
            Repr::Heap(b) | Repr::HeapFlagged(b) => {
                if on {
                    Repr::HeapFlagged(b)
                } else {
                    Repr::Heap(b)
                }
            }
        };
    }

    /// Rewrites the bytes through a `Vec`, for the in-place mutators. The flag
    /// is kept. Heap bytes move into the `Vec` and back without a copy.
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let flag = self.flag();
        let mut v = match std::mem::replace(&mut self.0, Repr::Heap(Box::default())) {
            Repr::Heap(b) | Repr::HeapFlagged(b) => b.into_vec(),
            inline @ Repr::Inline { .. } => SmallBytes(inline).as_slice().to_vec(),
        };
        let r = f(&mut v);
        *self = SmallBytes::from_vec(v);
        self.set_flag(flag);
        r
    }

    /// The bytes, for edits that keep the length (SETBIT, BITFIELD).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match &mut self.0 {
            Repr::Inline { meta, data } => &mut data[..usize::from(*meta & !INLINE_FLAG)],
            Repr::Heap(b) | Repr::HeapFlagged(b) => b,
        }
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        SmallBytes::new()
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state)
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_slice()))
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> Self {
        SmallBytes::from_slice(b)
    }
}

impl From<Vec<u8>> for SmallBytes {
    fn from(b: Vec<u8>) -> Self {
        SmallBytes::from_vec(b)
    }
}

impl From<&str> for SmallBytes {
    fn from(s: &str) -> Self {
        SmallBytes::from_slice(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_24_bytes() {
        assert_eq!(size_of::<SmallBytes>(), 24);
    }

    #[test]
    fn inline_and_heap_round_trip() {
        for len in [0, 1, INLINE_CAP, INLINE_CAP + 1, 1000] {
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let s = SmallBytes::from_slice(&data);
            assert_eq!(s.as_slice(), &data[..]);
            assert_eq!(s.is_heap(), len > INLINE_CAP);
            assert_eq!(SmallBytes::from_vec(data.clone()), s);
        }
    }

    #[test]
    fn flag_survives_moves_between_representations() {
        let mut s = SmallBytes::from("abc");
        assert!(!s.flag());
        s.set_flag(true);
        assert!(s.flag());
        assert_eq!(&s[..], b"abc");
        s.modify(|v| v.extend_from_slice(&[b'y'; 40]));
        assert!(s.is_heap() && s.flag());
        assert_eq!(s.len(), 43);
        s.set_flag(false);
        assert!(!s.flag());
        // Equality and hashing look at the bytes only.
        let mut t = SmallBytes::from_slice(&s);
        t.set_flag(true);
        assert_eq!(s, t);
    }

    #[test]
    fn modify_moves_between_representations() {
        let mut s = SmallBytes::from("short");
        s.modify(|v| v.extend_from_slice(&[b'x'; 30]));
        assert!(s.is_heap());
        assert_eq!(s.len(), 35);
        s.modify(|v| v.truncate(3));
        assert!(!s.is_heap());
        assert_eq!(&s[..], b"sho");
    }

    #[test]
    fn mut_slice_edits_in_place_and_keeps_the_flag() {
        for len in [3, INLINE_CAP, INLINE_CAP + 10] {
            let mut s = SmallBytes::from_slice(&vec![b'a'; len]);
            s.set_flag(true);
            s.as_mut_slice()[len - 1] = b'z';
            assert_eq!(s.len(), len);
            assert_eq!(s[len - 1], b'z');
            assert!(s.flag());
        }
    }
}
