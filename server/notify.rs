//! Keyspace notifications (`notify-keyspace-events`): the event classes, and
//! the queue of events a command raises until they are published.
//!
//! A command handler raises an event with [`ExecCtx::notify`]; keys deleted
//! by expiry (`expired`), created (`new`), evicted (`evicted`) or missed by a
//! read (`keymiss`) raise theirs from the paths that see them. Events wait in
//! [`Notifications`] (inside `Data`) and are published in the order raised,
//! by [`publish_pending`], at the end of the command or of the cron step
//! that raised them, as `__keyspace@<db>__:<key>` / `__keyevent@<db>__:<event>`
//! messages through the ordinary pub/sub registry.
//!
//! While no class is enabled (the default) raising an event costs one
//! comparison, and nothing is queued. This module never changes the dataset.

use bytes::{Bytes, BytesMut};

use crate::client::ClientState;
use crate::exec::ExecCtx;
use crate::state::{Data, Server};

pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 13;
pub const NEW: u32 = 1 << 14;
/// What `A` stands for (not `m` nor `n`, as in Redis).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The class letters and their bits, in the order Redis prints them.
const CLASSES: &[(u8, u32)] = &[
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
    (b'n', NEW),
];
const TYPES: &[(u8, u32)] = &[(b'K', KEYSPACE), (b'E', KEYEVENT), (b'm', KEY_MISS)];

/// Parses a `notify-keyspace-events` value; `None` on an unknown letter.
pub fn parse_classes(s: &str) -> Option<u32> {
    let mut flags = 0;
    for c in s.bytes() {
        flags |= if c == b'A' {
            ALL
        } else {
            CLASSES
                .iter()
                .chain(TYPES)
                .find(|(l, _)| *l == c)
                .map(|(_, f)| *f)?
        };
    }
    Some(flags)
}

/// Prints flags as CONFIG GET shows them.
pub fn format_classes(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
        if flags & NEW != 0 {
            // Redis's printer leaves 'n' out when 'A' is printed; keep it so
            // the value survives a round trip.
            out.push('n');
        }
    } else {
        for (letter, bit) in CLASSES {
            if flags & bit != 0 {
                out.push(char::from(*letter));
            }
        }
    }
    for (letter, bit) in TYPES {
        if flags & bit != 0 {
            out.push(char::from(*letter));
        }
    }
    out
}

/// The flags to act on: none unless a channel type (K or E) is on, as a
/// class without a channel type publishes nothing.
pub fn effective(flags: u32) -> u32 {
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        0
    } else {
        flags
    }
}

/// One raised event, waiting to be published.
#[derive(Debug)]
struct Event {
    db: usize,
    name: &'static str,
    key: Bytes,
}

/// The enabled classes and the events raised but not yet published.
#[derive(Debug, Default)]
pub struct Notifications {
    /// [`effective`] flags of `notify-keyspace-events`.
    pub flags: u32,
    pending: Vec<Event>,
}

impl Notifications {
    /// Whether events of `class` are published.
    #[inline]
    pub fn wants(&self, class: u32) -> bool {
        self.flags & class != 0
    }

    /// Queues one event of `class` (dropped unless that class is enabled).
    #[inline]
    pub fn raise(&mut self, class: u32, name: &'static str, db: usize, key: &[u8]) {
        if self.flags & class != 0 {
            self.pending.push(Event {
                db,
                name,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }
}

impl ExecCtx<'_> {
    /// Raises keyspace event `name` of `class` for `key` in the client's
    /// database (Redis's `notifyKeyspaceEvent`).
    #[inline]
    pub fn notify(&mut self, class: u32, name: &'static str, key: &[u8]) {
        let db = self.client.db;
        self.notify_in(class, name, key, db);
    }

    /// [`ExecCtx::notify`] for a key of another database (MOVE, COPY DB).
    pub fn notify_in(&mut self, class: u32, name: &'static str, key: &[u8], db: usize) {
        if self.data.notify.flags & class == 0 {
            return;
        }
        // Keys the command found expired or created come first, as Redis
        // raises those while looking the key up.
        crate::exec::collect_expired(self.data);
        raise_created(self.data);
        self.data.notify.raise(class, name, db, key);
    }
}

/// Queues `keymiss` for each key a read-only command named and did not find
/// (Redis raises it from every read lookup that misses, but OBJECT's).
pub fn raise_key_misses(
    data: &mut Data,
    spec: &crate::command::CommandSpec,
    argv: &[Bytes],
    db: usize,
    now_ms: u64,
) {
    if argv[0].eq_ignore_ascii_case(b"object") {
        return;
    }
    for key in spec.keys.keys(argv) {
        if !data.keyspace.db_ref(db).holds(key, now_ms) {
            data.notify.raise(KEY_MISS, "keymiss", db, key);
        }
    }
}

/// Queues `new` events for the keys created since the last call.
pub fn raise_created(data: &mut Data) {
    if data.notify.flags & NEW == 0 {
        return;
    }
    if !data.keyspace.tracks_created() {
        // A keyspace loaded anew (a full sync) starts without the log.
        data.keyspace.set_track_created(true);
    }
    for (db, key) in data.keyspace.take_created() {
        data.notify.raise(NEW, "new", db, &key);
    }
}

/// Publishes every queued event in order. Messages for `client` itself (a
/// RESP3 client subscribed to its own events) are kept in its
/// `pending_pushes`, to precede its reply.
pub fn publish_pending(server: &Server, data: &mut Data, client: Option<&mut ClientState>) {
    raise_created(data);
    if data.notify.pending.is_empty() {
        return;
    }
    let flags = data.notify.flags;
    let events = std::mem::take(&mut data.notify.pending);
    let self_id = client.as_ref().map_or(0, |c| c.id);
    let mut own = BytesMut::new();
    {
        let pubsub = server.pubsub.lock();
        for event in events {
            if flags & KEYSPACE != 0 {
                let mut channel = format!("__keyspace@{}__:", event.db).into_bytes();
                channel.extend_from_slice(&event.key);
                let (_, mine) = pubsub.publish(
                    &Bytes::from(channel),
                    &Bytes::from_static(event.name.as_bytes()),
                    self_id,
                );
                own.extend_from_slice(&mine);
            }
            if flags & KEYEVENT != 0 {
                let channel = format!("__keyevent@{}__:{}", event.db, event.name);
                let (_, mine) = pubsub.publish(&Bytes::from(channel), &event.key, self_id);
                own.extend_from_slice(&mine);
            }
        }
    }
    if let Some(client) = client {
        if !own.is_empty() {
            client.pending_pushes.extend_from_slice(&own);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_round_trip() {
        assert_eq!(
            parse_classes("KEA").map(format_classes).as_deref(),
            Some("AKE")
        );
        assert_eq!(
            parse_classes("Elg").map(format_classes).as_deref(),
            Some("glE")
        );
        assert_eq!(parse_classes("Q"), None);
        assert_eq!(parse_classes(""), Some(0));
    }

    #[test]
    fn a_class_without_channel_type_publishes_nothing() {
        let flags = parse_classes("g$").unwrap_or(0);
        assert_eq!(effective(flags), 0);
        let flags = parse_classes("Kg").unwrap_or(0);
        assert_eq!(effective(flags), flags);
    }

    #[test]
    fn events_queue_only_for_enabled_classes() {
        let mut n = Notifications {
            flags: KEYSPACE | LIST,
            ..Default::default()
        };
        n.raise(STRING, "set", 0, b"k");
        assert!(!n.has_pending());
        n.raise(LIST, "lpush", 0, b"k");
        assert!(n.has_pending());
    }
}
