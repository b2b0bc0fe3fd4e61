//! The script that holds the data lock, as every other connection sees it
//! without that lock (Redis's script run context and its busy state).
//!
//! A script runs under the data lock like any command. Once it has run past
//! `busy-reply-threshold`, the instruction hook marks it timed out and moves
//! the rest of its run off the runtime's worker thread
//! ([`tokio::task::block_in_place`]), so the other connections are served
//! meanwhile: they read this state lock-free and answer `-BUSY`, except for
//! SCRIPT KILL / FUNCTION KILL (which set [`RunningScript::kill`] for the
//! hook to act on), FUNCTION STATS, SHUTDOWN NOSAVE and the few commands
//! Redis flags `allow-busy`, which wait for the lock.
//!
//! Owns only atomics and what FUNCTION STATS shows; must not touch the data.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::VmState;
use parking_lot::Mutex;
use tracing::warn;

use crate::reply::Reply;

/// The error a killed script raises; `pcall` passes it on (see `API_SOURCE`).
pub(crate) const KILLED: &str = "Script killed by user with SCRIPT KILL...";

const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// What one run is, for the hook and FUNCTION STATS.
#[derive(Debug, Clone)]
pub(crate) struct RunInfo {
    /// The SHA of an EVAL body or the function's name.
    pub name: String,
    /// The command that runs it (`FCALL f 0`).
    pub command: Vec<Bytes>,
    /// EVAL and its forms (not FCALL).
    pub eval: bool,
    /// Run by the primary's stream: never killable.
    pub from_master: bool,
    /// 0 = never time out.
    pub threshold_ms: u64,
    /// FUNCTION STATS' engine counts when it started.
    pub libraries: usize,
    pub functions: usize,
}

/// The running script's state (see the module docs).
#[derive(Debug, Default)]
pub struct RunningScript {
    /// Past busy-reply-threshold: other clients are answered `-BUSY`.
    timed_out: AtomicBool,
    /// SCRIPT KILL / FUNCTION KILL asked the hook to stop it.
    kill: AtomicBool,
    /// It ran a write command: only SHUTDOWN NOSAVE stops it.
    pub(crate) wrote: AtomicBool,
    /// EVAL rather than FCALL (valid while timed out).
    eval: AtomicBool,
    /// Sent by this server's primary (valid while timed out).
    from_master: AtomicBool,
    /// The run's details once it timed out, and when it started.
    shown: Mutex<Option<(RunInfo, Instant)>>,
    /// When the running script started.
    started: Mutex<Option<Instant>>,
}

impl RunningScript {
    /// A script starts (under the data lock).
    pub(crate) fn begin(&self) {
        self.wrote.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        *self.started.lock() = Some(Instant::now());
    }

    /// The script ended, however.
    pub(crate) fn end(&self) {
        self.timed_out.store(false, Ordering::SeqCst);
        self.kill.store(false, Ordering::Relaxed);
        *self.shown.lock() = None;
        *self.started.lock() = None;
    }

    /// Whether a script has run past busy-reply-threshold and still runs.
    pub fn is_busy(&self) -> bool {
        self.timed_out.load(Ordering::SeqCst)
    }

    /// The error other commands get while it is busy.
    pub fn busy_error(&self) -> Reply {
        if self.eval.load(Ordering::Relaxed) {
            Reply::error(BUSY_EVAL)
        } else {
            Reply::error(BUSY_FUNCTION)
        }
    }

    /// SCRIPT KILL (`by_eval`) or FUNCTION KILL while it is busy.
    pub fn kill(&self, by_eval: bool) -> Reply {
        if self.from_master.load(Ordering::Relaxed) {
            return Reply::error(
                "UNKILLABLE The busy script was sent by a master instance in the context of replication and cannot be killed.",
            );
        }
        if self.wrote.load(Ordering::Relaxed) {
            return Reply::error(
                "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.",
            );
        }
        let eval = self.eval.load(Ordering::Relaxed);
        if by_eval && !eval {
            return Reply::error(BUSY_FUNCTION);
        }
        if !by_eval && eval {
            return Reply::error(BUSY_EVAL);
        }
        self.kill.store(true, Ordering::SeqCst);
        warn!(
            "Lua script killed by user with {}.",
            if by_eval {
                "SCRIPT KILL"
            } else {
                "FUNCTION KILL"
            }
        );
        Reply::ok()
    }

    /// FUNCTION STATS while it is busy: the running script and the engine.
    pub fn stats(&self) -> Reply {
        let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
        let shown = self.shown.lock().clone();
        let (running, libraries, functions) = match shown {
            Some((info, started)) => (
                Reply::Map(vec![
                    (bulk("name"), bulk(&info.name)),
                    (
                        bulk("command"),
                        Reply::Array(info.command.iter().cloned().map(Reply::Bulk).collect()),
                    ),
                    (
                        bulk("duration_ms"),
                        Reply::Int(started.elapsed().as_millis() as i64),
                    ),
                ]),
                info.libraries,
                info.functions,
            ),
            None => (Reply::Null, 0, 0),
        };
        stats_reply(running, libraries, functions)
    }

    /// The instruction hook's check: stop when killed; on passing the
    /// threshold, turn busy and leave the worker thread to the others.
    pub(crate) fn hook(&self, info: &RunInfo) -> mlua::Result<VmState> {
        if self.kill.load(Ordering::Relaxed) {
            return Err(mlua::Error::runtime(KILLED));
        }
        if self.timed_out.load(Ordering::Relaxed) {
            // Again at every call: a task that blocked in `lock_data` hands
            // the worker on, and this thread may have taken it back then.
            hand_off_worker();
            return Ok(VmState::Continue);
        }
        if info.threshold_ms == 0 {
            return Ok(VmState::Continue);
        }
        let Some(started) = *self.started.lock() else {
            return Ok(VmState::Continue);
        };
        let ran = started.elapsed().as_millis() as u64;
        if ran <= info.threshold_ms {
            return Ok(VmState::Continue);
        }
        self.eval.store(info.eval, Ordering::Relaxed);
        self.from_master.store(info.from_master, Ordering::Relaxed);
        *self.shown.lock() = Some((info.clone(), started));
        self.timed_out.store(true, Ordering::SeqCst);
        warn!(
            "Slow script detected: still in execution after {ran} milliseconds. You can try killing the script using the {} command. Script name is: {}.",
            if info.eval { "SCRIPT KILL" } else { "FUNCTION KILL" },
            info.name
        );
        hand_off_worker();
        Ok(VmState::Continue)
    }
}

/// Makes sure the runtime's worker is not driven by this thread, so the
/// other tasks run while the current one goes on here: a worker this thread
/// holds moves to a new thread ([`tokio::task::block_in_place`]), and the
/// call returns once a probe task has run elsewhere (up to 50 ms), because
/// `block_in_place` takes back a worker nobody has picked up yet.
fn hand_off_worker() {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let handle = match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => handle,
        _ => return,
    };
    let ran = Arc::new(AtomicBool::new(false));
    let probe = ran.clone();
    handle.spawn(async move { probe.store(true, Ordering::SeqCst) });
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_millis(50);
        while !ran.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(20));
        }
    });
}

/// FUNCTION STATS' reply.
pub(crate) fn stats_reply(running: Reply, libraries: usize, functions: usize) -> Reply {
    let bulk = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    Reply::Map(vec![
        (bulk("running_script"), running),
        (
            bulk("engines"),
            Reply::Map(vec![(
                bulk("LUA"),
                Reply::Map(vec![
                    (bulk("libraries_count"), Reply::Int(libraries as i64)),
                    (bulk("functions_count"), Reply::Int(functions as i64)),
                ]),
            )]),
        ),
    ])
}

/// Runs `f` where it may block for long: on a multi-threaded runtime's
/// worker, the worker's other tasks move to another thread first (and the
/// rest of the current task's run stays off the worker); elsewhere `f`
/// just runs.
pub fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
