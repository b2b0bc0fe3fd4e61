//! Micro-benchmarks of the hot paths: RESP request parsing, reply encoding,
//! keyspace writes and reads, whole-command dispatch under the data lock
//! (with and without a `maxmemory`), and the used-memory meter.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tandem_server::client::{ClientHandle, ClientState};
use tandem_server::config::Config;
use tandem_server::exec::execute;
use tandem_server::reply::{Proto, Reply};
use tandem_server::resp::{parse_request, RequestLimits};
use tandem_server::state::Server;
use tandem_storage::{Keyspace, Value};

fn pipeline(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("key:{i:06}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$3\r\nxxx\r\n",
                key.len()
            )
            .as_bytes(),
        );
    }
    out
}

fn resp_parse(c: &mut Criterion) {
    let input = pipeline(1000);
    let limits = RequestLimits {
        max_bulk_len: 512 * 1024 * 1024,
        max_inline_len: 64 * 1024,
        authenticated: true,
    };
    let mut g = c.benchmark_group("resp");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("parse_1000_set_requests", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                let mut n = 0;
                while let Ok(Some(argv)) = parse_request(&mut buf, &limits) {
                    n += argv.len();
                }
                black_box(n)
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("encode_1000_bulk_replies", |b| {
        let reply = Reply::Bulk(Bytes::from_static(b"xxxxxxxxxxxxxxxx"));
        b.iter(|| {
            let mut out = BytesMut::with_capacity(32 * 1000);
            for _ in 0..1000 {
                reply.encode(Proto::Resp2, &mut out);
            }
            black_box(out.len())
        })
    });
    g.finish();
}

fn keyspace(c: &mut Criterion) {
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("key:{i:08}").into_bytes())
        .collect();
    let mut g = c.benchmark_group("keyspace");
    g.throughput(Throughput::Elements(keys.len() as u64));
    g.bench_function("insert_100k", |b| {
        b.iter_batched(
            || Keyspace::new(1),
            |mut ks| {
                let db = ks.db(0);
                for k in &keys {
                    db.insert(k, Value::string("xxx"), None, 0);
                }
                black_box(db.len())
            },
            BatchSize::LargeInput,
        )
    });
    let mut ks = Keyspace::new(1);
    for k in &keys {
        ks.db(0).insert(k, Value::string("xxx"), None, 0);
    }
    g.bench_function("get_100k", |b| {
        b.iter(|| {
            let db = ks.db(0);
            let mut found = 0;
            for k in &keys {
                found += usize::from(db.get(k, 0).is_some());
            }
            black_box(found)
        })
    });
    g.finish();
}

fn dispatch(c: &mut Criterion) {
    let outcome = Config::load(&[]).expect("default config");
    let server = Server::new(outcome.config);
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    let handle = std::sync::Arc::new(ClientHandle::new(
        1,
        "127.0.0.1:1".into(),
        "127.0.0.1:2".into(),
        0,
        0,
        tx,
    ));
    let mut client = ClientState::new(handle, true);
    let set: Vec<Bytes> = ["SET", "key:1", "value"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    let get: Vec<Bytes> = ["GET", "key:1"].iter().map(|s| Bytes::from(*s)).collect();
    let mut g = c.benchmark_group("dispatch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("set", |b| {
        b.iter(|| {
            let mut data = server.data.lock();
            black_box(execute(&server, &mut data, &mut client, &set, 0))
        })
    });
    g.bench_function("get", |b| {
        b.iter(|| {
            let mut data = server.data.lock();
            black_box(execute(&server, &mut data, &mut client, &get, 0))
        })
    });
    // The same with a maxmemory far above use: every command reads the
    // used-memory meter and compares it with the limit.
    let limit: Vec<Bytes> = ["CONFIG", "SET", "maxmemory", "64gb"]
        .iter()
        .map(|s| Bytes::from(*s))
        .collect();
    execute(&server, &mut server.data.lock(), &mut client, &limit, 0);
    g.bench_function("set_under_maxmemory", |b| {
        b.iter(|| {
            let mut data = server.data.lock();
            black_box(execute(&server, &mut data, &mut client, &set, 0))
        })
    });
    g.bench_function("get_under_maxmemory", |b| {
        b.iter(|| {
            let mut data = server.data.lock();
            black_box(execute(&server, &mut data, &mut client, &get, 0))
        })
    });
    g.finish();
    let data = server.data.lock();
    c.bench_function("maxmemory/meter_used", |b| {
        b.iter(|| black_box(data.maxmemory.meter.used()))
    });
    c.bench_function("maxmemory/meter_refresh_from_jemalloc", |b| {
        b.iter(|| black_box(tandem_server::maxmemory::refresh(&server, &data)))
    });
}

criterion_group!(benches, resp_parse, keyspace, dispatch);
criterion_main!(benches);
