//! Files for the hand-run interop check against a real redis-server 7.0
//! (`scripts/gen-golden-rdb.sh interop`; not part of CI). The ignored test
//! below writes, into `$RDB_INTEROP_DIR`, RDB files made by tandem's writer
//! and hand-built legacy files, each with `<name>.digest` holding the DEBUG
//! DIGEST tandem computes for it; the script loads each file into
//! redis-server (with `sanitize-dump-payload yes`), compares the digests and
//! runs `redis-check-rdb`.

mod common;

use std::path::{Path, PathBuf};

use common::raw::{legacy_v4, legacy_v9};
use common::*;
use tandem_storage::rdb::RdbOptions;

fn write(dir: &Path, name: &str, data: &[u8], digest: &str) {
    std::fs::write(dir.join(format!("{name}.rdb")), data).expect("write rdb");
    std::fs::write(dir.join(format!("{name}.digest")), format!("{digest}\n"))
        .expect("write digest");
    println!("{name}: {} bytes, digest {digest}", data.len());
}

#[test]
#[ignore = "run by scripts/gen-golden-rdb.sh interop"]
fn write_rich_keyspace_for_redis() {
    let dir = PathBuf::from(std::env::var("RDB_INTEROP_DIR").expect("set RDB_INTEROP_DIR"));
    let ks = rich_keyspace();
    let want = digest(&ks);
    for (name, opts) in [
        ("tandem", RdbOptions::default()),
        (
            "tandem-plain",
            RdbOptions {
                compression: false,
                checksum: false,
                ..RdbOptions::default()
            },
        ),
        (
            "tandem-fill5",
            RdbOptions {
                list_max_listpack_size: 5,
                ..RdbOptions::default()
            },
        ),
        (
            "tandem-fill-5",
            RdbOptions {
                list_max_listpack_size: -5,
                ..RdbOptions::default()
            },
        ),
    ] {
        let data = save_bytes(&ks, opts);
        let (back, _) = load_bytes(&data).expect("tandem reads its own file");
        assert_eq!(digest(&back), want);
        write(&dir, name, &data, &want);
    }
    // A golden file from Redis, loaded and written again by tandem.
    let (golden, _) = load_bytes(&fixture("everything.rdb")).expect("golden loads");
    let data = save_bytes(&golden, RdbOptions::default());
    write(&dir, "tandem-resaved-everything", &data, &digest(&golden));
    // Legacy encodings tandem only reads: the digest is what tandem loaded.
    for (name, data) in [("legacy-v9", legacy_v9()), ("legacy-v4", legacy_v4())] {
        let (ks, _) = load_bytes(&data).expect("legacy file loads");
        write(&dir, name, &data, &digest(&ks));
    }
}
