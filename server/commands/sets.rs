//! Set commands: membership, random members, moves, the algebra (SINTER,
//! SUNION, SDIFF and their STORE forms, SINTERCARD) and SSCAN.
//!
//! Propagation follows Redis 7.0 (t_set.c): SPOP without a count becomes
//! `SREM key member`; SPOP with a count becomes one `SREM key member` per
//! popped member (the executor wraps several in MULTI/EXEC, as Redis's
//! `alsoPropagate` does), or `DEL key` when it pops the whole set. Everything
//! else is propagated as sent when it changed the dataset. Type checks come
//! before any change, so a refused command changes nothing; a command that
//! changes nothing (SADD of present members, SREM of absent ones, a STORE
//! form with an empty result and no destination) is not propagated.
//!
//! Keyspace events are Redis's: `sadd`/`srem`/`spop` for a change (SMOVE:
//! `srem` on the source, then `sadd` on the destination if the member is new
//! there), `del` when a set empties, `sinterstore`/`sunionstore`/
//! `sdiffstore` for a stored result, or `del` when an empty result deleted
//! the destination.
//!
//! Results are built the way Redis builds them, so encodings match: the
//! algebra adds members one by one to a fresh set (an intset until a
//! non-integer or the entry limit converts it), SDIFF picks Redis's algorithm
//! by the same cost estimate, and SPOP keeping few members rebuilds the set.
//!
//! The multi-key commands first look every key up in order (type checks and
//! hit/miss counts as in Redis), then read the sets one at a time: the
//! intersection filters the smallest set's members against each other set.

use std::collections::HashSet;

use bytes::Bytes;
use tandem_storage::types::set::{Member, SetValue};
use tandem_storage::types::Limits;
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::hashes::{
    lookup_read, lookup_write, positive_count, sample_distinct, scan_reply, signed_count, ScanOpts,
    SAMPLE_STRATEGY_MUL,
};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

const RF: u32 = READONLY | FAST;
const W: u32 = WRITE | DENYOOM;

const SCAN_COMPLEXITY: &str = "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..";
const INTER_COMPLEXITY: &str =
    "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.";
const UNION_COMPLEXITY: &str = "O(N) where N is the total number of elements in all given sets.";

/// SINTERCARD's keys follow a count: Redis reports no fixed key range.
const KEYNUM: KeySpec = KeySpec::NONE;

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, sadd)
        .doc("set", "1.0.0", "Add one or more members to a set")
        .complexity("O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("srem", -3, WRITE | FAST, KeySpec::ONE, srem)
        .doc("set", "1.0.0", "Remove one or more members from a set")
        .complexity("O(N) where N is the number of members to be removed.")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("smembers", 2, READONLY, KeySpec::ONE, smembers)
        .doc("set", "1.0.0", "Get all the members in a set")
        .complexity("O(N) where N is the set cardinality.")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sismember", 3, RF, KeySpec::ONE, sismember)
        .doc(
            "set",
            "1.0.0",
            "Determine if a given value is a member of a set",
        )
        .complexity("O(1)")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("smismember", -3, RF, KeySpec::ONE, smismember)
        .doc(
            "set",
            "6.2.0",
            "Returns the membership associated with the given elements for a set",
        )
        .complexity("O(N) where N is the number of elements being checked for membership")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("scard", 2, RF, KeySpec::ONE, scard)
        .doc("set", "1.0.0", "Get the number of members in a set")
        .complexity("O(1)")
        .acl(&["read", "set", "fast"]),
    CommandSpec::new("spop", -2, WRITE | FAST, KeySpec::ONE, spop)
        .doc(
            "set",
            "1.0.0",
            "Remove and return one or multiple random members from a set",
        )
        .complexity("Without the count argument O(1), otherwise O(N) where N is the value of the passed count.")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("srandmember", -2, READONLY, KeySpec::ONE, srandmember)
        .doc(
            "set",
            "1.0.0",
            "Get one or multiple random members from a set",
        )
        .complexity("Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.")
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("smove", 4, WRITE | FAST, KeySpec::TWO, smove)
        .doc("set", "1.0.0", "Move a member from one set to another")
        .complexity("O(1)")
        .acl(&["write", "set", "fast"]),
    CommandSpec::new("sinter", -2, READONLY, KeySpec::ALL, sinter)
        .doc("set", "1.0.0", "Intersect multiple sets")
        .complexity(INTER_COMPLEXITY)
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sintercard", -3, READONLY | MOVABLE_KEYS, KEYNUM, sintercard)
        .doc(
            "set",
            "7.0.0",
            "Intersect multiple sets and return the cardinality of the result",
        )
        .complexity(INTER_COMPLEXITY)
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sunion", -2, READONLY, KeySpec::ALL, sunion)
        .doc("set", "1.0.0", "Add multiple sets")
        .complexity(UNION_COMPLEXITY)
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sdiff", -2, READONLY, KeySpec::ALL, sdiff)
        .doc("set", "1.0.0", "Subtract multiple sets")
        .complexity(UNION_COMPLEXITY)
        .acl(&["read", "set", "slow"]),
    CommandSpec::new("sinterstore", -3, W, KeySpec::ALL, sinterstore)
        .doc(
            "set",
            "1.0.0",
            "Intersect multiple sets and store the resulting set in a key",
        )
        .complexity(INTER_COMPLEXITY)
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sunionstore", -3, W, KeySpec::ALL, sunionstore)
        .doc(
            "set",
            "1.0.0",
            "Add multiple sets and store the resulting set in a key",
        )
        .complexity(UNION_COMPLEXITY)
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sdiffstore", -3, W, KeySpec::ALL, sdiffstore)
        .doc(
            "set",
            "1.0.0",
            "Subtract multiple sets and store the resulting set in a key",
        )
        .complexity(UNION_COMPLEXITY)
        .acl(&["write", "set", "slow"]),
    CommandSpec::new("sscan", -3, READONLY, KeySpec::ONE, sscan)
        .doc("set", "2.8.0", "Incrementally iterate Set elements")
        .complexity(SCAN_COMPLEXITY)
        .acl(&["read", "set", "slow"]),
];

/// Redis's SPOP rebuilds the set from the members it keeps when it pops at
/// least this many times as many as it keeps.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

fn as_set(value: Option<&Value>) -> Result<Option<&SetValue>, Reply> {
    match value {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

fn read_set<'c>(ctx: &'c mut ExecCtx<'_>, key: &[u8]) -> Result<Option<&'c SetValue>, Reply> {
    as_set(lookup_read(ctx, key))
}

fn write_set<'c>(ctx: &'c mut ExecCtx<'_>, key: &[u8]) -> Result<Option<&'c SetValue>, Reply> {
    as_set(lookup_write(ctx, key))
}

/// A set already looked up by this command: no statistics, no access time.
fn peek_set<'c>(ctx: &'c mut ExecCtx<'_>, key: &[u8]) -> Option<&'c SetValue> {
    let now = ctx.now_ms;
    match ctx.db().peek(key, now).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// Changes the set at `key` (which the caller found to be a set, or absent
/// when `exists` is false: then a new set is created and stored). Deletes
/// the key if the change leaves the set empty. Raises the keyspace event
/// `event`, then `del` if the key went, as Redis's set commands do.
fn update_set<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    exists: bool,
    event: &'static str,
    f: impl FnOnce(&mut SetValue, &Limits) -> R,
) -> R {
    let now = ctx.now_ms;
    let limits = ctx.limits();
    if !exists {
        let mut s = SetValue::new();
        let r = f(&mut s, &limits);
        if !s.is_empty() {
            ctx.db().insert(key, Value::Set(Box::new(s)), None, now);
        }
        ctx.notify(notify::SET, event, key);
        return r;
    }
    let (r, empty) = match ctx.db().get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::Set(s)) => {
            let r = f(s, &limits);
            (r, s.is_empty())
        }
        _ => unreachable!("the caller checked that the key holds a set"),
    };
    if empty {
        ctx.db().remove(key, now);
    }
    ctx.notify(notify::SET, event, key);
    if empty {
        ctx.notify(notify::GENERIC, "del", key);
    }
    r
}

fn owned(m: Member<'_>) -> SmallBytes {
    m.with_bytes(SmallBytes::from_slice)
}

fn bulk(m: Member<'_>) -> Reply {
    m.with_bytes(Reply::bulk_from)
}

fn members_reply(s: &SetValue) -> Vec<Reply> {
    s.iter().map(bulk).collect()
}

/// A fresh set holding `members`, built as Redis builds result sets.
fn collect_set<'m>(members: impl IntoIterator<Item = Member<'m>>, limits: &Limits) -> SetValue {
    let mut out = SetValue::new();
    for m in members {
        m.with_bytes(|b| out.add(b, limits));
    }
    out
}

fn sadd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, members) = (&argv[1], &argv[2..]);
    let (exists, any_new) = match tri!(write_set(ctx, key)) {
        None => (false, true),
        Some(s) => (true, members.iter().any(|m| !s.contains(m))),
    };
    if !any_new {
        return Reply::Int(0);
    }
    let added = update_set(ctx, key, exists, "sadd", |s, limits| {
        members.iter().filter(|m| s.add(m, limits)).count()
    });
    Reply::Int(added as i64)
}

fn srem(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, members) = (&argv[1], &argv[2..]);
    let any = match tri!(write_set(ctx, key)) {
        None => false,
        Some(s) => members.iter().any(|m| s.contains(m)),
    };
    if !any {
        return Reply::Int(0);
    }
    let removed = update_set(ctx, key, true, "srem", |s, _| {
        members.iter().filter(|m| s.remove(m)).count()
    });
    Reply::Int(removed as i64)
}

fn smembers(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let s = tri!(read_set(ctx, &argv[1]));
    Reply::Set(s.map(members_reply).unwrap_or_default())
}

fn sismember(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let s = tri!(read_set(ctx, &argv[1]));
    Reply::Int(i64::from(s.is_some_and(|s| s.contains(&argv[2]))))
}

fn smismember(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let s = tri!(read_set(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| Reply::Int(i64::from(s.is_some_and(|s| s.contains(m)))))
            .collect(),
    )
}

fn scard(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let s = tri!(read_set(ctx, &argv[1]));
    Reply::Int(s.map_or(0, |s| s.len() as i64))
}

fn spop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => {}
        3 => return spop_count(ctx, argv),
        _ => return Reply::syntax_error(),
    }
    let key = &argv[1];
    let Some(member) = tri!(write_set(ctx, key)).and_then(|s| s.random().map(owned)) else {
        return Reply::Null;
    };
    update_set(ctx, key, true, "spop", |s, _| s.remove(&member));
    ctx.propagate_as(vec![
        Bytes::from_static(b"SREM"),
        key.clone(),
        Bytes::copy_from_slice(&member),
    ]);
    Reply::bulk_from(&member)
}

fn spop_count(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let count = tri!(positive_count(&argv[2]));
    let limits = ctx.limits();
    let Some(s) = tri!(write_set(ctx, key)) else {
        return Reply::Set(Vec::new());
    };
    if count == 0 {
        return Reply::Set(Vec::new());
    }
    let size = s.len() as u64;
    if count >= size {
        // The whole set, as Redis answers it (through a union into a fresh set).
        let all = members_reply(&collect_set(s.iter(), &limits));
        let now = ctx.now_ms;
        ctx.db().remove(key, now);
        ctx.notify(notify::SET, "spop", key);
        ctx.notify(notify::GENERIC, "del", key);
        ctx.propagate_as(vec![Bytes::from_static(b"DEL"), key.clone()]);
        return Reply::Set(all);
    }
    let remaining = size - count;
    let popped: Vec<SmallBytes> = update_set(ctx, key, true, "spop", |s, limits| {
        if remaining * SPOP_MOVE_STRATEGY_MUL > count {
            (0..count)
                .map(|_| {
                    let m = owned(s.random().expect("fewer pops than members"));
                    s.remove(&m);
                    m
                })
                .collect()
        } else {
            let mut keep = SetValue::new();
            for _ in 0..remaining {
                let m = owned(s.random().expect("fewer kept than members"));
                keep.add(&m, limits);
                s.remove(&m);
            }
            let popped = s.iter().map(owned).collect();
            *s = keep;
            popped
        }
    });
    for m in &popped {
        ctx.propagate_as(vec![
            Bytes::from_static(b"SREM"),
            key.clone(),
            Bytes::copy_from_slice(m),
        ]);
    }
    Reply::Set(popped.iter().map(|m| Reply::bulk_from(m)).collect())
}

fn srandmember(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match argv.len() {
        2 => {
            return match tri!(read_set(ctx, &argv[1])).and_then(|s| s.random()) {
                Some(m) => bulk(m),
                None => Reply::Null,
            }
        }
        3 => {}
        _ => return Reply::syntax_error(),
    }
    let count = tri!(signed_count(&argv[2]));
    let Some(s) = tri!(read_set(ctx, &argv[1])) else {
        return Reply::Array(Vec::new());
    };
    let wanted = count.unsigned_abs();
    if wanted == 0 || s.is_empty() {
        return Reply::Array(Vec::new());
    }
    let size = s.len() as u64;
    if count < 0 || wanted == 1 {
        // With repetitions, in random order.
        return Reply::Array((0..wanted).filter_map(|_| s.random().map(bulk)).collect());
    }
    if wanted >= size {
        return Reply::Array(members_reply(s));
    }
    let chosen: Vec<Member<'_>> = if wanted * SAMPLE_STRATEGY_MUL > size {
        sample_distinct(s.iter().collect(), wanted as usize)
    } else {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while (out.len() as u64) < wanted {
            if let Some(m) = s.random() {
                if seen.insert(m) {
                    out.push(m);
                }
            }
        }
        out
    };
    Reply::Array(chosen.into_iter().map(bulk).collect())
}

fn smove(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (src, dst, member) = (&argv[1], &argv[2], &argv[3]);
    // Redis looks both keys up before deciding anything.
    let src_state =
        lookup_write(ctx, src).map(|v| as_set(Some(v)).map(|s| s.map(|s| s.contains(member))));
    let dst_state =
        lookup_write(ctx, dst).map(|v| as_set(Some(v)).map(|s| s.map(|s| s.contains(member))));
    let in_src = match src_state {
        None => return Reply::Int(0),
        Some(Err(e)) => return e,
        Some(Ok(found)) => found.unwrap_or(false),
    };
    let (dst_exists, in_dst) = match dst_state {
        None => (false, false),
        Some(Err(e)) => return e,
        Some(Ok(found)) => (true, found.unwrap_or(false)),
    };
    if src == dst || !in_src {
        return Reply::Int(i64::from(in_src));
    }
    update_set(ctx, src, true, "srem", |s, _| s.remove(member));
    if !in_dst {
        update_set(ctx, dst, dst_exists, "sadd", |s, limits| {
            s.add(member, limits)
        });
    }
    // WATCH: the source changed; the destination only if the member is new.
    let db = ctx.client.db;
    crate::multi::touch_key(ctx.data, db, src);
    if !in_dst {
        crate::multi::touch_key(ctx.data, db, dst);
    }
    Reply::Int(1)
}

/// Looks every key up for a read, in order, as Redis's set algebra does:
/// the sizes of the sets (`None` for a missing key), or the first WRONGTYPE.
fn lookup_all(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Result<Vec<Option<usize>>, Reply> {
    keys.iter()
        .map(|k| Ok(read_set(ctx, k)?.map(SetValue::len)))
        .collect()
}

/// The intersection of `keys`, in the iteration order of the smallest set.
fn intersection(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Result<Vec<SmallBytes>, Reply> {
    let sizes = lookup_all(ctx, keys)?;
    if sizes.iter().any(Option::is_none) {
        return Ok(Vec::new());
    }
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| sizes[i]);
    let first = &keys[order[0]];
    let mut result: Vec<SmallBytes> = peek_set(ctx, first)
        .map(|s| s.iter().map(owned).collect())
        .unwrap_or_default();
    for &i in &order[1..] {
        if result.is_empty() {
            break;
        }
        if keys[i] == *first {
            continue;
        }
        match peek_set(ctx, &keys[i]) {
            Some(s) => result.retain(|m| s.contains(m)),
            None => result.clear(),
        }
    }
    Ok(result)
}

fn sinter(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let result = tri!(intersection(ctx, &argv[1..]));
    Reply::Set(result.iter().map(|m| Reply::bulk_from(m)).collect())
}

fn sintercard(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let numkeys = match args::int(&argv[1]) {
        Ok(n) if n >= 1 => n as u64,
        _ => return Reply::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > (argv.len() - 2) as u64 {
        return Reply::error("ERR Number of keys can't be greater than number of args");
    }
    let end = 2 + numkeys as usize;
    let mut limit = 0u64;
    let mut i = end;
    while i < argv.len() {
        if is(&argv[i], "limit") && i + 1 < argv.len() {
            limit = match args::int(&argv[i + 1]) {
                Ok(n) if n >= 0 => n as u64,
                _ => return Reply::error("ERR LIMIT can't be negative"),
            };
            i += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let card = tri!(intersection(ctx, &argv[2..end])).len() as u64;
    Reply::Int(if limit > 0 { card.min(limit) } else { card } as i64)
}

/// Stores a result set at `dst` (or deletes `dst` when it is empty) and
/// answers its size, as the STORE forms do: raises `event`, or `del` when
/// an empty result deleted an existing `dst`.
fn store(ctx: &mut ExecCtx<'_>, dst: &[u8], result: SetValue, event: &'static str) -> Reply {
    let now = ctx.now_ms;
    let n = result.len();
    if n > 0 {
        ctx.db()
            .insert(dst, Value::Set(Box::new(result)), None, now);
        ctx.notify(notify::SET, event, dst);
    } else if ctx.db().remove(dst, now).is_some() {
        ctx.notify(notify::GENERIC, "del", dst);
    }
    Reply::Int(n as i64)
}

fn sinterstore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let result = tri!(intersection(ctx, &argv[2..]));
    let limits = ctx.limits();
    let set = collect_set(result.iter().map(|m| Member::Bytes(m)), &limits);
    store(ctx, &argv[1], set, "sinterstore")
}

fn union(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Result<SetValue, Reply> {
    let sizes = lookup_all(ctx, keys)?;
    let limits = ctx.limits();
    let mut out = SetValue::new();
    for (key, size) in keys.iter().zip(&sizes) {
        if size.is_none() {
            continue;
        }
        if let Some(s) = peek_set(ctx, key) {
            for m in s.iter() {
                m.with_bytes(|b| out.add(b, &limits));
            }
        }
    }
    Ok(out)
}

/// The first set minus the others, with Redis's choice of algorithm (it
/// decides the encoding of the result): filter the first set's members
/// (cheap when the sets are similar in size), or add them all and remove
/// every member of the others.
fn difference(ctx: &mut ExecCtx<'_>, keys: &[Bytes]) -> Result<SetValue, Reply> {
    let sizes = lookup_all(ctx, keys)?;
    let limits = ctx.limits();
    let Some(first_size) = sizes[0] else {
        return Ok(SetValue::new());
    };
    let others: Vec<usize> = (1..keys.len()).filter(|&i| sizes[i].is_some()).collect();
    if others.iter().any(|&i| keys[i] == keys[0]) {
        return Ok(SetValue::new());
    }
    let algo_one_work = first_size * (others.len() + 1) / 2;
    let algo_two_work: usize = sizes.iter().flatten().sum();
    if algo_one_work <= algo_two_work {
        let mut candidates: Vec<SmallBytes> = peek_set(ctx, &keys[0])
            .map(|s| s.iter().map(owned).collect())
            .unwrap_or_default();
        for &i in &others {
            if candidates.is_empty() {
                break;
            }
            if let Some(s) = peek_set(ctx, &keys[i]) {
                candidates.retain(|m| !s.contains(m));
            }
        }
        Ok(collect_set(
            candidates.iter().map(|m| Member::Bytes(m)),
            &limits,
        ))
    } else {
        let mut out = peek_set(ctx, &keys[0])
            .map(|s| collect_set(s.iter(), &limits))
            .unwrap_or_default();
        for &i in &others {
            if out.is_empty() {
                break;
            }
            if let Some(s) = peek_set(ctx, &keys[i]) {
                for m in s.iter() {
                    m.with_bytes(|b| out.remove(b));
                }
            }
        }
        Ok(out)
    }
}

fn sunion(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let out = tri!(union(ctx, &argv[1..]));
    Reply::Set(members_reply(&out))
}

fn sdiff(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let out = tri!(difference(ctx, &argv[1..]));
    Reply::Set(members_reply(&out))
}

fn sunionstore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let out = tri!(union(ctx, &argv[2..]));
    store(ctx, &argv[1], out, "sunionstore")
}

fn sdiffstore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let out = tri!(difference(ctx, &argv[2..]));
    store(ctx, &argv[1], out, "sdiffstore")
}

fn sscan(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let cursor = tri!(args::scan_cursor(&argv[2]));
    let Some(s) = tri!(read_set(ctx, &argv[1])) else {
        return scan_reply(0, Vec::new());
    };
    let opts = tri!(ScanOpts::parse(&argv[3..]));
    let mut items = Vec::new();
    let next = s.scan(cursor, opts.count, |m| {
        m.with_bytes(|b| {
            if opts.matches(b) {
                items.push(Reply::bulk_from(b));
            }
        })
    });
    scan_reply(next, items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::hashes::tests::{arr, b, err, sorted, Harness};
    use crate::reply::Proto;

    #[test]
    fn table_entries_match_redis() {
        let t = crate::command::table();
        let spec = |n: &str| t.lookup(n.as_bytes()).expect("registered");
        assert_eq!(spec("sadd").flags, WRITE | DENYOOM | FAST);
        assert_eq!(spec("spop").flags, WRITE | FAST);
        assert_eq!(spec("smove").keys.last, 2);
        assert_eq!(spec("sintercard").keys.first, 0);
        assert_eq!(spec("sinterstore").flags, WRITE | DENYOOM);
        assert_eq!(spec("sintercard").since, "7.0.0");
        assert_eq!(spec("sscan").group, "set");
    }

    fn set(items: &[&str]) -> Reply {
        Reply::Set(items.iter().map(|s| b(s)).collect())
    }

    #[test]
    fn add_remove_and_membership() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SADD", "s", "3", "1", "2", "1"]), Reply::Int(3));
        assert_eq!(h.run(&["SADD", "s", "1"]), Reply::Int(0));
        assert_eq!(h.encoding("s"), b("intset"));
        assert_eq!(h.run(&["SMEMBERS", "s"]), set(&["1", "2", "3"]));
        assert_eq!(h.run(&["SMEMBERS", "nokey"]), set(&[]));
        assert_eq!(h.run(&["SISMEMBER", "s", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["SISMEMBER", "s", "02"]), Reply::Int(0));
        assert_eq!(h.run(&["SISMEMBER", "nokey", "2"]), Reply::Int(0));
        assert_eq!(
            h.run(&["SMISMEMBER", "s", "1", "x", "3"]),
            Reply::Array(vec![Reply::Int(1), Reply::Int(0), Reply::Int(1)])
        );
        assert_eq!(
            h.run(&["SMISMEMBER", "nokey", "1"]),
            Reply::Array(vec![Reply::Int(0)])
        );
        assert_eq!(h.run(&["SCARD", "s"]), Reply::Int(3));
        assert_eq!(h.run(&["SCARD", "nokey"]), Reply::Int(0));
        assert_eq!(h.run(&["SADD", "s", "a"]), Reply::Int(1));
        assert_eq!(h.encoding("s"), b("hashtable"));
        assert_eq!(h.run(&["SREM", "s", "a", "a", "9", "1"]), Reply::Int(2));
        assert_eq!(h.run(&["SREM", "nokey", "a"]), Reply::Int(0));
        assert_eq!(h.run(&["SREM", "s", "2", "3"]), Reply::Int(2));
        assert_eq!(h.run(&["EXISTS", "s"]), Reply::Int(0));
    }

    #[test]
    fn wrong_type_changes_nothing() {
        let mut h = Harness::new();
        h.run(&["SET", "str", "x"]);
        h.run(&["SADD", "s", "1"]);
        h.repl();
        let dirty = h.dirty();
        for cmd in [
            &["SADD", "str", "a"][..],
            &["SREM", "str", "a"],
            &["SMEMBERS", "str"],
            &["SISMEMBER", "str", "a"],
            &["SMISMEMBER", "str", "a"],
            &["SCARD", "str"],
            &["SPOP", "str"],
            &["SPOP", "str", "2"],
            &["SRANDMEMBER", "str"],
            &["SRANDMEMBER", "str", "2"],
            &["SMOVE", "str", "s", "a"],
            &["SMOVE", "s", "str", "1"],
            &["SINTER", "s", "str"],
            &["SINTER", "nokey", "str"],
            &["SINTERCARD", "2", "s", "str"],
            &["SUNION", "s", "str"],
            &["SDIFF", "s", "str"],
            &["SDIFF", "nokey", "str"],
            &["SINTERSTORE", "d", "s", "str"],
            &["SUNIONSTORE", "d", "str"],
            &["SDIFFSTORE", "d", "s", "str"],
            &["SSCAN", "str", "0"],
        ] {
            assert_eq!(h.run(cmd), Reply::wrong_type(), "{cmd:?}");
        }
        // A missing source answers 0 before the destination's type is checked.
        assert_eq!(h.run(&["SMOVE", "nokey", "str", "a"]), Reply::Int(0));
        assert_eq!(h.dirty(), dirty);
        assert!(h.repl().is_empty());
    }

    #[test]
    fn spop_and_propagation() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SPOP", "nokey"]), Reply::Null);
        assert_eq!(h.run(&["SPOP", "nokey", "3"]), set(&[]));
        h.run(&[
            "SADD", "s", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10",
        ]);
        h.repl();
        let Reply::Bulk(one) = h.run(&["SPOP", "s"]) else {
            panic!("not a bulk");
        };
        let one = String::from_utf8_lossy(&one).into_owned();
        assert_eq!(h.repl(), vec![format!("SREM s {one}")]);
        // Few popped: picked one by one.
        let popped = sorted(h.run(&["SPOP", "s", "3"]));
        assert_eq!(popped.len(), 3);
        let mut expected: Vec<String> = popped.iter().map(|m| format!("SREM s {m}")).collect();
        let mut got = h.repl();
        expected.sort();
        got.sort();
        assert_eq!(got, expected);
        assert_eq!(h.run(&["SCARD", "s"]), Reply::Int(6));
        // Most popped: the kept member is rebuilt into a fresh set.
        let popped = sorted(h.run(&["SPOP", "s", "5"]));
        assert_eq!(popped.len(), 5);
        assert_eq!(h.repl().len(), 5);
        assert_eq!(h.run(&["SCARD", "s"]), Reply::Int(1));
        // All popped: DEL.
        assert_eq!(sorted(h.run(&["SPOP", "s", "5"])).len(), 1);
        assert_eq!(h.repl(), vec!["DEL s"]);
        assert_eq!(h.run(&["EXISTS", "s"]), Reply::Int(0));
        h.run(&["SADD", "s", "1"]);
        assert_eq!(h.run(&["SPOP", "s", "0"]), set(&[]));
        assert_eq!(
            h.run(&["SPOP", "s", "-1"]),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(
            h.run(&["SPOP", "s", "x"]),
            err("ERR value is out of range, must be positive")
        );
        assert_eq!(h.run(&["SPOP", "s", "1", "2"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SPOP", "s"]), b("1"));
        assert_eq!(h.run(&["EXISTS", "s"]), Reply::Int(0));
    }

    /// Redis 7.0.15's stream for `SPOP s 2` on a larger set, as a replica
    /// sees it: one SREM per member, wrapped in MULTI/EXEC by the executor.
    #[test]
    fn spop_count_stream_is_wrapped_like_redis() {
        let mut h = Harness::new();
        h.run(&["SADD", "s", "a", "b", "c", "d", "e", "f"]);
        h.repl_raw();
        let popped = sorted(h.run(&["SPOP", "s", "2"]));
        let stream = h.repl_raw();
        assert_eq!(stream.len(), 4, "{stream:?}");
        assert_eq!(stream[0], "MULTI");
        assert_eq!(stream[3], "EXEC");
        let mut srems = stream[1..3].to_vec();
        srems.sort();
        assert_eq!(
            srems,
            popped
                .iter()
                .map(|m| format!("SREM s {m}"))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn spop_of_a_whole_set_answers_like_a_union() {
        let mut h = Harness::new();
        h.run(&["SADD", "s", "a", "3", "1", "2"]);
        h.run(&["SREM", "s", "a"]);
        assert_eq!(h.encoding("s"), b("hashtable"));
        assert_eq!(h.run(&["SPOP", "s", "10"]), set(&["1", "2", "3"]));
    }

    #[test]
    fn srandmember_counts() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["SRANDMEMBER", "nokey"]), Reply::Null);
        assert_eq!(h.run(&["SRANDMEMBER", "nokey", "5"]), arr(&[]));
        h.run(&["SADD", "s", "1", "2", "3"]);
        assert_eq!(h.run(&["SRANDMEMBER", "s", "0"]), arr(&[]));
        assert_eq!(h.run(&["SRANDMEMBER", "s", "5"]), arr(&["1", "2", "3"]));
        assert_eq!(sorted(h.run(&["SRANDMEMBER", "s", "-7"])).len(), 7);
        let two = sorted(h.run(&["SRANDMEMBER", "s", "2"]));
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        assert_eq!(
            h.run(&["SRANDMEMBER", "s", "1", "2"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["SRANDMEMBER", "s", "-9223372036854775808"]),
            err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
        );
        for i in 0..200 {
            h.run(&["SADD", "big", &format!("m{i}")]);
        }
        let ten = sorted(h.run(&["SRANDMEMBER", "big", "10"]));
        assert_eq!(ten.len(), 10);
        assert!(ten.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn smove_cases() {
        let mut h = Harness::new();
        h.run(&["SADD", "a", "1", "2"]);
        h.repl();
        assert_eq!(h.run(&["SMOVE", "a", "b", "1"]), Reply::Int(1));
        assert_eq!(h.run(&["SMOVE", "a", "b", "9"]), Reply::Int(0));
        assert_eq!(h.run(&["SMOVE", "a", "a", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["SMOVE", "a", "a", "9"]), Reply::Int(0));
        assert_eq!(h.run(&["SMOVE", "a", "b", "2"]), Reply::Int(1));
        assert_eq!(h.run(&["EXISTS", "a"]), Reply::Int(0));
        assert_eq!(h.run(&["SMEMBERS", "b"]), set(&["1", "2"]));
        h.run(&["SADD", "c", "x", "1"]);
        // Already in the destination: removed from the source only.
        assert_eq!(h.run(&["SMOVE", "c", "b", "1"]), Reply::Int(1));
        assert_eq!(h.run(&["SMEMBERS", "c"]), set(&["x"]));
        assert_eq!(
            h.repl(),
            vec!["SMOVE a b 1", "SMOVE a b 2", "SADD c x 1", "SMOVE c b 1"]
        );
    }

    #[test]
    fn algebra() {
        let mut h = Harness::new();
        h.run(&["SADD", "a", "1", "2", "3", "4"]);
        h.run(&["SADD", "b", "2", "3", "x"]);
        h.run(&["SADD", "c", "3", "4", "2"]);
        assert_eq!(sorted(h.run(&["SINTER", "a", "b", "c"])), vec!["2", "3"]);
        assert_eq!(h.run(&["SINTER", "a", "c"]), set(&["2", "3", "4"]));
        assert_eq!(h.run(&["SINTER", "a", "nokey"]), set(&[]));
        assert_eq!(h.run(&["SINTER", "a", "a"]), set(&["1", "2", "3", "4"]));
        assert_eq!(h.run(&["SINTERCARD", "3", "a", "b", "c"]), Reply::Int(2));
        assert_eq!(
            h.run(&["SINTERCARD", "2", "a", "c", "LIMIT", "2"]),
            Reply::Int(2)
        );
        assert_eq!(
            h.run(&["SINTERCARD", "2", "a", "c", "limit", "0"]),
            Reply::Int(3)
        );
        assert_eq!(
            h.run(&["SINTERCARD", "0", "a"]),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            h.run(&["SINTERCARD", "x", "a"]),
            err("ERR numkeys should be greater than 0")
        );
        assert_eq!(
            h.run(&["SINTERCARD", "3", "a", "b"]),
            err("ERR Number of keys can't be greater than number of args")
        );
        assert_eq!(
            h.run(&["SINTERCARD", "1", "a", "LIMIT", "-1"]),
            err("ERR LIMIT can't be negative")
        );
        assert_eq!(
            h.run(&["SINTERCARD", "1", "a", "LIMIT"]),
            err("ERR syntax error")
        );
        assert_eq!(
            sorted(h.run(&["SUNION", "a", "b", "nokey"])),
            vec!["1", "2", "3", "4", "x"]
        );
        assert_eq!(h.run(&["SUNION", "a", "c"]), set(&["1", "2", "3", "4"]));
        assert_eq!(h.run(&["SDIFF", "a", "b"]), set(&["1", "4"]));
        assert_eq!(h.run(&["SDIFF", "a", "b", "c"]), set(&["1"]));
        assert_eq!(h.run(&["SDIFF", "a", "nokey"]), set(&["1", "2", "3", "4"]));
        assert_eq!(h.run(&["SDIFF", "nokey", "a"]), set(&[]));
        assert_eq!(h.run(&["SDIFF", "a", "c", "a"]), set(&[]));

        h.repl();
        assert_eq!(h.run(&["SINTERSTORE", "d", "a", "c"]), Reply::Int(3));
        assert_eq!(h.encoding("d"), b("intset"));
        assert_eq!(h.run(&["SUNIONSTORE", "d", "a", "b"]), Reply::Int(5));
        assert_eq!(h.encoding("d"), b("hashtable"));
        assert_eq!(h.run(&["SDIFFSTORE", "d", "b", "a"]), Reply::Int(1));
        assert_eq!(h.run(&["SMEMBERS", "d"]), set(&["x"]));
        h.run(&["SET", "str", "v"]);
        h.run(&["EXPIRE", "str", "100"]);
        assert_eq!(h.run(&["SINTERSTORE", "str", "a", "nokey"]), Reply::Int(0));
        assert_eq!(h.run(&["EXISTS", "str"]), Reply::Int(0));
        assert_eq!(h.run(&["SINTERSTORE", "str", "a", "nokey"]), Reply::Int(0));
        h.run(&["SET", "str", "v"]);
        h.run(&["EXPIRE", "str", "100"]);
        assert_eq!(h.run(&["SUNIONSTORE", "str", "a"]), Reply::Int(4));
        assert_eq!(h.run(&["TTL", "str"]), Reply::Int(-1));
        let repl = h.repl();
        assert_eq!(
            repl.iter()
                .filter(|l| !l.starts_with("SET") && !l.starts_with("PEXPIREAT"))
                .collect::<Vec<_>>(),
            vec![
                "SINTERSTORE d a c",
                "SUNIONSTORE d a b",
                "SDIFFSTORE d b a",
                "SINTERSTORE str a nokey",
                "SUNIONSTORE str a",
            ]
        );
    }

    #[test]
    fn sdiff_encoding_follows_redis_algorithm() {
        let mut h = Harness::new();
        // |a| * 2 / 2 = 2 <= |a| + |b| = 3: filtering, the result is an intset.
        h.run(&["SADD", "a", "1", "x"]);
        h.run(&["SADD", "b", "x"]);
        h.run(&["SDIFFSTORE", "d", "a", "b"]);
        assert_eq!(h.encoding("d"), b("intset"));
        // |a| * 3 / 2 = 15 > |a| + |b| + |c| = 12: elimination, a hashtable.
        h.run(&["SADD", "a", "2", "3", "4", "5", "6", "7", "8", "9"]);
        h.run(&["SADD", "c", "y"]);
        h.run(&["SDIFFSTORE", "e", "a", "b", "c"]);
        assert_eq!(
            sorted(h.run(&["SMEMBERS", "e"])),
            vec!["1", "2", "3", "4", "5", "6", "7", "8", "9"]
        );
        assert_eq!(h.encoding("e"), b("hashtable"));
    }

    #[test]
    fn encodings_cross_thresholds() {
        let mut h = Harness::new();
        h.config_set("set-max-intset-entries", "3");
        h.run(&["SADD", "s", "1", "2", "3"]);
        assert_eq!(h.encoding("s"), b("intset"));
        h.run(&["SADD", "s", "4"]);
        assert_eq!(h.encoding("s"), b("hashtable"));
        h.run(&["SREM", "s", "1", "2", "3"]);
        assert_eq!(h.encoding("s"), b("hashtable"));
        h.run(&["SADD", "t", "-0"]);
        assert_eq!(h.encoding("t"), b("hashtable"));
        // The union of two small intsets is too large for one.
        h.run(&["SADD", "u", "1", "2"]);
        h.run(&["SADD", "v", "3", "4"]);
        h.run(&["SUNIONSTORE", "w", "u", "v"]);
        assert_eq!(h.encoding("w"), b("hashtable"));
    }

    #[test]
    fn sscan_cases() {
        let mut h = Harness::new();
        h.run(&["SADD", "s", "10", "2", "3"]);
        assert_eq!(
            h.run(&["SSCAN", "s", "7", "MATCH", "*0"]),
            scan_reply(0, vec![b("10")])
        );
        assert_eq!(
            h.run(&["SSCAN", "s", "0", "COUNT", "1"]),
            scan_reply(0, vec![b("2"), b("3"), b("10")])
        );
        assert_eq!(h.run(&["SSCAN", "s", "1.5"]), err("ERR invalid cursor"));
        assert_eq!(h.run(&["SSCAN", "nokey", "0"]), scan_reply(0, vec![]));
        for i in 0..300 {
            h.run(&["SADD", "big", &format!("m{i}")]);
        }
        let mut cursor = "0".to_string();
        let mut seen = HashSet::new();
        loop {
            let Reply::Array(parts) = h.run(&["SSCAN", "big", &cursor, "MATCH", "m1*"]) else {
                panic!("not an array");
            };
            let [Reply::Bulk(next), Reply::Array(items)] = &parts[..] else {
                panic!("bad scan reply");
            };
            for item in items {
                let Reply::Bulk(m) = item else {
                    panic!("not a bulk");
                };
                assert!(m.starts_with(b"m1"));
                seen.insert(m.clone());
            }
            cursor = String::from_utf8_lossy(next).into_owned();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 111);
    }

    #[test]
    fn resp3_set_replies() {
        let mut h = Harness::new();
        h.client.proto = Proto::Resp3;
        h.run(&["SADD", "s", "1"]);
        assert_eq!(h.run(&["SMEMBERS", "s"]), set(&["1"]));
        assert_eq!(h.run(&["SRANDMEMBER", "s", "1"]), arr(&["1"]));
    }

    /// Digests observed on a real redis-server 7.0.15 after running exactly
    /// these commands on an empty server. Regenerate with:
    /// `redis-server --port 7551 --save "" --enable-debug-command yes`, then
    /// `redis-cli -p 7551` the same commands followed by `DEBUG DIGEST` and
    /// `DEBUG DIGEST-VALUE <key>`.
    #[test]
    fn digests_match_redis() {
        let mut h = Harness::new();
        h.run(&["SADD", "s1", "1", "2", "3", "-40000", "9223372036854775807"]);
        h.run(&["SADD", "s2", "a", "b", "12"]);
        h.run(&["HSET", "h", "f", "v"]);
        assert_eq!(h.digest(), REDIS_SET_DIGEST);
        assert_eq!(h.digest_value("s1"), REDIS_S1_DIGEST);
        assert_eq!(h.digest_value("s2"), REDIS_S2_DIGEST);
        // The same members in the other encoding digest the same.
        let mut t = Harness::new();
        t.config_set("set-max-intset-entries", "0");
        t.run(&["SADD", "s1", "9223372036854775807", "3", "2", "1", "-40000"]);
        t.run(&["SADD", "s2", "12", "b", "a"]);
        t.run(&["HSET", "h", "f", "v"]);
        assert_eq!(t.encoding("s1"), b("hashtable"));
        assert_eq!(t.digest(), REDIS_SET_DIGEST);
    }

    const REDIS_SET_DIGEST: &str = "2cf762b2ca2234b6d70142096d7fbaa1d6904f77";
    const REDIS_S1_DIGEST: &str = "d7ff9ea99a65b243b2c01b783f1c575a28a06aa8";
    const REDIS_S2_DIGEST: &str = "a6cb320b073705356139f26fb4e18858a07e0492";
}
