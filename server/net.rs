//! Listening sockets: TCP on every `bind` address and the optional unix socket.
//!
//! Sockets are made with socket2 so the listen backlog (`tcp-backlog`),
//! `SO_REUSEADDR` and `IPV6_V6ONLY` are set as Redis sets them; accepted TCP
//! sockets get `TCP_NODELAY` and `tcp-keepalive`. The accept loops apply
//! `maxclients` and protected mode before a connection task is spawned.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, TcpKeepalive, Type};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tracing::{info, warn};

use crate::connection::{serve, Peer};
use crate::state::Server;

const MAXCLIENTS_ERROR: &[u8] = b"-ERR max number of clients reached\r\n";
const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Parses one `bind` entry. Returns the address and whether failure to bind it
/// is tolerated (a leading `-`).
fn bind_addr(entry: &str, port: u16) -> Option<(SocketAddr, bool)> {
    let (optional, addr) = match entry.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let ip: IpAddr = match addr {
        "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        "::*" => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        other => other.parse().ok()?,
    };
    Some((SocketAddr::new(ip, port), optional))
}

fn listen_tcp(addr: SocketAddr, backlog: i32) -> std::io::Result<TcpListener> {
    let domain = if addr.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    TcpListener::from_std(socket.into())
}

/// Binds every configured address. Fails if a mandatory address cannot be bound.
pub fn bind_all(server: &Server) -> anyhow::Result<Vec<TcpListener>> {
    let (bind, port, backlog) = {
        let c = server.config.read();
        (c.bind.clone(), c.port, c.tcp_backlog)
    };
    let mut listeners = Vec::new();
    if port == 0 && !server.config.read().unixsocket.is_empty() {
        return Ok(listeners);
    }
    let mut bound_port = port;
    for entry in &bind {
        let Some((mut addr, optional)) = bind_addr(entry, port) else {
            anyhow::bail!("Invalid bind address '{entry}'");
        };
        if port == 0 {
            addr.set_port(bound_port);
        }
        match listen_tcp(addr, backlog as i32) {
            Ok(l) => {
                if let Ok(local) = l.local_addr() {
                    bound_port = local.port();
                }
                listeners.push(l);
            }
            Err(e) if optional => {
                info!("Skipping optional bind address {entry}: {e}");
            }
            Err(e) => {
                anyhow::bail!(
                    "Warning: Could not create server TCP listening socket {entry}:{port}: {e}"
                );
            }
        }
    }
    server
        .tcp_port
        .store(u64::from(bound_port), Ordering::Relaxed);
    Ok(listeners)
}

/// True when the connection must be refused by protected mode.
fn protected_refusal(server: &Server, peer: &SocketAddr) -> bool {
    let nopass = server.acl.lock().default_user().user().nopass;
    server.config.read().protected_mode && nopass && !peer.ip().is_loopback()
}

fn too_many_clients(server: &Server) -> bool {
    let max = server.config.read().maxclients;
    server.clients.lock().len() as u64 >= max
}

/// Accepts TCP connections until the process ends.
pub async fn accept_tcp(server: Arc<Server>, listener: TcpListener) {
    let fd = listener.as_raw_fd();
    server.listener_fds.lock().push(fd);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(pair) => pair,
            // Closed for the exit (`Server::close_listeners`).
            Err(_) if !server.listener_fds.lock().contains(&fd) => return,
            Err(e) => {
                warn!("Accepting client connection: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        server
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        tokio::spawn(start_tcp(server.clone(), stream, peer));
    }
}

async fn start_tcp(server: Arc<Server>, mut stream: TcpStream, peer: SocketAddr) {
    if too_many_clients(&server) {
        server
            .stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(MAXCLIENTS_ERROR).await;
        return;
    }
    if protected_refusal(&server, &peer) {
        let _ = stream.write_all(PROTECTED_MODE_ERROR.as_bytes()).await;
        return;
    }
    let _ = stream.set_nodelay(true);
    let keepalive = server.config.read().tcp_keepalive_secs;
    if keepalive > 0 {
        let ka = TcpKeepalive::new()
            .with_time(Duration::from_secs(keepalive))
            .with_interval(Duration::from_secs((keepalive / 3).max(1)));
        let _ = SockRef::from(&stream).set_tcp_keepalive(&ka);
    }
    let laddr = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let fd = stream.as_raw_fd();
    serve(
        server,
        stream,
        Peer {
            addr: peer.to_string(),
            laddr,
            fd,
        },
    )
    .await;
}

/// Binds the unix socket named by `unixsocket`, with `unixsocketperm`.
pub fn bind_unix(server: &Server) -> anyhow::Result<Option<UnixListener>> {
    let (path, perm) = {
        let c = server.config.read();
        (c.unixsocket.clone(), c.unixsocketperm)
    };
    if path.is_empty() {
        return Ok(None);
    }
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    if perm != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(perm))?;
    }
    Ok(Some(listener))
}

/// Accepts unix-socket connections until the process ends.
pub async fn accept_unix(server: Arc<Server>, listener: UnixListener, path: String) {
    let fd = listener.as_raw_fd();
    server.listener_fds.lock().push(fd);
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            if !server.listener_fds.lock().contains(&fd) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        server
            .stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        let server = server.clone();
        let path = path.clone();
        tokio::spawn(async move {
            if too_many_clients(&server) {
                server
                    .stats
                    .rejected_connections
                    .fetch_add(1, Ordering::Relaxed);
                let _ = stream.write_all(MAXCLIENTS_ERROR).await;
                return;
            }
            let fd = stream.as_raw_fd();
            let peer = Peer {
                addr: format!("{path}:0"),
                laddr: path.clone(),
                fd,
            };
            serve(server, stream, peer).await;
        });
    }
}
