//! List commands: pushes, pops (single, counted, multi-key and blocking),
//! ranges, indexes, LREM/LTRIM/LINSERT/LPOS and the moves between lists.
//!
//! Rules shared by every handler, as in Redis 7.0:
//! - Arguments and types are checked before anything changes (a type probe
//!   does not count as a write), so a refused command changes nothing and is
//!   not propagated.
//! - A key whose list becomes empty is deleted.
//! - Every command that adds elements where a blocked pop might now succeed
//!   (the pushes, the destination of LMOVE/RPOPLPUSH) signals the key ready.
//! - Propagation: LMPOP and BLMPOP become `LPOP|RPOP key n` with the number
//!   actually popped; a served BLPOP/BRPOP becomes `LPOP|RPOP key`; BLMOVE
//!   becomes `LMOVE` and BRPOPLPUSH `RPOPLPUSH`. Everything else is
//!   propagated as it was given.
//! - Keyspace events follow Redis's: the command's event (`lpush`, `lpop`,
//!   `lrem`, ...) once per command that changed the list (LTRIM of an
//!   existing list always), then `del` when the list emptied; LMOVE raises
//!   the destination's push before the source's pop.
//! - Blocking forms that find nothing call [`ExecCtx::block`]; the server runs
//!   the same command again when a key is signalled ready, and answers the
//!   null reply passed to `block` at the timeout.

use bytes::Bytes;
use tandem_storage::num;
use tandem_storage::types::list::{End, ListValue};
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

const WF: u32 = WRITE | DENYOOM | FAST;
const RF: u32 = READONLY | FAST;
const BLOCK: u32 = WRITE | NOSCRIPT | BLOCKING;

/// BLPOP/BRPOP: every argument but the command and the trailing timeout.
const ALL_BUT_LAST: KeySpec = KeySpec {
    first: 1,
    last: -2,
    step: 1,
};

const PUSH_COMPLEXITY: &str = "O(1) for each element added, so O(N) to add N elements when the \
                               command is called with multiple arguments.";
const MPOP_COMPLEXITY: &str =
    "O(N+M) where N is the number of provided keys and M is the number of elements returned.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WF, KeySpec::ONE, lpush)
        .doc(
            "list",
            "1.0.0",
            "Prepend one or multiple elements to a list",
        )
        .complexity(PUSH_COMPLEXITY)
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("rpush", -3, WF, KeySpec::ONE, rpush)
        .doc("list", "1.0.0", "Append one or multiple elements to a list")
        .complexity(PUSH_COMPLEXITY)
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("lpushx", -3, WF, KeySpec::ONE, lpushx)
        .doc(
            "list",
            "2.2.0",
            "Prepend an element to a list, only if the list exists",
        )
        .complexity(PUSH_COMPLEXITY)
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("rpushx", -3, WF, KeySpec::ONE, rpushx)
        .doc(
            "list",
            "2.2.0",
            "Append an element to a list, only if the list exists",
        )
        .complexity(PUSH_COMPLEXITY)
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("lpop", -2, WRITE | FAST, KeySpec::ONE, lpop)
        .doc(
            "list",
            "1.0.0",
            "Remove and get the first elements in a list",
        )
        .complexity("O(N) where N is the number of elements returned")
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("rpop", -2, WRITE | FAST, KeySpec::ONE, rpop)
        .doc(
            "list",
            "1.0.0",
            "Remove and get the last elements in a list",
        )
        .complexity("O(N) where N is the number of elements returned")
        .acl(&["write", "list", "fast"]),
    CommandSpec::new("llen", 2, RF, KeySpec::ONE, llen)
        .doc("list", "1.0.0", "Get the length of a list")
        .complexity("O(1)")
        .acl(&["read", "list", "fast"]),
    CommandSpec::new("lrange", 4, READONLY, KeySpec::ONE, lrange)
        .doc("list", "1.0.0", "Get a range of elements from a list")
        .complexity(
            "O(S+N) where S is the distance of start offset from HEAD for small lists, from \
             nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the \
             specified range.",
        )
        .acl(&["read", "list", "slow"]),
    CommandSpec::new("lindex", 3, READONLY, KeySpec::ONE, lindex)
        .doc("list", "1.0.0", "Get an element from a list by its index")
        .complexity(
            "O(N) where N is the number of elements to traverse to get to the element at index. \
             This makes asking for the first or the last element of the list O(1).",
        )
        .acl(&["read", "list", "slow"]),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, KeySpec::ONE, lset)
        .doc(
            "list",
            "1.0.0",
            "Set the value of an element in a list by its index",
        )
        .complexity(
            "O(N) where N is the length of the list. Setting either the first or the last \
             element of the list is O(1).",
        )
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("lrem", 4, WRITE, KeySpec::ONE, lrem)
        .doc("list", "1.0.0", "Remove elements from a list")
        .complexity(
            "O(N+M) where N is the length of the list and M is the number of elements removed.",
        )
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("ltrim", 4, WRITE, KeySpec::ONE, ltrim)
        .doc("list", "1.0.0", "Trim a list to the specified range")
        .complexity("O(N) where N is the number of elements to be removed by the operation.")
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, KeySpec::ONE, linsert)
        .doc(
            "list",
            "2.2.0",
            "Insert an element before or after another element in a list",
        )
        .complexity(
            "O(N) where N is the number of elements to traverse before seeing the value pivot. \
             This means that inserting somewhere on the left end on the list (head) can be \
             considered O(1) and inserting somewhere on the right end (tail) is O(N).",
        )
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("lpos", -3, READONLY, KeySpec::ONE, lpos)
        .doc(
            "list",
            "6.0.6",
            "Return the index of matching elements on a list",
        )
        .complexity(
            "O(N) where N is the number of elements in the list, for the average case. When \
             searching for elements near the head or the tail of the list, or when the MAXLEN \
             option is provided, the command may run in constant time.",
        )
        .acl(&["read", "list", "slow"]),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, KeySpec::TWO, lmove)
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it",
        )
        .complexity("O(1)")
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, KeySpec::TWO, rpoplpush)
        .doc(
            "list",
            "1.2.0",
            "Remove the last element in a list, prepend it to another list and return it",
        )
        .complexity("O(1)")
        .acl(&["write", "list", "slow"]),
    // Redis declares LMPOP's keys with a `keynum` spec (movablekeys, legacy
    // triple 0 0 0): the triple is empty and COMMAND GETKEYS reads the count.
    CommandSpec::new("lmpop", -4, WRITE | MOVABLE_KEYS, KeySpec::NONE, lmpop)
        .doc("list", "7.0.0", "Pop elements from a list")
        .complexity(MPOP_COMPLEXITY)
        .acl(&["write", "list", "slow"]),
    CommandSpec::new("blpop", -3, BLOCK, ALL_BUT_LAST, blpop)
        .doc(
            "list",
            "2.0.0",
            "Remove and get the first element in a list, or block until one is available",
        )
        .complexity("O(N) where N is the number of provided keys.")
        .acl(&["write", "list", "slow", "blocking"]),
    CommandSpec::new("brpop", -3, BLOCK, ALL_BUT_LAST, brpop)
        .doc(
            "list",
            "2.0.0",
            "Remove and get the last element in a list, or block until one is available",
        )
        .complexity("O(N) where N is the number of provided keys.")
        .acl(&["write", "list", "slow", "blocking"]),
    CommandSpec::new("blmove", 6, BLOCK | DENYOOM, KeySpec::TWO, blmove)
        .doc(
            "list",
            "6.2.0",
            "Pop an element from a list, push it to another list and return it; or block until \
             one is available",
        )
        .complexity("O(1)")
        .acl(&["write", "list", "slow", "blocking"]),
    CommandSpec::new("brpoplpush", 4, BLOCK | DENYOOM, KeySpec::TWO, brpoplpush)
        .doc(
            "list",
            "2.2.0",
            "Pop an element from a list, push it to another list and return it; or block until \
             one is available",
        )
        .complexity("O(1)")
        .acl(&["write", "list", "slow", "blocking"]),
    // Like LMPOP: a keynum key spec in Redis, none here.
    CommandSpec::new(
        "blmpop",
        -5,
        WRITE | BLOCKING | MOVABLE_KEYS,
        KeySpec::NONE,
        blmpop,
    )
    .doc(
        "list",
        "7.0.0",
        "Pop elements from a list, or block until one is available",
    )
    .complexity(MPOP_COMPLEXITY)
    .acl(&["write", "list", "slow", "blocking"]),
];

// ---------------------------------------------------------------------------
// Shared helpers

/// Runs `f` on the list under `key` without changing it (and without counting
/// a write): `Ok(None)` when the key is absent, WRONGTYPE for another type.
/// `read` counts a keyspace hit or miss, as Redis's read lookups do.
fn inspect<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    read: bool,
    f: impl FnOnce(&ListValue) -> R,
) -> Result<Option<R>, Reply> {
    let now = ctx.now_ms;
    let (hit, out) = match ctx.db().get(key, now) {
        None => (false, Ok(None)),
        Some(entry) => match &entry.value {
            Value::List(list) => (true, Ok(Some(f(list)))),
            _ => (true, Err(Reply::wrong_type())),
        },
    };
    if read {
        ctx.count_lookup(hit);
    }
    out
}

/// Changes the list under `key` with `f`, then deletes the key if the list
/// became empty. Counts as a write, so the caller must first have checked with
/// [`inspect`] that the key holds a list (`None` if it does not). Raises the
/// keyspace event `event`, then `del` when the key went.
fn modify<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    event: &'static str,
    f: impl FnOnce(&mut ListValue) -> R,
) -> Option<R> {
    let (out, emptied) = modify_quiet(ctx, key, f)?;
    notify_change(ctx, event, key, emptied);
    Some(out)
}

/// [`modify`] without the events; also says whether the key was deleted.
fn modify_quiet<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut ListValue) -> R,
) -> Option<(R, bool)> {
    let now = ctx.now_ms;
    let db = ctx.db();
    let (out, empty) = match db.get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::List(list)) => {
            let out = f(list);
            (out, list.is_empty())
        }
        _ => return None,
    };
    if empty {
        db.remove(key, now);
    }
    Some((out, empty))
}

/// Raises list event `event` for `key`, then the generic `del` if the change
/// emptied (and so deleted) the list, as Redis's list commands do.
fn notify_change(ctx: &mut ExecCtx<'_>, event: &'static str, key: &[u8], emptied: bool) {
    ctx.notify(notify::LIST, event, key);
    if emptied {
        ctx.notify(notify::GENERIC, "del", key);
    }
}

fn push_event(end: End) -> &'static str {
    match end {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

fn pop_event(end: End) -> &'static str {
    match end {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

/// Pushes `elems` one by one at `end` of the list under `key`, creating it if
/// `exists` (from a type probe) is false, and signals the key ready.
/// Returns the new length.
fn push_elems(
    ctx: &mut ExecCtx<'_>,
    key: &Bytes,
    end: End,
    elems: &[Bytes],
    exists: bool,
) -> usize {
    let len = if exists {
        modify(ctx, key, push_event(end), |list| {
            for e in elems {
                list.push(end, e);
            }
            list.len()
        })
        .unwrap_or(0)
    } else {
        let mut list = ListValue::new();
        for e in elems {
            list.push(end, e);
        }
        let len = list.len();
        let now = ctx.now_ms;
        ctx.db().insert(key, Value::List(Box::new(list)), None, now);
        ctx.notify(notify::LIST, push_event(end), key);
        len
    };
    ctx.signal_ready(key);
    len
}

/// Pops up to `n` elements from `end` of the list under `key` (already checked
/// to be a list), in pop order, deleting the key if it empties.
fn pop_elems(ctx: &mut ExecCtx<'_>, key: &[u8], end: End, n: usize) -> Vec<Bytes> {
    modify(ctx, key, pop_event(end), |list| list.pop_n(end, n))
        .unwrap_or_default()
        .iter()
        .map(to_bytes)
        .collect()
}

fn to_bytes(e: &SmallBytes) -> Bytes {
    Bytes::copy_from_slice(e)
}

fn bulk_array(elems: Vec<Bytes>) -> Reply {
    Reply::Array(elems.into_iter().map(Reply::Bulk).collect())
}

/// LEFT or RIGHT, case-insensitively.
fn parse_end(arg: &Bytes) -> Result<End, Reply> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(Reply::syntax_error())
    }
}

/// Redis's `getRangeLongFromObjectOrReply` with a message: `msg` both when the
/// argument is not an integer and when it is below `min`.
fn int_at_least(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, Reply> {
    match num::parse_i64(arg) {
        Some(v) if v >= min => Ok(v),
        _ => Err(Reply::error(msg)),
    }
}

fn pop_name(end: End) -> Bytes {
    match end {
        End::Head => Bytes::from_static(b"LPOP"),
        End::Tail => Bytes::from_static(b"RPOP"),
    }
}

// ---------------------------------------------------------------------------
// Pushes

fn push_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], end: End, only_existing: bool) -> Reply {
    let key = &argv[1];
    let exists = tri!(inspect(ctx, key, false, |_| ())).is_some();
    if !exists && only_existing {
        return Reply::Int(0);
    }
    Reply::Int(push_elems(ctx, key, end, &argv[2..], exists) as i64)
}

fn lpush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Head, false)
}

fn rpush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Tail, false)
}

fn lpushx(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Head, true)
}

fn rpushx(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    push_generic(ctx, argv, End::Tail, true)
}

fn linsert(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, pivot, elem) = (&argv[1], &argv[3], &argv[4]);
    let after = if is(&argv[2], "after") {
        true
    } else if is(&argv[2], "before") {
        false
    } else {
        return Reply::syntax_error();
    };
    let found = tri!(inspect(ctx, key, false, |list| {
        list.iter().any(|e| e.as_slice() == pivot.as_ref())
    }));
    match found {
        None => Reply::Int(0),
        Some(false) => Reply::Int(-1),
        Some(true) => {
            let len = modify(ctx, key, "linsert", |list| {
                list.insert(pivot, elem, after);
                list.len()
            });
            Reply::Int(len.map_or(-1, |n| n as i64))
        }
    }
}

// ---------------------------------------------------------------------------
// Pops

fn pop_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], end: End) -> Reply {
    if argv.len() > 3 {
        return Reply::wrong_arity(ctx.spec.name);
    }
    let count = match argv.get(2) {
        None => None,
        Some(arg) => Some(tri!(int_at_least(
            arg,
            0,
            "ERR value is out of range, must be positive"
        ))),
    };
    let key = &argv[1];
    let exists = tri!(inspect(ctx, key, false, |_| ())).is_some();
    match (exists, count) {
        (false, None) => Reply::Null,
        (false, Some(_)) => Reply::NullArray,
        (true, None) => pop_elems(ctx, key, end, 1)
            .pop()
            .map_or(Reply::Null, Reply::Bulk),
        (true, Some(0)) => Reply::Array(Vec::new()),
        (true, Some(n)) => {
            let n = usize::try_from(n).unwrap_or(usize::MAX);
            bulk_array(pop_elems(ctx, key, end, n))
        }
    }
}

fn lpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, End::Head)
}

fn rpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    pop_generic(ctx, argv, End::Tail)
}

/// The first of `keys` holding a list: pops from it as BLPOP/BRPOP
/// (`count` = `None`, reply `[key, elem]`) or LMPOP/BLMPOP (reply
/// `[key, [elems]]`), with the deterministic propagation. `None` when every
/// key is absent; WRONGTYPE when the first existing key is not a list.
fn pop_first_ready(
    ctx: &mut ExecCtx<'_>,
    keys: &[Bytes],
    end: End,
    count: Option<usize>,
) -> Option<Reply> {
    for key in keys {
        let len = match inspect(ctx, key, false, |list| list.len()) {
            Err(reply) => return Some(reply),
            Ok(None) | Ok(Some(0)) => continue,
            Ok(Some(len)) => len,
        };
        let key_reply = Reply::Bulk(key.clone());
        let reply = match count {
            None => {
                let elem = pop_elems(ctx, key, end, 1).pop()?;
                ctx.propagate_as(vec![pop_name(end), key.clone()]);
                // Only the key popped from changed (WATCH).
                let db = ctx.client.db;
                crate::multi::touch_key(ctx.data, db, key);
                Reply::Array(vec![key_reply, Reply::Bulk(elem)])
            }
            Some(n) => {
                let popped = pop_elems(ctx, key, end, n);
                let n = Bytes::from(num::i64_to_bytes(n.min(len) as i64));
                ctx.propagate_as(vec![pop_name(end), key.clone(), n]);
                // The key table cannot describe LMPOP's keys, so mark WATCHers here.
                let db = ctx.client.db;
                crate::multi::touch_key(ctx.data, db, key);
                Reply::Array(vec![key_reply, bulk_array(popped)])
            }
        };
        return Some(reply);
    }
    None
}

fn blocking_pop(ctx: &mut ExecCtx<'_>, argv: &[Bytes], end: End) -> Reply {
    let timeout = tri!(args::timeout_secs(&argv[argv.len() - 1]));
    let keys = &argv[1..argv.len() - 1];
    if let Some(reply) = pop_first_ready(ctx, keys, end, None) {
        return reply;
    }
    ctx.block(keys.to_vec(), timeout, Reply::NullArray)
}

fn blpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    blocking_pop(ctx, argv, End::Head)
}

fn brpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    blocking_pop(ctx, argv, End::Tail)
}

/// LMPOP/BLMPOP's `numkeys key... LEFT|RIGHT [COUNT n]` from `argv[at..]`:
/// the keys, the end and the count (1 when not given).
fn parse_mpop(argv: &[Bytes], at: usize) -> Result<(&[Bytes], End, usize), Reply> {
    let numkeys = int_at_least(&argv[at], 1, "ERR numkeys should be greater than 0")?;
    let first_key = at + 1;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(first_key))
        .filter(|&i| i < argv.len())
        .ok_or_else(Reply::syntax_error)?;
    let end = parse_end(&argv[where_idx])?;
    let mut count = None;
    let mut i = where_idx + 1;
    while i < argv.len() {
        if count.is_none() && is(&argv[i], "count") && i + 1 < argv.len() {
            let n = int_at_least(&argv[i + 1], 1, "ERR count should be greater than 0")?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            i += 2;
        } else {
            return Err(Reply::syntax_error());
        }
    }
    Ok((&argv[first_key..where_idx], end, count.unwrap_or(1)))
}

fn lmpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (keys, end, count) = tri!(parse_mpop(argv, 1));
    pop_first_ready(ctx, keys, end, Some(count)).unwrap_or(Reply::NullArray)
}

fn blmpop(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (keys, end, count) = tri!(parse_mpop(argv, 2));
    let timeout = tri!(args::timeout_secs(&argv[1]));
    if let Some(reply) = pop_first_ready(ctx, keys, end, Some(count)) {
        return reply;
    }
    ctx.block(keys.to_vec(), timeout, Reply::NullArray)
}

// ---------------------------------------------------------------------------
// Moves

/// Moves one element from `from` of `src` to `to` of `dst` (LMOVE's core).
/// `None` when `src` is absent (checked before `dst`, as Redis does).
fn move_elem(
    ctx: &mut ExecCtx<'_>,
    src: &Bytes,
    dst: &Bytes,
    from: End,
    to: End,
) -> Option<Result<Bytes, Reply>> {
    let src_len = match inspect(ctx, src, false, |list| list.len()) {
        Err(reply) => return Some(Err(reply)),
        Ok(len) => len?,
    };
    if src_len == 0 {
        return None;
    }
    let dst_exists = match inspect(ctx, dst, false, |_| ()) {
        Err(reply) => return Some(Err(reply)),
        Ok(found) => found.is_some(),
    };
    if src == dst {
        // A rotation: pop and push on the same list, which never empties (so
        // the key, and its TTL, stay).
        let elem = modify_quiet(ctx, src, |list| {
            let elem = list.pop(from)?;
            list.push(to, &elem);
            Some(to_bytes(&elem))
        })
        .and_then(|(elem, _)| elem)?;
        ctx.signal_ready(dst);
        // Redis raises the push before the pop, as it pushes the popped
        // element before announcing the pop.
        ctx.notify(notify::LIST, push_event(to), dst);
        ctx.notify(notify::LIST, pop_event(from), src);
        return Some(Ok(elem));
    }
    let (mut popped, emptied) = modify_quiet(ctx, src, |list| list.pop_n(from, 1))?;
    let elem = to_bytes(&popped.pop()?);
    push_elems(ctx, dst, to, std::slice::from_ref(&elem), dst_exists);
    notify_change(ctx, pop_event(from), src, emptied);
    Some(Ok(elem))
}

fn lmove(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let from = tri!(parse_end(&argv[3]));
    let to = tri!(parse_end(&argv[4]));
    match move_elem(ctx, &argv[1], &argv[2], from, to) {
        None => Reply::Null,
        Some(result) => Reply::Bulk(tri!(result)),
    }
}

fn rpoplpush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match move_elem(ctx, &argv[1], &argv[2], End::Tail, End::Head) {
        None => Reply::Null,
        Some(result) => Reply::Bulk(tri!(result)),
    }
}

/// BLMOVE/BRPOPLPUSH once the arguments are parsed: moves now and propagates
/// `propagated`, or blocks on the source.
fn blocking_move(
    ctx: &mut ExecCtx<'_>,
    argv: &[Bytes],
    from: End,
    to: End,
    timeout: u64,
    propagated: Vec<Bytes>,
) -> Reply {
    match move_elem(ctx, &argv[1], &argv[2], from, to) {
        None => ctx.block(vec![argv[1].clone()], timeout, Reply::Null),
        Some(result) => {
            let elem = tri!(result);
            ctx.propagate_as(propagated);
            Reply::Bulk(elem)
        }
    }
}

fn blmove(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let from = tri!(parse_end(&argv[3]));
    let to = tri!(parse_end(&argv[4]));
    let timeout = tri!(args::timeout_secs(&argv[5]));
    let propagated = vec![
        Bytes::from_static(b"LMOVE"),
        argv[1].clone(),
        argv[2].clone(),
        argv[3].clone(),
        argv[4].clone(),
    ];
    blocking_move(ctx, argv, from, to, timeout, propagated)
}

fn brpoplpush(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let timeout = tri!(args::timeout_secs(&argv[3]));
    let propagated = vec![
        Bytes::from_static(b"RPOPLPUSH"),
        argv[1].clone(),
        argv[2].clone(),
    ];
    blocking_move(ctx, argv, End::Tail, End::Head, timeout, propagated)
}

// ---------------------------------------------------------------------------
// Reads and in-place changes

fn llen(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let len = tri!(inspect(ctx, &argv[1], true, |list| list.len()));
    Reply::Int(len.unwrap_or(0) as i64)
}

fn lrange(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let start = tri!(args::int(&argv[2]));
    let stop = tri!(args::int(&argv[3]));
    let elems = tri!(inspect(ctx, &argv[1], true, |list| {
        Reply::bulk_array_from(list.range(start, stop).map(SmallBytes::as_slice))
    }));
    elems.unwrap_or(Reply::Array(Vec::new()))
}

fn lindex(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    // The key is looked up before the index is parsed, as in Redis.
    let index = args::int(&argv[2]);
    let found = tri!(inspect(ctx, &argv[1], true, |list| {
        index
            .as_ref()
            .map(|&i| list.index(i).map(to_bytes))
            .map_err(Clone::clone)
    }));
    match found {
        None => Reply::Null,
        Some(result) => tri!(result).map_or(Reply::Null, Reply::Bulk),
    }
}

fn lset(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, elem) = (&argv[1], &argv[3]);
    let index = args::int(&argv[2]);
    let in_range = tri!(inspect(ctx, key, false, |list| {
        index.as_ref().ok().map(|&i| list.index(i).is_some())
    }));
    let Some(in_range) = in_range else {
        return Reply::no_such_key();
    };
    let index = tri!(index);
    if in_range != Some(true) {
        return Reply::out_of_range();
    }
    match modify(ctx, key, "lset", |list| list.set(index, elem)) {
        Some(true) => Reply::ok(),
        _ => Reply::out_of_range(),
    }
}

fn lrem(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, elem) = (&argv[1], &argv[3]);
    let count = tri!(args::int(&argv[2]));
    let any = tri!(inspect(ctx, key, false, |list| {
        list.iter().any(|e| e.as_slice() == elem.as_ref())
    }));
    if any != Some(true) {
        return Reply::Int(0);
    }
    let removed = modify(ctx, key, "lrem", |list| list.remove(elem, count)).unwrap_or(0);
    Reply::Int(removed as i64)
}

fn ltrim(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let start = tri!(args::int(&argv[2]));
    let stop = tri!(args::int(&argv[3]));
    let changes = tri!(inspect(ctx, key, false, |list| {
        list.range(start, stop).len() != list.len()
    }));
    if changes == Some(true) {
        modify(ctx, key, "ltrim", |list| list.trim(start, stop));
    } else if changes.is_some() {
        // Redis announces the trim of an existing list even when it removed
        // nothing.
        ctx.notify(notify::LIST, "ltrim", key);
    }
    if changes.is_some() {
        // Redis signals an existing list as modified even when nothing was
        // trimmed (WATCH sees it).
        let db = ctx.client.db;
        crate::multi::touch_key(ctx.data, db, key);
    }
    Reply::ok()
}

fn lpos(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (key, elem) = (&argv[1], &argv[2]);
    let mut rank: i64 = 1;
    let mut count: Option<u64> = None;
    let mut maxlen: u64 = 0;
    let mut i = 3;
    while i < argv.len() {
        let opt = &argv[i];
        let Some(value) = argv.get(i + 1) else {
            return Reply::syntax_error();
        };
        if is(opt, "rank") {
            rank = tri!(args::int(value));
            if rank == 0 {
                return Reply::error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
        } else if is(opt, "count") {
            count = Some(tri!(int_at_least(value, 0, "ERR COUNT can't be negative")) as u64);
        } else if is(opt, "maxlen") {
            maxlen = tri!(int_at_least(value, 0, "ERR MAXLEN can't be negative")) as u64;
        } else {
            return Reply::syntax_error();
        }
        i += 2;
    }
    let found = tri!(inspect(ctx, key, true, |list| {
        list.positions(elem, rank, count, maxlen)
    }));
    let positions = found.unwrap_or_default();
    match count {
        Some(_) => Reply::Array(
            positions
                .into_iter()
                .map(|p| Reply::Int(p as i64))
                .collect(),
        ),
        None => positions
            .first()
            .map_or(Reply::Null, |&p| Reply::Int(p as i64)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::client::{ClientHandle, ClientState};
    use crate::command::table;
    use crate::commands::testing::{bulk, bulks, encode, err, int, Harness, NOW};

    use crate::exec::execute;
    use crate::reply::Proto;

    fn wrongtype() -> Reply {
        Reply::wrong_type()
    }

    #[test]
    fn table_entries_match_redis() {
        let spec = |name: &str| table().lookup(name.as_bytes()).expect("registered");
        assert_eq!(spec("lpush").flags, WRITE | DENYOOM | FAST);
        assert_eq!(spec("lpop").flags, WRITE | FAST);
        assert_eq!(spec("lrange").flags, READONLY);
        assert_eq!(spec("llen").flags, READONLY | FAST);
        assert_eq!(spec("blpop").flags, WRITE | NOSCRIPT | BLOCKING);
        assert_eq!(spec("blmove").flags, WRITE | DENYOOM | NOSCRIPT | BLOCKING);
        assert_eq!(spec("blmpop").flags, WRITE | BLOCKING | MOVABLE_KEYS);
        assert_eq!(spec("lmpop").arity, -4);
        assert_eq!(spec("blmpop").arity, -5);
        assert_eq!(spec("linsert").arity, 5);
        let blpop = spec("blpop");
        assert_eq!(
            (blpop.keys.first, blpop.keys.last, blpop.keys.step),
            (1, -2, 1)
        );
        let argv: Vec<Bytes> = ["blpop", "a", "b", "0"]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        assert_eq!(blpop.keys.keys(&argv), [&argv[1], &argv[2]]);
        for spec in COMMANDS {
            assert_eq!(spec.group, "list");
            assert!(!spec.summary.is_empty() && !spec.complexity.is_empty());
        }
    }

    #[test]
    fn push_range_and_delete_when_empty() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["RPUSH", "l", "a", "b"]), int(2));
        assert_eq!(h.run(&["LPUSH", "l", "x", "y"]), int(4));
        assert_eq!(
            h.run(&["LRANGE", "l", "0", "-1"]),
            bulks(&["y", "x", "a", "b"])
        );
        assert_eq!(h.run(&["LRANGE", "l", "-2", "100"]), bulks(&["a", "b"]));
        assert_eq!(h.run(&["LRANGE", "l", "3", "1"]), bulks(&[]));
        assert_eq!(h.run(&["LRANGE", "nokey", "0", "-1"]), bulks(&[]));
        assert_eq!(h.run(&["LLEN", "l"]), int(4));
        assert_eq!(h.run(&["LLEN", "nokey"]), int(0));
        assert_eq!(h.run(&["LPUSHX", "nokey", "a"]), int(0));
        assert!(!h.exists("nokey"));
        assert_eq!(h.run(&["RPUSHX", "l", "c"]), int(5));
        assert_eq!(h.run(&["LPOP", "l"]), bulk("y"));
        assert_eq!(h.run(&["RPOP", "l"]), bulk("c"));
        assert_eq!(h.run(&["RPOP", "l", "10"]), bulks(&["b", "a", "x"]));
        assert!(!h.exists("l"));
        assert_eq!(h.run(&["LPOP", "l"]), Reply::Null);
        assert_eq!(
            h.ops(),
            [
                "RPUSH l a b",
                "LPUSH l x y",
                "RPUSHX l c",
                "LPOP l",
                "RPOP l",
                "RPOP l 10"
            ]
        );
    }

    #[test]
    fn object_encoding_is_quicklist() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "1"]);
        assert_eq!(h.run(&["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
        assert_eq!(h.run(&["TYPE", "l"]), Reply::Simple("list".into()));
    }

    #[test]
    fn pop_count_null_semantics() {
        let mut h = Harness::new();
        let missing = h.run(&["LPOP", "nokey", "2"]);
        assert_eq!(missing, Reply::NullArray);
        assert_eq!(encode(&missing, Proto::Resp2), b"*-1\r\n");
        assert_eq!(encode(&missing, Proto::Resp3), b"_\r\n");
        assert_eq!(h.run(&["LPOP", "nokey", "0"]), Reply::NullArray);
        assert_eq!(encode(&h.run(&["LPOP", "nokey"]), Proto::Resp2), b"$-1\r\n");
        h.run(&["RPUSH", "l", "a", "b"]);
        assert_eq!(h.run(&["LPOP", "l", "0"]), bulks(&[]));
        assert_eq!(h.run(&["LPOP", "l", "1"]), bulks(&["a"]));
        let positive = err("ERR value is out of range, must be positive");
        assert_eq!(h.run(&["LPOP", "l", "-1"]), positive);
        assert_eq!(h.run(&["LPOP", "l", "x"]), positive);
        assert_eq!(
            h.run(&["LPOP", "l", "1", "2"]),
            err("ERR wrong number of arguments for 'lpop' command")
        );
        assert_eq!(h.ops(), ["RPUSH l a b", "LPOP l 1"]);
    }

    #[test]
    fn wrong_type_everywhere_changes_nothing() {
        let mut h = Harness::new();
        h.run(&["SET", "s", "v"]);
        h.run(&["RPUSH", "l", "a"]);
        h.repl_raw();
        let dirty = h.dirty();
        let cases: &[&[&str]] = &[
            &["LPUSH", "s", "a"],
            &["RPUSH", "s", "a"],
            &["LPUSHX", "s", "a"],
            &["RPUSHX", "s", "a"],
            &["LPOP", "s"],
            &["RPOP", "s", "2"],
            &["LLEN", "s"],
            &["LRANGE", "s", "0", "-1"],
            &["LINDEX", "s", "0"],
            &["LINDEX", "s", "notanumber"],
            &["LSET", "s", "0", "x"],
            &["LREM", "s", "0", "x"],
            &["LTRIM", "s", "0", "1"],
            &["LINSERT", "s", "BEFORE", "a", "b"],
            &["LPOS", "s", "a"],
            &["LMOVE", "s", "l", "LEFT", "RIGHT"],
            &["LMOVE", "l", "s", "LEFT", "RIGHT"],
            &["RPOPLPUSH", "l", "s"],
            &["LMPOP", "2", "nokey", "s", "LEFT"],
            &["BLPOP", "nokey", "s", "0"],
            &["BRPOP", "s", "l", "0"],
            &["BLMOVE", "s", "l", "LEFT", "LEFT", "0"],
            &["BLMOVE", "l", "s", "LEFT", "LEFT", "0"],
            &["BRPOPLPUSH", "l", "s", "0"],
            &["BLMPOP", "0", "1", "s", "RIGHT"],
        ];
        for argv in cases {
            assert_eq!(h.run(argv), wrongtype(), "{argv:?}");
        }
        assert_eq!(h.dirty(), dirty);
        assert!(h.repl_raw().is_empty());
        assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["a"]));
        // A missing source wins over a wrong-typed destination, as in Redis.
        assert_eq!(h.run(&["LMOVE", "nokey", "s", "LEFT", "LEFT"]), Reply::Null);
        // The first existing key decides.
        assert_eq!(h.run(&["BLPOP", "l", "s", "0"]), bulks(&["l", "a"]));
    }

    #[test]
    fn lindex_lset_and_their_errors() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["LINDEX", "nokey", "x"]), Reply::Null);
        assert_eq!(h.run(&["LSET", "nokey", "x", "v"]), err("ERR no such key"));
        h.run(&["RPUSH", "l", "a", "b", "c"]);
        assert_eq!(h.run(&["LINDEX", "l", "-1"]), bulk("c"));
        assert_eq!(h.run(&["LINDEX", "l", "3"]), Reply::Null);
        assert_eq!(h.run(&["LINDEX", "l", "x"]), Reply::not_integer());
        assert_eq!(h.run(&["LSET", "l", "x", "v"]), Reply::not_integer());
        assert_eq!(
            h.run(&["LSET", "l", "3", "v"]),
            err("ERR index out of range")
        );
        assert_eq!(h.run(&["LSET", "l", "-3", "v"]), Reply::ok());
        assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["v", "b", "c"]));
        assert_eq!(h.ops(), ["RPUSH l a b c", "LSET l -3 v"]);
    }

    #[test]
    fn lrem_ltrim_linsert() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "x", "a", "x", "b", "x"]);
        h.repl_raw();
        assert_eq!(h.run(&["LREM", "l", "-2", "x"]), int(2));
        assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["x", "a", "b"]));
        assert_eq!(h.run(&["LREM", "l", "0", "zzz"]), int(0));
        assert_eq!(h.run(&["LREM", "nokey", "0", "x"]), int(0));
        assert_eq!(h.run(&["LREM", "l", "x", "x"]), Reply::not_integer());
        assert_eq!(h.run(&["LINSERT", "l", "AFTER", "a", "n"]), int(4));
        assert_eq!(h.run(&["LINSERT", "l", "before", "x", "m"]), int(5));
        assert_eq!(h.run(&["LINSERT", "l", "before", "zzz", "m"]), int(-1));
        assert_eq!(h.run(&["LINSERT", "nokey", "before", "x", "m"]), int(0));
        assert_eq!(
            h.run(&["LINSERT", "l", "middle", "x", "m"]),
            Reply::syntax_error()
        );
        assert_eq!(
            h.run(&["LRANGE", "l", "0", "-1"]),
            bulks(&["m", "x", "a", "n", "b"])
        );
        assert_eq!(h.run(&["LTRIM", "l", "0", "-1"]), Reply::ok());
        assert_eq!(h.run(&["LTRIM", "l", "1", "-2"]), Reply::ok());
        assert_eq!(h.run(&["LRANGE", "l", "0", "-1"]), bulks(&["x", "a", "n"]));
        assert_eq!(h.run(&["LTRIM", "nokey", "0", "1"]), Reply::ok());
        assert_eq!(h.run(&["LTRIM", "l", "x", "1"]), Reply::not_integer());
        // Commands that change nothing are not propagated.
        assert_eq!(
            h.ops(),
            [
                "LREM l -2 x",
                "LINSERT l AFTER a n",
                "LINSERT l before x m",
                "LTRIM l 1 -2"
            ]
        );
        assert_eq!(h.run(&["LTRIM", "l", "5", "10"]), Reply::ok());
        assert!(!h.exists("l"));
        h.run(&["RPUSH", "l", "x", "x"]);
        assert_eq!(h.run(&["LREM", "l", "0", "x"]), int(2));
        assert!(!h.exists("l"));
    }

    #[test]
    fn lpos_options_and_errors() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "a", "b", "a", "c", "a"]);
        assert_eq!(h.run(&["LPOS", "l", "a"]), int(0));
        assert_eq!(h.run(&["LPOS", "l", "a", "RANK", "-1"]), int(4));
        assert_eq!(h.run(&["LPOS", "l", "a", "RANK", "2"]), int(2));
        assert_eq!(h.run(&["LPOS", "l", "a", "RANK", "4"]), Reply::Null);
        assert_eq!(h.run(&["LPOS", "l", "z"]), Reply::Null);
        let ints = |v: &[i64]| Reply::Array(v.iter().map(|&n| int(n)).collect());
        assert_eq!(h.run(&["LPOS", "l", "a", "COUNT", "0"]), ints(&[0, 2, 4]));
        assert_eq!(
            h.run(&["LPOS", "l", "a", "COUNT", "2", "RANK", "-1"]),
            ints(&[4, 2])
        );
        assert_eq!(
            h.run(&["LPOS", "l", "a", "COUNT", "0", "MAXLEN", "3"]),
            ints(&[0, 2])
        );
        assert_eq!(h.run(&["LPOS", "nokey", "a"]), Reply::Null);
        assert_eq!(h.run(&["LPOS", "nokey", "a", "COUNT", "1"]), ints(&[]));
        assert_eq!(
            h.run(&["LPOS", "l", "a", "RANK", "0"]),
            err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list")
        );
        assert_eq!(
            h.run(&["LPOS", "l", "a", "COUNT", "-1"]),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            h.run(&["LPOS", "l", "a", "COUNT", "x"]),
            err("ERR COUNT can't be negative")
        );
        assert_eq!(
            h.run(&["LPOS", "l", "a", "MAXLEN", "-1"]),
            err("ERR MAXLEN can't be negative")
        );
        assert_eq!(
            h.run(&["LPOS", "l", "a", "RANK", "x"]),
            Reply::not_integer()
        );
        assert_eq!(h.run(&["LPOS", "l", "a", "RANK"]), Reply::syntax_error());
        assert_eq!(
            h.run(&["LPOS", "l", "a", "FOO", "1"]),
            Reply::syntax_error()
        );
    }

    #[test]
    fn read_commands_count_hits_and_misses() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "a"]);
        h.run(&["LLEN", "l"]);
        h.run(&["LRANGE", "nokey", "0", "1"]);
        h.run(&["LPOP", "nokey"]);
        let data = h.server.data.lock();
        assert_eq!((data.keyspace_hits, data.keyspace_misses), (1, 1));
    }

    #[test]
    fn lmove_rpoplpush_and_rotation() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "src", "a", "b"]);
        assert_eq!(h.run(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
        assert_eq!(h.run(&["RPOPLPUSH", "src", "dst"]), bulk("b"));
        assert!(!h.exists("src"));
        assert_eq!(h.run(&["LRANGE", "dst", "0", "-1"]), bulks(&["b", "a"]));
        assert_eq!(h.run(&["RPOPLPUSH", "src", "dst"]), Reply::Null);
        assert_eq!(
            h.run(&["LMOVE", "dst", "dst", "up", "RIGHT"]),
            Reply::syntax_error()
        );
        // Rotating a one-element list keeps the key and its TTL.
        h.run(&["RPUSH", "one", "x"]);
        h.run(&["PEXPIRE", "one", "100000"]);
        assert_eq!(h.run(&["LMOVE", "one", "one", "LEFT", "RIGHT"]), bulk("x"));
        assert_eq!(h.run(&["PTTL", "one"]), int(100_000));
        assert_eq!(h.run(&["RPOPLPUSH", "dst", "dst"]), bulk("a"));
        assert_eq!(h.run(&["LRANGE", "dst", "0", "-1"]), bulks(&["a", "b"]));
        let ops: Vec<String> = h.ops().into_iter().filter(|c| !c.contains("one")).collect();
        assert_eq!(
            ops,
            [
                "RPUSH src a b",
                "LMOVE src dst LEFT RIGHT",
                "RPOPLPUSH src dst",
                "RPOPLPUSH dst dst"
            ]
        );
    }

    #[test]
    fn lmpop_parsing_reply_and_propagation() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "b", "1", "2", "3"]);
        h.repl_raw();
        assert_eq!(
            h.run(&["LMPOP", "2", "a", "b", "RIGHT", "COUNT", "2"]),
            Reply::Array(vec![bulk("b"), bulks(&["3", "2"])])
        );
        assert_eq!(
            h.run(&["lmpop", "2", "a", "b", "left", "count", "10"]),
            Reply::Array(vec![bulk("b"), bulks(&["1"])])
        );
        assert!(!h.exists("b"));
        assert_eq!(h.run(&["LMPOP", "1", "b", "LEFT"]), Reply::NullArray);
        assert_eq!(h.ops(), ["RPOP b 2", "LPOP b 1"]);
        let numkeys = err("ERR numkeys should be greater than 0");
        assert_eq!(h.run(&["LMPOP", "0", "a", "LEFT"]), numkeys);
        assert_eq!(h.run(&["LMPOP", "x", "a", "LEFT"]), numkeys);
        let count = err("ERR count should be greater than 0");
        assert_eq!(h.run(&["LMPOP", "1", "a", "LEFT", "COUNT", "0"]), count);
        assert_eq!(h.run(&["LMPOP", "1", "a", "LEFT", "COUNT", "x"]), count);
        for bad in [
            &["LMPOP", "2", "a", "LEFT"][..],
            &["LMPOP", "1", "a", "MIDDLE"],
            &["LMPOP", "1", "a", "LEFT", "COUNT"],
            &["LMPOP", "1", "a", "LEFT", "COUNT", "1", "COUNT", "1"],
            &["LMPOP", "9223372036854775807", "a", "LEFT"],
        ] {
            assert_eq!(h.run(bad), Reply::syntax_error(), "{bad:?}");
        }
        assert_eq!(
            h.run(&["BLMPOP", "-1", "1", "a", "LEFT"]),
            err("ERR timeout is negative")
        );
        // Argument errors come before the timeout's.
        assert_eq!(h.run(&["BLMPOP", "-1", "0", "a", "LEFT"]), numkeys);
    }

    #[test]
    fn blocking_forms_serve_at_once_with_deterministic_propagation() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "a", "1", "2", "3", "4"]);
        h.repl_raw();
        assert_eq!(h.run(&["BLPOP", "nokey", "a", "0"]), bulks(&["a", "1"]));
        assert_eq!(h.run(&["BRPOP", "a", "1.5"]), bulks(&["a", "4"]));
        assert_eq!(
            h.run(&["BLMOVE", "a", "b", "left", "RIGHT", "0"]),
            bulk("2")
        );
        assert_eq!(h.run(&["BRPOPLPUSH", "a", "b", "0"]), bulk("3"));
        assert!(!h.exists("a"));
        assert_eq!(
            h.run(&["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "5"]),
            Reply::Array(vec![bulk("b"), bulks(&["3", "2"])])
        );
        assert_eq!(
            h.ops(),
            [
                "LPOP a",
                "RPOP a",
                "LMOVE a b left RIGHT",
                "RPOPLPUSH a b",
                "LPOP b 2"
            ]
        );
        assert_eq!(
            h.run(&["BLPOP", "a", "x"]),
            err("ERR timeout is not a float or out of range")
        );
        assert_eq!(h.run(&["BLPOP", "a", "-1"]), err("ERR timeout is negative"));
        assert_eq!(
            h.run(&["BLMOVE", "a", "b", "LEFT", "UP", "0"]),
            Reply::syntax_error()
        );
    }

    #[test]
    fn blocking_forms_block_on_empty_keys() {
        let mut h = Harness::new();
        for argv in [
            &["BLPOP", "a", "b", "0"][..],
            &["BRPOP", "a", "1"],
            &["BLMOVE", "a", "b", "LEFT", "LEFT", "0"],
            &["BRPOPLPUSH", "a", "b", "0.5"],
            &["BLMPOP", "0", "2", "a", "b", "LEFT"],
        ] {
            let mut h2 = Harness::new();
            assert_eq!(h2.run(argv), Reply::None, "{argv:?}");
        }
        // Nothing changed, nothing propagated.
        assert_eq!(h.run(&["BLPOP", "a", "0"]), Reply::None);
        assert!(h.repl_raw().is_empty());
    }

    #[test]
    fn pushes_and_moves_signal_ready_keys() {
        let mut h = Harness::new();
        // run_command leaves the signals in place (execute serves and clears them).
        let signals = |h: &mut Harness, args: &[&str]| {
            let argv: Vec<Bytes> = args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect();
            let mut data = h.server.data.lock();
            let mut ops = Vec::new();
            crate::exec::run_command(
                &h.server,
                &mut data,
                &mut h.client,
                &argv,
                NOW,
                true,
                &mut ops,
            );
            std::mem::take(&mut data.ready_keys)
        };
        let a = (0, Bytes::from_static(b"a"));
        assert_eq!(signals(&mut h, &["LPUSH", "a", "1", "2"]), vec![a.clone()]);
        assert_eq!(signals(&mut h, &["RPUSHX", "a", "3"]), vec![a.clone()]);
        assert_eq!(
            signals(&mut h, &["LMOVE", "a", "b", "LEFT", "LEFT"]),
            [(0, Bytes::from_static(b"b"))]
        );
        assert_eq!(signals(&mut h, &["RPOPLPUSH", "a", "a"]), [a]);
        // Failed or element-less commands signal nothing.
        signals(&mut h, &["SET", "s", "v"]);
        for argv in [
            &["LPUSHX", "nokey", "1"][..],
            &["LSET", "a", "0", "x"],
            &["LINSERT", "a", "BEFORE", "x", "y"],
            &["LPUSH", "s", "1"],
            &["RPOPLPUSH", "a", "s"],
            &["LPOP", "a"],
        ] {
            assert!(signals(&mut h, argv).is_empty(), "{argv:?}");
        }
    }

    #[test]
    fn blocking_forms_answer_null_inside_multi() {
        let mut h = Harness::new();
        assert_eq!(h.run(&["MULTI"]), Reply::ok());
        h.run(&["BLPOP", "nokey", "0"]);
        h.run(&["BLMOVE", "nokey", "b", "LEFT", "LEFT", "0"]);
        h.run(&["BLMPOP", "0", "1", "nokey", "LEFT"]);
        assert_eq!(
            h.run(&["EXEC"]),
            Reply::Array(vec![Reply::NullArray, Reply::Null, Reply::NullArray])
        );
    }

    #[test]
    fn a_push_serves_a_blocked_pop_in_the_same_call() {
        let mut h = Harness::new();
        let (events, _rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = ClientHandle::new(2, "127.0.0.1:3".into(), "127.0.0.1:2".into(), 0, 0, events);
        let mut waiter = ClientState::new(Arc::new(handle), true);
        let argv: Vec<Bytes> = ["BLPOP", "q", "0"]
            .iter()
            .map(|a| Bytes::from_static(a.as_bytes()))
            .collect();
        {
            let mut data = h.server.data.lock();
            let reply = execute(&h.server, &mut data, &mut waiter, &argv, NOW);
            assert_eq!(reply, Reply::None);
        }
        assert_eq!(h.run(&["RPUSH", "q", "x", "y"]), int(2));
        // The push, then the served pop in its deterministic form.
        assert_eq!(h.ops(), ["RPUSH q x y", "LPOP q"]);
        assert_eq!(h.run(&["LRANGE", "q", "0", "-1"]), bulks(&["y"]));
    }

    #[test]
    fn digest_matches_redis_list_rule() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "a", "b"]);
        let data = h.server.data.lock();
        let mut expected = [0u8; 20];
        tandem_storage::digest::mix_digest(&mut expected, b"l");
        tandem_storage::digest::mix_digest(&mut expected, &1u32.to_be_bytes());
        tandem_storage::digest::mix_digest(&mut expected, b"a");
        tandem_storage::digest::mix_digest(&mut expected, b"b");
        let entry = data
            .keyspace
            .dbs()
            .first()
            .and_then(|db| db.iter().next())
            .expect("one key");
        assert_eq!(tandem_storage::digest::entry_digest(entry), expected);
    }
}
