//! Feeds arbitrary bytes to the RESP decoders: `parse_request` (drained until it
//! wants more bytes or fails, as a client and as an unauthenticated client) and
//! `parse_frame` (frame after frame). Nothing may panic, and whatever decodes must
//! decode the same after being encoded again.
//!
//! tests/fuzz_corpus.rs replays the corpus with the same checks under `cargo test`.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tandem_server::resp::{encode_request, parse_frame, parse_request, RequestLimits};

fuzz_target!(|data: &[u8]| {
    for authenticated in [true, false] {
        let limits = RequestLimits {
            authenticated,
            ..RequestLimits::default()
        };
        let mut buf = BytesMut::from(data);
        while let Ok(Some(args)) = parse_request(&mut buf, &limits) {
            // An inline line may hold more arguments than a multibulk count allows.
            if args.is_empty() || args.len() > 1024 * 1024 {
                continue;
            }
            let mut wire = BytesMut::new();
            encode_request(&args, &mut wire);
            let again = parse_request(&mut wire, &RequestLimits::default());
            assert_eq!(again, Ok(Some(args)));
            assert!(wire.is_empty());
        }
    }

    let mut rest = data;
    while let Ok(Some((frame, used))) = parse_frame(rest) {
        assert!(used > 0 && used <= rest.len());
        rest = &rest[used..];
        let mut wire = BytesMut::new();
        frame.encode(&mut wire);
        let Ok(Some((again, again_used))) = parse_frame(&wire) else {
            panic!("{frame:?} encoded as {wire:?} does not decode");
        };
        assert_eq!(again_used, wire.len());
        let mut wire_again = BytesMut::new();
        again.encode(&mut wire_again);
        assert_eq!(wire, wire_again, "{frame:?} changed in a round trip");
    }
});
