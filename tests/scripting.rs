//! Lua scripting against real processes: EVAL/EVALSHA/SCRIPT replies equal
//! redis-server 7.0's for the same scripts (errors included), a script's
//! effects replicate to a real redis-server replica and a tandem replica,
//! scripts inside MULTI and against WATCH behave as in Redis, and a runaway
//! read-only script is stopped instead of hanging the server.

mod common;

use std::time::Duration;

use common::{assert_converged, info_field, render, wait_until, Client, ServerProcess};

/// Scripts whose replies must be byte-for-byte Redis's, run in order on one
/// connection (later ones see earlier ones' keys).
const CASES: &[&[&str]] = &[
    &[
        "EVAL",
        "return redis.call('set',KEYS[1],ARGV[1])",
        "1",
        "k",
        "v",
    ],
    &["EVAL", "return redis.call('get',KEYS[1])", "1", "k"],
    &["EVAL", "return redis.call('incr','a','b')", "0"],
    &["EVAL", "error('boom')", "0"],
    &["EVAL", "x = 1", "0"],
    &["EVAL", "return undefined_global", "0"],
    &["EVAL", "return {1,2,{3,'x'},nil,4}", "0"],
    &["EVAL", "return redis.call('nosuch')", "0"],
    &[
        "EVAL",
        "local ok, e = pcall(redis.call, 'nosuch'); return e",
        "0",
    ],
    &["EVAL", "return 3.99", "0"],
    &["EVAL", "return -3.5", "0"],
    &["EVAL", "return 1e20", "0"],
    &["EVAL", "return {err='x'}", "0"],
    &["EVAL", "return redis.error_reply('MY bad')", "0"],
    &["EVAL", "return redis.status_reply('FINE')", "0"],
    &["EVAL", "return {ok='fine'}", "0"],
    &["EVAL", "return tostring(math.random())", "0"],
    &["EVAL", "return tostring(math.random(100))", "0"],
    &[
        "EVAL",
        "math.randomseed(42); return {math.random(1, 1000), math.random(7)}",
        "0",
    ],
    &["EVAL", "return 'x' ..", "0"],
    &["EVAL", "return redis.call('lpush','k','x')", "0"],
    &["EVAL", "return redis.pcall('lpush','k','x')", "0"],
    &["EVAL", "return redis.call('hset','h','a',1.5,'b',10)", "0"],
    &["EVAL", "return redis.call('hgetall','h')", "0"],
    &["EVAL", "return redis.call('get','nokey') == false", "0"],
    &["EVAL", "return {1,true,false,'a'}", "0"],
    &["EVAL", "return KEYS", "2", "a", "b", "c", "d"],
    &["EVAL", "return ARGV", "2", "a", "b", "c", "d"],
    &["EVAL", "return 1", "3", "a", "b"],
    &["EVAL", "return 1", "-1"],
    &["EVAL", "return 1", "x"],
    &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
    &["SCRIPT", "LOAD", "return 'loaded'"],
    &["EVALSHA", "b534286061d4b9e4026607613b95c06c06015ae8", "0"],
    &["EVALSHA", "B534286061D4B9E4026607613B95C06C06015AE8", "0"],
    &[
        "SCRIPT",
        "EXISTS",
        "b534286061d4b9e4026607613b95c06c06015ae8",
        "ffff",
    ],
    &["EVAL", "return redis.sha1hex('abc')", "0"],
    &["EVAL", "return redis.call('set','x')", "0"],
    &["EVAL", "return redis.call('multi')", "0"],
    &["EVAL", "return redis.call('blpop','nolist', 0)", "0"],
    &["EVAL", "return redis.call()", "0"],
    &["EVAL", "return redis.call({})", "0"],
    &["EVAL_RO", "return redis.call('set','a','b')", "0"],
    &["EVAL_RO", "return redis.call('get','k')", "0"],
    &[
        "EVAL",
        "#!lua flags=no-writes\nreturn redis.call('set','a','b')",
        "0",
    ],
    &["EVAL", "#!lua\nreturn redis.call('set','a','b')", "0"],
    &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
    &["EVAL", "#!py\nreturn 1", "0"],
    &["EVAL", "return redis.call('zadd','z',1.5,'a')", "0"],
    &[
        "EVAL",
        "return redis.call('zrange','z',0,-1,'withscores')",
        "0",
    ],
    &[
        "EVAL",
        "redis.setresp(3); return redis.call('hgetall','h')",
        "0",
    ],
    &["EVAL", "redis.setresp(5)", "0"],
    &["EVAL", "return bit.band(0xff, 0x0f, 0x3c)", "0"],
    &["EVAL", "return bit.tohex(-1, -4)", "0"],
    &["EVAL", "return bit.band('x')", "0"],
    &["EVAL", "return cjson.encode({1,2,'a',{x=1}})", "0"],
    &["EVAL", "return cjson.encode({a='b/c', n=1.5})", "0"],
    &[
        "EVAL",
        "return cjson.encode(cjson.decode('{\"k\":[1,2,3]}'))",
        "0",
    ],
    &["EVAL", "return cjson.decode('[1,2')", "0"],
    &["EVAL", "return cjson.encode(function() end)", "0"],
    // A big number's line breaks become spaces.
    &["EVAL", "return {big_number='123\\r\\n123'}", "0"],
    &["EVAL", "return {verbatim_string={format='txt', string='abc'}}", "0"],
    // The sandbox: globals, their metatable and the libraries are read-only,
    // and compiled chunks do not load.
    &["EVAL", "setmetatable(_G, {})", "0"],
    &["EVAL", "local g = getmetatable(_G) g.__index = {}", "0"],
    &["EVAL", "cjson.encode = function() return 1 end", "0"],
    &["EVAL", "cmsgpack.pack = function() return 1 end", "0"],
    &["EVAL", "bit.lshift = function() return 1 end", "0"],
    &["EVAL", "redis.call = 1", "0"],
    &["EVAL", "string.x = 1", "0"],
    &["EVAL", "rawset(_G, 'x', 1)", "0"],
    &["EVAL", "return {pcall(setmetatable, redis, {})}", "0"],
    &["EVAL", "return loadstring(string.dump(function() return 1 end))()", "0"],
    // lua-cjson's settings last for the interpreter; each case restores them.
    &["EVAL", "cjson.encode_max_depth(1) local ok, e = pcall(cjson.encode, {a={1}}) cjson.encode_max_depth(1000) return {tostring(ok), e}", "0"],
    &["EVAL", "cjson.decode_max_depth(1) local ok, e = pcall(cjson.decode, '[[1]]') cjson.decode_max_depth(1000) return {tostring(ok), e}", "0"],
    &["EVAL", "cjson.encode_invalid_numbers(true) local a = cjson.encode({1/0, -1/0}) cjson.encode_invalid_numbers('null') local b = cjson.encode({1/0}) return {a, b, tostring(cjson.encode_invalid_numbers(false))}", "0"],
    &["EVAL", "cjson.encode_number_precision(3) local e = cjson.encode({3.14159}) cjson.encode_number_precision(14) return e", "0"],
    &["EVAL", "cjson.encode_sparse_array(true) local e = cjson.encode({[1]=1, [20]=2}) cjson.encode_sparse_array(false) return {e, cjson.encode_sparse_array()}", "0"],
    &["EVAL", "local t = cjson.decode('[inf, -Infinity]') return {tostring(t[1]), tostring(t[2])}", "0"],
    &["EVAL", "return {pcall(cjson.encode_max_depth, 0)}", "0"],
    &["EVAL", "return {pcall(cjson.encode_keep_buffer, 'x')}", "0"],
    &[
        "EVAL",
        "redis.call('select', 5); return redis.call('set','in5','v')",
        "0",
    ],
    &["EVAL", "return redis.call('exists', 'in5')", "0"],
    &["EVAL", "_G.x = 5", "0"],
    &["EVAL", "redis.call = nil", "0"],
    &["EVAL", "print('x')", "0"],
    &["EVAL", "return redis.call('echo', 3.14159)", "0"],
    &["EVAL", "return redis.call('eval', 'return 1', 0)", "0"],
    &["SCRIPT", "FLUSH"],
    &[
        "SCRIPT",
        "EXISTS",
        "b534286061d4b9e4026607613b95c06c06015ae8",
    ],
    &["SCRIPT", "KILL"],
    &["SCRIPT", "FLUSH", "BOGUS"],
];

#[test]
fn script_replies_match_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    for case in CASES {
        let (ours, theirs) = (t.q(case), r.q(case));
        assert_eq!(ours, theirs, "reply to {case:?} differs from redis-server");
    }
    assert_eq!(t.q(&["DEBUG", "DIGEST"]), r.q(&["DEBUG", "DIGEST"]));
}

/// Writes of several types from scripts, some of which fail part way: what
/// ran before the error stays, on the primary and on its replicas.
fn scripted_writes(c: &mut Client, round: usize) {
    let n = round.to_string();
    let script = "
        local n = tonumber(ARGV[1])
        redis.call('INCRBY', KEYS[1], n)
        redis.call('HSET', KEYS[2], 'f' .. n, math.random(1000000))
        redis.call('RPUSH', KEYS[3], n, n * 2)
        redis.call('ZADD', KEYS[4], n / 3, 'm' .. n)
        redis.call('SADD', KEYS[5], n % 7)
        redis.call('SET', 'ttl:' .. n, n, 'EX', 1000)
        redis.call('EXPIRE', KEYS[3], 5000)
        if n % 5 == 0 then redis.call('LPUSH', KEYS[2], 'wrong type') end
        return n";
    let reply = c.q(&[
        "EVAL", script, "5", "counter", "hash", "list", "zset", "set", &n,
    ]);
    if round.is_multiple_of(5) {
        assert!(reply.starts_with("-WRONGTYPE"), "{reply}");
    } else {
        assert_eq!(reply, format!(":{round}"));
    }
    // Through the cache, and with a SELECT that must not leak to the caller.
    let sha = c.q(&[
        "SCRIPT",
        "LOAD",
        "redis.call('SELECT', 2); redis.call('SET', KEYS[1], ARGV[1]); return redis.call('DBSIZE')",
    ]);
    let sha = sha
        .trim_start_matches('"')
        .trim_end_matches('"')
        .to_string();
    let key = format!("in-db2:{round}");
    c.q(&["EVALSHA", &sha, "1", &key, &n]);
    assert_eq!(
        c.q(&["EXISTS", &key]),
        ":0",
        "SELECT leaked out of the script"
    );
}

#[test]
fn script_effects_replicate_to_redis_and_tandem_replicas() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let mut p = primary.client();
    let tandem_replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let mut tr = tandem_replica.client();
    let redis_replica = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut rr = redis_replica.as_ref().map(ServerProcess::client);
    for c in std::iter::once(&mut tr).chain(rr.as_mut()) {
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(c, "replication", "master_link_status").as_deref() == Some("up")
        }));
    }
    for round in 1..=30 {
        scripted_writes(&mut p, round);
    }
    assert_ne!(p.q(&["DEBUG", "DIGEST"]), format!("+{}", "0".repeat(40)));
    assert_converged(&mut p, &mut tr);
    if let Some(rr) = rr.as_mut() {
        assert_converged(&mut p, rr);
    }
    // The script itself never reached the stream: replicas cannot run it.
    assert_eq!(
        tr.q(&[
            "SCRIPT",
            "EXISTS",
            "0000000000000000000000000000000000000000"
        ]),
        "[:0]"
    );
    // A replica refuses a script's write as it refuses any write.
    let refused = tr.q(&["EVAL", "return redis.call('SET', 'x', 1)", "0"]);
    assert!(refused.starts_with("-READONLY"), "{refused}");
    assert_eq!(
        tr.q(&["EVAL_RO", "return redis.call('GET', 'counter')", "0"]),
        p.q(&["GET", "counter"])
    );
}

#[test]
fn scripts_inside_multi_and_under_watch() {
    let server = ServerProcess::tandem(&[]);
    let mut a = server.client();
    let mut b = server.client();
    assert_eq!(a.q(&["MULTI"]), "+OK");
    assert_eq!(
        a.q(&["EVAL", "return redis.call('INCR', KEYS[1])", "1", "n"]),
        "+QUEUED"
    );
    assert_eq!(a.q(&["INCR", "n"]), "+QUEUED");
    assert_eq!(a.q(&["EXEC"]), "[:1, :2]");

    // A script's write to a watched key aborts the watcher's transaction.
    assert_eq!(a.q(&["WATCH", "n"]), "+OK");
    b.q(&["EVAL", "return redis.call('INCR', 'n')", "0"]);
    a.q(&["MULTI"]);
    a.q(&["GET", "n"]);
    assert_eq!(a.q(&["EXEC"]), "(nil)");
}

/// Waits until `c` gets `-BUSY` for PING: the script on another connection
/// has run past busy-reply-threshold.
fn wait_busy(c: &mut Client) {
    assert!(
        wait_until(Duration::from_secs(10), || c
            .q(&["PING"])
            .starts_with("-BUSY")),
        "the server never turned busy"
    );
}

#[test]
fn a_busy_read_only_script_answers_busy_and_dies_by_script_kill() {
    let server = ServerProcess::tandem(&["--busy-reply-threshold", "100"]);
    let mut runner = server.client();
    let mut other = server.client();
    runner
        .send(&["EVAL", "local i = 0 while true do i = i + 1 end", "0"])
        .expect("send");
    wait_busy(&mut other);
    let busy = other.q(&["GET", "k"]);
    assert!(
        busy.contains("You can only call SCRIPT KILL or SHUTDOWN NOSAVE"),
        "{busy}"
    );
    let stats = other.q(&["FUNCTION", "STATS"]);
    assert!(stats.contains("running_script"), "{stats}");
    assert!(stats.contains("local i = 0"), "{stats}");
    assert!(other.q(&["FUNCTION", "KILL"]).starts_with("-BUSY"));
    // HELLO needs no data: answered while busy; CLIENT is still refused.
    let hello = other.q(&["HELLO", "2", "SETNAME", "waiter"]);
    assert!(hello.contains("standalone"), "{hello}");
    assert_eq!(
        server.client().q(&["CLIENT", "GETNAME"]).get(..1),
        Some("-")
    );
    assert_eq!(other.q(&["SCRIPT", "KILL"]), "+OK");
    let killed = render(&runner.read().expect("the script's reply"));
    assert!(
        killed.contains("Script killed by user with SCRIPT KILL"),
        "{killed}"
    );
    assert_eq!(other.q(&["PING"]), "+PONG");
    assert_eq!(
        other.q(&["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now."
    );
    assert!(
        server.log().contains("Slow script detected"),
        "{}",
        server.log()
    );

    // pcall cannot catch the kill.
    runner
        .send(&[
            "EVAL",
            "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
            "0",
        ])
        .expect("send");
    wait_busy(&mut other);
    assert_eq!(other.q(&["SCRIPT", "KILL"]), "+OK");
    let killed = render(&runner.read().expect("the script's reply"));
    assert!(killed.contains("Script killed by user"), "{killed}");
    assert_eq!(runner.q(&["PING"]), "+PONG");
}

#[test]
fn a_busy_function_dies_by_function_kill_only() {
    let server = ServerProcess::tandem(&["--busy-reply-threshold", "100"]);
    let mut runner = server.client();
    let mut other = server.client();
    let library = "#!lua name=spin\nredis.register_function('spin', function() local a = 1 while true do a = a + 1 end end)";
    assert_eq!(runner.q(&["FUNCTION", "LOAD", library]), "\"spin\"");
    runner.send(&["FCALL", "spin", "0"]).expect("send");
    wait_busy(&mut other);
    let busy = other.q(&["PING"]);
    assert!(busy.contains("FUNCTION KILL"), "{busy}");
    let stats = other.q(&["FUNCTION", "STATS"]);
    assert!(stats.contains("\"spin\""), "{stats}");
    assert!(stats.contains("libraries_count"), "{stats}");
    assert!(other.q(&["SCRIPT", "KILL"]).starts_with("-BUSY"));
    assert_eq!(other.q(&["FUNCTION", "KILL"]), "+OK");
    let killed = render(&runner.read().expect("the function's reply"));
    assert!(killed.contains("killed by user"), "{killed}");
    assert_eq!(other.q(&["FCALL_RO", "spin", "0"]).get(..1), Some("-"));
}

#[test]
fn a_busy_script_that_wrote_survives_script_kill_but_not_shutdown_nosave() {
    let dir = common::TempDir::new("busy-nosave");
    let d = dir.path().display().to_string();
    let mut server = ServerProcess::tandem(&[
        "--busy-reply-threshold",
        "100",
        "--dir",
        &d,
        "--appendonly",
        "yes",
    ]);
    let mut runner = server.client();
    let mut other = server.client();
    assert_eq!(other.q(&["SET", "before", "1"]), "+OK");
    runner
        .send(&["EVAL", "redis.call('SET', 'x', 'y') while true do end", "0"])
        .expect("send");
    wait_busy(&mut other);
    let refused = other.q(&["SCRIPT", "KILL"]);
    assert!(refused.starts_with("-UNKILLABLE"), "{refused}");
    assert!(other.q(&["SHUTDOWN"]).starts_with("-BUSY"));
    let _ = other.cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    assert!(Client::connect(server.port).is_err());
    drop(server);

    // The acknowledged write is in the AOF; the script's half never was.
    let server = ServerProcess::tandem(&["--dir", &d, "--appendonly", "yes"]);
    let mut c = server.client();
    assert_eq!(c.q(&["GET", "before"]), "\"1\"");
    assert_eq!(c.q(&["GET", "x"]), "(nil)");
}

#[test]
fn thousands_of_distinct_scripts_stay_cached() {
    // More distinct scripts than mlua could hold as handles at once.
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();
    for i in 0..10_000 {
        let script = format!("return {i}");
        assert_eq!(c.q(&["EVAL", &script, "0"]), format!(":{i}"));
    }
    let sha = c.q(&["SCRIPT", "LOAD", "return 9999"]);
    let sha = sha.trim_matches('"');
    assert_eq!(c.q(&["EVALSHA", sha, "0"]), ":9999");
    let cached = info_field(&mut c, "memory", "number_of_cached_scripts");
    assert_eq!(cached.as_deref(), Some("10000"));
}

#[test]
fn acl_check_cmd_answers_as_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    for server in [&tandem, &redis] {
        let mut admin = server.client();
        let setup = [
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">123",
            "+@scripting",
            "+set",
            "~x*",
        ];
        assert_eq!(admin.q(&setup), "+OK");
    }
    let (mut t, mut r) = (tandem.client(), redis.client());
    assert_eq!(t.q(&["AUTH", "bob", "123"]), r.q(&["AUTH", "bob", "123"]));
    for script in [
        "return redis.acl_check_cmd('set','xx',1)",
        "return redis.acl_check_cmd('hset','xx','f',1)",
        "return redis.acl_check_cmd('set','yy',1)",
        "return redis.acl_check_cmd('config','get','x')",
        "return redis.acl_check_cmd('invalid-cmd','arg')",
        "return redis.acl_check_cmd()",
        "return redis.acl_check_cmd({})",
    ] {
        let case = ["EVAL", script, "1", "xx"];
        let (ours, theirs) = (t.q(&case), r.q(&case));
        // The SHA in an error names the same script on both.
        assert_eq!(ours, theirs, "{script}");
    }
    // More arguments than a C function may push (7999 + 2), as Redis allows.
    let many =
        "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.call('lpush', 'xl', unpack(a))";
    assert_eq!(t.q(&["EVAL", many, "0"]), r.q(&["EVAL", many, "0"]));
}
