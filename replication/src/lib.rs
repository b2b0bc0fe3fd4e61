//! tandem-replication: the sans-IO replication engine.
//!
//! This crate will own replication ids and their lineage, the backlog ring, the
//! PSYNC decision, the replica-link and primary-side state machines and the
//! transfer framing. It never touches sockets, tokio or clocks: every state
//! machine takes bytes, events and the current time, and returns bytes and
//! actions for the server crate's drivers to carry out.
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
//!
//! Modules:
//! - [`ids`]: `ReplId` (40 hex characters) and `ReplOffset`.

pub mod ids;

pub use ids::{ReplId, ReplOffset};
