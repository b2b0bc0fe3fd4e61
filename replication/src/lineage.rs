//! The replication-id lineage: the current id plus an ordered list of past ids,
//! Redis's `replid2` / `second_repl_offset` generalised to many.
//!
//! # Offsets
//!
//! Offsets here are [`ReplOffset`] stream positions: the number of stream
//! bytes before a point (the crate-wide convention, see [`crate::backlog`]).
//! A past id's `last` is the position where this node stopped using it: the
//! id names the history whose first `last` bytes this node shares. Redis's
//! `second_repl_offset` (the highest PSYNC offset the id still serves, in
//! Redis's 1-based numbering) is `last + 1`.
//!
//! # Invariants
//!
//! - Past ids are ordered newest first; the newest is Redis's `replid2`.
//! - At most `capacity` past ids are kept (`repl-lineage-size`); promoting
//!   past the capacity drops the oldest.
//! - The current id never appears among the past ids.

use std::collections::VecDeque;

use crate::ids::{ReplId, ReplOffset};

/// One past replication id and the offsets this node used it over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineageEntry {
    /// The past id.
    pub replid: ReplId,
    /// Where this node started using the id. Informational: the history the
    /// id names also includes everything before `first`, which it inherited.
    pub first: ReplOffset,
    /// Where this node stopped using the id (it moved to a newer one there).
    /// A replica holding this id is on our history iff its offset is <= `last`.
    pub last: ReplOffset,
}

impl LineageEntry {
    /// Whether a replica that applied `offset` bytes under this id shares our
    /// history: it must not have gone past the point where we left the id.
    /// There is no lower bound: a replica that was behind when it learned an
    /// id (through `+CONTINUE <id>`) legitimately holds it with an offset
    /// below where this node started using it.
    pub fn covers(&self, offset: ReplOffset) -> bool {
        offset <= self.last
    }
}

/// The current replication id and the past ids this node can still serve
/// PSYNC for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    current: ReplId,
    since: ReplOffset,
    past: VecDeque<LineageEntry>,
    capacity: usize,
}

impl Lineage {
    /// Default number of past ids kept (`repl-lineage-size`).
    pub const DEFAULT_CAPACITY: usize = 16;

    /// The RDB aux field that carries the past ids across restarts and full
    /// syncs. Redis skips aux fields it does not know.
    pub const AUX_FIELD: &'static str = "tandem-lineage";

    /// A lineage with no past ids, whose current id starts at `since`.
    pub fn new(current: ReplId, since: ReplOffset) -> Lineage {
        Lineage::with_capacity(current, since, Lineage::DEFAULT_CAPACITY)
    }

    /// Like [`Lineage::new`] keeping at most `capacity` past ids (0 keeps none).
    pub fn with_capacity(current: ReplId, since: ReplOffset, capacity: usize) -> Lineage {
        Lineage {
            current,
            since,
            past: VecDeque::new(),
            capacity,
        }
    }

    /// The current replication id (`master_replid`).
    pub fn current(&self) -> ReplId {
        self.current
    }

    /// Where this node started using the current id.
    pub fn current_since(&self) -> ReplOffset {
        self.since
    }

    /// The past ids, newest first.
    pub fn past(&self) -> impl DoubleEndedIterator<Item = &LineageEntry> + ExactSizeIterator {
        self.past.iter()
    }

    /// The newest past id: Redis's `replid2`.
    pub fn newest_past(&self) -> Option<&LineageEntry> {
        self.past.front()
    }

    /// Number of past ids held.
    pub fn len(&self) -> usize {
        self.past.len()
    }

    /// Whether no past id is held.
    pub fn is_empty(&self) -> bool {
        self.past.is_empty()
    }

    /// Maximum number of past ids kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Changes the capacity (CONFIG SET repl-lineage-size), dropping the
    /// oldest ids that no longer fit.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        self.past.truncate(capacity);
    }

    /// The past entry for `replid` and its age (0 = newest), if held.
    pub fn find(&self, replid: ReplId) -> Option<(usize, &LineageEntry)> {
        self.past
            .iter()
            .enumerate()
            .find(|(_, e)| e.replid == replid)
    }

    /// Moves the current id into the lineage, ending at `at`, and makes
    /// `new_id` current from `at` on. This is Redis's `shiftReplicationId`
    /// (promotion, a FAILOVER target) and also what a replica does on
    /// `+CONTINUE <new id>`. Promoting to the current id changes nothing.
    pub fn promote(&mut self, new_id: ReplId, at: ReplOffset) {
        if new_id == self.current {
            return;
        }
        let entry = LineageEntry {
            replid: self.current,
            first: self.since.min(at),
            last: at,
        };
        // A history this node had left and now rejoins is no longer a past id.
        self.past.retain(|e| e.replid != new_id);
        self.past.push_front(entry);
        self.past.truncate(self.capacity);
        self.current = new_id;
        self.since = at;
    }

    /// Starts an unrelated history: `new_id` becomes current from `at` and
    /// every past id is forgotten (Redis's `changeReplicationId` +
    /// `clearReplicationId2`: a new backlog, a completed full sync, backlog
    /// TTL expiry).
    pub fn restart(&mut self, new_id: ReplId, at: ReplOffset) {
        self.current = new_id;
        self.since = at;
        self.past.clear();
    }

    /// The past ids in the text form kept in the RDB aux field
    /// [`Lineage::AUX_FIELD`]: `<since>` then one `<id>:<first>:<last>` per
    /// past id, newest first, separated by spaces. The current id is not in
    /// it (the RDB's `repl-id` holds that).
    pub fn to_aux(&self) -> String {
        let mut out = self.since.0.to_string();
        for e in &self.past {
            out.push_str(&format!(" {}:{}:{}", e.replid, e.first.0, e.last.0));
        }
        out
    }

    /// Rebuilds a lineage whose current id is `current` (the RDB's `repl-id`)
    /// from [`Lineage::to_aux`] text. Malformed text is an error naming the
    /// bad part; an entry for `current` itself or past `at` (where the file
    /// ends) cannot belong to this history and is dropped.
    pub fn from_aux(
        current: ReplId,
        at: ReplOffset,
        text: &[u8],
        capacity: usize,
    ) -> Result<Lineage, String> {
        let text = std::str::from_utf8(text).map_err(|_| "lineage is not UTF-8".to_string())?;
        let mut parts = text.split_ascii_whitespace();
        let since = parts
            .next()
            .and_then(|p| p.parse::<u64>().ok())
            .ok_or_else(|| format!("lineage does not start with an offset: {text:?}"))?;
        let mut lineage = Lineage::with_capacity(current, ReplOffset(since), capacity);
        for part in parts {
            let mut fields = part.split(':');
            let entry = (|| {
                let replid = ReplId::parse(fields.next()?.as_bytes())?;
                let first = ReplOffset(fields.next()?.parse().ok()?);
                let last = ReplOffset(fields.next()?.parse().ok()?);
                fields.next().is_none().then_some(LineageEntry {
                    replid,
                    first,
                    last,
                })
            })()
            .ok_or_else(|| format!("bad lineage entry {part:?}"))?;
            let known = entry.replid == current || lineage.find(entry.replid).is_some();
            if !known {
                lineage.past.push_back(entry);
            }
        }
        lineage.end_at(at);
        lineage.past.truncate(capacity);
        Ok(lineage)
    }

    /// Cuts the history at `at` (a file that ends there, a replayed stream
    /// truncated there): past ids left after `at` cannot describe it.
    pub fn end_at(&mut self, at: ReplOffset) {
        self.past.retain(|e| e.last <= at);
        self.since = self.since.min(at);
    }

    /// INFO `master_replid2`: the newest past id, or forty `'0'`s.
    pub fn replid2(&self) -> ReplId {
        self.newest_past().map_or(ReplId::ZERO, |e| e.replid)
    }

    /// INFO `second_repl_offset`: the highest PSYNC offset (Redis's 1-based
    /// numbering) the newest past id serves, or -1.
    pub fn second_repl_offset(&self) -> i64 {
        self.newest_past().map_or(-1, |e| {
            i64::try_from(e.last.0).map_or(i64::MAX, |last| last.saturating_add(1))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ReplId {
        ReplId::from_random([n; 20])
    }

    #[test]
    fn new_lineage_reports_redis_empty_replid2() {
        let l = Lineage::new(id(1), ReplOffset(0));
        assert_eq!(l.current(), id(1));
        assert!(l.is_empty());
        assert_eq!(l.replid2(), ReplId::ZERO);
        assert_eq!(l.second_repl_offset(), -1);
        assert_eq!(l.capacity(), 16);
    }

    #[test]
    fn promote_moves_current_in_newest_first() {
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(775));
        l.promote(id(3), ReplOffset(900));
        assert_eq!(l.current(), id(3));
        assert_eq!(l.current_since(), ReplOffset(900));
        let past: Vec<_> = l.past().copied().collect();
        assert_eq!(
            past,
            vec![
                LineageEntry {
                    replid: id(2),
                    first: ReplOffset(775),
                    last: ReplOffset(900)
                },
                LineageEntry {
                    replid: id(1),
                    first: ReplOffset(0),
                    last: ReplOffset(775)
                },
            ]
        );
        // Redis: replid2 = the id just left, second_repl_offset = offset + 1.
        assert_eq!(l.replid2(), id(2));
        assert_eq!(l.second_repl_offset(), 901);
        assert_eq!(l.find(id(1)).map(|(age, _)| age), Some(1));
        assert_eq!(l.find(id(3)), None);
    }

    #[test]
    fn promote_to_current_is_a_no_op() {
        let mut l = Lineage::new(id(1), ReplOffset(5));
        l.promote(id(1), ReplOffset(10));
        assert!(l.is_empty());
        assert_eq!(l.current_since(), ReplOffset(5));
    }

    #[test]
    fn rejoining_a_past_history_removes_it_from_the_past() {
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(10));
        l.promote(id(1), ReplOffset(20));
        assert_eq!(l.current(), id(1));
        assert_eq!(l.past().map(|e| e.replid).collect::<Vec<_>>(), vec![id(2)]);
    }

    #[test]
    fn capacity_drops_oldest() {
        let mut l = Lineage::with_capacity(id(0), ReplOffset(0), 2);
        for n in 1..=4u8 {
            l.promote(id(n), ReplOffset(u64::from(n) * 10));
        }
        let ids: Vec<_> = l.past().map(|e| e.replid).collect();
        assert_eq!(ids, vec![id(3), id(2)]);
        l.set_capacity(1);
        assert_eq!(l.past().map(|e| e.replid).collect::<Vec<_>>(), vec![id(3)]);
        l.set_capacity(0);
        l.promote(id(9), ReplOffset(50));
        assert!(l.is_empty());
    }

    #[test]
    fn restart_forgets_the_past() {
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(10));
        l.restart(id(3), ReplOffset(40));
        assert_eq!(l.current(), id(3));
        assert_eq!(l.current_since(), ReplOffset(40));
        assert!(l.is_empty());
    }

    #[test]
    fn covers_has_no_lower_bound() {
        let e = LineageEntry {
            replid: id(1),
            first: ReplOffset(100),
            last: ReplOffset(200),
        };
        assert!(e.covers(ReplOffset(50)));
        assert!(e.covers(ReplOffset(200)));
        assert!(!e.covers(ReplOffset(201)));
    }

    #[test]
    fn aux_text_round_trips_and_rejects_garbage() {
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(100));
        l.promote(id(3), ReplOffset(250));
        let text = l.to_aux();
        assert_eq!(
            text,
            format!("250 {}:100:250 {}:0:100", id(2), id(1)),
            "since, then newest first"
        );
        let back = Lineage::from_aux(id(3), ReplOffset(300), text.as_bytes(), 16).unwrap();
        assert_eq!(back, l);
        // An entry past the file's end offset cannot be our history.
        let cut = Lineage::from_aux(id(3), ReplOffset(200), text.as_bytes(), 16).unwrap();
        assert_eq!(
            cut.past().map(|e| e.replid).collect::<Vec<_>>(),
            vec![id(1)]
        );
        assert_eq!(cut.current_since(), ReplOffset(200));
        // The capacity applies.
        let small = Lineage::from_aux(id(3), ReplOffset(300), text.as_bytes(), 1).unwrap();
        assert_eq!(small.len(), 1);
        for bad in ["", "x", "5 nothex:1:2", "5 {}:1", "5 {}:1:2:3"] {
            let bad = bad.replace("{}", id(9).as_str());
            assert!(
                Lineage::from_aux(id(3), ReplOffset(300), bad.as_bytes(), 16).is_err(),
                "{bad:?} must be rejected"
            );
        }
    }
}
