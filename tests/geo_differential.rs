//! GEO differential test: a real redis-server 7.0 and tandem run the same
//! seeded random stream of GEO commands (GEOADD, GEODIST, GEOHASH, GEOPOS,
//! GEOSEARCH[STORE], GEORADIUS[BYMEMBER][_RO]) with every option, with
//! coordinates on and near the edges (±180 longitude, ±85.05112878
//! latitude), clusters of members at the same place (ties in distance
//! order), plain sorted sets with arbitrary scores read as geo sets, wrong
//! types, bad arguments and wrong arities. Every reply must be the same
//! bytes on both servers (distances and coordinates compared as the text
//! each server wrote, RESP3 doubles included), and at checkpoints the
//! datasets must have the same `DEBUG DIGEST`, key count and encodings.
//! A tandem replica follows the tandem primary; at the end its digest must
//! equal the primary's (the store commands and GEOADD's ZADD rewrite
//! replicate deterministically).
//!
//! Environment: `TANDEM_GEO_SEED` (comma-separated seeds),
//! `TANDEM_GEO_STEPS` (commands per seed), `TANDEM_TEST_PORTS`
//! (`low-high`: servers listen only on free ports in it; otherwise on
//! ephemeral ports). Even seeds speak RESP3; every third seed runs with
//! small listpack limits. A failure names the seed.

mod common;

use common::rng::{env_count, env_seeds, Rng};

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Flavor, ServerProcess};

const DEFAULT_SEEDS: &[u64] = &[1, 2, 3, 4];
const DEFAULT_STEPS: usize = 2500;
const CHECK_EVERY: usize = 500;
const HISTORY: usize = 25;

const GEO_KEYS: &[&str] = &["geo:0", "geo:1", "geo:2", "geo:big"];
const DST_KEYS: &[&str] = &["dst:0", "dst:1"];
/// A sorted set with arbitrary scores (not all valid geohashes).
const PLAIN: &str = "zplain";
const STR: &str = "str";
const MISSING: &str = "nokey";
const ALL_KEYS: &[&str] = &[
    "geo:0", "geo:1", "geo:2", "geo:big", "dst:0", "dst:1", "zplain", "str", "nokey",
];
const UNITS: &[&str] = &["m", "km", "ft", "mi", "M", "KM", "Ft", "mI"];
const BAD_UNITS: &[&str] = &["", "meters", "parsec", "k"];
/// Places members cluster around: ordinary, on the antimeridian, at the
/// latitude limits, at the origin.
const HUBS: &[(f64, f64)] = &[
    (13.361389, 38.115556),
    (2.3522, 48.8566),
    (179.9995, 0.25),
    (-179.9995, -0.25),
    (0.0, 0.0),
    (45.0, 85.05),
    (-120.0, -85.0),
    (-73.9857, 40.7484),
];
/// Coordinates at or next to the limits, as text.
const EDGE_LONS: &[&str] = &[
    "180",
    "-180",
    "179.99999999",
    "-179.99999999",
    "0",
    "-0",
    "1e-300",
    "179.9999",
];
const EDGE_LATS: &[&str] = &[
    "85.05112878",
    "-85.05112878",
    "85.051128779",
    "-85.0511287",
    "0",
    "-0",
    "85",
    "-84.99999",
];
const BAD_LONS: &[&str] = &[
    "180.0000001",
    "-180.00001",
    "361",
    "abc",
    "",
    "inf",
    "nan",
    "1e400",
];
const BAD_LATS: &[&str] = &["85.05112879", "-85.0512", "90", "-90", "x", "-inf", " 1"];

/// The length of the first complete RESP2/RESP3 reply in `buf`, if any.
fn reply_len(buf: &[u8]) -> Option<usize> {
    fn line_end(buf: &[u8], from: usize) -> Option<usize> {
        buf.get(from..)?
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|p| from + p)
    }
    fn number(buf: &[u8], from: usize, to: usize) -> Option<i64> {
        std::str::from_utf8(&buf[from..to]).ok()?.parse().ok()
    }
    fn one(buf: &[u8], at: usize) -> Option<usize> {
        let kind = *buf.get(at)?;
        let end = line_end(buf, at + 1)?;
        let after = end + 2;
        match kind {
            b'+' | b'-' | b':' | b',' | b'_' | b'#' | b'(' => Some(after),
            b'$' | b'=' | b'!' => {
                let len = number(buf, at + 1, end)?;
                if len < 0 {
                    return Some(after);
                }
                let stop = after + len as usize + 2;
                (buf.len() >= stop).then_some(stop)
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let count = number(buf, at + 1, end)?;
                let items = if matches!(kind, b'%' | b'|') {
                    count * 2
                } else {
                    count
                };
                let mut pos = after;
                for _ in 0..items.max(0) {
                    pos = one(buf, pos)?;
                }
                Some(pos)
            }
            _ => panic!("unexpected RESP type byte {kind:?}"),
        }
    }
    one(buf, 0)
}

/// A connection that returns each reply as the exact bytes received.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    fn call(&mut self, args: &[String]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&out).expect("send");
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return self.buf.drain(..n).collect();
            }
            let mut chunk = [0u8; 16384];
            let n = self.stream.read(&mut chunk).expect("read a reply");
            assert!(n > 0, "server closed the connection");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn text(&mut self, args: &[&str]) -> String {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        String::from_utf8_lossy(&self.call(&args)).into_owned()
    }
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// Builds the command stream.
struct Gen {
    rng: Rng,
    /// Members named so far (a pool that grows a little).
    members: Vec<String>,
    /// Members each key was given (a superset: removals by STORE are not
    /// tracked), so that FROMMEMBER and friends mostly name existing ones.
    known: BTreeMap<String, BTreeSet<String>>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut members: Vec<String> = (0..24).map(|i| format!("m{i}")).collect();
        // Longer than zset-max-listpack-value: the set converts to skiplist.
        members.push(format!("long-{}", "x".repeat(70)));
        members.push(String::new());
        Gen {
            rng: Rng::new(seed),
            members,
            known: BTreeMap::new(),
        }
    }

    /// A member `key` probably holds.
    fn member_of(&mut self, key: &str) -> String {
        let n = self.known.get(key).map_or(0, BTreeSet::len);
        if n == 0 || self.rng.chance(150) {
            return self.member();
        }
        let i = self.rng.below(n as u64) as usize;
        self.known[key].iter().nth(i).cloned().unwrap_or_default()
    }

    /// Updates the model of which members a key holds after a command
    /// that did not fail.
    fn observe(&mut self, cmd: &[String], failed: bool) {
        if failed || cmd.len() < 2 {
            return;
        }
        let name = cmd[0].to_ascii_uppercase();
        let key = cmd[1].clone();
        match name.as_str() {
            "GEOADD" => {
                let first = cmd[2..]
                    .iter()
                    .position(|a| !["NX", "XX", "CH"].contains(&a.to_ascii_uppercase().as_str()))
                    .map_or(cmd.len(), |p| p + 2);
                let members: Vec<String> = cmd[first..]
                    .chunks(3)
                    .filter(|t| t.len() == 3)
                    .map(|t| t[2].clone())
                    .collect();
                self.known.entry(key).or_default().extend(members);
            }
            "ZADD" if cmd.len() == 4 => {
                self.known.entry(key).or_default().insert(cmd[3].clone());
            }
            "ZREM" if cmd.len() == 3 => {
                if let Some(set) = self.known.get_mut(&key) {
                    set.remove(&cmd[2]);
                }
            }
            "DEL" | "SET" => {
                self.known.remove(&key);
            }
            _ => {}
        }
    }

    fn member(&mut self) -> String {
        let i = self.rng.below(self.members.len() as u64) as usize;
        self.members[i].clone()
    }

    fn geo_key(&mut self) -> &'static str {
        let r = self.rng.below(100);
        match r {
            0..=74 => self.rng.pick(GEO_KEYS),
            75..=84 => self.rng.pick(DST_KEYS),
            85..=91 => PLAIN,
            92..=97 => MISSING,
            _ => STR,
        }
    }

    /// A number as text in one of several spellings.
    fn fmt(&mut self, v: f64) -> String {
        match self.rng.below(6) {
            0 => format!("{v:.6}"),
            1 => format!("{v:.2}"),
            2 => format!("{v:e}"),
            _ => format!("{v}"),
        }
    }

    /// A valid position near a hub (offsets from metres to degrees), a
    /// random one, or one at the limits.
    fn position(&mut self) -> (String, String) {
        let r = self.rng.below(100);
        if r < 12 {
            return (
                self.rng.pick(EDGE_LONS).to_string(),
                self.rng.pick(EDGE_LATS).to_string(),
            );
        }
        if r < 25 {
            let lon = -180.0 + 360.0 * self.rng.unit();
            let lat = -85.05112878 + 2.0 * 85.05112878 * self.rng.unit();
            return (self.fmt(lon), self.fmt(lat));
        }
        let (hlon, hlat) = HUBS[self.rng.below(HUBS.len() as u64) as usize];
        if r < 35 {
            // Exactly at the hub: equal distances.
            return (format!("{hlon}"), format!("{hlat}"));
        }
        let scale = [1e-5, 1e-3, 0.05, 1.0, 5.0][self.rng.below(5) as usize];
        let lon = (hlon + (self.rng.unit() * 2.0 - 1.0) * scale).clamp(-180.0, 180.0);
        let lat = (hlat + (self.rng.unit() * 2.0 - 1.0) * scale).clamp(-85.05112878, 85.05112878);
        (self.fmt(lon), self.fmt(lat))
    }

    /// A position, sometimes out of range or not a number.
    fn maybe_bad_position(&mut self) -> (String, String) {
        let (lon, lat) = self.position();
        match self.rng.below(40) {
            0 => (self.rng.pick(BAD_LONS).to_string(), lat),
            1 => (lon, self.rng.pick(BAD_LATS).to_string()),
            _ => (lon, lat),
        }
    }

    fn unit_arg(&mut self) -> String {
        if self.rng.chance(15) {
            self.rng.pick(BAD_UNITS).to_string()
        } else {
            self.rng.pick(UNITS).to_string()
        }
    }

    /// A distance, in the unit's terms.
    fn distance(&mut self) -> String {
        match self.rng.below(40) {
            0 => "-1".into(),
            1 => "abc".into(),
            2 => "0".into(),
            3 => "inf".into(),
            4 => "1e9".into(),
            5 => "-0".into(),
            _ => {
                let exp = -1.0 + 8.0 * self.rng.unit();
                self.fmt(10f64.powf(exp))
            }
        }
    }

    fn count_arg(&mut self) -> String {
        match self.rng.below(60) {
            0 => "0".into(),
            1 => "-3".into(),
            2 => "x".into(),
            _ => (1 + self.rng.below(12)).to_string(),
        }
    }

    fn case(&mut self, word: &str) -> String {
        match self.rng.below(3) {
            0 => word.to_ascii_lowercase(),
            1 => word.to_ascii_uppercase(),
            _ => word
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect(),
        }
    }

    fn geoadd(&mut self) -> Vec<String> {
        let mut cmd = vec![self.case("GEOADD"), self.geo_key().to_string()];
        for _ in 0..self.rng.below(3) {
            let opt = self.rng.pick(&["NX", "XX", "CH", "CH", "CH"]);
            cmd.push(self.case(opt));
        }
        let most = if self.rng.chance(200) { 8 } else { 3 };
        let n = 1 + self.rng.below(most);
        for _ in 0..n {
            let (lon, lat) = self.maybe_bad_position();
            cmd.push(lon);
            cmd.push(lat);
            cmd.push(self.member());
        }
        if self.rng.chance(20) {
            cmd.pop();
        }
        cmd
    }

    /// The shared options of the search commands, as shuffled groups.
    /// `store_word`: a STORE (false) or STOREDIST (true) option of
    /// GEORADIUS; `storing`: the command stores (WITH* options then fail).
    fn options(&mut self, store_word: Option<bool>, storing: bool) -> Vec<Vec<String>> {
        let mut groups = Vec::new();
        let with_prob = if storing || store_word.is_some() {
            10
        } else {
            400
        };
        for w in ["WITHDIST", "WITHHASH", "WITHCOORD"] {
            if self.rng.chance(with_prob) {
                groups.push(vec![self.case(w)]);
            }
        }
        match self.rng.below(5) {
            0 => groups.push(vec![self.case("ASC")]),
            1 => groups.push(vec![self.case("DESC")]),
            2 if self.rng.chance(100) => {
                groups.push(vec![self.case("ASC")]);
                groups.push(vec![self.case("DESC")]);
            }
            _ => {}
        }
        if self.rng.chance(450) {
            groups.push(vec![self.case("COUNT"), self.count_arg()]);
            if self.rng.chance(300) {
                groups.push(vec![self.case("ANY")]);
            }
        } else if self.rng.chance(15) {
            groups.push(vec![self.case("ANY")]);
        }
        if let Some(dist) = store_word {
            let word = if dist { "STOREDIST" } else { "STORE" };
            let dst = if self.rng.chance(100) {
                self.rng.pick(GEO_KEYS)
            } else {
                self.rng.pick(DST_KEYS)
            };
            groups.push(vec![self.case(word), dst.to_string()]);
        }
        if self.rng.chance(15) {
            groups.push(vec![self
                .rng
                .pick(&["BOGUS", "STORE", "COUNT", "FROMMEMBER"])
                .into()]);
        }
        self.rng.shuffle(&mut groups);
        groups
    }

    fn geosearch(&mut self, store: bool) -> Vec<String> {
        let mut cmd = if store {
            let dst = self.rng.pick(DST_KEYS).to_string();
            vec![self.case("GEOSEARCHSTORE"), dst, self.geo_key().to_string()]
        } else {
            vec![self.case("GEOSEARCH"), self.geo_key().to_string()]
        };
        let src = cmd[if store { 2 } else { 1 }].clone();
        let mut groups = self.options(None, store);
        let from = self.rng.below(30);
        if from != 0 {
            if from.is_multiple_of(2) {
                groups.push(vec![self.case("FROMMEMBER"), self.member_of(&src)]);
            } else {
                let (lon, lat) = self.maybe_bad_position();
                groups.push(vec![self.case("FROMLONLAT"), lon, lat]);
            }
        }
        if from == 1 {
            groups.push(vec![self.case("FROMMEMBER"), self.member()]);
        }
        let by = self.rng.below(30);
        if by != 0 {
            if by.is_multiple_of(2) {
                groups.push(vec![
                    self.case("BYRADIUS"),
                    self.distance(),
                    self.unit_arg(),
                ]);
            } else {
                groups.push(vec![
                    self.case("BYBOX"),
                    self.distance(),
                    self.distance(),
                    self.unit_arg(),
                ]);
            }
        }
        if store && self.rng.chance(400) {
            groups.push(vec![self.case("STOREDIST")]);
        }
        if store && self.rng.chance(20) {
            groups.push(vec![self.case("WITHDIST")]);
        }
        self.rng.shuffle(&mut groups);
        cmd.extend(groups.into_iter().flatten());
        cmd
    }

    fn georadius(&mut self, by_member: bool, read_only: bool) -> Vec<String> {
        let name = match (by_member, read_only) {
            (false, false) => "GEORADIUS",
            (false, true) => "GEORADIUS_RO",
            (true, false) => "GEORADIUSBYMEMBER",
            (true, true) => "GEORADIUSBYMEMBER_RO",
        };
        let key = self.geo_key();
        let mut cmd = vec![self.case(name), key.to_string()];
        if by_member {
            cmd.push(self.member_of(key));
        } else {
            let (lon, lat) = self.maybe_bad_position();
            cmd.push(lon);
            cmd.push(lat);
        }
        cmd.push(self.distance());
        cmd.push(self.unit_arg());
        let store_chance = if read_only { 20 } else { 300 };
        let store = if self.rng.chance(store_chance) {
            Some(self.rng.chance(500))
        } else {
            None
        };
        cmd.extend(self.options(store, false).into_iter().flatten());
        cmd
    }

    fn members_cmd(&mut self, name: &str) -> Vec<String> {
        let key = self.geo_key();
        let mut cmd = vec![self.case(name), key.to_string()];
        for _ in 0..self.rng.below(4) {
            cmd.push(self.member_of(key));
        }
        cmd
    }

    fn geodist(&mut self) -> Vec<String> {
        let key = self.geo_key();
        let mut cmd = vec![
            self.case("GEODIST"),
            key.to_string(),
            self.member_of(key),
            self.member_of(key),
        ];
        if self.rng.chance(600) {
            cmd.push(self.unit_arg());
            if self.rng.chance(30) {
                cmd.push("km".into());
            }
        }
        cmd
    }

    /// Arbitrary scores in the plain set: negative, huge, fractional, or
    /// valid hashes.
    fn zadd_plain(&mut self) -> Vec<String> {
        let score = match self.rng.below(8) {
            0 => "-5".to_string(),
            1 => "1e300".to_string(),
            2 => "inf".to_string(),
            3 => "-inf".to_string(),
            4 => (self.rng.next_u64() >> 10).to_string(),
            5 => format!("{}", self.rng.unit() * 1e19),
            _ => (self.rng.next_u64() >> 12).to_string(),
        };
        vec!["ZADD".into(), PLAIN.into(), score, self.member()]
    }

    fn next(&mut self) -> Vec<String> {
        let mut cmd = match self.rng.below(100) {
            0..=21 => self.geoadd(),
            22..=27 => self.geodist(),
            28..=31 => self.members_cmd("GEOHASH"),
            32..=36 => self.members_cmd("GEOPOS"),
            37..=54 => self.geosearch(false),
            55..=61 => self.geosearch(true),
            62..=71 => self.georadius(false, false),
            72..=75 => self.georadius(false, true),
            76..=83 => self.georadius(true, false),
            84..=86 => self.georadius(true, true),
            87..=90 => self.zadd_plain(),
            91..=93 => {
                let key = self.geo_key();
                vec!["ZREM".into(), key.into(), self.member_of(key)]
            }
            94 => vec!["DEL".into(), self.rng.pick(ALL_KEYS).into()],
            95..=97 => vec![
                "ZRANGE".into(),
                self.geo_key().into(),
                "0".into(),
                "-1".into(),
                "WITHSCORES".into(),
            ],
            _ => vec!["SET".into(), STR.into(), "x".into()],
        };
        // Now and then a wrong arity.
        if self.rng.chance(10) && cmd.len() > 2 {
            let keep = 1 + self.rng.below(cmd.len() as u64 - 1) as usize;
            cmd.truncate(keep);
        }
        cmd
    }
}

/// The servers of one run.
struct Servers {
    redis: ServerProcess,
    tandem: ServerProcess,
    replica: ServerProcess,
}

impl Servers {
    fn start() -> Option<Servers> {
        if !common::have("redis-server") {
            eprintln!("SKIPPED: geo differential test needs redis-server");
            return None;
        }
        let p: Vec<u16> = (0..3).map(|_| common::free_port()).collect();
        let redis = ServerProcess::start_on(Flavor::Redis, p[0], &[]);
        let tandem = ServerProcess::start_on(Flavor::Tandem, p[1], &[]);
        let primary_port = tandem.port.to_string();
        let replica = ServerProcess::start_on(
            Flavor::Tandem,
            p[2],
            &["--replicaof", "127.0.0.1", &primary_port],
        );
        Some(Servers {
            redis,
            tandem,
            replica,
        })
    }
}

struct Runner<'a> {
    seed: u64,
    gen: Gen,
    redis: Conn,
    tandem: Conn,
    servers: &'a Servers,
    history: Vec<String>,
    stats: Stats,
}

/// What the stream exercised (printed per seed, to keep the generator honest).
#[derive(Debug, Default)]
struct Stats {
    errors: usize,
    empty: usize,
    /// Search replies with two or more results.
    multi: usize,
    /// Replies holding a distance or a coordinate.
    numbers: usize,
}

impl Runner<'_> {
    fn fail(&self, step: usize, what: &str) -> ! {
        let seed = self.seed;
        let recent = self.history.join("\n  ");
        panic!(
            "geo differential: seed {seed} (TANDEM_GEO_SEED={seed}), step {step}: {what}\n\
             recent commands:\n  {recent}"
        );
    }

    fn both(&mut self, step: usize, cmd: &[String]) {
        let line = cmd
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(" ");
        if self.history.len() == HISTORY {
            self.history.remove(0);
        }
        self.history.push(line.clone());
        let r = self.redis.call(cmd);
        let t = self.tandem.call(cmd);
        self.count(cmd, &r);
        self.gen.observe(cmd, r.first() == Some(&b'-'));
        if r != t {
            self.fail(
                step,
                &format!(
                    "replies differ for {line}\n  redis:  {}\n  tandem: {}",
                    show(&r),
                    show(&t)
                ),
            );
        }
    }

    fn count(&mut self, cmd: &[String], reply: &[u8]) {
        let name = cmd[0].to_ascii_uppercase();
        match reply.first() {
            Some(b'-') => self.stats.errors += 1,
            Some(b'*') if reply.starts_with(b"*0\r\n") => self.stats.empty += 1,
            Some(b'*') if name.starts_with("GEOSEARCH") || name.starts_with("GEORADIUS") => {
                let n: usize = std::str::from_utf8(&reply[1..reply.len().min(12)])
                    .ok()
                    .and_then(|t| t.split("\r\n").next()?.parse().ok())
                    .unwrap_or(0);
                if n >= 2 {
                    self.stats.multi += 1;
                }
            }
            _ => {}
        }
        if reply
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && w[1] == b'.')
        {
            self.stats.numbers += 1;
        }
    }

    fn checkpoint(&mut self, step: usize) {
        let mut probes: Vec<Vec<&str>> = vec![vec!["DEBUG", "DIGEST"], vec!["DBSIZE"]];
        for k in ALL_KEYS {
            probes.push(vec!["OBJECT", "ENCODING", k]);
        }
        for p in probes {
            let r = self.redis.text(&p);
            let t = self.tandem.text(&p);
            if r != t {
                self.fail(
                    step,
                    &format!(
                        "{p:?} differs\n  redis:  {}\n  tandem: {}",
                        show(r.as_bytes()),
                        show(t.as_bytes())
                    ),
                );
            }
        }
    }

    fn run(&mut self, steps: usize, resp3: bool) {
        // Every third seed has small listpack limits, so that stored results
        // and growing sets cross them often.
        let (entries, value) = if self.seed.is_multiple_of(3) {
            ("8", "16")
        } else {
            ("128", "64")
        };
        for c in [&mut self.redis, &mut self.tandem] {
            c.text(&["FLUSHALL"]);
            for (name, v) in [
                ("zset-max-listpack-entries", entries),
                ("zset-max-listpack-value", value),
            ] {
                assert_eq!(c.text(&["CONFIG", "SET", name, v]), "+OK\r\n");
            }
            if resp3 {
                c.text(&["HELLO", "3"]);
            }
        }
        // A set past the listpack entry limit, from the start.
        let mut big = vec!["GEOADD".to_string(), "geo:big".to_string()];
        for i in 0..150 {
            let (lon, lat) = self.gen.position();
            big.extend([lon, lat, format!("b{i}")]);
        }
        self.both(0, &big);
        for step in 1..=steps {
            let cmd = self.gen.next();
            self.both(step, &cmd);
            if step % CHECK_EVERY == 0 {
                self.checkpoint(step);
            }
        }
        self.checkpoint(steps);
        self.replica_converges();
    }

    /// The replica of tandem ends with tandem's dataset.
    fn replica_converges(&mut self) {
        let want = self.tandem.text(&["DEBUG", "DIGEST"]);
        let mut replica = Conn::connect(self.servers.replica.port);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut got = String::new();
        while Instant::now() < deadline {
            got = replica.text(&["DEBUG", "DIGEST"]);
            if got == want {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.fail(
            0,
            &format!("the replica's digest {got:?} never reached the primary's {want:?}"),
        );
    }
}

#[test]
fn geo_commands_match_redis() {
    let Some(servers) = Servers::start() else {
        return;
    };
    let seeds = env_seeds("TANDEM_GEO_SEED", DEFAULT_SEEDS);
    let steps = env_count("TANDEM_GEO_STEPS", DEFAULT_STEPS);
    for seed in seeds {
        let started = Instant::now();
        let resp3 = seed.is_multiple_of(2);
        let mut run = Runner {
            seed,
            gen: Gen::new(seed),
            redis: Conn::connect(servers.redis.port),
            tandem: Conn::connect(servers.tandem.port),
            servers: &servers,
            history: Vec::new(),
            stats: Stats::default(),
        };
        run.run(steps, resp3);
        eprintln!(
            "geo differential: seed {seed} ({}) passed, {steps} commands in {:?}: {:?}",
            if resp3 { "RESP3" } else { "RESP2" },
            started.elapsed(),
            run.stats
        );
    }
}
