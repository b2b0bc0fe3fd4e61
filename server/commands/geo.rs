//! Geo commands: GEOADD, GEODIST, GEOHASH, GEOPOS, GEOSEARCH,
//! GEOSEARCHSTORE and the older GEORADIUS family.
//!
//! A geo set is a sorted set whose scores are 52-bit geohashes: longitude and
//! latitude, each cut into 2^26 steps over Redis's ranges (-180..180 and
//! -85.05112878..85.05112878, the Web Mercator limits), interleaved with the
//! latitude in the even bits. Everything visible follows Redis 7.0's geo.c,
//! geohash.c and geohash_helper.c exactly, because replies expose it:
//!
//! - Decoding gives the centre of the hash's cell, clamped to the ranges.
//!   Any score decodes (a plain sorted set is a valid geo set); a score is
//!   turned into hash bits as x86-64 C converts a `double` to `uint64_t`.
//! - A search estimates a cell size from the radius, takes the cell holding
//!   the centre and its eight neighbours (dropping those the bounding box
//!   cannot reach), scans each cell's score range in order and keeps the
//!   members inside the shape. Which members near the edges are found, and
//!   the order of an unsorted reply, come from this walk.
//! - Sorting by distance uses glibc's merge sort for a full sort and Redis's
//!   partial quicksort (`pqsort`) when COUNT keeps fewer than all, so ties
//!   come out as Redis orders them.
//! - Distances are haversine over a sphere of radius 6372797.560856 m,
//!   printed fixed-point with four decimals; coordinates are printed as
//!   `%.17Lf` with trailing zeros trimmed (RESP3: a double of that text).
//!
//! Propagation follows Redis: GEOADD runs as (and replicates as) the ZADD it
//! rewrites itself to; the store forms go as they came.
//!
//! Keyspace events: GEOADD raises ZADD's `zadd`; a STORE raises
//! `georadiusstore` (GEORADIUS, GEORADIUSBYMEMBER) or `geosearchstore`, or
//! `del` when no result deleted an existing destination.

use std::collections::HashSet;

use bytes::Bytes;
use tandem_storage::longdouble::LongDouble;
use tandem_storage::types::zset::{parse_score, ScoreRange, ZSetValue};
use tandem_storage::{SmallBytes, Value};

use crate::command::{flags::*, CommandSpec, KeySpec};
use crate::commands::args::{self, is};
use crate::commands::pqsort::pqsort;
use crate::commands::zsets::{read_zset, zadd};
use crate::exec::ExecCtx;
use crate::notify;
use crate::reply::{Proto, Reply};
use crate::tri;

const R: u32 = READONLY;
const WM: u32 = WRITE | DENYOOM;

const WRITE_SLOW: &[&str] = &["write", "geo", "slow"];
const READ_SLOW: &[&str] = &["read", "geo", "slow"];

const SEARCH_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements in the \
grid-aligned bounding box area around the shape provided as the filter and M is the number of \
items inside the shape";
const RADIUS_COMPLEXITY: &str = "O(N+log(M)) where N is the number of elements inside the \
bounding box of the circular area delimited by center and radius and M is the number of items \
inside the index.";

pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("geoadd", -5, WM, KeySpec::ONE, geoadd)
        .doc(
            "geo",
            "3.2.0",
            "Add one or more geospatial items in the geospatial index represented using a sorted \
             set",
        )
        .complexity(
            "O(log(N)) for each item added, where N is the number of elements in the sorted set.",
        )
        .acl(WRITE_SLOW),
    CommandSpec::new("geodist", -4, R, KeySpec::ONE, geodist)
        .doc(
            "geo",
            "3.2.0",
            "Returns the distance between two members of a geospatial index",
        )
        .complexity("O(log(N))")
        .acl(READ_SLOW),
    CommandSpec::new("geohash", -2, R, KeySpec::ONE, geohash)
        .doc(
            "geo",
            "3.2.0",
            "Returns members of a geospatial index as standard geohash strings",
        )
        .complexity(
            "O(log(N)) for each member requested, where N is the number of elements in the \
             sorted set.",
        )
        .acl(READ_SLOW),
    CommandSpec::new("geopos", -2, R, KeySpec::ONE, geopos)
        .doc(
            "geo",
            "3.2.0",
            "Returns longitude and latitude of members of a geospatial index",
        )
        .complexity("O(N) where N is the number of members requested.")
        .acl(READ_SLOW),
    CommandSpec::new("geosearch", -7, R, KeySpec::ONE, geosearch)
        .doc(
            "geo",
            "6.2.0",
            "Query a sorted set representing a geospatial index to fetch members inside an area \
             of a box or a circle.",
        )
        .complexity(SEARCH_COMPLEXITY)
        .acl(READ_SLOW),
    CommandSpec::new("geosearchstore", -8, WM, KeySpec::TWO, geosearchstore)
        .doc(
            "geo",
            "6.2.0",
            "Query a sorted set representing a geospatial index to fetch members inside an area \
             of a box or a circle, and store the result in another key.",
        )
        .complexity(SEARCH_COMPLEXITY)
        .acl(WRITE_SLOW),
    CommandSpec::new("georadius", -6, WM | MOVABLE_KEYS, KeySpec::ONE, georadius)
        .doc(
            "geo",
            "3.2.0",
            "Query a sorted set representing a geospatial index to fetch members matching a \
             given maximum distance from a point",
        )
        .complexity(RADIUS_COMPLEXITY)
        .acl(WRITE_SLOW),
    CommandSpec::new("georadius_ro", -6, R, KeySpec::ONE, georadius_ro)
        .doc("geo", "3.2.10", "A read-only variant for GEORADIUS")
        .complexity(RADIUS_COMPLEXITY)
        .acl(READ_SLOW),
    CommandSpec::new(
        "georadiusbymember",
        -5,
        WM | MOVABLE_KEYS,
        KeySpec::ONE,
        georadiusbymember,
    )
    .doc(
        "geo",
        "3.2.0",
        "Query a sorted set representing a geospatial index to fetch members matching a given \
         maximum distance from a member",
    )
    .complexity(RADIUS_COMPLEXITY)
    .acl(WRITE_SLOW),
    CommandSpec::new(
        "georadiusbymember_ro",
        -5,
        R,
        KeySpec::ONE,
        georadiusbymember_ro,
    )
    .doc("geo", "3.2.10", "A read-only variant for GEORADIUSBYMEMBER")
    .complexity(RADIUS_COMPLEXITY)
    .acl(READ_SLOW),
];

// ---------------------------------------------------------------------------
// Geohash: encoding, decoding, neighbours
// ---------------------------------------------------------------------------

/// Steps per coordinate of a stored hash: 26 * 2 = 52 bits, which a double
/// score holds exactly.
const STEP_MAX: u8 = 26;
const LON_MIN: f64 = -180.0;
const LON_MAX: f64 = 180.0;
const LAT_MIN: f64 = -85.05112878;
const LAT_MAX: f64 = 85.05112878;
/// The earth's quadratic mean radius (WGS-84), as Redis uses it.
const EARTH_RADIUS_M: f64 = 6372797.560856;
/// Half the Mercator projection's width in metres.
const MERCATOR_MAX: f64 = 20037726.37;
/// Redis's `D_R`: `M_PI / 180.0`.
const DEG_TO_RAD: f64 = std::f64::consts::PI / 180.0;

/// The standard geohash alphabet (GEOHASH's strings).
const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// An interval of one coordinate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CoordRange {
    min: f64,
    max: f64,
}

impl CoordRange {
    fn is_zero(&self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

const LON_RANGE: CoordRange = CoordRange {
    min: LON_MIN,
    max: LON_MAX,
};
const LAT_RANGE: CoordRange = CoordRange {
    min: LAT_MIN,
    max: LAT_MAX,
};
/// The latitude range of standard geohashes (GEOHASH re-encodes with it).
const STANDARD_LAT_RANGE: CoordRange = CoordRange {
    min: -90.0,
    max: 90.0,
};

/// A geohash of `step` bits per coordinate. `bits` may hold bits above
/// `2 * step` (a coordinate exactly at the top of its range sets one), as in
/// Redis. All zero means "no cell" (a neighbour dropped from a search).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct HashBits {
    bits: u64,
    step: u8,
}

impl HashBits {
    const NONE: HashBits = HashBits { bits: 0, step: 0 };

    fn is_none(&self) -> bool {
        self.bits == 0 && self.step == 0
    }

    /// The hash as a 52-bit score prefix: its bits shifted to the top of 52.
    fn align52(&self) -> u64 {
        self.bits << (52 - 2 * u32::from(self.step))
    }
}

/// The cell a hash names.
#[derive(Clone, Copy, Debug, Default)]
struct Area {
    lon: CoordRange,
    lat: CoordRange,
}

/// 2^63 as a double.
const TWO_63: f64 = 9_223_372_036_854_775_808.0;

/// x86-64 `cvttsd2si`: truncation toward zero, and the "integer indefinite"
/// `i64::MIN` for NaN and out-of-range values.
fn cvttsd2si(v: f64) -> i64 {
    if v.is_nan() || !(-TWO_63..TWO_63).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// A C `(uint64_t)` conversion of a double as gcc compiles it for x86-64:
/// below 2^63 (negatives included) a signed truncation, from 2^63 a
/// truncation of `v - 2^63` with the top bit flipped. Redis decodes any
/// sorted-set score this way, so `-5` or `1e300` decode to what Redis says.
fn c_double_to_u64(v: f64) -> u64 {
    if v >= TWO_63 {
        (cvttsd2si(v - TWO_63) as u64) ^ (1 << 63)
    } else {
        cvttsd2si(v) as u64
    }
}

/// Spreads the 32 bits of `v` to the even bit positions of a u64.
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// The inverse of [`spread`]: the even bits of `v`, packed.
fn squash(v: u64) -> u32 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// Latitude cells in the even bits, longitude cells in the odd ones.
fn interleave(lat: u32, lon: u32) -> u64 {
    spread(lat) | (spread(lon) << 1)
}

/// (latitude cell, longitude cell) of interleaved bits.
fn deinterleave(bits: u64) -> (u32, u32) {
    (squash(bits), squash(bits >> 1))
}

/// Encodes a position at `step` bits per coordinate over the given ranges;
/// `None` outside Redis's limits or the ranges.
fn encode_in(
    lon_range: CoordRange,
    lat_range: CoordRange,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<HashBits> {
    if step == 0 || step > 32 || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_range.min || lat > lat_range.max || lon < lon_range.min || lon > lon_range.max {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min) * cells;
    let lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min) * cells;
    // C converts the offsets to uint32_t through a 64-bit truncation.
    let bits = interleave(cvttsd2si(lat_offset) as u32, cvttsd2si(lon_offset) as u32);
    Some(HashBits { bits, step })
}

fn encode(lon: f64, lat: f64, step: u8) -> Option<HashBits> {
    encode_in(LON_RANGE, LAT_RANGE, lon, lat, step)
}

/// The cell of `hash` over the given ranges (`None` for "no cell").
fn decode_in(lon_range: CoordRange, lat_range: CoordRange, hash: HashBits) -> Option<Area> {
    if hash.is_none() || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    let (ilat, ilon) = deinterleave(hash.bits);
    let cells = (1u64 << hash.step) as f64;
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    // The cell index + 1 wraps as C's uint32_t arithmetic does.
    Some(Area {
        lat: CoordRange {
            min: lat_range.min + (f64::from(ilat) / cells) * lat_scale,
            max: lat_range.min + (f64::from(ilat.wrapping_add(1)) / cells) * lat_scale,
        },
        lon: CoordRange {
            min: lon_range.min + (f64::from(ilon) / cells) * lon_scale,
            max: lon_range.min + (f64::from(ilon.wrapping_add(1)) / cells) * lon_scale,
        },
    })
}

fn decode(hash: HashBits) -> Option<Area> {
    decode_in(LON_RANGE, LAT_RANGE, hash)
}

/// The centre of a cell, clamped to the valid ranges: `[lon, lat]`.
fn area_center(area: &Area) -> [f64; 2] {
    let lon = ((area.lon.min + area.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
    let lat = ((area.lat.min + area.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// The position a sorted-set score stands for: `[lon, lat]`.
fn decode_score(score: f64) -> [f64; 2] {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    // A hash with a step is never "no cell".
    decode(hash).map_or([0.0, 0.0], |area| area_center(&area))
}

/// The score GEOADD stores for a valid position.
fn score_of(lon: f64, lat: f64) -> u64 {
    encode(lon, lat, STEP_MAX).map_or(0, |h| h.align52())
}

/// Moves a hash one cell east (`d > 0`) or west, wrapping around.
fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let width = 64 - 2 * u32::from(hash.step);
    let mut x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0x5555_5555_5555_5555u64 >> width;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaa >> width;
    hash.bits = x | y;
}

/// Moves a hash one cell north (`d > 0`) or south, wrapping around.
fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let width = 64 - 2 * u32::from(hash.step);
    let x = hash.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = hash.bits & 0x5555_5555_5555_5555;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> width;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555 >> width;
    hash.bits = x | y;
}

/// The eight neighbours of a cell, in the order they are searched after it:
/// north, south, east, west, north-east, north-west, south-east, south-west.
fn neighbors(hash: HashBits) -> [HashBits; 8] {
    let at = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    [
        at(0, 1),
        at(0, -1),
        at(1, 0),
        at(-1, 0),
        at(1, 1),
        at(-1, 1),
        at(1, -1),
        at(-1, -1),
    ]
}

fn deg_rad(deg: f64) -> f64 {
    deg * DEG_TO_RAD
}

fn rad_deg(rad: f64) -> f64 {
    rad / DEG_TO_RAD
}

/// Distance along a meridian.
fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine great-circle distance in metres.
fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    // Same meridian: the haversine reduces to the latitude difference.
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The geohash step whose cells are about the size of a search radius.
fn steps_for_radius(mut range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    // Bounded: a positive double doubles past the limit within ~1100 rounds.
    while range_m < MERCATOR_MAX {
        range_m *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells narrow towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

// ---------------------------------------------------------------------------
// Search shapes and the nine-cell walk
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum ShapeKind {
    Circle { radius: f64 },
    Rect { width: f64, height: f64 },
}

/// What a search looks for: a centre, a circle or a box (in `conversion`
/// units: metres per unit).
#[derive(Clone, Copy, Debug)]
struct Shape {
    center: [f64; 2],
    conversion: f64,
    kind: ShapeKind,
}

impl Shape {
    /// [min lon, min lat, max lon, max lat] of the area the shape covers;
    /// longitudes widen towards the pole side of the box.
    fn bounds(&self) -> [f64; 4] {
        let [lon, lat] = self.center;
        let (height, width) = match self.kind {
            ShapeKind::Circle { radius } => (self.conversion * radius, self.conversion * radius),
            ShapeKind::Rect { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS_M);
        let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
        let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
        let lon_delta = if lat < 0.0 {
            lon_delta_bottom
        } else {
            lon_delta_top
        };
        [
            lon - lon_delta,
            lat - lat_delta,
            lon + lon_delta,
            lat + lat_delta,
        ]
    }

    /// The radius that decides the cell size: the circle's, or the distance
    /// from the box's centre to a corner.
    fn radius_m(&self) -> f64 {
        let r = match self.kind {
            ShapeKind::Circle { radius } => radius,
            ShapeKind::Rect { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        r * self.conversion
    }

    /// The cells to scan: the centre's and its neighbours, with those the
    /// bounding box cannot reach set to [`HashBits::NONE`].
    fn cells(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounds();
        let [lon, lat] = self.center;
        let mut steps = steps_for_radius(self.radius_m(), lat);
        let cell_at = |steps: u8| {
            let hash = encode(lon, lat, steps).unwrap_or(HashBits {
                bits: 0,
                step: steps,
            });
            (hash, neighbors(hash), decode(hash).unwrap_or_default())
        };
        let (mut hash, mut near, mut area) = cell_at(steps);

        // Near a cell's edge the estimate can be too fine for a neighbour to
        // cover the whole box: one step coarser then.
        let [north, south, east, west] =
            [near[0], near[1], near[2], near[3]].map(|h| decode(h).unwrap_or_default());
        let too_fine = north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.lon.max < max_lon
            || west.lon.min > min_lon;
        if steps > 1 && too_fine {
            steps -= 1;
            (hash, near, area) = cell_at(steps);
        }

        if steps >= 2 {
            const N: usize = 0;
            const S: usize = 1;
            const E: usize = 2;
            const W: usize = 3;
            const NE: usize = 4;
            const NW: usize = 5;
            const SE: usize = 6;
            const SW: usize = 7;
            let mut clear = |cells: [usize; 3]| {
                for c in cells {
                    near[c] = HashBits::NONE;
                }
            };
            if area.lat.min < min_lat {
                clear([S, SW, SE]);
            }
            if area.lat.max > max_lat {
                clear([N, NE, NW]);
            }
            if area.lon.min < min_lon {
                clear([W, SW, NW]);
            }
            if area.lon.max > max_lon {
                clear([E, SE, NE]);
            }
        }
        let mut out = [HashBits::NONE; 9];
        out[0] = hash;
        out[1..].copy_from_slice(&near);
        out
    }

    /// The point's position and distance from the centre (metres) when the
    /// score's position lies inside the shape.
    fn contains(&self, score: f64) -> Option<([f64; 2], f64)> {
        let xy = decode_score(score);
        let [x1, y1] = self.center;
        let [x2, y2] = xy;
        match self.kind {
            ShapeKind::Circle { radius } => {
                let d = distance(x1, y1, x2, y2);
                // Written as Redis's test, which lets a NaN distance in.
                let outside = d > radius * self.conversion;
                (!outside).then_some((xy, d))
            }
            ShapeKind::Rect { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                // The cheaper latitude test first.
                if lat_distance(y2, y1) > height_m / 2.0 {
                    return None;
                }
                if distance(x2, y2, x1, y2) > width_m / 2.0 {
                    return None;
                }
                Some((xy, distance(x1, y1, x2, y2)))
            }
        }
    }
}

/// One search result.
#[derive(Clone, Debug)]
struct GeoPoint {
    xy: [f64; 2],
    dist: f64,
    score: f64,
    member: Bytes,
}

/// Appends the members of one cell that lie inside the shape, in score
/// order, stopping once `limit` (0: none) results exist.
fn scan_cell(z: &ZSetValue, hash: HashBits, shape: &Shape, out: &mut Vec<GeoPoint>, limit: usize) {
    let min = hash.align52() as f64;
    let max = HashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    }
    .align52() as f64;
    let range = ScoreRange {
        min,
        max,
        min_exclusive: false,
        max_exclusive: true,
    };
    let Some(first) = z.first_in_range(&range) else {
        return;
    };
    for (member, score) in z.iter_from(first, false) {
        if score >= max {
            break;
        }
        if let Some((xy, dist)) = shape.contains(score) {
            out.push(GeoPoint {
                xy,
                dist,
                score,
                member: Bytes::copy_from_slice(member),
            });
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
    }
}

/// Every member inside the shape, cell by cell (see the module doc). A cell
/// equal to the one scanned just before is skipped, as Redis does (the very
/// first cell is never compared against).
fn search(z: &ZSetValue, shape: &Shape, limit: usize) -> Vec<GeoPoint> {
    let cells = shape.cells();
    let mut out = Vec::new();
    let mut last = 0;
    for (i, cell) in cells.iter().enumerate() {
        if cell.is_none() {
            continue;
        }
        if last != 0 && *cell == cells[last] {
            continue;
        }
        if limit > 0 && out.len() >= limit {
            break;
        }
        scan_cell(z, *cell, shape, &mut out, limit);
        last = i;
    }
    out
}

// ---------------------------------------------------------------------------
// Sorting as Redis's C library calls do
// ---------------------------------------------------------------------------

/// Redis's distance comparator: 1, 0 or -1 (NaN compares as "less").
fn cmp_asc(a: &GeoPoint, b: &GeoPoint) -> i32 {
    if a.dist > b.dist {
        1
    } else if a.dist == b.dist {
        0
    } else {
        -1
    }
}

fn cmp_desc(a: &GeoPoint, b: &GeoPoint) -> i32 {
    -cmp_asc(a, b)
}

type Cmp = fn(&GeoPoint, &GeoPoint) -> i32;

/// glibc's `qsort` for arrays that fit in memory: a top-down merge sort
/// (halves of `n / 2` and the rest, the left element taken on ties).
fn merge_sort(points: &mut Vec<GeoPoint>, cmp: Cmp) {
    fn sort(idx: &mut [usize], tmp: &mut Vec<usize>, points: &[GeoPoint], cmp: Cmp) {
        let n = idx.len();
        if n <= 1 {
            return;
        }
        let n1 = n / 2;
        sort(&mut idx[..n1], tmp, points, cmp);
        sort(&mut idx[n1..], tmp, points, cmp);
        tmp.clear();
        let (mut i, mut j) = (0, n1);
        while i < n1 && j < n {
            if cmp(&points[idx[i]], &points[idx[j]]) <= 0 {
                tmp.push(idx[i]);
                i += 1;
            } else {
                tmp.push(idx[j]);
                j += 1;
            }
        }
        tmp.extend_from_slice(&idx[i..n1]);
        // What is left of the right half is in place already.
        idx[..tmp.len()].copy_from_slice(tmp);
    }
    let mut idx: Vec<usize> = (0..points.len()).collect();
    let mut tmp = Vec::with_capacity(points.len());
    sort(&mut idx, &mut tmp, points, cmp);
    let mut taken: Vec<Option<GeoPoint>> = std::mem::take(points).into_iter().map(Some).collect();
    points.extend(idx.into_iter().filter_map(|i| taken[i].take()));
}

// ---------------------------------------------------------------------------
// Arguments and reply pieces
// ---------------------------------------------------------------------------

/// A float argument as `getDoubleFromObjectOrReply` reads it, with its
/// custom error text (`None`: "value is not a valid float").
fn float_arg(arg: &[u8], msg: Option<&'static str>) -> Result<f64, Reply> {
    parse_score(arg).ok_or_else(|| match msg {
        Some(m) => Reply::error(m),
        None => Reply::not_float(),
    })
}

/// A longitude and latitude pair, checked against the valid ranges.
fn lon_lat(lon: &[u8], lat: &[u8]) -> Result<[f64; 2], Reply> {
    let lon = float_arg(lon, None)?;
    let lat = float_arg(lat, None)?;
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {lon:.6},{lat:.6}"
        )));
    }
    Ok([lon, lat])
}

/// Metres per unit.
fn unit(arg: &Bytes) -> Result<f64, Reply> {
    if is(arg, "m") {
        Ok(1.0)
    } else if is(arg, "km") {
        Ok(1000.0)
    } else if is(arg, "ft") {
        Ok(0.3048)
    } else if is(arg, "mi") {
        Ok(1609.34)
    } else {
        Err(Reply::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ))
    }
}

/// `radius unit`: (radius, metres per unit).
fn radius_args(radius: &[u8], unit_arg: &Bytes) -> Result<(f64, f64), Reply> {
    let radius = float_arg(radius, Some("ERR need numeric radius"))?;
    if radius < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((radius, unit(unit_arg)?))
}

/// `width height unit`: (width, height, metres per unit).
fn box_args(width: &[u8], height: &[u8], unit_arg: &Bytes) -> Result<(f64, f64, f64), Reply> {
    let width = float_arg(width, Some("ERR need numeric width"))?;
    let height = float_arg(height, Some("ERR need numeric height"))?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(unit_arg)?))
}

/// A distance as Redis prints it: rounded (to nearest, ties to even, as
/// `llrint`) to four decimals, fixed-point.
fn distance_text(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_owned();
    }
    // llrint: the current rounding, then the conversion (with the "integer
    // indefinite" for NaN and out-of-range values).
    let n = cvttsd2si((d * 10000.0).round_ties_even());
    let sign = if n < 0 { "-" } else { "" };
    let v = n.unsigned_abs();
    format!("{sign}{}.{:04}", v / 10000, v % 10000)
}

fn distance_reply(d: f64) -> Reply {
    Reply::Bulk(Bytes::from(distance_text(d)))
}

/// A coordinate as `addReplyHumanLongDouble` writes it: RESP2 a bulk string,
/// RESP3 a double, both of the `%.17Lf` text with trailing zeros trimmed.
fn coord_reply(proto: Proto, v: f64) -> Reply {
    let text = LongDouble::from_f64(v).to_human_string();
    match proto {
        Proto::Resp2 => Reply::Bulk(Bytes::from(text)),
        Proto::Resp3 => Reply::Raw(Bytes::from(format!(",{text}\r\n"))),
    }
}

fn position_reply(proto: Proto, xy: [f64; 2]) -> Reply {
    Reply::Array(vec![coord_reply(proto, xy[0]), coord_reply(proto, xy[1])])
}

/// The 11-character standard geohash of a position (the last character
/// stands for bits a 52-bit hash does not have: always `0`).
fn geohash_string(xy: [f64; 2]) -> [u8; 11] {
    let bits =
        encode_in(LON_RANGE, STANDARD_LAT_RANGE, xy[0], xy[1], STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().take(10).enumerate() {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = GEOHASH_ALPHABET[idx as usize];
    }
    out
}

// ---------------------------------------------------------------------------
// GEOADD, GEODIST, GEOHASH, GEOPOS
// ---------------------------------------------------------------------------

/// `GEOADD key [NX|XX] [CH] lon lat member ...` is `ZADD key [options]
/// score member ...`: it runs as that ZADD and replicates as it.
fn geoadd(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let (mut nx, mut xx) = (false, false);
    let mut first = 2;
    while first < argv.len() {
        let a = &argv[first];
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        first += 1;
    }
    let triples = &argv[first..];
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return Reply::syntax_error();
    }
    let mut zargv = Vec::with_capacity(first + triples.len() / 3 * 2);
    zargv.push(Bytes::from_static(b"zadd"));
    zargv.extend_from_slice(&argv[1..first]);
    for t in triples.chunks(3) {
        let [lon, lat] = tri!(lon_lat(&t[0], &t[1]));
        zargv.push(Bytes::from(score_of(lon, lat).to_string()));
        zargv.push(t[2].clone());
    }
    let reply = zadd(ctx, &zargv);
    ctx.propagate_as(zargv);
    reply
}

fn geodist(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let to_meters = match argv.len() {
        5 => tri!(unit(&argv[4])),
        n if n > 5 => return Reply::syntax_error(),
        _ => 1.0,
    };
    let Some(z) = tri!(read_zset(ctx, &argv[1])) else {
        return Reply::Null;
    };
    let (Some(a), Some(b)) = (z.score(&argv[2]), z.score(&argv[3])) else {
        return Reply::Null;
    };
    let [x1, y1] = decode_score(a);
    let [x2, y2] = decode_score(b);
    distance_reply(distance(x1, y1, x2, y2) / to_meters)
}

fn geohash(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let z = tri!(read_zset(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(score) => Reply::bulk_from(&geohash_string(decode_score(score))),
                None => Reply::Null,
            })
            .collect(),
    )
}

fn geopos(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    let proto = ctx.client.proto;
    let z = tri!(read_zset(ctx, &argv[1]));
    Reply::Array(
        argv[2..]
            .iter()
            .map(|m| match z.and_then(|z| z.score(m)) {
                Some(score) => position_reply(proto, decode_score(score)),
                None => Reply::NullArray,
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// GEOSEARCH, GEOSEARCHSTORE, GEORADIUS*
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    /// GEORADIUS / GEORADIUS_RO: `key lon lat radius unit`.
    Radius { store: bool },
    /// GEORADIUSBYMEMBER / _RO: `key member radius unit`.
    ByMember { store: bool },
    /// GEOSEARCH / GEOSEARCHSTORE: FROM* and BY* options.
    Search { store: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// A parsed and executed search, before its reply or store.
#[derive(Debug)]
struct Outcome {
    points: Vec<GeoPoint>,
    conversion: f64,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    /// The key to store into and whether scores are distances.
    store: Option<(Bytes, bool)>,
}

/// Parses a search's arguments against the source set `z` (absent: no key)
/// and runs it, with Redis's order of checks and errors.
fn run_search(z: Option<&ZSetValue>, argv: &[Bytes], variant: Variant) -> Result<Outcome, Reply> {
    let mut center: Option<[f64; 2]> = None;
    let mut by: Option<(ShapeKind, f64)> = None;
    let mut store: Option<Bytes> = None;
    let mut store_dist = false;
    let base = match variant {
        Variant::Radius { .. } => {
            center = Some(lon_lat(&argv[2], &argv[3])?);
            let (radius, conversion) = radius_args(&argv[4], &argv[5])?;
            by = Some((ShapeKind::Circle { radius }, conversion));
            6
        }
        Variant::ByMember { .. } => {
            // Without a key nothing is looked up; the options are still
            // parsed, so the reply suits STORE.
            if let Some(z) = z {
                let Some(score) = z.score(&argv[2]) else {
                    return Err(Reply::error("ERR could not decode requested zset member"));
                };
                center = Some(decode_score(score));
                let (radius, conversion) = radius_args(&argv[3], &argv[4])?;
                by = Some((ShapeKind::Circle { radius }, conversion));
            }
            5
        }
        Variant::Search { store: true } => {
            store = Some(argv[1].clone());
            3
        }
        Variant::Search { store: false } => 2,
    };
    let store_allowed = matches!(
        variant,
        Variant::Radius { store: true } | Variant::ByMember { store: true }
    );
    let is_search = matches!(variant, Variant::Search { .. });

    let (mut with_dist, mut with_hash, mut with_coord, mut any) = (false, false, false, false);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut sort = Sort::None;
    let mut count: i64 = 0;
    let mut i = base;
    while i < argv.len() {
        let a = &argv[i];
        let left = argv.len() - i - 1;
        if is(a, "withdist") {
            with_dist = true;
        } else if is(a, "withhash") {
            with_hash = true;
        } else if is(a, "withcoord") {
            with_coord = true;
        } else if is(a, "any") {
            any = true;
        } else if is(a, "asc") {
            sort = Sort::Asc;
        } else if is(a, "desc") {
            sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            count = args::int(&argv[i + 1])?;
            if count <= 0 {
                return Err(Reply::error("ERR COUNT must be > 0"));
            }
            i += 1;
        } else if store_allowed && (is(a, "store") || is(a, "storedist")) && left >= 1 {
            store = Some(argv[i + 1].clone());
            store_dist = is(a, "storedist");
            i += 1;
        } else if variant == (Variant::Search { store: true }) && is(a, "storedist") {
            store_dist = true;
        } else if is_search && is(a, "frommember") && left >= 1 && !from_lonlat {
            if let Some(z) = z {
                let Some(score) = z.score(&argv[i + 1]) else {
                    return Err(Reply::error("ERR could not decode requested zset member"));
                };
                center = Some(decode_score(score));
            }
            from_member = true;
            i += 1;
        } else if is_search && is(a, "fromlonlat") && left >= 2 && !from_member {
            center = Some(lon_lat(&argv[i + 1], &argv[i + 2])?);
            from_lonlat = true;
            i += 2;
        } else if is_search && is(a, "byradius") && left >= 2 && !by_box {
            let (radius, conversion) = radius_args(&argv[i + 1], &argv[i + 2])?;
            by = Some((ShapeKind::Circle { radius }, conversion));
            by_radius = true;
            i += 2;
        } else if is_search && is(a, "bybox") && left >= 3 && !by_radius {
            let (width, height, conversion) = box_args(&argv[i + 1], &argv[i + 2], &argv[i + 3])?;
            by = Some((ShapeKind::Rect { width, height }, conversion));
            by_box = true;
            i += 3;
        } else {
            return Err(Reply::syntax_error());
        }
        i += 1;
    }

    if store.is_some() && (with_dist || with_hash || with_coord) {
        let what = if variant == (Variant::Search { store: true }) {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if is_search {
        // The command's name as the client spelled it.
        let name = String::from_utf8_lossy(&argv[0]);
        if !(from_member || from_lonlat) {
            return Err(Reply::error(format!(
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
            )));
        }
        if !(by_radius || by_box) {
            return Err(Reply::error(format!(
                "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
            )));
        }
    }
    if any && count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }

    let mut outcome = Outcome {
        points: Vec::new(),
        conversion: 1.0,
        with_dist,
        with_hash,
        with_coord,
        store: store.map(|key| (key, store_dist)),
    };
    let (Some(z), Some(center), Some((kind, conversion))) = (z, center, by) else {
        // No source key: nothing found.
        return Ok(outcome);
    };
    // COUNT means the nearest ones, unless ANY.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        center,
        conversion,
        kind,
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut points = search(z, &shape, if any { count } else { 0 });
    let returned = if count == 0 {
        points.len()
    } else {
        count.min(points.len())
    };
    let cmp: Option<Cmp> = match sort {
        Sort::None => None,
        Sort::Asc => Some(cmp_asc),
        Sort::Desc => Some(cmp_desc),
    };
    if let Some(cmp) = cmp {
        if returned == points.len() {
            merge_sort(&mut points, cmp);
        } else {
            pqsort(&mut points, 0, returned as i64 - 1, &mut |a, b| {
                cmp(a, b).cmp(&0)
            });
        }
    }
    points.truncate(returned);
    for p in &mut points {
        p.dist /= conversion;
    }
    outcome.points = points;
    outcome.conversion = conversion;
    Ok(outcome)
}

fn search_generic(ctx: &mut ExecCtx<'_>, argv: &[Bytes], variant: Variant) -> Reply {
    let proto = ctx.client.proto;
    let src = if variant == (Variant::Search { store: true }) {
        &argv[2]
    } else {
        &argv[1]
    };
    let outcome = {
        let z = tri!(read_zset(ctx, src));
        tri!(run_search(z, argv, variant))
    };
    match outcome.store {
        None => search_reply(proto, &outcome),
        Some((dst, dist)) => {
            let event = if matches!(variant, Variant::Search { .. }) {
                "geosearchstore"
            } else {
                "georadiusstore"
            };
            store_points(ctx, &dst, outcome.points, dist, event)
        }
    }
}

fn search_reply(proto: Proto, o: &Outcome) -> Reply {
    let with_any = o.with_dist || o.with_hash || o.with_coord;
    Reply::Array(
        o.points
            .iter()
            .map(|p| {
                if !with_any {
                    return Reply::Bulk(p.member.clone());
                }
                let mut item = vec![Reply::Bulk(p.member.clone())];
                if o.with_dist {
                    item.push(distance_reply(p.dist));
                }
                if o.with_hash {
                    // Found scores are 52-bit cell prefixes: no overflow.
                    item.push(Reply::Int(p.score as i64));
                }
                if o.with_coord {
                    item.push(position_reply(proto, p.xy));
                }
                Reply::Array(item)
            })
            .collect(),
    )
}

/// Stores the results at `dst` (scores: hashes, or distances), or deletes
/// `dst` when there are none. Replies with the number of results. Raises
/// `event` for stored results, `del` when an existing `dst` went.
fn store_points(
    ctx: &mut ExecCtx<'_>,
    dst: &Bytes,
    points: Vec<GeoPoint>,
    dist: bool,
    event: &'static str,
) -> Reply {
    let now = ctx.now_ms;
    let db = ctx.client.db;
    let count = points.len() as i64;
    if points.is_empty() {
        if ctx.db().remove(dst, now).is_some() {
            crate::multi::touch_key(ctx.data, db, dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return Reply::Int(0);
    }
    let limits = ctx.limits();
    let mut seen = HashSet::with_capacity(points.len());
    let pairs: Vec<(SmallBytes, f64)> = points
        .into_iter()
        .filter(|p| seen.insert(p.member.clone()))
        .map(|p| {
            let score = if dist { p.dist } else { p.score };
            (SmallBytes::from_slice(&p.member), score)
        })
        .collect();
    let z = ZSetValue::from_pairs(pairs, &limits);
    ctx.db().insert(dst, Value::ZSet(Box::new(z)), None, now);
    ctx.signal_ready(dst);
    crate::multi::touch_key(ctx.data, db, dst);
    ctx.notify(notify::ZSET, event, dst);
    Reply::Int(count)
}

fn georadius(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::Radius { store: true })
}

fn georadius_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::Radius { store: false })
}

fn georadiusbymember(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::ByMember { store: true })
}

fn georadiusbymember_ro(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::ByMember { store: false })
}

fn geosearch(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::Search { store: false })
}

fn geosearchstore(ctx: &mut ExecCtx<'_>, argv: &[Bytes]) -> Reply {
    search_generic(ctx, argv, Variant::Search { store: true })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::testing::{bulk, bulks, encode as wire, err, int, Harness};

    const PALERMO: (f64, f64) = (13.361389, 38.115556);
    const CATANIA: (f64, f64) = (15.087269, 37.502669);

    fn human(v: f64) -> String {
        LongDouble::from_f64(v).to_human_string()
    }

    fn point(dist: f64, tag: usize) -> GeoPoint {
        GeoPoint {
            xy: [0.0, 0.0],
            dist,
            score: tag as f64,
            member: Bytes::from(tag.to_string()),
        }
    }

    fn tags(points: &[GeoPoint]) -> Vec<usize> {
        points.iter().map(|p| p.score as usize).collect()
    }

    #[test]
    fn table_entries_match_redis() {
        let t = crate::command::table();
        let spec = |n: &str| t.lookup(n.as_bytes()).expect("registered");
        assert_eq!(spec("geoadd").arity, -5);
        assert_eq!(spec("geoadd").flags, WRITE | DENYOOM);
        assert_eq!(spec("geodist").arity, -4);
        assert_eq!(spec("geosearch").arity, -7);
        assert_eq!(spec("geosearchstore").arity, -8);
        assert_eq!(spec("geosearchstore").keys.last, 2);
        assert_eq!(spec("georadius").flags, WRITE | DENYOOM | MOVABLE_KEYS);
        assert_eq!(spec("georadiusbymember").arity, -5);
        assert_eq!(spec("georadius_ro").flags, READONLY);
        assert_eq!(spec("georadiusbymember_ro").since, "3.2.10");
        assert_eq!(spec("geopos").group, "geo");
    }

    #[test]
    fn encodes_redis_scores() {
        // Scores redis-server 7.0 stores for these positions.
        assert_eq!(score_of(PALERMO.0, PALERMO.1), 3479099956230698);
        assert_eq!(score_of(CATANIA.0, CATANIA.1), 3479447370796909);
        assert_eq!(score_of(-180.0, -85.05112878), 0);
        // The top of both ranges sets the bits above 52.
        assert_eq!(score_of(180.0, 85.05112878), 13510798882111488);
        assert_eq!(encode(180.000001, 0.0, 26), None);
        assert_eq!(encode(0.0, 85.06, 26), None);
        assert_eq!(encode(0.0, 0.0, 0), None);
    }

    #[test]
    fn decodes_cell_centres_as_redis_prints_them() {
        let [lon, lat] = decode_score(3479099956230698.0);
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        let [lon, lat] = decode_score(3479447370796909.0);
        assert_eq!(human(lon), "15.08726745843887329");
        assert_eq!(human(lat), "37.50266842333162032");
        let [lon, lat] = decode_score(0.0);
        assert_eq!(human(lon), "-179.99999731779098511");
        assert_eq!(human(lat), "-85.05112751263942528");
        // Past the ranges: clamped.
        let [lon, lat] = decode_score(13510798882111488.0);
        assert_eq!(
            (human(lon).as_str(), human(lat).as_str()),
            ("180", "85.0511287799999991")
        );
    }

    #[test]
    fn any_score_decodes_as_x86_64_c_converts_it() {
        assert_eq!(c_double_to_u64(-5.0), 0xFFFF_FFFF_FFFF_FFFB);
        assert_eq!(c_double_to_u64(-0.5), 0);
        assert_eq!(c_double_to_u64(1e300), 0);
        assert_eq!(c_double_to_u64(f64::INFINITY), 0);
        assert_eq!(c_double_to_u64(f64::NEG_INFINITY), 1 << 63);
        assert_eq!(c_double_to_u64(f64::NAN), 1 << 63);
        assert_eq!(c_double_to_u64(TWO_63), 1 << 63);
        assert_eq!(c_double_to_u64(1.8e19), 18_000_000_000_000_000_000);
        // What redis-server answers to GEOPOS for such scores.
        assert_eq!(decode_score(-5.0), [180.0, LAT_MAX]);
        assert_eq!(human(decode_score(1e300)[0]), "-179.99999731779098511");
    }

    #[test]
    fn standard_geohash_strings() {
        let at = |lon, lat| {
            let s = score_of(lon, lat) as f64;
            String::from_utf8(geohash_string(decode_score(s)).to_vec()).expect("ascii")
        };
        assert_eq!(at(PALERMO.0, PALERMO.1), "sqc8b49rny0");
        assert_eq!(at(CATANIA.0, CATANIA.1), "sqdtr74hyu0");
        assert_eq!(at(180.0, 85.05112878), "bp05b5048p0");
        assert_eq!(at(-180.0, -85.05112878), "00bh0hbj200");
    }

    #[test]
    fn interleaving_round_trips() {
        for (lat, lon) in [
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (0x3FF_FFFF, 0x155_5555),
            (u32::MAX, 7),
        ] {
            assert_eq!(deinterleave(interleave(lat, lon)), (lat, lon));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn neighbours_wrap_around_the_antimeridian_and_poles() {
        let step = 3;
        let east_edge = encode(179.0, 0.0, step).expect("valid");
        let west_edge = encode(-179.0, 0.0, step).expect("valid");
        let n = neighbors(east_edge);
        // East of the easternmost column is the westernmost one.
        assert_eq!(n[2], west_edge);
        assert_eq!(neighbors(west_edge)[3], east_edge);
        let top = encode(0.0, 85.0, step).expect("valid");
        let bottom = encode(0.0, -85.0, step).expect("valid");
        assert_eq!(neighbors(top)[0], bottom);
        assert_eq!(neighbors(bottom)[1], top);
    }

    #[test]
    fn haversine_distances() {
        let p = decode_score(3479099956230698.0);
        let c = decode_score(3479447370796909.0);
        let d = distance(p[0], p[1], c[0], c[1]);
        assert_eq!(distance_text(d), "166274.1516");
        assert_eq!(distance_text(d / 1000.0), "166.2742");
        assert_eq!(distance_text(d / 1609.34), "103.3182");
        assert_eq!(distance_text(distance(p[0], p[1], p[0], p[1])), "0.0000");
        // Same meridian: the latitude difference alone.
        assert_eq!(distance(10.0, 0.0, 10.0, 1.0), lat_distance(0.0, 1.0));
        assert_eq!(distance_text(lat_distance(0.0, 1.0)), "111226.3000");
    }

    #[test]
    fn distances_print_like_fixedpoint_d2string() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.0001), "0.0001");
        assert_eq!(distance_text(6.06429515983917e-5), "0.0001");
        assert_eq!(distance_text(10.01), "10.0100");
        assert_eq!(distance_text(-0.01), "-0.0100");
        assert_eq!(distance_text(0.00004), "0.0000");
        // Ties go to even, as llrint does.
        assert_eq!(distance_text(0.00125), "0.0012");
        assert_eq!(distance_text(f64::NAN), "-922337203685477.5808");
    }

    #[test]
    fn steps_follow_the_radius() {
        assert_eq!(steps_for_radius(0.0, 0.0), 26);
        assert_eq!(steps_for_radius(1.0, 0.0), 24);
        assert_eq!(steps_for_radius(1000.0, 0.0), 14);
        assert_eq!(steps_for_radius(1000.0, 70.0), 13);
        assert_eq!(steps_for_radius(1000.0, -85.0), 12);
        assert_eq!(steps_for_radius(1e9, 0.0), 1);
        assert_eq!(steps_for_radius(f64::INFINITY, 0.0), 1);
        assert_eq!(steps_for_radius(f64::MIN_POSITIVE, 0.0), 26);
    }

    #[test]
    fn merge_sort_keeps_ties_in_order() {
        let mut v: Vec<GeoPoint> = [3.0, 1.0, 2.0, 1.0, 3.0, 0.5]
            .iter()
            .enumerate()
            .map(|(i, &d)| point(d, i))
            .collect();
        merge_sort(&mut v, cmp_asc);
        assert_eq!(tags(&v), [5, 1, 3, 2, 0, 4]);
        merge_sort(&mut v, cmp_desc);
        assert_eq!(tags(&v), [0, 4, 2, 1, 3, 5]);
    }

    #[test]
    fn partial_sort_orders_the_asked_prefix() {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        for len in [1usize, 6, 7, 8, 40, 41, 100, 300] {
            for k in [1usize, 2, 5, 39] {
                let k = k.min(len);
                let mut v: Vec<GeoPoint> = (0..len)
                    .map(|i| {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        point((rng % 50) as f64, i)
                    })
                    .collect();
                let mut want: Vec<f64> = v.iter().map(|p| p.dist).collect();
                want.sort_by(f64::total_cmp);
                pqsort(&mut v, 0, k as i64 - 1, &mut |a, b| cmp_asc(a, b).cmp(&0));
                let got: Vec<f64> = v[..k].iter().map(|p| p.dist).collect();
                assert_eq!(got, want[..k], "len {len}, k {k}");
                let mut all = tags(&v);
                all.sort_unstable();
                assert_eq!(all, (0..len).collect::<Vec<_>>(), "a permutation");
            }
        }
    }

    fn sicily(h: &mut Harness) {
        let args = [
            "GEOADD",
            "Sicily",
            "13.361389",
            "38.115556",
            "Palermo",
            "15.087269",
            "37.502669",
            "Catania",
        ];
        assert_eq!(h.run(&args), int(2));
    }

    #[test]
    fn geoadd_runs_and_replicates_as_zadd() {
        let mut h = Harness::new();
        sicily(&mut h);
        assert_eq!(
            h.repl(),
            ["zadd Sicily 3479099956230698 Palermo 3479447370796909 Catania"]
        );
        assert_eq!(
            h.run(&["GEOADD", "Sicily", "xx", "CH", "1", "1", "Palermo"]),
            int(1)
        );
        assert_eq!(h.repl(), ["zadd Sicily xx CH 3377822707026402 Palermo"]);
        // Nothing changed: nothing to replicate.
        assert_eq!(
            h.run(&["GEOADD", "Sicily", "NX", "1", "1", "Palermo"]),
            int(0)
        );
        assert!(h.repl().is_empty());
        assert_eq!(h.run(&["TYPE", "Sicily"]), Reply::Simple("zset".into()));
    }

    #[test]
    fn geoadd_errors() {
        let mut h = Harness::new();
        assert_eq!(
            h.run(&["GEOADD", "k", "200.0078125", "0", "m"]),
            err("ERR invalid longitude,latitude pair 200.007812,0.000000")
        );
        assert_eq!(
            h.run(&["GEOADD", "k", "0", "85.05112879", "m"]),
            err("ERR invalid longitude,latitude pair 0.000000,85.051129")
        );
        assert_eq!(
            h.run(&["GEOADD", "k", "1", "abc", "m"]),
            err("ERR value is not a valid float")
        );
        assert_eq!(
            h.run(&["GEOADD", "k", "NX", "XX", "1", "2", "m"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["GEOADD", "k", "CH", "1", "2", "m", "3"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["GEOADD", "k", "nx", "ch", "ch"]),
            err("ERR syntax error")
        );
        h.run(&["SET", "s", "x"]);
        // Coordinates are checked before the type.
        assert_eq!(
            h.run(&["GEOADD", "s", "500", "0", "m"]),
            err("ERR invalid longitude,latitude pair 500.000000,0.000000")
        );
        assert_eq!(h.run(&["GEOADD", "s", "1", "2", "m"]), Reply::wrong_type());
        assert!(!h.exists("k"));
    }

    #[test]
    fn geopos_geohash_geodist() {
        let mut h = Harness::new();
        sicily(&mut h);
        assert_eq!(
            h.run(&["GEOPOS", "Sicily", "Palermo", "nosuch"]),
            Reply::Array(vec![
                bulks(&["13.36138933897018433", "38.11555639549629859"]),
                Reply::NullArray,
            ])
        );
        assert_eq!(
            h.run(&["GEOHASH", "Sicily", "Catania", "x"]),
            Reply::Array(vec![bulk("sqdtr74hyu0"), Reply::Null])
        );
        assert_eq!(
            h.run(&["GEODIST", "Sicily", "Palermo", "Catania", "KM"]),
            bulk("166.2742")
        );
        assert_eq!(h.run(&["GEODIST", "Sicily", "Palermo", "x"]), Reply::Null);
        assert_eq!(h.run(&["GEODIST", "nokey", "a", "b"]), Reply::Null);
        assert_eq!(
            h.run(&["GEODIST", "Sicily", "a", "b", "yd"]),
            err("ERR unsupported unit provided. please use M, KM, FT, MI")
        );
        assert_eq!(
            h.run(&["GEODIST", "Sicily", "a", "b", "km", "x"]),
            err("ERR syntax error")
        );
        assert_eq!(
            h.run(&["GEOPOS", "nokey", "a"]),
            Reply::Array(vec![Reply::NullArray])
        );
    }

    #[test]
    fn resp3_coordinates_are_doubles_of_the_human_text() {
        let mut h = Harness::new();
        sicily(&mut h);
        h.client.proto = Proto::Resp3;
        let reply = h.run(&["GEOPOS", "Sicily", "Palermo"]);
        assert_eq!(
            wire(&reply, Proto::Resp3),
            b"*1\r\n*2\r\n,13.36138933897018433\r\n,38.11555639549629859\r\n"
        );
    }

    #[test]
    fn searches_with_options() {
        let mut h = Harness::new();
        sicily(&mut h);
        let with_all = h.run(&[
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "WITHDIST",
            "WITHCOORD",
            "WITHHASH",
            "ASC",
        ]);
        assert_eq!(
            with_all,
            Reply::Array(vec![
                Reply::Array(vec![
                    bulk("Catania"),
                    bulk("56.4413"),
                    int(3479447370796909),
                    bulks(&["15.08726745843887329", "37.50266842333162032"]),
                ]),
                Reply::Array(vec![
                    bulk("Palermo"),
                    bulk("190.4424"),
                    int(3479099956230698),
                    bulks(&["13.36138933897018433", "38.11555639549629859"]),
                ]),
            ])
        );
        assert_eq!(
            h.run(&[
                "GEOSEARCH",
                "Sicily",
                "FROMLONLAT",
                "15",
                "37",
                "BYRADIUS",
                "200",
                "km",
                "DESC"
            ]),
            bulks(&["Palermo", "Catania"])
        );
        assert_eq!(
            h.run(&[
                "GEOSEARCH",
                "Sicily",
                "FROMMEMBER",
                "Palermo",
                "BYBOX",
                "400",
                "400",
                "km",
                "COUNT",
                "1"
            ]),
            bulks(&["Palermo"])
        );
        assert_eq!(
            h.run(&["GEORADIUSBYMEMBER_RO", "Sicily", "Palermo", "100", "km"]),
            bulks(&["Palermo"])
        );
        assert_eq!(
            h.run(&["GEORADIUS_RO", "nokey", "1", "1", "1", "m"]),
            Reply::Array(vec![])
        );
    }

    #[test]
    fn search_errors_in_redis_order() {
        let mut h = Harness::new();
        sicily(&mut h);
        let cases: &[(&str, &str)] = &[
            (
                "GEOSEARCH Sicily FROMMEMBER x BYRADIUS -1 m",
                "ERR could not decode requested zset member",
            ),
            (
                "geosearch Sicily BYRADIUS 1 m ASC WITHDIST",
                "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
            ),
            (
                "GeoSearch Sicily FROMLONLAT 1 2 ASC WITHDIST",
                "ERR exactly one of BYRADIUS and BYBOX can be specified for GeoSearch",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYBOX 1 2 m BYRADIUS 1 m",
                "ERR syntax error",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYRADIUS 1 m ANY",
                "ERR the ANY argument requires COUNT argument",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYRADIUS 1 m STOREDIST",
                "ERR syntax error",
            ),
            (
                "GEOSEARCHSTORE d Sicily FROMLONLAT 1 2 BYRADIUS 1 m WITHHASH",
                concat!(
                    "ERR GEOSEARCHSTORE is not compatible with ",
                    "WITHDIST, WITHHASH and WITHCOORD options"
                ),
            ),
            (
                "GEORADIUS Sicily 1 2 3 m WITHDIST STORE d",
                concat!(
                    "ERR STORE option in GEORADIUS is not compatible with ",
                    "WITHDIST, WITHHASH and WITHCOORD options"
                ),
            ),
            ("GEORADIUS_RO Sicily 1 2 3 m STORE d", "ERR syntax error"),
            ("GEORADIUS Sicily 1 2 abc m", "ERR need numeric radius"),
            ("GEORADIUS Sicily 1 2 -1 m", "ERR radius cannot be negative"),
            ("GEORADIUS Sicily 1 2 1 m COUNT 0", "ERR COUNT must be > 0"),
            (
                "GEORADIUS Sicily 1 2 1 m COUNT x",
                "ERR value is not an integer or out of range",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYBOX x 2 m",
                "ERR need numeric width",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYBOX 1 x m",
                "ERR need numeric height",
            ),
            (
                "GEOSEARCH Sicily FROMLONLAT 1 2 BYBOX 1 -2 m",
                "ERR height or width cannot be negative",
            ),
            (
                "GEORADIUSBYMEMBER Sicily nosuch 1 m",
                "ERR could not decode requested zset member",
            ),
        ];
        for (args, want) in cases {
            let argv: Vec<&str> = args.split(' ').collect();
            assert_eq!(h.run(&argv), err(want), "{args}");
        }
        // Without a key, BYMEMBER's member and radius are not looked at.
        assert_eq!(
            h.run(&["GEORADIUSBYMEMBER", "nokey", "m", "abc", "parsec"]),
            Reply::Array(vec![])
        );
        h.run(&["SET", "s", "x"]);
        assert_eq!(
            h.run(&["GEORADIUS", "s", "500", "0", "1", "m"]),
            Reply::wrong_type()
        );
    }

    #[test]
    fn stores_replicate_verbatim_and_pick_the_encoding() {
        let mut h = Harness::new();
        sicily(&mut h);
        h.repl();
        let store = [
            "GEORADIUS",
            "Sicily",
            "15",
            "37",
            "200",
            "km",
            "STORE",
            "dst",
        ];
        assert_eq!(h.run(&store), int(2));
        assert_eq!(h.repl(), [store.join(" ")]);
        assert_eq!(h.encoding("dst"), bulk("listpack"));
        assert_eq!(
            h.run(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]),
            Reply::Array(vec![
                bulk("Palermo"),
                Reply::Double(3479099956230698.0),
                bulk("Catania"),
                Reply::Double(3479447370796909.0),
            ])
        );
        let dist = [
            "GEOSEARCHSTORE",
            "dd",
            "Sicily",
            "FROMLONLAT",
            "15",
            "37",
            "BYRADIUS",
            "200",
            "km",
            "STOREDIST",
        ];
        assert_eq!(h.run(&dist), int(2));
        assert_eq!(h.repl(), [dist.join(" ")]);
        assert_eq!(
            h.run(&["ZSCORE", "dd", "Catania"]),
            Reply::Double(56.4412578701582)
        );
        h.config_set("zset-max-listpack-entries", "1");
        assert_eq!(h.run(&store), int(2));
        assert_eq!(h.encoding("dst"), bulk("skiplist"));
        // Nothing found: the destination goes, and that replicates.
        h.repl();
        let none = [
            "GEORADIUS",
            "Sicily",
            "0",
            "0",
            "1",
            "m",
            "STOREDIST",
            "dst",
        ];
        assert_eq!(h.run(&none), int(0));
        assert!(!h.exists("dst"));
        assert_eq!(h.repl(), [none.join(" ")]);
        // ... and when there was nothing to delete, nothing replicates.
        assert_eq!(h.run(&none), int(0));
        assert!(h.repl().is_empty());
        // A missing source deletes the destination too.
        assert_eq!(
            h.run(&["GEORADIUSBYMEMBER", "nokey", "x", "1", "m", "STORE", "dd"]),
            int(0)
        );
        assert!(!h.exists("dd"));
    }

    #[test]
    fn stores_touch_only_the_destination() {
        let mut h = Harness::new();
        sicily(&mut h);
        let store = [
            "GEOSEARCHSTORE",
            "dst",
            "Sicily",
            "FROMMEMBER",
            "Palermo",
            "BYRADIUS",
            "1",
            "km",
        ];
        h.run(&["WATCH", "Sicily"]);
        assert_eq!(h.run(&store), int(1));
        h.run(&["MULTI"]);
        h.run(&["PING"]);
        assert_ne!(h.run(&["EXEC"]), Reply::NullArray);
        h.run(&["WATCH", "dst"]);
        assert_eq!(h.run(&store), int(1));
        h.run(&["MULTI"]);
        h.run(&["PING"]);
        assert_eq!(h.run(&["EXEC"]), Reply::NullArray);
        h.run(&["WATCH", "other"]);
        assert_eq!(
            h.run(&[
                "GEORADIUS",
                "Sicily",
                "13",
                "38",
                "100",
                "km",
                "STORE",
                "other"
            ]),
            int(1)
        );
        h.run(&["MULTI"]);
        h.run(&["PING"]);
        assert_eq!(h.run(&["EXEC"]), Reply::NullArray);
    }
}
