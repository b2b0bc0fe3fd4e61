//! `tandem-server [config-file] [--directive value ...]`: starts the server.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tandem_server::config::Config;
use tandem_server::state::Server;
use tandem_server::{cron, log, net, VERSION};
use tracing::{info, warn};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, as Redis runs it (`jemalloc-bg-thread yes`): a
/// background thread gives freed pages back to the system, so RSS falls after
/// deletes and flushes instead of staying at its peak.
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:5000\0";

fn usage() -> ! {
    eprintln!(
        "Usage: ./tandem-server [/path/to/redis.conf] [options] [-]\n       \
         ./tandem-server - (read config from stdin)\n       \
         ./tandem-server -v or --version\n       \
         ./tandem-server -h or --help\n\n\
         Examples:\n       \
         ./tandem-server (run the server with default config)\n       \
         ./tandem-server /etc/redis/6379.conf\n       \
         ./tandem-server --port 7777\n       \
         ./tandem-server /etc/myredis.conf --loglevel verbose"
    );
    std::process::exit(1);
}

/// Detaches from the terminal like Redis's `daemonize yes`.
fn daemonize() -> anyhow::Result<()> {
    // SAFETY: called before any thread exists (the tokio runtime is built later),
    // so fork duplicates a single-threaded process.
    unsafe {
        match libc::fork() {
            -1 => anyhow::bail!("fork failed: {}", std::io::Error::last_os_error()),
            0 => {}
            _ => libc::_exit(0),
        }
        libc::setsid();
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if devnull >= 0 {
            libc::dup2(devnull, 0);
            libc::dup2(devnull, 1);
            libc::dup2(devnull, 2);
            if devnull > 2 {
                libc::close(devnull);
            }
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(first) = args.first() {
        match first.as_str() {
            "-v" | "--version" => {
                println!(
                    "tandem server v={VERSION} (Redis {} compatible) bits=64 malloc=jemalloc",
                    tandem_server::REDIS_VERSION
                );
                return Ok(());
            }
            "-h" | "--help" => usage(),
            _ => {}
        }
    }
    let outcome = match Config::load(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("\n*** FATAL CONFIG FILE ERROR (tandem {VERSION}) ***\n{e}");
            std::process::exit(1);
        }
    };
    let config = outcome.config;
    if config.daemonize {
        daemonize()?;
    }
    let logfile = if config.daemonize && config.logfile.is_empty() {
        "/dev/null".to_string()
    } else {
        config.logfile.clone()
    };
    log::init(&logfile, config.loglevel).with_context(|| format!("opening logfile {logfile}"))?;
    let pid = std::process::id();
    warn!("oO0OoO0OoO0Oo tandem is starting oO0OoO0OoO0Oo");
    warn!(
        "tandem version={VERSION}, redis_version={}, bits=64, pid={pid}, just started",
        tandem_server::REDIS_VERSION
    );
    match config.config_file() {
        Some(path) => warn!("Configuration loaded from {}", path.display()),
        None => warn!(
            "Warning: no config file specified, using the default config. In order to specify a config file use tandem-server /path/to/redis.conf"
        ),
    }
    for name in &outcome.ignored {
        warn!("Directive '{name}' is accepted but not implemented by tandem; it has no effect");
    }
    if !config.dir.is_empty() {
        std::env::set_current_dir(&config.dir)
            .with_context(|| format!("Can't chdir to '{}'", config.dir))?;
    }

    // `io-threads` (Redis's name, default 1) sets how many worker threads
    // serve connections: 1 runs every connection on one thread as Redis
    // does, which is the fastest layout when clients share the machine; more
    // spread them over a work-stealing pool. The runtime is the
    // multi-threaded one even with one worker, so that a script past
    // busy-reply-threshold can hand that worker to the other connections
    // (see `scripting::busy`).
    let workers = config.number("io-threads").unwrap_or(1).max(1) as usize;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("tandem-worker")
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    let pidfile = config.pidfile.clone();
    let server = Server::new(config);
    if let Err(e) = tandem_server::acl::load_at_startup(&server) {
        tracing::error!("{e}");
        eprintln!("{e}");
        std::process::exit(1);
    }
    let loaded = if tandem_server::aof::enabled_in_config(&server) {
        tandem_server::aof::start_at_boot(&server)
    } else {
        tandem_server::persist::load_at_startup(&server)
    };
    if let Err(e) = loaded {
        tracing::error!("{e}");
        eprintln!("{e}");
        std::process::exit(1);
    }
    tandem_server::recovery::restore_replication(&server);
    let listeners = match net::bind_all(&server) {
        Ok(l) => l,
        Err(e) => {
            warn!("{e:#}");
            std::process::exit(1);
        }
    };
    let unix = net::bind_unix(&server).context("binding the unix socket")?;
    let port = server.tcp_port.load(std::sync::atomic::Ordering::Relaxed);
    info!("Running mode=standalone, port={port}.");
    info!("Port: {port}");
    info!("PID: {}", std::process::id());
    if !pidfile.is_empty() {
        if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
            warn!("Failed to write PID file: {e}");
        }
    }
    warn!("Server initialized");
    for listener in listeners {
        tokio::spawn(net::accept_tcp(server.clone(), listener));
    }
    if let Some(listener) = unix {
        let path = server.config.read().unixsocket.clone();
        info!("The server is now ready to accept connections at {path}");
        tokio::spawn(net::accept_unix(server.clone(), listener, path));
    }
    tokio::spawn(cron::run(server.clone()));
    info!("Ready to accept connections tcp");
    let replicaof = server.config.read().replicaof.clone();
    if let Some((host, port)) = replicaof {
        {
            let mut data = server.lock_data();
            data.replica_of = true;
            data.repl.proxy_only = true;
        }
        tandem_server::replica::start(&server, host, port);
    }

    // A shutdown may wait for replicas and can be aborted, or fail to save:
    // then the server goes on until the next request.
    loop {
        let by_signal = wait_for_shutdown(&server).await;
        // A wake-up left over from a request that was since cancelled.
        if !by_signal
            && !server
                .shutdown_requested
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            continue;
        }
        if tandem_server::shutdown::prepare(&server).await {
            break;
        }
    }
    shutdown(&server, &pidfile);
    Ok(())
}

/// Waits for SIGTERM, SIGINT or a SHUTDOWN; true for a signal.
async fn wait_for_shutdown(server: &Arc<Server>) -> bool {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let term_fut = async {
        match term.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    let int_fut = async {
        match int.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term_fut => {
            warn!("Received SIGTERM scheduling shutdown...");
            true
        }
        _ = int_fut => {
            warn!("Received SIGINT scheduling shutdown...");
            true
        }
        _ = server.shutdown.notified() => false,
    }
}

/// The last steps once `shutdown::prepare` has said the process may go:
/// connections closed, the backlog file flushed, the pid file removed.
fn shutdown(server: &Server, pidfile: &str) {
    server.close_listeners();
    for client in server.clients.lock().iter() {
        client.kill();
    }
    if let Some(backlog) = &server.lock_data().repl.backlog {
        if let Err(e) = backlog.flush() {
            warn!("Could not flush the backlog file: {e}");
        }
    }
    let unixsocket = server.config.read().unixsocket.clone();
    if !unixsocket.is_empty() {
        let _ = std::fs::remove_file(&unixsocket);
    }
    if !pidfile.is_empty() {
        info!("Removing the pid file.");
        let _ = std::fs::remove_file(pidfile);
    }
    warn!("tandem is now ready to exit, bye bye...");
    // Give killed connections a moment to flush, bounded.
    std::thread::sleep(Duration::from_millis(10));
    std::process::exit(0);
}
