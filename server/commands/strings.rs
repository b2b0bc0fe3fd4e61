//! String commands: SET and friends, GET and friends, counters, ranges.
//!
//! Propagation follows Redis 7.0: relative expiries become `SET ... PXAT` /
//! `PEXPIREAT`, GETDEL becomes `DEL`, GETEX's changes become `PEXPIREAT`,
//! `PERSIST` or `DEL`, and INCRBYFLOAT becomes `SET ... KEEPTTL`.

use bytes::Bytes;
use tandem_storage::longdouble::LongDouble;
use tandem_storage::num;
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

const W: u32 = WRITE | DENYOOM;
const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("set", -3, W, KeySpec::ONE, set)
        .doc("string", "1.0.0", "Set the string value of a key")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("get", 2, RF, KeySpec::ONE, get)
        .doc("string", "1.0.0", "Get the value of a key")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("getex", -2, WRITE | FAST, KeySpec::ONE, getex)
        .doc(
            "string",
            "6.2.0",
            "Get the value of a key and optionally set its expiration",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("getdel", 2, WRITE | FAST, KeySpec::ONE, getdel)
        .doc(
            "string",
            "6.2.0",
            "Get the value of a key and delete the key",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("getset", 3, WF, KeySpec::ONE, getset)
        .doc(
            "string",
            "1.0.0",
            "Set the string value of a key and return its old value",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("mget", -2, RF, KeySpec::ALL, mget)
        .doc("string", "1.0.0", "Get the values of all the given keys")
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("mset", -3, W, KeySpec::PAIRS, mset)
        .doc("string", "1.0.1", "Set multiple keys to multiple values")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("msetnx", -3, W, KeySpec::PAIRS, msetnx)
        .doc(
            "string",
            "1.0.1",
            "Set multiple keys to multiple values, only if none of the keys exist",
        )
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("setnx", 3, WF, KeySpec::ONE, setnx)
        .doc(
            "string",
            "1.0.0",
            "Set the value of a key, only if the key does not exist",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("setex", 4, W, KeySpec::ONE, setex)
        .doc("string", "2.0.0", "Set the value and expiration of a key")
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("psetex", 4, W, KeySpec::ONE, psetex)
        .doc(
            "string",
            "2.6.0",
            "Set the value and expiration in milliseconds of a key",
        )
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("append", 3, WF, KeySpec::ONE, append)
        .doc("string", "2.0.0", "Append a value to a key")
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("strlen", 2, RF, KeySpec::ONE, strlen)
        .doc(
            "string",
            "2.2.0",
            "Get the length of the value stored in a key",
        )
        .acl(&["read", "string", "fast"]),
    CommandSpec::new("getrange", 4, READONLY, KeySpec::ONE, getrange)
        .doc(
            "string",
            "2.4.0",
            "Get a substring of the string stored at a key",
        )
        .acl(&["read", "string", "slow"]),
    CommandSpec::new("substr", 4, READONLY, KeySpec::ONE, getrange)
        .doc(
            "string",
            "1.0.0",
            "Get a substring of the string stored at a key",
        )
        .acl(&["read", "string", "slow"]),
    CommandSpec::new("setrange", 4, W, KeySpec::ONE, setrange)
        .doc(
            "string",
            "2.2.0",
            "Overwrite part of a string at key starting at the specified offset",
        )
        .acl(&["write", "string", "slow"]),
    CommandSpec::new("incr", 2, WF, KeySpec::ONE, incr)
        .doc(
            "string",
            "1.0.0",
            "Increment the integer value of a key by one",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("decr", 2, WF, KeySpec::ONE, decr)
        .doc(
            "string",
            "1.0.0",
            "Decrement the integer value of a key by one",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("incrby", 3, WF, KeySpec::ONE, incrby)
        .doc(
            "string",
            "1.0.0",
            "Increment the integer value of a key by the given amount",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("decrby", 3, WF, KeySpec::ONE, decrby)
        .doc(
            "string",
            "1.0.0",
            "Decrement the integer value of a key by the given number",
        )
        .acl(&["write", "string", "fast"]),
    CommandSpec::new("incrbyfloat", 3, WF, KeySpec::ONE, incrbyfloat)
        .doc(
            "string",
            "2.6.0",
            "Increment the float value of a key by the given amount",
        )
        .acl(&["write", "string", "fast"]),
];

/// The string value at `key`: `Ok(None)` if absent, `Err(WRONGTYPE)` if another type.
fn read_string(ctx: &mut ExecCtx<'_>, key: &[u8]) -> Result<Option<Bytes>, Reply> {
    let now = ctx.now_ms;
    let found = match ctx.db().get(key, now) {
        None => None,
        Some(entry) => match entry.value.as_str() {
            Some(s) => Some(Bytes::copy_from_slice(s)),
            None => return Err(Reply::wrong_type()),
        },
    };
    ctx.count_lookup(found.is_some());
    Ok(found)
}

fn bulk_or_null(v: Option<Bytes>) -> Reply {
    v.map_or(Reply::Null, Reply::Bulk)
}

/// An expiry option as given: which unit and whether absolute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expiry {
    None,
    KeepTtl,
    Persist,
    /// Absolute Unix ms.
    At(u64),
}

/// Converts EX/PX/EXAT/PXAT `value` to an absolute ms time, with Redis's checks.
fn expire_at(ctx: &ExecCtx<'_>, unit: &Bytes, value: &[u8], cmd: &str) -> Result<u64, Reply> {
    let invalid = || Reply::error(format!("ERR invalid expire time in '{cmd}' command"));
    let v = args::int(value)?;
    if v <= 0 {
        return Err(invalid());
    }
    let (ms, absolute) = if is(unit, "ex") {
        (v.checked_mul(1000).ok_or_else(invalid)?, false)
    } else if is(unit, "px") {
        (v, false)
    } else if is(unit, "exat") {
        (v.checked_mul(1000).ok_or_else(invalid)?, true)
    } else {
        (v, true)
    };
    let at = if absolute {
        ms
    } else {
        ms.checked_add(ctx.now_ms as i64).ok_or_else(invalid)?
    };
    Ok(at as u64)
}

fn set(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, value) = (&argv[1], &argv[2]);
    let mut nx = false;
    let mut xx = false;
    let mut get = false;
    let mut expiry = Expiry::None;
    // Redis reads the options first (syntax only), then the expire value.
    let mut expire_arg: Option<(&Bytes, &Bytes)> = None;
    let mut i = 3;
    while i < argv.len() {
        let a = &argv[i];
        let has_next = i + 1 < argv.len();
        if is(a, "nx") && !xx {
            nx = true;
        } else if is(a, "xx") && !nx {
            xx = true;
        } else if is(a, "get") {
            get = true;
        } else if is(a, "keepttl") && expiry == Expiry::None && expire_arg.is_none() {
            expiry = Expiry::KeepTtl;
        } else if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && expiry == Expiry::None
            && expire_arg.is_none()
            && has_next
        {
            expire_arg = Some((a, &argv[i + 1]));
            i += 1;
        } else {
            return Reply::syntax_error();
        }
        i += 1;
    }
    if let Some((unit, value)) = expire_arg {
        expiry = Expiry::At(tri!(expire_at(ctx, unit, value, "set")));
    }
    let old = if get {
        tri!(read_string(ctx, key))
    } else {
        None
    };
    let timed = matches!(expiry, Expiry::At(_));
    let reply = set_generic(ctx, key, value, nx, xx, expiry, old, get);
    // Replicas need no GET (a timed SET was already rewritten whole).
    if get && !timed {
        let without_get = argv
            .iter()
            .enumerate()
            .filter(|(j, a)| *j < 3 || !is(a, "get"))
            .map(|(_, a)| a.clone())
            .collect();
        ctx.propagate_as(without_get);
    }
    reply
}

#[allow(clippy::too_many_arguments)]
fn set_generic(
    ctx: &mut ExecCtx<'_>,
    key: &Bytes,
    value: &Bytes,
    nx: bool,
    xx: bool,
    expiry: Expiry,
    old: Option<Bytes>,
    get: bool,
) -> Reply {
    let now = ctx.now_ms;
    // Plain SET needs no lookup of its own: the insert replaces.
    let exists = (nx || xx) && ctx.db().contains(key, now);
    if (nx && exists) || (xx && !exists) {
        return if get { bulk_or_null(old) } else { Reply::Null };
    }
    let stored = Value::string(SmallBytes::from_slice(value));
    let timed = matches!(expiry, Expiry::At(_));
    match expiry {
        Expiry::KeepTtl => {
            ctx.db().insert_keep_ttl(key, stored, now);
        }
        Expiry::At(at) => {
            ctx.db().insert(key, stored, Some(at), now);
            ctx.propagate_as(vec![
                Bytes::from_static(b"SET"),
                key.clone(),
                value.clone(),
                Bytes::from_static(b"PXAT"),
                Bytes::from(num::i64_to_bytes(at as i64)),
            ]);
        }
        Expiry::None | Expiry::Persist => {
            ctx.db().insert(key, stored, None, now);
        }
    }
    ctx.notify(notify::STRING, "set", key);
    if timed {
        ctx.notify(notify::GENERIC, "expire", key);
    }
    if get {
        bulk_or_null(old)
    } else {
        Reply::ok()
    }
}

fn get(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    bulk_or_null(tri!(read_string(ctx, &argv[1])))
}

fn getex(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let mut expiry = Expiry::None;
    // Redis's order: option syntax, then the key and its type, then the
    // expire value.
    let mut expire_arg: Option<(&Bytes, &Bytes)> = None;
    let mut i = 2;
    while i < argv.len() {
        let a = &argv[i];
        if (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
            && expiry == Expiry::None
            && expire_arg.is_none()
            && i + 1 < argv.len()
        {
            expire_arg = Some((a, &argv[i + 1]));
            i += 2;
        } else if is(a, "persist") && expiry == Expiry::None && expire_arg.is_none() {
            expiry = Expiry::Persist;
            i += 1;
        } else {
            return Reply::syntax_error();
        }
    }
    let value = tri!(read_string(ctx, key));
    let Some(value) = value else {
        return Reply::Null;
    };
    if let Some((unit, v)) = expire_arg {
        expiry = Expiry::At(tri!(expire_at(ctx, unit, v, "getex")));
    }
    let now = ctx.now_ms;
    match expiry {
        Expiry::At(at) if at <= now => {
            ctx.db().remove(key, now);
            ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
            ctx.notify(notify::GENERIC, "del", key);
        }
        Expiry::At(at) => {
            ctx.db().set_expire(key, Some(at), now);
            ctx.notify(notify::GENERIC, "expire", key);
            ctx.propagate_as(vec![
                Bytes::from_static(b"PEXPIREAT"),
                key.clone(),
                Bytes::from(num::i64_to_bytes(at as i64)),
            ]);
        }
        Expiry::Persist => {
            let had_ttl = ctx
                .db()
                .peek(key, now)
                .and_then(|e| e.expire_at())
                .is_some();
            if had_ttl {
                ctx.db().set_expire(key, None, now);
                ctx.propagate_as(vec![Bytes::from_static(b"PERSIST"), key.clone()]);
                ctx.notify(notify::GENERIC, "persist", key);
            }
        }
        Expiry::None | Expiry::KeepTtl => {}
    }
    Reply::Bulk(value)
}

fn getdel(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let value = tri!(read_string(ctx, key));
    if value.is_some() {
        let now = ctx.now_ms;
        ctx.db().remove(key, now);
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        ctx.notify(notify::GENERIC, "del", key);
    }
    bulk_or_null(value)
}

fn getset(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let old = tri!(read_string(ctx, &argv[1]));
    let now = ctx.now_ms;
    ctx.db().insert(
        &argv[1],
        Value::string(SmallBytes::from_slice(&argv[2])),
        None,
        now,
    );
    ctx.notify(notify::STRING, "set", &argv[1]);
    // Replicated as the SET it is, as Redis does.
    ctx.propagate_as(vec![
        Bytes::from_static(b"SET"),
        argv[1].clone(),
        argv[2].clone(),
    ]);
    bulk_or_null(old)
}

fn mget(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let mut out = Vec::with_capacity(argv.len() - 1);
    for key in &argv[1..] {
        let v = ctx
            .db()
            .get(key, now)
            .and_then(|e| e.value.as_str().map(|s| Bytes::copy_from_slice(s)));
        ctx.count_lookup(v.is_some());
        out.push(bulk_or_null(v));
    }
    Reply::Array(out)
}

fn mset(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len().is_multiple_of(2) {
        return Reply::wrong_arity("mset");
    }
    let now = ctx.now_ms;
    for pair in argv[1..].chunks(2) {
        ctx.db().insert(
            &pair[0],
            Value::string(SmallBytes::from_slice(&pair[1])),
            None,
            now,
        );
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    Reply::ok()
}

fn msetnx(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    if argv.len().is_multiple_of(2) {
        return Reply::wrong_arity("msetnx");
    }
    let now = ctx.now_ms;
    if argv[1..]
        .chunks(2)
        .any(|pair| ctx.db().contains(&pair[0], now))
    {
        return Reply::Int(0);
    }
    for pair in argv[1..].chunks(2) {
        ctx.db().insert(
            &pair[0],
            Value::string(SmallBytes::from_slice(&pair[1])),
            None,
            now,
        );
        ctx.notify(notify::STRING, "set", &pair[0]);
    }
    Reply::Int(1)
}

fn setnx(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    if ctx.db().contains(&argv[1], now) {
        return Reply::Int(0);
    }
    ctx.db().insert(
        &argv[1],
        Value::string(SmallBytes::from_slice(&argv[2])),
        None,
        now,
    );
    ctx.notify(notify::STRING, "set", &argv[1]);
    Reply::Int(1)
}

fn setex_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], unit: &'static [u8], cmd: &str) -> Reply {
    let at = tri!(expire_at(ctx, &Bytes::from_static(unit), &argv[2], cmd));
    set_generic(
        ctx,
        &argv[1],
        &argv[3],
        false,
        false,
        Expiry::At(at),
        None,
        false,
    )
}

fn setex(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    setex_generic(ctx, argv, b"ex", "setex")
}

fn psetex(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    setex_generic(ctx, argv, b"px", "psetex")
}

fn too_big() -> Reply {
    Reply::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

fn append(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, tail) = (&argv[1], &argv[2]);
    let now = ctx.now_ms;
    let max = ctx.server.config.read().proto_max_bulk_len;
    // Check type and size before touching the value, so a refused APPEND
    // changes nothing (and is not propagated).
    let current_len = match ctx.db().peek(key, now) {
        None => None,
        Some(entry) => match entry.value.as_str() {
            Some(bytes) => Some(bytes.len()),
            None => return Reply::wrong_type(),
        },
    };
    let Some(current_len) = current_len else {
        ctx.db()
            .insert(key, Value::string(SmallBytes::from_slice(tail)), None, now);
        ctx.notify(notify::STRING, "append", key);
        return Reply::Int(tail.len() as i64);
    };
    if (current_len + tail.len()) as u64 > max {
        return too_big();
    }
    match ctx.db().get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::Str(bytes)) => {
            bytes.set_flag(true);
            let len = bytes.modify(|v| {
                v.extend_from_slice(tail);
                v.len()
            });
            ctx.notify(notify::STRING, "append", key);
            Reply::Int(len as i64)
        }
        _ => Reply::wrong_type(),
    }
}

fn strlen(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let v = tri!(read_string(ctx, &argv[1]));
    Reply::Int(v.map_or(0, |v| v.len() as i64))
}

fn getrange(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let start = tri!(args::int(&argv[2]));
    let end = tri!(args::int(&argv[3]));
    let Some(v) = tri!(read_string(ctx, &argv[1])) else {
        return Reply::Bulk(Bytes::new());
    };
    let len = v.len() as i64;
    if start < 0 && end < 0 && start > end {
        return Reply::Bulk(Bytes::new());
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if s > e || len == 0 {
        return Reply::Bulk(Bytes::new());
    }
    Reply::Bulk(v.slice(s as usize..=e as usize))
}

fn setrange(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, patch) = (&argv[1], &argv[3]);
    let offset = tri!(args::int(&argv[2]));
    if offset < 0 {
        return Reply::error("ERR offset is out of range");
    }
    let offset = offset as u64;
    let max = ctx.server.config.read().proto_max_bulk_len;
    let now = ctx.now_ms;
    let current = tri!(read_string(ctx, key));
    match current {
        None => {
            if patch.is_empty() {
                return Reply::Int(0);
            }
            if offset + patch.len() as u64 > max {
                return too_big();
            }
            let mut v = vec![0u8; offset as usize];
            v.extend_from_slice(patch);
            let len = v.len();
            let value = Value::raw_string(SmallBytes::from_vec(v));
            ctx.db().insert(key, value, None, now);
            ctx.notify(notify::STRING, "setrange", key);
            Reply::Int(len as i64)
        }
        Some(cur) => {
            if patch.is_empty() {
                return Reply::Int(cur.len() as i64);
            }
            if offset + patch.len() as u64 > max {
                return too_big();
            }
            let Some(Value::Str(bytes)) = ctx.db().get_mut(key, now).map(|e| &mut e.value) else {
                return Reply::wrong_type();
            };
            bytes.set_flag(true);
            let len = bytes.modify(|v| {
                let end = offset as usize + patch.len();
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[offset as usize..end].copy_from_slice(patch);
                v.len()
            });
            ctx.notify(notify::STRING, "setrange", key);
            Reply::Int(len as i64)
        }
    }
}

fn incr_by(ctx: &mut ExecCtx<'_>, key: &Bytes, delta: i64) -> Reply {
    let now = ctx.now_ms;
    let overflow = || Reply::error("ERR increment or decrement would overflow");
    // One lookup for the common case: the counter exists and is changed in place.
    let updated = ctx.db().modify(key, now, |value| {
        let Value::Str(bytes) = value else {
            return Err(Reply::wrong_type());
        };
        let current = num::parse_i64(bytes).ok_or_else(Reply::not_integer)?;
        let next = current.checked_add(delta).ok_or_else(overflow)?;
        *value = Value::from_i64(next);
        Ok(next)
    });
    let reply = match updated {
        Some(Ok(next)) => Reply::Int(next),
        Some(Err(reply)) => return reply,
        None => {
            ctx.db().insert(key, Value::from_i64(delta), None, now);
            Reply::Int(delta)
        }
    };
    ctx.notify(notify::STRING, "incrby", key);
    reply
}

fn incr(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ctx, &argv[1], 1)
}

fn decr(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    incr_by(ctx, &argv[1], -1)
}

fn incrby(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let delta = tri!(args::int(&argv[2]));
    incr_by(ctx, &argv[1], delta)
}

fn decrby(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let delta = tri!(args::int(&argv[2]));
    if delta == i64::MIN {
        return Reply::error("ERR decrement would overflow");
    }
    incr_by(ctx, &argv[1], -delta)
}

fn incrbyfloat(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let now = ctx.now_ms;
    // Redis's order: the key's type, its current value, then the increment.
    let current = match ctx.db().get(key, now) {
        None => LongDouble::from_i64(0),
        Some(entry) => match &entry.value {
            Value::Str(bytes) => match LongDouble::parse(bytes) {
                Some(v) => v,
                None => return Reply::not_float(),
            },
            _ => return Reply::wrong_type(),
        },
    };
    let Some(delta) = LongDouble::parse(&argv[2]) else {
        return Reply::not_float();
    };
    let sum = current.add(delta);
    if sum.is_nan() || sum.is_infinite() {
        return Reply::error("ERR increment would produce NaN or Infinity");
    }
    let text = Bytes::from(sum.to_human_string());
    ctx.db()
        .insert_keep_ttl(key, Value::string(SmallBytes::from_slice(&text)), now);
    ctx.notify(notify::STRING, "incrbyfloat", key);
    ctx.propagate_as(vec![
        Bytes::from_static(b"SET"),
        key.clone(),
        text.clone(),
        Bytes::from_static(b"KEEPTTL"),
    ]);
    Reply::Bulk(text)
}

#[cfg(test)]
mod tests {
    use crate::commands::testing::{bulk, Harness};
    use crate::reply::Reply;

    #[test]
    fn getset_and_set_get_replicate_as_plain_sets() {
        let mut h = Harness::new();
        h.run(&["SET", "k", "a"]);
        h.repl();
        assert_eq!(h.run(&["GETSET", "k", "b"]), bulk("a"));
        assert_eq!(h.repl(), ["SET k b"]);
        assert_eq!(h.run(&["SET", "k", "c", "GET", "XX", "get"]), bulk("b"));
        assert_eq!(h.repl(), ["SET k c XX"]);
        // A timed SET ... GET was already rewritten whole (PXAT).
        assert_eq!(h.run(&["SET", "k", "d", "GET", "EX", "10"]), bulk("c"));
        let ops = h.repl();
        assert_eq!(ops.len(), 1);
        assert!(ops[0].starts_with("SET k d PXAT "), "{ops:?}");
        // Nothing written: nothing replicated.
        assert_eq!(h.run(&["SET", "k", "e", "GET", "NX"]), bulk("d"));
        assert!(h.repl().is_empty());
        assert_eq!(h.run(&["GET", "k"]), bulk("d"));
        assert_eq!(h.run(&["GETSET", "missing", "x"]), Reply::Null);
    }
}
