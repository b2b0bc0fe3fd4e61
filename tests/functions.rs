//! Redis 7.0 functions against real processes: FUNCTION and FCALL replies
//! equal redis-server's for the same calls (errors included), libraries
//! replicate to a redis-server and a tandem replica (by the stream and by a
//! full sync's RDB), and survive a restart through the RDB file.

mod common;

use std::time::Duration;

use common::{assert_converged, info_field, wait_until, Client, ServerProcess};

// One function per library where FUNCTION LIST shows it: Redis lists a
// library's functions (and libraries) in its hash tables' seeded order.
const MYLIB: &str = "#!lua name=mylib
redis.register_function('myfunc', function(keys, args) return redis.call('set', keys[1], args[1]) end)";

const ROLIB: &str = "#!lua name=rolib
redis.register_function{function_name='ro', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";

const LIB16: &str = "#!lua name=lib16
redis.register_function('f16', function(keys, args) error('inside') end)
redis.register_function('f17', function(keys, args) return redis.call('nosuch') end)
redis.register_function('f18', function(keys, args) return {keys[1], args[1], #keys, #args} end)
redis.register_function{function_name='f19', callback=function(keys, args) return redis.call('set', 'ro', 'x') end, flags={'no-writes', 'allow-stale'}}";

/// Calls whose replies must be byte-for-byte Redis's, in order.
const CASES: &[&[&str]] = &[
    &["FUNCTION", "LOAD", MYLIB],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "LIST", "WITHCODE"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "my*"],
    &["FUNCTION", "LOAD", ROLIB],
    &["FUNCTION", "LIST", "LIBRARYNAME", "ro*"],
    &["FCALL", "myfunc", "1", "k", "v"],
    &["FCALL", "ro", "1", "k"],
    &["FCALL_RO", "ro", "1", "k"],
    &["FCALL_RO", "myfunc", "1", "k", "v"],
    &["FCALL", "nosuch", "0"],
    &["FCALL", "myfunc", "x"],
    &["FCALL", "myfunc", "3", "a"],
    &["FCALL", "myfunc", "-1"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "nomatch"],
    &["FUNCTION", "LIST", "LIBRARYNAME"],
    &["FUNCTION", "LIST", "BOGUS"],
    &["FUNCTION", "STATS"],
    &["FUNCTION", "LOAD", "#!lua name=mylib\nredis.register_function('other', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib2\nredis.register_function('myfunc', function() return 1 end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib3\nreturn 1"],
    &["FUNCTION", "LOAD", "#!lua name=lib4\nredis.call('set','a','b')"],
    &["FUNCTION", "LOAD", "#!lua name=lib5\nredis.register_function('f5')"],
    &["FUNCTION", "LOAD", "#!lua name=lib6\nredis.register_function('f 6', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib7\nredis.register_function('f7', function() end)\nredis.register_function('f7', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib8\nredis.register_function{function_name='f8', callback=function() end, flags={'bogus'}}"],
    &["FUNCTION", "LOAD", "#!lua name=lib9\nerror('boom')"],
    &["FUNCTION", "LOAD", "#!lua name=lib10\nx = 1"],
    &["FUNCTION", "LOAD", "#!lua name=lib11\nlocal s = string.format('%d', 1)"],
    &["FUNCTION", "LOAD", "#!py name=lib12\n"],
    &["FUNCTION", "LOAD", "#!lua\nredis.register_function('f13', function() end)"],
    &["FUNCTION", "LOAD", "return 1"],
    &["FUNCTION", "LOAD", "#!lua name=bad-name\nredis.register_function('f14', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib15 foo=bar\nredis.register_function('f15', function() end)"],
    &["FUNCTION", "LOAD", "#!lua name=lib20\nredis.register_function('f20', function() end"],
    &["FUNCTION", "LOAD", LIB16],
    &["FCALL", "f16", "0"],
    &["FCALL", "f17", "0"],
    &["FCALL", "f18", "2", "a", "b", "c"],
    &["FCALL", "f19", "0"],
    &["FCALL_RO", "f19", "0"],
    &["FUNCTION", "LOAD", "REPLACE", "#!lua name=mylib\nredis.register_function('myfunc2', function(keys, args) return 'replaced' end)"],
    &["FCALL", "myfunc", "0"],
    &["FCALL", "myfunc2", "0"],
    &["FUNCTION", "LOAD", "BOGUS", "#!lua name=x"],
    &["FUNCTION", "DELETE", "nosuch"],
    &["FUNCTION", "DELETE", "lib16"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "lib*"],
    &["FUNCTION", "LIST", "LIBRARYNAME", "my*", "WITHCODE"],
    &["FUNCTION", "RESTORE", "garbage"],
    &["FUNCTION", "RESTORE", "garbage", "BOGUS"],
    &["FUNCTION", "RESTORE", "a", "b", "c"],
    &["FUNCTION", "FLUSH", "BOGUS"],
    &["FUNCTION", "FLUSH"],
    &["FUNCTION", "LIST"],
    &["FUNCTION", "KILL"],
];

#[test]
fn function_replies_match_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let mut differences = Vec::new();
    for case in CASES {
        let (ours, theirs) = (t.q(case), r.q(case));
        if ours != theirs {
            differences.push(format!("{case:?}\n  tandem: {ours}\n  redis:  {theirs}"));
        }
    }
    assert!(
        differences.is_empty(),
        "replies differ from redis-server:\n{}",
        differences.join("\n")
    );
    assert_eq!(t.q(&["DEBUG", "DIGEST"]), r.q(&["DEBUG", "DIGEST"]));
}

fn load_library(c: &mut Client) {
    let lib = "#!lua name=counters
redis.register_function('bump', function(keys, args)
  redis.call('INCRBY', keys[1], args[1])
  redis.call('HSET', keys[2], args[1], redis.call('GET', keys[1]))
  return redis.call('GET', keys[1])
end)";
    assert_eq!(c.q(&["FUNCTION", "LOAD", lib]), "\"counters\"");
}

#[test]
fn libraries_replicate_by_stream_and_by_full_sync() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let mut p = primary.client();
    // Loaded before the replicas attach: it travels in the RDB.
    load_library(&mut p);
    let tandem_replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let redis_replica = ServerProcess::redis(&["--replicaof", "127.0.0.1", &port]);
    let mut replicas: Vec<Client> = std::iter::once(tandem_replica.client())
        .chain(redis_replica.as_ref().map(ServerProcess::client))
        .collect();
    for r in &mut replicas {
        assert!(wait_until(Duration::from_secs(20), || {
            info_field(r, "replication", "master_link_status").as_deref() == Some("up")
        }));
    }
    // Loaded after: it travels in the stream.
    let lib2 = "#!lua name=later\nredis.register_function{function_name='peek', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}}";
    assert_eq!(p.q(&["FUNCTION", "LOAD", lib2]), "\"later\"");
    for i in 1..=20 {
        let n = i.to_string();
        assert_eq!(
            p.q(&["FCALL", "bump", "2", "c", "h", &n]),
            format!("\"{}\"", i * (i + 1) / 2)
        );
    }
    for r in &mut replicas {
        assert_converged(&mut p, r);
        assert_eq!(r.q(&["FCALL_RO", "peek", "1", "c"]), "\"210\"");
        let refused = r.q(&["FCALL", "bump", "2", "c", "h", "1"]);
        assert!(refused.starts_with("-READONLY"), "{refused}");
    }
    assert_eq!(p.q(&["FUNCTION", "DELETE", "later"]), "+OK");
    for r in &mut replicas {
        assert!(wait_until(Duration::from_secs(10), || {
            r.q(&["FCALL_RO", "peek", "1", "c"]) == "-ERR Function not found"
        }));
    }
}

#[test]
fn libraries_survive_a_restart_through_the_rdb() {
    let data = common::TempDir::new("functions-rdb");
    let dir_s = data.path().display().to_string();
    let server = ServerProcess::tandem(&["--dir", &dir_s]);
    let mut c = server.client();
    load_library(&mut c);
    assert_eq!(c.q(&["SAVE"]), "+OK");
    drop(c);
    drop(server);
    let again = ServerProcess::tandem(&["--dir", &dir_s]);
    let mut c = again.client();
    assert_eq!(c.q(&["FCALL", "bump", "2", "c", "h", "5"]), "\"5\"");
    // A real redis-server reads the same file's library.
    let Some(redis) = ServerProcess::redis(&["--dir", &dir_s]) else {
        return;
    };
    let mut r = redis.client();
    assert_eq!(r.q(&["FCALL", "bump", "2", "c", "h", "5"]), "\"5\"");
}

#[test]
fn a_library_may_register_thousands_of_functions() {
    let server = ServerProcess::tandem(&[]);
    let mut c = server.client();
    let lib = "#!lua name=many
for i = 1, 9000 do
  redis.register_function('f' .. i, function() return i end)
end";
    assert_eq!(c.q(&["FUNCTION", "LOAD", lib]), "\"many\"");
    assert_eq!(c.q(&["FCALL", "f8999", "0"]), ":8999");
    assert_eq!(c.q(&["FCALL", "f1", "0"]), ":1");
    assert_eq!(
        info_field(&mut c, "memory", "number_of_functions").as_deref(),
        Some("9000")
    );
    // Replacing the library drops the old functions.
    let lib = "#!lua name=many\nredis.register_function('only', function() return 'one' end)";
    assert_eq!(c.q(&["FUNCTION", "LOAD", "REPLACE", lib]), "\"many\"");
    assert_eq!(c.q(&["FCALL", "f1", "0"]), "-ERR Function not found");
    assert_eq!(c.q(&["FCALL", "only", "0"]), "\"one\"");
}

/// FUNCTION DUMP of one server RESTOREs on the other, both ways, under each
/// policy; the payload format is Redis's.
#[test]
fn function_dump_restores_across_servers() {
    let tandem = ServerProcess::tandem(&[]);
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let (mut t, mut r) = (tandem.client(), redis.client());
    let bytes = |c: &mut Client, args: &[&str]| match c.cmd(args).expect("reply") {
        tandem_server::resp::Frame::Bulk(b) => b.to_vec(),
        other => panic!("{args:?}: {other:?}"),
    };
    let raw = |c: &mut Client, args: &[&[u8]]| {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        c.send_raw(&out).expect("send");
        common::render(&c.read().expect("reply"))
    };
    load_library(&mut t);
    assert_eq!(r.q(&["FUNCTION", "LOAD", MYLIB]), "\"mylib\"");
    // tandem -> redis, appended next to redis's own library.
    let ours = bytes(&mut t, &["FUNCTION", "DUMP"]);
    assert_eq!(raw(&mut r, &[b"FUNCTION", b"RESTORE", &ours]), "+OK");
    assert_eq!(r.q(&["FCALL", "bump", "2", "c", "h", "3"]), "\"3\"");
    // Appending again fails the way Redis says; REPLACE and FLUSH succeed.
    let again = raw(&mut r, &[b"FUNCTION", b"RESTORE", &ours]);
    assert_eq!(again, raw(&mut t, &[b"FUNCTION", b"RESTORE", &ours]));
    assert_eq!(
        raw(&mut t, &[b"FUNCTION", b"RESTORE", &ours, b"REPLACE"]),
        "+OK"
    );
    // redis -> tandem, flushing tandem's libraries first.
    let theirs = bytes(&mut r, &["FUNCTION", "DUMP"]);
    assert_eq!(
        raw(&mut t, &[b"FUNCTION", b"RESTORE", &theirs, b"FLUSH"]),
        "+OK"
    );
    assert_eq!(t.q(&["FCALL", "myfunc", "1", "k", "v"]), "+OK");
    assert_eq!(t.q(&["FCALL", "bump", "2", "c", "h", "3"]), "\"3\"");
    assert_eq!(
        t.q(&["FUNCTION", "STATS"]).replace(char::is_whitespace, ""),
        r.q(&["FUNCTION", "STATS"]).replace(char::is_whitespace, "")
    );
    // A corrupted payload is refused and changes nothing.
    let mut bad = theirs.clone();
    bad[3] ^= 0xff;
    assert_eq!(
        raw(&mut t, &[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"]),
        raw(&mut r, &[b"FUNCTION", b"RESTORE", &bad, b"FLUSH"])
    );
    assert_eq!(t.q(&["FCALL", "myfunc", "1", "k", "w"]), "+OK");
}
