//! Server-assisted client-side caching: CLIENT TRACKING and its invalidation
//! messages, as Redis 7.0 does them.
//!
//! This module owns the tracking table (key name -> ids of the clients that
//! read it, across databases, as in Redis), each tracking client's mode
//! (redirect, BCAST prefixes, OPTIN/OPTOUT, NOLOOP) and the prefix table of
//! BCAST mode with the keys changed under each prefix since the last
//! broadcast.
//!
//! Invalidations are queued while the data lock is held (a changed key, an
//! expiry, an eviction, a flush) and delivered by [`flush`], which resolves
//! redirections: a RESP3 destination gets an `invalidate` push, a RESP2
//! redirect target subscribed to anything gets a `__redis__:invalidate`
//! message. An invalidation for the client whose command is running is
//! written after that command's reply (Redis 7.0's pending keys), except
//! those raised before the command ran (eviction), which precede it.
//! BCAST invalidations are broadcast once per call, after its reply.
//!
//! When no client tracks and the table is empty, the command path pays one
//! check ([`Tracking::is_idle`]) and nothing else.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::client::{ClientHandle, ClientState};
use crate::command::{flags, CommandSpec};
use crate::reply::Reply;
use crate::state::{Data, Server};

/// One tracking client's mode.
#[derive(Debug)]
struct Tracker {
    handle: Arc<ClientHandle>,
    redirect: u64,
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    /// CLIENT CACHING was given for the next command (or transaction).
    caching: bool,
    broken_redirect: bool,
    prefixes: BTreeSet<Bytes>,
}

/// One BCAST prefix: its clients, and the keys changed under it since the
/// last broadcast, each with the id of the client that changed it (0: none,
/// or several).
#[derive(Debug, Default)]
struct Bcast {
    clients: BTreeSet<u64>,
    keys: BTreeMap<Bytes, u64>,
}

/// An invalidation waiting for delivery: the tracking client it is for, the
/// encoded value (array of keys, or null), and whether it must follow the
/// reply of the running command.
#[derive(Debug)]
struct Msg {
    target: u64,
    value: Bytes,
    after: bool,
}

/// All tracking state (kept in [`Data`]).
#[derive(Debug)]
pub struct Tracking {
    clients: HashMap<u64, Tracker>,
    table: HashMap<Bytes, HashSet<u64>>,
    total_items: u64,
    prefixes: BTreeMap<Bytes, Bcast>,
    outbox: Vec<Msg>,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: u64,
    /// Rounds in a row the table stayed over its limit (effort grows).
    over_limit_rounds: u32,
    /// The client whose call is running (0: none), and how deep its
    /// command calls are nested.
    current: u64,
    depth: u32,
    /// A script's command read something: the script's keys are remembered.
    script_read: bool,
}

impl Default for Tracking {
    fn default() -> Tracking {
        Tracking {
            clients: HashMap::new(),
            table: HashMap::new(),
            total_items: 0,
            prefixes: BTreeMap::new(),
            outbox: Vec::new(),
            max_keys: 1_000_000,
            over_limit_rounds: 0,
            current: 0,
            depth: 0,
            script_read: false,
        }
    }
}

/// The encoded array of `keys`.
fn encode_keys<'a>(keys: impl ExactSizeIterator<Item = &'a Bytes>) -> Bytes {
    let mut out = BytesMut::new();
    out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
    for key in keys {
        out.extend_from_slice(format!("${}\r\n", key.len()).as_bytes());
        out.extend_from_slice(key);
        out.extend_from_slice(b"\r\n");
    }
    out.freeze()
}

impl Tracking {
    /// No tracking client, nothing remembered and nothing to deliver:
    /// nothing to do.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.clients.is_empty() && self.table.is_empty() && self.outbox.is_empty()
    }

    /// A call for `client` starts (nested calls keep the count); returns
    /// the previous current client for [`Tracking::leave`].
    #[inline]
    pub fn enter(&mut self, client: u64) -> u64 {
        self.depth += 1;
        std::mem::replace(&mut self.current, client)
    }

    /// A call ends; true when it was the outermost one.
    #[inline]
    pub fn leave(&mut self, previous: u64) -> bool {
        self.depth = self.depth.saturating_sub(1);
        self.current = previous;
        self.depth == 0
    }

    /// Sets the client whose call runs (0 when it is over): what happens
    /// before its command (eviction) is for it too.
    #[inline]
    pub fn set_current(&mut self, client: u64) {
        self.current = client;
    }

    pub fn tracking_clients(&self) -> usize {
        self.clients.len()
    }

    pub fn total_keys(&self) -> usize {
        self.table.len()
    }

    pub fn total_items(&self) -> u64 {
        self.total_items
    }

    pub fn total_prefixes(&self) -> usize {
        self.prefixes.len()
    }

    fn queue(&mut self, target: u64, value: Bytes) {
        let after = target == self.current && self.depth > 0;
        self.outbox.push(Msg {
            target,
            value,
            after,
        });
    }

    /// A key changed: its readers get one invalidation each and are
    /// forgotten; with `bcast`, the key is noted for the BCAST prefixes it
    /// falls under. `by_client` says the running client changed it (not an
    /// expiry or an eviction), for BCAST's NOLOOP.
    pub fn invalidate(&mut self, key: &[u8], by_client: bool, bcast: bool) {
        if bcast && !self.prefixes.is_empty() {
            let modifier = if by_client { self.current } else { 0 };
            let mut owned = None;
            for (prefix, state) in self.prefixes.iter_mut() {
                if key.starts_with(prefix) {
                    let key = owned
                        .get_or_insert_with(|| Bytes::copy_from_slice(key))
                        .clone();
                    state.keys.insert(key, modifier);
                }
            }
        }
        let Some(ids) = self.table.remove(key) else {
            return;
        };
        self.total_items = self.total_items.saturating_sub(ids.len() as u64);
        let value = encode_keys(std::iter::once(&Bytes::copy_from_slice(key)));
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        for id in ids {
            let Some(t) = self.clients.get(&id) else {
                continue;
            };
            if t.bcast || (t.noloop && id == self.current) {
                continue;
            }
            self.queue(id, value.clone());
        }
    }

    /// FLUSHDB / FLUSHALL: every tracking client gets a null invalidation,
    /// and the table is emptied.
    pub fn invalidate_all(&mut self) {
        let mut ids: Vec<(u64, bool)> = self
            .clients
            .iter()
            .map(|(id, t)| (*id, t.handle.info.lock().resp >= 3))
            .collect();
        ids.sort_unstable();
        for (id, resp3) in ids {
            let null: &'static [u8] = if resp3 { b"_\r\n" } else { b"$-1\r\n" };
            self.queue(id, Bytes::from_static(null));
        }
        self.table.clear();
        self.total_items = 0;
    }

    /// Remembers the keys a read-only command of tracking client `id` read.
    /// As in Redis 7.0, a read-only command run by a script makes the
    /// script's declared keys remembered (when the script ends), not its own.
    pub fn remember(&mut self, id: u64, spec: &CommandSpec, argv: &[Bytes], in_script: bool) {
        let Some(t) = self.clients.get(&id) else {
            return;
        };
        if t.bcast || (t.optin && !t.caching) || (t.optout && t.caching) {
            return;
        }
        let script = matches!(
            spec.name,
            "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
        );
        if in_script {
            if spec.has(flags::READONLY) {
                self.script_read = true;
            }
            return;
        }
        if script {
            if !std::mem::take(&mut self.script_read) {
                return;
            }
        } else if !spec.has(flags::READONLY) || spec.has(flags::PUBSUB) {
            return;
        }
        let keys: Vec<&Bytes> = match crate::command::movable_key_positions(spec.name, argv) {
            None => spec.keys.keys(argv),
            Some(None) => Vec::new(),
            Some(Some(positions)) => positions.iter().filter_map(|&i| argv.get(i)).collect(),
        };
        for key in keys {
            let set = match self.table.get_mut(key.as_ref()) {
                Some(set) => set,
                None => self.table.entry(key.clone()).or_default(),
            };
            if set.insert(id) {
                self.total_items += 1;
            }
        }
    }

    /// After a command at top level: CLIENT CACHING covers one command, or
    /// one transaction.
    pub fn end_command(&mut self, client: &ClientState, argv: &[Bytes]) {
        if client.multi.is_some() || argv[0].eq_ignore_ascii_case(b"client") {
            return;
        }
        if let Some(t) = self.clients.get_mut(&client.id) {
            t.caching = false;
        }
    }

    /// Queues the BCAST invalidations gathered since the last broadcast.
    fn broadcast(&mut self) {
        let mut out = Vec::new();
        for state in self.prefixes.values_mut() {
            if state.keys.is_empty() {
                continue;
            }
            let keys = std::mem::take(&mut state.keys);
            let common = encode_keys(keys.keys());
            for &id in &state.clients {
                let noloop = self.clients.get(&id).is_some_and(|t| t.noloop);
                if noloop {
                    let mine: Vec<&Bytes> = keys
                        .iter()
                        .filter(|(_, by)| **by != id)
                        .map(|(k, _)| k)
                        .collect();
                    if !mine.is_empty() {
                        out.push((id, encode_keys(mine.into_iter())));
                    }
                } else {
                    out.push((id, common.clone()));
                }
            }
        }
        for (id, value) in out {
            let after = id == self.current;
            self.outbox.push(Msg {
                target: id,
                value,
                after,
            });
        }
    }

    /// Evicts keys from the table (each with an invalidation) while it holds
    /// more than `tracking-table-max-keys`, with an effort that grows while
    /// it stays over.
    fn limit_table(&mut self) {
        let max = self.max_keys as usize;
        if max == 0 || self.table.len() <= max {
            self.over_limit_rounds = 0;
            return;
        }
        let effort = 100 * (self.over_limit_rounds as usize + 1);
        let victims: Vec<Bytes> = self
            .table
            .keys()
            .take(effort.min(self.table.len() - max))
            .cloned()
            .collect();
        for key in victims {
            self.invalidate(&key, false, false);
        }
        if self.table.len() <= max {
            self.over_limit_rounds = 0;
        } else {
            self.over_limit_rounds += 1;
        }
    }

    /// Turns tracking off for `id` (CLIENT TRACKING OFF, RESET, disconnect).
    pub fn disable(&mut self, id: u64) {
        let Some(t) = self.clients.remove(&id) else {
            return;
        };
        for prefix in &t.prefixes {
            if let Some(state) = self.prefixes.get_mut(prefix) {
                state.clients.remove(&id);
                if state.clients.is_empty() {
                    self.prefixes.remove(prefix);
                }
            }
        }
        let mut info = t.handle.info.lock();
        info.tracking = None;
    }
}

/// Delivers what is queued. An invalidation for `client` (whose call is
/// running) goes to its `pending_pushes` (before its reply) or
/// `pending_after` (after it); the others are sent to their connections.
pub fn flush(server: &Server, data: &mut Data, mut client: Option<&mut ClientState>) {
    let tracking = &mut data.tracking;
    if tracking.outbox.is_empty() {
        return;
    }
    let outbox = std::mem::take(&mut tracking.outbox);
    for msg in outbox {
        let Some(t) = tracking.clients.get_mut(&msg.target) else {
            continue;
        };
        let own_resp3 = t.handle.info.lock().resp >= 3;
        let mut bytes = BytesMut::new();
        let dest: Arc<ClientHandle> = if t.redirect != 0 {
            let target = server.clients.lock().get(t.redirect).cloned();
            match target {
                None => {
                    t.broken_redirect = true;
                    if let Some(state) = t.handle.info.lock().tracking.as_mut() {
                        state.broken = true;
                    }
                    if !own_resp3 {
                        continue;
                    }
                    bytes.extend_from_slice(b">2\r\n$21\r\ntracking-redir-broken\r\n");
                    bytes.extend_from_slice(format!(":{}\r\n", t.redirect).as_bytes());
                    deliver(&t.handle, bytes, msg.after, &mut client);
                    continue;
                }
                Some(handle) => {
                    let (resp, subscribed) = {
                        let info = handle.info.lock();
                        (info.resp, info.sub + info.psub + info.ssub > 0)
                    };
                    if resp >= 3 {
                        bytes.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
                    } else if subscribed {
                        bytes.extend_from_slice(
                            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n",
                        );
                    } else {
                        continue;
                    }
                    handle
                }
            }
        } else if own_resp3 {
            bytes.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
            t.handle.clone()
        } else {
            continue;
        };
        bytes.extend_from_slice(&msg.value);
        deliver(&dest, bytes, msg.after, &mut client);
    }
}

fn deliver(
    dest: &Arc<ClientHandle>,
    bytes: BytesMut,
    after: bool,
    client: &mut Option<&mut ClientState>,
) {
    match client {
        Some(c) if c.id == dest.id => {
            if after {
                c.pending_after.extend_from_slice(&bytes);
            } else {
                c.pending_pushes.extend_from_slice(&bytes);
            }
        }
        _ => {
            dest.send(bytes.freeze());
        }
    }
}

/// The end of a whole call (or a cron step): BCAST broadcast, the table's
/// size limit, then delivery.
pub fn end_of_call(server: &Server, data: &mut Data, client: Option<&mut ClientState>) {
    if data.tracking.is_idle() {
        return;
    }
    data.tracking.broadcast();
    // The table's limit is kept between calls (Redis's beforeSleep): no
    // client is running a command then, for NOLOOP.
    let current = std::mem::replace(&mut data.tracking.current, 0);
    data.tracking.limit_table();
    data.tracking.current = current;
    flush(server, data, client);
}

/// Whether one prefix is a prefix of the other.
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN]
/// [OPTOUT] [NOLOOP]
pub fn client_tracking(
    server: &Server,
    data: &mut Data,
    client: &ClientState,
    argv: &[Bytes],
) -> Reply {
    let mut redirect: i64 = 0;
    let (mut bcast, mut optin, mut optout, mut noloop) = (false, false, false, false);
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let a = &argv[j];
        if is(a, "redirect") && more {
            j += 1;
            if redirect != 0 {
                return Reply::error("ERR A client can only redirect to a single other client");
            }
            let Some(id) = std::str::from_utf8(&argv[j])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
            else {
                return Reply::error("ERR value is not an integer or out of range");
            };
            redirect = id;
            let exists = u64::try_from(id)
                .ok()
                .is_some_and(|id| server.clients.lock().get(id).is_some());
            if !exists {
                return Reply::error("ERR The client ID you want redirect to does not exist");
            }
        } else if is(a, "bcast") {
            bcast = true;
        } else if is(a, "optin") {
            optin = true;
        } else if is(a, "optout") {
            optout = true;
        } else if is(a, "noloop") {
            noloop = true;
        } else if is(a, "prefix") && more {
            j += 1;
            prefixes.push(argv[j].clone());
        } else {
            return Reply::syntax_error();
        }
        j += 1;
    }
    let tracking = &mut data.tracking;
    if is(&argv[2], "off") {
        tracking.disable(client.id);
        return Reply::ok();
    }
    if !is(&argv[2], "on") {
        return Reply::syntax_error();
    }
    if !bcast && !prefixes.is_empty() {
        return Reply::error("ERR PREFIX option requires BCAST mode to be enabled");
    }
    let current = tracking.clients.get(&client.id);
    if current.is_some_and(|t| t.bcast != bcast) {
        return Reply::error(
            "ERR You can't switch BCAST mode on/off before disabling tracking for this client, \
             and then re-enabling it with a different mode.",
        );
    }
    if bcast && (optin || optout) {
        return Reply::error("ERR OPTIN and OPTOUT are not compatible with BCAST");
    }
    if optin && optout {
        return Reply::error("ERR You can't specify both OPTIN mode and OPTOUT mode");
    }
    if current.is_some_and(|t| (optin && t.optout) || (optout && t.optin)) {
        return Reply::error(
            "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, \
             and then re-enabling it with a different mode.",
        );
    }
    if bcast {
        let existing = current.map(|t| &t.prefixes);
        for (i, p) in prefixes.iter().enumerate() {
            if let Some(old) = existing.and_then(|set| set.iter().find(|old| overlap(old, p))) {
                return Reply::error(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single \
                     client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(old)
                ));
            }
            if let Some(other) = prefixes[i + 1..].iter().find(|o| overlap(p, o)) {
                return Reply::error(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                     single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(other)
                ));
            }
        }
    }
    let t = tracking
        .clients
        .entry(client.id)
        .or_insert_with(|| Tracker {
            handle: client.handle.clone(),
            redirect: 0,
            bcast: false,
            optin: false,
            optout: false,
            noloop: false,
            caching: false,
            broken_redirect: false,
            prefixes: BTreeSet::new(),
        });
    t.redirect = redirect.max(0) as u64;
    t.broken_redirect = false;
    t.bcast = bcast;
    t.optin = optin;
    t.optout = optout;
    t.noloop = noloop;
    if bcast {
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        for p in prefixes {
            t.prefixes.insert(p.clone());
            tracking
                .prefixes
                .entry(p)
                .or_default()
                .clients
                .insert(client.id);
        }
    }
    client.handle.info.lock().tracking = Some(crate::client::TrackingFlags {
        redirect: redirect.max(0) as u64,
        broken: false,
        bcast,
    });
    Reply::ok()
}

/// CLIENT CACHING YES|NO
pub fn client_caching(data: &mut Data, client: &ClientState, argv: &[Bytes]) -> Reply {
    let Some(t) = data.tracking.clients.get_mut(&client.id) else {
        return Reply::error(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode with \
             OPTIN or OPTOUT mode enabled",
        );
    };
    if is(&argv[2], "yes") {
        if !t.optin {
            return Reply::error(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            );
        }
    } else if is(&argv[2], "no") {
        if !t.optout {
            return Reply::error(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            );
        }
    } else {
        return Reply::syntax_error();
    }
    t.caching = true;
    Reply::ok()
}

/// CLIENT GETREDIR
pub fn client_getredir(data: &Data, client: &ClientState) -> Reply {
    match data.tracking.clients.get(&client.id) {
        Some(t) => Reply::Int(t.redirect as i64),
        None => Reply::Int(-1),
    }
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(data: &Data, client: &ClientState) -> Reply {
    let key = |k: &'static str| Reply::Bulk(Bytes::from_static(k.as_bytes()));
    let word = |k: &'static str| Reply::Bulk(Bytes::from_static(k.as_bytes()));
    let Some(t) = data.tracking.clients.get(&client.id) else {
        return Reply::Map(vec![
            (key("flags"), Reply::Set(vec![word("off")])),
            (key("redirect"), Reply::Int(-1)),
            (key("prefixes"), Reply::Array(Vec::new())),
        ]);
    };
    let mut flags = vec![word("on")];
    if t.bcast {
        flags.push(word("bcast"));
    }
    if t.optin {
        flags.push(word("optin"));
        if t.caching {
            flags.push(word("caching-yes"));
        }
    }
    if t.optout {
        flags.push(word("optout"));
        if t.caching {
            flags.push(word("caching-no"));
        }
    }
    if t.noloop {
        flags.push(word("noloop"));
    }
    if t.broken_redirect {
        flags.push(word("broken_redirect"));
    }
    Reply::Map(vec![
        (key("flags"), Reply::Set(flags)),
        (key("redirect"), Reply::Int(t.redirect as i64)),
        (
            key("prefixes"),
            Reply::Array(t.prefixes.iter().cloned().map(Reply::Bulk).collect()),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_prefixes() {
        assert!(overlap(b"ab", b"abc"));
        assert!(overlap(b"abc", b"ab"));
        assert!(overlap(b"", b"x"));
        assert!(!overlap(b"ab", b"ac"));
    }

    #[test]
    fn keys_encode_as_an_array_of_bulks() {
        let keys = [Bytes::from_static(b"k"), Bytes::from_static(b"key2")];
        assert_eq!(
            &encode_keys(keys.iter())[..],
            b"*2\r\n$1\r\nk\r\n$4\r\nkey2\r\n"
        );
    }

    #[test]
    fn an_idle_table_stays_idle_and_counts_nothing() {
        let mut t = Tracking::default();
        assert!(t.is_idle());
        t.invalidate(b"k", true, true);
        t.invalidate_all();
        assert!(t.is_idle());
        assert_eq!(
            (t.total_keys(), t.total_items(), t.total_prefixes()),
            (0, 0, 0)
        );
    }
}
