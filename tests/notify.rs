//! Keyspace notifications (`notify-keyspace-events`): the same commands run
//! against tandem and a real redis-server 7.0 must publish the same events,
//! on the same `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>`
//! channels, in the same order (see tests/common/notify.rs).

mod common;

use std::time::Duration;

use common::notify::{assert_same_events, pair};
use common::{wait_until, Client, ServerProcess};

#[test]
fn strings_and_generic_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEA",
        &[
            "SET s 1",
            "SET s 2 EX 100",
            "SET s 3 KEEPTTL",
            "SETNX s 4",
            "SETNX s2 4",
            "SETEX s3 100 v",
            "PSETEX s4 100000 v",
            "MSET m1 a m2 b",
            "MSETNX m1 a m9 b",
            "MSETNX n1 a n2 b",
            "GETSET s 9",
            "SET s 10 GET",
            "APPEND s x",
            "APPEND fresh x",
            "SETRANGE s 1 yy",
            "INCR c",
            "DECR c",
            "INCRBY c 5",
            "DECRBY c 2",
            "INCRBYFLOAT c 1.5",
            "INCR s",
            "GETEX s EX 100",
            "GETEX s PERSIST",
            "GETEX s",
            "GETDEL s",
            "GETDEL missing",
            "EXPIRE c 100",
            "PEXPIRE c 100000",
            "EXPIREAT c 99999999999",
            "EXPIRE c 100 NX",
            "PERSIST c",
            "PERSIST c",
            "EXPIRE m1 0",
            "PEXPIREAT m2 1",
            "SET r 1",
            "RENAME r r2",
            "RENAME r2 r2",
            "RENAMENX r2 n1",
            "RENAMENX r2 r3",
            "COPY r3 r4",
            "COPY r3 r4 REPLACE",
            "MOVE r4 1",
            "DEL r3 r4 n1 missing",
            "UNLINK n2",
            "SETBIT b 7 1",
            "SETBIT b 7 1",
            "BITFIELD bf SET u8 0 255 GET u8 0",
            "BITFIELD bf GET u8 0",
            "BITOP OR dest b bf",
            "BITOP AND dest nothing1 nothing2",
            "PFADD h a b c",
            "PFADD h a",
            "PFMERGE h2 h",
            "SET t v PX 1",
            "FLUSHDB",
        ],
    );
}

#[test]
fn new_and_keymiss_classes() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEnm",
        &[
            "SET a 1",
            "SET a 2",
            "GET missing",
            "GET a",
            "MGET a nope",
            "RPUSH l x",
            "LRANGE nolist 0 -1",
            "HSET h f v",
            "COPY a b",
            "RENAME b c",
        ],
    );
}

/// Active expiry publishes `expired` (and a lazy lookup does too).
#[test]
fn expired_keys_are_announced_by_both_expiry_paths() {
    let tandem = ServerProcess::tandem(&["--save", ""]);
    let mut admin = Client::connect(tandem.port).expect("connect");
    assert_eq!(
        admin.q(&["CONFIG", "SET", "notify-keyspace-events", "Ex"]),
        "+OK"
    );
    let mut sub = Client::connect(tandem.port).expect("connect");
    sub.cmd(&["SUBSCRIBE", "__keyevent@0__:expired"])
        .expect("subscribe");
    admin.q(&["SET", "active", "v", "PX", "50"]);
    admin.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    admin.q(&["SET", "lazy", "v", "PX", "50"]);
    admin.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "1"]);
    let mut seen = Vec::new();
    // The active cycle (10 times a second) removes both keys soon; a lookup
    // of `lazy` may win the race, and must announce it just the same.
    std::thread::sleep(Duration::from_millis(60));
    admin.q(&["GET", "lazy"]);
    assert!(wait_until(Duration::from_secs(5), || {
        if let Ok(frame) = sub.read() {
            seen.push(common::render(&frame));
        }
        seen.len() >= 2
    }));
    seen.sort();
    assert_eq!(
        seen,
        vec![
            "[\"message\", \"__keyevent@0__:expired\", \"active\"]",
            "[\"message\", \"__keyevent@0__:expired\", \"lazy\"]",
        ]
    );
}

/// A RESP3 client subscribed to its own events gets them before the reply
/// of the command that raised them, as Redis delivers them.
#[test]
fn own_events_precede_the_reply_in_resp3() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    let mut shapes = Vec::new();
    for server in [&tandem, &redis] {
        let mut c = Client::connect(server.port).expect("connect");
        c.cmd(&["HELLO", "3"]).expect("hello");
        c.q(&["CONFIG", "SET", "notify-keyspace-events", "KA"]);
        c.send(&["SUBSCRIBE", "__keyspace@0__:k"]).expect("send");
        let confirm = c.read().expect("confirm");
        let mut frames = vec![format!("{confirm:?}")];
        c.send(&["SET", "k", "v"]).expect("send");
        for _ in 0..2 {
            frames.push(format!("{:?}", c.read().expect("frame")));
        }
        shapes.push(frames);
    }
    assert_eq!(shapes[0], shapes[1]);
}
