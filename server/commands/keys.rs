//! Generic keyspace commands: deleting, renaming, moving and copying keys,
//! expiry (EXPIRE and friends, TTL and friends, PERSIST), iteration (KEYS,
//! SCAN, RANDOMKEY), OBJECT introspection, and the database-wide commands
//! (SELECT, SWAPDB, DBSIZE, FLUSHDB, FLUSHALL).
//!
//! Propagation follows Redis 7.0: EXPIRE, PEXPIRE and EXPIREAT become
//! `PEXPIREAT key <abs-ms>`, and any expiry already in the past becomes
//! `DEL key`; FLUSHDB, FLUSHALL and SWAPDB are propagated even when they
//! changed nothing; everything else is propagated as sent when it changed the
//! dataset.
//!
//! Lookups follow Redis's flags: read lookups (EXISTS, TYPE, TTL, OBJECT,
//! TOUCH, COPY's source, SCAN's TYPE filter) count keyspace hits and misses;
//! only TOUCH, COPY and the write commands refresh a key's access time.

use bytes::Bytes;
use tandem_storage::keyspace::ScanFilter;
use tandem_storage::{num, Value};

use crate::client::ClientKind;
use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::server::help_reply;
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

const WF: u32 = WRITE | FAST;
const RF: u32 = READONLY | FAST;

/// OBJECT's subcommands take their key at argv[2].
const SUB_KEY: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, object_help)
        .doc(
            "generic",
            "6.2.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "slow"]),
    CommandSpec::new("idletime", 3, READONLY, SUB_KEY, object_idletime)
        .doc(
            "generic",
            "2.2.3",
            "Get the time since a Redis object was last accessed",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("encoding", 3, READONLY, SUB_KEY, object_encoding)
        .doc(
            "generic",
            "2.2.3",
            "Inspect the internal encoding of a Redis object",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("freq", 3, READONLY, SUB_KEY, object_freq)
        .doc(
            "generic",
            "4.0.0",
            "Get the logarithmic access frequency counter of a Redis object",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("refcount", 3, READONLY, SUB_KEY, object_refcount)
        .doc(
            "generic",
            "2.2.3",
            "Get the number of references to the value of the key",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "slow"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, KeySpec::ALL, del)
        .doc("generic", "1.0.0", "Delete a key")
        .complexity(
            "O(N) where N is the number of keys that will be removed. When a key to remove \
             holds a value other than a string, the individual complexity for this key is O(M) \
             where M is the number of elements in the list, set, sorted set or hash. Removing a \
             single key that holds a string value is O(1).",
        )
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("unlink", -2, WF, KeySpec::ALL, del)
        .doc(
            "generic",
            "4.0.0",
            "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non \
             blocking.",
        )
        .complexity(
            "O(1) for each key removed regardless of its size. Then the command does O(N) work in \
             a different thread in order to reclaim memory, where N is the number of allocations \
             the deleted objects where composed of.",
        )
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("exists", -2, RF, KeySpec::ALL, exists)
        .doc("generic", "1.0.0", "Determine if a key exists")
        .complexity("O(N) where N is the number of keys to check.")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("type", 2, RF, KeySpec::ONE, type_cmd)
        .doc("generic", "1.0.0", "Determine the type stored at key")
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("rename", 3, WRITE, KeySpec::TWO, rename)
        .doc("generic", "1.0.0", "Rename a key")
        .complexity("O(1)")
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("renamenx", 3, WF, KeySpec::TWO, renamenx)
        .doc(
            "generic",
            "1.0.0",
            "Rename a key, only if the new key does not exist",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, KeySpec::TWO, copy)
        .doc("generic", "6.2.0", "Copy a key")
        .complexity(
            "O(N) worst case for collections, where N is the number of nested items. O(1) for \
             string values.",
        )
        .acl(&["keyspace", "write", "slow"]),
    CommandSpec::new("move", 3, WF, KeySpec::ONE, move_cmd)
        .doc("generic", "1.0.0", "Move a key to another database")
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("randomkey", 1, READONLY, KeySpec::NONE, randomkey)
        .doc("generic", "1.0.0", "Return a random key from the keyspace")
        .complexity("O(1)")
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("keys", 2, READONLY, KeySpec::NONE, keys)
        .doc(
            "generic",
            "1.0.0",
            "Find all keys matching the given pattern",
        )
        .complexity(
            "O(N) with N being the number of keys in the database, under the assumption that the \
             key names in the database and the given pattern have limited length.",
        )
        .acl(&["keyspace", "read", "slow", "dangerous"]),
    CommandSpec::new("scan", -2, READONLY, KeySpec::NONE, scan)
        .doc("generic", "2.8.0", "Incrementally iterate the keys space")
        .complexity(
            "O(1) for every call. O(N) for a complete iteration, including enough command calls \
             for the cursor to return back to 0. N is the number of elements inside the \
             collection.",
        )
        .acl(&["keyspace", "read", "slow"]),
    CommandSpec::new("touch", -2, RF, KeySpec::ALL, touch)
        .doc(
            "generic",
            "3.2.1",
            "Alters the last access time of a key(s). Returns the number of existing keys \
             specified.",
        )
        .complexity("O(N) where N is the number of keys that will be touched.")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("object", -2, 0, KeySpec::NONE, container_handler)
        .doc(
            "generic",
            "2.2.3",
            "A container for object introspection commands",
        )
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(OBJECT_SUBCOMMANDS),
    CommandSpec::new("expire", -3, WF, KeySpec::ONE, expire)
        .doc("generic", "1.0.0", "Set a key's time to live in seconds")
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("pexpire", -3, WF, KeySpec::ONE, pexpire)
        .doc(
            "generic",
            "2.6.0",
            "Set a key's time to live in milliseconds",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("expireat", -3, WF, KeySpec::ONE, expireat)
        .doc(
            "generic",
            "1.2.0",
            "Set the expiration for a key as a UNIX timestamp",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("pexpireat", -3, WF, KeySpec::ONE, pexpireat)
        .doc(
            "generic",
            "2.6.0",
            "Set the expiration for a key as a UNIX timestamp specified in milliseconds",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("ttl", 2, RF, KeySpec::ONE, ttl)
        .doc(
            "generic",
            "1.0.0",
            "Get the time to live for a key in seconds",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("pttl", 2, RF, KeySpec::ONE, pttl)
        .doc(
            "generic",
            "2.6.0",
            "Get the time to live for a key in milliseconds",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("expiretime", 2, RF, KeySpec::ONE, expiretime)
        .doc(
            "generic",
            "7.0.0",
            "Get the expiration Unix timestamp for a key",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("pexpiretime", 2, RF, KeySpec::ONE, pexpiretime)
        .doc(
            "generic",
            "7.0.0",
            "Get the expiration Unix timestamp for a key in milliseconds",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("persist", 2, WF, KeySpec::ONE, persist)
        .doc("generic", "2.2.0", "Remove the expiration from a key")
        .complexity("O(1)")
        .acl(&["keyspace", "write", "fast"]),
    CommandSpec::new("dbsize", 1, RF, KeySpec::NONE, dbsize)
        .doc(
            "server",
            "1.0.0",
            "Return the number of keys in the selected database",
        )
        .complexity("O(1)")
        .acl(&["keyspace", "read", "fast"]),
    CommandSpec::new("flushdb", -1, WRITE, KeySpec::NONE, flushdb)
        .doc(
            "server",
            "1.0.0",
            "Remove all keys from the current database",
        )
        .complexity("O(N) where N is the number of keys in the selected database")
        .acl(&["keyspace", "write", "slow", "dangerous"]),
    CommandSpec::new("flushall", -1, WRITE, KeySpec::NONE, flushall)
        .doc("server", "1.0.0", "Remove all keys from all databases")
        .complexity("O(N) where N is the total number of keys in all databases")
        .acl(&["keyspace", "write", "slow", "dangerous"]),
    CommandSpec::new("swapdb", 3, WF, KeySpec::NONE, swapdb)
        .doc("server", "4.0.0", "Swaps two Redis databases")
        .complexity(
            "O(N) where N is the count of clients watching or blocking on keys from both \
             databases.",
        )
        .acl(&["keyspace", "write", "fast", "dangerous"]),
    CommandSpec::new("select", 2, LOADING | STALE | FAST, KeySpec::NONE, select)
        .doc(
            "connection",
            "1.0.0",
            "Change the selected database for the current connection",
        )
        .complexity("O(1)")
        .acl(&["fast", "connection"]),
];

fn same_object() -> Reply {
    Reply::error("ERR source and destination objects are the same")
}

fn db_out_of_range() -> Reply {
    Reply::error("ERR DB index is out of range")
}

/// A C `int` argument, with Redis's errors (`getIntFromObjectOrReply`).
fn int32(arg: &[u8]) -> Result<i32, Reply> {
    let v = args::int(arg)?;
    i32::try_from(v).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// A database index for SELECT, MOVE and COPY ... DB: an `int`, then in range.
fn db_index(ctx: &ExecCtx<'_>, arg: &[u8]) -> Result<usize, Reply> {
    let id = int32(arg)?;
    usize::try_from(id)
        .ok()
        .filter(|&id| id < ctx.data.keyspace.db_count())
        .ok_or_else(db_out_of_range)
}

fn bulk(key: &[u8]) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(key))
}

fn del(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut deleted = 0;
    for key in &argv[1..] {
        if ctx.db().remove(key, now).is_some() {
            deleted += 1;
            // Only keys that existed changed (WATCH).
            let db = ctx.client.db;
            crate::multi::touch_key(ctx.data, db, key);
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    Reply::Int(deleted)
}

fn exists(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut found = 0;
    for key in &argv[1..] {
        let hit = ctx.db().contains(key, now);
        ctx.count_lookup(hit);
        found += i64::from(hit);
    }
    Reply::Int(found)
}

fn type_cmd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let kind = ctx.db().peek(&argv[1], now).map(|e| e.value.kind());
    ctx.count_lookup(kind.is_some());
    Reply::Simple(kind.map_or("none", |k| k.name()).into())
}

fn rename_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], nx: bool) -> Reply {
    let (src, dst) = (&argv[1], &argv[2]);
    let now = ctx.now_ms;
    if ctx.db().get(src, now).is_none() {
        return Reply::no_such_key();
    }
    if src == dst {
        return if nx { Reply::Int(0) } else { Reply::ok() };
    }
    if nx && ctx.db().contains(dst, now) {
        return Reply::Int(0);
    }
    let Some(entry) = ctx.db().remove(src, now) else {
        return Reply::no_such_key();
    };
    let expire_at = entry.expire_at();
    if ctx.db().insert(dst, entry.value, expire_at, now).is_some() {
        // Redis deletes the old destination and adds the key anew.
        ctx.notify(notify::NEW, "new", dst);
    }
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        Reply::Int(1)
    } else {
        Reply::ok()
    }
}

fn rename(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    rename_generic(ctx, argv, true)
}

fn move_cmd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let target = tri!(db_index(ctx, &argv[2]));
    let source = ctx.client.db;
    if target == source {
        return same_object();
    }
    let now = ctx.now_ms;
    let (from, to) = ctx.data.keyspace.two_dbs(source, target);
    if from.get(key, now).is_none() || to.contains(key, now) {
        return Reply::Int(0);
    }
    let Some(entry) = from.remove(key, now) else {
        return Reply::Int(0);
    };
    let expire_at = entry.expire_at();
    to.insert(key, entry.value, expire_at, now);
    ctx.notify_in(notify::GENERIC, "move_from", key, source);
    ctx.notify_in(notify::GENERIC, "move_to", key, target);
    Reply::Int(1)
}

fn copy(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (src, dst) = (&argv[1], &argv[2]);
    let source_db = ctx.client.db;
    let mut target_db = source_db;
    let mut replace = false;
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "replace") {
            replace = true;
        } else if is(&argv[i], "db") && i + 1 < argv.len() {
            target_db = tri!(db_index(ctx, &argv[i + 1]));
            i += 1;
        } else {
            return Reply::syntax_error();
        }
        i += 1;
    }
    if source_db == target_db && src == dst {
        return same_object();
    }
    let now = ctx.now_ms;
    let found = ctx
        .db()
        .get(src, now)
        .map(|e| (e.value.clone(), e.expire_at()));
    ctx.count_lookup(found.is_some());
    let Some((value, expire_at)) = found else {
        return Reply::Int(0);
    };
    let target = ctx.data.keyspace.db(target_db);
    if !replace && target.contains(dst, now) {
        return Reply::Int(0);
    }
    if target.insert(dst, value, expire_at, now).is_some() {
        // Redis deletes the old destination and adds the copy anew.
        ctx.notify_in(notify::NEW, "new", dst, target_db);
    }
    ctx.notify_in(notify::GENERIC, "copy_to", dst, target_db);
    Reply::Int(1)
}

fn randomkey(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    ctx.db().random_key(now).map_or(Reply::Null, |k| bulk(&k))
}

fn keys(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let found = ctx.db().keys(&argv[1], now);
    Reply::Array(found.iter().map(|k| bulk(k)).collect())
}

/// Keyspace positions are 63 bits wide: a cursor at or past this is past them all.
const CURSOR_LIMIT: u64 = 1 << 63;

fn scan(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let cursor = tri!(args::scan_cursor(&argv[1]));
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut type_name: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let opt = &argv[i];
        if i + 1 >= argv.len() {
            return Reply::syntax_error();
        }
        let value = &argv[i + 1];
        if is(opt, "count") {
            let n = tri!(args::int(value));
            if n < 1 {
                return Reply::syntax_error();
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(opt, "match") {
            // "*" matches everything: the same as no pattern.
            pattern = (value.as_ref() != b"*").then_some(value.as_ref());
        } else if is(opt, "type") {
            type_name = Some(value.as_ref());
        } else {
            return Reply::syntax_error();
        }
        i += 2;
    }
    let now = ctx.now_ms;
    let (next, found) = if cursor >= CURSOR_LIMIT {
        // No position is that high: the iteration is over.
        (0, Vec::new())
    } else {
        let filter = ScanFilter {
            pattern,
            kind: None,
        };
        ctx.db().scan(cursor, count, &filter, now)
    };
    let mut out = Vec::with_capacity(found.len());
    for key in found {
        if let Some(wanted) = type_name {
            // Redis looks each candidate up to learn its type, counting the lookup.
            let kind = ctx.db().peek(&key, now).map(|e| e.value.kind());
            ctx.count_lookup(kind.is_some());
            if !kind.is_some_and(|k| k.name().as_bytes().eq_ignore_ascii_case(wanted)) {
                continue;
            }
        }
        out.push(bulk(&key));
    }
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(next.to_string())),
        Reply::Array(out),
    ])
}

fn touch(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut touched = 0;
    for key in &argv[1..] {
        let hit = ctx.db().get(key, now).is_some();
        ctx.count_lookup(hit);
        touched += i64::from(hit);
    }
    Reply::Int(touched)
}

fn object_help(_ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let cmd = String::from_utf8_lossy(&argv[0]).to_ascii_uppercase();
    help_reply(
        &cmd,
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    )
}

/// What OBJECT learns about a key without touching it: (value, idle seconds).
/// Counts the lookup, as Redis's OBJECT does.
fn object_lookup(ctx: &mut ExecCtx<'_>, key: &[u8]) -> Option<(Value, i64)> {
    let now = ctx.now_ms;
    let now_secs = (now / 1000) as u32;
    let found = ctx.db().peek(key, now).map(|e| {
        (
            e.value.clone(),
            i64::from(now_secs.wrapping_sub(e.access_secs())),
        )
    });
    ctx.count_lookup(found.is_some());
    found
}

/// The parts of the eviction configuration OBJECT depends on.
#[derive(Debug)]
struct Policy {
    /// An LFU `maxmemory-policy` is selected.
    lfu: bool,
    /// Small integers are shared objects (Redis disables sharing when a
    /// `maxmemory` is set with an LRU or LFU policy).
    shared_integers: bool,
}

fn policy(ctx: &ExecCtx<'_>) -> Policy {
    let config = ctx.server.config.read();
    let name = config.value("maxmemory-policy").unwrap_or_default();
    let lfu = name.ends_with("-lfu");
    let lru = name.ends_with("-lru");
    let maxmemory = config.number("maxmemory").unwrap_or(0);
    Policy {
        lfu,
        shared_integers: maxmemory == 0 || !(lfu || lru),
    }
}

fn object_encoding(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match object_lookup(ctx, &argv[2]) {
        Some((value, _)) => Reply::Bulk(Bytes::from_static(value.encoding().as_bytes())),
        None => Reply::Null,
    }
}

/// Redis's OBJ_SHARED_INTEGERS: integers below it share one object.
const SHARED_INTEGERS: i64 = 10_000;
/// Redis's OBJ_SHARED_REFCOUNT (INT_MAX): the refcount of a shared object.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object_refcount(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let Some((value, _)) = object_lookup(ctx, &argv[2]) else {
        return Reply::Null;
    };
    let small_int = value.encoding() == "int"
        && value
            .as_str()
            .and_then(|s| num::parse_i64(s))
            .is_some_and(|n| (0..SHARED_INTEGERS).contains(&n));
    if small_int && policy(ctx).shared_integers {
        Reply::Int(SHARED_REFCOUNT)
    } else {
        Reply::Int(1)
    }
}

fn object_idletime(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let Some((_, idle_secs)) = object_lookup(ctx, &argv[2]) else {
        return Reply::Null;
    };
    if policy(ctx).lfu {
        return Reply::error(
            "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that \
             when switching between policies at runtime LRU and LFU data will take some time to \
             adjust.",
        );
    }
    Reply::Int(idle_secs)
}

fn object_freq(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let lfu = ctx.data.maxmemory.lfu;
    let Some(counter) = ctx
        .db()
        .peek(&argv[2], now)
        .map(|e| e.lfu_counter(now, lfu))
    else {
        ctx.count_lookup(false);
        return Reply::Null;
    };
    ctx.count_lookup(true);
    if !policy(ctx).lfu {
        return Reply::error(
            "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please \
             note that when switching between policies at runtime LRU and LFU data will take \
             some time to adjust.",
        );
    }
    Reply::Int(i64::from(counter))
}

/// EXPIRE's NX / XX / GT / LT options.
#[derive(Clone, Copy, Debug, Default)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

fn parse_expire_flags(argv: &[Bytes]) -> Result<ExpireFlags, Reply> {
    let mut f = ExpireFlags::default();
    for opt in &argv[3..] {
        if is(opt, "nx") {
            f.nx = true;
        } else if is(opt, "xx") {
            f.xx = true;
        } else if is(opt, "gt") {
            f.gt = true;
        } else if is(opt, "lt") {
            f.lt = true;
        } else {
            return Err(Reply::error(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if f.gt && f.lt {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    Ok(f)
}

/// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: the time is `argv[2]` in seconds or
/// ms, relative to `basetime` (ms; 0 for the absolute forms).
fn expire_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], basetime: u64, seconds: bool) -> Reply {
    let key = &argv[1];
    let flags = tri!(parse_expire_flags(argv));
    let name = ctx.spec.name;
    let invalid = || Reply::error(format!("ERR invalid expire time in '{name}' command"));
    let mut when = tri!(args::int(&argv[2]));
    if seconds {
        when = tri!(when.checked_mul(1000).ok_or_else(invalid));
    }
    let basetime = i64::try_from(basetime).unwrap_or(i64::MAX);
    let when = tri!(when.checked_add(basetime).ok_or_else(invalid));

    let now = ctx.now_ms;
    let current = match ctx.db().get(key, now) {
        None => return Reply::Int(0),
        Some(entry) => entry
            .expire_at()
            .map(|at| i64::try_from(at).unwrap_or(i64::MAX)),
    };
    let refused = (flags.nx && current.is_some())
        || (flags.xx && current.is_none())
        || (flags.gt && current.is_none_or(|cur| when <= cur))
        || (flags.lt && current.is_some_and(|cur| when >= cur));
    if refused {
        return Reply::Int(0);
    }

    // A primary deletes a key whose new expiry has already passed; a time
    // applied from our own primary is kept, since only its DEL may remove keys.
    let past = when <= now as i64;
    if past && ctx.client.handle.info.lock().kind != ClientKind::Master {
        ctx.db().remove(key, now);
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(notify::GENERIC, "del", key);
        return Reply::Int(1);
    }
    // 0 means "no expiry" to the keyspace; a past time from the primary only
    // needs to be past.
    let at = when.max(1) as u64;
    ctx.db().set_expire(key, Some(at), now);
    ctx.propagate_as(vec![
        Bytes::from_static(b"PEXPIREAT"),
        key.clone(),
        Bytes::from(num::i64_to_bytes(at as i64)),
    ]);
    ctx.notify(notify::GENERIC, "expire", key);
    Reply::Int(1)
}

fn expire(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    expire_generic(ctx, argv, now, true)
}

fn pexpire(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    expire_generic(ctx, argv, now, false)
}

fn expireat(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 0, true)
}

fn pexpireat(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    expire_generic(ctx, argv, 0, false)
}

/// TTL, PTTL, EXPIRETIME, PEXPIRETIME: -2 for no key, -1 for no expiry.
fn ttl_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], ms: bool, absolute: bool) -> Reply {
    let now = ctx.now_ms;
    let found = ctx.db().peek(&argv[1], now).map(|e| e.expire_at());
    ctx.count_lookup(found.is_some());
    let Some(expire_at) = found else {
        return Reply::Int(-2);
    };
    let Some(at) = expire_at else {
        return Reply::Int(-1);
    };
    let at = i64::try_from(at).unwrap_or(i64::MAX);
    let t = if absolute {
        at
    } else {
        at.saturating_sub(now as i64).max(0)
    };
    Reply::Int(if ms { t } else { t.saturating_add(500) / 1000 })
}

fn ttl(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, false, false)
}

fn pttl(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, true, false)
}

fn expiretime(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, false, true)
}

fn pexpiretime(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    ttl_generic(ctx, argv, true, true)
}

fn persist(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let now = ctx.now_ms;
    let has_ttl = ctx
        .db()
        .get(key, now)
        .is_some_and(|e| e.expire_at().is_some());
    if !has_ttl {
        return Reply::Int(0);
    }
    ctx.db().set_expire(key, None, now);
    ctx.notify(notify::GENERIC, "persist", key);
    Reply::Int(1)
}

fn dbsize(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    Reply::Int(ctx.db().len() as i64)
}

/// FLUSHDB / FLUSHALL take nothing, `SYNC` or `ASYNC`; both flush at once here.
fn flush_args_ok(argv: &[Bytes]) -> bool {
    match argv.len() {
        1 => true,
        2 => is(&argv[1], "sync") || is(&argv[1], "async"),
        _ => false,
    }
}

fn flushdb(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if !flush_args_ok(argv) {
        return Reply::syntax_error();
    }
    let index = ctx.client.db;
    crate::multi::touch_before_flush(ctx.data, index, None, ctx.now_ms);
    let db = ctx.db();
    if db.is_empty() {
        // Propagated even when there was nothing to remove, as Redis does.
        db.mark_dirty();
    }
    db.clear();
    purge_unless_async(argv);
    Reply::ok()
}

/// A synchronous flush hands the freed pages back to the kernel at once, as
/// Redis does (jemalloc would otherwise keep them while there is no traffic).
fn purge_unless_async(argv: &[Bytes]) {
    if !argv.get(1).is_some_and(|a| is(a, "async")) {
        crate::info::purge_allocator();
    }
}

fn flushall(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if !flush_args_ok(argv) {
        return Reply::syntax_error();
    }
    for index in 0..ctx.data.keyspace.db_count() {
        crate::multi::touch_before_flush(ctx.data, index, None, ctx.now_ms);
    }
    if ctx.data.keyspace.key_count() == 0 {
        ctx.db().mark_dirty();
    }
    ctx.data.keyspace.clear();
    // With save points configured, Redis saves the empty dataset at once, so
    // the flush is on disk and no change counts toward the next save.
    let saving = !ctx.server.config.read().save_points.is_empty();
    if saving {
        let _ = crate::persist::save_locked(ctx.server, ctx.data);
    }
    purge_unless_async(argv);
    Reply::ok()
}

fn swapdb(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let first = tri!(int32(&argv[1]).map_err(|_| Reply::error("ERR invalid first DB index")));
    let second = tri!(int32(&argv[2]).map_err(|_| Reply::error("ERR invalid second DB index")));
    let count = ctx.data.keyspace.db_count();
    let index = |id: i32| usize::try_from(id).ok().filter(|&i| i < count);
    let (Some(a), Some(b)) = (index(first), index(second)) else {
        return db_out_of_range();
    };
    if a == b {
        ctx.data.keyspace.db(a).mark_dirty();
    } else {
        crate::multi::touch_before_flush(ctx.data, a, Some(b), ctx.now_ms);
        crate::multi::touch_before_flush(ctx.data, b, Some(a), ctx.now_ms);
        ctx.data.keyspace.swap(a, b);
    }
    Reply::ok()
}

fn select(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let id = tri!(db_index(ctx, &argv[1]));
    ctx.client.set_db(id);
    Reply::ok()
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::commands::testing::{bulk, encode, err, int, status, Harness, NOW};

    use crate::command::table;

    use crate::reply::Proto;

    #[test]
    fn table_entries_match_redis() {
        let t = table();
        let spec = |name: &str| t.lookup(name.as_bytes()).expect("registered");
        assert_eq!(spec("copy").flags, WRITE | DENYOOM);
        assert_eq!(spec("del").flags, WRITE);
        assert_eq!(spec("unlink").flags, WRITE | FAST);
        assert_eq!(spec("select").flags, LOADING | STALE | FAST);
        assert_eq!(spec("select").group, "connection");
        assert_eq!(spec("flushall").group, "server");
        assert_eq!(spec("scan").arity, -2);
        assert_eq!(spec("expire").arity, -3);
        let object = spec("object");
        assert_eq!(object.arity, -2);
        assert_eq!(object.subcommands.len(), 5);
        for sub in object.subcommands {
            let want = if sub.name == "help" { 2 } else { 3 };
            assert_eq!(sub.arity, want, "object|{}", sub.name);
        }
        let argv = [
            Bytes::from_static(b"OBJECT"),
            Bytes::from_static(b"encoding"),
            Bytes::from_static(b"k"),
        ];
        let keys: Vec<&Bytes> = crate::command::lookup_subcommand(object, b"ENCODING")
            .expect("encoding")
            .keys
            .keys(&argv);
        assert_eq!(keys, vec![&argv[2]]);
    }

    #[test]
    fn del_unlink_exists_touch() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "1"]);
        h.run(&["SET", "b", "2"]);
        h.run(&["SET", "c", "3"]);
        assert_eq!(h.run(&["EXISTS", "a", "a", "nope", "b"]), int(3));
        assert_eq!(h.run(&["TOUCH", "a", "nope"]), int(1));
        h.repl_raw();
        assert_eq!(h.run(&["DEL", "a", "nope", "a"]), int(1));
        assert_eq!(h.repl_raw(), vec!["DEL a nope a"]);
        assert_eq!(h.run(&["DEL", "nope"]), int(0));
        assert!(
            h.repl_raw().is_empty(),
            "a DEL that removed nothing is not propagated"
        );
        assert_eq!(h.run(&["UNLINK", "b", "c"]), int(2));
        assert_eq!(h.repl_raw(), vec!["UNLINK b c"]);
        assert_eq!(h.run(&["DBSIZE"]), int(0));
        assert_eq!(
            h.run(&["DEL"]),
            err("ERR wrong number of arguments for 'del' command")
        );
    }

    #[test]
    fn exists_and_type_count_hits_and_misses() {
        let mut h = Harness::new();
        h.run(&["SET", "a", "1"]);
        let (hits, misses) = h.hits_misses();
        h.run(&["EXISTS", "a", "x"]);
        h.run(&["TYPE", "a"]);
        assert_eq!(h.hits_misses(), (hits + 2, misses + 1));
        h.run(&["DEL", "a", "x"]);
        assert_eq!(
            h.hits_misses(),
            (hits + 2, misses + 1),
            "write lookups are not counted"
        );
    }

    #[test]
    fn type_is_a_status_reply() {
        let mut h = Harness::new();
        h.run(&["SET", "s", "v"]);
        let r = h.run(&["TYPE", "s"]);
        assert_eq!(r, status("string"));
        assert_eq!(encode(&r, Proto::Resp3), b"+string\r\n");
        assert_eq!(encode(&h.run(&["TYPE", "x"]), Proto::Resp2), b"+none\r\n");
    }

    #[test]
    fn expired_keys_are_invisible_and_propagated_as_del() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v", "PX", "100"]);
        h.repl_raw();
        h.now += 100;
        assert_eq!(h.run(&["EXISTS", "k"]), int(0));
        assert_eq!(h.repl_raw(), vec!["DEL k"]);
        h.run(&["SET", "k2", "v", "PX", "100"]);
        h.repl_raw();
        h.now += 200;
        assert_eq!(h.run(&["TTL", "k2"]), int(-2));
        assert_eq!(h.run(&["RENAME", "k2", "z"]), err("ERR no such key"));
        assert_eq!(h.repl_raw(), vec!["DEL k2"]);
    }

    #[test]
    fn rename_and_renamenx() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["RENAME", "a", "b"]), err("ERR no such key"));
        assert_eq!(h.run(&["RENAMENX", "a", "a"]), err("ERR no such key"));
        h.run(&["SET", "a", "1", "PX", "5000"]);
        h.run(&["SET", "b", "2"]);
        h.repl_raw();
        assert_eq!(h.run(&["RENAME", "a", "a"]), Reply::ok());
        assert_eq!(h.run(&["RENAMENX", "a", "a"]), int(0));
        assert!(h.repl_raw().is_empty(), "same-key renames change nothing");
        assert_eq!(h.run(&["RENAMENX", "a", "b"]), int(0));
        assert_eq!(h.run(&["RENAME", "a", "b"]), Reply::ok());
        assert_eq!(h.repl_raw(), vec!["RENAME a b"]);
        assert_eq!(h.run(&["GET", "b"]), bulk("1"));
        assert_eq!(
            h.run(&["PTTL", "b"]),
            int(5000),
            "the expiry moves with the value"
        );
        assert_eq!(h.run(&["EXISTS", "a"]), int(0));
        assert_eq!(h.run(&["RENAMENX", "b", "c"]), int(1));
        assert_eq!(h.run(&["GET", "c"]), bulk("1"));
    }

    #[test]
    fn copy_options_and_errors() {
        let mut h = Harness::new();
        h.run(&["SET", "src", "hello", "PX", "3000"]);
        h.run(&["SET", "dst", "old"]);
        assert_eq!(
            h.run(&["COPY", "src", "src"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            h.run(&["COPY", "src", "src", "DB", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(h.run(&["COPY", "src", "x", "foo"]), Reply::syntax_error());
        assert_eq!(h.run(&["COPY", "src", "x", "DB"]), Reply::syntax_error());
        assert_eq!(
            h.run(&["COPY", "src", "x", "DB", "abc"]),
            Reply::not_integer()
        );
        assert_eq!(
            h.run(&["COPY", "src", "x", "DB", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            h.run(&["COPY", "src", "x", "DB", "4294967296"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(h.run(&["COPY", "missing", "x"]), int(0));
        h.repl_raw();
        assert_eq!(h.run(&["COPY", "src", "dst"]), int(0));
        assert!(h.repl_raw().is_empty());
        assert_eq!(h.run(&["COPY", "src", "dst", "REPLACE"]), int(1));
        assert_eq!(h.repl_raw(), vec!["COPY src dst REPLACE"]);
        assert_eq!(h.run(&["GET", "dst"]), bulk("hello"));
        assert_eq!(h.run(&["PTTL", "dst"]), int(3000));
        assert_eq!(h.run(&["COPY", "src", "src", "DB", "3"]), int(1));
        assert_eq!(h.run(&["GET", "src"]), bulk("hello"), "the source stays");
        h.run(&["SELECT", "3"]);
        assert_eq!(h.run(&["GET", "src"]), bulk("hello"));
        assert_eq!(h.run(&["PTTL", "src"]), int(3000));
    }

    #[test]
    fn move_between_databases() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v", "PX", "2000"]);
        assert_eq!(
            h.run(&["MOVE", "k", "0"]),
            err("ERR source and destination objects are the same")
        );
        assert_eq!(
            h.run(&["MOVE", "k", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            h.run(&["MOVE", "k", "-1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(h.run(&["MOVE", "k", "x"]), Reply::not_integer());
        assert_eq!(h.run(&["MOVE", "nope", "1"]), int(0));
        h.repl_raw();
        assert_eq!(h.run(&["MOVE", "k", "1"]), int(1));
        assert_eq!(h.repl_raw(), vec!["MOVE k 1"]);
        assert_eq!(h.run(&["EXISTS", "k"]), int(0));
        h.run(&["SET", "k", "again"]);
        assert_eq!(
            h.run(&["MOVE", "k", "1"]),
            int(0),
            "the target already has the key"
        );
        h.run(&["SELECT", "1"]);
        assert_eq!(h.run(&["GET", "k"]), bulk("v"));
        assert_eq!(h.run(&["PTTL", "k"]), int(2000));
    }

    #[test]
    fn expire_propagates_absolute_pexpireat() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        h.repl_raw();
        assert_eq!(h.run(&["EXPIRE", "k", "100"]), int(1));
        assert_eq!(h.repl_raw(), vec![format!("PEXPIREAT k {}", NOW + 100_000)]);
        assert_eq!(h.run(&["PEXPIRE", "k", "1500"]), int(1));
        assert_eq!(h.repl_raw(), vec![format!("PEXPIREAT k {}", NOW + 1500)]);
        assert_eq!(h.run(&["EXPIREAT", "k", "1800000000"]), int(1));
        assert_eq!(h.repl_raw(), vec!["PEXPIREAT k 1800000000000"]);
        assert_eq!(h.run(&["PEXPIREAT", "k", "1800000000123", "GT"]), int(1));
        assert_eq!(h.repl_raw(), vec!["PEXPIREAT k 1800000000123"]);
        assert_eq!(h.run(&["TTL", "k"]), int(100_000_000));
        assert_eq!(h.run(&["EXPIRETIME", "k"]), int(1_800_000_000));
        assert_eq!(h.run(&["PEXPIRETIME", "k"]), int(1_800_000_000_123));
        assert_eq!(h.run(&["EXPIRE", "missing", "10"]), int(0));
        assert!(h.repl_raw().is_empty());
    }

    #[test]
    fn expire_in_the_past_deletes_and_propagates_del() {
        let mut h = Harness::new();
        for args in [
            vec!["EXPIRE", "k", "0"],
            vec!["EXPIRE", "k", "-5"],
            vec!["PEXPIRE", "k", "-9223372036854775808"],
            vec!["EXPIREAT", "k", "1"],
            vec!["PEXPIREAT", "k", &NOW.to_string()],
        ]
        .iter()
        {
            h.run(&["SET", "k", "v"]);
            h.repl_raw();
            assert_eq!(h.run(args), int(1), "{args:?}");
            assert_eq!(h.run(&["EXISTS", "k"]), int(0), "{args:?}");
            assert_eq!(h.repl_raw(), vec!["DEL k"], "{args:?}");
        }
    }

    #[test]
    fn past_expiry_from_the_primary_is_set_not_applied() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        h.repl_raw();
        h.client.handle.info.lock().kind = ClientKind::Master;
        assert_eq!(h.run(&["PEXPIREAT", "k", "1"]), int(1));
        assert_eq!(h.repl_raw(), vec!["PEXPIREAT k 1"]);
    }

    #[test]
    fn expire_option_errors_and_overflow() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
        assert_eq!(h.run(&["EXPIRE", "k", "10", "NX", "XX"]), nx_err);
        assert_eq!(h.run(&["EXPIRE", "k", "10", "gt", "nx"]), nx_err);
        assert_eq!(h.run(&["EXPIRE", "k", "10", "nx", "lt"]), nx_err);
        assert_eq!(
            h.run(&["EXPIRE", "k", "10", "GT", "LT"]),
            err("ERR GT and LT options at the same time are not compatible")
        );
        assert_eq!(
            h.run(&["EXPIRE", "k", "abc", "bar"]),
            err("ERR Unsupported option bar")
        );
        assert_eq!(h.run(&["EXPIRE", "k", "abc"]), Reply::not_integer());
        assert_eq!(
            h.run(&["EXPIRE", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            h.run(&["EXPIRE", "k", "-9223372036854775808"]),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            h.run(&["PEXPIRE", "k", "9223372036854775807"]),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(
            h.run(&["EXPIREAT", "k", "9223372036854776"]),
            err("ERR invalid expire time in 'expireat' command")
        );
        assert_eq!(h.run(&["TTL", "k"]), int(-1), "errors change nothing");
        assert_eq!(h.run(&["PEXPIREAT", "k", "9223372036854775807"]), int(1));
        assert_eq!(h.run(&["PEXPIRETIME", "k"]), int(i64::MAX));
    }

    #[test]
    fn expire_nx_xx_gt_lt() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        assert_eq!(
            h.run(&["EXPIRE", "k", "100", "XX"]),
            int(0),
            "XX needs an expiry"
        );
        assert_eq!(
            h.run(&["EXPIRE", "k", "100", "GT"]),
            int(0),
            "no expiry is infinite"
        );
        assert_eq!(h.run(&["EXPIRE", "k", "100", "LT"]), int(1));
        assert_eq!(h.run(&["EXPIRE", "k", "100", "NX"]), int(0));
        assert_eq!(h.run(&["EXPIRE", "k", "50", "GT"]), int(0));
        assert_eq!(
            h.run(&["EXPIRE", "k", "100", "GT"]),
            int(0),
            "equal is not greater"
        );
        assert_eq!(h.run(&["EXPIRE", "k", "200", "gt", "xx"]), int(1));
        assert_eq!(h.run(&["EXPIRE", "k", "300", "LT"]), int(0));
        assert_eq!(h.run(&["EXPIRE", "k", "150", "LT"]), int(1));
        assert_eq!(h.run(&["TTL", "k"]), int(150));
        h.repl_raw();
        assert_eq!(h.run(&["EXPIRE", "k", "100", "XX", "XX"]), int(1));
        assert_eq!(
            h.repl_raw(),
            vec![format!("PEXPIREAT k {}", NOW + 100_000)],
            "options are checked here, not on the replica"
        );
    }

    #[test]
    fn ttl_family_rounds_like_redis() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["TTL", "k"]), int(-2));
        assert_eq!(h.run(&["PTTL", "k"]), int(-2));
        assert_eq!(h.run(&["EXPIRETIME", "k"]), int(-2));
        h.run(&["SET", "k", "v"]);
        assert_eq!(h.run(&["TTL", "k"]), int(-1));
        assert_eq!(h.run(&["PEXPIRETIME", "k"]), int(-1));
        h.run(&["PEXPIRE", "k", "1499"]);
        assert_eq!(h.run(&["TTL", "k"]), int(1));
        assert_eq!(h.run(&["PTTL", "k"]), int(1499));
        h.run(&["PEXPIRE", "k", "1500"]);
        assert_eq!(h.run(&["TTL", "k"]), int(2));
        h.run(&["PEXPIREAT", "k", &(NOW + 2499).to_string()]);
        assert_eq!(
            h.run(&["EXPIRETIME", "k"]),
            int(((NOW + 2499 + 500) / 1000) as i64)
        );
    }

    #[test]
    fn persist_removes_an_expiry() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["PERSIST", "k"]), int(0));
        h.run(&["SET", "k", "v"]);
        h.repl_raw();
        assert_eq!(h.run(&["PERSIST", "k"]), int(0));
        assert!(h.repl_raw().is_empty());
        h.run(&["EXPIRE", "k", "10"]);
        h.repl_raw();
        assert_eq!(h.run(&["PERSIST", "k"]), int(1));
        assert_eq!(h.repl_raw(), vec!["PERSIST k"]);
        assert_eq!(h.run(&["TTL", "k"]), int(-1));
    }

    #[test]
    fn scan_returns_each_of_1000_keys_once() {
        let mut h = Harness::new();
        for i in 0..1000 {
            h.run(&["SET", &format!("key:{i}"), "v"]);
        }
        let mut seen = std::collections::HashSet::new();
        let mut total = 0;
        let mut cursor = "0".to_string();
        let mut calls = 0;
        loop {
            let Reply::Array(parts) = h.run(&["SCAN", &cursor, "COUNT", "17"]) else {
                panic!("SCAN replies with an array");
            };
            let [Reply::Bulk(next), Reply::Array(keys)] = &parts[..] else {
                panic!("SCAN replies with [cursor, keys]: {parts:?}");
            };
            for k in keys {
                let Reply::Bulk(k) = k else {
                    panic!("keys are bulk strings")
                };
                seen.insert(k.clone());
                total += 1;
            }
            calls += 1;
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert!(calls > 10, "COUNT bounds each step");
        assert_eq!(total, 1000);
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn scan_options() {
        let mut h = Harness::new();
        for i in 0..50 {
            h.run(&["SET", &format!("a{i}"), "v"]);
            h.run(&["SET", &format!("b{i}"), "v"]);
        }
        let all = |h: &mut Harness, extra: &[&str]| -> Vec<Bytes> {
            let mut args = vec!["SCAN", "0", "COUNT", "1000"];
            args.extend_from_slice(extra);
            let Reply::Array(parts) = h.run(&args) else {
                panic!("array")
            };
            assert_eq!(parts[0], bulk("0"));
            let Reply::Array(keys) = &parts[1] else {
                panic!("array")
            };
            keys.iter()
                .map(|k| match k {
                    Reply::Bulk(b) => b.clone(),
                    other => panic!("not bulk: {other:?}"),
                })
                .collect()
        };
        let matched = all(&mut h, &["MATCH", "a*"]);
        assert_eq!(matched.len(), 50);
        assert!(matched.iter().all(|k| k.starts_with(b"a")));
        assert_eq!(all(&mut h, &["MATCH", "*"]).len(), 100);
        assert_eq!(all(&mut h, &["TYPE", "STRING"]).len(), 100);
        assert_eq!(all(&mut h, &["TYPE", "list"]).len(), 0);
        assert_eq!(all(&mut h, &["TYPE", "nosuchtype"]).len(), 0);

        assert_eq!(h.run(&["SCAN", "0", "COUNT", "0"]), Reply::syntax_error());
        assert_eq!(h.run(&["SCAN", "0", "COUNT", "-1"]), Reply::syntax_error());
        assert_eq!(h.run(&["SCAN", "0", "COUNT", "x"]), Reply::not_integer());
        assert_eq!(h.run(&["SCAN", "0", "MATCH"]), Reply::syntax_error());
        assert_eq!(h.run(&["SCAN", "0", "FOO", "bar"]), Reply::syntax_error());
        for bad in [
            "abc",
            " 1",
            "1 ",
            "1.5",
            "-",
            "+",
            "18446744073709551616",
            "0x10",
        ] {
            assert_eq!(h.run(&["SCAN", bad]), err("ERR invalid cursor"), "{bad:?}");
        }
        let empty = Reply::Array(vec![bulk("0"), Reply::Array(vec![])]);
        assert_eq!(h.run(&["SCAN", "-1"]), empty);
        assert_eq!(h.run(&["SCAN", "18446744073709551615"]), empty);
    }

    #[test]
    fn cursor_parsing_follows_strtoul() {
        assert_eq!(args::scan_cursor(b""), Ok(0));
        assert_eq!(args::scan_cursor(b"+5"), Ok(5));
        assert_eq!(args::scan_cursor(b"-0"), Ok(0));
        assert_eq!(args::scan_cursor(b"007"), Ok(7));
        assert_eq!(args::scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(args::scan_cursor(b"-18446744073709551615"), Ok(1));
        assert_eq!(args::scan_cursor(b"12\0junk"), Ok(12));
        assert!(args::scan_cursor(b"\t1").is_err());
        assert!(args::scan_cursor(b"1\n").is_err());
    }

    #[test]
    fn scan_reply_shape_in_both_protocols() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "v"]);
        let r = h.run(&["SCAN", "0"]);
        let want: &[u8] = b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n";
        assert_eq!(encode(&r, Proto::Resp2), want);
        assert_eq!(encode(&r, Proto::Resp3), want);
        assert_eq!(
            encode(&h.run(&["KEYS", "*"]), Proto::Resp3),
            b"*1\r\n$1\r\nk\r\n"
        );
    }

    #[test]
    fn keys_and_randomkey() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["RANDOMKEY"]), Reply::Null);
        assert_eq!(h.run(&["KEYS", "*"]), Reply::Array(vec![]));
        for k in ["hello", "hallo", "hxllo", "world"] {
            h.run(&["SET", k, "v"]);
        }
        let Reply::Array(found) = h.run(&["KEYS", "h[ae]llo"]) else {
            panic!("array")
        };
        let mut found: Vec<Reply> = found;
        found.sort_by_key(|r| format!("{r:?}"));
        assert_eq!(found, vec![bulk("hallo"), bulk("hello")]);
        let Reply::Array(all) = h.run(&["KEYS", "*"]) else {
            panic!("array")
        };
        assert_eq!(all.len(), 4);
        h.run(&["SET", "gone", "v", "PX", "10"]);
        h.now += 10;
        let Reply::Array(all) = h.run(&["KEYS", "*"]) else {
            panic!("array")
        };
        assert_eq!(all.len(), 4, "expired keys are not listed");
        for _ in 0..20 {
            let r = h.run(&["RANDOMKEY"]);
            assert!(
                ["hello", "hallo", "hxllo", "world"]
                    .iter()
                    .any(|k| r == bulk(k)),
                "{r:?}"
            );
        }
    }

    #[test]
    fn object_subcommands() {
        let mut h = Harness::new();
        h.run(&["SET", "small", "42"]);
        h.run(&["SET", "big", "10000"]);
        h.run(&["SET", "neg", "-1"]);
        h.run(&["SET", "text", "hello"]);
        h.run(&["SET", "long", &"x".repeat(45)]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "small"]), bulk("int"));
        assert_eq!(h.run(&["object", "encoding", "text"]), bulk("embstr"));
        assert_eq!(h.run(&["OBJECT", "ENCODING", "long"]), bulk("raw"));
        assert_eq!(h.run(&["OBJECT", "ENCODING", "missing"]), Reply::Null);
        assert_eq!(h.run(&["OBJECT", "REFCOUNT", "small"]), int(2147483647));
        assert_eq!(h.run(&["OBJECT", "REFCOUNT", "big"]), int(1));
        assert_eq!(h.run(&["OBJECT", "REFCOUNT", "neg"]), int(1));
        assert_eq!(h.run(&["OBJECT", "REFCOUNT", "text"]), int(1));
        assert_eq!(h.run(&["OBJECT", "REFCOUNT", "missing"]), Reply::Null);
        assert_eq!(h.run(&["OBJECT", "FREQ", "missing"]), Reply::Null);
        assert_eq!(
            h.run(&["OBJECT", "FREQ", "text"]),
            err(
                "ERR An LFU maxmemory policy is not selected, access frequency not tracked. \
                 Please note that when switching between policies at runtime LRU and LFU data \
                 will take some time to adjust."
            )
        );
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "text"]), int(0));
        h.now += 7_500;
        assert_eq!(
            h.run(&["OBJECT", "IDLETIME", "text"]),
            int(7),
            "OBJECT does not touch"
        );
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "text"]), int(7));
        h.run(&["TOUCH", "text"]);
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "text"]), int(0));
        assert_eq!(h.run(&["OBJECT", "IDLETIME", "missing"]), Reply::Null);

        let Reply::Array(help) = h.run(&["OBJECT", "HELP"]) else {
            panic!("array")
        };
        assert_eq!(help.len(), 15);
        assert_eq!(
            help[0],
            status("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert_eq!(help[14], status("    Prints this help."));

        assert_eq!(
            h.run(&["OBJECT"]),
            err("ERR wrong number of arguments for 'object' command")
        );
        assert_eq!(
            h.run(&["OBJECT", "ENCODING"]),
            err("ERR wrong number of arguments for 'object|encoding' command")
        );
        assert_eq!(
            h.run(&["OBJECT", "HELP", "x"]),
            err("ERR wrong number of arguments for 'object|help' command")
        );
        assert_eq!(
            h.run(&["OBJECT", "foo"]),
            err("ERR unknown subcommand 'foo'. Try OBJECT HELP.")
        );
    }

    #[test]
    fn select_and_dbsize() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SELECT", "abc"]), Reply::not_integer());
        assert_eq!(h.run(&["SELECT", "1.5"]), Reply::not_integer());
        assert_eq!(
            h.run(&["SELECT", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            h.run(&["SELECT", "-1"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            h.run(&["SELECT", "2147483648"]),
            err("ERR value is out of range, value must between -2147483648 and 2147483647")
        );
        assert_eq!(h.run(&["SELECT", "5"]), Reply::ok());
        assert_eq!(h.client.db, 5);
        assert_eq!(h.client.handle.info.lock().db, 5);
        h.run(&["SET", "a", "1"]);
        h.run(&["SET", "b", "1"]);
        assert_eq!(h.run(&["DBSIZE"]), int(2));
        assert_eq!(h.repl_raw(), vec!["SELECT 5", "SET a 1", "SET b 1"]);
        h.run(&["SELECT", "0"]);
        assert_eq!(h.run(&["DBSIZE"]), int(0));
        assert!(h.repl_raw().is_empty(), "SELECT itself is not propagated");
    }

    #[test]
    fn swapdb_exchanges_and_always_propagates() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "zero"]);
        h.repl_raw();
        assert_eq!(
            h.run(&["SWAPDB", "a", "1"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            h.run(&["SWAPDB", "0", "b"]),
            err("ERR invalid second DB index")
        );
        assert_eq!(
            h.run(&["SWAPDB", "4294967296", "0"]),
            err("ERR invalid first DB index")
        );
        assert_eq!(
            h.run(&["SWAPDB", "0", "16"]),
            err("ERR DB index is out of range")
        );
        assert_eq!(
            h.run(&["SWAPDB", "-1", "0"]),
            err("ERR DB index is out of range")
        );
        assert!(h.repl_raw().is_empty());
        assert_eq!(h.run(&["SWAPDB", "0", "1"]), Reply::ok());
        assert_eq!(h.repl_raw(), vec!["SWAPDB 0 1"]);
        assert_eq!(h.run(&["EXISTS", "k"]), int(0));
        h.run(&["SELECT", "1"]);
        assert_eq!(h.run(&["GET", "k"]), bulk("zero"));
        assert_eq!(h.run(&["SWAPDB", "3", "3"]), Reply::ok());
        assert_eq!(h.repl_raw(), vec!["SELECT 1", "SWAPDB 3 3"]);
    }

    #[test]
    fn flushdb_and_flushall() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["FLUSHDB", "now"]), Reply::syntax_error());
        assert_eq!(h.run(&["FLUSHALL", "SYNC", "ASYNC"]), Reply::syntax_error());
        assert!(h.repl_raw().is_empty());
        assert_eq!(h.run(&["FLUSHDB"]), Reply::ok());
        assert_eq!(
            h.repl_raw(),
            vec!["SELECT 0", "FLUSHDB"],
            "propagated even when empty"
        );
        h.run(&["SET", "a", "1"]);
        h.run(&["SELECT", "2"]);
        h.run(&["SET", "b", "1"]);
        h.repl_raw();
        assert_eq!(h.run(&["FLUSHDB", "async"]), Reply::ok());
        assert_eq!(h.run(&["DBSIZE"]), int(0));
        h.run(&["SELECT", "0"]);
        assert_eq!(
            h.run(&["DBSIZE"]),
            int(1),
            "FLUSHDB empties only the selected db"
        );
        h.run(&["SELECT", "2"]);
        h.run(&["SET", "b", "1"]);
        assert_eq!(h.run(&["FLUSHALL", "SYNC"]), Reply::ok());
        assert_eq!(
            h.repl_raw(),
            vec!["FLUSHDB async", "SET b 1", "FLUSHALL SYNC"]
        );
        h.run(&["SELECT", "0"]);
        assert_eq!(h.run(&["DBSIZE"]), int(0));
        assert_eq!(h.run(&["FLUSHALL"]), Reply::ok());
        assert_eq!(h.repl_raw(), vec!["SELECT 0", "FLUSHALL"]);
    }
}
