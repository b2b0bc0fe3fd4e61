//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted by
//! their own value or by weights looked up by pattern, optionally mapped
//! through GET patterns, and for SORT optionally stored as a list.
//!
//! The rules are Redis 7.0's (sort.c):
//! - Options are parsed before the key is looked up: a syntax error or a bad
//!   LIMIT wins over WRONGTYPE. A `BY` pattern without `*` (`BY nosort`)
//!   means "do not sort", even if a later `BY` has one; a missing key sorts
//!   as an empty list.
//! - Without sorting, lists and sorted sets keep their own order (reversed
//!   by DESC), and LIMIT is a plain range. A set is returned in its
//!   iteration order, except with STORE: then it is sorted ALPHA so the
//!   stored list (and a replica re-running the command) is deterministic.
//! - Numeric sorting parses each weight with C's `strtod` on a C string (up
//!   to a NUL, leading space allowed, the empty string is 0); trailing
//!   characters, NaN or an ERANGE result make the reply "One or more scores
//!   can't be converted into double". Equal scores fall back to comparing
//!   the elements' bytes. A missing BY key weighs 0. (Redis never clears
//!   `errno` before strtod, so after an earlier ERANGE on its thread a SORT
//!   can fail spuriously; that is not reproduced. A decimal weight that
//!   lands below the smallest normal double counts as inexact, as any such
//!   text short of hundreds of digits is.)
//! - ALPHA compares C strings (bytes up to the first NUL: `strcoll` in the C
//!   locale) for replies and exact bytes with STORE; a missing BY key sorts
//!   first. Ties keep their input order when the whole vector is sorted
//!   (glibc's `qsort` is a stable merge sort); with BY and a LIMIT that cuts
//!   the range, Redis's partial quicksort (`pqsort`) is reproduced exactly,
//!   ties included. Sets (other than intsets, which iterate in numeric order
//!   as in Redis) and sorted sets enter the sort in a fixed order (bytes,
//!   resp. the set's own order) where Redis uses its hash table's random
//!   one: any order is Redis-compatible, and this one is deterministic.
//! - A pattern's first `*` is replaced by the element; `key->field` reads a
//!   hash field; `#` (GET only) is the element itself. Only strings (or hash
//!   fields) are read; anything else counts as missing. Patterns are C
//!   strings up to the `*` and `->` searches, as in Redis.
//! - Sorting a sorted set converts it to the skiplist encoding for good
//!   (Redis does this even for SORT_RO); that is not a write.
//! - STORE replaces the destination (and its TTL) with a list of the
//!   results (a missing GET value stores as an empty string) or deletes it
//!   when there are none; the command is then propagated as sent.
//!
//! Every weight and GET lookup is a read lookup (hit/miss statistics, lazy
//! expiry), as Redis's `lookupKeyRead`.

use std::cmp::Ordering;

use bytes::Bytes;
use tandem_storage::types::list::{End, ListValue};
use tandem_storage::types::set::SetValue;
use tandem_storage::types::zset::parse_c_double;
use tandem_storage::Value;

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::hashes::lookup_read;
use crate::commands::pqsort::pqsort;
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::Reply;
use crate::tri;

const COMPLEXITY: &str = "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N).";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "sort",
        -2,
        WRITE | DENYOOM | MOVABLE_KEYS,
        KeySpec::ONE,
        sort,
    )
    .doc(
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
    )
    .complexity(COMPLEXITY)
    .acl(&["write", "set", "sortedset", "list", "slow", "dangerous"]),
    CommandSpec::new(
        "sort_ro",
        -2,
        READONLY | MOVABLE_KEYS,
        KeySpec::ONE,
        sort_ro,
    )
    .doc(
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
    )
    .complexity(COMPLEXITY)
    .acl(&["read", "set", "sortedset", "list", "slow", "dangerous"]),
];

fn sort(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    sort_generic(ctx, argv, true)
}

/// The options of one SORT.
#[derive(Debug, Default)]
struct Options {
    desc: bool,
    alpha: bool,
    limit_start: i64,
    /// -1: no limit.
    limit_count: i64,
    store: Option<Bytes>,
    by: Option<Bytes>,
    /// A BY pattern without `*` was given.
    dont_sort: bool,
    gets: Vec<Bytes>,
}

impl Options {
    fn parse(argv: &[Bytes], readonly: bool) -> Result<Options, Reply> {
        let mut o = Options {
            limit_count: -1,
            ..Options::default()
        };
        let mut j = 2;
        while j < argv.len() {
            let left = argv.len() - j - 1;
            let arg = &argv[j];
            if is(arg, "asc") {
                o.desc = false;
            } else if is(arg, "desc") {
                o.desc = true;
            } else if is(arg, "alpha") {
                o.alpha = true;
            } else if is(arg, "limit") && left >= 2 {
                o.limit_start = args::int(&argv[j + 1])?;
                o.limit_count = args::int(&argv[j + 2])?;
                j += 2;
            } else if !readonly && is(arg, "store") && left >= 1 {
                o.store = Some(argv[j + 1].clone());
                j += 1;
            } else if is(arg, "by") && left >= 1 {
                let pattern = &argv[j + 1];
                if star(pattern).is_none() {
                    o.dont_sort = true;
                }
                o.by = Some(pattern.clone());
                j += 1;
            } else if is(arg, "get") && left >= 1 {
                o.gets.push(argv[j + 1].clone());
                j += 1;
            } else {
                return Err(Reply::syntax_error());
            }
            j += 1;
        }
        Ok(o)
    }
}

/// The bytes of `b` up to its first NUL: what C string functions see.
fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(end) => &b[..end],
        None => b,
    }
}

/// Where a pattern's `*` is, as `strchr` finds it.
fn star(pattern: &[u8]) -> Option<usize> {
    c_str(pattern).iter().position(|&c| c == b'*')
}

/// What a pattern names for element `elem`: the key and, for `key->field`,
/// the hash field. `None` when the pattern has no `*`.
fn substitute<'p>(pattern: &'p [u8], elem: &[u8]) -> Option<(Vec<u8>, Option<&'p [u8]>)> {
    let star = star(pattern)?;
    let text = c_str(pattern);
    // The first "->" after the star, followed by a field that is not empty
    // as a C string; the field then runs to the pattern's real end.
    let arrow = text[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|p| star + 1 + p)
        .filter(|&f| f + 2 < text.len());
    let (postfix, field) = match arrow {
        Some(f) => (&pattern[star + 1..f], Some(&pattern[f + 2..])),
        None => (&pattern[star + 1..], None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + postfix.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(postfix);
    Some((key, field))
}

/// Redis's `lookupKeyByPattern`: the string (or hash field) a pattern names
/// for `elem`, `#` being the element itself.
fn lookup_pattern(ctx: &mut ExecCtx<'_>, pattern: &[u8], elem: &Bytes) -> Option<Bytes> {
    if pattern.first() == Some(&b'#') && pattern.get(1).is_none_or(|&c| c == 0) {
        return Some(elem.clone());
    }
    let (key, field) = substitute(pattern, elem)?;
    match (lookup_read(ctx, &key)?, field) {
        (Value::Str(s), None) => Some(Bytes::copy_from_slice(s)),
        (Value::Hash(h), Some(field)) => h.get(field).map(Bytes::copy_from_slice),
        _ => None,
    }
}

/// One element being sorted and what it sorts by.
#[derive(Debug)]
struct Item {
    elem: Bytes,
    /// Numeric sorting: the weight (0 when its BY key is missing).
    score: f64,
    /// ALPHA with BY: the weight, `None` when its key is missing.
    by: Option<Bytes>,
}

impl Item {
    fn new(elem: Bytes) -> Item {
        Item {
            elem,
            score: 0.0,
            by: None,
        }
    }
}

/// Redis's `sortCompare`.
#[derive(Clone, Copy, Debug)]
struct Compare {
    desc: bool,
    alpha: bool,
    by_pattern: bool,
    /// STORE compares exact bytes where a reply collates C strings.
    store: bool,
}

impl Compare {
    fn cmp(&self, a: &Item, b: &Item) -> Ordering {
        let text = |x: &[u8], y: &[u8]| {
            if self.store {
                x.cmp(y)
            } else {
                c_str(x).cmp(c_str(y))
            }
        };
        let ord = if !self.alpha {
            if a.score > b.score {
                Ordering::Greater
            } else if a.score < b.score {
                Ordering::Less
            } else {
                a.elem.cmp(&b.elem)
            }
        } else if self.by_pattern {
            match (&a.by, &b.by) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => text(x, y),
            }
        } else {
            text(&a.elem, &b.elem)
        };
        if self.desc {
            ord.reverse()
        } else {
            ord
        }
    }
}

/// The range LIMIT selects out of `len` elements, as Redis computes it:
/// `(start, end)` inclusive, empty when `end < start`.
fn limit_range(start: i64, count: i64, len: i64) -> (i64, i64) {
    let mut start = start.max(0).min(len);
    let count = count.max(-1).min(len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    (start, end)
}

/// The value being sorted, copied out of the keyspace.
enum Source {
    /// A list, or a missing key (an empty list).
    List(Vec<Bytes>),
    Set(Vec<Bytes>),
    ZSet(Vec<Bytes>),
}

fn bytes_of(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

fn set_members(s: &SetValue, dont_sort: bool) -> Vec<Bytes> {
    let mut members: Vec<Bytes> = s.iter().map(|m| m.with_bytes(bytes_of)).collect();
    // An intset iterates in numeric order, as Redis's does; a hash table's
    // order is arbitrary, so a sort starts from a fixed one.
    if !dont_sort && !s.is_intset() {
        members.sort_unstable();
    }
    members
}

fn sort_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], readonly: bool) -> Reply {
    let mut o = tri!(Options::parse(argv, readonly));
    let key = &argv[1];
    let source = match lookup_read(ctx, key) {
        None => Source::List(Vec::new()),
        Some(Value::List(l)) => Source::List(l.iter().map(|e| bytes_of(e)).collect()),
        Some(Value::Set(s)) => {
            // Left unsorted only without STORE (see below).
            let dont_sort = o.dont_sort && o.store.is_none();
            Source::Set(set_members(s, dont_sort))
        }
        Some(Value::ZSet(z)) => Source::ZSet(z.iter().map(|(m, _)| bytes_of(m)).collect()),
        Some(_) => return Reply::wrong_type(),
    };
    if let Source::Set(_) = source {
        // A set stored unsorted would differ from node to node: Redis sorts
        // it ALPHA (by the members) instead.
        if o.dont_sort && o.store.is_some() {
            o.dont_sort = false;
            o.alpha = true;
            o.by = None;
        }
    }
    if let Source::ZSet(_) = source {
        let now = ctx.now_ms;
        ctx.db().reencode(key, now, |v| {
            if let Value::ZSet(z) = v {
                z.convert_to_skiplist();
            }
        });
    }

    let (elems, ordered) = match source {
        Source::List(v) | Source::ZSet(v) => (v, true),
        Source::Set(v) => (v, false),
    };
    let len = elems.len() as i64;
    let (mut start, mut end) = limit_range(o.limit_start, o.limit_count, len);

    let mut items: Vec<Item> = if ordered && o.dont_sort {
        // Lists and sorted sets keep their order; only the range is taken.
        let picked = if end >= start {
            let (from, n) = (start as usize, (end - start + 1) as usize);
            end -= start;
            start = 0;
            if o.desc {
                elems.into_iter().rev().skip(from).take(n).collect()
            } else {
                elems.into_iter().skip(from).take(n).collect()
            }
        } else {
            Vec::new()
        };
        picked.into_iter().map(Item::new).collect()
    } else {
        elems.into_iter().map(Item::new).collect()
    };

    let mut conversion_error = false;
    if !o.dont_sort {
        for item in &mut items {
            let weight = match &o.by {
                Some(pattern) => match lookup_pattern(ctx, pattern, &item.elem) {
                    Some(w) => w,
                    None => continue,
                },
                None => item.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by = Some(weight);
                }
            } else {
                match parse_c_double(&weight) {
                    Some((v, range_error)) if !range_error && !v.is_nan() => item.score = v,
                    _ => conversion_error = true,
                }
            }
        }
        // A failed conversion answers an error: the order does not matter.
        if !conversion_error {
            let cmp = Compare {
                desc: o.desc,
                alpha: o.alpha,
                by_pattern: o.by.is_some(),
                store: o.store.is_some(),
            };
            let last = items.len() as i64 - 1;
            if o.by.is_some() && (start != 0 || end != last) {
                pqsort(&mut items, start, end, &mut |a, b| cmp.cmp(a, b));
            } else {
                items.sort_by(|a, b| cmp.cmp(a, b));
            }
        }
    }
    if conversion_error {
        return Reply::error("ERR One or more scores can't be converted into double");
    }

    // Empty when end < start; the range is within the items otherwise.
    let range = match (usize::try_from(start), usize::try_from(end)) {
        (Ok(start), Ok(end)) if end >= start => items.get(start..=end).unwrap_or_default(),
        _ => &[],
    };
    let Some(dst) = o.store else {
        let mut out = Vec::with_capacity(range.len() * o.gets.len().max(1));
        for item in range {
            if o.gets.is_empty() {
                out.push(Reply::Bulk(item.elem.clone()));
            }
            for pattern in &o.gets {
                out.push(match lookup_pattern(ctx, pattern, &item.elem) {
                    Some(v) => Reply::Bulk(v),
                    None => Reply::Null,
                });
            }
        }
        return Reply::Array(out);
    };

    let mut list = ListValue::new();
    for item in range {
        if o.gets.is_empty() {
            list.push(End::Tail, &item.elem);
        }
        for pattern in &o.gets {
            let v = lookup_pattern(ctx, pattern, &item.elem).unwrap_or_default();
            list.push(End::Tail, &v);
        }
    }
    let stored = list.len();
    let now = ctx.now_ms;
    let changed = if stored > 0 {
        ctx.db()
            .insert(&dst, Value::List(Box::new(list)), None, now);
        ctx.notify(notify::LIST, "sortstore", &dst);
        true
    } else {
        let deleted = ctx.db().remove(&dst, now).is_some();
        if deleted {
            ctx.notify(notify::GENERIC, "del", &dst);
        }
        deleted
    };
    if changed {
        let db = ctx.client.db;
        crate::multi::touch_key(ctx.data, db, &dst);
    }
    Reply::Int(stored as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table;
    use crate::commands::testing::{bulk, bulks, err, int, Harness};

    const CONVERSION: &str = "ERR One or more scores can't be converted into double";

    fn run_bytes(h: &mut Harness, args: &[&[u8]]) -> Reply {
        let argv: Vec<Bytes> = args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let mut data = h.server.data.lock();
        crate::exec::execute(&h.server, &mut data, &mut h.client, &argv, h.now).decoded()
    }

    fn arr(items: Vec<Reply>) -> Reply {
        Reply::Array(items)
    }

    #[test]
    fn table_entries_match_redis() {
        let sort = table().lookup(b"sort").expect("registered");
        assert_eq!(sort.arity, -2);
        assert_eq!(sort.flags, WRITE | DENYOOM | MOVABLE_KEYS);
        assert_eq!((sort.keys.first, sort.keys.last, sort.keys.step), (1, 1, 1));
        let ro = table().lookup(b"SORT_RO").expect("registered");
        assert_eq!(ro.flags, READONLY | MOVABLE_KEYS);
        assert_eq!(ro.since, "7.0.0");
        assert_eq!(ro.group, "generic");
    }

    #[test]
    fn numeric_and_alpha_sorting() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "3", "10", "-1.5", "2", "0x10", " 7", ""]);
        assert_eq!(
            h.run(&["SORT", "l"]),
            bulks(&["-1.5", "", "2", "3", " 7", "10", "0x10"])
        );
        assert_eq!(
            h.run(&["SORT", "l", "DESC", "LIMIT", "1", "2"]),
            bulks(&["10", " 7"])
        );
        assert_eq!(
            h.run(&["SORT", "l", "ALPHA"]),
            bulks(&["", " 7", "-1.5", "0x10", "10", "2", "3"])
        );
        // Equal scores fall back to the elements' bytes.
        h.run(&["RPUSH", "e", "1.0", "1", "01", "1e0"]);
        assert_eq!(h.run(&["SORT", "e"]), bulks(&["01", "1", "1.0", "1e0"]));
        h.run(&["SADD", "s", "5", "-3", "12"]);
        assert_eq!(h.run(&["SORT", "s"]), bulks(&["-3", "5", "12"]));
        h.run(&["ZADD", "z", "1", "c", "2", "b", "3", "a"]);
        assert_eq!(h.run(&["SORT", "z", "ALPHA"]), bulks(&["a", "b", "c"]));
        assert_eq!(h.run(&["SORT", "nokey"]), arr(vec![]));
        assert_eq!(
            h.run(&["SORT_RO", "l", "LIMIT", "0", "1"]),
            bulks(&["-1.5"])
        );
    }

    #[test]
    fn weights_that_are_not_numbers() {
        let mut h = Harness::new();
        for bad in ["abc", "1e400", "1e-310", "nan", "1 ", "inf x", "  "] {
            h.run(&["DEL", "l"]);
            h.run(&["RPUSH", "l", "1", bad]);
            assert_eq!(h.run(&["SORT", "l"]), err(CONVERSION), "{bad:?}");
        }
        for good in [
            "inf",
            "-Infinity",
            "0x1p-1070",
            "2.2250738585072014e-308",
            "1e308",
        ] {
            h.run(&["DEL", "l"]);
            h.run(&["RPUSH", "l", good]);
            assert_eq!(h.run(&["SORT", "l"]), bulks(&[good]), "{good:?}");
        }
        // The text ends at a NUL byte, as strtod sees it.
        h.run(&["DEL", "l"]);
        run_bytes(&mut h, &[b"RPUSH", b"l", b"5\0x", b"4"]);
        assert_eq!(
            h.run(&["SORT", "l"]),
            arr(vec![bulk("4"), Reply::Bulk(Bytes::from_static(b"5\0x"))])
        );
        // A bad BY weight fails the same way; a missing one weighs 0.
        h.run(&["SET", "w_4", "x"]);
        assert_eq!(h.run(&["SORT", "l", "BY", "w_*"]), err(CONVERSION));
        h.run(&["SET", "w_4", "-1"]);
        assert_eq!(
            h.run(&["SORT", "l", "BY", "w_*", "GET", "#"]),
            arr(vec![bulk("4"), Reply::Bulk(Bytes::from_static(b"5\0x"))])
        );
        // ALPHA needs no numbers.
        h.run(&["RPUSH", "a", "x", "y"]);
        assert_eq!(h.run(&["SORT", "a", "ALPHA", "DESC"]), bulks(&["y", "x"]));
    }

    #[test]
    fn option_errors_come_first() {
        let mut h = Harness::new();
        h.run(&["SET", "str", "v"]);
        assert_eq!(h.run(&["SORT", "str"]), Reply::wrong_type());
        assert_eq!(h.run(&["SORT", "str", "FOO"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["SORT", "str", "LIMIT", "1"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["SORT", "str", "LIMIT", "x", "1"]),
            err("ERR value is not an integer or out of range")
        );
        assert_eq!(h.run(&["SORT", "str", "BY"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SORT", "str", "GET"]), err("ERR syntax error"));
        assert_eq!(h.run(&["SORT", "str", "STORE"]), err("ERR syntax error"));
        assert_eq!(
            h.run(&["SORT_RO", "str", "STORE", "d"]),
            err("ERR syntax error")
        );
        assert_eq!(h.run(&["SORT", "str", "STORE", "d"]), Reply::wrong_type());
        assert!(!h.exists("d"));
    }

    #[test]
    fn limit_follows_redis_arithmetic() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "5", "4", "3", "2", "1"]);
        let cases: &[(&str, &str, &[&str])] = &[
            ("0", "2", &["1", "2"]),
            ("-5", "2", &["1", "2"]),
            ("3", "-1", &["4", "5"]),
            ("3", "-7", &["4", "5"]),
            ("4", "10", &["5"]),
            ("5", "1", &[]),
            ("99", "99", &[]),
            ("1", "0", &[]),
            ("0", "9223372036854775807", &["1", "2", "3", "4", "5"]),
        ];
        for (start, count, want) in cases {
            assert_eq!(
                h.run(&["SORT", "l", "LIMIT", start, count]),
                bulks(want),
                "LIMIT {start} {count}"
            );
        }
        assert_eq!(
            h.run(&["SORT", "l", "BY", "nosort", "LIMIT", "1", "2"]),
            bulks(&["4", "3"])
        );
        assert_eq!(
            h.run(&["SORT", "l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
            bulks(&["2", "3"])
        );
        assert_eq!(
            h.run(&["SORT", "l", "BY", "nosort", "LIMIT", "9", "2"]),
            bulks(&[])
        );
    }

    #[test]
    fn without_sorting_each_type_keeps_its_order() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "b", "c", "a"]);
        assert_eq!(
            h.run(&["SORT", "l", "BY", "nosort"]),
            bulks(&["b", "c", "a"])
        );
        // A later BY with a star does not undo "nosort".
        assert_eq!(
            h.run(&["SORT", "l", "BY", "nosort", "BY", "w_*", "DESC"]),
            bulks(&["a", "c", "b"])
        );
        h.run(&["ZADD", "z", "3", "x", "1", "y", "2", "w"]);
        assert_eq!(
            h.run(&["SORT", "z", "BY", "nosort", "DESC", "LIMIT", "0", "2"]),
            bulks(&["x", "w"])
        );
        // An intset iterates in numeric order; DESC does not reverse a set.
        h.run(&["SADD", "s", "30", "-2", "7"]);
        assert_eq!(
            h.run(&["SORT", "s", "BY", "nosort", "DESC"]),
            bulks(&["-2", "7", "30"])
        );
        // With STORE a set is sorted ALPHA, whatever BY said.
        h.run(&["SADD", "t", "b", "10", "a", "9"]);
        assert_eq!(h.run(&["SORT", "t", "BY", "nosort", "STORE", "d"]), int(4));
        assert_eq!(
            h.run(&["LRANGE", "d", "0", "-1"]),
            bulks(&["10", "9", "a", "b"])
        );
    }

    #[test]
    fn patterns_read_strings_and_hash_fields() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "1", "2", "3"]);
        h.run(&[
            "MSET", "w_1", "30", "w_2", "10", "name_1", "one", "name_3", "three",
        ]);
        h.run(&["HSET", "h_1", "f", "x", "g", "5"]);
        h.run(&["HSET", "h_2", "f", "y", "g", "1"]);
        h.run(&["SADD", "name_2", "not a string"]);
        assert_eq!(h.run(&["SORT", "l", "BY", "w_*"]), bulks(&["3", "2", "1"]));
        assert_eq!(
            h.run(&["SORT", "l", "BY", "h_*->g", "GET", "#", "GET", "name_*", "GET", "h_*->f"]),
            arr(vec![
                bulk("3"),
                bulk("three"),
                Reply::Null,
                bulk("2"),
                Reply::Null,
                bulk("y"),
                bulk("1"),
                bulk("one"),
                bulk("x"),
            ])
        );
        // A GET pattern without a star names nothing; "->" with no field is
        // part of the key name; a field of a non-hash is missing.
        assert_eq!(
            h.run(&["SORT", "l", "GET", "w_1", "LIMIT", "0", "1"]),
            arr(vec![Reply::Null])
        );
        h.run(&["SET", "k_1->", "arrow"]);
        assert_eq!(
            h.run(&["SORT", "l", "GET", "k_*->", "GET", "w_*->f", "LIMIT", "0", "1"]),
            arr(vec![bulk("arrow"), Reply::Null])
        );
        // ALPHA BY: a missing weight sorts first.
        assert_eq!(
            h.run(&["SORT", "l", "BY", "name_*", "ALPHA"]),
            bulks(&["2", "1", "3"])
        );
        // Only the text before a NUL is searched for '*' and "->".
        assert_eq!(
            run_bytes(&mut h, &[b"SORT", b"l", b"GET", b"w_1\0*"]),
            arr(vec![Reply::Null, Reply::Null, Reply::Null])
        );
        assert_eq!(
            run_bytes(
                &mut h,
                &[b"SORT", b"l", b"GET", b"#\0junk", b"LIMIT", b"0", b"1"]
            ),
            bulks(&["1"])
        );
    }

    #[test]
    fn alpha_compares_c_strings_but_store_compares_bytes() {
        let mut h = Harness::new();
        run_bytes(
            &mut h,
            &[b"RPUSH", b"l", b"a\0c", b"a\0b", b"a", b"\xff", b"B"],
        );
        let raw = |items: &[&'static [u8]]| {
            Reply::Array(
                items
                    .iter()
                    .map(|b| Reply::Bulk(Bytes::from_static(b)))
                    .collect(),
            )
        };
        // Equal C strings keep their order, in both directions.
        assert_eq!(
            h.run(&["SORT", "l", "ALPHA"]),
            raw(&[b"B", b"a\0c", b"a\0b", b"a", b"\xff"])
        );
        assert_eq!(
            h.run(&["SORT", "l", "ALPHA", "DESC"]),
            raw(&[b"\xff", b"a\0c", b"a\0b", b"a", b"B"])
        );
        assert_eq!(h.run(&["SORT", "l", "ALPHA", "STORE", "d"]), int(5));
        assert_eq!(
            h.run(&["LRANGE", "d", "0", "-1"]),
            raw(&[b"B", b"a", b"a\0b", b"a\0c", b"\xff"])
        );
    }

    #[test]
    fn store_replaces_and_propagates() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "2", "1"]);
        h.run(&["SET", "d", "old", "EX", "100"]);
        h.repl();
        assert_eq!(h.run(&["SORT", "l", "STORE", "d"]), int(2));
        assert_eq!(h.run(&["TTL", "d"]), int(-1));
        assert_eq!(h.run(&["LRANGE", "d", "0", "-1"]), bulks(&["1", "2"]));
        assert_eq!(h.encoding("d"), bulk("quicklist"));
        // GET values are stored, a missing one as an empty string.
        h.run(&["SET", "v_1", "one"]);
        assert_eq!(
            h.run(&["SORT", "l", "GET", "v_*", "GET", "#", "STORE", "e"]),
            int(4)
        );
        assert_eq!(
            h.run(&["LRANGE", "e", "0", "-1"]),
            bulks(&["one", "1", "", "2"])
        );
        // Nothing to store deletes the destination; an absent one is no write.
        assert_eq!(h.run(&["SORT", "nokey", "STORE", "d"]), int(0));
        assert!(!h.exists("d"));
        assert_eq!(h.run(&["SORT", "nokey", "STORE", "d"]), int(0));
        // A failed conversion stores nothing.
        h.run(&["RPUSH", "bad", "x"]);
        assert_eq!(h.run(&["SORT", "bad", "STORE", "e"]), err(CONVERSION));
        assert_eq!(h.run(&["LLEN", "e"]), int(4));
        // Sorting without STORE is never propagated.
        assert_eq!(h.run(&["SORT", "l"]), bulks(&["1", "2"]));
        assert_eq!(
            h.repl(),
            vec![
                "SORT l STORE d",
                "SET v_1 one",
                "SORT l GET v_* GET # STORE e",
                "SORT nokey STORE d",
                "RPUSH bad x",
            ]
        );
    }

    #[test]
    fn sorting_a_sorted_set_converts_it_quietly() {
        let mut h = Harness::new();
        h.run(&["ZADD", "z", "1", "a", "2", "b"]);
        assert_eq!(h.encoding("z"), bulk("listpack"));
        h.repl();
        let dirty = h.dirty();
        assert_eq!(h.run(&["SORT_RO", "z", "BY", "nosort"]), bulks(&["a", "b"]));
        assert_eq!(h.encoding("z"), bulk("skiplist"));
        assert_eq!(h.dirty(), dirty);
        assert!(h.repl().is_empty());
    }

    #[test]
    fn lookups_count_hits_and_misses() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "1", "2", "3"]);
        h.run(&["SET", "w_1", "5"]);
        let (hits, misses) = h.hits_misses();
        h.run(&["SORT", "l", "BY", "w_*", "GET", "w_*", "LIMIT", "0", "1"]);
        // The key, three BY lookups (one hit), one GET lookup (a miss: the
        // first element is 2 or 3, whose weight is 0).
        assert_eq!(h.hits_misses(), (hits + 2, misses + 3));
    }

    #[test]
    fn watch_sees_the_destination_only() {
        let mut h = Harness::new();
        h.run(&["RPUSH", "l", "1"]);
        // A second client of the same server stores while `h` watches.
        let mut other = Harness::new();
        other.server = h.server.clone();
        for (watched, aborted) in [("l", false), ("d", true)] {
            h.run(&["WATCH", watched]);
            h.run(&["MULTI"]);
            h.run(&["PING"]);
            assert_eq!(other.run(&["SORT", "l", "STORE", "d"]), int(1));
            let reply = h.run(&["EXEC"]);
            assert_eq!(reply == Reply::NullArray, aborted, "WATCH {watched}");
        }
    }

    #[test]
    fn set_and_zset_ties_enter_in_a_fixed_order() {
        // Redis feeds hash-table sets and sorted sets in its hash order;
        // tandem's fixed order makes ALPHA BY ties the same on every node.
        let mut a = Harness::new();
        let mut b = Harness::new();
        a.run(&["SADD", "s", "c", "a", "b", "x", "d"]);
        b.run(&["SADD", "s", "d", "x", "b", "a", "c"]);
        for h in [&mut a, &mut b] {
            assert_eq!(
                h.run(&["SORT", "s", "BY", "w_*", "ALPHA", "LIMIT", "1", "2"]),
                bulks(&["b", "c"])
            );
        }
    }
}
