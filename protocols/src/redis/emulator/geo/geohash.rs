//! Redis 7.0's geohash arithmetic (`geohash.c` and `geohash_helper.c`), operation for
//! operation: a geo set's scores, the coordinates decoded from them, the nine boxes a search
//! scans and the distances must come out bit for bit as Redis computes them, because clients
//! see them printed with 17 digits.

use std::f64::consts::PI;

/// 26 bits of longitude and 26 of latitude: a 52-bit score, exact in a double.
pub(super) const STEP_MAX: u8 = 26;
/// The latitude limits of EPSG:900913 (Web Mercator): the poles cannot be indexed.
pub(super) const LAT_MIN: f64 = -85.05112878;
pub(super) const LAT_MAX: f64 = 85.05112878;
pub(super) const LONG_MIN: f64 = -180.0;
pub(super) const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, Redis's haversine radius.
const EARTH_RADIUS_IN_METERS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
/// `M_PI / 180.0`, as `deg_rad` multiplies and `rad_deg` divides by it.
const D_R: f64 = PI / 180.0;

/// A geohash of `step` bits per coordinate, interleaved (latitude in the even bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct HashBits {
    pub(super) bits: u64,
    pub(super) step: u8,
}

impl HashBits {
    /// Redis's `GZERO`: a neighbour box that is not searched.
    const ZERO: HashBits = HashBits { bits: 0, step: 0 };

    pub(super) fn is_zero(self) -> bool {
        self == HashBits::ZERO
    }

    /// The hash left-aligned to 52 bits: the sorted-set score of its box's first point.
    pub(super) fn align52(self) -> u64 {
        self.bits << (52 - u32::from(self.step) * 2)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Range {
    pub(super) min: f64,
    pub(super) max: f64,
}

/// The coordinate ranges of Redis's geo sets.
pub(super) const WGS84_LONG: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub(super) const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// The box a hash covers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Area {
    pub(super) longitude: Range,
    pub(super) latitude: Range,
}

/// What a search covers: a circle or an axis-aligned box around a centre, in `unit`s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Shape {
    /// Longitude, latitude.
    pub(super) center: [f64; 2],
    /// Metres per unit.
    pub(super) conversion: f64,
    pub(super) kind: ShapeKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

fn interleave64(xlo: u32, ylo: u32) -> u64 {
    const B: [u64; 5] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
    ];
    const S: [u32; 5] = [1, 2, 4, 8, 16];
    let (mut x, mut y) = (u64::from(xlo), u64::from(ylo));
    for i in (0..5).rev() {
        x = (x | (x << S[i])) & B[i];
        y = (y | (y << S[i])) & B[i];
    }
    x | (y << 1)
}

fn deinterleave64(interleaved: u64) -> u64 {
    const B: [u64; 6] = [
        0x5555555555555555,
        0x3333333333333333,
        0x0F0F0F0F0F0F0F0F,
        0x00FF00FF00FF00FF,
        0x0000FFFF0000FFFF,
        0x00000000FFFFFFFF,
    ];
    const S: [u32; 6] = [0, 1, 2, 4, 8, 16];
    let (mut x, mut y) = (interleaved, interleaved >> 1);
    for i in 0..6 {
        x = (x | (x >> S[i])) & B[i];
        y = (y | (y >> S[i])) & B[i];
    }
    x | (y << 32)
}

/// `geohashEncode`: `None` outside the WGS84 limits or the ranges given.
pub(super) fn encode(
    long_range: Range,
    lat_range: Range,
    longitude: f64,
    latitude: f64,
    step: u8,
) -> Option<HashBits> {
    let outside_limits =
        !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude);
    let outside_ranges = latitude < lat_range.min
        || latitude > lat_range.max
        || longitude < long_range.min
        || longitude > long_range.max;
    if step == 0 || step > 32 || outside_limits || outside_ranges {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_offset = (latitude - lat_range.min) / (lat_range.max - lat_range.min) * scale;
    let long_offset = (longitude - long_range.min) / (long_range.max - long_range.min) * scale;
    Some(HashBits {
        bits: interleave64(lat_offset as u32, long_offset as u32),
        step,
    })
}

/// The 52-bit score of a point of a geo set.
pub(super) fn score_of(longitude: f64, latitude: f64) -> Option<u64> {
    encode(WGS84_LONG, WGS84_LAT, longitude, latitude, STEP_MAX).map(HashBits::align52)
}

/// `geohashDecode`.
pub(super) fn decode(long_range: Range, lat_range: Range, hash: HashBits) -> Area {
    let separated = deinterleave64(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let long_scale = long_range.max - long_range.min;
    let ilato = separated as u32;
    let ilono = (separated >> 32) as u32;
    let cells = (1u64 << hash.step) as f64;
    let at = |range: Range, scale: f64, cell: u32| range.min + (f64::from(cell) / cells) * scale;
    Area {
        latitude: Range {
            min: at(lat_range, lat_scale, ilato),
            max: at(lat_range, lat_scale, ilato.wrapping_add(1)),
        },
        longitude: Range {
            min: at(long_range, long_scale, ilono),
            max: at(long_range, long_scale, ilono.wrapping_add(1)),
        },
    }
}

/// The centre of a box, clamped to the WGS84 limits: `[longitude, latitude]`.
fn area_center(area: &Area) -> [f64; 2] {
    let longitude = ((area.longitude.min + area.longitude.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let latitude = ((area.latitude.min + area.latitude.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [longitude, latitude]
}

/// The coordinates a geo-set score stands for (`decodeGeohash`). Any score decodes: C's
/// `(uint64_t)` cast of a double, as x86-64 computes it, picks the bits.
pub(super) fn decode_score(score: f64) -> [f64; 2] {
    let hash = HashBits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    area_center(&decode(WGS84_LONG, WGS84_LAT, hash))
}

/// C's `(uint64_t)double` as gcc compiles it for x86-64 (`cvttsd2si`, whose out-of-range
/// answer is `0x8000000000000000`): Redis decodes whatever score a client stored this way.
fn c_double_to_u64(value: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    let cvttsd2si = |x: f64| -> u64 {
        if x.is_nan() || !(-TWO_63..TWO_63).contains(&x) {
            1 << 63
        } else {
            x as i64 as u64
        }
    };
    if value < TWO_63 {
        cvttsd2si(value)
    } else {
        cvttsd2si(value - TWO_63) ^ (1 << 63)
    }
}

/// Moves a hash one box east (`d > 0`) or west, wrapping around.
fn move_x(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let mut x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let y = hash.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x = (x | zz).wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    hash.bits = x | y;
}

/// Moves a hash one box north (`d > 0`) or south, wrapping around.
fn move_y(hash: &mut HashBits, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - u32::from(hash.step) * 2;
    let x = hash.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = hash.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y = (y | zz).wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    hash.bits = x | y;
}

/// The eight boxes around a hash.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Neighbors {
    pub(super) north: HashBits,
    pub(super) east: HashBits,
    pub(super) west: HashBits,
    pub(super) south: HashBits,
    pub(super) north_east: HashBits,
    pub(super) south_east: HashBits,
    pub(super) north_west: HashBits,
    pub(super) south_west: HashBits,
}

fn neighbors(hash: HashBits) -> Neighbors {
    let moved = |dx: i8, dy: i8| {
        let mut h = hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        east: moved(1, 0),
        west: moved(-1, 0),
        south: moved(0, -1),
        north: moved(0, 1),
        north_west: moved(-1, 1),
        north_east: moved(1, 1),
        south_east: moved(1, -1),
        south_west: moved(-1, -1),
    }
}

/// `geohashEstimateStepsByRadius`: the coarsest step whose boxes still cover the radius.
fn estimate_steps_by_radius(range_meters: f64, lat: f64) -> u8 {
    if range_meters == 0.0 {
        return 26;
    }
    let mut range = range_meters;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn deg_rad(angle: f64) -> f64 {
    angle * D_R
}

fn rad_deg(angle: f64) -> f64 {
    angle / D_R
}

impl Shape {
    /// Half the height and half the width in metres (the radius twice for a circle).
    fn half_extent(&self) -> (f64, f64) {
        match self.kind {
            ShapeKind::Radius(r) => (self.conversion * r, self.conversion * r),
            ShapeKind::Box { width, height } => (
                self.conversion * (height / 2.0),
                self.conversion * (width / 2.0),
            ),
        }
    }

    /// `geohashBoundingBox`: `[min_lon, min_lat, max_lon, max_lat]`.
    fn bounding_box(&self) -> [f64; 4] {
        let [longitude, latitude] = self.center;
        let (height, width) = self.half_extent();
        let lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS);
        let long_delta_top =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude + lat_delta).cos());
        let long_delta_bottom =
            rad_deg(width / EARTH_RADIUS_IN_METERS / deg_rad(latitude - lat_delta).cos());
        let long_delta = if latitude < 0.0 {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [
            longitude - long_delta,
            latitude - lat_delta,
            longitude + long_delta,
            latitude + lat_delta,
        ]
    }

    /// The radius of the search in metres: for a box, centre to corner.
    fn radius_meters(&self) -> f64 {
        let radius = match self.kind {
            ShapeKind::Radius(r) => r,
            ShapeKind::Box { width, height } => {
                ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
            }
        };
        radius * self.conversion
    }

    /// Whether a point is inside, and its distance from the centre in metres
    /// (`geoWithinShape`).
    pub(super) fn distance_if_within(&self, point: [f64; 2]) -> Option<f64> {
        let [x1, y1] = self.center;
        let [x2, y2] = point;
        match self.kind {
            ShapeKind::Radius(r) => {
                let distance = distance(x1, y1, x2, y2);
                (distance <= r * self.conversion).then_some(distance)
            }
            ShapeKind::Box { width, height } => {
                let (width_m, height_m) = (width * self.conversion, height * self.conversion);
                if lat_distance(y2, y1) > height_m / 2.0 {
                    return None;
                }
                if distance(x2, y2, x1, y2) > width_m / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, x2, y2))
            }
        }
    }

    /// The boxes to scan, in Redis's order (`geohashCalculateAreasByShapeWGS84` then
    /// `membersOfAllNeighbors`): the centre's, then north, south, east, west, north-east,
    /// north-west, south-east, south-west; boxes that cannot hold a match are zero.
    pub(super) fn boxes(&self) -> [HashBits; 9] {
        let [min_lon, min_lat, max_lon, max_lat] = self.bounding_box();
        let [longitude, latitude] = self.center;
        let mut steps = estimate_steps_by_radius(self.radius_meters(), latitude);
        let encode_at = |steps: u8| {
            encode(WGS84_LONG, WGS84_LAT, longitude, latitude, steps).unwrap_or(HashBits {
                bits: 0,
                step: steps,
            })
        };
        let mut hash = encode_at(steps);
        let mut around = neighbors(hash);
        let decoded = |h: HashBits| decode(WGS84_LONG, WGS84_LAT, h);
        // Near the edge of its box the estimated step can be one too fine for a neighbour to
        // cover the whole search area.
        let decrease_step = decoded(around.north).latitude.max < max_lat
            || decoded(around.south).latitude.min > min_lat
            || decoded(around.east).longitude.max < max_lon
            || decoded(around.west).longitude.min > min_lon;
        if steps > 1 && decrease_step {
            steps -= 1;
            hash = encode_at(steps);
            around = neighbors(hash);
        }
        let area = decoded(hash);
        if steps >= 2 {
            let n = &mut around;
            if area.latitude.min < min_lat {
                (n.south, n.south_west, n.south_east) =
                    (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
            }
            if area.latitude.max > max_lat {
                (n.north, n.north_east, n.north_west) =
                    (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
            }
            if area.longitude.min < min_lon {
                (n.west, n.south_west, n.north_west) =
                    (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
            }
            if area.longitude.max > max_lon {
                (n.east, n.south_east, n.north_east) =
                    (HashBits::ZERO, HashBits::ZERO, HashBits::ZERO);
            }
        }
        [
            hash,
            around.north,
            around.south,
            around.east,
            around.west,
            around.north_east,
            around.north_west,
            around.south_east,
            around.south_west,
        ]
    }
}

/// The distance along a meridian (`geohashGetLatDistance`).
fn lat_distance(lat1d: f64, lat2d: f64) -> f64 {
    EARTH_RADIUS_IN_METERS * (deg_rad(lat2d) - deg_rad(lat1d)).abs()
}

/// Redis's haversine great-circle distance in metres (`geohashGetDistance`).
pub(super) fn distance(lon1d: f64, lat1d: f64, lon2d: f64, lat2d: f64) -> f64 {
    let lon1r = deg_rad(lon1d);
    let lon2r = deg_rad(lon2d);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1d, lat2d);
    }
    let lat1r = deg_rad(lat1d);
    let lat2r = deg_rad(lat2d);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_IN_METERS * a.sqrt().asin()
}

/// GEOHASH's 11-character string: the point re-encoded on the standard ranges
/// (latitude ±90, where geo sets use ±85.05), base 32, the 11th character always `0`.
pub(super) fn standard_geohash(point: [f64; 2]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let long = Range {
        min: -180.0,
        max: 180.0,
    };
    let lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(long, lat, point[0], point[1], 26).map_or(0, |h| h.bits);
    (0..11)
        .map(|i| {
            let index = if i == 10 {
                0
            } else {
                (bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            char::from(ALPHABET[index as usize])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaving_round_trips() {
        for (x, y) in [
            (0, 0),
            (1, 0),
            (0, 1),
            (0x3ff_ffff, 0x155_5555),
            (u32::MAX, 7),
        ] {
            let sep = deinterleave64(interleave64(x, y));
            assert_eq!((sep as u32, (sep >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn scores_and_decoding_match_redis() {
        // `GEOADD Sicily 13.361389 38.115556 "Palermo"` stores this score in Redis 7.0.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        let [lon, lat] = decode_score(3479099956230698.0);
        assert_eq!(format!("{lon:.17}"), "13.36138933897018433");
        assert_eq!(format!("{lat:.17}"), "38.11555639549629859");
        assert_eq!(score_of(180.0001, 0.0), None);
        assert_eq!(score_of(0.0, 85.06), None);
    }

    #[test]
    fn out_of_range_scores_decode_as_x86_64_casts_them() {
        // Redis answers GEOPOS of a member with score -1 at the clamped corner 180,85.05...
        assert_eq!(c_double_to_u64(-1.0), u64::MAX);
        assert_eq!(c_double_to_u64(1e20), 0);
        assert_eq!(c_double_to_u64(1.5), 1);
        assert_eq!(decode_score(-1.0), [LONG_MAX, LAT_MAX]);
    }

    #[test]
    fn distances_use_redis_haversine() {
        // GEODIST Sicily Palermo Catania in Redis 7.0: "166274.1516".
        let palermo = decode_score(3479099956230698.0);
        let catania = decode_score(3479447370796909.0);
        let d = distance(palermo[0], palermo[1], catania[0], catania[1]);
        assert_eq!((d * 10000.0).round_ties_even() as i64, 1_662_741_516);
    }

    #[test]
    fn geohash_strings_are_eleven_characters() {
        assert_eq!(
            standard_geohash(decode_score(3479099956230698.0)),
            "sqc8b49rny0"
        );
    }

    #[test]
    fn radius_zero_searches_the_finest_boxes() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::INFINITY, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(1000.0, 85.0), 12);
    }
}
