//! Operator-facing behaviour over real sockets: unix socket, active expiry,
//! CLIENT KILL / PAUSE, MONITOR, maxclients, idle timeout, CONFIG REWRITE.

mod common;

use std::time::{Duration, Instant};

use common::{render, wait_until, ServerProcess};

#[test]
fn unix_socket_serves_redis_cli() {
    let dir = common::TempDir::new("unix");
    let sock = dir.path().join("tandem.sock").display().to_string();
    let s = ServerProcess::tandem(&["--unixsocket", &sock, "--unixsocketperm", "700"]);
    assert!(wait_until(Duration::from_secs(5), || std::path::Path::new(
        &sock
    )
    .exists()));
    let out = std::process::Command::new("redis-cli")
        .args(["-s", &sock, "SET", "via", "unix"])
        .output()
        .expect("redis-cli");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    assert_eq!(s.client().q(&["GET", "via"]), "\"unix\"");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&sock)
        .expect("socket")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn active_expiry_removes_keys_nobody_reads() {
    let s = ServerProcess::tandem(&["--hz", "50"]);
    let mut c = s.client();
    for i in 0..500 {
        c.q(&["SET", &format!("short:{i}"), "v", "PX", "100"]);
    }
    c.q(&["SET", "long", "v", "EX", "1000"]);
    assert!(wait_until(Duration::from_secs(5), || c.q(&["DBSIZE"]) == ":1"));
    let stats = c.q(&["INFO", "stats"]);
    assert!(stats.contains("expired_keys:500"), "{stats}");
    // DEBUG SET-ACTIVE-EXPIRE 0 stops the cycle: keys linger until touched.
    c.q(&["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    c.q(&["SET", "lazy", "v", "PX", "50"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.q(&["DBSIZE"]), ":2");
    assert_eq!(c.q(&["GET", "lazy"]), "(nil)");
    assert_eq!(c.q(&["DBSIZE"]), ":1");
}

#[test]
fn client_kill_closes_the_target_only() {
    let s = ServerProcess::tandem(&[]);
    let mut victim = s.client();
    let id = victim.q(&["CLIENT", "ID"]);
    let mut admin = s.client();
    assert_eq!(admin.q(&["CLIENT", "KILL", "ID", &id[1..]]), ":1");
    assert!(victim.is_closed());
    assert_eq!(admin.q(&["CLIENT", "KILL", "ID", &id[1..]]), ":0");
    assert_eq!(admin.q(&["PING"]), "+PONG");
}

#[test]
fn client_pause_write_holds_writes_but_not_reads() {
    let s = ServerProcess::tandem(&[]);
    let mut admin = s.client();
    admin.q(&["SET", "k", "1"]);
    assert_eq!(admin.q(&["CLIENT", "PAUSE", "400", "WRITE"]), "+OK");
    let mut reader = s.client();
    let started = Instant::now();
    assert_eq!(reader.q(&["GET", "k"]), "\"1\"");
    assert!(
        started.elapsed() < Duration::from_millis(300),
        "reads must not wait"
    );
    let started = Instant::now();
    assert_eq!(reader.q(&["INCR", "k"]), ":2");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "write returned after {:?}",
        started.elapsed()
    );
}

#[test]
fn monitor_streams_commands() {
    let s = ServerProcess::tandem(&[]);
    let mut mon = s.client();
    assert_eq!(mon.q(&["MONITOR"]), "+OK");
    let mut c = s.client();
    c.q(&["SET", "watched", "va\"lue"]);
    let line = render(&mon.read().expect("monitor line"));
    assert!(
        line.starts_with("+1") && line.contains("\"SET\" \"watched\" \"va\\\"lue\""),
        "{line}"
    );
}

#[test]
fn maxclients_refuses_extra_connections() {
    let s = ServerProcess::tandem(&["--maxclients", "2"]);
    let _a = s.client();
    let mut b = s.client();
    assert_eq!(b.q(&["PING"]), "+PONG");
    let mut c = s.client();
    assert_eq!(
        render(&c.read().expect("refusal")),
        "-ERR max number of clients reached"
    );
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let s = ServerProcess::tandem(&["--timeout", "1"]);
    let mut idle = s.client();
    idle.q(&["PING"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.is_closed());
}

#[test]
fn config_rewrite_persists_changes() {
    let dir = common::TempDir::new("rewrite");
    let conf = dir.path().join("tandem.conf");
    std::fs::write(&conf, "# my settings\nmaxclients 100\n").expect("write conf");
    let conf_s = conf.display().to_string();
    let port = common::free_port().to_string();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem-server"))
        .args([&conf_s, "--port", &port, "--bind", "127.0.0.1"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let port_n: u16 = port.parse().expect("port");
    let mut client = None;
    wait_until(Duration::from_secs(10), || {
        client = common::Client::connect(port_n).ok();
        client.is_some()
    });
    let mut c = client.expect("connected");
    assert_eq!(c.q(&["CONFIG", "SET", "maxclients", "200"]), "+OK");
    assert_eq!(c.q(&["CONFIG", "REWRITE"]), "+OK");
    let text = std::fs::read_to_string(&conf).expect("read conf");
    assert!(text.contains("# my settings"), "{text}");
    assert!(text.contains("maxclients 200"), "{text}");
    assert!(!text.contains("maxclients 100"), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}

/// MEMORY's shape and errors, side by side with redis-server.
fn memory_session(s: &ServerProcess) -> Vec<String> {
    let mut c = s.client();
    c.q(&["SET", "small", "v"]);
    c.q(&["RPUSH", "list", "a", "b", "c"]);
    let mut out = Vec::new();
    for cmd in [
        &["MEMORY", "USAGE", "missing"][..],
        &["MEMORY", "USAGE", "small", "SAMPLES", "x"],
        &["MEMORY", "USAGE", "small", "FOO"],
        &["MEMORY", "PURGE"],
        &["MEMORY", "NOSUCH"],
        &["MEMORY"],
    ] {
        out.push(c.q(cmd));
    }
    for key in ["small", "list"] {
        let usage = c.q(&["MEMORY", "USAGE", key, "SAMPLES", "0"]);
        let bytes: i64 = usage.trim_start_matches(':').parse().unwrap_or(-1);
        out.push(format!("{key} usage positive: {}", bytes > 0));
    }
    let stats = c.q(&["MEMORY", "STATS"]);
    for field in [
        "peak.allocated",
        "total.allocated",
        "keys.count",
        "dataset.bytes",
    ] {
        out.push(format!("{field} in stats: {}", stats.contains(field)));
    }
    let help = c.q(&["MEMORY", "HELP"]);
    out.push(format!("help mentions USAGE: {}", help.contains("USAGE")));
    out
}

#[test]
fn memory_commands_answer_like_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let ours = memory_session(&tandem);
    assert_eq!(ours[0], "(nil)");
    assert!(ours.iter().all(|l| !l.ends_with("false")), "{ours:#?}");
    let doctor = render(&tandem.client().cmd(&["MEMORY", "DOCTOR"]).expect("reply"));
    assert!(!doctor.is_empty());
    if let Some(redis) = ServerProcess::redis(&[]) {
        assert_eq!(memory_session(&redis), ours);
    }
}

/// During CLIENT PAUSE WRITE an expired key reads as gone but is not
/// deleted (the dataset and the replication stream stay still), as in Redis 7.
fn paused_expiry_session(s: &ServerProcess) -> Vec<String> {
    let mut c = s.client();
    let mut out = vec![
        c.q(&["SET", "k", "v", "PX", "100"]),
        c.q(&["CLIENT", "PAUSE", "5000", "WRITE"]),
    ];
    std::thread::sleep(Duration::from_millis(400));
    out.push(c.q(&["GET", "k"]));
    out.push(c.q(&["DBSIZE"]));
    out.push(c.q(&["CLIENT", "UNPAUSE"]));
    out.push(c.q(&["GET", "k"]));
    out.push(c.q(&["DBSIZE"]));
    out
}

#[test]
fn client_pause_write_holds_expiry_still() {
    let tandem = ServerProcess::tandem(&[]);
    let ours = paused_expiry_session(&tandem);
    assert_eq!(
        ours[3], ":1",
        "the expired key stays while paused: {ours:?}"
    );
    assert_eq!(ours[6], ":0", "and goes once unpaused: {ours:?}");
    if let Some(redis) = ServerProcess::redis(&[]) {
        assert_eq!(paused_expiry_session(&redis), ours);
    }
}
