//! Starting and stopping like redis-server: config files, command-line
//! directives, Redis-shaped log lines, clean SIGTERM, SHUTDOWN.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_until, Client, ServerProcess, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_tandem-server");

#[test]
fn banner_and_log_lines() {
    let s = ServerProcess::tandem(&[]);
    assert!(wait_until(Duration::from_secs(5), || s
        .log()
        .contains("Ready to accept connections")));
    let log = s.log();
    assert!(log.contains(&format!("PID: {}", s.pid())), "{log}");
    assert!(log.contains(&format!("port={}", s.port)), "{log}");
    // Redis's line shape: pid:role dd Mon yyyy hh:mm:ss.mmm <level> msg
    let first = log.lines().next().expect("a log line");
    let (pid_role, rest) = first.split_once(' ').expect("pid:role prefix");
    assert_eq!(pid_role, format!("{}:M", s.pid()));
    let parts: Vec<&str> = rest.splitn(5, ' ').collect();
    assert_eq!(parts.len(), 5, "{first}");
    assert!(
        parts[0].parse::<u32>().is_ok() && parts[1].len() == 3 && parts[2].len() == 4,
        "{first}"
    );
    assert!(
        parts[3].len() == 12 && parts[3].as_bytes()[8] == b'.',
        "{first}"
    );
    assert!(
        ["*", "#", "-", "."].contains(&parts[4].split(' ').next().unwrap_or("")),
        "{first}"
    );
}

#[test]
fn sigterm_shuts_down_within_a_second() {
    let mut s = ServerProcess::tandem(&[]);
    let started = Instant::now();
    s.signal("TERM");
    let status = s.wait_exit(Duration::from_secs(5)).expect("exited");
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    assert!(s.log().contains("Received SIGTERM"), "{}", s.log());
}

#[test]
fn shutdown_command_stops_the_server() {
    let mut s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    let _ = c.send(&["SHUTDOWN", "NOSAVE"]);
    assert!(s.wait_exit(Duration::from_secs(5)).is_some());
}

#[test]
fn config_file_with_quotes_include_and_command_line_overrides() {
    let dir = TempDir::new("conf");
    let port = free_port();
    let inc = dir.path().join("included.conf");
    std::fs::write(&inc, "maxclients 321\n").expect("write include");
    let conf = dir.path().join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "# a comment\n\nport 1\nbind 127.0.0.1\nrequirepass \"pa ss\"\ninclude {}\nslave-read-only no\nhz 20\njemalloc-bg-thread yes\nlogfile \"{}\"\n",
            inc.display(),
            dir.path().join("log.txt").display()
        ),
    )
    .expect("write conf");
    let port_s = port.to_string();
    let mut child = Command::new(BIN)
        .arg(&conf)
        .args([
            "--port",
            &port_s,
            "--dir",
            &dir.path().display().to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut client = None;
    wait_until(Duration::from_secs(10), || {
        client = Client::connect(port).ok();
        client.is_some()
    });
    let mut c = client.expect("server listening on the command-line port");
    assert_eq!(c.q(&["AUTH", "pa ss"]), "+OK");
    assert_eq!(
        c.q(&["CONFIG", "GET", "maxclients"]),
        "[\"maxclients\", \"321\"]"
    );
    assert_eq!(
        c.q(&["CONFIG", "GET", "replica-read-only"]),
        "[\"replica-read-only\", \"no\"]"
    );
    assert_eq!(c.q(&["CONFIG", "GET", "hz"]), "[\"hz\", \"20\"]");
    assert_eq!(
        c.q(&["CONFIG", "GET", "jemalloc-bg-thread"]),
        "[\"jemalloc-bg-thread\", \"yes\"]"
    );
    let log = std::fs::read_to_string(dir.path().join("log.txt")).unwrap_or_default();
    assert!(
        log.contains("jemalloc-bg-thread"),
        "ignored directive must be logged once:\n{log}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn unknown_directive_is_a_startup_error_naming_file_and_line() {
    let dir = TempDir::new("badconf");
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "port 7000\n\nnot-a-directive yes\n").expect("write");
    let out = Command::new(BIN).arg(&conf).output().expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-directive"), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains(&conf.display().to_string()), "{err}");
}

#[test]
fn bad_value_on_the_command_line_is_an_error() {
    let out = Command::new(BIN)
        .args(["--port", "notaport"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("port"), "{err}");
}

#[test]
fn debians_stock_redis_conf_is_accepted() {
    let stock = std::path::Path::new("/etc/redis/redis.conf");
    if !stock.exists() {
        eprintln!("SKIPPED: /etc/redis/redis.conf not present (installed with redis-server)");
        return;
    }
    let dir = TempDir::new("stock");
    let port = free_port().to_string();
    let d = dir.path().display().to_string();
    let log = dir.path().join("log.txt").display().to_string();
    let pid = dir.path().join("pid").display().to_string();
    let mut child = Command::new(BIN)
        .arg(stock)
        .args([
            "--port",
            &port,
            "--daemonize",
            "no",
            "--dir",
            &d,
            "--logfile",
            &log,
            "--pidfile",
            &pid,
            "--unixsocket",
            "",
            "--supervised",
            "no",
            "--save",
            "",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let port_n: u16 = port.parse().expect("port");
    let up = wait_until(Duration::from_secs(10), || {
        Client::connect(port_n)
            .ok()
            .and_then(|mut c| c.cmd(&["PING"]).ok())
            .is_some()
    });
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    assert!(
        up,
        "tandem did not start with the stock redis.conf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
