//! The primary's answer to `PSYNC <replid> <offset>`: continue from the
//! backlog, or fall back to a full resync (spec §5.3), and the reply lines.
//!
//! # Rule
//!
//! A partial resync is accepted iff
//!
//! 1. the requested id is the current id, or a lineage id that covers the
//!    offset (the replica did not go past the point where this node left that
//!    id; for the newest past id this is exactly Redis's
//!    `offset <= second_repl_offset`), and
//! 2. a backlog exists and holds the offset, and
//! 3. the offset is not past `master_repl_offset`.
//!
//! `?` (anything starting with `?`) always asks for a full resync.
//!
//! # Offsets
//!
//! PSYNC carries Redis's 1-based number of the first byte the replica lacks
//! ([`PsyncOffset`]); everything else in the crate uses 0-based stream
//! positions ([`ReplOffset`]). `PsyncOffset(n)` asks for the bytes from
//! position `n - 1` on, and a replica whose processed offset is `p` sends
//! `PsyncOffset(p + 1)`.

use std::fmt;

use crate::backlog::OffsetRange;
use crate::ids::{ReplId, ReplOffset};
use crate::lineage::Lineage;
use crate::numbers::parse_i64;

/// The offset argument of PSYNC: Redis's 1-based number of the first byte the
/// replica lacks, -1 with `?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PsyncOffset(pub i64);

impl PsyncOffset {
    /// What a replica without history sends (`PSYNC ? -1`).
    pub const NONE: PsyncOffset = PsyncOffset(-1);

    /// The PSYNC offset of a replica that has processed `processed` bytes.
    pub fn after(processed: ReplOffset) -> PsyncOffset {
        PsyncOffset(i64::try_from(processed.0).map_or(i64::MAX, |p| p.saturating_add(1)))
    }

    /// The stream position the request starts at, if there is one (`n >= 1`).
    pub fn to_position(self) -> Option<ReplOffset> {
        u64::try_from(self.0)
            .ok()
            .and_then(|n| n.checked_sub(1))
            .map(ReplOffset)
    }

    /// Parses the argument as Redis does (a strict 64-bit decimal).
    pub fn parse(text: &[u8]) -> Option<PsyncOffset> {
        parse_i64(text).map(PsyncOffset)
    }
}

impl fmt::Display for PsyncOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The replication id a replica asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestedId {
    /// `?`: the replica wants a full resync.
    Any,
    /// A well-formed id (case-folded).
    Id(ReplId),
    /// Not a 40-hex-character id: it can never match, but is kept for the log.
    Malformed(String),
}

impl fmt::Display for RequestedId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestedId::Any => f.write_str("?"),
            RequestedId::Id(id) => id.fmt(f),
            RequestedId::Malformed(text) => f.write_str(text),
        }
    }
}

/// A PSYNC request as the primary sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PsyncRequest {
    /// The id asked for.
    pub replid: RequestedId,
    /// The offset asked for.
    pub offset: PsyncOffset,
    /// Whether the replica announced `REPLCONF capa psync2` (it then gets
    /// `+CONTINUE <replid>` rather than a bare `+CONTINUE`).
    pub psync2: bool,
}

/// A PSYNC whose arguments cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PsyncError {
    /// The offset is not an integer; the reply is `-ERR <this>`.
    #[error("value is not an integer or out of range")]
    InvalidOffset,
}

impl PsyncRequest {
    /// Builds a request from the PSYNC arguments and the replica's capa.
    pub fn parse(replid: &[u8], offset: &[u8], psync2: bool) -> Result<PsyncRequest, PsyncError> {
        let offset = PsyncOffset::parse(offset).ok_or(PsyncError::InvalidOffset)?;
        let replid = if replid.first() == Some(&b'?') {
            RequestedId::Any
        } else if let Some(id) = ReplId::parse(replid) {
            RequestedId::Id(id)
        } else {
            RequestedId::Malformed(String::from_utf8_lossy(replid).into_owned())
        };
        Ok(PsyncRequest {
            replid,
            offset,
            psync2,
        })
    }
}

/// What the primary knows when it decides.
#[derive(Clone, Copy, Debug)]
pub struct PrimaryState<'a> {
    /// The current id and the past ids.
    pub lineage: &'a Lineage,
    /// The positions the backlog holds, `None` without a backlog.
    pub backlog: Option<OffsetRange>,
    /// The end of the stream produced so far.
    pub master_repl_offset: ReplOffset,
}

/// The first line of the primary's answer to PSYNC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsyncReply {
    /// `+FULLRESYNC <replid> <offset>`: a snapshot taken at `offset` follows.
    FullResync {
        /// The primary's current id.
        replid: ReplId,
        /// The stream position the snapshot is taken at (`master_repl_offset`).
        offset: ReplOffset,
    },
    /// `+CONTINUE <replid>` (psync2) or `+CONTINUE`: backlog bytes follow.
    Continue {
        /// The primary's current id, for a psync2 replica.
        replid: Option<ReplId>,
    },
}

impl PsyncReply {
    /// Appends the reply line, CRLF included, to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let line = match self {
            PsyncReply::FullResync { replid, offset } => format!("+FULLRESYNC {replid} {offset}"),
            PsyncReply::Continue { replid: Some(id) } => format!("+CONTINUE {id}"),
            PsyncReply::Continue { replid: None } => "+CONTINUE".to_owned(),
        };
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }

    /// The reply line, CRLF included.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.encode(&mut out);
        out
    }
}

/// Why a partial resync was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FullResyncReason {
    /// The replica sent `?`.
    Requested,
    /// The id is neither the current one nor in the lineage.
    IdMismatch {
        /// What the replica asked for.
        asked: String,
        /// Our current id.
        replid: ReplId,
        /// Our newest past id (forty `'0'`s if none).
        replid2: ReplId,
    },
    /// The id is a past one, but the replica is past where we left it: its
    /// history diverged from ours.
    OffsetPastLineage {
        /// The past id.
        replid: ReplId,
        /// 0 for the newest past id (Redis's `replid2`), 1 for the one before...
        age: usize,
        /// The offset asked for.
        requested: PsyncOffset,
        /// The highest offset that id serves (Redis's `second_repl_offset`).
        limit: PsyncOffset,
    },
    /// The id is fine but the backlog does not hold the offset (or there is no
    /// backlog).
    LackOfBacklog {
        /// The offset asked for.
        requested: PsyncOffset,
        /// The offset is past the end of the stream.
        beyond_master: bool,
    },
}

impl FullResyncReason {
    /// Whether Redis counts this in INFO `sync_partial_err` (every refusal but `?`).
    pub fn counts_as_partial_err(&self) -> bool {
        !matches!(self, FullResyncReason::Requested)
    }

    /// The log line(s), in Redis's words where Redis has them; `replica` names
    /// the replica as Redis does (`ip:port`). A second line, when present,
    /// follows after `\n` (Redis logs it as a separate warning).
    pub fn log_line(&self, replica: &str) -> String {
        match self {
            FullResyncReason::Requested => format!("Full resync requested by replica {replica}"),
            FullResyncReason::IdMismatch {
                asked,
                replid,
                replid2,
            } => format!(
                "Partial resynchronization not accepted: Replication ID mismatch \
                 (Replica asked for '{asked}', my replication IDs are '{replid}' and '{replid2}')"
            ),
            FullResyncReason::OffsetPastLineage {
                replid,
                age: 0,
                requested,
                limit,
            } => format!(
                "Partial resynchronization not accepted: Requested offset for second ID was \
                 {requested}, but I can reply up to {limit}\n{}",
                diverged_line(replica, *replid, *limit)
            ),
            FullResyncReason::OffsetPastLineage {
                replid,
                age,
                requested,
                limit,
            } => format!(
                "Partial resynchronization not accepted: Requested offset for past ID \
                 '{replid}' (lineage entry {age}) was {requested}, but I can reply up to \
                 {limit}\n{}",
                diverged_line(replica, *replid, *limit)
            ),
            FullResyncReason::LackOfBacklog {
                requested,
                beyond_master,
            } => {
                let mut line = format!(
                    "Unable to partial resync with replica {replica} for lack of backlog \
                     (Replica request was: {requested})."
                );
                if *beyond_master {
                    line.push_str(&format!(
                        "\nWarning: replica {replica} tried to PSYNC with an offset that is \
                         greater than the master replication offset."
                    ));
                }
                line
            }
        }
    }
}

/// The second line for a replica past where we left its id: why its data is
/// about to be replaced.
fn diverged_line(replica: &str, replid: ReplId, limit: PsyncOffset) -> String {
    format!(
        "Replica {replica} diverged from my history: it holds writes under replication ID \
         '{replid}' past offset {limit}, where that history ended for me (e.g. a former \
         primary that kept accepting writes after a failover). A full resync replaces its data."
    )
}

/// The primary's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PsyncDecision {
    /// Send `reply`, then the backlog bytes from `from` on.
    Continue {
        /// The `+CONTINUE` line to write first.
        reply: PsyncReply,
        /// The first stream position to send.
        from: ReplOffset,
        /// How many backlog bytes that is right now.
        backlog_bytes: u64,
    },
    /// Start (or join) a full sync; `+FULLRESYNC` is sent when its snapshot
    /// is taken.
    FullResync(FullResyncReason),
}

impl PsyncDecision {
    /// For `Continue`, Redis's log line for an accepted request.
    pub fn accepted_log_line(&self, replica: &str) -> Option<String> {
        match self {
            PsyncDecision::Continue {
                from,
                backlog_bytes,
                ..
            } => Some(format!(
                "Partial resynchronization request from {replica} accepted. Sending \
                 {backlog_bytes} bytes of backlog starting from offset {}.",
                PsyncOffset::after(*from)
            )),
            PsyncDecision::FullResync(_) => None,
        }
    }
}

/// Decides between `+CONTINUE` and a full resync (see the module docs).
pub fn decide(request: &PsyncRequest, state: &PrimaryState<'_>) -> PsyncDecision {
    let lineage = state.lineage;
    let id = match &request.replid {
        RequestedId::Any => return PsyncDecision::FullResync(FullResyncReason::Requested),
        RequestedId::Id(id) => Some(*id),
        RequestedId::Malformed(_) => None,
    };
    let known = id.filter(|id| *id == lineage.current() || lineage.find(*id).is_some());
    let Some(id) = known else {
        return PsyncDecision::FullResync(FullResyncReason::IdMismatch {
            asked: request.replid.to_string(),
            replid: lineage.current(),
            replid2: lineage.replid2(),
        });
    };
    if let Some((age, entry)) = lineage.find(id) {
        // Offset 0 (or below) covers nothing, but it is the backlog that
        // refuses it, as in Redis.
        let covered = request.offset.to_position().is_none_or(|p| entry.covers(p));
        if !covered {
            return PsyncDecision::FullResync(FullResyncReason::OffsetPastLineage {
                replid: id,
                age,
                requested: request.offset,
                limit: PsyncOffset::after(entry.last),
            });
        }
    }
    let position = request.offset.to_position();
    let lack = FullResyncReason::LackOfBacklog {
        requested: request.offset,
        beyond_master: position.is_some_and(|p| p > state.master_repl_offset),
    };
    let (Some(backlog), Some(from)) = (state.backlog, position) else {
        return PsyncDecision::FullResync(lack);
    };
    if !backlog.contains(from) || from > state.master_repl_offset {
        return PsyncDecision::FullResync(lack);
    }
    PsyncDecision::Continue {
        reply: PsyncReply::Continue {
            replid: request.psync2.then_some(lineage.current()),
        },
        from,
        backlog_bytes: backlog.end.0.saturating_sub(from.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ReplId {
        ReplId::from_random([n; 20])
    }

    fn range(start: u64, end: u64) -> Option<OffsetRange> {
        Some(OffsetRange {
            start: ReplOffset(start),
            end: ReplOffset(end),
        })
    }

    fn req(replid: &str, offset: &str) -> PsyncRequest {
        PsyncRequest::parse(replid.as_bytes(), offset.as_bytes(), true).unwrap()
    }

    fn state(lineage: &Lineage, start: u64, end: u64) -> PrimaryState<'_> {
        PrimaryState {
            lineage,
            backlog: range(start, end),
            master_repl_offset: ReplOffset(end),
        }
    }

    fn reason(d: PsyncDecision) -> FullResyncReason {
        match d {
            PsyncDecision::FullResync(r) => r,
            other => panic!("expected a full resync, got {other:?}"),
        }
    }

    const ID_A: &str = "69a2add0ffb0d2c76b89b48261b340d7832fbf77";

    #[test]
    fn reply_bytes() {
        let a = ReplId::parse(ID_A.as_bytes()).unwrap();
        assert_eq!(
            PsyncReply::FullResync {
                replid: a,
                offset: ReplOffset(98)
            }
            .to_bytes(),
            b"+FULLRESYNC 69a2add0ffb0d2c76b89b48261b340d7832fbf77 98\r\n"
        );
        assert_eq!(
            PsyncReply::Continue { replid: Some(a) }.to_bytes(),
            b"+CONTINUE 69a2add0ffb0d2c76b89b48261b340d7832fbf77\r\n"
        );
        assert_eq!(
            PsyncReply::Continue { replid: None }.to_bytes(),
            b"+CONTINUE\r\n"
        );
    }

    #[test]
    fn offsets_convert_between_psync_and_positions() {
        assert_eq!(PsyncOffset(1).to_position(), Some(ReplOffset(0)));
        assert_eq!(PsyncOffset(776).to_position(), Some(ReplOffset(775)));
        assert_eq!(PsyncOffset(0).to_position(), None);
        assert_eq!(PsyncOffset::NONE.to_position(), None);
        assert_eq!(PsyncOffset::after(ReplOffset(775)), PsyncOffset(776));
        assert_eq!(
            PsyncOffset::after(ReplOffset(u64::MAX)),
            PsyncOffset(i64::MAX)
        );
    }

    #[test]
    fn parse_request() {
        assert_eq!(
            PsyncRequest::parse(b"?", b"-1", false),
            Ok(PsyncRequest {
                replid: RequestedId::Any,
                offset: PsyncOffset(-1),
                psync2: false
            })
        );
        let upper = ID_A.to_ascii_uppercase();
        assert_eq!(
            PsyncRequest::parse(upper.as_bytes(), b"600", true)
                .unwrap()
                .replid,
            RequestedId::Id(ReplId::parse(ID_A.as_bytes()).unwrap())
        );
        assert_eq!(
            PsyncRequest::parse(b"nonsense", b"5", true).unwrap().replid,
            RequestedId::Malformed("nonsense".to_owned())
        );
        for bad in [&b"abc"[..], b"", b"1.5", b"01", b"99999999999999999999"] {
            assert_eq!(
                PsyncRequest::parse(b"?", bad, true),
                Err(PsyncError::InvalidOffset)
            );
        }
        assert_eq!(
            PsyncError::InvalidOffset.to_string(),
            "value is not an integer or out of range"
        );
    }

    #[test]
    fn question_mark_always_means_full_resync() {
        let l = Lineage::new(id(1), ReplOffset(0));
        let r = reason(decide(&req("?", "-1"), &state(&l, 0, 100)));
        assert_eq!(r, FullResyncReason::Requested);
        assert!(!r.counts_as_partial_err());
        assert_eq!(
            r.log_line("127.0.0.1:6380"),
            "Full resync requested by replica 127.0.0.1:6380"
        );
        // Anything starting with '?' counts, as in Redis.
        assert_eq!(
            reason(decide(&req("?junk", "5"), &state(&l, 0, 100))),
            FullResyncReason::Requested
        );
    }

    #[test]
    fn current_id_within_backlog_continues() {
        let a = ReplId::parse(ID_A.as_bytes()).unwrap();
        let l = Lineage::new(a, ReplOffset(0));
        // Appendix A: PSYNC <id> 600 with a backlog of positions [0, 648).
        let d = decide(&req(ID_A, "600"), &state(&l, 0, 648));
        assert_eq!(
            d,
            PsyncDecision::Continue {
                reply: PsyncReply::Continue { replid: Some(a) },
                from: ReplOffset(599),
                backlog_bytes: 49,
            }
        );
        assert_eq!(
            d.accepted_log_line("127.0.0.1:6380").unwrap(),
            "Partial resynchronization request from 127.0.0.1:6380 accepted. \
             Sending 49 bytes of backlog starting from offset 600."
        );
        let mut bare = req(ID_A, "635");
        bare.psync2 = false;
        match decide(&bare, &state(&l, 0, 648)) {
            PsyncDecision::Continue { reply, .. } => {
                assert_eq!(reply.to_bytes(), b"+CONTINUE\r\n")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backlog_edges() {
        let l = Lineage::new(id(1), ReplOffset(0));
        let id1 = id(1).to_string();
        // Backlog holds positions [100, 200): PSYNC offsets 101..=201 continue.
        let s = state(&l, 100, 200);
        let ok = |off: &str| matches!(decide(&req(&id1, off), &s), PsyncDecision::Continue { .. });
        assert!(!ok("100"));
        assert!(ok("101"));
        assert!(
            ok("201"),
            "offset master_repl_offset + 1 means 0 bytes to send"
        );
        assert!(!ok("202"));
        assert!(!ok("0"));
        assert!(!ok("-1"));
        match decide(&req(&id1, "201"), &s) {
            PsyncDecision::Continue { backlog_bytes, .. } => assert_eq!(backlog_bytes, 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lack_of_backlog_wording() {
        let l = Lineage::new(id(1), ReplOffset(0));
        let id1 = id(1).to_string();
        let r = reason(decide(&req(&id1, "50"), &state(&l, 100, 200)));
        assert_eq!(
            r,
            FullResyncReason::LackOfBacklog {
                requested: PsyncOffset(50),
                beyond_master: false
            }
        );
        assert!(r.counts_as_partial_err());
        assert_eq!(
            r.log_line("10.0.0.2:6379"),
            "Unable to partial resync with replica 10.0.0.2:6379 for lack of backlog \
             (Replica request was: 50)."
        );
        let r = reason(decide(&req(&id1, "300"), &state(&l, 100, 200)));
        assert_eq!(
            r.log_line("10.0.0.2:6379"),
            "Unable to partial resync with replica 10.0.0.2:6379 for lack of backlog \
             (Replica request was: 300).\nWarning: replica 10.0.0.2:6379 tried to PSYNC \
             with an offset that is greater than the master replication offset."
        );
    }

    #[test]
    fn no_backlog_means_full_resync() {
        let l = Lineage::new(id(1), ReplOffset(0));
        let s = PrimaryState {
            lineage: &l,
            backlog: None,
            master_repl_offset: ReplOffset(0),
        };
        assert_eq!(
            reason(decide(&req(&id(1).to_string(), "1"), &s)),
            FullResyncReason::LackOfBacklog {
                requested: PsyncOffset(1),
                beyond_master: false
            }
        );
    }

    #[test]
    fn offset_past_master_repl_offset_is_refused_even_if_the_backlog_claims_it() {
        let l = Lineage::new(id(1), ReplOffset(0));
        let s = PrimaryState {
            lineage: &l,
            backlog: range(0, 200),
            master_repl_offset: ReplOffset(150),
        };
        assert_eq!(
            reason(decide(&req(&id(1).to_string(), "160"), &s)),
            FullResyncReason::LackOfBacklog {
                requested: PsyncOffset(160),
                beyond_master: true
            }
        );
    }

    #[test]
    fn id_mismatch_wording_shows_both_ids() {
        let mut l = Lineage::new(id(1), ReplOffset(0));
        let stranger = id(9).to_string();
        let r = reason(decide(&req(&stranger, "10"), &state(&l, 0, 100)));
        assert_eq!(
            r.log_line("x"),
            format!(
                "Partial resynchronization not accepted: Replication ID mismatch (Replica \
                 asked for '{stranger}', my replication IDs are '{}' and \
                 '0000000000000000000000000000000000000000')",
                id(1)
            )
        );
        l.promote(id(2), ReplOffset(50));
        let r = reason(decide(&req("not-an-id", "10"), &state(&l, 0, 100)));
        assert_eq!(
            r,
            FullResyncReason::IdMismatch {
                asked: "not-an-id".to_owned(),
                replid: id(2),
                replid2: id(1)
            }
        );
    }

    #[test]
    fn newest_past_id_follows_redis_second_offset_rule() {
        // R1 promoted at offset 775: replid2 = M's id, second_repl_offset = 776.
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(775));
        assert_eq!(l.second_repl_offset(), 776);
        let s = state(&l, 0, 900);
        let old = id(1).to_string();
        match decide(&req(&old, "776"), &s) {
            PsyncDecision::Continue { reply, from, .. } => {
                assert_eq!(
                    reply,
                    PsyncReply::Continue {
                        replid: Some(id(2))
                    }
                );
                assert_eq!(from, ReplOffset(775));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decide(&req(&old, "700"), &s),
            PsyncDecision::Continue { .. }
        ));
        let r = reason(decide(&req(&old, "777"), &s));
        assert_eq!(
            r,
            FullResyncReason::OffsetPastLineage {
                replid: id(1),
                age: 0,
                requested: PsyncOffset(777),
                limit: PsyncOffset(776)
            }
        );
        let log = r.log_line("x");
        let (redis_line, why) = log.split_once('\n').unwrap();
        assert_eq!(
            redis_line,
            "Partial resynchronization not accepted: Requested offset for second ID was \
             777, but I can reply up to 776"
        );
        assert!(
            why.starts_with("Replica x diverged from my history"),
            "{why}"
        );
    }

    #[test]
    fn lineage_serves_a_replica_that_slept_through_several_failovers() {
        // A -> B at 100, B -> C at 250, C -> D at 400; the backlog holds [50, 500).
        let mut l = Lineage::new(id(0xa), ReplOffset(0));
        l.promote(id(0xb), ReplOffset(100));
        l.promote(id(0xc), ReplOffset(250));
        l.promote(id(0xd), ReplOffset(400));
        let s = state(&l, 50, 500);
        let cont = |who: u8, off: &str| decide(&req(&id(who).to_string(), off), &s);
        // A replica still on A at 90 processed bytes continues and learns D.
        match cont(0xa, "91") {
            PsyncDecision::Continue {
                reply,
                from,
                backlog_bytes,
            } => {
                assert_eq!(
                    reply,
                    PsyncReply::Continue {
                        replid: Some(id(0xd))
                    }
                );
                assert_eq!(from, ReplOffset(90));
                assert_eq!(backlog_bytes, 410);
            }
            other => panic!("{other:?}"),
        }
        // Exactly at each switch point.
        assert!(matches!(cont(0xa, "101"), PsyncDecision::Continue { .. }));
        assert!(matches!(cont(0xb, "251"), PsyncDecision::Continue { .. }));
        assert!(matches!(cont(0xc, "401"), PsyncDecision::Continue { .. }));
        // A replica that learned B while lagging holds B below B's start.
        assert!(matches!(cont(0xb, "60"), PsyncDecision::Continue { .. }));
        // Past the point where the lineage left A: diverged.
        assert_eq!(
            reason(cont(0xa, "102")),
            FullResyncReason::OffsetPastLineage {
                replid: id(0xa),
                age: 2,
                requested: PsyncOffset(102),
                limit: PsyncOffset(101)
            }
        );
        let log = reason(cont(0xa, "102")).log_line("x");
        let (first, why) = log.split_once('\n').unwrap();
        assert_eq!(
            first,
            format!(
                "Partial resynchronization not accepted: Requested offset for past ID '{}' \
                 (lineage entry 2) was 102, but I can reply up to 101",
                id(0xa)
            )
        );
        assert!(
            why.contains(&format!("'{}' past offset 101", id(0xa))),
            "{why}"
        );
        // Covered by the lineage but out of the backlog.
        assert_eq!(
            reason(cont(0xa, "40")),
            FullResyncReason::LackOfBacklog {
                requested: PsyncOffset(40),
                beyond_master: false
            }
        );
    }

    #[test]
    fn ids_beyond_the_lineage_capacity_are_forgotten() {
        let mut l = Lineage::with_capacity(id(0), ReplOffset(0), 2);
        for n in 1..=3u8 {
            l.promote(id(n), ReplOffset(u64::from(n) * 10));
        }
        // Current id(3); past id(2) (ended at 30) and id(1) (ended at 20);
        // id(0) (ended at 10) fell out, so even an offset it covered is refused.
        let s = state(&l, 0, 100);
        assert!(matches!(
            reason(decide(&req(&id(0).to_string(), "5"), &s)),
            FullResyncReason::IdMismatch { .. }
        ));
        assert!(matches!(
            decide(&req(&id(1).to_string(), "21"), &s),
            PsyncDecision::Continue { .. }
        ));
    }

    #[test]
    fn restarted_primary_serves_its_old_id_through_the_lineage() {
        // Spec §6: after a restart from an RDB at offset 775, replid2 = old id,
        // second_repl_offset = 776, backlog first byte 776 with histlen 0.
        let mut l = Lineage::new(id(1), ReplOffset(0));
        l.promote(id(2), ReplOffset(775));
        let s = state(&l, 775, 775);
        match decide(&req(&id(1).to_string(), "776"), &s) {
            PsyncDecision::Continue {
                reply,
                backlog_bytes,
                ..
            } => {
                assert_eq!(
                    reply.to_bytes(),
                    format!("+CONTINUE {}\r\n", id(2)).into_bytes()
                );
                assert_eq!(backlog_bytes, 0);
            }
            other => panic!("{other:?}"),
        }
    }
}
