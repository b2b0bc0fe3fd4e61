//! Chaos: 3 to 5 tandem nodes (4 by default) under continuous writes, and a
//! bounded run of random faults: SIGKILL and restart (from the node's own dir
//! and RDB) of replicas and of the primary, promotions of the most up-to-date
//! replica, controlled switchovers, re-pointing (fan-outs and chains), link
//! cuts from either side, SIGSTOP/SIGCONT and BGSAVE. At the end every write
//! acknowledged by `WAIT 1` is on the final primary, and every node agrees on
//! DEBUG DIGEST and master_repl_offset. Full syncs are counted and printed,
//! not asserted: a killed primary that comes back may legitimately have
//! diverged.
//!
//! `CHAOS_SECS` (default 35), `CHAOS_SEED` (default fixed) and `CHAOS_NODES`
//! (3..=5, default 4) change the run; a failure prints the seed and the
//! actions taken (and saves every node's logs to a file it names);
//! `CHAOS_VERBOSE=1` prints every node's logs at the end of a passing run.
//!
//! Why the acknowledged writes survive: a write acknowledged by `WAIT 1` is
//! held by a replica that acknowledged it. A killed replica is restarted at
//! once and the run waits until it is back past the primary's offset at the
//! kill, so it regains everything it had acknowledged. Before the primary is
//! killed (writes going on) or handed over (writes paused), every replica's
//! link is up, so every replica holds a prefix of the primary's history;
//! promoting the one with the highest offset then keeps every acknowledged
//! write.

mod common;

use std::time::{Duration, Instant};

use common::topology::{Load, Topology};
use common::{wait_until, Flavor};

/// splitmix64: small, seedable, good enough to pick faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick(&mut self, items: &[usize]) -> usize {
        items[self.below(items.len() as u64) as usize]
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

const DEFAULT_SEED: u64 = 0x7a6e_d3c4_a05e_2026;
/// `WAIT 1 <ms>` after each write.
const WAIT_MS: u64 = 200;
/// How long a node may take to come back (link up, caught up).
const RECOVER: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
enum Action {
    KillReplica,
    KillPrimary,
    Switchover,
    CutMasterLink,
    CutReplicaLinks,
    Repoint,
    Freeze,
    Bgsave,
    Idle,
}

const WEIGHTS: &[(Action, u64)] = &[
    (Action::KillReplica, 3),
    (Action::KillPrimary, 2),
    (Action::Switchover, 2),
    (Action::CutMasterLink, 2),
    (Action::CutReplicaLinks, 2),
    (Action::Repoint, 2),
    (Action::Freeze, 1),
    (Action::Bgsave, 2),
    (Action::Idle, 3),
];

struct Chaos {
    seed: u64,
    rng: Rng,
    t: Topology,
    primary: usize,
    load: Option<Load>,
    history: Vec<String>,
    started: Instant,
}

impl Drop for Chaos {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "chaos FAILED with CHAOS_SEED={} (rerun with that variable); actions:\n{}\nnodes:\n{}",
                self.seed,
                self.history.join("\n"),
                self.t.summary()
            );
        }
    }
}

impl Chaos {
    fn note(&mut self, what: String) {
        let line = format!("[{:7.3}s] {what}", self.started.elapsed().as_secs_f64());
        self.history.push(line);
    }

    fn fail(&self, what: &str) -> ! {
        // The whole story (every node's every life) goes to a file; the
        // panic message carries the tail.
        let path = std::env::temp_dir().join(format!(
            "tandem-chaos-{}-{}.log",
            self.seed,
            std::process::id()
        ));
        let mut all = format!(
            "CHAOS_SEED={}: {what}\n{}\n",
            self.seed,
            self.history.join("\n")
        );
        for node in &self.t.nodes {
            all.push_str(&node.logs());
        }
        let saved = std::fs::write(&path, all).is_ok();
        panic!(
            "chaos seed={}: {what}\n{}{}",
            self.seed,
            self.t.report(),
            if saved {
                format!("every node's full logs: {}", path.display())
            } else {
                String::new()
            }
        );
    }

    fn replicas(&self) -> Vec<usize> {
        (0..self.t.len()).filter(|&i| i != self.primary).collect()
    }

    /// Nodes in `n`'s subtree (itself, its replicas, theirs...).
    fn subtree(&self, n: usize) -> Vec<usize> {
        let mut out = vec![n];
        let mut i = 0;
        while i < out.len() && i < self.t.len() {
            let parent = out[i];
            for m in 0..self.t.len() {
                if self.t.nodes[m].upstream == Some(parent) && !out.contains(&m) {
                    out.push(m);
                }
            }
            i += 1;
        }
        out
    }

    /// An upstream for `n`: the primary, or (a third of the time) a replica
    /// of the primary outside `n`'s subtree whose link is up.
    fn choose_upstream(&mut self, n: usize) -> usize {
        if self.rng.below(3) != 0 {
            return self.primary;
        }
        let below = self.subtree(n);
        let options: Vec<usize> = self
            .replicas()
            .into_iter()
            .filter(|&r| {
                !below.contains(&r)
                    && self.t.nodes[r].upstream == Some(self.primary)
                    && self.t.link_up(r)
            })
            .collect();
        if options.is_empty() {
            self.primary
        } else {
            self.rng.pick(&options)
        }
    }

    fn all_links_up(&self) -> bool {
        self.replicas().iter().all(|&r| self.t.link_up(r))
    }

    fn wait_links_up(&self, why: &str) {
        if !wait_until(RECOVER, || self.all_links_up()) {
            self.fail(&format!("replica links did not come up ({why})"));
        }
    }

    fn pick_action(&mut self) -> Action {
        let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.below(total);
        for &(a, w) in WEIGHTS {
            if roll < w {
                return a;
            }
            roll -= w;
        }
        Action::Idle
    }

    fn step(&mut self) {
        match self.pick_action() {
            Action::KillReplica => self.kill_replica(),
            Action::KillPrimary => self.kill_primary(),
            Action::Switchover => self.switchover(),
            Action::CutMasterLink => {
                let r = self.rng.pick(&self.replicas());
                let n = self.t.cut_master_link(r);
                self.note(format!("cut {}'s link to its master ({n})", self.t.name(r)));
            }
            Action::CutReplicaLinks => {
                let feeders: Vec<usize> = (0..self.t.len())
                    .filter(|&i| self.t.nodes.iter().any(|n| n.upstream == Some(i)))
                    .collect();
                let f = self.rng.pick(&feeders);
                let n = self.t.cut_replica_links(f);
                self.note(format!("cut {}'s replica links ({n})", self.t.name(f)));
            }
            Action::Repoint => self.repoint(),
            Action::Freeze => {
                let r = self.rng.pick(&self.replicas());
                let ms = 200 + self.rng.below(1300);
                self.note(format!("freeze {} for {ms} ms", self.t.name(r)));
                self.t.freeze(r);
                std::thread::sleep(Duration::from_millis(ms));
                self.t.thaw(r);
            }
            Action::Bgsave => {
                let n = self.rng.below(self.t.len() as u64) as usize;
                let ok = self.t.bgsave(n);
                self.note(format!("BGSAVE on {} (done: {ok})", self.t.name(n)));
            }
            Action::Idle => {
                std::thread::sleep(Duration::from_millis(50 + self.rng.below(250)));
            }
        }
    }

    /// SIGKILL a replica and restart it from its dir; wait until it is back
    /// past the primary's offset at the kill.
    fn kill_replica(&mut self) {
        let r = self.rng.pick(&self.replicas());
        let Some(target) = self.t.offset(self.primary) else {
            self.fail("the primary does not answer");
        };
        self.t.kill(r);
        self.t.restart(r);
        self.note(format!(
            "kill -9 and restart replica {} (primary offset {target})",
            self.t.name(r)
        ));
        let back = wait_until(RECOVER, || {
            self.t.link_up(r) && self.t.offset(r).is_some_and(|o| o >= target)
        });
        if !back {
            self.fail(&format!(
                "restarted replica {} did not catch up to offset {target}",
                self.t.name(r)
            ));
        }
    }

    /// Points the replicas of `old` (other than `new`) at `new` or under it;
    /// with `may_stay`, some stay where they are (under the demoted `old`).
    fn repoint_orphans(&mut self, old: usize, new: usize, may_stay: bool) {
        for n in self.replicas() {
            if n != new && self.t.nodes[n].upstream == Some(old) {
                if may_stay && self.rng.below(3) == 0 {
                    self.note(format!(
                        "  {} stays under {}",
                        self.t.name(n),
                        self.t.name(old)
                    ));
                    continue;
                }
                let u = self.choose_upstream(n);
                self.t.replicaof(n, u);
                self.note(format!(
                    "  {} now replicates from {}",
                    self.t.name(n),
                    self.t.name(u)
                ));
            }
        }
    }

    /// SIGKILL the primary while writes go on, promote the replica with the
    /// highest offset, re-point the rest, and restart the old primary as a
    /// replica.
    fn kill_primary(&mut self) {
        // Every link up: every replica holds a prefix of the primary's history.
        self.wait_links_up("before killing the primary");
        let old = self.primary;
        self.t.kill(old);
        let offsets: Vec<(usize, u64)> = self
            .replicas()
            .into_iter()
            .map(|r| match self.t.offset(r) {
                Some(o) => (r, o),
                None => self.fail(&format!("{} does not answer", self.t.name(r))),
            })
            .collect();
        let best = offsets.iter().map(|&(_, o)| o).max().expect("replicas");
        let tied: Vec<usize> = offsets
            .iter()
            .filter(|&&(_, o)| o == best)
            .map(|&(r, _)| r)
            .collect();
        let new = self.rng.pick(&tied);
        self.t.promote(new);
        self.primary = new;
        self.note(format!(
            "kill -9 primary {}; promote {} (offsets {})",
            self.t.name(old),
            self.t.name(new),
            offsets
                .iter()
                .map(|&(r, o)| format!("{}={o}", self.t.name(r)))
                .collect::<Vec<_>>()
                .join(" ")
        ));
        self.repoint_orphans(old, new, false);
        *self.load.as_ref().expect("the load runs").pause() = self.t.port(new);
        // The old primary comes back as a replica of the new one, from
        // whatever RDB it last saved.
        self.t.nodes[old].upstream = Some(new);
        self.t.restart(old);
        self.note(format!("  restart {} as a replica", self.t.name(old)));
    }

    /// A controlled handover: pause writes, let a random replica catch up,
    /// promote it, demote the old primary under it.
    fn switchover(&mut self) {
        let load = self.load.take().expect("the load runs");
        {
            let mut target = load.pause();
            self.wait_links_up("before a switchover");
            let old = self.primary;
            let new = self.rng.pick(&self.replicas());
            let Some(want) = self.t.offset(old) else {
                self.fail("the primary does not answer");
            };
            let caught_up = wait_until(RECOVER, || self.t.offset(new).is_some_and(|o| o >= want));
            if !caught_up {
                self.fail(&format!(
                    "{} did not catch up to {want} with writes paused",
                    self.t.name(new)
                ));
            }
            self.t.promote(new);
            self.primary = new;
            self.t.replicaof(old, new);
            self.note(format!(
                "switchover {} -> {} at offset {want}",
                self.t.name(old),
                self.t.name(new)
            ));
            self.repoint_orphans(old, new, true);
            *target = self.t.port(new);
        }
        self.load = Some(load);
    }

    /// Moves a replica to another upstream.
    fn repoint(&mut self) {
        let n = self.rng.pick(&self.replicas());
        let u = self.choose_upstream(n);
        if self.t.nodes[n].upstream == Some(u) {
            return;
        }
        self.t.replicaof(n, u);
        self.note(format!("re-point {} to {}", self.t.name(n), self.t.name(u)));
    }
}

#[test]
fn chaos_keeps_acknowledged_writes_and_converges() {
    let seed = env_u64("CHAOS_SEED", DEFAULT_SEED);
    let secs = env_u64("CHAOS_SECS", 35);
    let nodes = env_u64("CHAOS_NODES", 4).clamp(3, 5) as usize;
    println!("chaos seed={seed} secs={secs} nodes={nodes}");

    let mut t = Topology::start(Flavor::Tandem, nodes, &[]);
    let replicas: Vec<usize> = (1..nodes).collect();
    // A fan-out with one chain: A <- B, A <- C, B <- D, A <- E.
    for &r in &replicas {
        let upstream = if r == 3 { 1 } else { 0 };
        t.replicaof(r, upstream);
    }
    let all: Vec<usize> = (0..nodes).collect();
    if let Err(r) = t.wait_converged(&all, RECOVER) {
        panic!("initial sync: {r}");
    }
    let initial = t.sync_counts();
    let load = Load::start(
        t.port(0),
        WAIT_MS,
        Duration::from_millis(1),
        10_000_000,
        Duration::from_secs(secs + 300),
    );
    let mut chaos = Chaos {
        seed,
        rng: Rng(seed),
        t,
        primary: 0,
        load: Some(load),
        history: Vec::new(),
        started: Instant::now(),
    };

    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut steps = 0;
    while Instant::now() < deadline && steps < 10_000 {
        chaos.step();
        steps += 1;
    }

    // Quiesce: every link up, the writer stopped, then everyone agrees.
    chaos.note("chaos over".into());
    chaos.wait_links_up("after the run");
    let log = chaos.load.take().expect("the load runs").finish();
    if let Err(r) = chaos.t.wait_converged(&all, Duration::from_secs(60)) {
        chaos.fail(&format!("no convergence at the end: {r}"));
    }
    let missing = chaos.t.missing(chaos.primary, &log.wait_acked);
    if !missing.is_empty() {
        let placed: Vec<String> = missing
            .iter()
            .take(20)
            .map(|&i| match log.connection_of(i) {
                Some((port, at)) => {
                    let node = (0..nodes).find(|&n| chaos.t.port(n) == port);
                    format!(
                        "key:{i} (written to {} through a connection made at {:.3}s)",
                        node.map_or("?", |n| chaos.t.name(n)),
                        at.saturating_duration_since(chaos.started).as_secs_f64()
                    )
                }
                None => format!("key:{i}"),
            })
            .collect();
        chaos.fail(&format!(
            "{} writes acknowledged by WAIT 1 are missing on the final primary {}: {}",
            missing.len(),
            chaos.t.name(chaos.primary),
            placed.join(", ")
        ));
    }
    let counts = chaos.t.sync_counts().since(initial);
    println!(
        "chaos seed={seed} secs={secs} nodes={nodes} actions={steps} writes acked={} wait_acked={} failed={} full_syncs={} partial_ok={} partial_err={} (initial full syncs {})",
        log.acked.len(),
        log.wait_acked.len(),
        log.failed,
        counts.full,
        counts.partial_ok,
        counts.partial_err,
        initial.full,
    );
    println!("{}", chaos.history.join("\n"));
    if std::env::var_os("CHAOS_VERBOSE").is_some() {
        for node in &chaos.t.nodes {
            println!("{}", node.logs());
        }
    }
    assert!(
        log.wait_acked.len() > 100,
        "too few writes were acknowledged by a replica to mean anything: {}",
        log.wait_acked.len()
    );
}
