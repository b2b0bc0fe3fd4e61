//! Pub/Sub: who listens to which channel, pattern and shard channel, and
//! delivery.
//!
//! Shard channels (SSUBSCRIBE/SPUBLISH) are a namespace of their own: a
//! SPUBLISH reaches only shard subscribers and never patterns, and PUBLISH
//! never reaches shard subscribers. Without cluster mode there is one shard.
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
    shard_channels: HashMap<Bytes, BTreeMap<u64, Subscriber>>,
}

/// The three subscription kinds share these bookkeeping helpers.
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

/// Removes `id` from one name's subscribers; says whether it was there and
/// whether the name is left without subscribers (its entry is then dropped,
/// so that idle names cost nothing).
fn remove(subs: Option<&mut BTreeMap<u64, Subscriber>>, id: u64) -> (bool, bool) {
    match subs {
        None => (false, false),
        Some(subs) => (subs.remove(&id).is_some(), subs.is_empty()),
    }
}

/// Collects deliveries: frames for other clients go out at once, frames for
/// the publisher itself are kept so they precede its reply.
struct Delivery {
    self_id: u64,
    receivers: i64,
    own: BytesMut,
}

impl Delivery {
    fn new(self_id: u64) -> Delivery {
        Delivery {
            self_id,
            receivers: 0,
            own: BytesMut::new(),
        }
    }

    fn deliver(&mut self, sub: &Subscriber, items: Vec<Reply>) {
        self.receivers += 1;
        if sub.handle.id == self.self_id {
            push_frame(sub.proto, items, &mut self.own);
        } else {
            let mut out = BytesMut::new();
            push_frame(sub.proto, items, &mut out);
            sub.handle.send(out.freeze());
        }
    }

    fn finish(self) -> (i64, BytesMut) {
        (self.receivers, self.own)
    }
}

/// Names in `map` matching `pattern` (all when `None`), sorted.
fn matching_names(
    map: &HashMap<Bytes, BTreeMap<u64, Subscriber>>,
    pattern: Option<&[u8]>,
) -> Vec<Bytes> {
    let mut out: Vec<Bytes> = map
        .keys()
        .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
        .cloned()
        .collect();
    out.sort();
    out
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
        let (removed, empty) = remove(self.channels.get_mut(channel), id);
        if empty {
            self.channels.remove(channel);
        }
        removed
    }

    pub fn punsubscribe(&mut self, id: u64, pattern: &Bytes) -> bool {
        let (removed, empty) = remove(self.patterns.get_mut(pattern), id);
        if empty {
            self.patterns.remove(pattern);
        }
        removed
    }

    pub fn ssubscribe(
        &mut self,
        handle: &Arc<ClientHandle>,
        proto: Proto,
        channel: &Bytes,
    ) -> bool {
        add(
            self.shard_channels.entry(channel.clone()).or_default(),
            handle,
            proto,
        )
    }

    pub fn sunsubscribe(&mut self, id: u64, channel: &Bytes) -> bool {
        let (removed, empty) = remove(self.shard_channels.get_mut(channel), id);
        if empty {
            self.shard_channels.remove(channel);
        }
        removed
    }

    /// Delivers `message`; returns how many clients received it and the bytes
    /// meant for `self_id` (the publisher itself), which the caller writes
    /// before its own reply, as Redis does.
    pub fn publish(&self, channel: &Bytes, message: &Bytes, self_id: u64) -> (i64, BytesMut) {
        let mut delivery = Delivery::new(self_id);
        if let Some(subs) = self.channels.get(channel) {
            for sub in subs.values() {
                delivery.deliver(
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
                delivery.deliver(
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
        delivery.finish()
    }

    /// SPUBLISH: like [`PubSub::publish`] but to shard subscribers only, as
    /// `smessage`; patterns never match shard channels.
    pub fn spublish(&self, channel: &Bytes, message: &Bytes, self_id: u64) -> (i64, BytesMut) {
        let mut delivery = Delivery::new(self_id);
        if let Some(subs) = self.shard_channels.get(channel) {
            for sub in subs.values() {
                delivery.deliver(
                    sub,
                    vec![
                        Reply::Bulk(Bytes::from_static(b"smessage")),
                        Reply::Bulk(channel.clone()),
                        Reply::Bulk(message.clone()),
                    ],
                );
            }
        }
        delivery.finish()
    }

    /// Active channels matching `pattern` (all when `None`).
    pub fn channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        matching_names(&self.channels, pattern)
    }

    /// Active shard channels matching `pattern` (all when `None`).
    pub fn shard_channels(&self, pattern: Option<&[u8]>) -> Vec<Bytes> {
        matching_names(&self.shard_channels, pattern)
    }

    pub fn numsub(&self, channel: &Bytes) -> usize {
        self.channels.get(channel).map_or(0, BTreeMap::len)
    }

    /// Distinct patterns with at least one subscriber.
    /// Every subscription of client `id`: (channels, patterns, shard
    /// channels). Walks every subscription: for rare work only (ACL changes).
    pub fn subscriptions_of(&self, id: u64) -> (Vec<Bytes>, Vec<Bytes>, Vec<Bytes>) {
        let of = |map: &mut dyn Iterator<Item = (&Bytes, &BTreeMap<u64, Subscriber>)>| {
            map.filter(|(_, subs)| subs.contains_key(&id))
                .map(|(name, _)| name.clone())
                .collect::<Vec<_>>()
        };
        (
            of(&mut self.channels.iter()),
            of(&mut self.patterns.iter()),
            of(&mut self.shard_channels.iter()),
        )
    }

    pub fn numpat(&self) -> usize {
        self.patterns.len()
    }

    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    pub fn shard_numsub(&self, channel: &Bytes) -> usize {
        self.shard_channels.get(channel).map_or(0, BTreeMap::len)
    }

    /// Shard channels with at least one subscriber.
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ConnEvent;
    use tokio::sync::mpsc;

    fn client(id: u64) -> (Arc<ClientHandle>, mpsc::UnboundedReceiver<ConnEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = ClientHandle::new(id, "a".into(), "l".into(), 0, 0, tx);
        (Arc::new(handle), rx)
    }

    fn written(rx: &mut mpsc::UnboundedReceiver<ConnEvent>) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Ok(event) = rx.try_recv() {
            if let ConnEvent::Write(bytes) = event {
                out.push(bytes);
            }
        }
        out
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn shard_channels_are_their_own_namespace() {
        let mut ps = PubSub::default();
        let (shard, mut shard_rx) = client(1);
        let (plain, mut plain_rx) = client(2);
        assert!(ps.ssubscribe(&shard, Proto::Resp2, &b("ch")));
        assert!(!ps.ssubscribe(&shard, Proto::Resp2, &b("ch")));
        assert!(ps.subscribe(&plain, Proto::Resp2, &b("ch")));
        assert!(ps.psubscribe(&plain, Proto::Resp2, &b("*")));

        let (n, own) = ps.spublish(&b("ch"), &b("hi"), 9);
        assert_eq!((n, own.is_empty()), (1, true));
        assert_eq!(
            written(&mut shard_rx),
            [b("*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n")]
        );
        assert!(written(&mut plain_rx).is_empty());

        let (n, _) = ps.publish(&b("ch"), &b("hi"), 9);
        assert_eq!(n, 2);
        assert!(written(&mut shard_rx).is_empty());
        assert_eq!(written(&mut plain_rx).len(), 2);

        assert_eq!(ps.shard_channels(None), [b("ch")]);
        assert_eq!(ps.shard_channels(Some(b"x*")), Vec::<Bytes>::new());
        assert_eq!((ps.shard_numsub(&b("ch")), ps.numsub(&b("ch"))), (1, 1));
        assert_eq!((ps.shard_channel_count(), ps.channel_count()), (1, 1));
    }

    #[test]
    fn spublish_to_self_is_returned_and_resp3_is_a_push() {
        let mut ps = PubSub::default();
        let (me, mut rx) = client(1);
        ps.ssubscribe(&me, Proto::Resp3, &b("c"));
        let (n, own) = ps.spublish(&b("c"), &b("m"), 1);
        assert_eq!(n, 1);
        assert_eq!(&own[..], b">3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$1\r\nm\r\n");
        assert!(written(&mut rx).is_empty());
    }

    #[test]
    fn sunsubscribe_forgets_empty_channels() {
        let mut ps = PubSub::default();
        let (one, _rx1) = client(1);
        let (two, _rx2) = client(2);
        ps.ssubscribe(&one, Proto::Resp2, &b("c"));
        ps.ssubscribe(&two, Proto::Resp2, &b("c"));
        assert!(!ps.sunsubscribe(1, &b("other")));
        assert!(!ps.unsubscribe(1, &b("c")));
        assert!(ps.sunsubscribe(1, &b("c")));
        assert!(!ps.sunsubscribe(1, &b("c")));
        assert_eq!(ps.shard_numsub(&b("c")), 1);
        assert!(ps.sunsubscribe(2, &b("c")));
        assert_eq!(ps.shard_channel_count(), 0);
        assert_eq!(ps.spublish(&b("c"), &b("m"), 0).0, 0);
    }
}
