//! The command table: the one truth about every command.
//!
//! A [`CommandSpec`] gives a command's name, arity, flags, key positions, docs
//! and handler. Dispatch, arity errors, `COMMAND`/`COMMAND INFO`/`COMMAND DOCS`,
//! `INFO commandstats` and replication (the `WRITE` flag) all read this table;
//! nothing else decides what a command is. Each command family declares its
//! entries in its own file under `commands/`; [`table`] joins them once.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use bytes::Bytes;

use crate::exec::ExecCtx;
use crate::reply::Reply;

/// A handler: a plain synchronous function that never touches a socket.
pub type Handler = fn(&mut ExecCtx<'_>, &[Bytes]) -> Reply;

/// Command flags, as `COMMAND INFO` names them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const ALLOW_BUSY: u32 = 1 << 15;
    pub const NO_ASYNC_LOADING: u32 = 1 << 16;
    /// Keys beyond the legacy first/last/step triple (a key count, a STORE
    /// option's key).
    pub const MOVABLE_KEYS: u32 = 1 << 17;
    /// A command that may name no key at all (EVAL with no keys).
    pub const NO_MANDATORY_KEYS: u32 = 1 << 18;
    /// Served to a cluster client that was redirected (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 19;

    /// Names in the order Redis's `COMMAND INFO` prints them (`may_replicate`
    /// is internal and hidden, as in Redis).
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_ASYNC_LOADING, "no_async_loading"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// Where a command's keys are: argv positions `first..=last` every `step`
/// (`last` negative counts from the end; all zero when there are no keys).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    pub first: i32,
    pub last: i32,
    pub step: i32,
}

impl KeySpec {
    pub const NONE: KeySpec = KeySpec {
        first: 0,
        last: 0,
        step: 0,
    };
    pub const ONE: KeySpec = KeySpec {
        first: 1,
        last: 1,
        step: 1,
    };
    pub const ALL: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 1,
    };
    pub const PAIRS: KeySpec = KeySpec {
        first: 1,
        last: -1,
        step: 2,
    };
    pub const TWO: KeySpec = KeySpec {
        first: 1,
        last: 2,
        step: 1,
    };

    /// The key arguments of `argv` under this spec.
    pub fn keys<'a>(&self, argv: &'a [Bytes]) -> Vec<&'a Bytes> {
        self.positions(argv.len())
            .into_iter()
            .map(|i| &argv[i])
            .collect()
    }

    /// The positions of the key arguments of an `argc`-long argv.
    pub fn positions(&self, argc: usize) -> Vec<usize> {
        if self.step <= 0 || self.first <= 0 {
            return Vec::new();
        }
        let len = argc as i32;
        let last = if self.last < 0 {
            len + self.last
        } else {
            self.last
        };
        let mut out = Vec::new();
        let mut i = self.first;
        while i <= last && i < len {
            out.push(i as usize);
            i += self.step;
        }
        out
    }
}

/// The positions of the keys of a command whose keys move with its
/// arguments (Redis's `keynum` and keyword key specs), as COMMAND GETKEYS
/// finds them: `None` for a command whose fixed key spec says it all,
/// `Some(None)` when the arguments do not say where the keys are (a bad key
/// count).
pub fn movable_key_positions(name: &str, argv: &[Bytes]) -> Option<Option<Vec<usize>>> {
    // (index of the key count, keys before it)
    let (count_at, fixed): (usize, &[usize]) = match name {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => (2, &[]),
        "zunionstore" | "zinterstore" | "zdiffstore" => (2, &[1]),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => (1, &[]),
        "blmpop" | "bzmpop" => (2, &[]),
        // The last STORE names the one destination; SORT's LIMIT, GET and BY
        // arguments are skipped over (Redis's sortGetKeys).
        "sort" | "sort_ro" => {
            argv.get(1)?;
            let mut store = None;
            let mut i = 2;
            while i < argv.len() {
                let word = &argv[i];
                if word.eq_ignore_ascii_case(b"limit") {
                    i += 2;
                } else if word.eq_ignore_ascii_case(b"get") || word.eq_ignore_ascii_case(b"by") {
                    i += 1;
                } else if word.eq_ignore_ascii_case(b"store") && i + 1 < argv.len() {
                    store = Some(i + 1);
                }
                i += 1;
            }
            return Some(Some(std::iter::once(1).chain(store).collect()));
        }
        // Redis 7.0 finds GEORADIUS's keys by its key specs: every STORE and
        // STOREDIST names one.
        "georadius" | "georadiusbymember" => {
            argv.get(1)?;
            let mut keys = vec![1];
            let mut i = 2;
            while i + 1 < argv.len() {
                let word = &argv[i];
                if word.eq_ignore_ascii_case(b"store") || word.eq_ignore_ascii_case(b"storedist") {
                    keys.push(i + 1);
                    i += 1;
                }
                i += 1;
            }
            return Some(Some(keys));
        }
        // The key, or with KEYS every argument after it; KEYS with a key
        // given names no keys (the command refuses it). AUTH and AUTH2 take
        // arguments that are never the keyword.
        "migrate" => {
            argv.get(3)?;
            let mut i = 6;
            while i < argv.len() {
                let word = &argv[i];
                if word.eq_ignore_ascii_case(b"keys") {
                    if !argv[3].is_empty() {
                        return Some(None);
                    }
                    return Some(Some((i + 1..argv.len()).collect()));
                }
                if word.eq_ignore_ascii_case(b"auth") {
                    i += 1;
                } else if word.eq_ignore_ascii_case(b"auth2") {
                    i += 2;
                }
                i += 1;
            }
            return Some(Some(vec![3]));
        }
        "xread" | "xreadgroup" => {
            // The keys are the first half of what follows STREAMS.
            let from = if name == "xread" { 1 } else { 4 };
            let at = argv
                .iter()
                .enumerate()
                .skip(from)
                .find(|(_, a)| a.eq_ignore_ascii_case(b"streams"))
                .map(|(i, _)| i);
            let keys = at.and_then(|i| {
                let rest = argv.len() - i - 1;
                (rest > 0 && rest.is_multiple_of(2)).then(|| (i + 1..i + 1 + rest / 2).collect())
            });
            return Some(keys);
        }
        _ => return None,
    };
    let count = argv
        .get(count_at)
        .and_then(|c| std::str::from_utf8(c).ok()?.parse::<usize>().ok());
    // No keys at all is Redis's "no keys" too (its finders refuse a count
    // below one), even where a destination comes first.
    let keys = count.filter(|&n| n >= 1).and_then(|n| {
        let first = count_at + 1;
        let end = first.checked_add(n)?;
        if end > argv.len() {
            return None;
        }
        Some(fixed.iter().copied().chain(first..end).collect())
    });
    Some(keys)
}

/// The positions of every key argument of `argv`, run as `spec`.
pub fn key_positions(spec: &CommandSpec, argv: &[Bytes]) -> Vec<usize> {
    match movable_key_positions(spec.name, argv) {
        Some(keys) => keys.unwrap_or_default(),
        None => spec.keys.positions(argv.len()),
    }
}

/// One entry of the command table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Lowercase name, as COMMAND reports it.
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    pub keys: KeySpec,
    pub handler: Handler,
    /// ACL categories without the `@` (besides those implied by flags).
    pub acl: &'static [&'static str],
    /// COMMAND DOCS fields.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    /// Subcommands (`config|get`, ...), each with its own arity; the container's
    /// handler is unused when this is not empty.
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    /// A spec with empty docs; chain [`CommandSpec::doc`] and friends.
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: KeySpec,
        handler: Handler,
    ) -> CommandSpec {
        CommandSpec {
            name,
            arity,
            flags,
            keys,
            handler,
            acl: &[],
            group: "generic",
            summary: "",
            since: "1.0.0",
            complexity: "",
            subcommands: &[],
        }
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self
    }

    pub const fn complexity(mut self, complexity: &'static str) -> Self {
        self.complexity = complexity;
        self
    }

    pub const fn acl(mut self, acl: &'static [&'static str]) -> Self {
        self.acl = acl;
        self
    }

    pub const fn subs(mut self, subcommands: &'static [CommandSpec]) -> Self {
        self.subcommands = subcommands;
        self
    }

    pub fn is_write(&self) -> bool {
        self.flags & flags::WRITE != 0
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// True when `argc` satisfies the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i32;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
}

/// A handler for table entries whose container dispatches to subcommands.
pub fn container_handler(_: &mut ExecCtx<'_>, _: &[Bytes]) -> Reply {
    Reply::error("ERR container command called without a subcommand")
}

/// A small multiplicative hasher for the table's internal maps: their keys are
/// our own command names and addresses, so DoS resistance buys nothing and
/// SipHash would cost a measurable share of every command.
#[derive(Default, Clone, Copy)]
struct TableHasher(u64);

impl Hasher for TableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<TableHasher>>;

/// The joined table, with a case-insensitive index.
#[derive(Debug)]
pub struct Table {
    pub commands: Vec<&'static CommandSpec>,
    by_name: FastMap<&'static [u8], usize>,
    /// Index of each subcommand spec in the flat statistics array.
    /// Keyed by the spec's address, which is stable for `'static` specs.
    stat_ids: FastMap<usize, usize>,
    /// Every spec including subcommands, in `stat_ids` order, with full names
    /// (`config|get`).
    pub flat: Vec<(String, &'static CommandSpec)>,
}

impl Table {
    fn build() -> Table {
        let mut commands: Vec<&'static CommandSpec> = Vec::new();
        for family in crate::commands::FAMILIES {
            commands.extend(family.iter());
        }
        commands.sort_by_key(|c| c.name);
        let by_name = commands
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.as_bytes(), i))
            .collect();
        let mut flat = Vec::new();
        let mut stat_ids = FastMap::default();
        for c in &commands {
            stat_ids.insert(spec_addr(c), flat.len());
            flat.push((c.name.to_string(), *c));
            for s in c.subcommands {
                stat_ids.insert(spec_addr(s), flat.len());
                flat.push((format!("{}|{}", c.name, s.name), s));
            }
        }
        Table {
            commands,
            by_name,
            stat_ids,
            flat,
        }
    }

    /// Looks a command up by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        for (d, s) in buf.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name
            .get(&buf[..name.len()])
            .map(|&i| self.commands[i])
    }

    /// The statistics slot of a spec (command or subcommand).
    pub fn stat_id(&self, spec: &'static CommandSpec) -> usize {
        self.stat_ids
            .get(&spec_addr(spec))
            .copied()
            .expect("every spec reachable from the table has a stat id")
    }
}

fn spec_addr(spec: &'static CommandSpec) -> usize {
    spec as *const CommandSpec as usize
}

/// Looks a subcommand up in a container's list, case-insensitively.
pub fn lookup_subcommand(
    parent: &'static CommandSpec,
    name: &[u8],
) -> Option<&'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// The process-wide command table.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}
