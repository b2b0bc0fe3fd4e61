//! Access control lists: users, their rules, and the permission check, as
//! Redis 7.0 has them.
//!
//! A [`User`] has flags (on/off, nopass, payload sanitizing), SHA-256
//! password hashes and selectors: the root selector (the rules given outside
//! parentheses) and any number of `(...)` selectors. A selector allows
//! commands (one bit per entry of the flat command table, subcommands
//! included, then one per Redis 7.0 command tandem lacks (`REDIS_ONLY`),
//! plus a "future commands" bit that only `+@all` sets), first
//! arguments of otherwise denied commands (`+select|0`), key patterns with
//! read/write permissions and channel patterns. A command may run when any
//! selector allows it whole.
//!
//! Users live in the [`Acl`] registry as [`UserSlot`]s shared with the
//! connections authenticated as them, so a change of rules applies to those
//! connections at once. A slot caches whether its user may run everything
//! (`+@all ~* &*` on the root selector): the command path then pays one
//! atomic load and one branch, and only other users go through
//! [`User::check`].
//!
//! Invariants:
//! - A user always has its root selector first; `clearselectors` keeps it.
//! - `UserSlot::open` is true only when the root selector has every command,
//!   key and channel; it is refreshed whenever the slot's user is replaced.
//! - Rules are applied to a copy, which replaces the user only when every
//!   rule was valid (ACL SETUSER is all-or-nothing).
//!
//! # Deadlock safety
//! `Server::acl` is taken after the data lock and before `clients`, `config`
//! and handle `info` locks; a slot's `RwLock` is a leaf.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::RwLock;
use sha2::{Digest, Sha256};
use tandem_storage::glob::glob_match;

use crate::command::{flags, lookup_subcommand, table, CommandSpec};
use crate::reply::Reply;

/// Key permission: read (`%R~`).
pub const PERM_READ: u8 = 1;
/// Key permission: write (`%W~`).
pub const PERM_WRITE: u8 = 2;
const PERM_ALL: u8 = PERM_READ | PERM_WRITE;

/// ACL categories in Redis's order (ACL CAT, COMMAND INFO).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// A spec's ACL categories: the declared ones plus those Redis implies from
/// the flags (`setImplicitACLCategories`), in Redis's order.
pub fn categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mask = category_mask(spec);
    CATEGORIES
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect()
}

fn category_mask(spec: &CommandSpec) -> u32 {
    let has = |cat: &str| spec.acl.iter().any(|c| c.eq_ignore_ascii_case(cat));
    let fast = spec.has(flags::FAST) || has("fast");
    let mut mask = 0;
    for (i, &cat) in CATEGORIES.iter().enumerate() {
        let implied = match cat {
            "write" => spec.has(flags::WRITE),
            "read" => spec.has(flags::READONLY) && !has("scripting"),
            "admin" | "dangerous" => spec.has(flags::ADMIN),
            "pubsub" => spec.has(flags::PUBSUB),
            "fast" => spec.has(flags::FAST),
            "blocking" => spec.has(flags::BLOCKING),
            "slow" => !fast,
            _ => false,
        };
        if has(cat) || implied {
            mask |= 1 << i;
        }
    }
    mask
}

fn category_bit(name: &[u8]) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.as_bytes().eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Commands (and subcommands) of Redis 7.0 that tandem's table does not
/// have, with their ACL categories. Rules may name them, and they count when
/// a user's rules are described, exactly as in Redis: an ACL file Redis wrote
/// (say with `-xadd`) loads, and descriptions pick the same categories.
/// An entry the table gains stops being used here.
const REDIS_ONLY: &[(&str, &[&str])] = &[
    ("bgrewriteaof", &["admin", "slow", "dangerous"]),
    ("migrate", &["keyspace", "write", "slow", "dangerous"]),
    (
        "restore-asking",
        &["keyspace", "write", "slow", "dangerous"],
    ),
    ("xack", &["write", "stream", "fast"]),
    ("xadd", &["write", "stream", "fast"]),
    ("xautoclaim", &["write", "stream", "fast"]),
    ("xclaim", &["write", "stream", "fast"]),
    ("xdel", &["write", "stream", "fast"]),
    ("xgroup", &["slow"]),
    ("xgroup|create", &["write", "stream", "slow"]),
    ("xgroup|createconsumer", &["write", "stream", "slow"]),
    ("xgroup|delconsumer", &["write", "stream", "slow"]),
    ("xgroup|destroy", &["write", "stream", "slow"]),
    ("xgroup|help", &["stream", "slow"]),
    ("xgroup|setid", &["write", "stream", "slow"]),
    ("xinfo", &["slow"]),
    ("xinfo|consumers", &["read", "stream", "slow"]),
    ("xinfo|groups", &["read", "stream", "slow"]),
    ("xinfo|help", &["stream", "slow"]),
    ("xinfo|stream", &["read", "stream", "slow"]),
    ("xlen", &["read", "stream", "fast"]),
    ("xpending", &["read", "stream", "slow"]),
    ("xrange", &["read", "stream", "slow"]),
    ("xread", &["read", "stream", "slow", "blocking"]),
    ("xreadgroup", &["write", "stream", "slow", "blocking"]),
    ("xrevrange", &["read", "stream", "slow"]),
    ("xsetid", &["write", "stream", "fast"]),
    ("xtrim", &["write", "stream", "slow"]),
];

/// Every command the rules know, by id: first the flat command table (ids
/// are its statistics slots), then [`REDIS_ONLY`]'s entries the table lacks.
#[derive(Debug)]
struct Commands {
    /// Full names (`config|get`).
    names: Vec<String>,
    masks: Vec<u32>,
    /// For a container: the ids of its subcommands.
    subs: Vec<std::ops::Range<usize>>,
    /// For a subcommand: its container's id.
    parent: Vec<Option<usize>>,
}

fn commands() -> &'static Commands {
    static COMMANDS: OnceLock<Commands> = OnceLock::new();
    COMMANDS.get_or_init(|| {
        let flat = &table().flat;
        let mut names: Vec<String> = flat.iter().map(|(n, _)| n.clone()).collect();
        let mut masks: Vec<u32> = flat.iter().map(|(_, spec)| category_mask(spec)).collect();
        for (name, cats) in REDIS_ONLY {
            let known = match name.split_once('|') {
                Some((base, sub)) => table()
                    .lookup(base.as_bytes())
                    .is_some_and(|b| lookup_subcommand(b, sub.as_bytes()).is_some()),
                None => table().lookup(name.as_bytes()).is_some(),
            };
            if known {
                continue;
            }
            names.push((*name).to_string());
            masks.push(
                cats.iter()
                    .filter_map(|c| category_bit(c.as_bytes()))
                    .fold(0, |m, b| m | b),
            );
        }
        let mut subs = vec![0..0; names.len()];
        let mut parent = vec![None; names.len()];
        for (id, name) in names.iter().enumerate() {
            if let Some((base, _)) = name.split_once('|') {
                if let Some(p) = names.iter().position(|n| n == base) {
                    parent[id] = Some(p);
                    let range = &mut subs[p];
                    if range.start == range.end {
                        *range = id..id + 1;
                    } else {
                        range.end = id + 1;
                    }
                }
            }
        }
        Commands {
            names,
            masks,
            subs,
            parent,
        }
    })
}

/// The id that stands for commands Redis does not have yet (modules).
fn future_bit() -> usize {
    commands().names.len()
}

fn bit_words() -> usize {
    future_bit() / 64 + 1
}

/// Looks a rule's command name up: `name` or `container|sub`, as Redis's
/// strict lookup does (one level of subcommands at most).
fn lookup_rule_command(name: &[u8]) -> Option<usize> {
    let mut parts = name.split(|&b| b == b'|');
    let first = parts.next()?;
    if let Some(base) = table().lookup(first) {
        let spec = match (parts.next(), parts.next()) {
            (None, _) => base,
            (Some(sub), None) if !base.subcommands.is_empty() => lookup_subcommand(base, sub)?,
            _ => return None,
        };
        return Some(table().stat_id(spec));
    }
    let lower = name.to_ascii_lowercase();
    let cmds = commands();
    (table().flat.len()..cmds.names.len()).find(|&id| cmds.names[id].as_bytes() == lower)
}

/// Why a rule was refused (Redis's errno cases), with Redis's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    Syntax,
    UnknownCommand,
    KeysAfterAll,
    ChannelsAfterAll,
    NoSuchPassword,
    BadHash,
    FirstArgOfSubcommand,
}

impl RuleError {
    pub fn message(self) -> &'static str {
        match self {
            RuleError::Syntax => "Syntax error",
            RuleError::UnknownCommand => "Unknown command or category name in ACL",
            RuleError::KeysAfterAll => {
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and \
                 does not have any effect. Try 'resetkeys' to start with an empty list of patterns"
            }
            RuleError::ChannelsAfterAll => {
                "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid \
                 and does not have any effect. Try 'resetchannels' to start with an empty list \
                 of channels"
            }
            RuleError::NoSuchPassword => {
                "The password you are trying to remove from the user does not exist"
            }
            RuleError::BadHash => {
                "The password hash must be exactly 64 characters and contain only lowercase \
                 hexadecimal characters"
            }
            RuleError::FirstArgOfSubcommand => {
                "Allowing first-arg of a subcommand is not supported"
            }
        }
    }
}

/// A key pattern and the permissions it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyPattern {
    pattern: Bytes,
    perms: u8,
}

impl KeyPattern {
    fn describe(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.perms {
            PERM_READ => b"%R~",
            PERM_WRITE => b"%W~",
            _ => b"~",
        });
        out.extend_from_slice(&self.pattern);
    }
}

/// One selector: commands, keys and channels that go together.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selector {
    all_keys: bool,
    all_channels: bool,
    all_commands: bool,
    bits: Vec<u64>,
    /// First arguments allowed for a command whose bit is clear.
    first_args: BTreeMap<usize, Vec<Bytes>>,
    keys: Vec<KeyPattern>,
    channels: Vec<Bytes>,
}

fn has_space(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b.is_ascii_whitespace() || b == 0 || b == 0x0b)
}

impl Selector {
    fn new(all_channels: bool) -> Selector {
        Selector {
            all_keys: false,
            all_channels,
            all_commands: false,
            bits: vec![0; bit_words()],
            first_args: BTreeMap::new(),
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.bits[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
            self.all_commands = false;
        }
    }

    /// Allows or denies a command, and with a container all its subcommands.
    fn change(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.remove(&id);
        for sub in commands().subs[id].clone() {
            self.set_bit(sub, on);
        }
    }

    fn change_category(&mut self, mask: u32, on: bool) {
        let cmds = commands();
        for id in 0..cmds.masks.len() {
            if cmds.masks[id] & mask != 0 {
                self.change(id, on);
            }
        }
    }

    fn count_category(&self, mask: u32) -> (usize, usize) {
        let cmds = commands();
        let (mut on, mut off) = (0, 0);
        for id in 0..cmds.masks.len() {
            if cmds.masks[id] & mask != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    fn apply(&mut self, op: &[u8]) -> Result<(), RuleError> {
        if op.is_empty() {
            // Only inside a selector: `("")`.
            return Err(RuleError::Syntax);
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("allkeys") || op == b"~*" {
            self.all_keys = true;
            self.keys.clear();
        } else if is("resetkeys") {
            self.all_keys = false;
            self.keys.clear();
        } else if is("allchannels") || op == b"&*" {
            self.all_channels = true;
            self.channels.clear();
        } else if is("resetchannels") {
            self.all_channels = false;
            self.channels.clear();
        } else if is("allcommands") || is("+@all") {
            self.bits.iter_mut().for_each(|w| *w = u64::MAX);
            self.all_commands = true;
            self.first_args.clear();
        } else if is("nocommands") || is("-@all") {
            self.bits.iter_mut().for_each(|w| *w = 0);
            self.all_commands = false;
            self.first_args.clear();
        } else if op[0] == b'~' || op[0] == b'%' {
            if self.all_keys {
                return Err(RuleError::KeysAfterAll);
            }
            let mut perms = 0;
            let mut offset = 1;
            if op[0] == b'%' {
                loop {
                    match op.get(offset).map(u8::to_ascii_uppercase) {
                        Some(b'R') if perms & PERM_READ == 0 => perms |= PERM_READ,
                        Some(b'W') if perms & PERM_WRITE == 0 => perms |= PERM_WRITE,
                        Some(b'~') => {
                            offset += 1;
                            break;
                        }
                        // `%R` alone is an empty pattern, as in Redis.
                        None => break,
                        _ => return Err(RuleError::Syntax),
                    }
                    offset += 1;
                }
                if perms == 0 {
                    return Err(RuleError::Syntax);
                }
            } else {
                perms = PERM_ALL;
            }
            let pattern = &op[offset..];
            if has_space(pattern) {
                return Err(RuleError::Syntax);
            }
            match self.keys.iter_mut().find(|k| k.pattern == pattern) {
                Some(k) => k.perms |= perms,
                None => self.keys.push(KeyPattern {
                    pattern: Bytes::copy_from_slice(pattern),
                    perms,
                }),
            }
            self.all_keys = false;
        } else if op[0] == b'&' {
            if self.all_channels {
                return Err(RuleError::ChannelsAfterAll);
            }
            let pattern = &op[1..];
            if has_space(pattern) {
                return Err(RuleError::Syntax);
            }
            if !self.channels.iter().any(|c| c == pattern) {
                self.channels.push(Bytes::copy_from_slice(pattern));
            }
            self.all_channels = false;
        } else if op[0] == b'+' && op.get(1) != Some(&b'@') {
            let name = &op[1..];
            match name.iter().rposition(|&b| b == b'|') {
                None => {
                    let id = lookup_rule_command(name).ok_or(RuleError::UnknownCommand)?;
                    self.change(id, true);
                }
                Some(bar) => {
                    let (base, sub) = (&name[..bar], &name[bar + 1..]);
                    let id = lookup_rule_command(base).ok_or(RuleError::UnknownCommand)?;
                    if commands().parent[id].is_some() {
                        return Err(RuleError::FirstArgOfSubcommand);
                    }
                    if sub.is_empty() {
                        return Err(RuleError::Syntax);
                    }
                    if !commands().subs[id].is_empty() {
                        let id = lookup_rule_command(name).ok_or(RuleError::UnknownCommand)?;
                        self.change(id, true);
                    } else {
                        let list = self.first_args.entry(id).or_default();
                        if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                            list.push(Bytes::copy_from_slice(sub));
                        }
                    }
                }
            }
        } else if op[0] == b'-' && op.get(1) != Some(&b'@') {
            let id = lookup_rule_command(&op[1..]).ok_or(RuleError::UnknownCommand)?;
            self.change(id, false);
        } else if (op[0] == b'+' || op[0] == b'-') && op.get(1) == Some(&b'@') {
            let mask = category_bit(&op[2..]).ok_or(RuleError::UnknownCommand)?;
            self.change_category(mask, op[0] == b'+');
        } else {
            return Err(RuleError::Syntax);
        }
        Ok(())
    }

    /// The command rules that rebuild this selector's bitmap, as Redis 7.0
    /// writes them: `+@all` or `-@all`, the categories that fit best, then
    /// single commands and first arguments.
    fn describe_commands(&self) -> String {
        let future = self.bit(future_bit());
        let mut rules = String::new();
        let mut fake = Selector::new(false);
        if future {
            rules.push_str("+@all ");
            let _ = fake.apply(b"+@all");
        } else {
            rules.push_str("-@all ");
        }
        let additive = !future;
        let mut temp = Selector::new(false);
        temp.bits.clone_from(&self.bits);
        let mut applied = [false; 32];
        loop {
            let mut best = None;
            let (mut min_diff, mut max_same) = (usize::MAX, 0);
            for (j, _) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (on, off) = temp.count_category(1 << j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < min_diff || (diff == min_diff && same > max_same)) {
                    best = Some(j);
                    min_diff = diff;
                    max_same = same;
                }
            }
            let Some(best) = best else { break };
            fake.change_category(1 << best, additive);
            temp.change_category(1 << best, !additive);
            let _ = write!(
                rules,
                "{}@{} ",
                if additive { '+' } else { '-' },
                CATEGORIES[best]
            );
            applied[best] = true;
        }
        for (id, name) in commands().names.iter().enumerate() {
            let user_bit = self.bit(id);
            if user_bit != fake.bit(id) {
                let _ = write!(rules, "{}{} ", if user_bit { '+' } else { '-' }, name);
                fake.change(id, user_bit);
            }
            if !user_bit {
                if let Some(args) = self.first_args.get(&id) {
                    for a in args {
                        let _ = write!(rules, "+{}|{} ", name, String::from_utf8_lossy(a));
                    }
                }
            }
        }
        rules.pop();
        rules
    }

    fn describe_keys(&self) -> Vec<u8> {
        if self.all_keys {
            return b"~*".to_vec();
        }
        let mut out = Vec::new();
        for (i, k) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            k.describe(&mut out);
        }
        out
    }

    fn describe_channels(&self) -> Vec<u8> {
        if self.all_channels {
            return b"&*".to_vec();
        }
        let mut out = Vec::new();
        for (i, c) in self.channels.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.push(b'&');
            out.extend_from_slice(c);
        }
        out
    }

    /// The selector in ACL LIST form.
    fn describe(&self, out: &mut Vec<u8>) {
        if self.all_keys {
            out.extend_from_slice(b"~* ");
        } else {
            for k in &self.keys {
                k.describe(out);
                out.push(b' ');
            }
        }
        if self.all_channels {
            out.extend_from_slice(b"&* ");
        } else {
            out.extend_from_slice(b"resetchannels ");
            for c in &self.channels {
                out.push(b'&');
                out.extend_from_slice(c);
                out.push(b' ');
            }
        }
        out.extend_from_slice(self.describe_commands().as_bytes());
    }

    fn getuser_fields(&self) -> Vec<(Reply, Reply)> {
        vec![
            (
                Reply::bulk_from(b"commands"),
                Reply::Bulk(Bytes::from(self.describe_commands())),
            ),
            (
                Reply::bulk_from(b"keys"),
                Reply::Bulk(Bytes::from(self.describe_keys())),
            ),
            (
                Reply::bulk_from(b"channels"),
                Reply::Bulk(Bytes::from(self.describe_channels())),
            ),
        ]
    }

    /// Whether this selector lets `argv` run (as Redis's `ACLSelectorCheckCmd`).
    fn check(&self, spec: &CommandSpec, id: usize, argv: &[Bytes]) -> Result<(), Denied> {
        if !self.all_commands && !spec.has(flags::NO_AUTH) && !self.bit(id) {
            let idx = if commands().parent[id].is_some() {
                2
            } else {
                1
            };
            let allowed = argv.len() >= 2
                && self.first_args.get(&id).is_some_and(|args| {
                    argv.get(idx)
                        .is_some_and(|a| args.iter().any(|x| x.eq_ignore_ascii_case(a)))
                });
            if !allowed {
                return Err(Denied {
                    reason: Reason::Command,
                    pos: 0,
                });
            }
        }
        if !self.all_keys {
            for (pos, need) in key_positions(spec, argv) {
                let Some(key) = argv.get(pos) else { continue };
                let ok = self
                    .keys
                    .iter()
                    .any(|k| k.perms & need == need && glob_match(&k.pattern, key, false));
                if !ok {
                    return Err(Denied {
                        reason: Reason::Key,
                        pos,
                    });
                }
            }
        }
        if !self.all_channels {
            for (pos, is_pattern) in channel_positions(spec, argv) {
                let channel = &argv[pos];
                if !channel_allowed(&self.channels, channel, is_pattern) {
                    return Err(Denied {
                        reason: Reason::Channel,
                        pos,
                    });
                }
            }
        }
        Ok(())
    }
}

fn channel_allowed(list: &[Bytes], channel: &[u8], is_pattern: bool) -> bool {
    list.iter().any(|p| {
        if is_pattern {
            p == channel
        } else {
            glob_match(p, channel, false)
        }
    })
}

/// The channels a command publishes or subscribes to: (position, whether
/// it is a pattern, matched literally).
fn channel_positions(spec: &CommandSpec, argv: &[Bytes]) -> Vec<(usize, bool)> {
    match spec.name {
        "publish" | "spublish" => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argv.len()).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argv.len()).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// The positions of a command's keys and the permissions each needs, from
/// Redis 7.0's key specs: a key that is read needs `R`, one that is
/// inserted, updated or deleted needs `W`.
pub fn key_positions(spec: &CommandSpec, argv: &[Bytes]) -> Vec<(usize, u8)> {
    const R: u8 = PERM_READ;
    const W: u8 = PERM_WRITE;
    const RW: u8 = PERM_ALL;
    if spec.has(flags::PUBSUB) {
        // Shard channels stand where keys would.
        return Vec::new();
    }
    let positions = crate::command::key_positions(spec, argv);
    if positions.is_empty() {
        return Vec::new();
    }
    let name = spec.name;
    // Keys a command only looks at the existence, type or size of need no
    // permission beyond a matching pattern.
    let none: u8 = 0;
    let uniform = |need: u8| positions.iter().map(|&p| (p, need)).collect::<Vec<_>>();
    let first_then = |first: u8, rest: u8| {
        positions
            .iter()
            .enumerate()
            .map(|(i, &p)| (p, if i == 0 { first } else { rest }))
            .collect::<Vec<_>>()
    };
    match name {
        "exists" | "touch" | "type" | "hexists" | "hlen" | "hstrlen" | "llen" | "scard"
        | "sismember" | "zcard" | "xlen" | "strlen" | "watch" | "encoding" | "freq"
        | "idletime" | "refcount" | "usage" => uniform(none),
        "set" => {
            let get = argv.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
            uniform(if get { RW } else { W })
        }
        "bitfield" => uniform(if bitfield_writes(argv) { RW } else { R }),
        // Redis finds no key at all when the sources' spec starts past
        // the end (its key-spec walk gives up).
        "pfmerge" if argv.len() < 3 => Vec::new(),
        "setbit" | "move" | "hincrby" | "hincrbyfloat" | "blmpop" | "blpop" | "brpop" | "lmpop"
        | "lpop" | "rpop" | "spop" | "bzmpop" | "bzpopmax" | "bzpopmin" | "zincrby" | "zmpop"
        | "zpopmax" | "zpopmin" | "decr" | "decrby" | "getdel" | "getex" | "getset" | "incr"
        | "incrby" | "incrbyfloat" | "eval" | "evalsha" | "fcall" | "migrate" => uniform(RW),
        "copy" => first_then(R, W),
        "rename" | "renamenx" | "lmove" | "blmove" | "rpoplpush" | "brpoplpush" | "smove" => {
            first_then(RW, W)
        }
        "bitop" | "sdiffstore" | "sinterstore" | "sunionstore" | "zdiffstore" | "zinterstore"
        | "zunionstore" | "zrangestore" | "geosearchstore" => first_then(W, R),
        "pfmerge" => first_then(RW, R),
        "sort" | "georadius" | "georadiusbymember" => first_then(R, W),
        "pfcount" | "pfdebug" => uniform(R),
        _ if spec.is_write() => uniform(W),
        _ => uniform(R),
    }
}

/// Whether a BITFIELD may write: a SET or INCRBY, or anything it cannot
/// read as GET/OVERFLOW (Redis assumes the worst of a syntax error).
fn bitfield_writes(argv: &[Bytes]) -> bool {
    let mut i = 2;
    while i < argv.len() {
        let rest = argv.len() - i - 1;
        let a = &argv[i];
        if a.eq_ignore_ascii_case(b"get") && rest >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && rest >= 1 {
            i += 2;
        } else {
            return true;
        }
    }
    false
}

/// What a check refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Command = 1,
    Key = 2,
    Auth = 3,
    Channel = 4,
}

impl Reason {
    fn name(self) -> &'static str {
        match self {
            Reason::Command => "command",
            Reason::Key => "key",
            Reason::Auth => "auth",
            Reason::Channel => "channel",
        }
    }
}

/// A refused command: why, and the argument position of the key or channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denied {
    pub reason: Reason,
    pub pos: usize,
}

impl Denied {
    /// The NOPERM reply of a command refused when it was called.
    pub fn reply(self, full_name: &str) -> Reply {
        match self.reason {
            Reason::Command => Reply::error(format!(
                "NOPERM this user has no permissions to run the '{full_name}' command"
            )),
            Reason::Key => Reply::error(
                "NOPERM this user has no permissions to access one of the keys used as arguments",
            ),
            _ => Reply::error(
                "NOPERM this user has no permissions to access one of the channels used as \
                 arguments",
            ),
        }
    }

    /// The reply of a queued command refused at EXEC.
    pub fn exec_reply(self) -> Reply {
        let reason = match self.reason {
            Reason::Command => "no permission to execute the command or subcommand",
            Reason::Key => "no permission to touch the specified keys",
            _ => "no permission to access one of the channels used as arguments",
        };
        Reply::error(format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and \
             the EXEC call. This command is no longer allowed for the following reason: {reason}"
        ))
    }

    /// The message a script's `redis.call` raises.
    pub fn script_message(self) -> String {
        let what = match self.reason {
            Reason::Command => "can't run this command or subcommand",
            Reason::Key => {
                "can't access at least one of the keys mentioned in the command arguments"
            }
            _ => "can't publish to the channel mentioned in the command",
        };
        format!("The user executing the script {what}")
    }
}

/// SHA-256 of a password, in lowercase hex (how users keep passwords).
pub fn hash_password(password: &[u8]) -> String {
    let digest = Sha256::digest(password);
    let mut out = String::with_capacity(64);
    for b in digest {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn valid_hash(hash: &[u8]) -> bool {
    hash.len() == 64 && hash.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// A user: flags, password hashes and selectors (the root one first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub enabled: bool,
    pub nopass: bool,
    /// `skip-sanitize-payload` / `sanitize-payload`, when either was given.
    sanitize: Option<bool>,
    passwords: Vec<String>,
    selectors: Vec<Selector>,
}

impl User {
    /// A new user: off, no passwords, no permissions; channels as
    /// `acl-pubsub-default` says.
    pub fn new(all_channels: bool) -> User {
        User {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            selectors: vec![Selector::new(all_channels)],
        }
    }

    /// The `default` user a server starts with: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut user = User::new(true);
        for op in ["+@all", "~*", "&*", "on", "nopass"] {
            let _ = user.apply(op.as_bytes(), true);
        }
        user
    }

    /// Whether the root selector allows every command, key and channel.
    fn is_open(&self) -> bool {
        let root = &self.selectors[0];
        root.all_commands && root.all_keys && root.all_channels
    }

    /// Applies one rule.
    pub fn apply(&mut self, op: &[u8], pubsub_all: bool) -> Result<(), RuleError> {
        if op.is_empty() {
            return Ok(());
        }
        let is = |w: &str| op.eq_ignore_ascii_case(w.as_bytes());
        if is("on") {
            self.enabled = true;
        } else if is("off") {
            self.enabled = false;
        } else if is("skip-sanitize-payload") {
            self.sanitize = Some(false);
        } else if is("sanitize-payload") {
            self.sanitize = Some(true);
        } else if is("nopass") {
            self.nopass = true;
            self.passwords.clear();
        } else if is("resetpass") {
            self.nopass = false;
            self.passwords.clear();
        } else if op[0] == b'>' || op[0] == b'#' {
            let hash = if op[0] == b'>' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if op[0] == b'<' || op[0] == b'!' {
            let hash = if op[0] == b'<' {
                hash_password(&op[1..])
            } else if valid_hash(&op[1..]) {
                String::from_utf8_lossy(&op[1..]).into_owned()
            } else {
                return Err(RuleError::BadHash);
            };
            let at = self
                .passwords
                .iter()
                .position(|p| *p == hash)
                .ok_or(RuleError::NoSuchPassword)?;
            self.passwords.remove(at);
        } else if op[0] == b'(' && op[op.len() - 1] == b')' {
            let mut selector = Selector::new(pubsub_all);
            let inner = &op[1..op.len() - 1];
            let args = crate::config::split_args(inner).ok_or(RuleError::Syntax)?;
            for a in args {
                selector.apply(&a)?;
            }
            self.selectors.push(selector);
        } else if is("clearselectors") {
            self.selectors.truncate(1);
        } else if is("reset") {
            for op in ["resetpass", "resetkeys", "resetchannels"] {
                let _ = self.apply(op.as_bytes(), pubsub_all);
            }
            if pubsub_all {
                let _ = self.apply(b"allchannels", pubsub_all);
            }
            for op in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                let _ = self.apply(op.as_bytes(), pubsub_all);
            }
        } else {
            self.selectors[0].apply(op)?;
        }
        Ok(())
    }

    /// Whether `password` logs in as this user (an enabled one).
    pub fn check_password(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let hashed = hash_password(password);
        let mut ok = false;
        for p in &self.passwords {
            ok |= constant_time_eq(p.as_bytes(), hashed.as_bytes());
        }
        ok
    }

    /// The user's rules in ACL LIST / ACL file form (without `user <name>`).
    pub fn describe(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(if self.enabled { b"on " } else { b"off " });
        if self.nopass {
            out.extend_from_slice(b"nopass ");
        }
        match self.sanitize {
            Some(false) => out.extend_from_slice(b"skip-sanitize-payload "),
            Some(true) => out.extend_from_slice(b"sanitize-payload "),
            None => {}
        }
        for p in &self.passwords {
            out.push(b'#');
            out.extend_from_slice(p.as_bytes());
            out.push(b' ');
        }
        for (i, s) in self.selectors.iter().enumerate() {
            if i == 0 {
                s.describe(&mut out);
            } else {
                out.extend_from_slice(b" (");
                s.describe(&mut out);
                out.push(b')');
            }
        }
        out
    }

    /// The ACL GETUSER reply.
    pub fn getuser_reply(&self) -> Reply {
        let mut flag_names = vec![Reply::bulk_from(if self.enabled { b"on" } else { b"off" })];
        if self.nopass {
            flag_names.push(Reply::bulk_from(b"nopass"));
        }
        match self.sanitize {
            Some(false) => flag_names.push(Reply::bulk_from(b"skip-sanitize-payload")),
            Some(true) => flag_names.push(Reply::bulk_from(b"sanitize-payload")),
            None => {}
        }
        let mut fields = vec![
            (Reply::bulk_from(b"flags"), Reply::Set(flag_names)),
            (
                Reply::bulk_from(b"passwords"),
                Reply::Array(
                    self.passwords
                        .iter()
                        .map(|p| Reply::bulk_from(p.as_bytes()))
                        .collect(),
                ),
            ),
        ];
        fields.extend(self.selectors[0].getuser_fields());
        fields.push((
            Reply::bulk_from(b"selectors"),
            Reply::Array(
                self.selectors[1..]
                    .iter()
                    .map(|s| Reply::Map(s.getuser_fields()))
                    .collect(),
            ),
        ));
        Reply::Map(fields)
    }

    /// Whether this user may run `argv` (resolved to `spec`, flat id `id`):
    /// some selector must allow it whole. Of the refusals, the one reported
    /// is Redis's pick: the gravest reason, then the latest argument.
    pub fn check(&self, spec: &CommandSpec, id: usize, argv: &[Bytes]) -> Result<(), Denied> {
        let mut worst = Denied {
            reason: Reason::Command,
            pos: 0,
        };
        for s in &self.selectors {
            match s.check(spec, id, argv) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if d.reason > worst.reason || (d.reason == worst.reason && d.pos > worst.pos) {
                        worst = d;
                    }
                }
            }
        }
        Err(worst)
    }

    /// Whether some selector allows `channel` (a pattern, compared
    /// literally, when `is_pattern`).
    fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.selectors
            .iter()
            .any(|s| s.all_channels || channel_allowed(&s.channels, channel, is_pattern))
    }

    /// Whether a client subscribed to `channels`, `patterns` and
    /// `shard_channels` may stay subscribed under these rules.
    pub fn allows_subscriptions(
        &self,
        channels: &[Bytes],
        patterns: &[Bytes],
        shard_channels: &[Bytes],
    ) -> bool {
        patterns.iter().all(|p| self.channel_allowed(p, true))
            && channels
                .iter()
                .chain(shard_channels)
                .all(|c| self.channel_allowed(c, false))
    }

    fn all_channels(&self) -> bool {
        self.selectors.iter().any(|s| s.all_channels)
    }

    /// Whether every channel pattern of `old` is still among this user's
    /// (Redis's test for keeping subscribed clients after a change).
    fn keeps_channels_of(&self, old: &User) -> bool {
        if self.all_channels() {
            return true;
        }
        if old.all_channels() {
            return false;
        }
        let upcoming: Vec<&Bytes> = self.selectors.iter().flat_map(|s| &s.channels).collect();
        old.selectors
            .iter()
            .flat_map(|s| &s.channels)
            .all(|c| upcoming.contains(&c))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// Joins selector rules given over several arguments (`(~a` `+get)`) into
/// one, as Redis does. `Err` carries the index of an unmatched `(`.
pub fn merge_selector_args(args: &[Bytes]) -> Result<Vec<Bytes>, usize> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, a) in args.iter().enumerate() {
        if let Some((_, buf)) = open.as_mut() {
            buf.push(b' ');
            buf.extend_from_slice(a);
            if a.last() == Some(&b')') {
                if let Some((_, buf)) = open.take() {
                    out.push(Bytes::from(buf));
                }
            }
            continue;
        }
        if a.first() == Some(&b'(') && a.last() != Some(&b')') {
            open = Some((i, a.to_vec()));
            continue;
        }
        out.push(a.clone());
    }
    match open {
        Some((i, _)) => Err(i),
        None => Ok(out),
    }
}

/// Applies `rules` to a copy of `base` (a new user when `None`): the new
/// user, or Redis's ACL SETUSER error text (without `ERR `).
pub fn set_user(base: Option<&User>, rules: &[Bytes], pubsub_all: bool) -> Result<User, String> {
    let merged = merge_selector_args(rules).map_err(|i| {
        format!(
            "Unmatched parenthesis in acl selector starting at '{}'.",
            String::from_utf8_lossy(&rules[i])
        )
    })?;
    let mut user = base.cloned().unwrap_or_else(|| User::new(pubsub_all));
    for op in &merged {
        user.apply(op, pubsub_all).map_err(|e| {
            format!(
                "Error in ACL SETUSER modifier '{}': {}",
                String::from_utf8_lossy(op),
                e.message()
            )
        })?;
    }
    Ok(user)
}

/// A user as connections hold it: its name and current rules.
#[derive(Debug)]
pub struct UserSlot {
    pub name: Bytes,
    open: AtomicBool,
    user: RwLock<User>,
}

impl UserSlot {
    pub fn new(name: Bytes, user: User) -> Arc<UserSlot> {
        Arc::new(UserSlot {
            name,
            open: AtomicBool::new(user.is_open()),
            user: RwLock::new(user),
        })
    }

    /// True when the user may run anything: the command path skips the check.
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open.load(Ordering::Relaxed)
    }

    pub fn user(&self) -> parking_lot::RwLockReadGuard<'_, User> {
        self.user.read()
    }

    pub fn replace(&self, user: User) {
        let open = user.is_open();
        *self.user.write() = user;
        self.open.store(open, Ordering::Relaxed);
    }

    /// Checks `argv` against the slot's rules.
    pub fn check(&self, spec: &CommandSpec, id: usize, argv: &[Bytes]) -> Result<(), Denied> {
        self.user.read().check(spec, id, argv)
    }
}

/// The user of internal clients (the primary's link, served blocked
/// commands): no rules apply, as for Redis's clients without a user.
pub fn superuser() -> Arc<UserSlot> {
    static SUPERUSER: OnceLock<Arc<UserSlot>> = OnceLock::new();
    SUPERUSER
        .get_or_init(|| UserSlot::new(Bytes::from_static(b"(superuser)"), User::default_user()))
        .clone()
}

/// Where a refusal happened (ACL LOG `context`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    Toplevel,
    Multi,
    Lua,
}

impl Context {
    fn name(self) -> &'static str {
        match self {
            Context::Toplevel => "toplevel",
            Context::Multi => "multi",
            Context::Lua => "lua",
        }
    }
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: Reason,
    pub context: Context,
    pub object: Bytes,
    pub username: Bytes,
    pub ctime_ms: u64,
    pub client_info: String,
}

/// Every user, the default one, and the ACL log.
#[derive(Debug)]
pub struct Acl {
    users: BTreeMap<Bytes, Arc<UserSlot>>,
    default: Arc<UserSlot>,
    log: VecDeque<LogEntry>,
    pub log_max_len: usize,
    /// `acl-pubsub-default allchannels`.
    pub pubsub_all: bool,
}

impl Default for Acl {
    fn default() -> Self {
        Acl::new()
    }
}

/// The name of the user every connection starts as.
pub const DEFAULT_USER: &[u8] = b"default";

impl Acl {
    pub fn new() -> Acl {
        let default = UserSlot::new(Bytes::from_static(DEFAULT_USER), User::default_user());
        let mut users = BTreeMap::new();
        users.insert(default.name.clone(), default.clone());
        Acl {
            users,
            default,
            log: VecDeque::new(),
            log_max_len: 128,
            pubsub_all: false,
        }
    }

    pub fn default_user(&self) -> &Arc<UserSlot> {
        &self.default
    }

    /// Whether a connection needs no AUTH: the default user is on and nopass.
    pub fn default_open(&self) -> bool {
        let d = self.default.user();
        d.enabled && d.nopass
    }

    pub fn get(&self, name: &[u8]) -> Option<&Arc<UserSlot>> {
        self.users.get(name)
    }

    pub fn users(&self) -> impl Iterator<Item = &Arc<UserSlot>> {
        self.users.values()
    }

    /// The slot `username`/`password` log in as, if any.
    pub fn authenticate(&self, username: &[u8], password: &[u8]) -> Option<Arc<UserSlot>> {
        let slot = self.users.get(username)?;
        slot.user().check_password(password).then(|| slot.clone())
    }

    /// `requirepass`: sets or clears the default user's only password.
    pub fn set_requirepass(&self, password: Option<&[u8]>) {
        let mut user = self.default.user().clone();
        let _ = user.apply(b"resetpass", self.pubsub_all);
        match password {
            Some(p) => {
                let mut op = b">".to_vec();
                op.extend_from_slice(p);
                let _ = user.apply(&op, self.pubsub_all);
            }
            None => {
                let _ = user.apply(b"nopass", self.pubsub_all);
            }
        }
        self.default.replace(user);
    }

    /// ACL SETUSER. On success returns, for a changed user, whether its
    /// subscribed clients may keep their channels.
    pub fn set_user(&mut self, name: &Bytes, rules: &[Bytes]) -> Result<SetOutcome, String> {
        let existing = self.users.get(name).cloned();
        let base = existing.as_ref().map(|s| s.user().clone());
        let user = set_user(base.as_ref(), rules, self.pubsub_all)?;
        match existing {
            Some(slot) => {
                let keeps = base.as_ref().is_none_or(|old| user.keeps_channels_of(old));
                slot.replace(user);
                Ok(SetOutcome {
                    slot,
                    channels_revoked: !keeps,
                })
            }
            None => {
                let slot = UserSlot::new(name.clone(), user);
                self.users.insert(name.clone(), slot.clone());
                Ok(SetOutcome {
                    slot,
                    channels_revoked: false,
                })
            }
        }
    }

    /// Removes a user; its slot is emptied so that its connections can run
    /// nothing more before they close.
    pub fn delete_user(&mut self, name: &[u8]) -> Option<Arc<UserSlot>> {
        let slot = self.users.remove(name)?;
        slot.replace(User::new(false));
        Some(slot)
    }

    /// Users as ACL LIST / ACL SAVE write them, `user <name> <rules>`.
    pub fn list_lines(&self) -> Vec<Vec<u8>> {
        self.users
            .values()
            .map(|slot| {
                let mut line = b"user ".to_vec();
                line.extend_from_slice(&slot.name);
                line.push(b' ');
                line.extend_from_slice(&slot.user().describe());
                line
            })
            .collect()
    }

    /// Replaces every user with those of an ACL file's text (Redis's
    /// `ACLLoadFromFile`): all or nothing. On success the default user's
    /// slot is updated in place and the other old slots are returned, their
    /// connections to be closed.
    pub fn load_text(&mut self, text: &[u8], filename: &str) -> Result<Vec<Arc<UserSlot>>, String> {
        let mut errors = String::new();
        let mut users: BTreeMap<Bytes, User> = BTreeMap::new();
        for (i, raw_line) in text.split(|&b| b == b'\n').enumerate() {
            let linenum = i + 1;
            let line = trim(raw_line, b" \t\r\n");
            if line.is_empty() {
                continue;
            }
            let argv: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
            if argv[0] != b"user" || argv.len() < 2 {
                let _ = write!(
                    errors,
                    "{filename}:{linenum} should start with user keyword followed by the username. "
                );
                continue;
            }
            let name = argv[1];
            if has_space(name) {
                let _ = write!(
                    errors,
                    "'{filename}:{linenum}: username '{}' contains invalid characters. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            if users.contains_key(name) {
                let _ = write!(
                    errors,
                    "WARNING: Duplicate user '{}' found on line {linenum}. ",
                    String::from_utf8_lossy(name)
                );
                continue;
            }
            let mut user = User::new(self.pubsub_all);
            let rules: Vec<Bytes> = argv[2..]
                .iter()
                .map(|a| Bytes::copy_from_slice(a))
                .collect();
            let merged = match merge_selector_args(&rules) {
                Ok(m) => m,
                Err(_) => {
                    let _ = write!(
                        errors,
                        "{filename}:{linenum}: Unmatched parenthesis in selector definition."
                    );
                    Vec::new()
                }
            };
            let mut syntax_error = false;
            for op in &merged {
                let op = trim(op, b"\t\r\n");
                if let Err(e) = user.apply(op, self.pubsub_all) {
                    if e == RuleError::UnknownCommand {
                        let _ = write!(
                            errors,
                            "{filename}:{linenum}: Error in applying operation '{}': {}. ",
                            String::from_utf8_lossy(op),
                            e.message()
                        );
                    } else if !syntax_error {
                        let _ = write!(errors, "{filename}:{linenum}: {}. ", e.message());
                        syntax_error = true;
                    }
                }
            }
            users.insert(Bytes::copy_from_slice(name), user);
        }
        if !errors.is_empty() {
            errors.push_str(
                "WARNING: ACL errors detected, no change to the previously active ACL rules was \
                 performed",
            );
            return Err(errors);
        }
        let default_user = users
            .remove(DEFAULT_USER)
            .unwrap_or_else(User::default_user);
        self.default.replace(default_user);
        let old = std::mem::take(&mut self.users);
        self.users
            .insert(self.default.name.clone(), self.default.clone());
        for (name, user) in users {
            self.users.insert(name.clone(), UserSlot::new(name, user));
        }
        let gone: Vec<Arc<UserSlot>> = old
            .into_values()
            .filter(|s| !Arc::ptr_eq(s, &self.default))
            .collect();
        for slot in &gone {
            slot.replace(User::new(false));
        }
        Ok(gone)
    }

    /// `user` directives of the configuration, applied at start-up.
    pub fn load_config_users(&mut self, users: &[Vec<String>]) -> Result<(), String> {
        for def in users {
            let Some((name, rules)) = def.split_first() else {
                continue;
            };
            if has_space(name.as_bytes()) {
                return Err("Spaces not allowed in ACL usernames".into());
            }
            let rules: Vec<Bytes> = rules
                .iter()
                .map(|r| Bytes::copy_from_slice(r.as_bytes()))
                .collect();
            let merged = merge_selector_args(&rules)
                .map_err(|_| "Unmatched parenthesis in acl selector".to_string())?;
            let name = Bytes::copy_from_slice(name.as_bytes());
            let mut user = match self.users.get(&name) {
                Some(slot) => {
                    let mut u = slot.user().clone();
                    let _ = u.apply(b"reset", self.pubsub_all);
                    u
                }
                None => User::new(self.pubsub_all),
            };
            for op in &merged {
                user.apply(op, self.pubsub_all).map_err(|e| {
                    format!(
                        "Error loading ACL rule '{}' for the user named '{}': {}",
                        String::from_utf8_lossy(op),
                        String::from_utf8_lossy(&name),
                        e.message()
                    )
                })?;
            }
            match self.users.get(&name) {
                Some(slot) => slot.replace(user),
                None => {
                    self.users.insert(name.clone(), UserSlot::new(name, user));
                }
            }
        }
        Ok(())
    }

    /// Adds an ACL LOG entry, or counts it on a recent identical one.
    pub fn log(&mut self, mut entry: LogEntry) {
        let found = self.log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.ctime_ms.abs_diff(entry.ctime_ms) <= 60_000
                && e.object == entry.object
                && e.username == entry.username
        });
        if let Some(i) = found {
            if let Some(mut old) = self.log.remove(i) {
                old.count += 1;
                old.ctime_ms = entry.ctime_ms;
                old.client_info = std::mem::take(&mut entry.client_info);
                self.log.push_front(old);
            }
            return;
        }
        self.log.push_front(entry);
        self.log.truncate(self.log_max_len);
    }

    /// `acllog-max-len`: the log keeps at most this many entries (trimmed,
    /// as in Redis, when the next entry comes).
    pub fn set_log_max_len(&mut self, len: usize) {
        self.log_max_len = len;
    }

    pub fn log_reset(&mut self) {
        self.log.clear();
    }

    /// The ACL LOG reply: at most `count` entries, newest first.
    pub fn log_reply(&self, count: usize, now_ms: u64) -> Reply {
        Reply::Array(
            self.log
                .iter()
                .take(count)
                .map(|e| {
                    let kv = |k: &str, v: Reply| (Reply::bulk_from(k.as_bytes()), v);
                    Reply::Map(vec![
                        kv("count", Reply::Int(e.count as i64)),
                        kv("reason", Reply::bulk_from(e.reason.name().as_bytes())),
                        kv("context", Reply::bulk_from(e.context.name().as_bytes())),
                        kv("object", Reply::Bulk(e.object.clone())),
                        kv("username", Reply::Bulk(e.username.clone())),
                        kv(
                            "age-seconds",
                            Reply::Double(now_ms.saturating_sub(e.ctime_ms) as f64 / 1000.0),
                        ),
                        kv("client-info", Reply::bulk_from(e.client_info.as_bytes())),
                    ])
                })
                .collect(),
        )
    }
}

/// What ACL SETUSER changed.
#[derive(Debug)]
pub struct SetOutcome {
    pub slot: Arc<UserSlot>,
    /// Some channel the user had is no longer allowed: its subscribed
    /// clients that use it must go.
    pub channels_revoked: bool,
}

/// The configured `aclfile`, if any.
pub fn acl_file(server: &crate::state::Server) -> Option<String> {
    server
        .config
        .read()
        .value("aclfile")
        .filter(|f| !f.is_empty())
}

/// Start-up: `user` directives, then the ACL file. Redis refuses both at
/// once, and any error stops the server.
pub fn load_at_startup(server: &crate::state::Server) -> Result<(), String> {
    let users = server.config.read().users().to_vec();
    let file = acl_file(server);
    if file.is_some() && !users.is_empty() {
        return Err(
            "Configuring Redis with users defined in redis.conf and at the same setting \
                    an ACL file path is invalid. This setup is very likely to lead to \
                    configuration errors and security holes, please define either an ACL file \
                    or declare users directly in your redis.conf, but not both."
                .into(),
        );
    }
    let mut acl = server.acl.lock();
    acl.load_config_users(&users)?;
    if let Some(file) = file {
        load_file(&mut acl, &file)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    server.refresh_auth_open(&acl);
    Ok(())
}

/// Reads and applies an ACL file: the slots of replaced users, whose
/// connections must close.
pub fn load_file(acl: &mut Acl, file: &str) -> Result<Vec<Arc<UserSlot>>, String> {
    let text = std::fs::read(file).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{file}': {}",
            crate::config::strerror(&e)
        )
    })?;
    acl.load_text(&text, file)
}

/// Writes every user to `file` (through a temporary file and a rename).
pub fn save_file(acl: &Acl, file: &str) -> std::io::Result<()> {
    let mut text = Vec::new();
    for line in acl.list_lines() {
        text.extend_from_slice(&line);
        text.push(b'\n');
    }
    let tmp = format!(
        "{file}.tmp-{}-{}",
        std::process::id(),
        crate::state::unix_ms()
    );
    let result = std::fs::write(&tmp, &text).and_then(|()| std::fs::rename(&tmp, file));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Records a refusal in the ACL log: `object` is what was refused (a
/// command's full name, a key, a channel, or for AUTH the command name),
/// `username` the user tried (AUTH) or else the client's, and `command` the
/// full name of the command refused (the client description's `cmd=`).
#[allow(clippy::too_many_arguments)]
pub fn log_event(
    server: &crate::state::Server,
    client: &crate::client::ClientState,
    repl_offset: u64,
    reason: Reason,
    context: Context,
    object: Bytes,
    username: Option<Bytes>,
    command: &str,
) {
    let now = crate::state::unix_ms();
    let client_info = with_command(client.handle.describe(now, repl_offset), command);
    let username = username.unwrap_or_else(|| client.user.name.clone());
    server.acl.lock().log(LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        ctime_ms: now,
        client_info,
    });
}

/// Logs a refused command (`denied` of `argv`, run as flat id `id`);
/// `caller` names the command that ran it when that is not the client's own
/// (a script's EVAL).
#[allow(clippy::too_many_arguments)]
pub fn log_denied(
    server: &crate::state::Server,
    client: &crate::client::ClientState,
    repl_offset: u64,
    denied: Denied,
    context: Context,
    id: usize,
    argv: &[Bytes],
    caller: Option<&str>,
) {
    let object = match denied.reason {
        Reason::Command => Bytes::from(commands().names[id].clone()),
        _ => argv.get(denied.pos).cloned().unwrap_or_default(),
    };
    log_event(
        server,
        client,
        repl_offset,
        denied.reason,
        context,
        object,
        None,
        caller.unwrap_or(&commands().names[id]),
    );
}

/// A CLIENT LIST line with `cmd=` naming `command` (Redis has set it to the
/// command under way when it logs).
fn with_command(mut info: String, command: &str) -> String {
    if let Some(start) = info.find(" cmd=").map(|i| i + 5) {
        let end = info[start..].find(' ').map_or(info.len(), |e| start + e);
        info.replace_range(start..end, command);
    }
    info
}

/// The arguments Redis hides from SLOWLOG and MONITOR (shown as
/// `(redacted)`): AUTH's credentials, HELLO's AUTH pair, ACL SETUSER's name
/// and rules, and the values of sensitive CONFIG SET parameters.
pub fn redacted_positions(spec: &CommandSpec, argv: &[Bytes]) -> Vec<usize> {
    let is = |i: usize, w: &str| {
        argv.get(i)
            .is_some_and(|a| a.eq_ignore_ascii_case(w.as_bytes()))
    };
    if is(0, "auth") {
        return match argv.len() {
            2 => vec![1],
            3 => vec![1, 2],
            _ => Vec::new(),
        };
    }
    if is(0, "hello") {
        let mut out = Vec::new();
        let mut j = 1;
        if argv.len() >= 2 {
            let version = std::str::from_utf8(&argv[1])
                .ok()
                .and_then(|v| v.parse::<i64>().ok());
            if !matches!(version, Some(2..=3)) {
                return out;
            }
            j = 2;
        }
        while j < argv.len() {
            let more = argv.len() - 1 - j;
            if is(j, "auth") && more >= 2 {
                out.extend([j + 1, j + 2]);
                j += 3;
            } else if is(j, "setname") && more >= 1 {
                j += 2;
            } else {
                break;
            }
        }
        return out;
    }
    if is(0, "acl") && spec.name == "setuser" {
        return (2..argv.len()).collect();
    }
    if is(0, "config") && spec.name == "set" && argv.len().is_multiple_of(2) {
        return (2..argv.len())
            .step_by(2)
            .filter(|&i| {
                std::str::from_utf8(&argv[i])
                    .ok()
                    .and_then(crate::config::directive)
                    .is_some_and(|d| d.sensitive)
            })
            .map(|i| i + 1)
            .collect();
    }
    Vec::new()
}

/// `argv` with its [`redacted_positions`] replaced, or `None` when nothing
/// is hidden.
pub fn redact(spec: &CommandSpec, argv: &[Bytes]) -> Option<Vec<Bytes>> {
    let positions = redacted_positions(spec, argv);
    if positions.is_empty() {
        return None;
    }
    let mut out = argv.to_vec();
    for i in positions {
        out[i] = Bytes::from_static(b"(redacted)");
    }
    Some(out)
}

fn trim<'a>(s: &'a [u8], set: &[u8]) -> &'a [u8] {
    let start = s.iter().position(|b| !set.contains(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !set.contains(b))
        .map_or(start, |e| e + 1);
    &s[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let rules: Vec<Bytes> = rules.iter().map(|r| Bytes::from(r.to_string())).collect();
        set_user(None, &rules, false).expect("valid rules")
    }

    fn text(b: Vec<u8>) -> String {
        String::from_utf8(b).expect("ascii")
    }

    #[test]
    fn default_user_describes_like_redis() {
        assert_eq!(
            text(User::default_user().describe()),
            "on nopass ~* &* +@all"
        );
    }

    #[test]
    fn new_user_is_off_with_no_permissions() {
        assert_eq!(text(user(&[]).describe()), "off resetchannels -@all");
    }

    #[test]
    fn password_hash_is_sha256_hex() {
        assert_eq!(
            hash_password(b"foo"),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        let u = user(&["on", ">foo"]);
        assert!(u.check_password(b"foo"));
        assert!(!u.check_password(b"bar"));
        assert!(
            !user(&[">foo"]).check_password(b"foo"),
            "off users never log in"
        );
    }

    #[test]
    fn rule_errors_have_redis_text() {
        let err = |rules: &[&str]| {
            let rules: Vec<Bytes> = rules.iter().map(|r| Bytes::from(r.to_string())).collect();
            set_user(None, &rules, false).expect_err("invalid")
        };
        assert_eq!(
            err(&["+nosuch"]),
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL"
        );
        assert_eq!(
            err(&["~*", "~foo"]),
            "Error in ACL SETUSER modifier '~foo': Adding a pattern after the * pattern (or the \
             'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start \
             with an empty list of patterns"
        );
        assert_eq!(
            err(&["#abc"]),
            "Error in ACL SETUSER modifier '#abc': The password hash must be exactly 64 \
             characters and contain only lowercase hexadecimal characters"
        );
        assert_eq!(
            err(&["(~a", "+get"]),
            "Unmatched parenthesis in acl selector starting at '(~a'."
        );
        assert_eq!(
            err(&["+config|get|x"]),
            "Error in ACL SETUSER modifier '+config|get|x': Allowing first-arg of a subcommand \
             is not supported"
        );
    }

    #[test]
    fn commands_keys_and_selectors_are_checked() {
        let u = user(&["on", "nopass", "+get", "~a*", "(+set ~b*)"]);
        let check = |args: &[&str]| {
            let argv: Vec<Bytes> = args.iter().map(|a| Bytes::from(a.to_string())).collect();
            let spec = crate::exec::resolve(&argv).expect("known command");
            u.check(spec, table().stat_id(spec), &argv)
        };
        assert_eq!(check(&["get", "abc"]), Ok(()));
        assert_eq!(check(&["set", "bcd", "v"]), Ok(()));
        assert_eq!(
            check(&["get", "bcd"]).map_err(|d| d.reason),
            Err(Reason::Key)
        );
        assert_eq!(
            check(&["del", "abc"]).map_err(|d| d.reason),
            Err(Reason::Command)
        );
    }

    #[test]
    fn first_args_and_subcommands_describe() {
        let u = user(&["+select|0", "+config|get"]);
        assert_eq!(
            text(u.describe()),
            "off resetchannels -@all +config|get +select|0"
        );
    }

    #[test]
    fn odd_rules_are_errors_not_panics() {
        let rules =
            |r: &[&[u8]]| -> Vec<Bytes> { r.iter().map(|x| Bytes::copy_from_slice(x)).collect() };
        for bad in [
            &[&b"(\"\")"[..]][..],
            &[b"()"],
            &[b"(", b")"],
            &[b"%"],
            &[b"%R"],
            &[b"+"],
            &[b"-"],
            &[b"+@"],
            &[b"~\x00"],
            &[b"+|"],
            &[b"+get|"],
        ] {
            let _ = set_user(None, &rules(bad), false);
        }
        assert!(set_user(None, &rules(&[b"()"]), false).is_ok());
    }

    #[test]
    fn merge_joins_selector_arguments() {
        let args: Vec<Bytes> = ["on", "(~a", "+get)", "+set"]
            .iter()
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        let merged = merge_selector_args(&args).expect("balanced");
        assert_eq!(merged[1], Bytes::from("(~a +get)"));
        assert_eq!(merged.len(), 3);
    }
}
