//! Test fixtures: real server processes on free loopback ports, and a small
//! blocking RESP client. Every process is started by the test and killed by PID
//! when its fixture drops; every wait polls with a deadline.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tandem_server::resp::{parse_frame, Frame};

pub mod notify;
pub mod rng;
pub mod topology;

static DIR_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A unique scratch directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = DIR_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tandem-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago, from `TANDEM_TEST_PORTS`
/// (`low-high`) where tests must keep to a range, else from a slice of
/// 20000-32767 picked by this process's id. Both lie below Linux's ephemeral
/// range (32768-60999), so no outgoing connection's source port takes a port
/// between this check and the server's bind, and the shared counter keeps the
/// test threads of one binary from handing out the same port twice.
pub fn free_port() -> u16 {
    const DEFAULT_LOW: u32 = 20_000;
    const DEFAULT_SPAN: u32 = 12_768;
    let (low, span) = match test_port_range() {
        Some((low, high)) => (u32::from(low), u32::from(high - low) + 1),
        None => (DEFAULT_LOW, DEFAULT_SPAN),
    };
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        (std::process::id().wrapping_mul(2_654_435_761)) % span,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..span {
        let port = (low + NEXT.fetch_add(1, Ordering::Relaxed) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {low}..{}", low + span);
}

fn test_port_range() -> Option<(u16, u16)> {
    let text = std::env::var("TANDEM_TEST_PORTS").ok()?;
    let (low, high) = text.split_once('-')?;
    let (low, high) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
    (low <= high).then_some((low, high))
}

/// True if a program is on PATH.
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Which server binary a fixture runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    Tandem,
    Redis,
}

/// A running server process, killed by PID on drop.
pub struct ServerProcess {
    pub port: u16,
    pub flavor: Flavor,
    child: Child,
    pub dir: TempDir,
}

impl ServerProcess {
    pub fn tandem(extra: &[&str]) -> ServerProcess {
        Self::start(Flavor::Tandem, extra)
    }

    /// A real redis-server, or `None` (with a message) when it is not installed.
    pub fn redis(extra: &[&str]) -> Option<ServerProcess> {
        if !have("redis-server") {
            eprintln!("SKIPPED: redis-server is not installed (CI installs it with apt-get)");
            return None;
        }
        Some(Self::start(Flavor::Redis, extra))
    }

    pub fn start(flavor: Flavor, extra: &[&str]) -> ServerProcess {
        let mut last_err = String::new();
        for _ in 0..5 {
            let dir = TempDir::new(match flavor {
                Flavor::Tandem => "tandem",
                Flavor::Redis => "redis",
            });
            let data = dir.path().to_path_buf();
            let mut server = Self::spawn(flavor, free_port(), &data, dir, extra);
            if server.wait_ready(Duration::from_secs(10)) {
                return server;
            }
            last_err = server.log();
        }
        panic!("{flavor:?} server did not start; last log:\n{last_err}");
    }

    /// Starts a server on a port the caller chose (a test confined to a
    /// port range); panics with the log if it does not come up.
    pub fn start_on(flavor: Flavor, port: u16, extra: &[&str]) -> ServerProcess {
        let dir = TempDir::new(match flavor {
            Flavor::Tandem => "tandem",
            Flavor::Redis => "redis",
        });
        let data = dir.path().to_path_buf();
        let mut server = Self::spawn(flavor, port, &data, dir, extra);
        if !server.wait_ready(Duration::from_secs(10)) {
            panic!(
                "{flavor:?} server did not start on port {port}; log:\n{}",
                server.log()
            );
        }
        server
    }

    /// Starts a server on `port` with its data in `data`, logging to
    /// `scratch` (which the fixture keeps). Every server gets the same base
    /// directives; `extra` comes last, so it can override them.
    fn spawn(
        flavor: Flavor,
        port: u16,
        data: &Path,
        scratch: TempDir,
        extra: &[&str],
    ) -> ServerProcess {
        let program = match flavor {
            Flavor::Tandem => env!("CARGO_BIN_EXE_tandem-server").to_string(),
            Flavor::Redis => "redis-server".to_string(),
        };
        let port_s = port.to_string();
        let dir_s = data.display().to_string();
        let log = scratch.path().join("server.log").display().to_string();
        let mut args: Vec<&str> = vec![
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--dir",
            &dir_s,
            "--save",
            "",
            "--enable-debug-command",
            "yes",
            // Both servers default to waiting 5 s for more replicas to
            // share a diskless full sync; tests that want it say so.
            "--repl-diskless-sync-delay",
            "0",
            "--logfile",
            &log,
        ];
        args.extend_from_slice(extra);
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {program}: {e}"));
        ServerProcess {
            port,
            flavor,
            child,
            dir: scratch,
        }
    }

    fn wait_ready(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return false;
            }
            if let Ok(mut c) = Client::connect(self.port) {
                match c.cmd(&["PING"]) {
                    // Another test's server on a port taken in between is
                    // not ours: the caller starts again on another port.
                    Ok(Frame::Simple(s)) if &s[..] == b"PONG" => {
                        return self.answers_as_child(&mut c)
                    }
                    // A password-protected server is up too, and so is a
                    // replica that refuses stale reads.
                    Ok(Frame::Error(e))
                        if e.starts_with(b"NOAUTH") || e.starts_with(b"MASTERDOWN") =>
                    {
                        return true
                    }
                    _ => {}
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Whether the server on the other end of `c` is the process this
    /// fixture started (by the process_id INFO reports).
    fn answers_as_child(&self, c: &mut Client) -> bool {
        let Ok(Frame::Bulk(info)) = c.cmd(&["INFO", "server"]) else {
            return false;
        };
        let pid = String::from_utf8_lossy(&info)
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .and_then(|v| v.trim().parse::<u32>().ok());
        pid == Some(self.child.id())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port).expect("connect to server")
    }

    /// The server's log file contents.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// Runs redis-cli against this server with `args`, returning its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        let port = self.port.to_string();
        Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port])
            .args(args)
            .output()
            .expect("run redis-cli")
    }

    /// Sends a signal to the process.
    pub fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status();
    }

    /// Waits for the process to exit, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-check-rdb` accepts the file (skipped when the tool is missing).
pub fn assert_redis_check_rdb_accepts(file: &Path) {
    if !have("redis-check-rdb") {
        eprintln!("SKIPPED redis-check-rdb: not installed (CI installs it with apt-get)");
        return;
    }
    let out = Command::new("redis-check-rdb")
        .arg(file)
        .output()
        .expect("run redis-check-rdb");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "{text}"
    );
}

/// One field of `INFO <section>`, as text.
pub fn info_field(c: &mut Client, section: &str, field: &str) -> Option<String> {
    let text = c.q(&["INFO", section]);
    text.split(['\r', '\n'])
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

/// A minimal blocking RESP client.
pub struct Client {
    stream: TcpStream,
    buf: BytesMut,
}

impl Client {
    pub fn connect(port: u16) -> std::io::Result<Client> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            buf: BytesMut::new(),
        })
    }

    pub fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    pub fn send(&mut self, args: &[&str]) -> std::io::Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.send_raw(&out)
    }

    /// Reads one reply frame.
    pub fn read(&mut self) -> std::io::Result<Frame> {
        loop {
            match parse_frame(&self.buf) {
                Ok(Some((frame, used))) => {
                    let _ = self.buf.split_to(used);
                    return Ok(frame);
                }
                Ok(None) => {}
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
            let mut chunk = [0u8; 16384];
            // A signal landing during the read is not the server's answer:
            // read again, as std's read_exact does.
            let n = match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => other?,
            };
            if n == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    pub fn cmd(&mut self, args: &[&str]) -> std::io::Result<Frame> {
        self.send(args)?;
        self.read()
    }

    /// Sends a command and returns the reply rendered as text (see [`render`]).
    pub fn q(&mut self, args: &[&str]) -> String {
        render(&self.cmd(args).unwrap_or_else(|e| panic!("{args:?}: {e}")))
    }

    /// True once the server has closed this connection.
    pub fn is_closed(&mut self) -> bool {
        self.stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .ok();
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }
}

/// A compact text form of a reply for assertions: `+OK`, `-ERR ...`, `:1`,
/// `"bulk"`, `(nil)`, `[a, b]`.
pub fn render(frame: &Frame) -> String {
    match frame {
        Frame::Simple(s) => format!("+{}", String::from_utf8_lossy(s)),
        Frame::Error(s) => format!("-{}", String::from_utf8_lossy(s)),
        Frame::Integer(i) => format!(":{i}"),
        Frame::Bulk(b) => format!("\"{}\"", String::from_utf8_lossy(b)),
        Frame::Null => "(nil)".into(),
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) => {
            format!(
                "[{}]",
                items.iter().map(render).collect::<Vec<_>>().join(", ")
            )
        }
        Frame::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", render(k), render(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Frame::Double(d) => format!(",{d}"),
        Frame::Bool(b) => format!("#{b}"),
        Frame::BigNumber(b) => format!("({})", String::from_utf8_lossy(b)),
        Frame::Verbatim(_, b) => format!("\"{}\"", String::from_utf8_lossy(b)),
    }
}

/// Waits (up to 20 s) until `replica` has `primary`'s replication offset and
/// `DEBUG DIGEST`, and fails the test with both digests if it never does.
pub fn assert_converged(primary: &mut Client, replica: &mut Client) {
    let ok = wait_until(Duration::from_secs(20), || {
        info_field(primary, "replication", "master_repl_offset")
            == info_field(replica, "replication", "master_repl_offset")
            && primary.q(&["DEBUG", "DIGEST"]) == replica.q(&["DEBUG", "DIGEST"])
    });
    assert!(
        ok,
        "replica did not converge: primary {:?} {}, replica {:?} {}",
        info_field(primary, "replication", "master_repl_offset"),
        primary.q(&["DEBUG", "DIGEST"]),
        info_field(replica, "replication", "master_repl_offset"),
        replica.q(&["DEBUG", "DIGEST"])
    );
}

/// Polls `f` until it returns true or `within` passes.
pub fn wait_until(within: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}
