//! Test support shared by the command families' unit tests: a server with one
//! authenticated client, the replication feed recording, and a fixed clock.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tandem_storage::digest::{dataset_digest, to_hex, value_digest};

use crate::client::{ClientHandle, ClientState};
use crate::config::Config;
use crate::exec::execute;
use crate::reply::Reply;
use crate::resp::{parse_request, RequestLimits};
use crate::state::Server;

/// A fixed clock keeps TTL arithmetic exact.
pub(crate) const NOW: u64 = 1_700_000_000_000;

/// A server with one authenticated client and replication recording on.
pub(crate) struct Harness {
    pub(crate) server: Arc<Server>,
    pub(crate) client: ClientState,
    /// The time commands run at; tests move it to make keys expire.
    pub(crate) now: u64,
}

impl Harness {
    pub(crate) fn new() -> Harness {
        let server = Server::new(Config::default());
        server.data.lock().repl.enabled = true;
        let handle = ClientHandle::new(
            1,
            "127.0.0.1:40000".into(),
            "127.0.0.1:6379".into(),
            7,
            NOW,
            tokio::sync::mpsc::unbounded_channel().0,
        );
        let client = ClientState::new(Arc::new(handle), true);
        Harness {
            server,
            client,
            now: NOW,
        }
    }

    pub(crate) fn run(&mut self, args: &[&str]) -> Reply {
        let argv: Vec<Bytes> = args
            .iter()
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let mut data = self.server.data.lock();
        execute(&self.server, &mut data, &mut self.client, &argv, self.now).decoded()
    }

    /// The replication stream since the last call, one command per entry.
    pub(crate) fn repl_raw(&mut self) -> Vec<String> {
        let mut buf: BytesMut = std::mem::take(&mut self.server.data.lock().repl.buf);
        let mut out = Vec::new();
        while let Some(argv) =
            parse_request(&mut buf, &RequestLimits::default()).expect("valid stream")
        {
            let words: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            out.push(words.join(" "));
        }
        out
    }

    /// The stream since the last call without its SELECTs.
    pub(crate) fn ops(&mut self) -> Vec<String> {
        self.repl_raw()
            .into_iter()
            .filter(|c| !c.starts_with("SELECT"))
            .collect()
    }

    /// The stream since the last call without SELECTs and MULTI/EXEC wrapping.
    pub(crate) fn repl(&mut self) -> Vec<String> {
        self.ops()
            .into_iter()
            .filter(|l| l != "MULTI" && l != "EXEC")
            .collect()
    }

    pub(crate) fn dirty(&self) -> u64 {
        self.server.data.lock().keyspace.dirty()
    }

    pub(crate) fn hits_misses(&self) -> (u64, u64) {
        let data = self.server.data.lock();
        (data.keyspace_hits, data.keyspace_misses)
    }

    pub(crate) fn exists(&mut self, key: &str) -> bool {
        let now = self.now;
        self.server
            .data
            .lock()
            .keyspace
            .db(0)
            .contains(key.as_bytes(), now)
    }

    pub(crate) fn digest(&self) -> String {
        to_hex(&dataset_digest(&self.server.data.lock().keyspace))
    }

    /// DEBUG DIGEST-VALUE of one key.
    pub(crate) fn digest_value(&self, key: &str) -> String {
        let mut data = self.server.data.lock();
        let entry = data.keyspace.db(0).peek(key.as_bytes(), self.now);
        to_hex(&entry.map_or([0u8; 20], value_digest))
    }

    pub(crate) fn encoding(&mut self, key: &str) -> Reply {
        self.run(&["OBJECT", "ENCODING", key])
    }

    pub(crate) fn config_set(&mut self, name: &str, value: &str) {
        assert_eq!(self.run(&["CONFIG", "SET", name, value]), Reply::ok());
    }
}

/// Reply builders for the families' expectations.
pub(crate) fn int(n: i64) -> Reply {
    Reply::Int(n)
}

pub(crate) fn err(text: &str) -> Reply {
    Reply::error(text.to_string())
}

pub(crate) fn bulk(s: &str) -> Reply {
    Reply::bulk_from(s.as_bytes())
}

pub(crate) fn bulks(items: &[&str]) -> Reply {
    Reply::Array(items.iter().map(|s| bulk(s)).collect())
}

pub(crate) fn status(s: &str) -> Reply {
    Reply::Simple(s.to_string().into())
}

/// The bytes `reply` is written as in `proto`.
pub(crate) fn encode(reply: &Reply, proto: crate::reply::Proto) -> Vec<u8> {
    let mut out = BytesMut::new();
    reply.encode(proto, &mut out);
    out.to_vec()
}
