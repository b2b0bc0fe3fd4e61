//! MEMORY USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE and HELP.
//!
//! Figures come from jemalloc (through `crate::info`) and from the storage
//! crate's own accounting of what a key and its value occupy. This module
//! reads the keyspace; it never changes it.

use bytes::Bytes;

use crate::command::{container_handler, flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::exec::ExecCtx;
use crate::reply::Reply;
use crate::tri;

/// MEMORY USAGE takes its key at argv[2].
const SUB_KEY: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, help)
        .doc(
            "server",
            "4.0.0",
            "Show helpful text about the different subcommands",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("usage", -3, READONLY, SUB_KEY, usage)
        .doc("server", "4.0.0", "Estimate the memory usage of a key")
        .complexity("O(N) where N is the number of samples.")
        .acl(&["read", "slow"]),
    CommandSpec::new("stats", 2, 0, KeySpec::NONE, stats)
        .doc("server", "4.0.0", "Show memory usage details")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("doctor", 2, 0, KeySpec::NONE, doctor)
        .doc("server", "4.0.0", "Outputs memory problems report")
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("malloc-stats", 2, 0, KeySpec::NONE, malloc_stats)
        .doc("server", "4.0.0", "Show allocator internal stats")
        .complexity("Depends on how much memory is allocated, could be slow")
        .acl(&["slow"]),
    CommandSpec::new("purge", 2, 0, KeySpec::NONE, purge)
        .doc("server", "4.0.0", "Ask the allocator to release memory")
        .complexity("Depends on how much memory is allocated, could be slow")
        .acl(&["slow"]),
];

pub const COMMANDS: &[CommandSpec] =
    &[
        CommandSpec::new("memory", -2, 0, KeySpec::NONE, container_handler)
            .doc(
                "server",
                "4.0.0",
                "A container for memory diagnostics commands",
            )
            .complexity("Depends on subcommand.")
            .acl(&["slow"])
            .subs(SUBCOMMANDS),
    ];

fn help(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::commands::server::help_reply(
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

/// Bytes a key costs besides its key and value: its entry, and its slot in
/// the shard's table at the usual load.
const PER_KEY_OVERHEAD: usize = 64 + 16;

fn usage(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "samples") && i + 1 < argv.len() {
            // tandem accounts for every element exactly; the count is only
            // checked, as Redis checks it.
            let samples = tri!(args::int(&argv[i + 1]));
            if samples < 0 {
                return Reply::syntax_error();
            }
            i += 2;
        } else {
            return Reply::syntax_error();
        }
    }
    let now = ctx.now_ms;
    let found = ctx
        .db()
        .peek(&argv[2], now)
        .map(|e| PER_KEY_OVERHEAD + e.key().heap_size() + e.value.heap_size());
    match found {
        Some(bytes) => Reply::Int(i64::try_from(bytes).unwrap_or(i64::MAX)),
        None => Reply::Null,
    }
}

fn stats(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let mem = crate::info::mem_stats();
    let startup = crate::info::startup_memory();
    let peak = crate::info::peak_memory().max(mem.allocated);
    let backlog = ctx
        .data
        .repl
        .backlog
        .as_ref()
        .map_or(0, |b| b.size() as u64);
    let keys = ctx.data.keyspace.key_count() as u64;
    let overhead = startup + backlog;
    let dataset = mem.allocated.saturating_sub(overhead);
    let pct = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 * 100.0 / whole as f64
        }
    };
    let int = |v: u64| Reply::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let name = |s: &str| Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    let mut out = vec![
        (name("peak.allocated"), int(peak)),
        (name("total.allocated"), int(mem.allocated)),
        (name("startup.allocated"), int(startup)),
        (name("replication.backlog"), int(backlog)),
        (name("clients.slaves"), int(0)),
        (name("clients.normal"), int(0)),
        (name("cluster.links"), int(0)),
        (name("aof.buffer"), int(0)),
        (name("lua.caches"), int(0)),
        (name("functions.caches"), int(0)),
        (name("overhead.total"), int(overhead)),
        (name("keys.count"), int(keys)),
        (
            name("keys.bytes-per-key"),
            int(dataset.checked_div(keys).unwrap_or(0)),
        ),
        (name("dataset.bytes"), int(dataset)),
        (
            name("dataset.percentage"),
            Reply::Double(pct(dataset, mem.allocated)),
        ),
        (
            name("peak.percentage"),
            Reply::Double(pct(mem.allocated, peak)),
        ),
        (name("allocator.allocated"), int(mem.allocated)),
        (name("allocator.active"), int(mem.active)),
        (name("allocator.resident"), int(mem.resident)),
        (
            name("allocator-fragmentation.ratio"),
            Reply::Double(ratio(mem.active, mem.allocated)),
        ),
        (
            name("allocator-fragmentation.bytes"),
            int(mem.active.saturating_sub(mem.allocated)),
        ),
        (
            name("rss-overhead.ratio"),
            Reply::Double(ratio(mem.rss, mem.resident)),
        ),
        (
            name("rss-overhead.bytes"),
            int(mem.rss.saturating_sub(mem.resident)),
        ),
        (
            name("fragmentation"),
            Reply::Double(ratio(mem.rss, mem.allocated)),
        ),
        (
            name("fragmentation.bytes"),
            int(mem.rss.saturating_sub(mem.allocated)),
        ),
    ];
    for (index, db) in ctx.data.keyspace.dbs().iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        out.push((
            name(&format!("db.{index}")),
            Reply::Map(vec![
                (name("overhead.hashtable.main"), int(db.len() as u64 * 16)),
                (
                    name("overhead.hashtable.expires"),
                    int(db.volatile_len() as u64 * 8),
                ),
            ]),
        ));
    }
    Reply::Map(out)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

fn doctor(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let mem = crate::info::mem_stats();
    let keys = ctx.data.keyspace.key_count();
    let mut findings = Vec::new();
    if mem.allocated < 5 << 20 {
        findings
            .push("The dataset is too small (under 5 MB) for a meaningful diagnosis.".to_string());
    } else {
        let frag = ratio(mem.rss, mem.allocated);
        if frag > 1.4 {
            findings.push(format!(
                "The process holds {:.2} times the memory it has allocated (RSS {} for {} \
                 allocated): freed pages are waiting to be returned; MEMORY PURGE returns \
                 them now.",
                frag,
                crate::info::bytes_to_human(mem.rss),
                crate::info::bytes_to_human(mem.allocated)
            ));
        }
        let peak = crate::info::peak_memory();
        if peak > mem.allocated.saturating_mul(2) {
            findings.push(format!(
                "The peak allocation ({}) is over twice the current one: a burst (a big \
                 transaction, a lagging replica's stream) needed the difference.",
                crate::info::bytes_to_human(peak)
            ));
        }
    }
    let text = if findings.is_empty() {
        format!(
            "No memory problem found: {} allocated for {keys} keys, {} resident.",
            crate::info::bytes_to_human(mem.allocated),
            crate::info::bytes_to_human(mem.rss)
        )
    } else {
        findings.join("\n")
    };
    Reply::Verbatim("txt", Bytes::from(text))
}

fn malloc_stats(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let mem = crate::info::mem_stats();
    Reply::Verbatim(
        "txt",
        Bytes::from(format!(
            "jemalloc 5.3.0\nallocated: {}\nactive: {}\nresident: {}\nretained: {}\nrss: {}\n",
            mem.allocated, mem.active, mem.resident, mem.retained, mem.rss
        )),
    )
}

fn purge(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::info::purge_allocator();
    Reply::ok()
}
