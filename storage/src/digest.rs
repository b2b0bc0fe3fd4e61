//! `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, bit for bit as Redis 7.0 computes them.
//!
//! With a 20-byte state `d`: `xor(d, x)` is `d ^= SHA1(x)`, `mix(d, x)` is
//! `d = SHA1(d ^ SHA1(x))`. Per key: mix the key name and the type code, then the
//! value (per type), then xor `"!!expire!!"` if the key has an expiry. The
//! dataset digest mixes each non-empty database id (big-endian u32) and xors in
//! the SHA-1 of every key digest, so key order does not matter.

use sha1_smol::Sha1;

use crate::keyspace::{Db, Entry, Keyspace};
use crate::value::Value;

/// A 20-byte digest state.
pub type Digest = [u8; 20];

fn sha1(data: &[u8]) -> Digest {
    Sha1::from(data).digest().bytes()
}

/// `d ^= SHA1(x)`.
pub fn xor_digest(d: &mut Digest, x: &[u8]) {
    let h = sha1(x);
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

/// `d = SHA1(d ^ SHA1(x))`.
pub fn mix_digest(d: &mut Digest, x: &[u8]) {
    xor_digest(d, x);
    *d = sha1(d);
}

/// Lowercase hex of a digest.
pub fn to_hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// The digest of a value alone (what a key's digest adds after its name and type).
fn mix_value(k: &mut Digest, value: &Value) {
    match value {
        Value::Str(bytes) => mix_digest(k, bytes),
        Value::List(v) => v.digest(k),
        Value::Set(v) => v.digest(k),
        Value::ZSet(v) => v.digest(k),
        Value::Hash(v) => v.digest(k),
        Value::Stream(v) => v.digest(k),
    }
}

/// The digest of one key, as DEBUG DIGEST-VALUE returns it.
pub fn entry_digest(entry: &Entry) -> Digest {
    let mut k = [0u8; 20];
    mix_digest(&mut k, entry.key());
    mix_digest(&mut k, &entry.value.kind().digest_code().to_be_bytes());
    mix_value(&mut k, &entry.value);
    if entry.expire_at().is_some() {
        xor_digest(&mut k, b"!!expire!!");
    }
    k
}

/// The digest of a value without the key name, as DEBUG DIGEST-VALUE reports
/// it (Redis's `xorObjectDigest`: type code, value, expiry).
pub fn value_digest(entry: &Entry) -> Digest {
    let mut k = [0u8; 20];
    mix_digest(&mut k, &entry.value.kind().digest_code().to_be_bytes());
    mix_value(&mut k, &entry.value);
    if entry.expire_at().is_some() {
        xor_digest(&mut k, b"!!expire!!");
    }
    k
}

fn db_digest(final_digest: &mut Digest, id: u32, db: &Db) {
    mix_digest(final_digest, &id.to_be_bytes());
    for entry in db.iter() {
        xor_digest(final_digest, &entry_digest(entry));
    }
}

/// The digest of the whole dataset; forty zeros when it is empty.
pub fn dataset_digest(ks: &Keyspace) -> Digest {
    let mut d = [0u8; 20];
    for (id, db) in ks.dbs().iter().enumerate() {
        if !db.is_empty() {
            db_digest(&mut d, id as u32, db);
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_dataset_is_all_zeros() {
        let ks = Keyspace::new(16);
        assert_eq!(to_hex(&dataset_digest(&ks)), "0".repeat(40));
    }

    #[test]
    fn digest_is_independent_of_insert_order() {
        let mut a = Keyspace::new(2);
        let mut b = Keyspace::new(2);
        for i in 0..100 {
            a.db(0)
                .insert(format!("k{i}").as_bytes(), Value::string("v"), None, 0);
        }
        for i in (0..100).rev() {
            b.db(0)
                .insert(format!("k{i}").as_bytes(), Value::string("v"), None, 0);
        }
        assert_eq!(dataset_digest(&a), dataset_digest(&b));
        b.db(0).set_expire(b"k1", Some(1_000_000), 0);
        assert_ne!(dataset_digest(&a), dataset_digest(&b));
    }
}
