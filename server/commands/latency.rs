//! LATENCY (DOCTOR, GRAPH, HELP, HISTOGRAM, HISTORY, LATEST, RESET) and LOLWUT.
//!
//! Two records feed LATENCY:
//! - the latency monitor ([`LatencyMonitor`]): while `latency-monitor-threshold`
//!   is above zero, a command that runs at least that many milliseconds adds a
//!   sample to the `command` event (`fast-command` for FAST commands). Each
//!   event keeps its all-time maximum and a ring of [`SERIES_LEN`] samples, at
//!   most one per second (a later sample in the same second keeps the larger
//!   latency), as Redis does;
//! - per-command histograms ([`CommandHistogram`], kept in the command
//!   statistics while `latency-tracking` is on), which LATENCY HISTOGRAM
//!   reports in Redis's power-of-two buckets.
//!
//! Nothing here touches the keyspace or replicates.

use bytes::Bytes;

use crate::command::{container_handler, flags::*, lookup_subcommand, table, CommandSpec, KeySpec};
use crate::commands::args;
use crate::exec::ExecCtx;
use crate::reply::Reply;
use crate::state::Data;
use crate::tri;

/// Samples an event keeps (Redis's `LATENCY_TS_LEN`).
pub const SERIES_LEN: usize = 160;

/// Buckets of a [`CommandHistogram`].
const BUCKETS: usize = 21;

/// ADMIN | NOSCRIPT | LOADING | STALE, the flags of most subcommands.
const ANLS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

const SUBCOMMANDS: &[CommandSpec] = &[
    CommandSpec::new("doctor", 2, ANLS, KeySpec::NONE, doctor)
        .doc(
            "server",
            "2.8.13",
            "Return a human readable latency analysis report.",
        )
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("graph", 3, ANLS, KeySpec::NONE, graph)
        .doc("server", "2.8.13", "Return a latency graph for the event.")
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("help", 2, LOADING | STALE, KeySpec::NONE, help)
        .doc(
            "server",
            "2.8.13",
            "Show helpful text about the different subcommands.",
        )
        .complexity("O(1)")
        .acl(&["slow"]),
    CommandSpec::new("histogram", -2, ANLS, KeySpec::NONE, histogram)
        .doc(
            "server",
            "7.0.0",
            "Return the cumulative distribution of latencies of a subset of commands or all.",
        )
        .complexity(
            "O(N) where N is the number of commands with latency information being retrieved.",
        )
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("history", 3, ANLS, KeySpec::NONE, history)
        .doc(
            "server",
            "2.8.13",
            "Return timestamp-latency samples for the event.",
        )
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("latest", 2, ANLS, KeySpec::NONE, latest)
        .doc(
            "server",
            "2.8.13",
            "Return the latest latency samples for all events.",
        )
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
    CommandSpec::new("reset", -2, ANLS, KeySpec::NONE, reset)
        .doc(
            "server",
            "2.8.13",
            "Reset latency data for one or more events.",
        )
        .complexity("O(1)")
        .acl(&["admin", "slow", "dangerous"]),
];

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("latency", -2, 0, KeySpec::NONE, container_handler)
        .doc(
            "server",
            "2.8.13",
            "A container for latency diagnostics commands",
        )
        .complexity("Depends on subcommand.")
        .acl(&["slow"])
        .subs(SUBCOMMANDS),
    CommandSpec::new("lolwut", -1, READONLY | FAST, KeySpec::NONE, lolwut)
        .doc(
            "server",
            "5.0.0",
            "Display some computer art and the Redis version",
        )
        .acl(&["read", "fast"]),
];

// ---------------------------------------------------------------------------
// The latency monitor
// ---------------------------------------------------------------------------

/// One (time, latency) sample; `unix_secs == 0` marks an unused slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sample {
    unix_secs: u64,
    ms: u64,
}

/// The samples of one event: a ring, oldest overwritten first.
#[derive(Debug)]
pub struct EventSeries {
    samples: [Sample; SERIES_LEN],
    /// The slot the next new sample goes to.
    next: usize,
    max_ms: u64,
}

impl EventSeries {
    fn new() -> EventSeries {
        EventSeries {
            samples: [Sample::default(); SERIES_LEN],
            next: 0,
            max_ms: 0,
        }
    }

    fn add(&mut self, ms: u64, unix_secs: u64) {
        self.max_ms = self.max_ms.max(ms);
        let last = &mut self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN];
        if last.unix_secs == unix_secs {
            last.ms = last.ms.max(ms);
            return;
        }
        self.samples[self.next] = Sample { unix_secs, ms };
        self.next = (self.next + 1) % SERIES_LEN;
    }

    fn latest(&self) -> Sample {
        self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN]
    }

    /// The used samples, oldest first.
    fn history(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SERIES_LEN)
            .map(move |j| self.samples[(self.next + j) % SERIES_LEN])
            .filter(|s| s.unix_secs != 0)
    }
}

/// Every event seen since the last reset, in the order first seen.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    events: Vec<(&'static str, Box<EventSeries>)>,
}

impl LatencyMonitor {
    /// Adds a sample to `event`, creating it on first use.
    pub fn add(&mut self, event: &'static str, ms: u64, unix_secs: u64) {
        match self.events.iter_mut().find(|(name, _)| *name == event) {
            Some((_, series)) => series.add(ms, unix_secs),
            None => {
                let mut series = Box::new(EventSeries::new());
                series.add(ms, unix_secs);
                self.events.push((event, series));
            }
        }
    }

    /// An event by its exact name (lookups are case-sensitive, as in Redis).
    fn get(&self, event: &[u8]) -> Option<&EventSeries> {
        self.events
            .iter()
            .find(|(name, _)| name.as_bytes() == event)
            .map(|(_, series)| &**series)
    }

    /// Drops the events named `event` (any case), or all of them; returns how
    /// many were dropped.
    fn reset(&mut self, event: Option<&[u8]>) -> usize {
        let before = self.events.len();
        match event {
            None => self.events.clear(),
            Some(event) => self
                .events
                .retain(|(name, _)| !name.as_bytes().eq_ignore_ascii_case(event)),
        }
        before - self.events.len()
    }
}

/// Records a command that ran `elapsed_us` if it reached the latency monitor's
/// threshold. Called only while the monitor is on.
#[cold]
pub fn monitor_command(data: &mut Data, spec: &CommandSpec, elapsed_us: u64) {
    let ms = elapsed_us / 1000;
    if ms < data.latency_threshold_ms {
        return;
    }
    let event = if spec.has(FAST) {
        "fast-command"
    } else {
        "command"
    };
    data.latency.add(event, ms, crate::state::unix_ms() / 1000);
}

// ---------------------------------------------------------------------------
// Per-command histograms
// ---------------------------------------------------------------------------

/// A command's latency distribution: an HDR histogram like Redis's (values in
/// nanoseconds, 1 ns ..= 1 s, two significant digits: 128 linear slots per
/// power of two), allocated at the first call recorded.
///
/// INFO latencystats reads percentiles from it as Redis's
/// `hdr_value_at_percentile` does. LATENCY HISTOGRAM reports it at 1024 ns,
/// 2048 ns, ... doubling: the report at level `L` counts every value that
/// shares `L`'s slot or lies below it, i.e. values under `L + L/128`, and is
/// labelled with that slot's highest value in microseconds (1, 2, 4, 8, 16,
/// 33, 66, ...).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandHistogram {
    counts: Option<Box<[u64]>>,
    total: u64,
}

/// Slots of the HDR histogram: 24 half-buckets of 128 cover 1 ns ..= 1 s.
const HDR_SLOTS: usize = 24 * 128;

/// The HDR bucket of `ns` (each bucket doubles the range of the one before).
fn hdr_bucket(ns: u64) -> u32 {
    (64 - (ns | 255).leading_zeros()) - 8
}

/// The slot that counts `ns`.
fn hdr_slot(ns: u64) -> usize {
    let bucket = hdr_bucket(ns);
    let sub = ns >> bucket;
    (((u64::from(bucket) + 1) << 7) + sub - 128) as usize
}

/// The lowest value slot `i` counts.
fn hdr_slot_value(i: usize) -> u64 {
    let bucket = (i >> 7) as i64 - 1;
    let sub = (i & 127) as u64 + 128;
    if bucket < 0 {
        sub - 128
    } else {
        sub << bucket
    }
}

/// The highest value sharing `ns`'s slot.
fn hdr_highest_equivalent(ns: u64) -> u64 {
    let bucket = hdr_bucket(ns);
    ((ns >> bucket) << bucket) + (1u64 << bucket) - 1
}

impl CommandHistogram {
    /// Records one call that took `elapsed_us` microseconds.
    #[inline]
    pub fn record(&mut self, elapsed_us: u64) {
        let ns = elapsed_us.saturating_mul(1000).clamp(1, 1_000_000_000);
        let counts = self
            .counts
            .get_or_insert_with(|| vec![0; HDR_SLOTS].into_boxed_slice());
        counts[hdr_slot(ns)] += 1;
        self.total += 1;
    }

    /// Calls recorded.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The latency at `percentile` (0 ..= 100) in nanoseconds, as Redis's
    /// `hdr_value_at_percentile` gives it: the highest value of the slot
    /// where the running count reaches that share of the calls (the lowest
    /// for percentile 0).
    pub fn percentile_ns(&self, percentile: f64) -> u64 {
        let Some(counts) = &self.counts else {
            return 0;
        };
        let wanted = ((percentile.min(100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut running = 0;
        for (i, &c) in counts.iter().enumerate() {
            running += c;
            if running >= wanted {
                let value = hdr_slot_value(i);
                return if percentile == 0.0 {
                    value
                } else {
                    hdr_highest_equivalent(value)
                };
            }
        }
        0
    }

    /// `(upper bound in µs, cumulative count)` for every non-empty report
    /// level (LATENCY HISTOGRAM).
    fn cumulative(&self) -> Vec<(u64, u64)> {
        let mut levels = [0u64; BUCKETS];
        if let Some(counts) = &self.counts {
            for (i, &c) in counts.iter().enumerate() {
                if c > 0 {
                    // Slot edges fall on level edges, so a slot's lowest
                    // value places all of it.
                    levels[bucket_of(hdr_slot_value(i))] += c;
                }
            }
        }
        let mut sum = 0;
        let mut out = Vec::new();
        for (k, &count) in levels.iter().enumerate() {
            sum += count;
            if count > 0 {
                out.push((bucket_label_us(k), sum));
            }
        }
        out
    }
}

/// The bucket of a latency in nanoseconds.
fn bucket_of(ns: u64) -> usize {
    let ns = ns.clamp(1, 1_000_000_000);
    if ns < 1024 + 8 {
        return 0;
    }
    let log2 = 63 - ns.leading_zeros() as usize;
    let level = 1u64 << log2;
    let k = if ns < level + (level >> 7) {
        log2 - 10
    } else {
        log2 - 9
    };
    k.min(BUCKETS - 1)
}

/// The label of bucket `k`: the highest value of its HDR slot, in µs. The last
/// level lies past the histogram's range, whose last slot ends at 2^30 - 1 ns.
fn bucket_label_us(k: usize) -> u64 {
    if k + 1 == BUCKETS {
        return ((1u64 << 30) - 1) / 1000;
    }
    let level = 1u64 << (10 + k);
    (level + (level >> 7) - 1) / 1000
}

// ---------------------------------------------------------------------------
// LATENCY subcommands
// ---------------------------------------------------------------------------

fn int(v: u64) -> Reply {
    Reply::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

fn help(_ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    crate::commands::server::help_reply(
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    )
}

fn latest(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let events = &ctx.data.latency.events;
    Reply::Array(
        events
            .iter()
            .map(|(name, series)| {
                let last = series.latest();
                Reply::Array(vec![
                    bulk(name),
                    int(last.unix_secs),
                    int(last.ms),
                    int(series.max_ms),
                ])
            })
            .collect(),
    )
}

fn history(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let Some(series) = ctx.data.latency.get(&argv[2]) else {
        return Reply::Array(Vec::new());
    };
    Reply::Array(
        series
            .history()
            .map(|s| Reply::Array(vec![int(s.unix_secs), int(s.ms)]))
            .collect(),
    )
}

fn reset(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let monitor = &mut ctx.data.latency;
    let resets = if argv.len() == 2 {
        monitor.reset(None)
    } else {
        argv[2..]
            .iter()
            .map(|event| monitor.reset(Some(event)))
            .sum()
    };
    int(resets as u64)
}

fn no_samples(event: &[u8]) -> Reply {
    Reply::error(format!(
        "ERR No samples available for event '{}'",
        String::from_utf8_lossy(event)
    ))
}

/// Height of the bars in LATENCY GRAPH.
const GRAPH_ROWS: u64 = 4;

fn graph(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let monitor = &ctx.data.latency;
    let Some((name, series)) = monitor
        .events
        .iter()
        .find(|(name, _)| name.as_bytes() == &argv[2][..])
    else {
        return no_samples(&argv[2]);
    };
    let now = crate::state::unix_ms() / 1000;
    let samples: Vec<Sample> = series.history().collect();
    let high = samples.iter().map(|s| s.ms).max().unwrap_or(0);
    let low = samples.iter().map(|s| s.ms).min().unwrap_or(0);
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        series.max_ms,
        "-".repeat(80)
    );
    // One column per sample, newest right; a bar of `#` scaled between the
    // lowest and highest sample, then the age of each sample, one character
    // per row, read top to bottom.
    let shown = &samples[samples.len().saturating_sub(80)..];
    let height = |ms: u64| {
        if high == low {
            GRAPH_ROWS
        } else {
            1 + (ms - low) * (GRAPH_ROWS - 1) / (high - low)
        }
    };
    for row in (1..=GRAPH_ROWS).rev() {
        let line: String = shown
            .iter()
            .map(|s| if height(s.ms) >= row { '#' } else { ' ' })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let labels: Vec<Vec<char>> = shown
        .iter()
        .map(|s| age_label(now.saturating_sub(s.unix_secs)).chars().collect())
        .collect();
    let depth = labels.iter().map(Vec::len).max().unwrap_or(0);
    for row in 0..depth {
        let line: String = labels
            .iter()
            .map(|l| l.get(row).copied().unwrap_or(' '))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// How long ago, in the largest whole unit: `12s`, `3m`, `5h`, `2d`.
fn age_label(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn doctor(ctx: &mut ExecCtx<'_>, _argv: &[Bytes]) -> Reply {
    let data = &ctx.data;
    let threshold = data.latency_threshold_ms;
    let mut out = String::new();
    if data.latency.events.is_empty() {
        if threshold == 0 {
            out.push_str(
                "Latency monitoring is disabled in this instance. Enable it with \
                 \"CONFIG SET latency-monitor-threshold <milliseconds>\" and ask again.\n",
            );
        } else {
            out.push_str(&format!(
                "No latency event has been recorded so far (threshold {threshold} ms).\n"
            ));
        }
        return Reply::Verbatim("txt", Bytes::from(out));
    }
    let now = crate::state::unix_ms() / 1000;
    out.push_str("Latency events recorded by this instance:\n\n");
    let mut advice = Vec::new();
    for (i, (name, series)) in data.latency.events.iter().enumerate() {
        let samples: Vec<u64> = series.history().map(|s| s.ms).collect();
        let n = samples.len().max(1) as u64;
        let avg = samples.iter().sum::<u64>() / n;
        let deviation = samples.iter().map(|&ms| ms.abs_diff(avg)).sum::<u64>() / n;
        let oldest = series.history().map(|s| s.unix_secs).min().unwrap_or(now);
        let period = now.saturating_sub(oldest).max(1);
        out.push_str(&format!(
            "{}. {name}: {} latency spikes (average {avg}ms, mean deviation {deviation}ms, \
             period {:.2} sec). Worst all time event {}ms.\n",
            i + 1,
            samples.len(),
            period as f64 / n as f64,
            series.max_ms
        ));
        match *name {
            "command" => advice.push(
                "- Some commands are slow to run: SLOWLOG GET shows which ones. Deleting or \
                 expiring large values also blocks the server; split such values into \
                 smaller keys.",
            ),
            "fast-command" => advice.push(
                "- Commands that should be fast were slow: the host may be starving the \
                 server of CPU time (load, noisy neighbours).",
            ),
            _ => {}
        }
    }
    if data.latency.events.iter().any(|(n, _)| *n == "command") {
        let slowlog_us = data.slowlog_threshold_us;
        if slowlog_us < 0 {
            advice.push("- The slow log is off; enable it to see which commands are slow.");
        } else if slowlog_us as u64 / 1000 > threshold {
            advice.push(
                "- The slow log only records commands slower than the latency monitor's \
                 threshold; lower slowlog-log-slower-than to see them.",
            );
        }
    }
    if !advice.is_empty() {
        out.push_str("\nAdvice:\n\n");
        for line in advice {
            out.push_str(line);
            out.push('\n');
        }
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// A command (`get`) or subcommand (`config|get`) by its full name.
fn lookup_full_name(name: &[u8]) -> Option<&'static CommandSpec> {
    let mut parts = name.split(|&b| b == b'|');
    let base = table().lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) => lookup_subcommand(base, sub),
        (Some(_), Some(_)) => None,
    }
}

fn histogram(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let table = table();
    let stats = &ctx.data.cmdstats;
    let entry = |stat_id: usize| -> Option<(Reply, Reply)> {
        let hist = &stats[stat_id].histogram;
        let calls = hist.total();
        if calls == 0 {
            return None;
        }
        let buckets = hist
            .cumulative()
            .into_iter()
            .map(|(us, count)| (int(us), int(count)))
            .collect();
        Some((
            bulk(&table.flat[stat_id].0),
            Reply::Map(vec![
                (bulk("calls"), int(calls)),
                (bulk("histogram_usec"), Reply::Map(buckets)),
            ]),
        ))
    };
    let mut out = Vec::new();
    if argv.len() == 2 {
        out.extend((0..table.flat.len()).filter_map(entry));
    } else {
        for name in &argv[2..] {
            let Some(spec) = lookup_full_name(name) else {
                continue;
            };
            out.extend(entry(table.stat_id(spec)));
            out.extend(
                spec.subcommands
                    .iter()
                    .filter_map(|sub| entry(table.stat_id(sub))),
            );
        }
    }
    Reply::Map(out)
}

// ---------------------------------------------------------------------------
// LOLWUT
// ---------------------------------------------------------------------------

/// LOLWUT [VERSION v [arg ...]]: a picture for versions 5 and 6 (whose numeric
/// arguments are checked as Redis checks them), and the version line always.
fn lolwut(_ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let version = crate::REDIS_VERSION;
    let (art_version, extra) = if argv.len() >= 3 && args::is(&argv[1], "version") {
        let v = tri!(args::int(&argv[2]));
        // Redis prints the number as an unsigned 32-bit value.
        (Some(v as u32), &argv[3..])
    } else {
        (None, &argv[1..])
    };
    let mut numbers = [0i64; 3];
    let wanted = match art_version {
        Some(5) => 3,
        Some(6) => 2,
        _ => 0,
    };
    for (slot, arg) in numbers.iter_mut().zip(extra).take(wanted) {
        *slot = tri!(args::int(arg));
    }
    let given = extra.len().min(wanted);
    let text = match art_version {
        Some(5) => {
            let cols = if given > 0 { numbers[0] } else { 66 }.clamp(1, 1000);
            format!(
                "{}\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. {version}\n",
                tiles(cols as usize)
            )
        }
        Some(6) => {
            let cols = if given > 0 { numbers[0] } else { 80 }.clamp(1, 1000);
            let rows = if given > 1 { numbers[1] } else { 20 }.clamp(1, 1000);
            format!(
                "{}\nDedicated to the 8 bit game developers of past and present.\n\
                 Original 8 bit image from Plaguemon by hikikomori. Redis ver. {version}\n",
                skyline(cols as usize, rows as usize)
            )
        }
        _ => format!("Redis ver. {version}\n"),
    };
    Reply::Verbatim("txt", Bytes::from(text))
}

/// A band of tiles that grow more disordered towards the bottom.
fn tiles(cols: usize) -> String {
    let width = cols.min(120);
    let mut out = String::new();
    for row in 0..8usize {
        let line: String = (0..width)
            .map(|col| {
                let disorder = (col * 7 + row * 13) % 9 < row;
                match (disorder, (col + row) % 2) {
                    (true, 0) => '\\',
                    (true, _) => '/',
                    (false, _) => '#',
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// A skyline of buildings of varying heights.
fn skyline(cols: usize, rows: usize) -> String {
    let (width, height) = (cols.min(120), rows.min(40));
    let tallness = |col: usize| (col / 5 * 37 + 11) % (height + 1);
    let mut out = String::new();
    for row in (0..height).rev() {
        let line: String = (0..width)
            .map(|col| if tallness(col) > row { '#' } else { ' ' })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::Harness;

    fn text(reply: Reply) -> String {
        match reply {
            Reply::Verbatim(_, b) | Reply::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn buckets_match_redis_report_levels() {
        let labels: Vec<u64> = (0..BUCKETS).map(bucket_label_us).collect();
        assert_eq!(&labels[..8], &[1, 2, 4, 8, 16, 33, 66, 132]);
        assert_eq!(labels[19], 541_065);
        assert_eq!(labels[20], 1_073_741);
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_031), 0);
        assert_eq!(bucket_of(1_032), 1);
        assert_eq!(bucket_of(2_000), 1);
        assert_eq!(bucket_of(2_064), 2);
        assert_eq!(bucket_of(33_000), 5);
        assert_eq!(bucket_of(34_000), 6);
        assert_eq!(bucket_of(100_000_000), 17);
        assert_eq!(bucket_of(u64::MAX), 20);
    }

    #[test]
    fn percentiles_follow_hdr_slots() {
        let mut h = CommandHistogram::default();
        assert_eq!(h.percentile_ns(50.0), 0);
        for _ in 0..98 {
            h.record(1);
        }
        h.record(50_000);
        h.record(2_000_000);
        // 1 µs = 1000 ns sits in the slot [1000, 1004).
        assert_eq!(h.percentile_ns(50.0), 1003);
        assert_eq!(h.percentile_ns(0.0), 1000);
        // The 99th call took 50 ms; its slot is 2^18 ns wide.
        assert_eq!(h.percentile_ns(99.0), 50_069_503);
        // Past the range: clamped to 1 s.
        assert_eq!(h.percentile_ns(100.0), 1_002_438_655);
        for ns in [1, 255, 256, 1000, 1031, 1032, 999_999_999] {
            let slot = hdr_slot(ns);
            assert!(hdr_slot_value(slot) <= ns, "{ns}");
            assert!(hdr_highest_equivalent(ns) >= ns, "{ns}");
            assert!(slot < HDR_SLOTS);
        }
    }

    #[test]
    fn histogram_is_cumulative_over_nonempty_buckets() {
        let mut h = CommandHistogram::default();
        for us in [0, 1, 1, 3, 40] {
            h.record(us);
        }
        assert_eq!(h.total(), 5);
        assert_eq!(h.cumulative(), vec![(1, 3), (4, 4), (66, 5)]);
    }

    #[test]
    fn series_merges_samples_of_one_second_and_wraps() {
        let mut s = EventSeries::new();
        s.add(5, 100);
        s.add(9, 100);
        s.add(3, 100);
        assert_eq!(s.history().count(), 1);
        assert_eq!(
            s.latest(),
            Sample {
                unix_secs: 100,
                ms: 9
            }
        );
        for t in 0..200 {
            s.add(t, 1000 + t);
        }
        let all: Vec<Sample> = s.history().collect();
        assert_eq!(all.len(), SERIES_LEN);
        assert_eq!(all[0].unix_secs, 1040);
        assert_eq!(s.latest().ms, 199);
        assert_eq!(s.max_ms, 199);
    }

    #[test]
    fn monitor_records_slow_commands_only_when_enabled() {
        let mut h = Harness::new();
        h.server.config.write().enable_debug_command = crate::config::ProtectedConfig::Yes;
        assert_eq!(h.run(&["debug", "sleep", "0.02"]), Reply::ok());
        assert_eq!(h.run(&["latency", "latest"]), Reply::Array(vec![]));
        assert_eq!(
            h.run(&["config", "set", "latency-monitor-threshold", "10"]),
            Reply::ok()
        );
        assert_eq!(h.run(&["ping"]), Reply::Simple("PONG".into()));
        assert_eq!(h.run(&["debug", "sleep", "0.02"]), Reply::ok());
        let Reply::Array(events) = h.run(&["latency", "latest"]) else {
            panic!("array expected")
        };
        assert_eq!(events.len(), 1);
        let Reply::Array(fields) = &events[0] else {
            panic!("array expected")
        };
        assert_eq!(fields[0], Reply::Bulk(Bytes::from_static(b"command")));
        assert!(matches!(fields[2], Reply::Int(ms) if ms >= 20));
        let Reply::Array(history) = h.run(&["latency", "history", "command"]) else {
            panic!("array expected")
        };
        assert_eq!(history.len(), 1);
        assert_eq!(
            h.run(&["latency", "history", "COMMAND"]),
            Reply::Array(vec![])
        );
        assert!(text(h.run(&["latency", "graph", "command"])).starts_with("command - high "));
        assert!(text(h.run(&["latency", "doctor"])).contains("1. command: 1 latency spikes"));
        assert_eq!(
            h.run(&["latency", "reset", "COMMAND", "command"]),
            Reply::Int(1)
        );
        assert_eq!(h.run(&["latency", "reset"]), Reply::Int(0));
        assert_eq!(
            h.run(&["latency", "graph", "command"]),
            Reply::error("ERR No samples available for event 'command'")
        );
    }

    #[test]
    fn histogram_reports_called_commands() {
        let mut h = Harness::new();
        h.run(&["set", "k", "v"]);
        h.run(&["set", "k", "v"]);
        h.run(&["config", "get", "hz"]);
        let Reply::Map(all) = h.run(&["latency", "histogram", "set", "nosuch", "config"]) else {
            panic!("map expected")
        };
        let names: Vec<&Reply> = all.iter().map(|(k, _)| k).collect();
        assert_eq!(names, vec![&bulk("set"), &bulk("config|get")]);
        let Reply::Map(fields) = &all[0].1 else {
            panic!("map expected")
        };
        assert_eq!(fields[0], (bulk("calls"), Reply::Int(2)));
        assert_eq!(
            h.run(&["latency", "histogram", "config|get"]),
            Reply::Map(vec![all[1].clone()])
        );
        assert_eq!(h.run(&["config", "resetstat"]), Reply::ok());
        assert_eq!(h.run(&["latency", "histogram", "set"]), Reply::Map(vec![]));
    }

    #[test]
    fn lolwut_ends_with_the_version_line() {
        let mut h = Harness::new();
        for args in [
            &["lolwut"][..],
            &["lolwut", "version", "5"],
            &["lolwut", "version", "6", "30", "10"],
            &["lolwut", "version", "-1"],
            &["lolwut", "whatever"],
        ] {
            let t = text(h.run(args));
            assert!(t.ends_with("Redis ver. 7.0.15\n"), "{args:?}: {t}");
        }
        assert_eq!(
            h.run(&["lolwut", "version", "x"]),
            Reply::error("ERR value is not an integer or out of range")
        );
        assert_eq!(
            h.run(&["lolwut", "version", "5", "1", "y"]),
            Reply::error("ERR value is not an integer or out of range")
        );
    }
}
