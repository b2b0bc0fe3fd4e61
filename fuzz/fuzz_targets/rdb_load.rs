//! Feeds arbitrary bytes to the RDB loader (`tandem_storage::rdb::load`) with
//! checksum verification off, so mutations get past the trailer. Nothing may
//! panic, and whatever loads must come back with the same digest after a
//! round trip through tandem's writer.
//!
//! storage/tests/rdb_fuzz_corpus.rs replays the corpus with the same checks
//! under `cargo test`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tandem_storage::digest::dataset_digest;
use tandem_storage::rdb::{self, AuxFields, LoadOptions, RdbOptions, ReadOptions};
use tandem_storage::Keyspace;

fuzz_target!(|data: &[u8]| {
    let opts = LoadOptions {
        read: ReadOptions {
            verify_checksum: false,
            ..ReadOptions::default()
        },
        ..LoadOptions::default()
    };
    let mut ks = Keyspace::new(16);
    if rdb::load(data, &mut ks, &opts).is_err() {
        return;
    }
    let out = rdb::save(
        Vec::new(),
        &ks,
        &AuxFields::new(0, 0),
        RdbOptions::default(),
    )
    .expect("writing to a Vec cannot fail");
    let mut back = Keyspace::new(16);
    rdb::load(&out[..], &mut back, &LoadOptions::default())
        .expect("tandem reads back what it wrote");
    assert_eq!(dataset_digest(&ks), dataset_digest(&back));
});
