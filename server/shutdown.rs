//! Shutting down as Redis 7.0 does: SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]
//! [ABORT], SIGTERM and SIGINT.
//!
//! This module owns the shutdown sequence between the request and the exit:
//! unless NOW, with replicas attached and `shutdown-timeout` above zero, a
//! primary whose replicas have not acknowledged its whole stream pauses
//! writes, asks them for an ACK and waits (up to the timeout) until they
//! have; then it logs who is in sync, saves as asked, and lets `main` exit.
//! SHUTDOWN ABORT during the wait, or a failed save without FORCE, cancels
//! it: the SHUTDOWN callers get Redis's error and the server goes on serving.
//!
//! The SHUTDOWN command only records the request here and blocks its caller;
//! sockets, the final flush and `exit` stay in `main.rs`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};

use crate::client::ClientHandle;
use crate::reply::{Proto, Reply};
use crate::state::{unix_ms, Server};

/// SHUTDOWN's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShutdownFlags {
    pub nosave: bool,
    pub save: bool,
    pub now: bool,
    pub force: bool,
}

/// A shutdown asked for and not yet carried out or cancelled.
#[derive(Debug, Default)]
pub struct ShutdownState {
    /// The SHUTDOWN command's options (`None`: a signal's defaults).
    pub request: Option<ShutdownFlags>,
    /// While waiting for replicas: when the wait gives up (unix ms).
    pub deadline_ms: Option<u64>,
    /// Clients blocked in SHUTDOWN, told if it fails; (handle, protocol).
    pub waiters: Vec<(Arc<ClientHandle>, Proto)>,
    /// SHUTDOWN ABORT arrived.
    pub abort: bool,
}

impl ShutdownState {
    /// INFO's `shutdown_in_milliseconds`: time left to wait for replicas.
    pub fn remaining_ms(&self) -> u64 {
        self.deadline_ms
            .map_or(0, |d| d.saturating_sub(unix_ms()).max(1))
    }
}

/// What SHUTDOWN asks: record the request and block the caller (`None`), or
/// an immediate reply (ABORT's answer).
pub fn request(
    server: &Server,
    flags: ShutdownFlags,
    abort: bool,
    caller: (Arc<ClientHandle>, Proto),
) -> Option<Reply> {
    let mut st = server.shutdown_state.lock();
    if abort {
        if st.deadline_ms.is_some() {
            st.abort = true;
            return Some(Reply::ok());
        }
        if server.shutdown_requested.swap(false, Ordering::SeqCst) {
            // Asked for but not started yet: just forget it.
            st.request = None;
            info!("Shutdown manually aborted.");
            return Some(Reply::ok());
        }
        return Some(Reply::error("ERR No shutdown in progress."));
    }
    st.waiters.push(caller);
    if st.deadline_ms.is_none() && st.request.is_none() {
        st.request = Some(flags);
        drop(st);
        server.request_shutdown();
    }
    None
}

/// Carries out the shutdown asked for: true when the process may exit now,
/// false when it was cancelled (aborted, or a save failed without FORCE)
/// and the server must go on serving.
pub async fn prepare(server: &Arc<Server>) -> bool {
    warn!("User requested shutdown...");
    let flags = server
        .shutdown_state
        .lock()
        .request
        .take()
        .unwrap_or_default();
    let timeout_secs = server
        .config
        .read()
        .number("shutdown-timeout")
        .unwrap_or(10)
        .max(0) as u64;
    let wait = !flags.now && timeout_secs > 0 && !replicas_in_sync(server);
    if wait && !wait_for_replicas(server, timeout_secs).await {
        info!("Shutdown manually aborted.");
        cancel(server);
        return false;
    }
    log_replica_sync(server);
    crate::aof::flush_and_sync(&mut server.lock_data());
    let save_points = !server.config.read().save_points.is_empty();
    if flags.save || (save_points && !flags.nosave) {
        warn!("Saving the final RDB snapshot before exiting.");
        let saved = crate::persist::save_locked(server, &mut server.lock_data());
        if let Err(e) = saved {
            if flags.force {
                warn!("Error trying to save the DB: {e}; exiting anyway (FORCE).");
            } else {
                warn!("Error trying to save the DB, can't exit.");
                warn!(
                    "Errors trying to shut down the server. Check the logs for more information."
                );
                cancel(server);
                return false;
            }
        }
    }
    true
}

/// SHUTDOWN NOSAVE while a script is busy: the script is abandoned and the
/// process exits at once, as Redis does. What earlier commands wrote is in
/// the AOF file already (a batch writes its records before it replies); the
/// busy script's own effects never reach it.
pub fn exit_while_busy(server: &Server) -> ! {
    warn!("User requested shutdown...");
    warn!("Abandoning the busy script and exiting without saving (SHUTDOWN NOSAVE).");
    server.close_listeners();
    let (unixsocket, pidfile) = {
        let config = server.config.read();
        (config.unixsocket.clone(), config.pidfile.clone())
    };
    if !unixsocket.is_empty() {
        let _ = std::fs::remove_file(&unixsocket);
    }
    if !pidfile.is_empty() {
        info!("Removing the pid file.");
        let _ = std::fs::remove_file(&pidfile);
    }
    warn!("tandem is now ready to exit, bye bye...");
    std::process::exit(0)
}

/// Every attached replica has acknowledged the whole stream.
fn replicas_in_sync(server: &Server) -> bool {
    let offset = server.lock_data().repl.offset;
    server
        .replicas
        .lock()
        .values()
        .all(|r| r.ack_offset == offset)
}

/// Pauses writes, asks the replicas for an ACK and waits until they are in
/// sync or the timeout passes. False if SHUTDOWN ABORT ended the wait.
async fn wait_for_replicas(server: &Arc<Server>, timeout_secs: u64) -> bool {
    let deadline = unix_ms() + timeout_secs * 1000;
    server.shutdown_state.lock().deadline_ms = Some(deadline);
    server.pause.lock().shutdown = true;
    {
        let mut data = server.lock_data();
        if data.repl.enabled {
            data.repl.feed_raw(&[b"REPLCONF", b"GETACK", b"*"]);
        }
    }
    server.repl_notify.notify_waiters();
    info!("Waiting for replicas before shutting down.");
    loop {
        if server.shutdown_state.lock().abort {
            return false;
        }
        if unix_ms() >= deadline || replicas_in_sync(server) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Redis's lines on how the replicas stand as the primary goes.
fn log_replica_sync(server: &Server) {
    let offset = server.lock_data().repl.offset;
    let now_secs = unix_ms() / 1000;
    let replicas = server.replicas.lock();
    let mut lagging = 0;
    for r in replicas.values() {
        if r.ack_offset != offset {
            lagging += 1;
            let lag = if r.state == "online" {
                now_secs.saturating_sub(r.ack_time_ms / 1000)
            } else {
                0
            };
            warn!(
                "Lagging replica {}:{} reported offset {} behind master, lag={lag}, state={}.",
                r.ip,
                r.port,
                offset.saturating_sub(r.ack_offset),
                r.state
            );
        }
    }
    if !replicas.is_empty() {
        info!(
            "{} of {} replicas are in sync when shutting down.",
            replicas.len() - lagging,
            replicas.len()
        );
    }
}

/// Ends a shutdown that will not happen: writes resume, and each SHUTDOWN
/// caller gets Redis's error.
fn cancel(server: &Server) {
    let waiters = {
        let mut st = server.shutdown_state.lock();
        st.deadline_ms = None;
        st.abort = false;
        st.request = None;
        std::mem::take(&mut st.waiters)
    };
    server.pause.lock().shutdown = false;
    server.unpaused.notify_waiters();
    server.shutdown_requested.store(false, Ordering::SeqCst);
    for (handle, proto) in waiters {
        let mut out = bytes::BytesMut::new();
        Reply::error("ERR Errors trying to SHUTDOWN. Check logs.").encode(proto, &mut out);
        handle.send_unblocked(Bytes::from(out));
    }
}
