//! Bit commands and LCS against a real redis-server 7.0: a seeded, bounded
//! random stream of GETBIT, SETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO and LCS (with the strings they work on, TTLs, a key of
//! another type, and bad arguments of every kind) must get the same replies
//! from both servers, the same `OBJECT ENCODING`s, and the same
//! `DEBUG DIGEST` at every checkpoint. A tandem replica of tandem must end
//! with its primary's digest after the same stream.
//!
//! Both servers run with `proto-max-bulk-len 1mb`, so the bit offset limit
//! (8388608) is reachable with small strings.
//!
//! Environment: `TANDEM_BITS_SEED` (comma-separated seeds), `TANDEM_BITS_STEPS`
//! (commands per seed). Odd seeds run over RESP3. A failure names its seed.

mod common;

use common::assert_converged;
use common::rng::{env_count, env_seeds, Rng};

use std::collections::VecDeque;
use std::time::Duration;

use common::{info_field, wait_until, Client, ServerProcess};

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3, 4];
const DEFAULT_STEPS: usize = 2500;
const CHECKPOINT_EVERY: usize = 250;
const HISTORY: usize = 25;

const BITMAPS: &[&str] = &["bm:0", "bm:1", "bm:2", "bm:3"];
const STRINGS: &[&str] = &["st:0", "st:1", "st:2"];
const OTHER: &str = "list";
const WORDS: &[&str] = &[
    "",
    "a",
    "hello",
    "world",
    "ohmytext",
    "mynewtext",
    "12",
    "-5",
    "0",
    "foobar",
    "\u{0}\u{1}",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
];

/// Generates the command stream.
struct Gen {
    rng: Rng,
}

impl Gen {
    fn key(&mut self) -> String {
        match self.rng.below(20) {
            0 => OTHER.to_string(),
            1 => "nokey".to_string(),
            2..=5 => self.rng.pick(STRINGS).to_string(),
            _ => self.rng.pick(BITMAPS).to_string(),
        }
    }

    fn bit_offset(&mut self) -> String {
        match self.rng.below(100) {
            0 => self
                .rng
                .pick(&["-1", "x", "", "8388608", "#3", "1.5", "9223372036854775807"])
                .to_string(),
            1 => "8388607".to_string(),
            2..=11 => self.rng.range(0, 4000).to_string(),
            _ => self.rng.range(0, 300).to_string(),
        }
    }

    fn index(&mut self) -> String {
        match self.rng.below(40) {
            0 => self
                .rng
                .pick(&["x", "9223372036854775807", "-9223372036854775808", ""])
                .to_string(),
            1..=4 => self.rng.range(-400, 400).to_string(),
            _ => self.rng.range(-20, 20).to_string(),
        }
    }

    fn unit(&mut self) -> String {
        self.rng
            .pick(&["BIT", "BYTE", "bit", "byte", "BIT", "BYTE", "bits"])
            .to_string()
    }

    fn field_type(&mut self) -> String {
        if self.rng.percent(4) {
            return self
                .rng
                .pick(&["u64", "i65", "i0", "x8", "u", "I8", "u08"])
                .to_string();
        }
        let signed = self.rng.percent(50);
        let bits = match self.rng.below(4) {
            0 => self.rng.range(1, if signed { 64 } else { 63 }),
            1 => *[1, 8, 16, 32, 63, 64]
                .get(self.rng.below(if signed { 6 } else { 5 }) as usize)
                .expect("in range"),
            _ => self.rng.range(1, 16),
        };
        format!("{}{bits}", if signed { "i" } else { "u" })
    }

    fn field_offset(&mut self) -> String {
        match self.rng.below(30) {
            0 => self
                .rng
                .pick(&["-1", "x", "#", "#-1", "8388608"])
                .to_string(),
            1..=8 => format!("#{}", self.rng.range(0, 20)),
            _ => self.rng.range(0, 200).to_string(),
        }
    }

    fn field_value(&mut self) -> String {
        match self.rng.below(20) {
            0 => self
                .rng
                .pick(&[
                    "9223372036854775807",
                    "-9223372036854775808",
                    "x",
                    "18446744073709551615",
                ])
                .to_string(),
            1 => (self.rng.next_u64() as i64).to_string(),
            2..=6 => self.rng.range(-70000, 70000).to_string(),
            _ => self.rng.range(-300, 300).to_string(),
        }
    }

    fn bitfield_subcommands(&mut self, args: &mut Vec<String>, read_only: bool) {
        for _ in 0..self.rng.range(0, 4) {
            match self.rng.below(10) {
                0 | 1 => {
                    args.push("OVERFLOW".into());
                    let mode = self
                        .rng
                        .pick(&["WRAP", "SAT", "FAIL", "wrap", "sat", "fail", "BAD"]);
                    args.push(mode.into());
                }
                2..=4 => {
                    args.push("GET".into());
                    args.push(self.field_type());
                    args.push(self.field_offset());
                }
                _ if read_only && !self.rng.percent(10) => {
                    args.push("get".into());
                    args.push(self.field_type());
                    args.push(self.field_offset());
                }
                n => {
                    args.push(if n % 2 == 0 { "SET" } else { "INCRBY" }.into());
                    args.push(self.field_type());
                    args.push(self.field_offset());
                    args.push(self.field_value());
                }
            }
        }
        if self.rng.percent(3) {
            // A subcommand without its arguments, or an unknown one.
            args.push(
                self.rng
                    .pick(&["GET", "SET", "INCRBY", "OVERFLOW", "FOO"])
                    .into(),
            );
            args.push("u8".into());
        }
    }

    fn next(&mut self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let s = |x: &str| x.to_string();
        match self.rng.below(100) {
            0..=13 => {
                a.extend([s("SETBIT"), self.key(), self.bit_offset()]);
                let v = if self.rng.percent(93) {
                    s(self.rng.pick(&["0", "1"]))
                } else {
                    s(self.rng.pick(&["2", "-1", "x", ""]))
                };
                a.push(v);
            }
            14..=20 => a.extend([s("GETBIT"), self.key(), self.bit_offset()]),
            21..=29 => {
                a.extend([s("BITCOUNT"), self.key()]);
                match self.rng.below(10) {
                    0 => {}
                    1 => a.push(self.index()),
                    2..=5 => a.extend([self.index(), self.index()]),
                    6..=8 => a.extend([self.index(), self.index(), self.unit()]),
                    _ => a.extend([self.index(), self.index(), self.unit(), s("x")]),
                }
            }
            30..=39 => {
                let bit = if self.rng.percent(95) {
                    s(self.rng.pick(&["0", "1"]))
                } else {
                    s(self.rng.pick(&["2", "x", "-1"]))
                };
                a.extend([s("BITPOS"), self.key(), bit]);
                match self.rng.below(10) {
                    0 | 1 => {}
                    2 | 3 => a.push(self.index()),
                    4..=5 => a.extend([self.index(), self.index()]),
                    6..=8 => a.extend([self.index(), self.index(), self.unit()]),
                    _ => a.extend([self.index(), self.index(), self.unit(), s("x")]),
                }
            }
            40..=47 => {
                let op = self
                    .rng
                    .pick(&["AND", "OR", "XOR", "NOT", "and", "or", "xor", "not", "NAND"]);
                a.extend([s("BITOP"), s(op), self.key()]);
                let sources = if op.eq_ignore_ascii_case("not") && self.rng.percent(85) {
                    1
                } else {
                    self.rng.range(1, 4)
                };
                for _ in 0..sources {
                    a.push(self.key());
                }
            }
            48..=65 => {
                a.extend([s("BITFIELD"), self.key()]);
                self.bitfield_subcommands(&mut a, false);
            }
            66..=70 => {
                a.extend([s("BITFIELD_RO"), self.key()]);
                self.bitfield_subcommands(&mut a, true);
            }
            71..=79 => {
                let first = if self.rng.percent(70) {
                    s(self.rng.pick(STRINGS))
                } else {
                    self.key()
                };
                a.extend([s("LCS"), first, self.key()]);
                for _ in 0..self.rng.range(0, 3) {
                    match self.rng.below(9) {
                        0 | 1 => a.push(s("IDX")),
                        2 => a.push(s("LEN")),
                        3 | 4 => a.push(s("WITHMATCHLEN")),
                        5..=7 => {
                            a.push(s("MINMATCHLEN"));
                            if self.rng.percent(95) {
                                a.push(self.rng.range(-2, 6).to_string());
                            }
                        }
                        _ => a.push(s(self.rng.pick(&["x", "idx", "len"]))),
                    }
                }
            }
            80..=84 => {
                let family = if self.rng.percent(60) {
                    STRINGS
                } else {
                    BITMAPS
                };
                let k = self.rng.pick(family);
                a.extend([s("SET"), s(k), s(self.rng.pick(WORDS))]);
                if self.rng.percent(30) {
                    a.extend([s("EX"), s("100000")]);
                }
            }
            85 | 86 => a.extend([s("APPEND"), self.key(), s(self.rng.pick(WORDS))]),
            87 => a.extend([
                s("SETRANGE"),
                self.key(),
                self.rng.range(0, 40).to_string(),
                s(self.rng.pick(WORDS)),
            ]),
            88..=90 => a.extend([s("DEL"), self.key()]),
            91 => a.extend([s("EXPIRE"), self.key(), s("100000")]),
            92 => a.extend([s("RPUSH"), s(OTHER), s("x")]),
            93..=95 => a.extend([s("OBJECT"), s("ENCODING"), self.key()]),
            96 | 97 => a.extend([s("GET"), self.key()]),
            _ => a.extend([s("STRLEN"), self.key()]),
        }
        a
    }
}

/// Commands every seed starts with: option words as C compares them (up to
/// a NUL), and the edges of the offset and field limits.
const FIXED: &[&[&str]] = &[
    &["SET", "st:0", "foobar"],
    &["BITCOUNT", "st:0", "0", "9", "bit\0x"],
    &["BITPOS", "st:0", "1", "0", "9", "BYTE\0"],
    &["BITOP", "and\0x", "bm:0", "st:0"],
    &["BITFIELD", "st:0", "get\0zz", "u8\0", "#1"],
    &[
        "BITFIELD", "st:0", "OVERFLOW", "sat\0", "SET", "i8\0", "0", "-1000",
    ],
    &["LCS", "st:0", "bm:0", "len\0"],
    &["GETBIT", "st:0", "8388607"],
    &["GETBIT", "st:0", "8388608"],
    &["BITFIELD", "st:0", "GET", "u63", "#133152"],
    &["BITFIELD", "st:0", "GET", "u63", "#133153"],
    &["BITFIELD", "st:0", "GET", "i64", "8388544"],
    &["BITFIELD", "st:0", "GET", "i64", "8388545"],
    &[
        "BITFIELD",
        "st:0",
        "SET",
        "i64",
        "#3",
        "-9223372036854775808",
    ],
    &[
        "BITFIELD", "st:0", "INCRBY", "i64", "#3", "-1", "GET", "u63", "193",
    ],
    &[
        "BITFIELD", "st:0", "OVERFLOW", "SAT", "INCRBY", "i64", "#3", "-1",
    ],
    &[
        "BITFIELD",
        "st:0",
        "SET",
        "u63",
        "#3",
        "9223372036854775807",
    ],
    &[
        "BITFIELD", "st:0", "INCRBY", "u63", "#3", "1", "SET", "i1", "0", "-1",
    ],
    &[
        "BITFIELD", "st:0", "GET", "i1", "0", "SET", "i1", "0", "1", "GET", "i1", "0",
    ],
    &["DEL", "st:0", "bm:0"],
];

fn seeds() -> Vec<u64> {
    env_seeds("TANDEM_BITS_SEED", DEFAULT_SEEDS)
}

fn steps() -> usize {
    env_count("TANDEM_BITS_STEPS", DEFAULT_STEPS)
}

fn run(c: &mut Client, args: &[String]) -> String {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    c.q(&args)
}

/// Puts a server in the state every seed starts from.
fn reset(c: &mut Client, resp3: bool) {
    assert_eq!(c.q(&["FLUSHALL"]), "+OK");
    assert_eq!(c.q(&["CONFIG", "SET", "proto-max-bulk-len", "1mb"]), "+OK");
    c.q(&["HELLO", if resp3 { "3" } else { "2" }]);
}

fn fail(seed: u64, step: usize, history: &VecDeque<String>, what: String) -> ! {
    let recent: Vec<&str> = history.iter().map(String::as_str).collect();
    panic!(
        "bits differential failed: seed {seed} (rerun with TANDEM_BITS_SEED={seed}), \
         step {step}: {what}\nrecent commands:\n  {}",
        recent.join("\n  ")
    );
}

#[test]
fn bit_commands_match_redis() {
    let Some(redis) = ServerProcess::redis(&[]) else {
        return;
    };
    let tandem = ServerProcess::tandem(&[]);
    let (mut r, mut t) = (redis.client(), tandem.client());
    let steps = steps();
    for seed in seeds() {
        let resp3 = seed % 2 == 1;
        reset(&mut r, resp3);
        reset(&mut t, resp3);
        let mut gen = Gen {
            rng: Rng::new(seed),
        };
        let mut history = VecDeque::new();
        let mut fixed = FIXED.iter();
        for step in 1..=steps {
            let cmd = match fixed.next() {
                Some(words) => words.iter().map(|w| w.to_string()).collect(),
                None => gen.next(),
            };
            let text = cmd.join(" ");
            history.push_back(text.clone());
            if history.len() > HISTORY {
                history.pop_front();
            }
            let (want, got) = (run(&mut r, &cmd), run(&mut t, &cmd));
            if want != got {
                fail(
                    seed,
                    step,
                    &history,
                    format!("{text:?}\n  redis:  {want}\n  tandem: {got}"),
                );
            }
            if step % CHECKPOINT_EVERY == 0 || step == steps {
                let (want, got) = (r.q(&["DEBUG", "DIGEST"]), t.q(&["DEBUG", "DIGEST"]));
                if want != got {
                    fail(
                        seed,
                        step,
                        &history,
                        format!("DEBUG DIGEST differs: redis {want}, tandem {got}"),
                    );
                }
            }
        }
        assert_ne!(
            t.q(&["DBSIZE"]),
            ":0",
            "seed {seed}: the stream left no data to compare"
        );
    }
}

#[test]
fn tandem_replica_follows_bit_writes() {
    let primary = ServerProcess::tandem(&[]);
    let port = primary.port.to_string();
    let replica = ServerProcess::tandem(&["--replicaof", "127.0.0.1", &port]);
    let (mut p, mut r) = (primary.client(), replica.client());
    assert!(wait_until(Duration::from_secs(20), || {
        info_field(&mut r, "replication", "master_link_status").as_deref() == Some("up")
    }));
    reset(&mut p, false);
    // Writes that change no bit, and a BITFIELD that only creates its key
    // (every write fails): the replica must hold the same bytes.
    for cmd in [
        &["SETBIT", "k", "7", "0"][..],
        &["SETBIT", "k", "7", "0"],
        &["BITFIELD", "k", "SET", "u8", "0", "0"],
        &[
            "BITFIELD", "fresh", "OVERFLOW", "FAIL", "INCRBY", "u2", "#100", "5",
        ],
        &[
            "BITFIELD", "k", "OVERFLOW", "FAIL", "INCRBY", "i8", "#9", "1000",
        ],
        &["MULTI"],
        &["SETBIT", "tx", "3", "1"],
        &["BITOP", "NOT", "tx2", "tx"],
        &["BITFIELD", "tx", "INCRBY", "u4", "#3", "7"],
        &["EXEC"],
    ] {
        p.q(cmd);
    }
    assert_converged(&mut p, &mut r);
    assert_eq!(r.q(&["STRLEN", "fresh"]), ":26");
    assert_eq!(r.q(&["STRLEN", "k"]), ":10");
    let mut gen = Gen { rng: Rng::new(7) };
    for _ in 0..steps() {
        run(&mut p, &gen.next());
    }
    assert_converged(&mut p, &mut r);
    assert_ne!(r.q(&["DBSIZE"]), ":0");
}
