//! The topology harness: N server processes (tandem or redis-server), each with
//! a port and a data dir that survive restarts, wired into fan-outs and chains
//! with REPLICAOF. It can SIGKILL a node and restart it on the same port and
//! dir (it reloads its RDB and its replicas find it again), SIGSTOP/SIGCONT it,
//! promote it, re-point it and cut its links.
//!
//! The checks failover tests need: DEBUG DIGEST and master_repl_offset agree
//! across nodes, every write acknowledged by `WAIT 1` is present on the final
//! primary, and the full/partial sync counts of `INFO stats` summed over the
//! nodes and over their earlier lives (a restart resets a node's counters, so
//! they are read just before a kill).
//!
//! Writes are `SET key:<i> <i>` (plus a few unchecked list, hash and
//! expiring-key writes so digests cover more than strings), each followed by
//! `WAIT 1 <ms>`; [`WriteLog`] records which `i` were acknowledged and which
//! were acknowledged by at least one replica.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tandem_server::resp::Frame;

use super::{free_port, render, wait_until, Client, Flavor, ServerProcess, TempDir};

impl ServerProcess {
    /// Starts a server on `port` with its data in `dir`, so a node can be
    /// restarted where it was (same port, same RDB). The log goes to the
    /// fixture's own scratch dir. Like [`ServerProcess::start`], a full sync
    /// starts at once (`repl-diskless-sync-delay 0`) unless `extra` says
    /// otherwise. `None` if it did not answer PING in time (for instance
    /// because the port is taken).
    pub fn start_at(
        flavor: Flavor,
        port: u16,
        dir: &Path,
        extra: &[&str],
    ) -> Option<ServerProcess> {
        let scratch = TempDir::new(match flavor {
            Flavor::Tandem => "tandem-node",
            Flavor::Redis => "redis-node",
        });
        let mut server = ServerProcess::spawn(flavor, port, dir, scratch, extra);
        if server.wait_ready(Duration::from_secs(10)) {
            Some(server)
        } else {
            eprintln!(
                "{flavor:?} on port {port} did not start; log:\n{}",
                server.log()
            );
            None
        }
    }
}

/// `INFO stats` sync counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounts {
    pub full: u64,
    pub partial_ok: u64,
    pub partial_err: u64,
}

impl SyncCounts {
    /// The syncs since `base` (saturating: a node killed while frozen loses
    /// the counts of that life).
    pub fn since(self, base: SyncCounts) -> SyncCounts {
        SyncCounts {
            full: self.full.saturating_sub(base.full),
            partial_ok: self.partial_ok.saturating_sub(base.partial_ok),
            partial_err: self.partial_err.saturating_sub(base.partial_err),
        }
    }

    fn add(&mut self, other: SyncCounts) {
        self.full += other.full;
        self.partial_ok += other.partial_ok;
        self.partial_err += other.partial_err;
    }
}

/// One server of a topology: its port and data dir outlive its processes.
pub struct Node {
    pub name: String,
    pub port: u16,
    data: TempDir,
    extra: Vec<String>,
    process: Option<ServerProcess>,
    /// Earlier lives, kept (already reaped) for their logs.
    past: Vec<ServerProcess>,
    /// The node it replicates from, as this harness last configured it.
    pub upstream: Option<usize>,
    pub stopped: bool,
    /// Sync counters of earlier lives.
    past_counts: SyncCounts,
}

impl Node {
    pub fn alive(&self) -> bool {
        self.process.is_some()
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// The logs of every life of this node, oldest first.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for (n, p) in self.past.iter().chain(self.process.iter()).enumerate() {
            let _ = writeln!(out, "----- {} life {n} (pid {}) -----", self.name, p.pid());
            out.push_str(&p.log());
        }
        out
    }
}

/// A set of nodes on loopback and the replication links between them.
pub struct Topology {
    pub flavor: Flavor,
    pub nodes: Vec<Node>,
}

impl Topology {
    /// Starts `n` nodes, all primaries, named A, B, C, ... `extra` is passed to
    /// every node, on every start.
    pub fn start(flavor: Flavor, n: usize, extra: &[&str]) -> Topology {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let nodes = (0..n)
            .map(|i| {
                let name = ((b'A' + i as u8) as char).to_string();
                let data = TempDir::new(&format!("topology-{name}"));
                let args: Vec<&str> = extra.iter().map(String::as_str).collect();
                let (port, process) = (0..5)
                    .find_map(|_| {
                        let port = free_port();
                        ServerProcess::start_at(flavor, port, data.path(), &args).map(|p| (port, p))
                    })
                    .unwrap_or_else(|| panic!("node {name} did not start"));
                Node {
                    name,
                    port,
                    data,
                    extra: extra.clone(),
                    process: Some(process),
                    past: Vec::new(),
                    upstream: None,
                    stopped: false,
                    past_counts: SyncCounts::default(),
                }
            })
            .collect();
        Topology { flavor, nodes }
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    pub fn port(&self, i: usize) -> u16 {
        self.nodes[i].port
    }

    pub fn try_client(&self, i: usize) -> std::io::Result<Client> {
        if !self.nodes[i].alive() {
            return Err(std::io::Error::other(format!(
                "node {} is not running",
                self.nodes[i].name
            )));
        }
        Client::connect(self.nodes[i].port)
    }

    pub fn client(&self, i: usize) -> Client {
        self.try_client(i)
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.nodes[i].name))
    }

    /// Runs one command on node `i`, as text (see [`render`]).
    pub fn q(&self, i: usize, args: &[&str]) -> String {
        self.client(i).q(args)
    }

    /// Runs one command on node `i`; `None` if it is down or the call fails.
    pub fn try_q(&self, i: usize, args: &[&str]) -> Option<String> {
        let mut c = self.try_client(i).ok()?;
        c.cmd(args).ok().map(|f| render(&f))
    }

    /// Live nodes that are not frozen.
    pub fn running(&self) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| self.nodes[i].alive() && !self.nodes[i].stopped)
            .collect()
    }

    // ----- wiring -------------------------------------------------------

    /// `REPLICAOF` node `upstream` on node `i`.
    pub fn replicaof(&mut self, i: usize, upstream: usize) {
        let port = self.port(upstream).to_string();
        let reply = self.q(i, &["REPLICAOF", "127.0.0.1", &port]);
        assert!(
            reply.starts_with("+OK"),
            "REPLICAOF on {}: {reply}",
            self.name(i)
        );
        self.nodes[i].upstream = Some(upstream);
    }

    /// Every node of `replicas` replicates from `primary`.
    pub fn fan_out(&mut self, primary: usize, replicas: &[usize]) {
        for &r in replicas {
            self.replicaof(r, primary);
        }
    }

    /// `nodes[0] <- nodes[1] <- nodes[2] ...`: each replicates from the one before.
    pub fn chain(&mut self, nodes: &[usize]) {
        for pair in nodes.windows(2) {
            self.replicaof(pair[1], pair[0]);
        }
    }

    /// `REPLICAOF NO ONE` on node `i`.
    pub fn promote(&mut self, i: usize) {
        let reply = self.q(i, &["REPLICAOF", "NO", "ONE"]);
        assert_eq!(reply, "+OK", "REPLICAOF NO ONE on {}", self.name(i));
        self.nodes[i].upstream = None;
    }

    // ----- faults ---------------------------------------------------------

    /// SIGKILL node `i` and reap it. Its sync counters are read first and kept.
    pub fn kill(&mut self, i: usize) {
        let counts = if self.nodes[i].stopped {
            None
        } else {
            self.node_counts(i)
        };
        let node = &mut self.nodes[i];
        let Some(mut process) = node.process.take() else {
            return;
        };
        process.signal("KILL");
        assert!(
            process.wait_exit(Duration::from_secs(10)).is_some(),
            "{} (pid {}) did not exit after SIGKILL",
            node.name,
            process.pid()
        );
        node.past_counts.add(counts.unwrap_or_default());
        node.past.push(process);
        node.stopped = false;
    }

    /// Starts node `i` again on its port and dir (it loads its RDB, if any),
    /// as a replica of its upstream if it has one.
    pub fn restart(&mut self, i: usize) {
        assert!(!self.nodes[i].alive(), "{} is running", self.name(i));
        let upstream_port = self.nodes[i].upstream.map(|u| self.port(u).to_string());
        let flavor = self.flavor;
        let node = &mut self.nodes[i];
        let mut args: Vec<&str> = node.extra.iter().map(String::as_str).collect();
        if let Some(p) = &upstream_port {
            args.extend(["--replicaof", "127.0.0.1", p]);
        }
        // The port was free when the node died; another process may hold it
        // for a moment, so retry a few times.
        let deadline = Instant::now() + Duration::from_secs(30);
        for _ in 0..10 {
            if let Some(p) = ServerProcess::start_at(flavor, node.port, node.data.path(), &args) {
                node.process = Some(p);
                return;
            }
            if Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("{} did not restart on port {}", node.name, node.port);
    }

    /// SIGSTOP node `i`: it keeps its sockets but runs nothing.
    pub fn freeze(&mut self, i: usize) {
        if let Some(p) = &self.nodes[i].process {
            p.signal("STOP");
            self.nodes[i].stopped = true;
        }
    }

    /// SIGCONT node `i`.
    pub fn thaw(&mut self, i: usize) {
        if let Some(p) = &self.nodes[i].process {
            p.signal("CONT");
            self.nodes[i].stopped = false;
        }
    }

    /// `CLIENT KILL TYPE master` on node `i`: it drops its link upstream and
    /// reconnects. Returns how many links were cut.
    pub fn cut_master_link(&self, i: usize) -> i64 {
        self.kill_clients(i, "master")
    }

    /// `CLIENT KILL TYPE replica` on node `i`: its replicas reconnect.
    pub fn cut_replica_links(&self, i: usize) -> i64 {
        self.kill_clients(i, "replica")
    }

    fn kill_clients(&self, i: usize, kind: &str) -> i64 {
        self.try_q(i, &["CLIENT", "KILL", "TYPE", kind])
            .and_then(|r| r.strip_prefix(':')?.parse().ok())
            .unwrap_or(0)
    }

    /// BGSAVE on node `i`, waiting (bounded) until it is done so a later
    /// restart finds the file.
    pub fn bgsave(&self, i: usize) -> bool {
        let Some(reply) = self.try_q(i, &["BGSAVE"]) else {
            return false;
        };
        if !reply.starts_with("+Background saving started") {
            return false;
        }
        wait_until(Duration::from_secs(20), || {
            self.info_field(i, "persistence", "rdb_bgsave_in_progress")
                .as_deref()
                == Some("0")
        })
    }

    // ----- observation -------------------------------------------------------

    pub fn info_field(&self, i: usize, section: &str, field: &str) -> Option<String> {
        let text = self.try_q(i, &["INFO", section])?;
        text.split(['\r', '\n'])
            .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
    }

    pub fn offset(&self, i: usize) -> Option<u64> {
        self.info_field(i, "replication", "master_repl_offset")?
            .parse()
            .ok()
    }

    pub fn link_up(&self, i: usize) -> bool {
        self.info_field(i, "replication", "master_link_status")
            .as_deref()
            == Some("up")
    }

    pub fn digest(&self, i: usize) -> Option<String> {
        self.try_q(i, &["DEBUG", "DIGEST"])
    }

    /// Whether `nodes` agree: every one with an upstream has its link up, and
    /// all have the same DEBUG DIGEST and master_repl_offset.
    pub fn converged(&self, nodes: &[usize]) -> bool {
        let mut seen: Option<(String, u64)> = None;
        for &i in nodes {
            if self.nodes[i].upstream.is_some() && !self.link_up(i) {
                return false;
            }
            let (Some(d), Some(o)) = (self.digest(i), self.offset(i)) else {
                return false;
            };
            match &seen {
                None => seen = Some((d, o)),
                Some((d0, o0)) if *d0 == d && *o0 == o => {}
                Some(_) => return false,
            }
        }
        true
    }

    /// Polls [`Topology::converged`]; the error is a report of every node.
    pub fn wait_converged(&self, nodes: &[usize], within: Duration) -> Result<(), String> {
        if wait_until(within, || self.converged(nodes)) {
            Ok(())
        } else {
            Err(format!(
                "nodes {:?} did not converge within {within:?}\n{}",
                nodes.iter().map(|&i| self.name(i)).collect::<Vec<_>>(),
                self.report()
            ))
        }
    }

    fn node_counts(&self, i: usize) -> Option<SyncCounts> {
        let text = self.try_q(i, &["INFO", "stats"])?;
        let field = |name: &str| -> Option<u64> {
            text.split(['\r', '\n'])
                .find_map(|l| l.strip_prefix(&format!("{name}:")))?
                .parse()
                .ok()
        };
        Some(SyncCounts {
            full: field("sync_full")?,
            partial_ok: field("sync_partial_ok")?,
            partial_err: field("sync_partial_err")?,
        })
    }

    /// sync_full / sync_partial_ok / sync_partial_err summed over every node
    /// and every earlier life. Panics if a live node does not answer.
    pub fn sync_counts(&self) -> SyncCounts {
        let mut total = SyncCounts::default();
        for (i, node) in self.nodes.iter().enumerate() {
            total.add(node.past_counts);
            if node.alive() {
                let c = self
                    .node_counts(i)
                    .unwrap_or_else(|| panic!("INFO stats from {}", node.name));
                total.add(c);
            }
        }
        total
    }

    /// The `key:<i>` of `keys` that node `n` lacks (or holds with another value).
    pub fn missing(&self, n: usize, keys: &[u64]) -> Vec<u64> {
        let mut c = self.client(n);
        let mut missing = Vec::new();
        for batch in keys.chunks(500) {
            let names: Vec<String> = batch.iter().map(|i| format!("key:{i}")).collect();
            let mut args = vec!["MGET"];
            args.extend(names.iter().map(String::as_str));
            let Frame::Array(values) = c.cmd(&args).expect("MGET") else {
                panic!("MGET reply is not an array");
            };
            for (i, v) in batch.iter().zip(values) {
                match v {
                    Frame::Bulk(b) if b[..] == *i.to_string().as_bytes() => {}
                    _ => missing.push(*i),
                }
            }
        }
        missing
    }

    /// One line per node (role, upstream, link, offset, ids, digest).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let state = if !node.alive() {
                "dead"
            } else if node.stopped {
                "frozen"
            } else {
                "up"
            };
            let f = |s: &str, k: &str| {
                if state == "up" {
                    self.info_field(i, s, k).unwrap_or_default()
                } else {
                    String::new()
                }
            };
            let _ = writeln!(
                out,
                "{} port={} pid={:?} {state} upstream={:?} role={} link={} offset={} replid={} replid2={} digest={}",
                node.name,
                node.port,
                node.pid(),
                node.upstream.map(|u| self.name(u).to_string()),
                f("replication", "role"),
                f("replication", "master_link_status"),
                f("replication", "master_repl_offset"),
                f("replication", "master_replid"),
                f("replication", "master_replid2"),
                if state == "up" {
                    self.digest(i).unwrap_or_default()
                } else {
                    String::new()
                },
            );
        }
        out
    }

    /// [`Topology::summary`] and the tail of every node's logs.
    pub fn report(&self) -> String {
        let mut out = self.summary();
        for node in &self.nodes {
            let logs = node.logs();
            let lines: Vec<&str> = logs.lines().collect();
            let tail = lines.len().saturating_sub(60);
            let _ = writeln!(
                out,
                "===== {} (last {} log lines) =====",
                node.name,
                lines.len() - tail
            );
            for l in &lines[tail..] {
                let _ = writeln!(out, "{l}");
            }
        }
        out
    }
}

/// Which writes were acknowledged: `i` stands for `SET key:<i> <i>`.
#[derive(Clone, Debug, Default)]
pub struct WriteLog {
    pub next: u64,
    /// The SET replied +OK.
    pub acked: Vec<u64>,
    /// ... and the `WAIT 1` after it counted at least one replica.
    pub wait_acked: Vec<u64>,
    /// SETs that failed or whose outcome is unknown.
    pub failed: u64,
    /// For a background [`Load`]: each (re)connection as (the first `i`
    /// written through it, port, when), to place a write in time.
    pub connections: Vec<(u64, u16, Instant)>,
}

impl WriteLog {
    /// Where and when write `i` went, for a background [`Load`].
    pub fn connection_of(&self, i: u64) -> Option<(u16, Instant)> {
        self.connections
            .iter()
            .rev()
            .find(|(first, _, _)| *first <= i)
            .map(|&(_, port, at)| (port, at))
    }

    /// Writes `count` keys through `c`, each followed by `WAIT 1 <wait_ms>`
    /// (no WAIT when `wait_ms` is 0: for a primary without replicas).
    pub fn write(&mut self, c: &mut Client, count: u64, wait_ms: u64) -> std::io::Result<()> {
        for _ in 0..count {
            self.write_one(c, wait_ms)?;
        }
        Ok(())
    }

    /// One `SET key:<i> <i>` (with a few unchecked writes of other types) and
    /// `WAIT 1 <wait_ms>` (none if `wait_ms` is 0). An error reply is an `Err`
    /// too.
    pub fn write_one(&mut self, c: &mut Client, wait_ms: u64) -> std::io::Result<()> {
        let i = self.next;
        self.next += 1;
        let v = i.to_string();
        // An error reply counts as an I/O error: either way the caller
        // reconnects (perhaps to another node).
        let ok = |f: std::io::Result<Frame>| match f {
            Ok(Frame::Error(e)) => Err(std::io::Error::other(
                String::from_utf8_lossy(&e).into_owned(),
            )),
            other => other,
        };
        match ok(c.cmd(&["SET", &format!("key:{i}"), &v])) {
            Ok(Frame::Simple(s)) if &s[..] == b"OK" => self.acked.push(i),
            other => {
                self.failed += 1;
                return Err(other.map_or_else(|e| e, |f| std::io::Error::other(render(&f))));
            }
        }
        if i.is_multiple_of(4) {
            ok(c.cmd(&["RPUSH", &format!("list:{}", i % 8), &v]))?;
        }
        if i % 8 == 1 {
            ok(c.cmd(&["HINCRBY", "hash", &format!("f{}", i % 16), "1"]))?;
        }
        if i % 16 == 2 {
            ok(c.cmd(&["SET", &format!("ttl:{i}"), &v, "PX", "300"]))?;
        }
        if wait_ms == 0 {
            return Ok(());
        }
        match ok(c.cmd(&["WAIT", "1", &wait_ms.to_string()]))? {
            Frame::Integer(n) if n >= 1 => self.wait_acked.push(i),
            Frame::Integer(_) => {}
            other => return Err(std::io::Error::other(render(&other))),
        }
        Ok(())
    }
}

struct LoadShared {
    /// The port writes go to. Holding the lock pauses the writer between writes.
    target: Mutex<u16>,
    stop: AtomicBool,
    acked: AtomicU64,
    wait_acked: AtomicU64,
}

/// A background writer: [`WriteLog::write_one`] in a loop against a target
/// port, reconnecting after errors, until stopped, `max_writes` or `max_time`.
pub struct Load {
    shared: Arc<LoadShared>,
    thread: Option<JoinHandle<WriteLog>>,
}

impl Load {
    /// `pace` is the pause after each write, so the load leaves CPU to the
    /// servers on a small machine.
    pub fn start(
        port: u16,
        wait_ms: u64,
        pace: Duration,
        max_writes: u64,
        max_time: Duration,
    ) -> Load {
        let shared = Arc::new(LoadShared {
            target: Mutex::new(port),
            stop: AtomicBool::new(false),
            acked: AtomicU64::new(0),
            wait_acked: AtomicU64::new(0),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            let mut log = WriteLog::default();
            let mut conn: Option<(u16, Client)> = None;
            let deadline = Instant::now() + max_time;
            while !s.stop.load(Ordering::Relaxed)
                && Instant::now() < deadline
                && log.next < max_writes
            {
                {
                    let target = s.target.lock().unwrap_or_else(|e| e.into_inner());
                    if conn.as_ref().is_some_and(|(p, _)| *p != *target) {
                        conn = None;
                    }
                    if conn.is_none() {
                        conn = Client::connect(*target).ok().map(|c| (*target, c));
                        if conn.is_some() {
                            log.connections.push((log.next, *target, Instant::now()));
                        }
                    }
                    if let Some((_, c)) = conn.as_mut() {
                        if log.write_one(c, wait_ms).is_err() {
                            conn = None;
                        }
                        s.acked.store(log.acked.len() as u64, Ordering::Relaxed);
                        s.wait_acked
                            .store(log.wait_acked.len() as u64, Ordering::Relaxed);
                    }
                }
                std::thread::sleep(if conn.is_some() {
                    pace
                } else {
                    Duration::from_millis(20)
                });
            }
            log
        });
        Load {
            shared,
            thread: Some(thread),
        }
    }

    /// Pauses the writer (it finishes the write in flight first) for as long
    /// as the guard lives; assigning through the guard moves it to another port.
    pub fn pause(&self) -> MutexGuard<'_, u16> {
        self.shared.target.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (acknowledged, acknowledged by a replica) so far.
    pub fn progress(&self) -> (u64, u64) {
        (
            self.shared.acked.load(Ordering::Relaxed),
            self.shared.wait_acked.load(Ordering::Relaxed),
        )
    }

    /// Stops the writer and returns what it wrote.
    pub fn finish(mut self) -> WriteLog {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .expect("finish runs once")
            .join()
            .expect("the writer thread does not panic")
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
