//! Replays every file of the `resp_decode` fuzz corpus (fuzz/corpus/resp_decode/)
//! through the decoders the fuzz target drives, with the same checks: nothing
//! panics, and whatever decodes decodes the same after being encoded again. This is
//! how CI exercises the fuzz target on stable Rust, without cargo-fuzz.

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use tandem_server::resp::{
    encode_request, parse_frame, parse_request, Frame, ProtocolError, RequestLimits,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/resp_decode")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir();
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    let mut files: Vec<(String, Vec<u8>)> = entries
        .map(|entry| {
            let path = entry.expect("a directory entry").path();
            let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, data)
        })
        .collect();
    files.sort();
    files
}

/// What draining `data` with `parse_request` gave: the requests, then how it ended.
#[derive(Debug)]
struct Drained {
    requests: Vec<Vec<Bytes>>,
    end: Result<(), ProtocolError>,
}

/// The fuzz target's request half: drain, and re-encode every request.
fn drain_requests(name: &str, data: &[u8], limits: &RequestLimits) -> Drained {
    let mut buf = BytesMut::from(data);
    let mut requests = Vec::new();
    let end = loop {
        match parse_request(&mut buf, limits) {
            Ok(Some(args)) => {
                // An inline line may hold more arguments than a multibulk count allows.
                if !args.is_empty() && args.len() <= 1024 * 1024 {
                    let mut wire = BytesMut::new();
                    encode_request(&args, &mut wire);
                    let again = parse_request(&mut wire, &RequestLimits::default());
                    assert_eq!(again, Ok(Some(args.clone())), "{name}: request round trip");
                    assert!(wire.is_empty(), "{name}: re-encoded request left bytes");
                }
                requests.push(args);
            }
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    Drained { requests, end }
}

/// The fuzz target's frame half: frame after frame, each re-encoded and decoded.
fn drain_frames(name: &str, data: &[u8]) -> (Vec<Frame>, Result<(), ProtocolError>) {
    let mut rest = data;
    let mut frames = Vec::new();
    loop {
        match parse_frame(rest) {
            Ok(Some((frame, used))) => {
                assert!(used > 0 && used <= rest.len(), "{name}: used {used}");
                rest = &rest[used..];
                let mut wire = BytesMut::new();
                frame.encode(&mut wire);
                let Ok(Some((again, again_used))) = parse_frame(&wire) else {
                    panic!("{name}: {frame:?} encoded as {wire:?} does not decode");
                };
                assert_eq!(again_used, wire.len(), "{name}: frame round trip length");
                // Compared by encoding, so that NaN equals itself.
                let mut wire_again = BytesMut::new();
                again.encode(&mut wire_again);
                assert_eq!(
                    wire, wire_again,
                    "{name}: {frame:?} changed in a round trip"
                );
                frames.push(frame);
            }
            Ok(None) => return (frames, Ok(())),
            Err(e) => return (frames, Err(e)),
        }
    }
}

fn limits(authenticated: bool) -> RequestLimits {
    RequestLimits {
        authenticated,
        ..RequestLimits::default()
    }
}

#[test]
fn corpus_replays_cleanly() {
    let files = corpus();
    assert!(
        files.len() >= 20,
        "expected the seed corpus in {}",
        corpus_dir().display()
    );
    for (name, data) in &files {
        for authenticated in [true, false] {
            drain_requests(name, data, &limits(authenticated));
        }
        let _ = drain_frames(name, data);
    }
}

fn seed(name: &str) -> Vec<u8> {
    let path = corpus_dir().join(name);
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn arg_strings(requests: &[Vec<Bytes>]) -> Vec<Vec<String>> {
    requests
        .iter()
        .map(|args| {
            args.iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .collect()
}

/// The seeds mean what their names say, so the corpus keeps covering each case.
#[test]
fn seeds_decode_as_named() {
    let authed = limits(true);
    let drained = |name: &str| drain_requests(name, &seed(name), &authed);

    let d = drained("mbulk_set");
    assert_eq!(arg_strings(&d.requests), [["SET", "key", "value"]]);
    assert_eq!(d.end, Ok(()));

    let d = drained("mbulk_pipeline");
    assert_eq!(d.requests.len(), 5);
    assert_eq!(d.end, Ok(()));

    let d = drained("inline_quotes");
    assert_eq!(
        arg_strings(&d.requests),
        [["SET", "a bA\n\t\"", "it's", "plain"]]
    );

    let d = drained("inline_empty_lines");
    assert_eq!(d.requests.len(), 4);
    assert_eq!(d.requests[3], [Bytes::from_static(b"PING")]);

    let errors: &[(&str, ProtocolError)] = &[
        ("mbulk_bad_count", ProtocolError::InvalidMultibulkLength),
        ("mbulk_count_too_big", ProtocolError::InvalidMultibulkLength),
        (
            "mbulk_count_leading_zero",
            ProtocolError::InvalidMultibulkLength,
        ),
        ("mbulk_bad_bulk_len", ProtocolError::InvalidBulkLength),
        ("mbulk_bulk_len_too_big", ProtocolError::InvalidBulkLength),
        ("mbulk_expected_dollar", ProtocolError::ExpectedDollar(b':')),
        ("inline_unbalanced_double", ProtocolError::UnbalancedQuotes),
        ("inline_unbalanced_single", ProtocolError::UnbalancedQuotes),
        ("inline_quote_then_char", ProtocolError::UnbalancedQuotes),
    ];
    for (name, want) in errors {
        assert_eq!(drained(name).end, Err(want.clone()), "{name}");
    }

    let unauth = limits(false);
    for (name, want) in [
        (
            "mbulk_unauth_count",
            ProtocolError::UnauthenticatedMultibulkLength,
        ),
        (
            "mbulk_unauth_bulk",
            ProtocolError::UnauthenticatedBulkLength,
        ),
    ] {
        assert_eq!(drained(name).end, Ok(()), "{name} authenticated");
        let d = drain_requests(name, &seed(name), &unauth);
        assert_eq!(d.end, Err(want), "{name} unauthenticated");
    }

    let frames = |name: &str| drain_frames(name, &seed(name));
    assert_eq!(frames("resp2_scalars").0.len(), 6);
    assert_eq!(frames("resp3_null_bool_double").0.len(), 8);
    assert_eq!(frames("resp3_map_set_push").0.len(), 3);
    assert_eq!(
        frames("resp3_attribute").0,
        [Frame::Array(vec![Frame::Integer(2)])]
    );
    assert_eq!(frames("frame_too_deep").1, Err(ProtocolError::TooDeep));
    assert_eq!(
        frames("frame_missing_crlf").1,
        Err(ProtocolError::ExpectedCrlf)
    );
    assert_eq!(
        frames("frame_bad_type").1,
        Err(ProtocolError::InvalidFrameType(b'?'))
    );
    assert_eq!(frames("frame_huge_count_few_bytes"), (vec![], Ok(())));
}
