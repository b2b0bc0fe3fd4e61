//! The server's periodic work, `hz` times per second, like Redis's serverCron:
//! active expiry, idle-client timeouts, the ops/sec sample, the end of
//! CLIENT PAUSE and the FAILOVER step; and once a second, the save points.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::ClientKind;
use crate::exec::propagate_expired;
use crate::state::{unix_ms, Server};

/// Share of each cron period the active expiry may use (Redis: 25%).
const EXPIRE_TIME_PERCENT: u32 = 25;
/// Keys examined between clock checks during active expiry.
const EXPIRE_CHECKS_PER_STEP: usize = 200;

/// Runs until the process ends.
pub async fn run(server: Arc<Server>) {
    let mut last_second = Instant::now();
    let mut last_ping = Instant::now();
    loop {
        let hz = server.config.read().hz.clamp(1, 500);
        let period = Duration::from_millis(u64::from(1000 / hz));
        tokio::time::sleep(period).await;
        active_expire(&server, period * EXPIRE_TIME_PERCENT / 100);
        crate::maxmemory::cron(&server, period * EXPIRE_TIME_PERCENT / 100);
        close_idle_clients(&server);
        sample_ops(&server);
        end_pause(&server);
        crate::failover::cron(&server);
        crate::aof::cron(&server);
        if last_second.elapsed() >= Duration::from_secs(1) {
            last_second = Instant::now();
            crate::persist::cron(&server);
            ping_replicas(&server, &mut last_ping);
            free_idle_backlog(&server);
        }
    }
}

fn active_expire(server: &Server, budget: Duration) {
    let started = Instant::now();
    let mut data = server.lock_data();
    if data.replica_of && data.active_expire_enabled && !data.debug.cron_paused {
        expire_replica_own_keys(&mut data);
    }
    // A replica never expires keys itself: its primary's DELs do. A FAILOVER
    // keeps the dataset still until the switch.
    if !data.active_expire_enabled
        || data.debug.cron_paused
        || data.replica_of
        || data.failover.is_active()
        || data.expiry_paused_until_ms > unix_ms()
    {
        return;
    }
    data.keyspace
        .set_expire_mode(tandem_storage::keyspace::ExpireMode::Delete);
    let now = unix_ms();
    let dbs = data.keyspace.db_count();
    'outer: for db in 0..dbs {
        loop {
            if data.keyspace.db(db).volatile_len() == 0 {
                break;
            }
            let deleted = data
                .keyspace
                .db(db)
                .active_expire(now, EXPIRE_CHECKS_PER_STEP);
            // Like Redis: keep going on a database while many sampled keys were due.
            if deleted < EXPIRE_CHECKS_PER_STEP / 4 {
                break;
            }
            if started.elapsed() > budget {
                break 'outer;
            }
        }
    }
    propagate_expired(&mut data);
    if data.notify.has_pending() {
        crate::notify::publish_pending(server, &mut data, None);
    }
    crate::tracking::end_of_call(server, &mut data, None);
    if data.repl.enabled {
        drop(data);
        server.repl_notify.notify_waiters();
    }
}

/// A writable replica's own keys whose TTL has passed are deleted here (not
/// propagated: a replica's local writes reach no one). Keys that lost their
/// TTL, or were deleted or rewritten by the primary, are forgotten.
fn expire_replica_own_keys(data: &mut crate::state::Data) {
    if data.replica_own_expires.is_empty() {
        return;
    }
    let now = unix_ms();
    let tracked: Vec<(usize, bytes::Bytes)> = data.replica_own_expires.iter().cloned().collect();
    for (db, key) in tracked {
        let due = match data.keyspace.db(db).peek(&key, 0).map(|e| e.expire_at()) {
            Some(Some(at)) => at <= now,
            // Gone, or persistent now: nothing left to expire.
            _ => {
                data.replica_own_expires.remove(&(db, key));
                continue;
            }
        };
        if due {
            if data.keyspace.db(db).remove(&key, 0).is_some() {
                // Counted and announced as any expiry (INFO expired_keys).
                data.keyspace.db(db).expired_total += 1;
                data.notify
                    .raise(crate::notify::EXPIRED, "expired", db, &key);
            }
            data.replica_own_expires.remove(&(db, key));
        }
    }
}

fn close_idle_clients(server: &Server) {
    let timeout = server.config.read().timeout_secs;
    if timeout == 0 {
        return;
    }
    let now = unix_ms();
    for client in server.clients.lock().iter() {
        let kind = client.info.lock().kind;
        if kind != ClientKind::Normal {
            continue;
        }
        let idle = now.saturating_sub(client.last_interaction_ms.load(Ordering::Relaxed));
        if idle > timeout * 1000 {
            tracing::debug!("Closing idle client");
            client.kill();
        }
    }
}

fn sample_ops(server: &Server) {
    let now = unix_ms();
    let total = server.lock_data().total_commands;
    let mut sample = server.stats.ops_sample.lock();
    let (last_ms, last_total, _) = *sample;
    if now >= last_ms + 100 {
        if last_ms != 0 {
            let ops = total.saturating_sub(last_total) * 1000 / (now - last_ms).max(1);
            server.stats.ops_per_sec.store(ops, Ordering::Relaxed);
        }
        *sample = (now, total, 0);
    }
}

fn end_pause(server: &Server) {
    let mut pause = server.pause.lock();
    if pause.until_ms != 0 && pause.until_ms <= unix_ms() {
        pause.until_ms = 0;
        server.unpaused.notify_waiters();
    }
}

/// Feeds `ping` into the stream every `repl-ping-replica-period` seconds while
/// replicas are attached, so they can tell a silent primary from a dead one.
fn ping_replicas(server: &Server, last_ping: &mut Instant) {
    let period = server
        .config
        .read()
        .number("repl-ping-replica-period")
        .unwrap_or(10)
        .max(1) as u64;
    if last_ping.elapsed() < Duration::from_secs(period) || server.replicas.lock().is_empty() {
        return;
    }
    *last_ping = Instant::now();
    let mut data = server.lock_data();
    // A FAILOVER waits for a replica to match our offset, and a CLIENT PAUSE
    // holds the stream still: no ping meanwhile.
    if data.failover.is_active() || data.expiry_paused_until_ms > unix_ms() {
        return;
    }
    data.repl.feed_raw(&[b"ping"]);
    drop(data);
    server.repl_notify.notify_waiters();
}

/// Frees the backlog after `repl-backlog-ttl` seconds without replicas, as
/// Redis does (a primary only; a replica keeps it for its own sub-replicas
/// and for PSYNC after a promotion). The replication id changes with it.
fn free_idle_backlog(server: &Server) {
    let ttl = server.config.read().repl_backlog_ttl;
    let no_replicas = server.replicas.lock().is_empty();
    let mut data = server.lock_data();
    data.repl.shrink_if_unneeded();
    // A file-backed ring costs no memory and is what a restart resumes from.
    if data.repl.backlog.is_none()
        || data.repl.backlog_file.is_some()
        || data.replica_of
        || !no_replicas
    {
        data.backlog_idle_since_ms = None;
        return;
    }
    let now = unix_ms();
    let since = *data.backlog_idle_since_ms.get_or_insert(now);
    if ttl > 0 && now.saturating_sub(since) >= ttl * 1000 {
        let repl = &mut data.repl;
        repl.backlog = None;
        repl.enabled = false;
        let at = tandem_replication::ReplOffset(repl.offset);
        repl.restart_history(crate::exec::new_replid(), at);
        data.backlog_idle_since_ms = None;
        tracing::info!("Replication backlog freed after {ttl} seconds without connected replicas.");
    }
}
