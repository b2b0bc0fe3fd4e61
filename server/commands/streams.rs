//! Stream commands: XADD, XRANGE, XREVRANGE, XLEN, XDEL, XTRIM, XSETID,
//! XREAD, XREADGROUP, XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO.
//!
//! Propagation follows Redis 7.0 (t_stream.c): XADD carries the ID it
//! chose; an approximate trim (`~`) is rewritten as an exact one to the
//! length (MAXLEN) or first ID (MINID) it left, so a replica trims the same
//! entries whatever its node layout; XREADGROUP, XCLAIM and XAUTOCLAIM
//! propagate as idempotent `XCLAIM ... TIME RETRYCOUNT FORCE JUSTID LASTID`
//! commands, plus `XGROUP SETID ... ENTRIESREAD` when only the group's
//! last ID moved (NOACK) and `XGROUP CREATECONSUMER` for a consumer a NOACK
//! read created. Reads of a consumer's own history change delivery counts
//! but, as in Redis, are not propagated.
//!
//! Keyspace events are Redis's: `xadd` (then `xtrim` if its trim removed
//! entries), `xtrim`, `xdel`, `xsetid`, `xgroup-create`/`-setid`/`-destroy`/
//! `-delconsumer`, and `xgroup-createconsumer` whenever a consumer comes to
//! be (XGROUP CREATECONSUMER, or a read or claim naming a new one). XACK
//! raises none.
//!
//! Blocking XREAD/XREADGROUP wait through [`crate::blocking`]: the waiter's
//! command is stored with `$` replaced by the ID it stood for, and with
//! Redis's COUNT of 1000 when none was given, so the re-run after an XADD
//! serves exactly what Redis serves.

use bytes::Bytes;
use tandem_storage::num;
use tandem_storage::types::stream::{
    AddError, EntryRef, Group, Nack, StreamId, StreamValue, Trim, INVALID_ENTRIES_READ,
};
use tandem_storage::{SmallBytes, Value};

use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::hashes::{lookup_read, lookup_write};
use crate::commands::server::{help_reply, subcommand_syntax_error};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::{Proto, Reply};
use crate::tri;

const SUB_KEY: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const XGROUP_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("create", -5, WRITE | DENYOOM, SUB_KEY, xgroup)
        .doc("stream", "5.0.0", "Create a consumer group.")
        .complexity("O(1)")
        .acl(&["write", "stream", "slow"]),
    CommandSpec::new("createconsumer", 5, WRITE | DENYOOM, SUB_KEY, xgroup)
        .doc("stream", "6.2.0", "Create a consumer in a consumer group.")
        .complexity("O(1)")
        .acl(&["write", "stream", "slow"]),
    CommandSpec::new("delconsumer", 5, WRITE, SUB_KEY, xgroup)
        .doc(
            "stream",
            "5.0.0",
            "Delete a consumer from a consumer group.",
        )
        .complexity("O(1)")
        .acl(&["write", "stream", "slow"]),
    CommandSpec::new("destroy", 4, WRITE, SUB_KEY, xgroup)
        .doc("stream", "5.0.0", "Destroy a consumer group.")
        .complexity(
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        )
        .acl(&["write", "stream", "slow"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, xgroup_help)
        .doc(
            "stream",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["stream", "slow"]),
    CommandSpec::new("setid", -5, WRITE, SUB_KEY, xgroup)
        .doc(
            "stream",
            "5.0.0",
            "Set a consumer group to an arbitrary last delivered ID value.",
        )
        .complexity("O(1)")
        .acl(&["write", "stream", "slow"]),
];

const XINFO_SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("consumers", 4, READONLY, SUB_KEY, xinfo_consumers)
        .doc("stream", "5.0.0", "List the consumers in a consumer group")
        .complexity("O(1)")
        .acl(&["read", "stream", "slow"]),
    CommandSpec::new("groups", 3, READONLY, SUB_KEY, xinfo_groups)
        .doc("stream", "5.0.0", "List the consumer groups of a stream")
        .complexity("O(1)")
        .acl(&["read", "stream", "slow"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, xinfo_help)
        .doc(
            "stream",
            "5.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["stream", "slow"]),
    CommandSpec::new("stream", -3, READONLY, SUB_KEY, xinfo_stream)
        .doc("stream", "5.0.0", "Get information about a stream")
        .complexity("O(1)")
        .acl(&["read", "stream", "slow"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, WRITE | DENYOOM | FAST, KeySpec::ONE, xadd)
        .doc("stream", "5.0.0", "Appends a new entry to a stream")
        .complexity("O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted.")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new("xrange", -4, READONLY, KeySpec::ONE, xrange)
        .doc(
            "stream",
            "5.0.0",
            "Return a range of elements in a stream, with IDs matching the specified IDs interval",
        )
        .complexity("O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
        .acl(&["read", "stream", "slow"]),
    CommandSpec::new("xrevrange", -4, READONLY, KeySpec::ONE, xrevrange)
        .doc(
            "stream",
            "5.0.0",
            "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE",
        )
        .complexity("O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1).")
        .acl(&["read", "stream", "slow"]),
    CommandSpec::new("xlen", 2, READONLY | FAST, KeySpec::ONE, xlen)
        .doc("stream", "5.0.0", "Return the number of entries in a stream")
        .complexity("O(1)")
        .acl(&["read", "stream", "fast"]),
    CommandSpec::new("xdel", -3, WRITE | FAST, KeySpec::ONE, xdel)
        .doc(
            "stream",
            "5.0.0",
            "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.",
        )
        .complexity("O(1) for each single item to delete in the stream, regardless of the stream size.")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new("xtrim", -4, WRITE, KeySpec::ONE, xtrim)
        .doc("stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size")
        .complexity("O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation.")
        .acl(&["write", "stream", "slow"]),
    CommandSpec::new("xsetid", -3, WRITE | DENYOOM | FAST, KeySpec::ONE, xsetid)
        .doc("stream", "5.0.0", "An internal command for replicating stream values")
        .complexity("O(1)")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new(
        "xread",
        -4,
        READONLY | BLOCKING | MOVABLE_KEYS,
        KeySpec::NONE,
        xread,
    )
    .doc(
        "stream",
        "5.0.0",
        "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.",
    )
    .complexity("For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data.")
    .acl(&["read", "stream", "slow", "blocking"]),
    CommandSpec::new(
        "xreadgroup",
        -7,
        WRITE | BLOCKING | MOVABLE_KEYS,
        KeySpec::NONE,
        xreadgroup,
    )
    .doc(
        "stream",
        "5.0.0",
        "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.",
    )
    .complexity("For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data.")
    .acl(&["write", "stream", "slow", "blocking"]),
    CommandSpec::new("xack", -4, WRITE | FAST, KeySpec::ONE, xack)
        .doc(
            "stream",
            "5.0.0",
            "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.",
        )
        .complexity("O(1) for each message ID processed.")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new("xpending", -3, READONLY, KeySpec::ONE, xpending)
        .doc(
            "stream",
            "5.0.0",
            "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.",
        )
        .complexity("O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer.")
        .acl(&["read", "stream", "slow"]),
    CommandSpec::new("xclaim", -6, WRITE | FAST, KeySpec::ONE, xclaim)
        .doc(
            "stream",
            "5.0.0",
            "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.",
        )
        .complexity("O(log N) with N being the number of messages in the PEL of the consumer group.")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new("xautoclaim", -6, WRITE | FAST, KeySpec::ONE, xautoclaim)
        .doc(
            "stream",
            "6.2.0",
            "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.",
        )
        .complexity("O(1) if COUNT is small.")
        .acl(&["write", "stream", "fast"]),
    CommandSpec::new("xgroup", -2, 0, KeySpec::NONE, container_handler)
        .doc("stream", "5.0.0", "A container for consumer groups commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(XGROUP_SUBCOMMANDS),
    CommandSpec::new("xinfo", -2, 0, KeySpec::NONE, container_handler)
        .doc("stream", "5.0.0", "A container for stream introspection commands")
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(XINFO_SUBCOMMANDS),
];

// ---------------------------------------------------------------------------
// IDs and replies.

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis's `string2ull`: a canonical i64 that is not negative, or what
/// `strtoull` accepts (leading spaces, a sign, digits only, no overflow).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = num::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// Redis's `streamGenericParseIDOrReply`: `-`/`+` (unless strict),
/// `ms`, `ms-seq`, and `ms-*` when `star_ok` (then the flag is false).
fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    star_ok: bool,
) -> Result<(StreamId, bool), Reply> {
    let invalid = || Reply::error(INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    if arg == b"-" || arg == b"+" {
        if strict {
            return Err(invalid());
        }
        return Ok((
            if arg == b"-" {
                StreamId::MIN
            } else {
                StreamId::MAX
            },
            true,
        ));
    }
    match arg.iter().position(|&b| b == b'-') {
        None => {
            let ms = string2ull(arg).ok_or_else(invalid)?;
            Ok((StreamId::new(ms, missing_seq), true))
        }
        Some(dash) => {
            let ms = string2ull(&arg[..dash]).ok_or_else(invalid)?;
            let rest = &arg[dash + 1..];
            if star_ok && rest == b"*" {
                return Ok((StreamId::new(ms, 0), false));
            }
            let seq = string2ull(rest).ok_or_else(invalid)?;
            Ok((StreamId::new(ms, seq), true))
        }
    }
}

fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Reply> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Reply> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// A range bound: `(` makes it exclusive (then strict parsing).
fn parse_interval(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
    if arg.len() > 1 && arg[0] == b'(' {
        Ok((parse_id_full(&arg[1..], missing_seq, true, false)?.0, true))
    } else {
        Ok((parse_id(arg, missing_seq)?, false))
    }
}

fn parse_start(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = parse_interval(arg, 0)?;
    if ex {
        return id
            .next()
            .ok_or_else(|| Reply::error("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

fn parse_end(arg: &[u8]) -> Result<StreamId, Reply> {
    let (id, ex) = parse_interval(arg, u64::MAX)?;
    if ex {
        return id
            .prev()
            .ok_or_else(|| Reply::error("ERR invalid end ID for the interval"));
    }
    Ok(id)
}

fn id_bytes(id: StreamId) -> Bytes {
    Bytes::from(id.to_string())
}

fn id_reply(id: StreamId) -> Reply {
    Reply::Bulk(id_bytes(id))
}

fn entry_reply(e: &EntryRef<'_>) -> Reply {
    let mut kv = Vec::with_capacity(e.len() * 2);
    for (f, v) in e.pairs() {
        kv.push(Reply::bulk_from(&f));
        kv.push(Reply::bulk_from(&v));
    }
    Reply::Array(vec![id_reply(e.id), Reply::Array(kv)])
}

fn int_with(arg: &[u8], msg: &'static str) -> Result<i64, Reply> {
    num::parse_i64(arg).ok_or_else(|| Reply::error(msg))
}

fn bulk(b: &[u8]) -> Reply {
    Reply::bulk_from(b)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// Lookups.

fn as_stream(value: Option<&Value>) -> Result<Option<&StreamValue>, Reply> {
    match value {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(Reply::wrong_type()),
    }
}

fn read_stream<'c>(ctx: &'c mut ExecCtx<'_>, key: &[u8]) -> Result<Option<&'c StreamValue>, Reply> {
    as_stream(lookup_read(ctx, key))
}

fn write_stream<'c>(
    ctx: &'c mut ExecCtx<'_>,
    key: &[u8],
) -> Result<Option<&'c StreamValue>, Reply> {
    as_stream(lookup_write(ctx, key))
}

/// Runs `f` on the stream at `key`, which the caller found to be a stream.
/// The call counts as a write when `f` says it changed something.
fn modify<R>(
    ctx: &mut ExecCtx<'_>,
    key: &[u8],
    f: impl FnOnce(&mut StreamValue) -> (R, bool),
) -> R {
    let now = ctx.now_ms;
    let r = ctx.db().modify(key, now, |v| match v {
        Value::Stream(s) => {
            let (r, changed) = f(s);
            if changed {
                Ok(r)
            } else {
                Err(r)
            }
        }
        _ => unreachable!("the caller checked that the key holds a stream"),
    });
    match r {
        Some(Ok(r)) | Some(Err(r)) => r,
        None => unreachable!("the caller checked that the key exists"),
    }
}

fn no_group_error(key: &[u8], group: &[u8]) -> Reply {
    Reply::error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        text(key),
        text(group)
    ))
}

// ---------------------------------------------------------------------------
// XADD and XTRIM.

#[derive(Debug, Default)]
struct AddTrimArgs {
    /// Index of the ID argument (XADD).
    id_pos: usize,
    id: Option<(StreamId, bool)>,
    no_mkstream: bool,
    trim: Option<Trim>,
    /// Index of the MAXLEN/MINID threshold (for the rewrite).
    trim_arg: usize,
    approx: bool,
    limit: u64,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`.
fn parse_add_trim(
    argv: &[Bytes],
    xadd: bool,
    from_master: bool,
    node_max_entries: i64,
) -> Result<AddTrimArgs, Reply> {
    let mut a = AddTrimArgs::default();
    let mut limit: Option<i64> = None;
    let mut i = 2;
    let incompatible = || {
        Reply::error(
            "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
        )
    };
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = &argv[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if is(opt, "maxlen") && more > 0 {
            if a.trim.is_some() {
                return Err(incompatible());
            }
            a.approx = false;
            let next = argv[i + 1].as_ref();
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let n = args::int(&argv[i + 1])?;
            if n < 0 {
                return Err(Reply::error("ERR The MAXLEN argument must be >= 0."));
            }
            i += 1;
            a.trim = Some(Trim::MaxLen(n as u64));
            a.trim_arg = i;
        } else if is(opt, "minid") && more > 0 {
            if a.trim.is_some() {
                return Err(incompatible());
            }
            a.approx = false;
            let next = argv[i + 1].as_ref();
            if more >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let id = parse_strict_id(&argv[i + 1])?;
            i += 1;
            a.trim = Some(Trim::MinId(id));
            a.trim_arg = i;
        } else if is(opt, "limit") && more > 0 {
            let n = args::int(&argv[i + 1])?;
            if n < 0 {
                return Err(Reply::error("ERR The LIMIT argument must be >= 0."));
            }
            limit = Some(n);
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            a.no_mkstream = true;
        } else if xadd {
            a.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }
    a.id_pos = i;
    if limit.is_some_and(|l| l != 0) && a.trim.is_none() {
        return Err(Reply::error(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && a.trim.is_none() {
        return Err(Reply::error(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if from_master {
        a.limit = 0;
    } else if let Some(l) = limit {
        if !a.approx {
            return Err(Reply::error(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        a.limit = l as u64;
    } else if a.approx {
        let l = node_max_entries.saturating_mul(100);
        a.limit = if l <= 0 {
            10_000
        } else {
            l.min(1_000_000) as u64
        };
    }
    Ok(a)
}

/// The replication form of a command whose approximate trim ran: `=` and
/// the resulting length or first ID.
fn rewrite_trim(argv: &mut [Bytes], a: &AddTrimArgs, s: &StreamValue) {
    argv[a.trim_arg - 1] = Bytes::from_static(b"=");
    argv[a.trim_arg] = match a.trim {
        Some(Trim::MaxLen(_)) => Bytes::from(s.len().to_string()),
        _ => id_bytes(s.first_id_with_tombstones()),
    };
}

fn xadd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let limits = ctx.limits().stream_node;
    let a = tri!(parse_add_trim(
        argv,
        true,
        ctx.client.is_master,
        limits.max_entries
    ));
    let field_pos = a.id_pos + 1;
    let nfields = argv.len().saturating_sub(field_pos);
    if nfields < 2 || nfields % 2 == 1 {
        return Reply::wrong_arity(ctx.spec.name);
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return Reply::error("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let key = &argv[1];
    let existing = tri!(write_stream(ctx, key)).map(|s| s.last_id);
    if existing.is_none() && a.no_mkstream {
        return Reply::Null;
    }
    let last = existing.unwrap_or(StreamId::MIN);
    if last == StreamId::MAX {
        return Reply::error(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        );
    }
    let too_small = || {
        Reply::error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let id = match a.id {
        None => {
            if ctx.now_ms > last.ms {
                StreamId::new(ctx.now_ms, 0)
            } else {
                last.next().unwrap_or(StreamId::MAX)
            }
        }
        Some((id, true)) => id,
        Some((id, false)) => {
            if last.ms == id.ms {
                if last.seq == u64::MAX {
                    return too_small();
                }
                StreamId::new(id.ms, last.seq + 1)
            } else {
                id
            }
        }
    };
    if id <= last {
        return too_small();
    }
    let fields = &argv[field_pos..];
    let mut prop = argv.to_vec();
    let now = ctx.now_ms;
    let result = if existing.is_some() {
        modify(ctx, key, |s| {
            let r = add_and_trim(s, id, fields, &a, limits, &mut prop);
            let ok = r.is_ok();
            (r, ok)
        })
    } else {
        let mut s = StreamValue::new();
        let r = add_and_trim(&mut s, id, fields, &a, limits, &mut prop);
        if r.is_ok() {
            ctx.db().insert(key, Value::Stream(Box::new(s)), None, now);
        }
        r
    };
    let trimmed = match result {
        Ok(trimmed) => trimmed,
        Err(AddError::IdTooSmall) => return too_small(),
        Err(AddError::TooLarge) => {
            return Reply::error("ERR Elements are too large to be stored");
        }
    };
    ctx.notify(notify::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    if !matches!(a.id, Some((_, true))) {
        prop[a.id_pos] = id_bytes(id);
    }
    ctx.propagate_as(prop);
    ctx.signal_ready(key);
    id_reply(id)
}

fn add_and_trim(
    s: &mut StreamValue,
    id: StreamId,
    fields: &[Bytes],
    a: &AddTrimArgs,
    limits: tandem_storage::types::stream::NodeLimits,
    prop: &mut [Bytes],
) -> Result<u64, AddError> {
    s.add(id, fields, limits)?;
    let mut trimmed = 0;
    if let Some(how) = a.trim {
        trimmed = s.trim(how, a.approx, a.limit);
        if a.approx {
            rewrite_trim(prop, a, s);
        }
    }
    Ok(trimmed)
}

fn xtrim(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let limits = ctx.limits().stream_node;
    let a = tri!(parse_add_trim(
        argv,
        false,
        ctx.client.is_master,
        limits.max_entries
    ));
    let key = &argv[1];
    if tri!(write_stream(ctx, key)).is_none() {
        return Reply::Int(0);
    }
    let how = a.trim.expect("XTRIM parsing requires a strategy");
    let mut prop = argv.to_vec();
    let deleted = modify(ctx, key, |s| {
        let n = s.trim(how, a.approx, a.limit);
        if n > 0 && a.approx {
            rewrite_trim(&mut prop, &a, s);
        }
        (n, n > 0)
    });
    if deleted > 0 {
        ctx.propagate_as(prop);
        ctx.notify(notify::STREAM, "xtrim", key);
    }
    Reply::Int(deleted as i64)
}

// ---------------------------------------------------------------------------
// Reads.

fn xrange_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], rev: bool) -> Reply {
    let (start_arg, end_arg) = if rev {
        (&argv[3], &argv[2])
    } else {
        (&argv[2], &argv[3])
    };
    let start = tri!(parse_start(start_arg));
    let end = tri!(parse_end(end_arg));
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if is(&argv[j], "count") && j + 1 < argv.len() {
            count = tri!(args::int(&argv[j + 1])).max(0);
            j += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let Some(s) = tri!(read_stream(ctx, &argv[1])) else {
        return Reply::Array(Vec::new());
    };
    if count == 0 {
        return Reply::NullArray;
    }
    let take = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    Reply::Array(
        s.range(start, end, rev)
            .take(take)
            .map(|e| entry_reply(&e))
            .collect(),
    )
}

fn xrange(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    xrange_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    xrange_generic(ctx, argv, true)
}

fn xlen(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    match tri!(read_stream(ctx, &argv[1])) {
        Some(s) => Reply::Int(s.len() as i64),
        None => Reply::Int(0),
    }
}

fn xdel(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    if tri!(write_stream(ctx, key)).is_none() {
        return Reply::Int(0);
    }
    let mut ids = Vec::with_capacity(argv.len() - 2);
    for a in &argv[2..] {
        ids.push(tri!(parse_strict_id(a)));
    }
    let n = modify(ctx, key, |s| {
        let n = s.delete(&ids);
        (n, n > 0)
    });
    if n > 0 {
        ctx.notify(notify::STREAM, "xdel", key);
    }
    Reply::Int(n as i64)
}

fn xsetid(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let id = tri!(parse_strict_id(&argv[2]));
    let mut entries_added: i64 = -1;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if is(&argv[i], "entriesadded") && more > 0 {
            entries_added = tri!(args::int(&argv[i + 1]));
            if entries_added < 0 {
                return Reply::error("ERR entries_added must be positive");
            }
            i += 2;
        } else if is(&argv[i], "maxdeletedid") && more > 0 {
            max_xdel = tri!(parse_strict_id(&argv[i + 1]));
            if id < max_xdel {
                return Reply::error(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            i += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let key = &argv[1];
    let Some(s) = tri!(write_stream(ctx, key)) else {
        return Reply::no_such_key();
    };
    if !s.is_empty() {
        let maxid = s.last_live_id().unwrap_or(StreamId::MIN);
        if id < maxid {
            return Reply::error(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added != -1 && s.len() > entries_added as u64 {
            return Reply::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    modify(ctx, key, |s| {
        s.last_id = id;
        if entries_added != -1 {
            s.entries_added = entries_added as u64;
        }
        if !max_xdel.is_zero() {
            s.max_deleted_id = max_xdel;
        }
        ((), true)
    });
    ctx.notify(notify::STREAM, "xsetid", key);
    Reply::ok()
}

// ---------------------------------------------------------------------------
// XREAD and XREADGROUP.

/// Redis's `XREAD_BLOCKED_DEFAULT_COUNT`.
const BLOCKED_DEFAULT_COUNT: &str = "1000";

/// What XREADGROUP asked of one stream.
#[derive(Clone, Copy, Debug)]
enum ReadFrom {
    /// Entries after this ID (XREAD, or a group's `>` resolved).
    After(StreamId),
    /// `>`: entries never delivered to the group.
    New,
}

fn xread(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    xread_generic(ctx, argv, false)
}

fn xreadgroup(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    xread_generic(ctx, argv, true)
}

fn xread_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], group_mode: bool) -> Reply {
    let mut timeout: Option<u64> = None;
    let mut count: u64 = 0;
    let mut count_given = false;
    let mut streams_at = 0;
    let mut noack = false;
    let mut group: Option<(Bytes, Bytes)> = None;
    let mut i = 1;
    while i < argv.len() {
        let more = argv.len() - i - 1;
        let o = &argv[i];
        if is(o, "block") && more > 0 {
            if ctx.client.in_script {
                return Reply::error(format!(
                    "ERR {} command is not allowed with BLOCK option from scripts",
                    text(&argv[0])
                ));
            }
            i += 1;
            let t = tri!(int_with(
                &argv[i],
                "ERR timeout is not an integer or out of range"
            ));
            if t < 0 {
                return Reply::error("ERR timeout is negative");
            }
            if (t as u64).saturating_add(ctx.now_ms) > i64::MAX as u64 {
                return Reply::error("ERR timeout is out of range");
            }
            timeout = Some(t as u64);
        } else if is(o, "count") && more > 0 {
            i += 1;
            count = tri!(args::int(&argv[i])).max(0) as u64;
            count_given = true;
        } else if is(o, "streams") && more > 0 {
            streams_at = i + 1;
            if !(argv.len() - streams_at).is_multiple_of(2) {
                return Reply::error(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                );
            }
            break;
        } else if is(o, "group") && more >= 2 {
            if !group_mode {
                return Reply::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if is(o, "noack") {
            if !group_mode {
                return Reply::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                );
            }
            noack = true;
        } else {
            return Reply::syntax_error();
        }
        i += 1;
    }
    if streams_at == 0 {
        return Reply::syntax_error();
    }
    if group_mode && group.is_none() {
        return Reply::error("ERR Missing GROUP option for XREADGROUP");
    }
    if group_mode {
        ctx.propagate_none();
    }
    let n = (argv.len() - streams_at) / 2;
    let keys = &argv[streams_at..streams_at + n];
    let mut from = Vec::with_capacity(n);
    let woken = ctx.client.woken;
    for (k, key) in keys.iter().enumerate() {
        let arg = &argv[streams_at + n + k];
        if woken && !matches!(lookup_read(ctx, key), Some(Value::Stream(_))) {
            // The stream went away while this client waited: Redis fails a
            // group reader and keeps a plain reader waiting.
            if group_mode {
                return Reply::error("UNBLOCKED the stream key no longer exists");
            }
            from.push(ReadFrom::After(StreamId::MAX));
            continue;
        }
        let s = tri!(read_stream(ctx, key));
        if let Some((gname, _)) = &group {
            if !s.is_some_and(|s| s.groups.contains_key(gname.as_ref())) {
                if woken {
                    return Reply::error(
                        "NOGROUP the consumer group this client was blocked on no longer exists",
                    );
                }
                return Reply::error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    text(key),
                    text(gname)
                ));
            }
        }
        if arg.as_ref() == b"$" {
            if group_mode {
                return Reply::error(
                    "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.",
                );
            }
            from.push(ReadFrom::After(
                s.map(|s| s.last_id).unwrap_or(StreamId::MIN),
            ));
        } else if arg.as_ref() == b">" {
            if !group_mode {
                return Reply::error(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                );
            }
            from.push(ReadFrom::New);
        } else {
            from.push(ReadFrom::After(tri!(parse_strict_id(arg))));
        }
    }

    let now = ctx.now_ms;
    let mut served: Vec<(Bytes, Reply)> = Vec::new();
    for (k, key) in keys.iter().enumerate() {
        let Ok(Some(s)) = read_stream(ctx, key) else {
            continue;
        };
        match &group {
            None => {
                let ReadFrom::After(gt) = from[k] else {
                    continue;
                };
                // A woken reader is served once the stream's last ID passed
                // its own, even if trimming left nothing to return (Redis's
                // wake-up test); a first call needs an entry to return.
                let top = if woken {
                    Some(s.last_id)
                } else if s.is_empty() {
                    None
                } else {
                    s.last_live_id()
                };
                if top.is_none_or(|m| m <= gt) {
                    continue;
                }
                let Some(start) = gt.next() else {
                    continue;
                };
                let take = if count == 0 {
                    usize::MAX
                } else {
                    count as usize
                };
                let entries: Vec<Reply> = s
                    .range(start, StreamId::MAX, false)
                    .take(take)
                    .map(|e| entry_reply(&e))
                    .collect();
                served.push((key.clone(), Reply::Array(entries)));
            }
            Some((gname, cname)) => {
                let g = s
                    .groups
                    .get(gname.as_ref())
                    .expect("the group was checked above");
                let (history, gt) = match from[k] {
                    ReadFrom::After(id) => (true, id),
                    ReadFrom::New => {
                        let newer = if woken {
                            s.last_id > g.last_id
                        } else {
                            !s.is_empty() && s.last_live_id().is_some_and(|m| m > g.last_id)
                        };
                        if !newer {
                            continue;
                        }
                        (false, g.last_id)
                    }
                };
                let start = gt.next().unwrap_or(StreamId::MAX);
                let mut props = Vec::new();
                let mut created = false;
                let reply = modify(ctx, key, |s| {
                    let r = serve_group(
                        s,
                        key,
                        gname,
                        cname,
                        start,
                        count,
                        (noack, history),
                        now,
                        &mut props,
                        &mut created,
                    );
                    (r, true)
                });
                for p in props {
                    ctx.propagate_as(p);
                }
                if created {
                    ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
                }
                served.push((key.clone(), reply));
            }
        }
    }
    if !served.is_empty() {
        return if ctx.client.proto == Proto::Resp2 {
            Reply::Array(
                served
                    .into_iter()
                    .map(|(k, r)| Reply::Array(vec![Reply::Bulk(k), r]))
                    .collect(),
            )
        } else {
            Reply::Map(
                served
                    .into_iter()
                    .map(|(k, r)| (Reply::Bulk(k), r))
                    .collect(),
            )
        };
    }
    let Some(timeout) = timeout else {
        return Reply::NullArray;
    };
    // The waiter re-runs this command: `$` becomes the ID it stood for, and
    // a missing COUNT becomes Redis's default for blocked reads.
    let mut again: Vec<Bytes> = Vec::with_capacity(argv.len() + 2);
    again.push(argv[0].clone());
    if !count_given {
        again.push(Bytes::from_static(b"COUNT"));
        again.push(Bytes::from_static(BLOCKED_DEFAULT_COUNT.as_bytes()));
    }
    again.extend_from_slice(&argv[1..streams_at + n]);
    for (k, f) in from.iter().enumerate() {
        let arg = &argv[streams_at + n + k];
        match f {
            ReadFrom::After(id) if arg.as_ref() == b"$" => again.push(id_bytes(*id)),
            _ => again.push(arg.clone()),
        }
    }
    ctx.block_as(again, keys.to_vec(), timeout, Reply::NullArray)
}

/// XCLAIM key group consumer 0 id TIME t RETRYCOUNT n FORCE JUSTID LASTID last.
fn xclaim_form(key: &[u8], group: &[u8], id: Bytes, nack: &Nack, last: StreamId) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XCLAIM"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        Bytes::copy_from_slice(&nack.consumer),
        Bytes::from_static(b"0"),
        id,
        Bytes::from_static(b"TIME"),
        Bytes::from(nack.delivery_time.to_string()),
        Bytes::from_static(b"RETRYCOUNT"),
        Bytes::from(nack.delivery_count.to_string()),
        Bytes::from_static(b"FORCE"),
        Bytes::from_static(b"JUSTID"),
        Bytes::from_static(b"LASTID"),
        id_bytes(last),
    ]
}

fn setid_form(key: &[u8], group: &[u8], g: &Group) -> Vec<Bytes> {
    vec![
        Bytes::from_static(b"XGROUP"),
        Bytes::from_static(b"SETID"),
        Bytes::copy_from_slice(key),
        Bytes::copy_from_slice(group),
        id_bytes(g.last_id),
        Bytes::from_static(b"ENTRIESREAD"),
        Bytes::from(g.entries_read.to_string()),
    ]
}

/// Serves one stream of an XREADGROUP (Redis's `streamReplyWithRange` with
/// a group, or its consumer-PEL variant for history). Sets `created` when
/// the consumer had to be created.
#[allow(clippy::too_many_arguments)]
fn serve_group(
    s: &mut StreamValue,
    key: &[u8],
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: u64,
    (noack, history): (bool, bool),
    now: u64,
    props: &mut Vec<Vec<Bytes>>,
    created: &mut bool,
) -> Reply {
    let take = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    {
        let g = s.groups.get_mut(gname).expect("the group exists");
        match g.consumers.get_mut(cname) {
            Some(c) => c.seen_time = now,
            None => {
                g.create_consumer(cname, now);
                *created = true;
                if noack {
                    props.push(vec![
                        Bytes::from_static(b"XGROUP"),
                        Bytes::from_static(b"CREATECONSUMER"),
                        Bytes::copy_from_slice(key),
                        Bytes::copy_from_slice(gname),
                        Bytes::copy_from_slice(cname),
                    ]);
                }
            }
        }
    }
    if history {
        let ids: Vec<StreamId> = s.groups[gname].consumers[cname]
            .pel
            .range(start..)
            .take(take)
            .copied()
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match s.get(id) {
                Some(e) => {
                    out.push(entry_reply(&e));
                    let g = s.groups.get_mut(gname).expect("the group exists");
                    if let Some(nack) = g.pel.get_mut(&id) {
                        nack.delivery_time = now;
                        nack.delivery_count += 1;
                    }
                }
                None => out.push(Reply::Array(vec![id_reply(id), Reply::NullArray])),
            }
        }
        return Reply::Array(out);
    }
    let entries: Vec<(StreamId, Reply)> = s
        .range(start, StreamId::MAX, false)
        .take(take)
        .map(|e| (e.id, entry_reply(&e)))
        .collect();
    let mut propagate_last_id = false;
    let mut out = Vec::with_capacity(entries.len());
    for (id, reply) in entries {
        let last = s.groups[gname].last_id;
        if id > last {
            s.advance_group(gname, id);
            if noack {
                propagate_last_id = true;
            }
        }
        out.push(reply);
        if !noack {
            let g = s.groups.get_mut(gname).expect("the group exists");
            let last = g.last_id;
            let nack = g.assign(id, cname);
            nack.delivery_time = now;
            nack.delivery_count = 1;
            props.push(xclaim_form(key, gname, id_bytes(id), nack, last));
        }
    }
    if propagate_last_id {
        props.push(setid_form(key, gname, &s.groups[gname]));
    }
    Reply::Array(out)
}

// ---------------------------------------------------------------------------
// Consumer groups.

fn xgroup_help(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    help_reply(
        "xgroup",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// XGROUP CREATE / SETID / DESTROY / CREATECONSUMER / DELCONSUMER, as
/// Redis's `xgroupCommand` checks them.
fn xgroup(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let opt = &argv[1];
    let create = is(opt, "create");
    let setid = is(opt, "setid");
    let mut mkstream = false;
    let mut entries_read = INVALID_ENTRIES_READ;
    let mut i = 5;
    while i < argv.len() {
        if create && is(&argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && is(&argv[i], "entriesread") && i + 1 < argv.len() {
            entries_read = tri!(args::int(&argv[i + 1]));
            if entries_read < 0 && entries_read != INVALID_ENTRIES_READ {
                return Reply::error("ERR value for ENTRIESREAD must be positive or -1");
            }
            i += 2;
        } else {
            return subcommand_syntax_error("xgroup", opt);
        }
    }
    let key = &argv[2];
    let gname = &argv[3];
    let (exists, has_group, last_id) = match tri!(write_stream(ctx, key)) {
        Some(s) => (true, s.groups.contains_key(gname.as_ref()), s.last_id),
        None => (false, false, StreamId::MIN),
    };
    if !mkstream {
        if !exists {
            return Reply::error(
                "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.",
            );
        }
        if !has_group && !create && !is(opt, "destroy") {
            return Reply::error(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                text(gname),
                text(key)
            ));
        }
    }
    let now = ctx.now_ms;
    if create && argv.len() <= 8 {
        let id = if argv[4].as_ref() == b"$" {
            last_id
        } else {
            tri!(parse_strict_id(&argv[4]))
        };
        if has_group {
            return Reply::error("BUSYGROUP Consumer Group name already exists");
        }
        if !exists {
            let mut s = StreamValue::new();
            s.groups
                .insert(SmallBytes::from_slice(gname), Group::new(id, entries_read));
            ctx.db().insert(key, Value::Stream(Box::new(s)), None, now);
        } else {
            modify(ctx, key, |s| {
                s.groups
                    .insert(SmallBytes::from_slice(gname), Group::new(id, entries_read));
                ((), true)
            });
        }
        ctx.notify(notify::STREAM, "xgroup-create", key);
        Reply::ok()
    } else if setid && (argv.len() == 5 || argv.len() == 7) {
        let id = if argv[4].as_ref() == b"$" {
            last_id
        } else {
            tri!(parse_id(&argv[4], 0))
        };
        modify(ctx, key, |s| {
            if let Some(g) = s.groups.get_mut(gname.as_ref()) {
                g.last_id = id;
                g.entries_read = entries_read;
            }
            ((), true)
        });
        ctx.notify(notify::STREAM, "xgroup-setid", key);
        Reply::ok()
    } else if is(opt, "destroy") && argv.len() == 4 {
        if !has_group {
            return Reply::Int(0);
        }
        modify(ctx, key, |s| {
            s.groups.remove(gname.as_ref());
            ((), true)
        });
        ctx.notify(notify::STREAM, "xgroup-destroy", key);
        // Blocked XREADGROUP readers of the group get their error.
        ctx.signal_ready(key);
        Reply::Int(1)
    } else if is(opt, "createconsumer") && argv.len() == 5 {
        let created = modify(ctx, key, |s| {
            let created = s
                .groups
                .get_mut(gname.as_ref())
                .is_some_and(|g| g.create_consumer(&argv[4], now));
            (created, created)
        });
        if created {
            ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
        }
        Reply::Int(i64::from(created))
    } else if is(opt, "delconsumer") && argv.len() == 5 {
        let pending = modify(ctx, key, |s| {
            let n = s
                .groups
                .get_mut(gname.as_ref())
                .and_then(|g| g.delete_consumer(&argv[4]));
            (n, n.is_some())
        });
        if let Some(pending) = pending {
            ctx.notify(notify::STREAM, "xgroup-delconsumer", key);
            return Reply::Int(pending as i64);
        }
        Reply::Int(0)
    } else {
        subcommand_syntax_error("xgroup", opt)
    }
}

fn xack(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let has_group = match tri!(read_stream(ctx, key)) {
        Some(s) => s.groups.contains_key(argv[2].as_ref()),
        None => false,
    };
    if !has_group {
        return Reply::Int(0);
    }
    let mut ids = Vec::with_capacity(argv.len() - 3);
    for a in &argv[3..] {
        ids.push(tri!(parse_strict_id(a)));
    }
    let n = modify(ctx, key, |s| {
        let g = s.groups.get_mut(argv[2].as_ref()).expect("checked above");
        let n = ids.iter().filter(|&&id| g.ack(id)).count();
        (n, n > 0)
    });
    Reply::Int(n as i64)
}

fn xpending(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let argc = argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Reply::syntax_error();
    }
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut count: i64 = 0;
    let mut minidle: i64 = 0;
    let mut consumer: Option<&Bytes> = None;
    if argc >= 6 {
        let mut at = 3;
        if is(&argv[3], "idle") {
            minidle = tri!(args::int(&argv[4]));
            if argc < 8 {
                return Reply::syntax_error();
            }
            at += 2;
        }
        count = tri!(args::int(&argv[at + 2])).max(0);
        start = tri!(parse_start(&argv[at]));
        end = tri!(parse_end(&argv[at + 1]));
        if at + 3 < argc {
            consumer = Some(&argv[at + 3]);
        }
    }
    let key = &argv[1];
    let gname = &argv[2];
    let now = ctx.now_ms;
    let s = match tri!(read_stream(ctx, key)) {
        Some(s) => s,
        None => return no_group_error(key, gname),
    };
    let Some(g) = s.groups.get(gname.as_ref()) else {
        return no_group_error(key, gname);
    };
    if justinfo {
        let Some((first, _)) = g.pel.first_key_value() else {
            return Reply::Array(vec![
                Reply::Int(0),
                Reply::Null,
                Reply::Null,
                Reply::NullArray,
            ]);
        };
        let last = *g.pel.keys().next_back().expect("the PEL is not empty");
        let consumers: Vec<Reply> = g
            .consumers
            .iter()
            .filter(|(_, c)| !c.pel.is_empty())
            .map(|(name, c)| {
                Reply::Array(vec![
                    bulk(name),
                    Reply::Bulk(Bytes::from(c.pel.len().to_string())),
                ])
            })
            .collect();
        return Reply::Array(vec![
            Reply::Int(g.pel.len() as i64),
            id_reply(*first),
            id_reply(last),
            Reply::Array(consumers),
        ]);
    }
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(name) => match g.consumers.get(name.as_ref()) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => return Reply::Array(Vec::new()),
        },
        None => Box::new(g.pel.range(start..).map(|(id, _)| *id)),
    };
    let mut out = Vec::new();
    if start > end {
        return Reply::Array(out);
    }
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(nack) = g.pel.get(&id) else {
            continue;
        };
        let idle = now as i64 - nack.delivery_time as i64;
        if minidle != 0 && idle < minidle {
            continue;
        }
        count -= 1;
        out.push(Reply::Array(vec![
            id_reply(id),
            bulk(&nack.consumer),
            Reply::Int(idle.max(0)),
            Reply::Int(nack.delivery_count as i64),
        ]));
    }
    Reply::Array(out)
}

fn xclaim(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let key = &argv[1];
    let gname = &argv[2];
    let has_group = match tri!(read_stream(ctx, key)) {
        Some(s) => s.groups.contains_key(gname.as_ref()),
        None => false,
    };
    if !has_group {
        return no_group_error(key, gname);
    }
    let minidle = tri!(int_with(
        &argv[4],
        "ERR Invalid min-idle-time argument for XCLAIM"
    ))
    .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match parse_strict_id(&argv[j]) {
            Ok(id) => ids.push((id, argv[j].clone())),
            Err(_) => break,
        }
        j += 1;
    }
    let now = ctx.now_ms as i64;
    let mut force = false;
    let mut justid = false;
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let opt = &argv[j];
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            let idle = tri!(int_with(
                &argv[j],
                "ERR Invalid IDLE option argument for XCLAIM"
            ));
            deliverytime = now.wrapping_sub(idle);
        } else if is(opt, "time") && more > 0 {
            j += 1;
            deliverytime = tri!(int_with(
                &argv[j],
                "ERR Invalid TIME option argument for XCLAIM"
            ));
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retrycount = tri!(int_with(
                &argv[j],
                "ERR Invalid RETRYCOUNT option argument for XCLAIM"
            ));
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = tri!(parse_strict_id(&argv[j]));
        } else {
            return Reply::error(format!("ERR Unrecognized XCLAIM option '{}'", text(opt)));
        }
        j += 1;
    }
    if deliverytime == -1 || deliverytime < 0 || deliverytime > now {
        deliverytime = now;
    }
    let cname = &argv[3];
    let mut props = Vec::new();
    let mut created = false;
    let (reply, changed) = modify(ctx, key, |s| {
        let mut changed = false;
        let mut propagate_last_id = false;
        {
            let g = s.groups.get_mut(gname.as_ref()).expect("checked above");
            if last_id > g.last_id {
                g.last_id = last_id;
                propagate_last_id = true;
            }
        }
        let mut out = Vec::new();
        let mut consumer_ready = false;
        for (id, arg) in &ids {
            let id = *id;
            let exists = s.get(id).is_some();
            let g = s.groups.get_mut(gname.as_ref()).expect("checked above");
            if !exists {
                if let Some(nack) = g.pel.get(&id) {
                    props.push(xclaim_form(key, gname, arg.clone(), nack, g.last_id));
                    propagate_last_id = false;
                    changed = true;
                    g.ack(id);
                }
                continue;
            }
            let mut fresh = false;
            if force && !g.pel.contains_key(&id) {
                fresh = true;
            }
            if !fresh && !g.pel.contains_key(&id) {
                continue;
            }
            if !fresh && minidle != 0 {
                let t = g.pel[&id].delivery_time as i64;
                if now - t < minidle {
                    continue;
                }
            }
            if !consumer_ready {
                match g.consumers.get_mut(cname.as_ref()) {
                    Some(c) => c.seen_time = now as u64,
                    None => {
                        g.create_consumer(cname, now as u64);
                        created = true;
                    }
                }
                consumer_ready = true;
            }
            let last = g.last_id;
            let nack = g.assign(id, cname);
            if fresh {
                nack.delivery_count = 1;
            }
            nack.delivery_time = deliverytime as u64;
            if retrycount >= 0 {
                nack.delivery_count = retrycount as u64;
            } else if !justid {
                nack.delivery_count += 1;
            }
            props.push(xclaim_form(key, gname, arg.clone(), nack, last));
            propagate_last_id = false;
            changed = true;
            if justid {
                out.push(id_reply(id));
            } else if let Some(e) = s.get(id) {
                out.push(entry_reply(&e));
            }
        }
        if propagate_last_id {
            props.push(setid_form(key, gname, &s.groups[gname.as_ref()]));
            changed = true;
        }
        ((Reply::Array(out), changed), changed)
    });
    ctx.propagate_none();
    if changed {
        for p in props {
            ctx.propagate_as(p);
        }
    }
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    reply
}

fn xautoclaim(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let minidle = tri!(int_with(
        &argv[4],
        "ERR Invalid min-idle-time argument for XAUTOCLAIM"
    ))
    .max(0);
    let start = tri!(parse_start(&argv[5]));
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if is(&argv[j], "count") && more > 0 {
            let max = i64::MAX / 16;
            count = match num::parse_i64(&argv[j + 1]) {
                Some(n) if (1..=max).contains(&n) => n,
                _ => return Reply::error("ERR COUNT must be > 0"),
            };
            j += 1;
        } else if is(&argv[j], "justid") {
            justid = true;
        } else {
            return Reply::syntax_error();
        }
        j += 1;
    }
    let key = &argv[1];
    let gname = &argv[2];
    let has_group = match tri!(read_stream(ctx, key)) {
        Some(s) => s.groups.contains_key(gname.as_ref()),
        None => false,
    };
    if !has_group {
        return no_group_error(key, gname);
    }
    let cname = &argv[3];
    let now = ctx.now_ms;
    let mut props = Vec::new();
    let mut created = false;
    let (reply, changed) = modify(ctx, key, |s| {
        let mut attempts = count.saturating_mul(10);
        let ids: Vec<StreamId> = s.groups[gname.as_ref()]
            .pel
            .range(start..)
            .map(|(id, _)| *id)
            .collect();
        let mut out = Vec::new();
        let mut deleted = Vec::new();
        let mut examined = 0;
        let mut consumer_ready = false;
        let mut changed = false;
        while attempts > 0 && count > 0 && examined < ids.len() {
            attempts -= 1;
            let id = ids[examined];
            examined += 1;
            let exists = s.get(id).is_some();
            let g = s.groups.get_mut(gname.as_ref()).expect("checked above");
            if !exists {
                if let Some(nack) = g.pel.get(&id) {
                    props.push(xclaim_form(key, gname, id_bytes(id), nack, g.last_id));
                }
                g.ack(id);
                deleted.push(id_reply(id));
                count -= 1;
                changed = true;
                continue;
            }
            if minidle != 0 {
                let t = g.pel[&id].delivery_time as i64;
                if (now as i64) - t < minidle {
                    continue;
                }
            }
            if !consumer_ready {
                match g.consumers.get_mut(cname.as_ref()) {
                    Some(c) => c.seen_time = now,
                    None => {
                        g.create_consumer(cname, now);
                        created = true;
                    }
                }
                consumer_ready = true;
            }
            let last = g.last_id;
            let nack = g.assign(id, cname);
            nack.delivery_time = now;
            if !justid {
                nack.delivery_count += 1;
            }
            props.push(xclaim_form(key, gname, id_bytes(id), nack, last));
            changed = true;
            if justid {
                out.push(id_reply(id));
            } else if let Some(e) = s.get(id) {
                out.push(entry_reply(&e));
            }
            count -= 1;
        }
        let cursor = ids.get(examined).copied().unwrap_or(StreamId::MIN);
        (
            (
                Reply::Array(vec![
                    id_reply(cursor),
                    Reply::Array(out),
                    Reply::Array(deleted),
                ]),
                changed,
            ),
            changed,
        )
    });
    ctx.propagate_none();
    if changed {
        for p in props {
            ctx.propagate_as(p);
        }
    }
    if created {
        ctx.notify(notify::STREAM, "xgroup-createconsumer", key);
    }
    reply
}

// ---------------------------------------------------------------------------
// XINFO.

fn xinfo_help(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    help_reply(
        "xinfo",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

fn info_stream<'c>(ctx: &'c mut ExecCtx<'_>, key: &[u8]) -> Result<&'c StreamValue, Reply> {
    match as_stream(lookup_read(ctx, key))? {
        Some(s) => Ok(s),
        None => Err(Reply::no_such_key()),
    }
}

fn field(name: &'static str) -> Reply {
    Reply::Bulk(Bytes::from_static(name.as_bytes()))
}

fn entries_read_reply(g: &Group) -> Reply {
    if g.entries_read != INVALID_ENTRIES_READ {
        Reply::Int(g.entries_read)
    } else {
        Reply::Null
    }
}

fn lag_reply(s: &StreamValue, g: &Group) -> Reply {
    match s.group_lag(g) {
        Some(l) => Reply::Int(l),
        None => Reply::Null,
    }
}

fn xinfo_consumers(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let now = ctx.now_ms;
    let s = tri!(info_stream(ctx, &argv[2]));
    let Some(g) = s.groups.get(argv[3].as_ref()) else {
        return Reply::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            text(&argv[3]),
            text(&argv[2])
        ));
    };
    Reply::Array(
        g.consumers
            .iter()
            .map(|(name, c)| {
                Reply::Map(vec![
                    (field("name"), bulk(name)),
                    (field("pending"), Reply::Int(c.pel.len() as i64)),
                    (
                        field("idle"),
                        Reply::Int((now as i64 - c.seen_time as i64).max(0)),
                    ),
                ])
            })
            .collect(),
    )
}

fn xinfo_groups(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let s = tri!(info_stream(ctx, &argv[2]));
    Reply::Array(
        s.groups
            .iter()
            .map(|(name, g)| {
                Reply::Map(vec![
                    (field("name"), bulk(name)),
                    (field("consumers"), Reply::Int(g.consumers.len() as i64)),
                    (field("pending"), Reply::Int(g.pel.len() as i64)),
                    (field("last-delivered-id"), id_reply(g.last_id)),
                    (field("entries-read"), entries_read_reply(g)),
                    (field("lag"), lag_reply(s, g)),
                ])
            })
            .collect(),
    )
}

fn xinfo_stream(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let opts = &argv[3..];
    let mut full = false;
    let mut count: i64 = 10;
    if !opts.is_empty() {
        if (opts.len() != 1 && opts.len() != 3) || !is(&opts[0], "full") {
            return subcommand_syntax_error("xinfo", &argv[1]);
        }
        full = true;
        if opts.len() == 3 {
            if !is(&opts[1], "count") {
                return subcommand_syntax_error("xinfo", &argv[1]);
            }
            count = tri!(args::int(&opts[2]));
            if count < 0 {
                count = 10;
            }
        }
    }
    let s = tri!(info_stream(ctx, &argv[2]));
    let mut m = vec![
        (field("length"), Reply::Int(s.len() as i64)),
        (field("radix-tree-keys"), Reply::Int(s.node_count() as i64)),
        (field("radix-tree-nodes"), Reply::Int(s.rax_nodes() as i64)),
        (field("last-generated-id"), id_reply(s.last_id)),
        (field("max-deleted-entry-id"), id_reply(s.max_deleted_id)),
        (field("entries-added"), Reply::Int(s.entries_added as i64)),
        (field("recorded-first-entry-id"), id_reply(s.first_id)),
    ];
    if !full {
        m.push((field("groups"), Reply::Int(s.groups.len() as i64)));
        let first = s.range(StreamId::MIN, StreamId::MAX, false).next();
        let last = s.range(StreamId::MIN, StreamId::MAX, true).next();
        m.push((
            field("first-entry"),
            first.map(|e| entry_reply(&e)).unwrap_or(Reply::Null),
        ));
        m.push((
            field("last-entry"),
            last.map(|e| entry_reply(&e)).unwrap_or(Reply::Null),
        ));
        return Reply::Map(m);
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    m.push((
        field("entries"),
        Reply::Array(
            s.range(StreamId::MIN, StreamId::MAX, false)
                .take(limit)
                .map(|e| entry_reply(&e))
                .collect(),
        ),
    ));
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pel
                .iter()
                .take(limit)
                .map(|(id, n)| {
                    Reply::Array(vec![
                        id_reply(*id),
                        bulk(&n.consumer),
                        Reply::Int(n.delivery_time as i64),
                        Reply::Int(n.delivery_count as i64),
                    ])
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| {
                    let own = c
                        .pel
                        .iter()
                        .take(limit)
                        .filter_map(|id| {
                            let n = g.pel.get(id)?;
                            Some(Reply::Array(vec![
                                id_reply(*id),
                                Reply::Int(n.delivery_time as i64),
                                Reply::Int(n.delivery_count as i64),
                            ]))
                        })
                        .collect();
                    Reply::Map(vec![
                        (field("name"), bulk(cname)),
                        (field("seen-time"), Reply::Int(c.seen_time as i64)),
                        (field("pel-count"), Reply::Int(c.pel.len() as i64)),
                        (field("pending"), Reply::Array(own)),
                    ])
                })
                .collect();
            Reply::Map(vec![
                (field("name"), bulk(name)),
                (field("last-delivered-id"), id_reply(g.last_id)),
                (field("entries-read"), entries_read_reply(g)),
                (field("lag"), lag_reply(s, g)),
                (field("pel-count"), Reply::Int(g.pel.len() as i64)),
                (field("pending"), Reply::Array(pending)),
                (field("consumers"), Reply::Array(consumers)),
            ])
        })
        .collect();
    m.push((field("groups"), Reply::Array(groups)));
    Reply::Map(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_parses_them() {
        assert_eq!(parse_id(b"5", 0).unwrap(), StreamId::new(5, 0));
        assert_eq!(
            parse_id(b"5", u64::MAX).unwrap(),
            StreamId::new(5, u64::MAX)
        );
        assert_eq!(parse_id(b"5-3", 0).unwrap(), StreamId::new(5, 3));
        assert_eq!(parse_id(b"-", 0).unwrap(), StreamId::MIN);
        assert_eq!(parse_id(b"+", 0).unwrap(), StreamId::MAX);
        assert!(parse_strict_id(b"+").is_err());
        assert!(parse_id(b"5-x", 0).is_err());
        assert!(parse_id(b"", 0).is_err());
        assert_eq!(
            parse_id_full(b"7-*", 0, true, true).unwrap(),
            (StreamId::new(7, 0), false)
        );
        assert!(parse_id(b"7-*", 0).is_err());
        assert_eq!(parse_start(b"(5-3").unwrap(), StreamId::new(5, 4));
        assert_eq!(parse_end(b"(5-0").unwrap(), StreamId::new(4, u64::MAX));
        assert_eq!(string2ull(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(string2ull(b"18446744073709551616"), None);
        assert_eq!(string2ull(b"-1"), None);
    }
}
