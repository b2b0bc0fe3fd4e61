//! Replication under load, tandem against redis-server side by side (issue 5).
//!
//! Part `throughput`: a primary with 0, 1 and 2 replicas of its own flavour
//! (tandem with tandem replicas, redis with redis replicas), measured with
//! `redis-benchmark -t set` at `-P 1` and `-P 16`. Before each run the
//! replicas must be linked and at the primary's offset; after it they must
//! reach its offset again with an equal `DBSIZE` and `DEBUG DIGEST`, so a
//! broken link cannot pass as a fast one (a failed check drops that run and
//! is counted). Runs of the two flavours alternate, every cell is repeated
//! REPL_ROUNDS times and the median is kept: the machine is shared with the
//! benchmark client. Prints ops/s per cell, 2-replica/0-replica throughput
//! per flavour (target for tandem >= 0.95) and tandem/redis per topology
//! (target > 1).
//!
//! Part `sync`: a primary holding `DEBUG POPULATE N` fully syncs one fresh
//! replica (diskless, as both default to) while a client writes SETs back to
//! back. Reports the time from `REPLICAOF` to `master_link_status:up` on the
//! replica, the primary's peak RSS growth during the sync (redis: plus its
//! forked children) over its dataset size, and the writer's p99/max latency
//! during the sync against its p99 just before. Targets: sync time <= 0.5x
//! redis, growth < 10% of the dataset, p99 < 2x idle.
//!
//! `repl-diskless-sync-delay` is 0 on both flavours (redis 7.0 waits 5 s by
//! default for more replicas to join).
//!
//! Run: `cargo bench --bench replication` (needs redis-server and
//! redis-benchmark). Knobs: REPL_PART (`throughput`, `sync` or both when
//! unset), REPL_N (requests per redis-benchmark run, default 1000000),
//! REPL_ROUNDS (default 5), REPL_CLIENTS (default 50), REPL_PIPELINES
//! (default "1,16"), REPL_SYNC_KEYS (default 5000000), REPL_SYNC_ROUNDS
//! (default 1), REPL_IDLE_SECS (idle latency window, default 3),
//! REPL_SYNC_TIMEOUT (seconds, default 600), REPL_BACKLOG (a
//! repl-backlog-size for both flavours; server default when unset).

mod support;

use support::{
    env_num, env_or, latencies_between, median, percentile, redis_benchmark, rss_kb, start,
    tree_pss_kb, tree_rss_kb, Conn, Server, Writer,
};

use std::time::{Duration, Instant};

/// How long replicas may take to link up and reach the primary's offset.
const SYNC_WAIT: Duration = Duration::from_secs(120);

/// One flavour's program and server names.
#[derive(Clone, Copy)]
struct Flavour {
    name: &'static str,
    program: &'static str,
    primary: &'static str,
    replicas: [&'static str; 2],
}

const TANDEM: Flavour = Flavour {
    name: "tandem",
    program: env!("CARGO_BIN_EXE_tandem-server"),
    primary: "tandem-primary",
    replicas: ["tandem-replica1", "tandem-replica2"],
};

const REDIS: Flavour = Flavour {
    name: "redis",
    program: "redis-server",
    primary: "redis-primary",
    replicas: ["redis-replica1", "redis-replica2"],
};

/// Directives both flavours get: diskless sync without the delay.
fn common_args(backlog: &Option<String>) -> Vec<String> {
    let mut args: Vec<String> = [
        "--appendonly",
        "no",
        "--repl-diskless-sync",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]
    .map(String::from)
    .to_vec();
    if let Some(size) = backlog {
        args.extend(["--repl-backlog-size".to_string(), size.clone()]);
    }
    args
}

fn start_server(name: &'static str, program: &str, args: &[String]) -> Server {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    start(name, program, &args)
}

/// The primary's count of syncs served: full plus accepted partial ones. A
/// change during a run means a replica dropped and reconnected.
fn syncs_served(primary: u16) -> u64 {
    let stats = Conn::new(primary).info("stats");
    ["sync_full", "sync_partial_ok"]
        .iter()
        .filter_map(|f| stats.get(*f).and_then(|v| v.parse::<u64>().ok()))
        .sum()
}

/// Checks once that the primary has exactly `replicas.len()` online replicas
/// and that each is linked and at the primary's offset.
fn in_sync(primary: &mut Conn, replicas: &mut [(u16, Conn)]) -> Result<(), String> {
    let info = primary.info("replication");
    let offset = info.get("master_repl_offset").cloned().unwrap_or_default();
    let connected = info.get("connected_slaves").cloned().unwrap_or_default();
    if connected != replicas.len().to_string() {
        return Err(format!(
            "primary has {connected} replicas, want {}",
            replicas.len()
        ));
    }
    for i in 0..replicas.len() {
        let line = info.get(&format!("slave{i}")).cloned().unwrap_or_default();
        if !line.contains("state=online") {
            return Err(format!("primary's slave{i}: {line}"));
        }
    }
    for (port, conn) in replicas {
        let r = conn.info("replication");
        let link = r.get("master_link_status").map_or("none", String::as_str);
        let at = r.get("slave_repl_offset").map_or("none", String::as_str);
        if link != "up" || at != offset {
            return Err(format!(
                "replica :{port} link {link} at offset {at}, primary at {offset}"
            ));
        }
    }
    Ok(())
}

/// Waits (at most `timeout`) until [`in_sync`] holds.
fn wait_in_sync(primary: u16, replicas: &[u16], timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let mut p = Conn::new(primary);
    let mut rs: Vec<(u16, Conn)> = replicas.iter().map(|&r| (r, Conn::new(r))).collect();
    loop {
        match in_sync(&mut p, &mut rs) {
            Ok(()) => return Ok(()),
            Err(why) if Instant::now() > deadline => {
                return Err(format!("not in sync after {timeout:?}: {why}"))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Waits until the replicas caught up, then compares DBSIZE and DEBUG DIGEST
/// with the primary's. Returns the primary's DBSIZE.
fn verify(primary: u16, replicas: &[u16], timeout: Duration) -> Result<u64, String> {
    wait_in_sync(primary, replicas, timeout)?;
    let mut p = Conn::new(primary);
    let size = p.cmd(&["DBSIZE"]);
    let digest = p.cmd(&["DEBUG", "DIGEST"]);
    for port in replicas {
        let mut r = Conn::new(*port);
        let (rs, rd) = (r.cmd(&["DBSIZE"]), r.cmd(&["DEBUG", "DIGEST"]));
        if rs != size || rd != digest {
            return Err(format!(
                "replica :{port} differs: dbsize {rs} digest {rd}, primary dbsize {size} digest {digest}"
            ));
        }
    }
    size.trim_start_matches(':')
        .parse()
        .map_err(|_| format!("DBSIZE: {size}"))
}

// ---------------------------------------------------------------------------
// Part 1: throughput with 0, 1, 2 replicas.

/// A primary and two replicas of one flavour, with which replicas are linked.
struct Group {
    flavour: Flavour,
    primary: Server,
    replicas: Vec<Server>,
    attached: Vec<bool>,
}

impl Group {
    fn start(flavour: Flavour, args: &[String]) -> Group {
        Group {
            flavour,
            primary: start_server(flavour.primary, flavour.program, args),
            replicas: flavour
                .replicas
                .iter()
                .map(|name| start_server(name, flavour.program, args))
                .collect(),
            attached: vec![false; 2],
        }
    }

    /// Links the first `k` replicas, unlinks the rest, empties every dataset.
    fn set_topology(&mut self, k: usize) {
        for (i, r) in self.replicas.iter().enumerate() {
            if i >= k && self.attached[i] {
                Conn::new(r.port).cmd(&["REPLICAOF", "NO", "ONE"]);
                self.attached[i] = false;
            }
        }
        Conn::new(self.primary.port).cmd(&["FLUSHALL"]);
        let port = self.primary.port.to_string();
        for (i, r) in self.replicas.iter().enumerate() {
            let mut c = Conn::new(r.port);
            if i < k && !self.attached[i] {
                c.cmd(&["FLUSHALL"]);
                c.cmd(&["REPLICAOF", "127.0.0.1", &port]);
                self.attached[i] = true;
            } else if i >= k {
                c.cmd(&["FLUSHALL"]);
            }
        }
    }

    fn attached_ports(&self) -> Vec<u16> {
        self.replicas
            .iter()
            .zip(&self.attached)
            .filter(|(_, a)| **a)
            .map(|(r, _)| r.port)
            .collect()
    }

    /// One redis-benchmark run with `k` replicas; `Err` when the replicas were
    /// not in sync before or did not catch up after.
    fn run(&mut self, k: usize, n: &str, clients: &str, pipeline: &str) -> Result<f64, String> {
        self.set_topology(k);
        let ports = self.attached_ports();
        wait_in_sync(self.primary.port, &ports, SYNC_WAIT).map_err(|e| format!("before: {e}"))?;
        let syncs = syncs_served(self.primary.port);
        let rps = redis_benchmark(self.primary.port, "set", n, clients, pipeline)
            .get("SET")
            .copied()
            .ok_or("redis-benchmark printed no SET result")?;
        let keys =
            verify(self.primary.port, &ports, SYNC_WAIT).map_err(|e| format!("after: {e}"))?;
        if keys == 0 {
            return Err("the primary is empty after redis-benchmark".into());
        }
        let resyncs = syncs_served(self.primary.port) - syncs;
        if resyncs > 0 {
            return Err(format!(
                "{resyncs} resync(s) during the run: a replica dropped (fell behind?)"
            ));
        }
        Ok(rps)
    }
}

fn throughput(args: &[String]) {
    let n = env_or("REPL_N", "1000000");
    let rounds: usize = env_num("REPL_ROUNDS", 5).max(1);
    let clients = env_or("REPL_CLIENTS", "50");
    let pipelines: Vec<String> = env_or("REPL_PIPELINES", "1,16")
        .split(',')
        .map(|p| p.trim().to_string())
        .collect();
    let topologies = [0usize, 1, 2];

    let mut groups = [Group::start(TANDEM, args), Group::start(REDIS, args)];
    // results[flavour][pipeline][topology]: ops/s of the verified runs.
    let mut results = vec![vec![vec![Vec::<f64>::new(); 3]; pipelines.len()]; 2];
    let mut failures: Vec<String> = Vec::new();
    for round in 0..rounds {
        for (pi, p) in pipelines.iter().enumerate() {
            for &k in &topologies {
                let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for g in order {
                    let group = &mut groups[g];
                    match group.run(k, &n, &clients, p) {
                        Ok(rps) => results[g][pi][k].push(rps),
                        Err(e) => {
                            let line = format!(
                                "round {round} {} P={p} replicas={k}: {e}",
                                group.flavour.name
                            );
                            eprintln!("FAILED {line}");
                            failures.push(line);
                        }
                    }
                }
            }
        }
    }
    drop(groups);

    println!(
        "# SET throughput with replicas: redis-benchmark -t set -n {n} -c {clients} -r 100000, \
         median ops/s of {rounds} round(s), tandem and redis runs alternating"
    );
    println!(
        "# replicas are of the primary's flavour; each run verified: in sync before, \
         caught up after (offsets, DBSIZE, DEBUG DIGEST), no resync during"
    );
    println!(
        "{:>4} {:>9} {:>14} {:>14} {:>13}  target > 1.0",
        "P", "replicas", "tandem ops/s", "redis ops/s", "tandem/redis"
    );
    // Medians of the verified runs; None when no run of the cell passed.
    let med = |g: usize, pi: usize, k: usize| {
        let runs: &Vec<f64> = &results[g][pi][k];
        (!runs.is_empty()).then(|| median(runs))
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    };
    let cell =
        |v: Option<f64>, digits: usize| v.map_or("FAILED".to_string(), |v| format!("{v:.digits$}"));
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "MISSED (failed runs)",
    };
    for (pi, p) in pipelines.iter().enumerate() {
        for &k in &topologies {
            let (t, r) = (med(0, pi, k), med(1, pi, k));
            let runs = (results[0][pi][k].len(), results[1][pi][k].len());
            let note = if runs != (rounds, rounds) {
                format!(" (verified runs: tandem {}, redis {})", runs.0, runs.1)
            } else {
                String::new()
            };
            let tr = ratio(t, r);
            println!(
                "{p:>4} {k:>9} {:>14} {:>14} {:>13}  {}{note}",
                cell(t, 0),
                cell(r, 0),
                cell(tr, 2),
                verdict(tr.map(|x| x > 1.0))
            );
        }
    }
    println!();
    println!("# throughput with 2 replicas / with 0 replicas (target for tandem >= 0.95)");
    println!("{:>4} {:>9} {:>9}  tandem target", "P", "tandem", "redis");
    for (pi, p) in pipelines.iter().enumerate() {
        let t = ratio(med(0, pi, 2), med(0, pi, 0));
        let r = ratio(med(1, pi, 2), med(1, pi, 0));
        println!(
            "{p:>4} {:>9} {:>9}  {}",
            cell(t, 3),
            cell(r, 3),
            verdict(t.map(|x| x >= 0.95))
        );
    }
    if !failures.is_empty() {
        println!(
            "\n# {} run(s) failed verification and were left out:",
            failures.len()
        );
        for f in &failures {
            println!("#   {f}");
        }
    }
}

// ---------------------------------------------------------------------------
// Part 2: full sync under write load.

#[derive(Default, Clone)]
struct SyncFigures {
    sync_secs: f64,
    dataset_kb: u64,
    rss_before_kb: u64,
    peak_growth_kb: u64,
    pss_before_kb: u64,
    peak_pss_growth_kb: u64,
    idle_p99_us: u64,
    idle_max_us: u64,
    idle_rate: f64,
    sync_p99_us: u64,
    sync_max_us: u64,
    sync_rate: f64,
    full_syncs: u64,
    /// Why the run does not count: timed out, resynced, or the replica differs.
    failed: Option<String>,
}

fn full_syncs(admin: &mut Conn) -> u64 {
    admin
        .info_field("stats", "sync_full")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn measure_sync(
    flavour: Flavour,
    args: &[String],
    keys: u64,
    idle_secs: u64,
    timeout: Duration,
) -> SyncFigures {
    let primary = start_server(flavour.primary, flavour.program, args);
    let replica = start_server(flavour.replicas[0], flavour.program, args);
    let pid = primary.child.id();
    let mut admin = Conn::new(primary.port);
    std::thread::sleep(Duration::from_millis(300));
    let rss_empty = rss_kb(pid);
    admin.cmd(&["DEBUG", "POPULATE", &keys.to_string()]);
    std::thread::sleep(Duration::from_millis(500));
    let dataset_kb = rss_kb(pid).saturating_sub(rss_empty);

    let base = Instant::now();
    let warmup = Duration::from_millis(200);
    let writer = Writer::start(primary.port, keys, base);
    std::thread::sleep(warmup + Duration::from_secs(idle_secs));
    let rss_before = tree_rss_kb(pid);
    let pss_before = tree_pss_kb(pid);
    let (mut peak, mut peak_pss) = (rss_before, pss_before);

    let mut rc = Conn::new(replica.port);
    let t0 = base.elapsed();
    let reply = rc.cmd(&["REPLICAOF", "127.0.0.1", &primary.port.to_string()]);
    assert!(
        reply.starts_with("+OK"),
        "{}: REPLICAOF: {reply}",
        flavour.name
    );
    let deadline = Instant::now() + timeout;
    let mut failed = None;
    // PSS makes the kernel walk the page tables (~4 ms per GiB): sampled every
    // 50 ms rather than every 10 ms like RSS.
    let mut last_slow = None::<Instant>;
    let t1 = loop {
        peak = peak.max(tree_rss_kb(pid));
        if last_slow.is_none_or(|t| t.elapsed() >= Duration::from_millis(50)) {
            last_slow = Some(Instant::now());
            peak_pss = peak_pss.max(tree_pss_kb(pid));
            // Stop early when the replica had to start over.
            let n = full_syncs(&mut admin);
            if n > 1 {
                failed = Some(format!(
                    "the replica needed {n} full syncs (it dropped and started over)"
                ));
                break base.elapsed();
            }
        }
        if rc
            .info_field("replication", "master_link_status")
            .as_deref()
            == Some("up")
        {
            break base.elapsed();
        }
        if Instant::now() > deadline {
            failed = Some(format!("link not up after {timeout:?}"));
            break base.elapsed();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let samples = writer.finish();
    let idle = latencies_between(&samples, warmup, t0);
    let during = latencies_between(&samples, t0, t1);
    if failed.is_none() {
        failed = verify(primary.port, &[replica.port], timeout).err();
    }
    let full = full_syncs(&mut admin);
    if failed.is_none() && full != 1 {
        failed = Some(format!("{full} full syncs, 1 expected"));
    }
    let rate = |n: usize, span: Duration| {
        if span.is_zero() {
            0.0
        } else {
            n as f64 / span.as_secs_f64()
        }
    };
    SyncFigures {
        sync_secs: (t1 - t0).as_secs_f64(),
        dataset_kb,
        rss_before_kb: rss_before,
        peak_growth_kb: peak.saturating_sub(rss_before),
        pss_before_kb: pss_before,
        peak_pss_growth_kb: peak_pss.saturating_sub(pss_before),
        idle_p99_us: percentile(&idle, 0.99),
        idle_max_us: idle.last().copied().unwrap_or(0),
        idle_rate: rate(idle.len(), t0 - warmup),
        sync_p99_us: percentile(&during, 0.99),
        sync_max_us: during.last().copied().unwrap_or(0),
        sync_rate: rate(during.len(), t1 - t0),
        full_syncs: full,
        failed,
    }
}

fn sync(args: &[String]) {
    let keys: u64 = env_num("REPL_SYNC_KEYS", 5_000_000);
    let rounds: usize = env_num("REPL_SYNC_ROUNDS", 1).max(1);
    let idle_secs: u64 = env_num("REPL_IDLE_SECS", 3);
    let timeout = Duration::from_secs(env_num("REPL_SYNC_TIMEOUT", 600));
    // runs[flavour]: one SyncFigures per round.
    let mut runs: [Vec<SyncFigures>; 2] = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for g in order {
            let flavour = [TANDEM, REDIS][g];
            let f = measure_sync(flavour, args, keys, idle_secs, timeout);
            if let Some(e) = &f.failed {
                eprintln!("FAILED round {round} {} sync: {e}", flavour.name);
            }
            runs[g].push(f);
        }
    }

    println!(
        "# full sync of DEBUG POPULATE {keys} to one replica while one client writes SET \
         back to back; median of {rounds} round(s)"
    );
    println!(
        "# diskless (repl-diskless-sync yes) with repl-diskless-sync-delay 0 on both \
         (redis 7.0 defaults to a 5 s delay)"
    );
    println!(
        "{:<40} {:>12} {:>12} {:>7}  target",
        "", "tandem", "redis", "ratio"
    );
    // Medians over the runs that passed; None when none did.
    let med = |g: usize, get: &dyn Fn(&SyncFigures) -> f64| {
        let ok: Vec<f64> = runs[g]
            .iter()
            .filter(|f| f.failed.is_none())
            .map(get)
            .collect();
        (!ok.is_empty()).then(|| median(&ok))
    };
    let cell = |v: Option<f64>| v.map_or("FAILED".to_string(), |v| format!("{v:.2}"));
    let row = |name: &str, get: &dyn Fn(&SyncFigures) -> f64, target: &str| {
        let (t, r) = (med(0, get), med(1, get));
        let ratio = match (t, r) {
            (Some(t), Some(r)) if r > 0.0 => format!("{:.2}", t / r),
            _ => "-".to_string(),
        };
        println!(
            "{name:<40} {:>12} {:>12} {ratio:>7}  {target}",
            cell(t),
            cell(r)
        );
    };
    let mb = |kb: u64| kb as f64 / 1024.0;
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "met",
        Some(false) => "MISSED",
        None => "MISSED (failed)",
    };

    let secs = |f: &SyncFigures| f.sync_secs;
    let faster = med(0, &secs).zip(med(1, &secs)).map(|(t, r)| t <= 0.5 * r);
    row(
        "sync time, REPLICAOF -> link up (s)",
        &secs,
        &format!("tandem <= 0.5x redis: {}", verdict(faster)),
    );
    row(
        "dataset: RSS growth of DEBUG POPULATE (MB)",
        &|f| mb(f.dataset_kb),
        "",
    );
    row("primary RSS before sync (MB)", &|f| mb(f.rss_before_kb), "");
    row(
        "peak RSS growth during sync (MB)",
        &|f| mb(f.peak_growth_kb),
        "(redis: + forked child)",
    );
    let growth = |f: &SyncFigures| 100.0 * f.peak_growth_kb as f64 / f.dataset_kb.max(1) as f64;
    row(
        "peak RSS growth / dataset (%)",
        &growth,
        &format!(
            "tandem < 10%: {}",
            verdict(med(0, &growth).map(|g| g < 10.0))
        ),
    );
    row("primary PSS before sync (MB)", &|f| mb(f.pss_before_kb), "");
    row(
        "peak PSS growth during sync (MB)",
        &|f| mb(f.peak_pss_growth_kb),
        "(a fork's shared pages split)",
    );
    row(
        "peak PSS growth / dataset (%)",
        &|f| 100.0 * f.peak_pss_growth_kb as f64 / f.dataset_kb.max(1) as f64,
        "",
    );
    row("write p99 idle (us)", &|f| f.idle_p99_us as f64, "");
    row("write p99 during sync (us)", &|f| f.sync_p99_us as f64, "");
    let p99_ratio = |f: &SyncFigures| f.sync_p99_us as f64 / f.idle_p99_us.max(1) as f64;
    row(
        "write p99 during sync / idle",
        &p99_ratio,
        &format!(
            "tandem < 2x: {}",
            verdict(med(0, &p99_ratio).map(|r| r < 2.0))
        ),
    );
    row("write max idle (us)", &|f| f.idle_max_us as f64, "");
    row("write max during sync (us)", &|f| f.sync_max_us as f64, "");
    row("writes/s idle", &|f| f.idle_rate, "");
    row("writes/s during sync", &|f| f.sync_rate, "");
    let counts = |g: usize| runs[g].iter().map(|f| f.full_syncs).collect::<Vec<_>>();
    println!(
        "# full syncs served by the primary per run (1 expected): tandem {:?}, redis {:?}",
        counts(0),
        counts(1)
    );
    for (g, name) in [(0, "tandem"), (1, "redis")] {
        for (round, f) in runs[g].iter().enumerate() {
            if let Some(e) = &f.failed {
                println!(
                    "# {name} round {round} FAILED after {:.2} s: {e}",
                    f.sync_secs
                );
            }
        }
    }
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful:
    // only run the comparison when invoked as a benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let part = env_or("REPL_PART", "");
    assert!(
        ["", "throughput", "sync"].contains(&part.as_str()),
        "REPL_PART is `throughput`, `sync` or unset (both), not {part:?}"
    );
    let backlog = std::env::var("REPL_BACKLOG").ok();
    let args = common_args(&backlog);
    if let Some(size) = &backlog {
        println!("# repl-backlog-size {size} on both flavours");
    }
    if part.is_empty() || part == "throughput" {
        throughput(&args);
        println!();
    }
    if part.is_empty() || part == "sync" {
        sync(&args);
    }
}
