//! Key specs: where each command's keys are and how it uses them, as Redis
//! 7.0 declares them (`COMMAND INFO`'s tenth field), and the search that
//! `COMMAND GETKEYS` / `COMMAND GETKEYSANDFLAGS` run over them.
//!
//! The declarations live in [`table`], generated from a real redis-server
//! 7.0 by `scripts/gen-keyspecs.py`, keyed by full command name. The search
//! follows Redis's order: a command's specs are used when every one of them
//! is reliable; when a spec cannot say (an `unknown` begin search, an
//! `incomplete` spec that matched, a bad key count) or a spec's flags vary
//! with the arguments (`variable_flags`), the command's own key finder
//! decides, and only SET, BITFIELD, SORT, SORT_RO and MIGRATE's finders
//! give per-call flags (`SET k v GET` reads the key, `SET k v` overwrites
//! it).
//!
//! The command table's legacy `(first, last, step)` triple and
//! [`crate::command::key_positions`] stay what ACL and dispatch use.

mod table;

use bytes::Bytes;

/// Key-spec flags, as `COMMAND INFO` and `GETKEYSANDFLAGS` name them.
pub mod flags {
    pub const RO: u16 = 1 << 0;
    pub const RW: u16 = 1 << 1;
    pub const OW: u16 = 1 << 2;
    pub const RM: u16 = 1 << 3;
    pub const ACCESS: u16 = 1 << 4;
    pub const UPDATE: u16 = 1 << 5;
    pub const INSERT: u16 = 1 << 6;
    pub const DELETE: u16 = 1 << 7;
    pub const NOT_KEY: u16 = 1 << 8;
    pub const INCOMPLETE: u16 = 1 << 9;
    pub const VARIABLE_FLAGS: u16 = 1 << 10;

    /// Names in Redis's order.
    pub const NAMES: &[(u16, &str)] = &[
        (RO, "RO"),
        (RW, "RW"),
        (OW, "OW"),
        (RM, "RM"),
        (ACCESS, "access"),
        (UPDATE, "update"),
        (INSERT, "insert"),
        (DELETE, "delete"),
        (NOT_KEY, "not_key"),
        (INCOMPLETE, "incomplete"),
        (VARIABLE_FLAGS, "variable_flags"),
    ];

    /// The names of the flags set in `bits`.
    pub fn names(bits: u16) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .filter(move |(f, _)| bits & f != 0)
            .map(|(_, n)| *n)
    }
}

use flags::*;

/// Where the search for a spec's keys starts.
#[derive(Clone, Copy, Debug)]
pub enum BeginSearch {
    /// At this argument.
    Index(i32),
    /// After the first argument equal to the keyword, searching from
    /// `startfrom` (negative: from the end, backwards).
    Keyword(&'static str, i32),
    /// The keys cannot be found from the arguments alone.
    Unknown,
}

/// How many keys follow the start.
#[derive(Clone, Copy, Debug)]
pub enum FindKeys {
    /// Up to `lastkey` (relative to the start; negative: from the end, or
    /// with `limit`, a `1/limit` share of what remains), every `step`.
    Range {
        lastkey: i32,
        step: i32,
        limit: i32,
    },
    /// The argument at `start + idx` counts the keys, which begin at
    /// `start + first`, every `step`.
    Keynum {
        idx: i32,
        first: i32,
        step: i32,
    },
    Unknown,
}

/// One key spec.
#[derive(Clone, Copy, Debug)]
pub struct KeySpecDef {
    pub flags: u16,
    pub begin: BeginSearch,
    pub find: FindKeys,
}

/// The key specs of a command by full name (`xinfo|stream`); empty for a
/// command without keys.
pub fn specs(full_name: &str) -> &'static [KeySpecDef] {
    table::TABLE
        .binary_search_by(|(name, _)| (*name).cmp(full_name))
        .map_or(&[], |i| table::TABLE[i].1)
}

/// True when the command has a key spec that names real keys.
pub fn has_keys(full_name: &str) -> bool {
    specs(full_name).iter().any(|s| s.flags & NOT_KEY == 0)
}

/// The positions and flags of the keys of `argv` (the command name first),
/// as Redis's `getKeysFromCommandWithSpecs` finds them.
pub fn keys_and_flags(full_name: &str, argv: &[Bytes]) -> Vec<(usize, u16)> {
    let specs = specs(full_name);
    let reliable = specs.iter().any(|s| s.flags & NOT_KEY == 0)
        && !specs.iter().any(|s| s.flags & VARIABLE_FLAGS != 0);
    if reliable {
        if let Some(keys) = search(specs, argv) {
            return keys;
        }
    }
    finder(full_name, argv)
}

/// The keys the specs find, or `None` when a spec cannot tell.
fn search(specs: &[KeySpecDef], argv: &[Bytes]) -> Option<Vec<(usize, u16)>> {
    let argc = argv.len() as i64;
    let mut keys = Vec::new();
    for spec in specs {
        if spec.flags & NOT_KEY != 0 {
            continue;
        }
        let first = match spec.begin {
            BeginSearch::Index(i) => i64::from(i),
            BeginSearch::Keyword(word, from) => {
                let from = i64::from(from);
                // Redis stops one short of the far end: forwards the last
                // argument, backwards the command name's neighbour, are
                // never the keyword.
                let is_word = |i: &i64| argv[*i as usize].eq_ignore_ascii_case(word.as_bytes());
                let found = if from > 0 {
                    (from..argc - 1).find(is_word)
                } else {
                    (2..=argc + from).rev().find(is_word)
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            BeginSearch::Unknown => return None,
        };
        let (first, last, step) = match spec.find {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, i64::from(step))
            }
            FindKeys::Keynum {
                idx,
                first: at,
                step,
            } => {
                let count_at = first + i64::from(idx);
                let count = argv
                    .get(usize::try_from(count_at).ok()?)
                    .and_then(|c| std::str::from_utf8(c).ok()?.parse::<i64>().ok())
                    .filter(|&n| n >= 0)?;
                let first = first + i64::from(at);
                (first, first + count - 1, i64::from(step))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc || step <= 0 {
            return None;
        }
        let mut i = first;
        while i <= last {
            keys.push((i as usize, spec.flags));
            i += step;
        }
        if spec.flags & INCOMPLETE != 0 {
            return None;
        }
    }
    Some(keys)
}

/// A command's own key finder, for when its specs cannot tell.
fn finder(full_name: &str, argv: &[Bytes]) -> Vec<(usize, u16)> {
    let arg = |i: usize, word: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    match full_name {
        "set" => {
            let get = (3..argv.len()).any(|i| arg(i, "get"));
            let flags = if get {
                RW | ACCESS | UPDATE
            } else {
                OW | UPDATE
            };
            vec![(1, flags)]
        }
        "bitfield" => {
            // Read-only unless some operation is not a whole GET (or an
            // OVERFLOW with its argument).
            let mut i = 2;
            let mut read_only = true;
            while i < argv.len() {
                let rest = argv.len() - i - 1;
                if arg(i, "get") && rest >= 2 {
                    i += 3;
                } else if arg(i, "overflow") && rest >= 1 {
                    i += 2;
                } else {
                    read_only = false;
                    break;
                }
            }
            let flags = if read_only {
                RO | ACCESS
            } else {
                RW | ACCESS | UPDATE
            };
            vec![(1, flags)]
        }
        "sort_ro" => vec![(1, RO | ACCESS)],
        "migrate" => crate::command::movable_key_positions(full_name, argv)
            .flatten()
            .unwrap_or_default()
            .into_iter()
            .map(|i| (i, RW | ACCESS | DELETE))
            .collect(),
        name => {
            let flags_of = |i: usize| {
                if name == "sort" && i != 1 {
                    OW | UPDATE
                } else {
                    RO | ACCESS
                }
            };
            match crate::command::movable_key_positions(name, argv) {
                // Only SORT's finder knows its flags; the others leave them
                // empty (their specs already said them when they could).
                Some(Some(keys)) if name == "sort" => {
                    keys.into_iter().map(|i| (i, flags_of(i))).collect()
                }
                Some(Some(keys)) => keys.into_iter().map(|i| (i, 0)).collect(),
                _ => Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<Bytes> {
        s.split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect()
    }

    fn found(name: &str, cmd: &str) -> Vec<(usize, Vec<&'static str>)> {
        keys_and_flags(name, &argv(cmd))
            .into_iter()
            .map(|(i, f)| (i, names(f).collect()))
            .collect()
    }

    #[test]
    fn table_is_sorted_and_covers_keyed_commands() {
        assert!(table::TABLE.windows(2).all(|w| w[0].0 < w[1].0));
        for (name, spec) in &crate::command::table().flat {
            if spec.keys.first > 0 {
                assert!(!specs(name).is_empty(), "{name} has keys but no key spec");
            }
        }
    }

    #[test]
    fn per_call_flags() {
        assert_eq!(found("set", "set k v"), vec![(1, vec!["OW", "update"])]);
        assert_eq!(
            found("set", "set k v get"),
            vec![(1, vec!["RW", "access", "update"])]
        );
        assert_eq!(
            found("lmove", "lmove a b left right"),
            vec![
                (1, vec!["RW", "access", "delete"]),
                (2, vec!["RW", "insert"])
            ]
        );
        assert_eq!(
            found("sort", "sort a store b"),
            vec![(1, vec!["RO", "access"]), (3, vec!["OW", "update"])]
        );
        assert_eq!(
            found("bitfield", "bitfield k get u8 0"),
            vec![(1, vec!["RO", "access"])]
        );
        assert_eq!(
            found("zunionstore", "zunionstore d 2 a b"),
            vec![
                (1, vec!["OW", "update"]),
                (3, vec!["RO", "access"]),
                (4, vec!["RO", "access"])
            ]
        );
        assert_eq!(found("xread", "xread streams a b 0 0").len(), 2);
        assert!(found("zunionstore", "zunionstore d x a b").is_empty());
    }
}
