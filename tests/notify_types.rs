//! Keyspace notifications of the data-type families (lists, hashes, sets,
//! sorted sets, geo, streams): the same commands run against tandem and a
//! real redis-server 7.0 must publish the same events in the same order,
//! including no-ops (which raise nothing), keys emptied by the command (the
//! generic `del` after the type's event), refused commands (WRONGTYPE and
//! other errors raise nothing) and blocked clients served by another
//! client's write (see tests/common/notify.rs).

mod common;

use std::time::Duration;

use common::notify::{assert_same_events, capture, pair, script};
use common::rng::{env_count, env_seeds, Rng};
use common::{info_field, render, wait_until, Client};

/// Like [`assert_same_events`], but compares the events only: for scripts
/// whose replies are random (SPOP of one of several members).
fn assert_same_events_only(tandem_port: u16, redis_port: u16, classes: &str, lines: &[&str]) {
    let commands = script(lines);
    let events = |port| -> Vec<String> {
        capture(port, classes, &commands)
            .into_iter()
            .filter(|l| !l.starts_with("> "))
            .collect()
    };
    let ours = events(tandem_port);
    let theirs = events(redis_port);
    assert!(!theirs.is_empty(), "the script raised no events at all");
    assert_eq!(ours, theirs, "keyspace events differ (classes {classes})");
}

/// Runs `blocker` (a blocking command) on its own connection to each server,
/// waits until the server counts it blocked, then captures the events of
/// `lines` (which serve it; classes `KEAn`) and reads the blocker's reply; both servers must
/// publish the same events and give the blocker the same reply.
fn assert_same_events_serving(tandem: u16, redis: u16, blocker: &[&str], lines: &[&str]) {
    assert_same_events_serving_after(tandem, redis, &[], blocker, lines);
}

/// [`assert_same_events_serving`] after running `setup` (not captured).
fn assert_same_events_serving_after(
    tandem: u16,
    redis: u16,
    setup: &[&str],
    blocker: &[&str],
    lines: &[&str],
) {
    let commands = script(lines);
    let run = |port: u16| -> (Vec<String>, String) {
        let mut admin = Client::connect(port).expect("connect");
        for argv in script(setup) {
            let args: Vec<&str> = argv.iter().map(String::as_str).collect();
            admin.q(&args);
        }
        let mut waiter = Client::connect(port).expect("connect");
        waiter.send(blocker).expect("send the blocking command");
        let mut probe = Client::connect(port).expect("connect");
        assert!(
            wait_until(Duration::from_secs(5), || {
                info_field(&mut probe, "clients", "blocked_clients").as_deref() == Some("1")
            }),
            "the blocker never blocked on port {port}"
        );
        let events = capture(port, "KEAn", &commands);
        let reply = render(&waiter.read().expect("the blocker's reply"));
        (events, reply)
    };
    let ours = run(tandem);
    let theirs = run(redis);
    assert_eq!(
        ours, theirs,
        "events or served reply differ for {blocker:?}"
    );
}

#[test]
fn list_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEA",
        &[
            "LPUSH l a b c",
            "RPUSH l d",
            "LPUSHX missing x",
            "RPUSHX missing x",
            "LPUSHX l x",
            "RPUSHX l y",
            "LINSERT l BEFORE a z",
            "LINSERT l AFTER nothere z",
            "LINSERT missing AFTER a z",
            "LINSERT l SIDEWAYS a z",
            "LSET l 0 first",
            "LSET l 100 v",
            "LSET missing 0 v",
            "LREM l 0 nothere",
            "LREM l 1 z",
            "LREM missing 1 z",
            "LTRIM l 0 -1",
            "LTRIM l 1 -1",
            "LTRIM missing 0 1",
            "LPOP l",
            "RPOP l 2",
            "LPOP l 0",
            "LPOP missing",
            "RPOP missing 3",
            "LRANGE l 0 -1",
            "RPUSH one only",
            "LREM one 0 only",
            "RPUSH two a b",
            "LTRIM two 5 10",
            "RPUSH three a b c",
            "LPOP three 10",
            "RPUSH src a b",
            "LMOVE src dst LEFT RIGHT",
            "RPOPLPUSH src dst",
            "LMOVE src dst LEFT RIGHT",
            "LMOVE dst dst LEFT RIGHT",
            "RPUSH single x",
            "LMOVE single single RIGHT LEFT",
            "LMPOP 2 nothing dst RIGHT COUNT 5",
            "LMPOP 1 nothing LEFT",
            "RPUSH bl a b",
            "BLPOP nothing bl 1",
            "BRPOP bl 1",
            "RPUSH bm a",
            "BLMOVE bm bmdst RIGHT LEFT 1",
            "RPUSH bmp a b c",
            "BLMPOP 1 2 nothing bmp LEFT COUNT 2",
            "BLMPOP 1 1 bmp RIGHT",
            "SADD str v",
            "LPUSH str x",
            "LPOP str",
            "LINSERT str BEFORE a b",
            "LREM str 0 x",
            "LTRIM str 0 1",
            "RPUSH lst a",
            "LMOVE lst str LEFT LEFT",
            "LMOVE str lst LEFT LEFT",
            "LMPOP 2 str lst LEFT",
            "LRANGE lst 0 -1",
        ],
    );
}

#[test]
fn blocked_list_pops_served_by_a_push_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    let (t, r) = (tandem.port, redis.port);
    assert_same_events_serving(t, r, &["BLPOP", "bl1", "0"], &["RPUSH bl1 a"]);
    assert_same_events_serving(t, r, &["BRPOP", "bl2", "0"], &["LPUSH bl2 a b"]);
    assert_same_events_serving(
        t,
        r,
        &["BLMOVE", "bl3", "bl3dst", "LEFT", "RIGHT", "0"],
        &["RPUSH bl3 a"],
    );
    assert_same_events_serving(
        t,
        r,
        &["BRPOPLPUSH", "bl4", "bl4dst", "0"],
        &["RPUSH bl4 a b"],
    );
    assert_same_events_serving(
        t,
        r,
        &["BLMPOP", "0", "2", "x", "bl5", "LEFT", "COUNT", "5"],
        &["RPUSH bl5 a b c"],
    );
    // A push into a list LMOVE'd from: the push serves the blocked pop.
    assert_same_events_serving(
        t,
        r,
        &["BLPOP", "bl6", "0"],
        &["RPUSH from6 a", "LMOVE from6 bl6 LEFT LEFT"],
    );
    assert_same_events_serving(t, r, &["BZPOPMIN", "bz1", "0"], &["ZADD bz1 1 a 2 b"]);
    assert_same_events_serving(
        t,
        r,
        &["BZMPOP", "0", "1", "bz2", "MAX", "COUNT", "3"],
        &["ZADD bz2 1 a 2 b"],
    );
    assert_same_events_serving_after(
        t,
        r,
        &["XGROUP CREATE bs1 g $ MKSTREAM"],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "newbie",
            "BLOCK",
            "0",
            "STREAMS",
            "bs1",
            ">",
        ],
        &["XADD bs1 5-1 f v"],
    );
    // A blocked XREADGROUP of a known consumer creates nothing.
    assert_same_events_serving_after(
        t,
        r,
        &[
            "XGROUP CREATE bs2 g $ MKSTREAM",
            "XGROUP CREATECONSUMER bs2 g old",
        ],
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "old",
            "BLOCK",
            "0",
            "STREAMS",
            "bs2",
            ">",
        ],
        &["XADD bs2 5-1 f v"],
    );
    // Pushes inside MULTI/EXEC or a script serve the blocked pop after all
    // of them ran.
    assert_same_events_serving(
        t,
        r,
        &["BLPOP", "bl8", "0"],
        &["MULTI", "RPUSH bl8 a", "RPUSH bl8 b", "LPUSH bl8 c", "EXEC"],
    );
    assert_same_events_serving(
        t,
        r,
        &["BRPOP", "bl10", "0"],
        &["EVAL redis.call('rpush','bl10','a','b');return(redis.call('lpop','bl10')) 0"],
    );
    // A blocked pop whose key is deleted and recreated as another type
    // stays blocked; a later push serves it.
    assert_same_events_serving(
        t,
        r,
        &["BLPOP", "bl7", "0"],
        &["SADD bl7 x", "SREM bl7 x", "LPUSH bl7 a b"],
    );
}

#[test]
fn hash_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEA",
        &[
            "HSET h a 1 b 2",
            "HSET h a 1",
            "HMSET h c 3",
            "HSETNX h a 9",
            "HSETNX h d 4",
            "HSETNX fresh f v",
            "HDEL h nothere",
            "HDEL missing a",
            "HDEL h a nothere",
            "HINCRBY h n 5",
            "HINCRBY h c -1",
            "HINCRBY h a1 x",
            "HSET h s str",
            "HINCRBY h s 1",
            "HINCRBYFLOAT h f 1.5",
            "HINCRBYFLOAT h s 1",
            "HINCRBYFLOAT h f inf",
            "HSET h big 9223372036854775807",
            "HINCRBY h big 1",
            "HINCRBY newh n 1",
            "HINCRBYFLOAT newf n 2.5",
            "HGET h a",
            "HDEL h b c d n s f big",
            "EXISTS h",
            "HDEL newh n",
            "RPUSH str v",
            "HSET str a 1",
            "HSETNX str a 1",
            "HDEL str a",
            "HINCRBY str a 1",
            "HINCRBYFLOAT str a 1",
            "HSET odd a",
        ],
    );
}

#[test]
fn set_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEAn",
        &[
            "SADD s 1 2 3",
            "SADD s 1",
            "SADD s 3 4",
            "SREM s nothere",
            "SREM missing 1",
            "SREM s 4 nothere",
            "SADD t 3 4 5",
            "SMOVE s t 1",
            "SMOVE s t 3",
            "SMOVE s t nothere",
            "SMOVE missing t 1",
            "SMOVE s s 2",
            "SADD last 9",
            "SMOVE last t 9",
            "EXISTS last",
            "SMOVE t brandnew 5",
            "SINTERSTORE i s t",
            "SINTERSTORE i s missing",
            "SINTERSTORE i s missing",
            "SADD x a",
            "SINTERSTORE i s x",
            "SUNIONSTORE u s t",
            "SUNIONSTORE u missing1 missing2",
            "SUNIONSTORE u missing1 missing2",
            "SDIFFSTORE d t s",
            "SDIFFSTORE d s s",
            "SDIFFSTORE d s s",
            "SADD p 1 2 3",
            "SPOP p 0",
            "SPOP p 10",
            "EXISTS p",
            "SPOP missing",
            "SPOP missing 2",
            "SADD q 7",
            "SPOP q",
            "SADD r 1 2",
            "SPOP r 2",
            "RPUSH str v",
            "SADD str a",
            "SREM str a",
            "SMOVE str t a",
            "SMOVE t str 4",
            "SPOP str",
            "SINTERSTORE i str",
            "SUNIONSTORE str s",
            "SMEMBERS str",
        ],
    );
    // SPOP of some of several members picks at random: the events agree
    // even though the replies may not.
    assert_same_events_only(
        tandem.port,
        redis.port,
        "KEA",
        &["SADD rnd 1 2 3 4 5", "SPOP rnd", "SPOP rnd 2", "SPOP rnd 5"],
    );
}

#[test]
fn sorted_set_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEA",
        &[
            "ZADD z 1 a 2 b 3 c",
            "ZADD z 1 a",
            "ZADD z NX 5 a",
            "ZADD z XX 5 a",
            "ZADD z XX CH 5 a",
            "ZADD z GT 1 a",
            "ZADD z LT 1 a",
            "ZADD missing XX 1 a",
            "ZADD z INCR 1 a",
            "ZADD z NX INCR 1 a",
            "ZINCRBY z 2 b",
            "ZINCRBY z 0 b",
            "ZINCRBY newz 1 m",
            "ZADD inf 1 a",
            "ZADD inf inf a",
            "ZINCRBY inf -inf a",
            "ZADD z nan a",
            "ZADD z 1",
            "ZREM z nothere",
            "ZREM missing a",
            "ZREM z a nothere",
            "ZADD r 1 a 2 b 3 c 4 d 5 e 6 f",
            "ZREMRANGEBYRANK r 10 20",
            "ZREMRANGEBYRANK r 0 0",
            "ZREMRANGEBYSCORE r 100 200",
            "ZREMRANGEBYSCORE r 2 3",
            "ZREMRANGEBYLEX r [x [z",
            "ZREMRANGEBYLEX r [d [e",
            "ZREMRANGEBYRANK missing 0 -1",
            "ZREMRANGEBYSCORE r x y",
            "ZREMRANGEBYRANK r 0 -1",
            "EXISTS r",
            "ZADD p 1 a 2 b 3 c 4 d",
            "ZPOPMIN p",
            "ZPOPMAX p 0",
            "ZPOPMAX p 2",
            "ZPOPMIN missing",
            "ZPOPMIN p 5",
            "ZADD m 1 a 2 b",
            "ZMPOP 2 missing m MIN",
            "ZMPOP 1 missing MAX",
            "ZMPOP 1 m MAX COUNT 9",
            "ZADD bz 1 a 2 b",
            "BZPOPMIN missing bz 1",
            "BZPOPMAX bz 1",
            "ZADD bzm 1 a 2 b",
            "BZMPOP 1 1 bzm MIN COUNT 5",
            "ZADD s1 1 a 2 b",
            "ZADD s2 2 b 3 c",
            "ZUNIONSTORE u 2 s1 s2",
            "ZINTERSTORE i 2 s1 s2",
            "ZDIFFSTORE d 2 s1 s2",
            "ZINTERSTORE i 2 s1 missing",
            "ZINTERSTORE i 2 s1 missing",
            "ZDIFFSTORE d 2 s1 s1",
            "ZUNIONSTORE u 1 missing",
            "ZRANGESTORE rs s1 0 -1",
            "ZRANGESTORE rs s1 5 10",
            "ZRANGESTORE rs s1 5 10",
            "ZRANGESTORE rs missing 0 -1",
            "SADD plain x y",
            "ZUNIONSTORE fromset 1 plain",
            "RPUSH str v",
            "ZADD str 1 a",
            "ZINCRBY str 1 a",
            "ZREM str a",
            "ZREMRANGEBYRANK str 0 -1",
            "ZPOPMIN str",
            "ZMPOP 1 str MIN",
            "ZUNIONSTORE u 2 s1 str",
            "ZRANGESTORE rs str 0 -1",
            "ZUNIONSTORE str 1 s1",
            "ZRANGE str 0 -1 WITHSCORES",
        ],
    );
}

#[test]
fn geo_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEAn",
        &[
            "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "GEOADD g 13.361389 38.115556 Palermo",
            "GEOADD g NX 1 1 Palermo",
            "GEOADD g XX CH 13.5 38.1 Palermo",
            "GEOADD g XX 1 1 Nowhere",
            "GEOADD g 500 500 Bad",
            "GEORADIUS g 15 37 200 km STORE r1",
            "GEORADIUS g 15 37 200 km STOREDIST r2",
            "GEORADIUS g 0 0 1 km STORE r1",
            "GEORADIUS g 0 0 1 km STORE r1",
            "GEORADIUS missing 0 0 1 km STORE r2",
            "GEORADIUS missing 0 0 1 km STORE r2",
            "GEORADIUSBYMEMBER g Palermo 300 km STORE r3",
            "GEORADIUSBYMEMBER g Palermo 300 km STORE r3 COUNT 1",
            "GEOSEARCHSTORE s4 g FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCHSTORE s4 g FROMLONLAT 15 37 BYBOX 400 400 km STOREDIST",
            "GEOSEARCHSTORE s4 g FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE s4 g FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE s5 missing FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEORADIUS g 15 37 200 km STORE r1 WITHDIST",
            "GEORADIUSBYMEMBER g Nobody 300 km STORE r3",
            "RPUSH str v",
            "GEOADD str 1 1 m",
            "GEORADIUS str 0 0 1 km STORE r1",
            "GEOSEARCHSTORE r1 str FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE str g FROMLONLAT 15 37 BYRADIUS 200 km",
            "ZRANGE str 0 -1",
        ],
    );
}

#[test]
fn stream_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEA",
        &[
            "XADD s 1-1 a 1",
            "XADD s 2-1 b 2",
            "XADD s 1-1 c 3",
            "XADD s 0-0 c 3",
            "XADD missing NOMKSTREAM 1-1 a 1",
            "XADD s MAXLEN 2 3-1 c 3",
            "XADD s MAXLEN 5 4-1 d 4",
            "XADD s MINID 3-1 5-1 e 5",
            "XTRIM s MAXLEN 10",
            "XTRIM s MAXLEN 2",
            "XTRIM missing MAXLEN 0",
            "XTRIM s MAXLEN x",
            "XDEL s 99-1",
            "XDEL missing 1-1",
            "XDEL s 4-1 99-1",
            "XSETID s 10-1",
            "XSETID s 1-1",
            "XSETID missing 1-1",
            "XGROUP CREATE s g 0",
            "XGROUP CREATE s g 0",
            "XGROUP CREATE nostream g 0",
            "XGROUP CREATE mk g $ MKSTREAM",
            "XGROUP SETID s g 0",
            "XGROUP SETID s nogroup 0",
            "XGROUP CREATECONSUMER s g alice",
            "XGROUP CREATECONSUMER s g alice",
            "XGROUP CREATECONSUMER s nogroup alice",
            "XREADGROUP GROUP g bob COUNT 1 STREAMS s >",
            "XREADGROUP GROUP g bob COUNT 1 STREAMS s >",
            "XREADGROUP GROUP g carol STREAMS s >",
            "XREADGROUP GROUP g dave STREAMS s 0",
            "XREADGROUP GROUP g erin NOACK STREAMS mk >",
            "XACK s g 3-1",
            "XACK s g 3-1",
            "XCLAIM s g frank 0 5-1",
            "XCLAIM s g grace 0 99-1",
            "XCLAIM s g bob 0 5-1 JUSTID",
            "XAUTOCLAIM s g heidi 0 0-0 COUNT 1",
            "XAUTOCLAIM s g ivan 99999999 0-0",
            "XGROUP DELCONSUMER s g nobody",
            "XGROUP DELCONSUMER s g alice",
            "XGROUP DESTROY s nogroup",
            "XGROUP DESTROY s g",
            "XLEN s",
            "XTRIM s MAXLEN 0",
            "EXISTS s",
            "RPUSH str v",
            "XADD str 1-1 a 1",
            "XTRIM str MAXLEN 0",
            "XDEL str 1-1",
            "XSETID str 1-1",
            "XGROUP CREATE str g 0",
            "XREADGROUP GROUP g x STREAMS str >",
        ],
    );
}

/// With `n`, a key a command creates is announced (`new`) before the
/// command's own event, in every family, and only when it is created.
#[test]
fn new_keys_of_every_family_are_announced_first() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    assert_same_events(
        tandem.port,
        redis.port,
        "KEAn",
        &[
            "RPUSH l1 a",
            "RPUSH l1 b",
            "LMOVE l1 l2 LEFT RIGHT",
            "LMOVE l1 l2 LEFT RIGHT",
            "LMOVE l2 l3 LEFT RIGHT",
            "LPUSHX l9 a",
            "HSET h1 f v",
            "HINCRBY h2 f 1",
            "HINCRBYFLOAT h3 f 1",
            "HSETNX h4 f v",
            "SADD s1 a",
            "SMOVE s1 s2 a",
            "SADD s3 b",
            "SINTERSTORE s4 s2 s2",
            "SUNIONSTORE s5 s2 s3",
            "SDIFFSTORE s6 s3 s2",
            "ZADD z1 1 a",
            "ZINCRBY z2 1 a",
            "ZADD z3 XX 1 a",
            "ZUNIONSTORE z4 1 z1",
            "ZRANGESTORE z5 z1 0 -1",
            "ZPOPMIN z5",
            "GEOADD g1 1 1 m",
            "GEOSEARCHSTORE g2 g1 FROMMEMBER m BYRADIUS 1 km",
            "GEORADIUS g1 1 1 1 km STORE g3",
            "XADD x1 1-1 f v",
            "XADD x2 NOMKSTREAM 1-1 f v",
            "XGROUP CREATE x3 g $ MKSTREAM",
            "XGROUP CREATE x4 g $",
        ],
    );
}

/// One random write of the families here, on a few shared keys (so that
/// types collide and WRONGTYPE happens), with members likely to repeat (so
/// that no-ops and emptied keys happen). Replies are deterministic: no
/// SPOP, no reads of hash-ordered sets. `ids` numbers stream entries.
fn random_command(rng: &mut Rng, ids: &mut u64) -> String {
    const MEMBERS: &[&str] = &["a", "b", "c", "1", "2"];
    let which = rng.below(44);
    // Each family has its keys, plus one key every family shares.
    let family = match which {
        0..=10 => "l",
        11..=14 => "h",
        15..=18 => "s",
        19..=31 => "z",
        _ => "x",
    };
    let key = |rng: &mut Rng| {
        if rng.percent(15) {
            "shared".to_string()
        } else {
            format!("{family}{}", rng.below(2))
        }
    };
    let (k, k2, k3) = (key(rng), key(rng), key(rng));
    let m = rng.pick(MEMBERS);
    let m2 = rng.pick(MEMBERS);
    let n = rng.between(0, 3);
    let i = rng.range(-3, 3);
    let j = rng.range(-3, 3);
    let end = rng.pick(&["LEFT", "RIGHT"]);
    *ids += 1;
    let id = format!("{ids}-1");
    let old = format!("{}-1", rng.between(1, *ids));
    match which {
        0 => format!("LPUSH {k} {m} {m2}"),
        1 => format!("RPUSH {k} {m}"),
        2 => format!("{} {k} {m}", rng.pick(&["LPUSHX", "RPUSHX"])),
        3 => format!("{} {k}", rng.pick(&["LPOP", "RPOP"])),
        4 => format!("{} {k} {n}", rng.pick(&["LPOP", "RPOP"])),
        5 => format!("LREM {k} {i} {m}"),
        6 => format!("LTRIM {k} {i} {j}"),
        7 => format!("LINSERT {k} {} {m} {m2}", rng.pick(&["BEFORE", "AFTER"])),
        8 => format!("LSET {k} {i} {m}"),
        9 => format!("LMOVE {k} {k2} {end} {}", rng.pick(&["LEFT", "RIGHT"])),
        10 => format!("LMPOP 2 {k} {k2} {end} COUNT {}", n + 1),
        11 => format!("HSET {k} {m} {m2}"),
        12 => format!("HDEL {k} {m} {m2}"),
        13 => format!("HINCRBY {k} {m} {i}"),
        14 => format!("HSETNX {k} {m} {m2}"),
        15 => format!("SADD {k} {m} {m2}"),
        16 => format!("SREM {k} {m} {m2}"),
        17 => format!("SMOVE {k} {k2} {m}"),
        18 => format!(
            "{} {k} {k2} {}",
            rng.pick(&["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]),
            k3
        ),
        19 => format!(
            "ZADD {k} {}{i} {m}",
            rng.pick(&["", "NX ", "XX ", "GT ", "LT ", "CH ", "XX CH "])
        ),
        20 => format!("ZINCRBY {k} {n} {m}"),
        21 => format!("ZREM {k} {m} {m2}"),
        22 => format!("ZREMRANGEBYRANK {k} {i} {j}"),
        23 => format!("ZREMRANGEBYSCORE {k} {i} {j}"),
        24 => format!("ZREMRANGEBYLEX {k} [{m} [{m2}"),
        25 => format!("{} {k} {n}", rng.pick(&["ZPOPMIN", "ZPOPMAX"])),
        26 => format!(
            "ZMPOP 2 {k} {k2} {} COUNT {}",
            rng.pick(&["MIN", "MAX"]),
            n + 1
        ),
        27 => format!(
            "{} {k} 2 {k2} {}",
            rng.pick(&["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"]),
            k3
        ),
        28 => format!("ZRANGESTORE {k} {k2} {i} {j}"),
        29 => format!("GEOADD {k} {}.5 {}.5 {m}", i + 10, j + 10),
        30 => format!(
            "GEOSEARCHSTORE {k} {k2} FROMLONLAT 10 10 BYRADIUS {} km",
            n * 200
        ),
        31 => format!("GEORADIUS {k2} 10 10 {} km STORE {k}", n * 200),
        32 => format!("XADD {k} {id} {m} {m2}"),
        33 => format!("XADD {k} MAXLEN {n} {id} {m} {m2}"),
        34 => format!("XTRIM {k} MAXLEN {n}"),
        35 => format!("XDEL {k} {old}"),
        36 => format!(
            "XGROUP CREATE {k} g 0{}",
            if n == 0 { " MKSTREAM" } else { "" }
        ),
        37 => format!("XGROUP CREATECONSUMER {k} g {m}"),
        38 => format!("XGROUP DELCONSUMER {k} g {m}"),
        39 => format!("XGROUP DESTROY {k} g"),
        40 => format!("XREADGROUP GROUP g {m} COUNT 1 STREAMS {k} >"),
        41 => format!("XCLAIM {k} g {m} 0 {old} JUSTID"),
        42 => format!("XAUTOCLAIM {k} g {m} 0 0-0 COUNT 1 JUSTID"),
        _ => format!("XSETID {k} {id}"),
    }
}

/// Seeded random writes of every family here: both servers publish the
/// same events and give the same replies. `TANDEM_NOTIFY_SEED` and
/// `TANDEM_NOTIFY_STEPS` override the seeds and the script length.
#[test]
fn random_type_commands_raise_redis_events() {
    let Some((tandem, redis)) = pair() else {
        return;
    };
    let steps = env_count("TANDEM_NOTIFY_STEPS", 400);
    for seed in env_seeds("TANDEM_NOTIFY_SEED", &[1, 2, 3, 0x5eed]) {
        println!("seed {seed} ({steps} commands)");
        let mut rng = Rng::new(seed);
        let mut ids = 0;
        let lines: Vec<String> = (0..steps)
            .map(|_| random_command(&mut rng, &mut ids))
            .collect();
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        // A fresh dataset per seed (FLUSHALL raises no keyspace event).
        for port in [tandem.port, redis.port] {
            Client::connect(port).expect("connect").q(&["FLUSHALL"]);
        }
        let classes = if seed % 2 == 0 { "KEA" } else { "KEAn" };
        let commands = script(&lines);
        let ours = capture(tandem.port, classes, &commands);
        let theirs = capture(redis.port, classes, &commands);
        if let Some(at) = (0..ours.len().max(theirs.len())).find(|&i| ours.get(i) != theirs.get(i))
        {
            let from = at.saturating_sub(6);
            panic!(
                "seed {seed}: first difference at line {at} (rerun with TANDEM_NOTIFY_SEED={seed})\n\
                 tandem: {:#?}\nredis: {:#?}",
                &ours[from.min(ours.len())..(at + 6).min(ours.len())],
                &theirs[from.min(theirs.len())..(at + 6).min(theirs.len())],
            );
        }
        // The script must exercise the events, not only errors.
        let events = theirs.iter().filter(|l| !l.starts_with("> ")).count();
        println!("seed {seed}: {events} event messages");
        assert!(events >= steps / 2, "seed {seed}: only {events} events");
    }
}
