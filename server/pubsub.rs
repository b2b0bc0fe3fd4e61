//! Pub/Sub: who listens to which channel and pattern, and delivery.
//!
//! Messages go to each subscriber's connection through its event channel, as
//! RESP2 arrays or RESP3 pushes depending on the subscriber's protocol.
//!
//! # Deadlock safety
//! The registry lock is taken after the data lock (PUBLISH runs as a command)
//! and never the other way round; it is released before any await.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tandem_storage::glob::glob_match;

use crate::client::ClientHandle;
use crate::reply::{Proto, Reply};

#[derive(Debug, Clone)]
struct Subscriber {
    handle: Arc<ClientHandle>,
    proto: Proto,
}

/// Channel and pattern subscriptions of every client.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    patterns: BTreeMap<Bytes, BTreeMap<u64, Subscriber>>,
}

/// One subscription kind's bookkeeping helpers.
fn add(map: &mut BTreeMap<u64, Subscriber>, handle: &Arc<ClientHandle>, proto: Proto) -> bool {
    map.insert(
        handle.id,
        Subscriber {
            handle: handle.clone(),
            proto,
        },
    )
    .is_none()
}

/// Encodes an out-of-band message: a RESP3 push or a RESP2 array.
pub fn push_frame(proto: Proto, items: Vec<Reply>, out: &mut BytesMut) {
    let reply = match proto {
        Proto::Resp3 => Reply::Push(items),
        Proto::Resp2 => Reply::Array(items),
    };
    reply.encode(proto, out);
}

impl PubSub {
    pub fn subscribe(&mut self, handle: &Arc<ClientHandle>, proto: Proto, channel: &Bytes) -> bool {
        add(
            self.channels.entry(channel.clone()).or_default(),
            handle,
            proto,
        )
    }

    pub fn psubscribe(
        &mut self,
        handle: &Arc<ClientHandle>,
        proto: Proto,
        pattern: &Bytes,
    ) -> bool {
        add(
            self.patterns.entry(pattern.clone()).or_default(),
            handle,
            proto,
        )
    }

    pub fn unsubscribe(&mut self, id: u64, channel: &Bytes) -> bool {
        let Some(subs) = self.channels.get_mut(channel) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            self.channels.remove(channel);
        }
        removed
    }

    pub fn punsubscribe(&mut self, id: u64, pattern: &Bytes) -> bool {
        let Some(subs) = self.patterns.get_mut(pattern) else {
            return false;
        };
        let removed = subs.remove(&id).is_some();
        if subs.is_empty() {
            self.patterns.remove(pattern);
        }
        removed
    }

    /// Delivers `message`; returns how many clients received it and the bytes
    /// meant for `self_id` (the publisher itself), which the caller writes
    /// before its own reply, as Redis does.
    pub fn publish(&self, channel: &Bytes, message: &Bytes, self_id: u64) -> (i64, BytesMut) {
        let mut receivers = 0;
        let mut own = BytesMut::new();
        let mut deliver = |sub: &Subscriber, items: Vec<Reply>| {
            receivers += 1;
            if sub.handle.id == self_id {
                push_frame(sub.proto, items, &mut own);
            } else {
                let mut out = BytesMut::new();
                push_frame(sub.proto, items, &mut out);
                sub.handle.send(out.freeze());
            }
        };
        if let Some(subs) = self.channels.get(channel) {
            for sub in subs.values() {
                deliver(
                    sub,
                    vec![
                        Reply::Bulk(Bytes::from_static(b"message")),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ],
                );
            }
        }
        for (pattern, subs) in &self.patterns {
            if !glob_match(pattern, channel, false) {
                continue;
            }
            for sub in subs.values() {
                deliver(
                    sub,
                    vec![
                        Reply::Bulk(Bytes::from_static(b"pmessage")),
                        Reply::Bulk(pattern.clone()),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ],
                );
            }
        }
        (receivers, own)
    }

    /// Active channels matching `pattern` (all when `None`).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = self
            .channels
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .cloned()
            .collect();
        out.sort();
        out
    }

    pub fn numsub(&self, channel: &Bytes) -> usize {
        self.channels.get(channel).map_or(0, BTreeMap::len)
    }

    /// Distinct patterns with at least one subscriber.
    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}
