//! DUMP and RESTORE: one key's value as a Redis-compatible serialized
//! payload, and a key made from one.
//!
//! The payload is Redis's (see `tandem_storage::rdb::dump`): the value as an
//! RDB file codes it, the RDB version (10) and a CRC-64. Payloads from
//! redis-server 7.0 restore here and tandem's restore there. DUMP follows
//! `rdbcompression` and `list-max-listpack-size` as a saved RDB does; a
//! restored value takes the encodings this server's limits give it.
//!
//! RESTORE checks, in Redis 7.0's order: the options, BUSYKEY (without
//! REPLACE), the TTL, the payload's version and checksum, then the value.
//! Propagation follows Redis's `restoreCommand`: a relative TTL becomes the
//! absolute one with `ABSTTL` appended (so replicas agree on the deadline);
//! a deadline already past creates nothing and, when REPLACE removed a key,
//! is propagated as `DEL key`. A server that follows a primary (and the
//! primary's own stream) keeps such a key instead: only its primary deletes.
//!
//! IDLETIME sets the key's access time so that OBJECT IDLETIME reads what
//! Redis's 24-bit LRU clock would give (the idle time itself while it fits
//! the clock's current value). FREQ sets the key's LFU counter under an
//! LFU policy, as Redis's `objectSetLRUOrLFU` does.

use bytes::Bytes;
use tandem_storage::num;
use tandem_storage::rdb::dump::{check_payload_with, dump_payload, load_payload};
use tandem_storage::rdb::ReadOptions;

use crate::client::ClientKind;
use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::hashes::{lookup_read, lookup_write};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("dump", 2, READONLY, KeySpec::ONE, dump)
        .doc(
            "generic",
            "2.6.0",
            "Return a serialized version of the value stored at the specified key.",
        )
        .complexity("O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1).")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("restore", -4, WRITE | DENYOOM, KeySpec::ONE, restore)
        .doc(
            "generic",
            "2.6.0",
            "Create a key using the provided serialized value, previously obtained using DUMP.",
        )
        .complexity("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
        .acl(&["keyspace", "write", "slow", "dangerous"]),
    CommandSpec::new(
        "restore-asking",
        -4,
        WRITE | DENYOOM | ASKING,
        KeySpec::ONE,
        restore,
    )
    .doc(
        "server",
        "3.0.0",
        "An internal command for migrating keys in a cluster",
    )
    .complexity("O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N)).")
    .acl(&["keyspace", "write", "slow", "dangerous"]),
    CommandSpec::new(
        "migrate",
        -6,
        WRITE | MOVABLE_KEYS,
        KeySpec {
            first: 3,
            last: 3,
            step: 1,
        },
        migrate,
    )
    .doc(
        "generic",
        "2.6.0",
        "Atomically transfer a key from a Redis instance to another one.",
    )
    .complexity("This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed.")
    .acl(&["keyspace", "write", "slow", "dangerous"]),
];

/// MIGRATE's arguments past the fixed five.
#[derive(Debug, Default)]
struct MigrateOptions {
    copy: bool,
    replace: bool,
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Option<Vec<Bytes>>,
}

fn migrate_options(argv: &[Bytes]) -> Result<MigrateOptions, Reply> {
    let mut o = MigrateOptions::default();
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - j - 1;
        let a = &argv[j];
        if is(a, "copy") {
            o.copy = true;
        } else if is(a, "replace") {
            o.replace = true;
        } else if is(a, "auth") && more >= 1 {
            o.auth = Some((None, argv[j + 1].clone()));
            j += 1;
        } else if is(a, "auth2") && more >= 2 {
            o.auth = Some((Some(argv[j + 1].clone()), argv[j + 2].clone()));
            j += 2;
        } else if is(a, "keys") {
            if !argv[3].is_empty() {
                return Err(Reply::error(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string",
                ));
            }
            o.keys = Some(argv[j + 1..].to_vec());
            break;
        } else {
            return Err(Reply::syntax_error());
        }
        j += 1;
    }
    Ok(o)
}

/// MIGRATE: sends each existing key to the target as RESTORE (with its
/// remaining TTL), then deletes those the target accepted unless COPY. Like
/// Redis, the transfer is synchronous, bounded by `timeout` ms per step.
fn migrate(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    use std::io::{Read, Write};
    let o = tri!(migrate_options(argv));
    let timeout_ms = tri!(args::int(&argv[5]));
    let target_db = tri!(args::int(&argv[4]));
    let timeout = std::time::Duration::from_millis(if timeout_ms <= 0 {
        1000
    } else {
        timeout_ms as u64
    });
    let keys = o.keys.clone().unwrap_or_else(|| vec![argv[3].clone()]);
    let now = ctx.now_ms;
    let opts = crate::persist::payload_options(&ctx.server.config.read());
    // (key, remaining ttl ms, payload) of each key that exists.
    let mut found = Vec::new();
    for key in &keys {
        let Some(entry) = ctx.db().peek(key, now) else {
            continue;
        };
        let ttl = match entry.expire_at() {
            Some(at) if at <= now => continue,
            Some(at) => at - now,
            None => 0,
        };
        let payload = dump_payload(&entry.value, opts);
        found.push((key.clone(), ttl, payload));
    }
    if found.is_empty() {
        return Reply::Simple("NOKEY".into());
    }
    let host = String::from_utf8_lossy(&argv[1]).into_owned();
    let port = String::from_utf8_lossy(&argv[2]).into_owned();
    let connect_error = || Reply::error("IOERR error or timeout connecting to the client");
    let Some(addr) = std::net::ToSocketAddrs::to_socket_addrs(&format!("{host}:{port}"))
        .ok()
        .and_then(|mut a| a.next())
    else {
        return connect_error();
    };
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, timeout) else {
        return connect_error();
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let _ = stream.set_nodelay(true);

    let mut out = bytes::BytesMut::new();
    let mut expected = 0;
    if let Some((user, pass)) = &o.auth {
        match user {
            Some(user) => crate::resp::encode_request(&[&b"AUTH"[..], user, pass], &mut out),
            None => crate::resp::encode_request(&[&b"AUTH"[..], pass], &mut out),
        }
        expected += 1;
    }
    let db_text = target_db.to_string();
    crate::resp::encode_request(&[&b"SELECT"[..], db_text.as_bytes()], &mut out);
    expected += 1;
    for (key, ttl, payload) in &found {
        let ttl_text = ttl.to_string();
        let mut cmd: Vec<&[u8]> = vec![b"RESTORE", key, ttl_text.as_bytes(), payload];
        if o.replace {
            cmd.push(b"REPLACE");
        }
        crate::resp::encode_request(&cmd, &mut out);
    }
    if stream.write_all(&out).is_err() {
        return Reply::error("IOERR error or timeout writing to target instance");
    }
    // Replies: AUTH and SELECT first, then one per RESTORE.
    let mut buf = Vec::new();
    let mut replies = Vec::new();
    let total = expected + found.len();
    let mut chunk = [0u8; 4096];
    while replies.len() < total {
        match crate::resp::parse_frame(&buf) {
            Ok(Some((frame, used))) => {
                buf.drain(..used);
                replies.push(frame);
                continue;
            }
            Ok(None) => {}
            Err(_) => return Reply::error("IOERR error or timeout reading to target instance"),
        }
        match stream.read(&mut chunk) {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return Reply::error("IOERR error or timeout reading to target instance"),
        }
    }
    let target_error = |frame: &crate::resp::Frame| match frame {
        crate::resp::Frame::Error(text) => Some(Reply::error(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(text)
        ))),
        _ => None,
    };
    for frame in &replies[..expected] {
        if let Some(error) = target_error(frame) {
            return error;
        }
    }
    let mut first_error = None;
    let mut deleted = Vec::new();
    for ((key, _, _), frame) in found.iter().zip(&replies[expected..]) {
        if let Some(error) = target_error(frame) {
            first_error.get_or_insert(error);
            continue;
        }
        if !o.copy && ctx.db().remove(key, now).is_some() {
            let db = ctx.client.db;
            crate::multi::touch_key(ctx.data, db, key);
            ctx.notify(notify::GENERIC, "del", key);
            deleted.push(key.clone());
        }
    }
    // Replicas and the AOF see the deletions, not the MIGRATE.
    if deleted.is_empty() {
        ctx.propagate_none();
    } else {
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(deleted);
        ctx.propagate_as(del);
    }
    first_error.unwrap_or_else(Reply::ok)
}

/// Redis's LRU clock: seconds, kept in 24 bits.
const LRU_CLOCK_MAX: u64 = (1 << 24) - 1;

fn dump(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let opts = crate::persist::payload_options(&ctx.server.config.read());
    match lookup_read(ctx, &argv[1]) {
        Some(value) => Reply::Bulk(Bytes::from(dump_payload(value, opts))),
        None => Reply::Null,
    }
}

/// RESTORE's options after the payload.
#[derive(Debug, Default)]
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    idle_secs: Option<i64>,
    freq: Option<i64>,
}

impl RestoreOptions {
    fn parse(argv: &[Bytes]) -> Result<RestoreOptions, Reply> {
        let mut o = RestoreOptions::default();
        let mut j = 4;
        while j < argv.len() {
            let more = argv.len() - j - 1;
            let arg = &argv[j];
            if is(arg, "replace") {
                o.replace = true;
            } else if is(arg, "absttl") {
                o.absttl = true;
            } else if is(arg, "idletime") && more >= 1 && o.freq.is_none() {
                let idle = args::int(&argv[j + 1])?;
                if idle < 0 {
                    return Err(Reply::error("ERR Invalid IDLETIME value, must be >= 0"));
                }
                o.idle_secs = Some(idle);
                j += 1;
            } else if is(arg, "freq") && more >= 1 && o.idle_secs.is_none() {
                let freq = args::int(&argv[j + 1])?;
                if !(0..=255).contains(&freq) {
                    return Err(Reply::error(
                        "ERR Invalid FREQ value, must be >= 0 and <= 255",
                    ));
                }
                o.freq = Some(freq);
                j += 1;
            } else {
                return Err(Reply::syntax_error());
            }
            j += 1;
        }
        Ok(o)
    }
}

fn restore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let o = tri!(RestoreOptions::parse(argv));
    if !o.replace && lookup_write(ctx, key).is_some() {
        return Reply::error("BUSYKEY Target key name already exists.");
    }
    let ttl = tri!(args::int(&argv[2]));
    if ttl < 0 {
        return Reply::error("ERR Invalid TTL value, must be >= 0");
    }
    if check_payload_with(&argv[3], !ctx.data.debug.skip_checksum_validation).is_err() {
        return Reply::error("ERR DUMP payload version or checksum are wrong");
    }
    let read = ReadOptions {
        limits: ctx.limits(),
        verify_checksum: false,
    };
    let Ok(value) = load_payload(&argv[3], key, read) else {
        return Reply::error("ERR Bad data format");
    };

    let now = ctx.now_ms;
    let now_signed = i64::try_from(now).unwrap_or(i64::MAX);
    // Redis adds the clock in C's wrapping arithmetic: a huge TTL lands in
    // the past.
    let when = if ttl != 0 && !o.absttl {
        ttl.wrapping_add(now_signed)
    } else {
        ttl
    };
    let follows_primary =
        ctx.data.replica_of || ctx.client.handle.info.lock().kind == ClientKind::Master;
    if when != 0 && when <= now_signed && !follows_primary {
        if o.replace && ctx.db().remove(key, now).is_some() {
            ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        return Reply::ok();
    }
    // 0 means "no expiry" to the keyspace; a past time kept for a primary
    // only needs to be past.
    let expire_at = (when != 0).then(|| when.max(1) as u64);
    if ctx.db().insert(key, value, expire_at, now).is_some() {
        // REPLACE deletes the old key and adds the restored one anew.
        ctx.notify(notify::NEW, "new", key);
    }
    ctx.notify(notify::GENERIC, "restore", key);
    if when != 0 && !o.absttl {
        let mut rewritten = argv.to_vec();
        rewritten[2] = Bytes::from(num::i64_to_bytes(when));
        rewritten.push(Bytes::from_static(b"ABSTTL"));
        ctx.propagate_as(rewritten);
    }
    if let Some(freq) = o.freq {
        if lfu_policy(ctx) {
            ctx.db().set_lfu_counter(key, freq.clamp(0, 255) as u8, now);
        }
    }
    if let Some(idle) = o.idle_secs {
        if !lfu_policy(ctx) {
            let now_secs = now / 1000;
            let idle = lru_idle_secs(now_secs, idle);
            let access = (now_secs as u32).wrapping_sub(idle as u32);
            ctx.db().set_access_secs(key, access, now);
        }
    }
    Reply::ok()
}

/// The idle time OBJECT IDLETIME reports right after Redis's
/// `objectSetLRUOrLFU` stored `idle` seconds against its 24-bit LRU clock at
/// `now_secs`: exact while `idle` fits the clock's current value, else what
/// the clock's wrapping arithmetic makes of it.
fn lru_idle_secs(now_secs: u64, idle: i64) -> u64 {
    let clock = now_secs & LRU_CLOCK_MAX;
    // Redis scales seconds to clock units in wrapping C arithmetic.
    let idle = idle.wrapping_mul(1000) / 1000;
    let mut access = (clock as i64).wrapping_sub(idle);
    if access < 0 {
        access = access.wrapping_add(LRU_CLOCK_MAX as i64);
    }
    // The object's LRU field keeps 24 bits (the clock's maximum is the mask).
    let access = (access as u64) & LRU_CLOCK_MAX;
    if clock >= access {
        clock - access
    } else {
        clock + (LRU_CLOCK_MAX - access)
    }
}

/// An LFU `maxmemory-policy` is selected (IDLETIME is then ignored).
fn lfu_policy(ctx: &ExecCtx<'_>) -> bool {
    ctx.server
        .config
        .read()
        .value("maxmemory-policy")
        .unwrap_or_default()
        .ends_with("-lfu")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table;
    use crate::commands::testing::{bulk, err, int, Harness, NOW};

    fn run_bytes(h: &mut Harness, args: &[&[u8]]) -> Reply {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut data = h.server.data.lock();
        crate::exec::execute(&h.server, &mut data, &mut h.client, &argv, h.now).decoded()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn dump_of(h: &mut Harness, key: &str) -> Vec<u8> {
        match h.run(&["DUMP", key]) {
            Reply::Bulk(b) => b.to_vec(),
            other => panic!("DUMP {key}: {other:?}"),
        }
    }

    /// Payloads and DEBUG DIGEST-VALUE from redis-server 7.0.15 after
    /// `RPUSH l a 1 b`, `SADD s 3 1 2`, `HSET h f v n 7`, `ZADD z 1 a 2.5 b`,
    /// `SADD hs x y`, each `DUMP`ed.
    const REDIS_PAYLOADS: &[(&str, &str, &str, &str)] = &[
        (
            "l",
            "1201020f0f00000003008161020101816202ff0a009043a34ceb8e1b1c",
            "d5f44352f6226abea9252dad248ef5de0d964396",
            "quicklist",
        ),
        (
            "s",
            "0b0e02000000030000000100020003000a00a5025ce26d6e4d1b",
            "2a462a3f51a1db89738ebbeef0c47ce1bbc85246",
            "intset",
        ),
        (
            "h",
            "1012120000000400816602817602816e020701ff0a00b82adea8407ffaa8",
            "4f27ca621cb2752866d01527a40541bd50df9e80",
            "listpack",
        ),
        (
            "z",
            "1114140000000400816102010181620283322e3504ff0a00d44c6ea4f644d9d7",
            "c45c5b051acd64070e5ed1a949939d5145f806c5",
            "listpack",
        ),
        (
            "hs",
            "0202017901780a000cdf6b3db330bcf0",
            "36846f8a92fb6b6b824c73bf468c5bbcf5075ede",
            "hashtable",
        ),
    ];

    #[test]
    fn table_entries_match_redis() {
        let dump = table().lookup(b"dump").expect("registered");
        assert_eq!((dump.arity, dump.flags), (2, READONLY));
        let restore = table().lookup(b"restore").expect("registered");
        assert_eq!((restore.arity, restore.flags), (-4, WRITE | DENYOOM));
        assert_eq!(restore.keys.first, 1);
        assert_eq!(restore.since, "2.6.0");
    }

    #[test]
    fn redis_payloads_restore_and_round_trip() {
        let mut h = Harness::new();
        for (key, payload, digest, encoding) in REDIS_PAYLOADS {
            let payload = hex(payload);
            assert_eq!(
                run_bytes(&mut h, &[b"RESTORE", key.as_bytes(), b"0", &payload]),
                Reply::ok()
            );
            assert_eq!(h.digest_value(key), *digest, "{key}");
            assert_eq!(h.encoding(key), bulk(encoding), "{key}");
            // Our payload restores to the same value.
            let ours = dump_of(&mut h, key);
            let copy = format!("{key}-copy");
            assert_eq!(
                run_bytes(&mut h, &[b"RESTORE", copy.as_bytes(), b"0", &ours]),
                Reply::ok()
            );
            assert_eq!(h.digest_value(&copy), *digest, "{key}");
        }
        // Strings come out byte for byte as Redis's.
        h.run(&["SET", "str", "hello"]);
        assert_eq!(
            dump_of(&mut h, "str"),
            b"\x00\x05hello\x0a\x00cr\xdfve4 \x0a"
        );
        assert_eq!(h.run(&["DUMP", "nokey"]), Reply::Null);
    }

    #[test]
    fn errors_in_redis_order() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        let p = dump_of(&mut h, "k");
        let restore = |h: &mut Harness, rest: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"RESTORE"];
            args.extend_from_slice(rest);
            run_bytes(h, &args)
        };
        let busy = err("BUSYKEY Target key name already exists.");
        assert_eq!(restore(&mut h, &[b"k", b"0", &p]), busy);
        assert_eq!(restore(&mut h, &[b"k", b"x", b"junk"]), busy);
        assert_eq!(
            restore(&mut h, &[b"k", b"x", b"junk", b"FOO"]),
            err("ERR syntax error")
        );
        assert_eq!(
            restore(&mut h, &[b"n", b"x", &p]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(
            restore(&mut h, &[b"n", b"-1", &p]),
            err("ERR Invalid TTL value, must be >= 0")
        );
        let wrong = err("ERR DUMP payload version or checksum are wrong");
        assert_eq!(restore(&mut h, &[b"n", b"0", b"short"]), wrong);
        let mut bad_crc = p.clone();
        *bad_crc.last_mut().expect("not empty") ^= 0x80;
        assert_eq!(restore(&mut h, &[b"n", b"0", &bad_crc]), wrong);
        // A type tandem cannot read, with a valid trailer.
        let mut stream = vec![15u8, 0];
        stream.extend_from_slice(&p[p.len() - 10..p.len() - 8]);
        let mut crc = tandem_storage::rdb::crc64::Crc64::new();
        crc.update(&stream);
        stream.extend_from_slice(&crc.value().to_le_bytes());
        assert_eq!(
            restore(&mut h, &[b"n", b"0", &stream]),
            err("ERR Bad data format")
        );
        for (opts, reply) in [
            (&[&b"IDLETIME"[..]][..], err("ERR syntax error")),
            (
                &[b"IDLETIME", b"-1"],
                err("ERR Invalid IDLETIME value, must be >= 0"),
            ),
            (
                &[b"IDLETIME", b"x"],
                err("ERR value is not an integer or out of range"),
            ),
            (
                &[b"FREQ", b"256"],
                err("ERR Invalid FREQ value, must be >= 0 and <= 255"),
            ),
            (&[b"FREQ", b"1", b"IDLETIME", b"1"], err("ERR syntax error")),
            (&[b"IDLETIME", b"1", b"FREQ", b"1"], err("ERR syntax error")),
        ] {
            let mut args: Vec<&[u8]> = vec![b"n", b"0", &p];
            args.extend_from_slice(opts);
            assert_eq!(restore(&mut h, &args), reply, "{opts:?}");
        }
        assert!(!h.exists("n"));
    }

    #[test]
    fn ttls_and_propagation() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        let p = dump_of(&mut h, "k");
        let text = String::from_utf8_lossy(&p).into_owned();
        h.repl();
        let restore = |h: &mut Harness, rest: &[&[u8]]| {
            let mut args: Vec<&[u8]> = vec![b"RESTORE"];
            args.extend_from_slice(rest);
            run_bytes(h, &args)
        };
        // A relative TTL is propagated as the absolute one.
        assert_eq!(restore(&mut h, &[b"a", b"5000", &p]), Reply::ok());
        assert_eq!(h.run(&["PTTL", "a"]), int(5000));
        assert_eq!(
            h.repl(),
            vec![format!("RESTORE a {} {text} ABSTTL", NOW + 5000)]
        );
        let at = (NOW + 9000).to_string();
        assert_eq!(
            restore(&mut h, &[b"b", at.as_bytes(), &p, b"absttl"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["PTTL", "b"]), int(9000));
        assert_eq!(h.repl(), vec![format!("RESTORE b {at} {text} absttl")]);
        assert_eq!(
            restore(&mut h, &[b"c", b"0", &p, b"IDLETIME", b"10"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["TTL", "c"]), int(-1));
        assert_eq!(h.repl(), vec![format!("RESTORE c 0 {text} IDLETIME 10")]);
        // REPLACE overwrites value and TTL.
        assert_eq!(restore(&mut h, &[b"a", b"0", &p, b"REPLACE"]), Reply::ok());
        assert_eq!(h.run(&["TTL", "a"]), int(-1));
        h.repl();
        // A deadline already past creates nothing, and deletes a replaced key.
        let past = (NOW - 1).to_string();
        assert_eq!(
            restore(&mut h, &[b"gone", past.as_bytes(), &p, b"ABSTTL"]),
            Reply::ok()
        );
        assert!(!h.exists("gone"));
        assert_eq!(
            restore(&mut h, &[b"a", past.as_bytes(), &p, b"ABSTTL", b"REPLACE"]),
            Reply::ok()
        );
        assert!(!h.exists("a"));
        assert_eq!(h.repl(), vec!["DEL a"]);
        // A TTL so large that adding the clock wraps is in the past too.
        assert_eq!(
            restore(&mut h, &[b"huge", b"9223372036854775807", &p]),
            Reply::ok()
        );
        assert!(!h.exists("huge"));
        assert!(h.repl().is_empty());
    }

    #[test]
    fn idletime_sets_the_access_time() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        let p = dump_of(&mut h, "k");
        assert_eq!(
            run_bytes(&mut h, &[b"RESTORE", b"n", b"0", &p, b"IDLETIME", b"1000"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "n"]), int(1000));
        // FREQ is accepted and changes nothing visible under an LRU policy.
        assert_eq!(
            run_bytes(&mut h, &[b"RESTORE", b"f", b"0", &p, b"FREQ", b"9"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "f"]), int(0));
    }

    /// Values observed on redis-server 7.0.15: `RESTORE ... IDLETIME
    /// 999999999` at LRU clock 171146 reads back as 10144255 seconds.
    #[test]
    fn idle_times_beyond_the_lru_clock_wrap_like_redis() {
        assert_eq!(lru_idle_secs(171_146, 999_999_999), 10_144_255);
        assert_eq!(lru_idle_secs(171_146, 100), 100);
        assert_eq!(lru_idle_secs(171_146, 171_146), 171_146);
        assert_eq!(lru_idle_secs(171_146, 171_147), 171_147);
        assert_eq!(lru_idle_secs((1 << 24) + 50, 10), 10);
        // No overflow on absurd values.
        let _ = lru_idle_secs(u64::MAX, i64::MAX);
    }
}
