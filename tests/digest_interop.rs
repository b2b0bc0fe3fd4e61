//! The same data loaded into a real redis-server 7.0 and into tandem gives the
//! same `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`.

mod common;

use common::{Client, ServerProcess};

fn load(c: &mut Client) {
    for i in 0..500 {
        let k = format!("key:{i}");
        let v = format!("value-{}", i * 7919 % 1000);
        assert_eq!(c.q(&["SET", &k, &v]), "+OK");
    }
    c.q(&["SET", "int", "12345"]);
    c.q(&["SET", "neg", "-42"]);
    c.q(&["SET", "empty", ""]);
    c.q(&["SET", "binary", "\u{0}\u{1}\u{2}\r\n"]);
    c.q(&["SET", "long", &"x".repeat(5000)]);
    c.q(&["SET", "ttl1", "a", "EX", "1000"]);
    c.q(&["SET", "ttl2", "b", "PXAT", "4102444800000"]);
    c.q(&["INCRBYFLOAT", "float", "3.25"]);
    c.q(&["APPEND", "appended", "abc"]);
    c.q(&["SELECT", "3"]);
    c.q(&["SET", "db3key", "v"]);
    c.q(&["SET", "key:1", "other"]);
    c.q(&["SELECT", "15"]);
    c.q(&["SET", "last", "db"]);
    c.q(&["SELECT", "0"]);
}

#[test]
fn digests_match_redis() {
    let tandem = ServerProcess::tandem(&[]);
    let mut t = tandem.client();
    assert_eq!(t.q(&["DEBUG", "DIGEST"]), format!("+{}", "0".repeat(40)));
    load(&mut t);
    let ours = t.q(&["DEBUG", "DIGEST"]);
    assert_ne!(ours, format!("+{}", "0".repeat(40)));
    let ours_values = t.q(&["DEBUG", "DIGEST-VALUE", "key:1", "ttl1", "nosuch", "long"]);

    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let mut r = redis.client();
    load(&mut r);
    assert_eq!(
        ours,
        r.q(&["DEBUG", "DIGEST"]),
        "dataset digest differs from redis-server"
    );
    assert_eq!(
        ours_values,
        r.q(&["DEBUG", "DIGEST-VALUE", "key:1", "ttl1", "nosuch", "long"]),
        "per-key digests differ"
    );

    // A change on one side only must change the digest.
    t.q(&["SET", "key:1", "changed"]);
    assert_ne!(t.q(&["DEBUG", "DIGEST"]), r.q(&["DEBUG", "DIGEST"]));
    r.q(&["SET", "key:1", "changed"]);
    assert_eq!(t.q(&["DEBUG", "DIGEST"]), r.q(&["DEBUG", "DIGEST"]));
}
