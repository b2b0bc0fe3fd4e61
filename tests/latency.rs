//! LATENCY and LOLWUT against a real redis-server 7.0: deterministic replies
//! (errors, HELP, RESET counts, empty results, LOLWUT's version line) must be
//! identical; replies that carry times (LATEST, HISTORY, HISTOGRAM) must have
//! the same shape.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, ServerProcess};
use tandem_server::resp::Frame;

/// Both servers, or `None` when redis-server is not installed.
fn pair() -> Option<(ServerProcess, ServerProcess)> {
    let redis = ServerProcess::redis(&[])?;
    Some((redis, ServerProcess::tandem(&[])))
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Sleeps until just after the next second starts, so that what follows
/// within a few hundred milliseconds falls in one second.
fn wait_fresh_second() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    let left = Duration::from_secs(1) - Duration::from_nanos(u64::from(now.subsec_nanos()));
    std::thread::sleep(left + Duration::from_millis(20));
}

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(i) => *i,
        other => panic!("integer expected, got {other:?}"),
    }
}

fn items(f: Frame) -> Vec<Frame> {
    match f {
        Frame::Array(items) => items,
        other => panic!("array expected, got {other:?}"),
    }
}

fn text(f: Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("text expected, got {other:?}"),
    }
}

/// The same command on both servers gives the same reply.
fn same(r: &mut Client, t: &mut Client, args: &[&str]) -> String {
    let (ours, theirs) = (t.q(args), r.q(args));
    assert_eq!(ours, theirs, "{args:?}");
    ours
}

#[test]
fn deterministic_replies_match_redis() {
    let Some((redis, tandem)) = pair() else {
        return;
    };
    let (mut r, mut t) = (redis.client(), tandem.client());
    for args in [
        &["LATENCY", "LATEST"][..],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "RESET"],
        &["LATENCY", "RESET", "command", "fast-command"],
        &["LATENCY", "GRAPH", "command"],
        &["LATENCY", "GRAPH", "nosuch"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "HISTORY", "a", "b"],
        &["LATENCY", "LATEST", "x"],
        &["LATENCY", "DOCTOR", "x"],
        &["LATENCY", "HELP"],
        &["LATENCY", "help", "x"],
        &["LATENCY", "FOO"],
        &["LATENCY"],
        &["LATENCY", "HISTOGRAM", "nosuch", "get|x", "config|get|x"],
        &["LOLWUT"],
        &["LOLWUT", "VERSION"],
        &["LOLWUT", "whatever", "1"],
        &["LOLWUT", "VERSION", "-1"],
        &["LOLWUT", "VERSION", "7"],
        &["LOLWUT", "VERSION", "x"],
        &["LOLWUT", "VERSION", "5", "1", "y"],
        &["LOLWUT", "VERSION", "6", "z"],
        &["COMMAND", "INFO", "lolwut"],
    ] {
        same(&mut r, &mut t, args);
    }
    // The pictures differ; the closing lines do not.
    for args in [
        &["LOLWUT", "VERSION", "5"][..],
        &["LOLWUT", "VERSION", "6", "20", "5"],
    ] {
        let ours = text(t.cmd(args).expect("tandem reply"));
        let theirs = text(r.cmd(args).expect("redis reply"));
        let tail = |s: &str| {
            s.lines()
                .rev()
                .take(2)
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        assert_eq!(tail(&ours)[0], tail(&theirs)[0], "{args:?}");
        assert!(ours.ends_with("Redis ver. 7.0.15\n"));
    }
    // DOCTOR is prose: only its type is compared.
    assert!(!text(t.cmd(&["LATENCY", "DOCTOR"]).expect("doctor")).is_empty());
    assert!(!text(r.cmd(&["LATENCY", "DOCTOR"]).expect("doctor")).is_empty());
}

/// The `[event, time, latest, max]` entries of LATENCY LATEST.
fn latest(c: &mut Client) -> Vec<(String, i64, i64, i64)> {
    items(c.cmd(&["LATENCY", "LATEST"]).expect("latest"))
        .into_iter()
        .map(|e| {
            let fields = items(e);
            assert_eq!(fields.len(), 4);
            let name = text(fields[0].clone());
            (name, int(&fields[1]), int(&fields[2]), int(&fields[3]))
        })
        .collect()
}

/// `(time, latency)` samples of LATENCY HISTORY.
fn history(c: &mut Client, event: &str) -> Vec<(i64, i64)> {
    items(c.cmd(&["LATENCY", "HISTORY", event]).expect("history"))
        .into_iter()
        .map(|s| {
            let pair = items(s);
            assert_eq!(pair.len(), 2);
            (int(&pair[0]), int(&pair[1]))
        })
        .collect()
}

#[test]
fn monitor_records_slow_commands_like_redis() {
    let Some((redis, tandem)) = pair() else {
        return;
    };
    for server in [&redis, &tandem] {
        let mut c = server.client();
        let who = format!("{:?}", server.flavor);
        // Off by default: nothing is recorded.
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.06"]), "+OK");
        assert_eq!(latest(&mut c), vec![], "{who}");
        assert_eq!(
            c.q(&["CONFIG", "SET", "latency-monitor-threshold", "50"]),
            "+OK"
        );
        assert_eq!(
            c.q(&["CONFIG", "GET", "latency-monitor-threshold"]),
            "[\"latency-monitor-threshold\", \"50\"]"
        );
        // Two slow commands in one second make one sample, the larger.
        wait_fresh_second();
        let before = unix_secs() as i64;
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.06"]), "+OK");
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.1"]), "+OK");
        assert_eq!(c.q(&["PING"]), "+PONG");
        let after = unix_secs() as i64;
        let events = latest(&mut c);
        assert_eq!(events.len(), 1, "{who}: {events:?}");
        let (name, time, last, max) = events[0].clone();
        assert_eq!(name, "command", "{who}");
        assert!((before..=after).contains(&time), "{who}: {time}");
        assert!(
            (100..1000).contains(&last) && max == last,
            "{who}: {events:?}"
        );
        assert_eq!(history(&mut c, "command"), vec![(time, last)], "{who}");
        // A later second adds a sample; the maximum stays.
        wait_fresh_second();
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.06"]), "+OK");
        let samples = history(&mut c, "command");
        assert_eq!(samples.len(), 2, "{who}: {samples:?}");
        assert!(samples[1].0 > samples[0].0 && samples[1].1 >= 60, "{who}");
        let events = latest(&mut c);
        assert_eq!(events[0].2, samples[1].1, "{who}");
        assert_eq!(events[0].3, max.max(samples[1].1), "{who}");
        // Lookups are case-sensitive, RESET is not.
        assert_eq!(c.q(&["LATENCY", "HISTORY", "COMMAND"]), "[]", "{who}");
        let graph = text(c.cmd(&["LATENCY", "GRAPH", "command"]).expect("graph"));
        assert!(graph.starts_with("command - high "), "{who}: {graph}");
        assert_eq!(
            c.q(&["LATENCY", "RESET", "COMMAND", "command", "nosuch"]),
            ":1",
            "{who}"
        );
        assert_eq!(latest(&mut c), vec![], "{who}");
        assert_eq!(c.q(&["LATENCY", "HISTORY", "command"]), "[]", "{who}");
        assert_eq!(
            c.q(&["LATENCY", "GRAPH", "command"]),
            "-ERR No samples available for event 'command'",
            "{who}"
        );
        // Below the threshold nothing is recorded.
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.01"]), "+OK");
        assert_eq!(c.q(&["LATENCY", "RESET"]), ":0", "{who}");
    }
}

/// Upper bounds Redis labels its histogram buckets with (µs).
const LABELS: &[i64] = &[
    1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
    270532, 541065, 1073741,
];

/// One command's entry: name, calls, `(bucket, cumulative count)` pairs.
type Entry = (String, i64, Vec<(i64, i64)>);

/// The entries of LATENCY HISTOGRAM in RESP2 (maps arrive as flat arrays).
fn histogram(c: &mut Client, args: &[&str]) -> Vec<Entry> {
    let mut argv = vec!["LATENCY", "HISTOGRAM"];
    argv.extend_from_slice(args);
    let flat = items(c.cmd(&argv).expect("histogram"));
    flat.chunks(2)
        .map(|pair| {
            let name = text(pair[0].clone());
            let fields = items(pair[1].clone());
            assert_eq!(text(fields[0].clone()), "calls");
            assert_eq!(text(fields[2].clone()), "histogram_usec");
            let buckets = items(fields[3].clone())
                .chunks(2)
                .map(|b| (int(&b[0]), int(&b[1])))
                .collect();
            (name, int(&fields[1]), buckets)
        })
        .collect()
}

#[test]
fn histograms_have_redis_shape() {
    let Some((redis, tandem)) = pair() else {
        return;
    };
    let mut shapes = Vec::new();
    for server in [&redis, &tandem] {
        let mut c = server.client();
        assert_eq!(c.q(&["CONFIG", "RESETSTAT"]), "+OK");
        for _ in 0..3 {
            assert_eq!(c.q(&["SET", "k", "v"]), "+OK");
        }
        c.q(&["GET", "k"]);
        c.q(&["CONFIG", "GET", "hz"]);
        assert_eq!(c.q(&["DEBUG", "SLEEP", "0.07"]), "+OK");
        let got = histogram(&mut c, &["set", "GET", "nosuch", "config", "debug", "set"]);
        for (name, calls, buckets) in &got {
            assert!(!buckets.is_empty(), "{name}");
            let mut previous = 0;
            for (label, count) in buckets {
                assert!(LABELS.contains(label), "{name}: {label}");
                assert!(*count > previous, "{name}: {buckets:?}");
                previous = *count;
            }
            assert_eq!(previous, *calls, "{name}");
        }
        let debug = &got.iter().find(|e| e.0 == "debug").expect("debug").2;
        assert!(debug[0].0 >= 67633, "{debug:?}");
        // Subcommands come in hash order in Redis: compare sorted.
        let mut named: Vec<(String, i64)> = got
            .iter()
            .map(|(name, calls, _)| (name.clone(), *calls))
            .collect();
        named.sort();
        shapes.push(named);
        // Every command called since the reset, and only those.
        let mut all: Vec<String> = histogram(&mut c, &[]).into_iter().map(|e| e.0).collect();
        all.sort();
        shapes.push(all.into_iter().map(|n| (n, 0)).collect());
        // CONFIG RESETSTAT clears them.
        assert_eq!(c.q(&["CONFIG", "RESETSTAT"]), "+OK");
        assert_eq!(c.q(&["LATENCY", "HISTOGRAM", "set"]), "[]");
    }
    assert_eq!(shapes[0], shapes[2]);
    assert_eq!(shapes[1], shapes[3]);
    assert_eq!(
        shapes[0],
        vec![
            ("config|get".to_string(), 1),
            ("config|resetstat".to_string(), 1),
            ("debug".to_string(), 1),
            ("get".to_string(), 1),
            ("set".to_string(), 3),
            ("set".to_string(), 3),
        ]
    );

    // RESP3 replies are maps.
    let (mut r, mut t) = (redis.client(), tandem.client());
    for c in [&mut r, &mut t] {
        c.cmd(&["HELLO", "3"]).expect("hello");
    }
    same(&mut r, &mut t, &["LATENCY", "HISTOGRAM", "nosuch"]);
    t.q(&["SET", "k", "v"]);
    let reply = t.cmd(&["LATENCY", "HISTOGRAM", "set"]).expect("histogram");
    let Frame::Map(entries) = reply else {
        panic!("map expected: {reply:?}")
    };
    let Frame::Map(fields) = &entries[0].1 else {
        panic!("map expected")
    };
    assert!(matches!(fields[1].1, Frame::Map(_)));
}
