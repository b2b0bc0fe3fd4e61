//! Bad input over a raw socket: Redis's protocol errors, a closed connection
//! for that client only, and a server that keeps serving everyone else.

mod common;

use common::{render, Client, ServerProcess};

fn expect_protocol_error(server: &ServerProcess, input: &[u8], error: &str) {
    let mut c = server.client();
    c.send_raw(input).expect("send");
    let reply = c.read().map(|f| render(&f));
    assert_eq!(
        reply.ok().as_deref(),
        Some(error),
        "input {:?}",
        String::from_utf8_lossy(input)
    );
    assert!(c.is_closed(), "connection must close after {error}");
    // Everyone else is unaffected.
    let mut other = server.client();
    assert_eq!(other.q(&["PING"]), "+PONG");
}

#[test]
fn protocol_errors_close_only_the_offender() {
    let s = ServerProcess::tandem(&[]);
    let mut bystander = s.client();
    bystander.q(&["SET", "before", "1"]);
    expect_protocol_error(
        &s,
        b"*1\r\n$x\r\n",
        "-ERR Protocol error: invalid bulk length",
    );
    expect_protocol_error(
        &s,
        b"*abc\r\n",
        "-ERR Protocol error: invalid multibulk length",
    );
    expect_protocol_error(
        &s,
        b"*2\r\n$3\r\nGET\r\n+x\r\n",
        "-ERR Protocol error: expected '$', got '+'",
    );
    expect_protocol_error(
        &s,
        b"*1\r\n$-5\r\n",
        "-ERR Protocol error: invalid bulk length",
    );
    expect_protocol_error(
        &s,
        b"SET \"unbalanced\r\n",
        "-ERR Protocol error: unbalanced quotes in request",
    );
    expect_protocol_error(
        &s,
        b"*1\r\n$999999999999\r\n",
        "-ERR Protocol error: invalid bulk length",
    );
    // The bystander's connection and data survived all of that.
    assert_eq!(bystander.q(&["GET", "before"]), "\"1\"");
}

#[test]
fn proto_max_bulk_len_is_enforced() {
    let s = ServerProcess::tandem(&["--proto-max-bulk-len", "1mb"]);
    let mut c = s.client();
    c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n")
        .expect("send");
    assert_eq!(
        c.read().map(|f| render(&f)).ok().as_deref(),
        Some("-ERR Protocol error: invalid bulk length")
    );
    let mut ok = s.client();
    let value = "v".repeat(1_000_000);
    assert_eq!(ok.q(&["SET", "k", &value]), "+OK");
    assert_eq!(ok.q(&["STRLEN", "k"]), ":1000000");
}

#[test]
fn inline_commands_and_pipelines() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.send_raw(b"PING\r\nSET greeting \"hello world\"\r\nGET greeting\n\r\n")
        .expect("send");
    assert_eq!(render(&c.read().expect("ping")), "+PONG");
    assert_eq!(render(&c.read().expect("set")), "+OK");
    assert_eq!(render(&c.read().expect("get")), "\"hello world\"");

    // 1000 pipelined commands in one write, replies in order.
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$1\r\n{}\r\n", i % 10).as_bytes(),
        );
    }
    batch.extend_from_slice(b"*1\r\n$6\r\nDBSIZE\r\n");
    c.send_raw(&batch).expect("send batch");
    for _ in 0..1000 {
        assert_eq!(render(&c.read().expect("reply")), "+OK");
    }
    assert_eq!(render(&c.read().expect("dbsize")), ":1001");
}

#[test]
fn client_disconnecting_mid_pipeline_does_not_lose_earlier_writes() {
    let s = ServerProcess::tandem(&[]);
    {
        let mut c = s.client();
        // Two whole commands then half a third, then the socket closes.
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc")
            .expect("send");
    }
    let mut c = s.client();
    assert!(common::wait_until(
        std::time::Duration::from_secs(5),
        || { c.q(&["EXISTS", "a", "b"]) == ":2" }
    ));
    assert_eq!(c.q(&["EXISTS", "c"]), ":0");
}

#[test]
fn binary_garbage_does_not_hurt_the_server() {
    let s = ServerProcess::tandem(&[]);
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    for round in 0..50 {
        let mut garbage = Vec::new();
        for _ in 0..(64 + round * 13) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            garbage.push((seed & 0xff) as u8);
        }
        if let Ok(mut c) = Client::connect(s.port) {
            let _ = c.send_raw(&garbage);
            let _ = c.send_raw(b"\r\n");
        }
    }
    let mut c = s.client();
    assert_eq!(c.q(&["PING"]), "+PONG");
}

#[test]
fn wrong_arity_unknown_command_and_wrong_type_replies() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    assert_eq!(
        c.q(&["GET"]),
        "-ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        c.q(&["NOPE", "x"]),
        "-ERR unknown command 'NOPE', with args beginning with: 'x' "
    );
    assert_eq!(
        c.q(&["INCRBY", "k", "1.5"]),
        "-ERR value is not an integer or out of range"
    );
    assert_eq!(
        c.q(&["INCRBYFLOAT", "k", "abc"]),
        "-ERR value is not a valid float"
    );
    assert_eq!(
        c.q(&["EXPIRE", "k", "x"]),
        "-ERR value is not an integer or out of range"
    );
}

#[test]
fn requirepass_and_auth() {
    let s = ServerProcess::tandem(&["--requirepass", "s3cret"]);
    let mut c = s.client();
    assert_eq!(c.q(&["GET", "k"]), "-NOAUTH Authentication required.");
    assert_eq!(
        c.q(&["AUTH", "wrong"]),
        "-WRONGPASS invalid username-password pair or user is disabled."
    );
    assert_eq!(c.q(&["AUTH", "s3cret"]), "+OK");
    assert_eq!(c.q(&["SET", "k", "v"]), "+OK");
    let mut h = s.client();
    let hello = h.q(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(hello.contains("\"proto\": :3"), "{hello}");
    assert_eq!(h.q(&["GET", "k"]), "\"v\"");
}

#[test]
fn resp3_replies() {
    let s = ServerProcess::tandem(&[]);
    let mut c = s.client();
    c.q(&["HELLO", "3"]);
    c.q(&["SET", "k", "v"]);
    assert_eq!(c.q(&["GET", "nosuch"]), "(nil)");
    let cfg = c.q(&["CONFIG", "GET", "maxclients"]);
    assert!(cfg.starts_with('{'), "CONFIG GET in RESP3 is a map: {cfg}");
}
