//! tandem-replication: the sans-IO replication engine.
//!
//! This crate owns the protocol rules of replication: replication ids and
//! their lineage, the backlog ring, the primary's PSYNC decision, the framing
//! of full-sync payloads, and the replica's accounting of the command stream.
//! It never touches sockets, tokio or clocks: every piece takes bytes, events
//! and (where time matters) the current time as arguments, and returns bytes,
//! decisions and events for the server crate's drivers to carry out. So every
//! rule is unit-tested with plain byte vectors.
//!
//! Offsets are [`ReplOffset`] stream positions throughout (the number of
//! stream bytes before a point, equal to Redis's `master_repl_offset` /
//! `reploff` values); only PSYNC's argument and two INFO fields use Redis's
//! 1-based byte numbers, and they have their own type or helper
//! ([`psync::PsyncOffset`], [`Backlog::info_first_byte_offset`],
//! [`Lineage::second_repl_offset`]).
//!
//! Modules:
//! - [`ids`]: `ReplId` (40 hex characters) and `ReplOffset`.
//! - [`lineage`]: `Lineage`, the current id plus past ids with the offsets
//!   they cover (Redis's `replid2` generalised).
//! - [`backlog`]: `Backlog`, the ring over an anonymous or file-backed memory
//!   mapping, handing out zero-copy slices from any offset it still holds.
//! - [`psync`]: `decide`, the primary's `+CONTINUE` / `+FULLRESYNC` choice
//!   with Redis's log wording, and the reply lines.
//! - [`framing`]: the `$<len>` / `$EOF:<mark>` payload framing; the sender's
//!   header and trailer, and the sans-IO `PayloadReceiver`.
//! - [`stream`]: `StreamTracker`, the replica's parser and offset counter for
//!   the command stream (MULTI counted at EXEC, GETACK, proxy bytes).
//!
//! How the server's drivers use it:
//!
//! ```text
//!  PRIMARY SIDE                                   REPLICA SIDE
//!  ------------                                   ------------
//!  client write, applied under the data lock      bytes from the primary
//!        |                                              |
//!        v                                              v
//!  Backlog::append(stream bytes)             PayloadReceiver::feed(chunk)
//!        |                                     |-> Fed.payload  --> RDB loader
//!        v                                     '-> done + rest  --+
//!  replica feeder: Backlog::slices_from(off)                      |
//!        '--> write(socket) (zero copy)                           v
//!                                            StreamTracker::feed(bytes)
//!  PSYNC <id> <off> from a replica           StreamTracker::poll_event()
//!        |                                     |-> Applied{argv}  --> execute
//!        v                                     '-> GetAck{offset} --> ack_command()
//!  psync::decide(request, PrimaryState)      StreamTracker::drain_proxy()
//!    |-> Continue{reply, from}                 '-> Backlog::append --> sub-replicas
//!    |     '--> +CONTINUE, then slices_from(from)
//!    '-> FullResync(reason) --> log_line(); snapshot at offset X
//!          '--> +FULLRESYNC <id> X, PayloadHeader, payload, trailer
//!
//!  promotion / +CONTINUE <new id>: Lineage::promote(new_id, offset)
//!  new history (first backlog, full sync done): Lineage::restart(id, offset)
//! ```
//!
//! Still to come (sans-IO as well): the replica-link handshake state machine
//! and the primary-side per-replica state, in the `handle_*` / `poll_*` style:
//!
//! ```text
//!   server driver                      replication state machine
//!   -------------                      -------------------------
//!   socket bytes  --handle_input()-->  parse, advance state
//!   timer fired   --handle_timeout(now)->
//!                 <--poll_transmit()--  bytes to write
//!                 <--poll_action()----  LoadRdb / Apply / Ack / Disconnect
//!                 <--poll_timeout()---  next deadline
//! ```

pub mod backlog;
pub mod framing;
pub mod ids;
pub mod lineage;
mod numbers;
pub mod psync;
pub mod stream;

pub use backlog::Backlog;
pub use ids::{ReplId, ReplOffset};
pub use lineage::Lineage;
