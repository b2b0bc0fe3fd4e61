//! Keyspace-notification capture for differential tests: a subscriber on
//! every `__key*__` channel records what a server publishes while a script of
//! commands runs, so that tandem's events can be compared with
//! redis-server's, one message at a time.
#![allow(dead_code, unreachable_pub)]

use super::{render, Client, ServerProcess};
use tandem_server::resp::Frame;

/// The channel, outside any real database, that marks the end of a capture.
const END_CHANNEL: &str = "__keyevent@999__:end-of-capture";

/// Runs `script` on a fresh connection to the server at `port`, with
/// `notify-keyspace-events` set to `classes`, and returns every
/// notification published meanwhile as `"channel message"`, in order,
/// followed by the replies as rendered text (one line each, prefixed `>`).
pub fn capture(port: u16, classes: &str, script: &[Vec<String>]) -> Vec<String> {
    let mut admin = Client::connect(port).expect("connect");
    assert_eq!(
        admin.q(&["CONFIG", "SET", "notify-keyspace-events", classes]),
        "+OK"
    );
    let mut sub = Client::connect(port).expect("connect");
    let confirm = sub.cmd(&["PSUBSCRIBE", "__key*__:*"]).expect("psubscribe");
    assert!(render(&confirm).contains("psubscribe"), "{confirm:?}");
    let mut out = Vec::new();
    let mut replies = Vec::new();
    for argv in script {
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        replies.push(format!("> {} => {}", args.join(" "), admin.q(&args)));
    }
    admin.q(&["PUBLISH", END_CHANNEL, "done"]);
    for _ in 0..100_000 {
        let frame = sub.read().expect("a notification (or the end marker)");
        let (Frame::Array(items) | Frame::Push(items)) = frame else {
            panic!("unexpected frame {frame:?}");
        };
        let text: Vec<String> = items
            .iter()
            .map(|f| match f {
                Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => render(other),
            })
            .collect();
        // [pmessage, pattern, channel, message]
        let (Some(channel), Some(message)) = (text.get(2), text.get(3)) else {
            panic!("unexpected message {text:?}");
        };
        if channel == END_CHANNEL {
            break;
        }
        out.push(format!("{channel} {message}"));
    }
    admin.q(&["CONFIG", "SET", "notify-keyspace-events", ""]);
    out.extend(replies);
    out
}

/// A tandem and a redis-server to compare (`None` when redis-server is not
/// installed).
pub fn pair() -> Option<(ServerProcess, ServerProcess)> {
    let redis = ServerProcess::redis(&["--save", ""])?;
    let tandem = ServerProcess::tandem(&["--save", ""]);
    Some((tandem, redis))
}

/// Splits a command line on spaces (no quoting: test scripts avoid spaces
/// inside arguments).
pub fn script(lines: &[&str]) -> Vec<Vec<String>> {
    lines
        .iter()
        .map(|l| l.split(' ').map(str::to_string).collect())
        .collect()
}

/// Runs the same script on both servers and asserts identical events and
/// replies, showing both sequences side by side on a difference.
pub fn assert_same_events(tandem_port: u16, redis_port: u16, classes: &str, lines: &[&str]) {
    let commands = script(lines);
    let ours = capture(tandem_port, classes, &commands);
    let theirs = capture(redis_port, classes, &commands);
    if ours != theirs {
        let mut report = String::new();
        for i in 0..ours.len().max(theirs.len()) {
            let a = ours.get(i).map_or("-", String::as_str);
            let b = theirs.get(i).map_or("-", String::as_str);
            let mark = if a == b { "  " } else { "!!" };
            report.push_str(&format!("{mark} tandem: {a:<50} redis: {b}\n"));
        }
        panic!("keyspace events differ (classes {classes}):\n{report}");
    }
}
