//! Geo commands: GEOADD, GEOPOS, GEODIST, GEOHASH, GEORADIUS, GEORADIUSBYMEMBER (and their
//! `_RO` forms), GEOSEARCH and GEOSEARCHSTORE, following Redis 7.0's `geo.c` step by step so
//! that replies, the order of matches and error precedence are Redis's.
//!
//! A geo set is a sorted set whose scores are 52-bit geohashes ([`geohash`]); a search scans
//! the score ranges of up to nine geohash boxes around its centre and keeps the points inside
//! the circle or box.

mod geohash;

use geohash::{HashBits, LAT_MAX, LAT_MIN, LONG_MAX, LONG_MIN, Shape, ShapeKind};

use super::zsets::{ZSet, as_zset};
use super::{Emulator, Handler, NOT_INTEGER, SYNTAX, Value, is};
use crate::redis::command::strict_i64;
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "GEOADD" => geoadd,
        "GEOPOS" => geopos,
        "GEODIST" => geodist,
        "GEOHASH" => geohash_command,
        "GEORADIUS" => |em, conn, args| search(em, conn, args, Variant::Radius),
        "GEORADIUS_RO" => |em, conn, args| search(em, conn, args, Variant::RadiusRo),
        "GEORADIUSBYMEMBER" => |em, conn, args| search(em, conn, args, Variant::ByMember),
        "GEORADIUSBYMEMBER_RO" => |em, conn, args| search(em, conn, args, Variant::ByMemberRo),
        "GEOSEARCH" => |em, conn, args| search(em, conn, args, Variant::Search),
        "GEOSEARCHSTORE" => |em, conn, args| search(em, conn, args, Variant::SearchStore),
        _ => return None,
    })
}

const NOT_FLOAT: &str = "ERR value is not a valid float";
const UNKNOWN_MEMBER: &str = "ERR could not decode requested zset member";

/// A double as Redis's `string2d` reads it (`strtod` of the whole text): no NaN, no leading
/// space, and no overflow to infinity or underflow to zero. `-0` stays `-0`, as Redis
/// prints it back in the invalid-pair error.
fn strtod(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    let lower = text.to_ascii_lowercase();
    let overflow = value.is_infinite() && !lower.contains("inf");
    let mantissa = lower.split('e').next().unwrap_or_default();
    let underflow = value == 0.0 && mantissa.bytes().any(|b| (b'1'..=b'9').contains(&b));
    (!value.is_nan() && !overflow && !underflow).then_some(value)
}

/// A double argument, or Redis's error (`message` when the command has its own).
fn double_arg(arg: &[u8], message: &str) -> Result<f64, Reply> {
    strtod(arg).ok_or_else(|| Reply::error(message))
}

/// `longitude latitude` (`extractLongLatOrReply`): both parsed first, then the range checked.
fn long_lat(args: &[Vec<u8>]) -> Result<[f64; 2], Reply> {
    let longitude = double_arg(&args[0], NOT_FLOAT)?;
    let latitude = double_arg(&args[1], NOT_FLOAT)?;
    if !(LONG_MIN..=LONG_MAX).contains(&longitude) || !(LAT_MIN..=LAT_MAX).contains(&latitude) {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}"
        )));
    }
    Ok([longitude, latitude])
}

/// Metres per unit (`extractUnitOrReply`).
fn unit(arg: &[u8]) -> Result<f64, Reply> {
    match arg.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(Reply::error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// `radius unit`: the radius and metres per unit.
fn radius(args: &[Vec<u8>]) -> Result<(f64, f64), Reply> {
    let radius = double_arg(&args[0], "ERR need numeric radius")?;
    if radius < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((radius, unit(&args[1])?))
}

/// `width height unit`: the box and metres per unit.
fn box_size(args: &[Vec<u8>]) -> Result<(f64, f64, f64), Reply> {
    let width = double_arg(&args[0], "ERR need numeric width")?;
    let height = double_arg(&args[1], "ERR need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(&args[2])?))
}

/// A distance with four decimals (`fixedpoint_d2string`: `llrint` of the value times 10^4).
fn distance_text(distance: f64) -> String {
    let scaled = (distance * 10000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let magnitude = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", magnitude / 10000, magnitude % 10000)
}

/// A coordinate as Redis prints it (`ld2string` in human mode: `%.17Lf` of the value, trailing
/// zeros dropped, `-0` as `0`); a double in RESP3.
fn coordinate_reply(value: f64) -> Reply {
    let fixed = format!("{value:.17}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    let text = if trimmed == "-0" { "0" } else { trimmed };
    Reply::FormattedDouble(text.to_string())
}

fn position_reply(point: [f64; 2]) -> Reply {
    Reply::Array(vec![coordinate_reply(point[0]), coordinate_reply(point[1])])
}

/// The geo set at `key` (`Ok(None)` when missing), WRONGTYPE for another type.
fn geo_set<'a>(em: &'a mut Emulator, db: usize, key: &[u8]) -> Result<Option<&'a ZSet>, Reply> {
    em.typed(db, key, as_zset).map(|z| z.map(|z| &*z))
}

/// `GEOADD key [NX|XX] [CH] longitude latitude member [...]`: ZADD of the points' scores, as
/// Redis runs it.
fn geoadd(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while let Some(option) = args.get(first) {
        if is(option, "nx") {
            nx = true;
        } else if is(option, "xx") {
            xx = true;
        } else if !is(option, "ch") {
            break;
        }
        first += 1;
    }
    let triples = &args[first..];
    if !triples.len().is_multiple_of(3) || (nx && xx) {
        return Reply::error(SYNTAX);
    }
    let mut zadd_args: Vec<Vec<u8>> = Vec::with_capacity(first + triples.len() / 3 * 2);
    zadd_args.push(b"zadd".to_vec());
    zadd_args.extend_from_slice(&args[1..first]);
    for triple in triples.chunks(3) {
        let [longitude, latitude] = match long_lat(&triple[..2]) {
            Ok(point) => point,
            Err(e) => return e,
        };
        let score = geohash::score_of(longitude, latitude).expect("checked to be in range");
        zadd_args.push(score.to_string().into_bytes());
        zadd_args.push(triple[2].clone());
    }
    let zadd = super::zsets::handler("ZADD").expect("the emulator has ZADD");
    zadd(em, conn, &zadd_args)
}

/// `GEOPOS key member [...]`.
fn geopos(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let zset = match geo_set(em, conn.db, &args[1]) {
        Ok(z) => z,
        Err(e) => return e,
    };
    let positions = args[2..].iter().map(|member| {
        zset.and_then(|z| z.score(member))
            .map_or(Reply::NilArray, |score| {
                position_reply(geohash::decode_score(score))
            })
    });
    Reply::Array(positions.collect())
}

/// `GEOHASH key member [...]`.
fn geohash_command(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let zset = match geo_set(em, conn.db, &args[1]) {
        Ok(z) => z,
        Err(e) => return e,
    };
    let hashes = args[2..].iter().map(|member| {
        zset.and_then(|z| z.score(member))
            .map_or(Reply::Nil, |score| {
                Reply::bulk(geohash::standard_geohash(geohash::decode_score(score)))
            })
    });
    Reply::Array(hashes.collect())
}

/// `GEODIST key member1 member2 [M|KM|FT|MI]`: the unit is checked before the key.
fn geodist(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let to_meter = match args.len() {
        4 => 1.0,
        5 => match unit(&args[4]) {
            Ok(u) => u,
            Err(e) => return e,
        },
        _ => return Reply::error(SYNTAX),
    };
    let zset = match geo_set(em, conn.db, &args[1]) {
        Ok(Some(z)) => z,
        Ok(None) => return Reply::Nil,
        Err(e) => return e,
    };
    let (Some(score1), Some(score2)) = (zset.score(&args[2]), zset.score(&args[3])) else {
        return Reply::Nil;
    };
    let [lon1, lat1] = geohash::decode_score(score1);
    let [lon2, lat2] = geohash::decode_score(score2);
    Reply::bulk(distance_text(
        geohash::distance(lon1, lat1, lon2, lat2) / to_meter,
    ))
}

/// The geo search commands, which share one parser in Redis (`georadiusGeneric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Radius,
    RadiusRo,
    ByMember,
    ByMemberRo,
    Search,
    SearchStore,
}

impl Variant {
    fn around_coordinates(self) -> bool {
        matches!(self, Variant::Radius | Variant::RadiusRo)
    }

    fn around_member(self) -> bool {
        matches!(self, Variant::ByMember | Variant::ByMemberRo)
    }

    fn is_search(self) -> bool {
        matches!(self, Variant::Search | Variant::SearchStore)
    }

    /// Whether `STORE key` and `STOREDIST key` are options.
    fn stores_by_option(self) -> bool {
        matches!(self, Variant::Radius | Variant::ByMember)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// The options after the fixed arguments.
#[derive(Debug)]
struct Options<'a> {
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    any: bool,
    sort: Sort,
    /// 0: unlimited.
    count: u64,
    store: Option<&'a [u8]>,
    store_dist: bool,
    from_member: bool,
    from_lon_lat: bool,
    by_radius: bool,
    by_box: bool,
}

/// For WATCH: `None` unless `name` is GEORADIUS or GEORADIUSBYMEMBER (any case), else the
/// position of the key their STORE or STOREDIST option writes, if they have one.
pub(super) fn radius_store_key(name: &str, args: &[Vec<u8>]) -> Option<Option<usize>> {
    let base = if name.eq_ignore_ascii_case("georadius") {
        6
    } else if name.eq_ignore_ascii_case("georadiusbymember") {
        5
    } else {
        return None;
    };
    let mut store = None;
    let mut i = base;
    while i < args.len() {
        let has_value = i + 1 < args.len();
        if has_value && (is(&args[i], "store") || is(&args[i], "storedist")) {
            store = Some(i + 1);
            i += 1;
        } else if has_value && is(&args[i], "count") {
            i += 1;
        }
        i += 1;
    }
    Some(store)
}

/// A match: the member, its score, coordinates and distance from the centre in metres.
#[derive(Debug)]
struct Point {
    member: Vec<u8>,
    score: f64,
    position: [f64; 2],
    distance: f64,
}

fn search(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>], variant: Variant) -> Reply {
    match run_search(em, conn, args, variant) {
        Ok(reply) | Err(reply) => reply,
    }
}

/// What a search found, before it is answered or stored.
struct Found<'a> {
    points: Vec<Point>,
    options: Options<'a>,
    conversion: f64,
}

fn run_search(
    em: &mut Emulator,
    conn: &mut Connection,
    args: &[Vec<u8>],
    variant: Variant,
) -> Result<Reply, Reply> {
    let db = conn.db;
    let source = if variant == Variant::SearchStore {
        2
    } else {
        1
    };
    let zset = geo_set(em, db, &args[source])?;
    let Some(found) = find(zset, args, variant)? else {
        return Ok(Reply::Array(Vec::new()));
    };
    let Found {
        mut points,
        options,
        conversion,
    } = found;
    for point in &mut points {
        point.distance /= conversion;
    }
    match options.store {
        None => Ok(reply(&points, &options)),
        Some(destination) => {
            let stored = points.len();
            if points.is_empty() {
                em.remove(db, destination);
            } else {
                let mut zset = ZSet::default();
                for point in &points {
                    let score = if options.store_dist {
                        point.distance
                    } else {
                        point.score
                    };
                    zset.insert(&point.member, score);
                }
                em.put(db, destination, Value::ZSet(zset));
            }
            Ok(Reply::Int(stored as i64))
        }
    }
}

/// Parses the search and runs it on `zset`. `Ok(None)`: nothing to answer but an empty array
/// (a missing key without STORE, or no match).
fn find<'a>(
    zset: Option<&ZSet>,
    args: &'a [Vec<u8>],
    variant: Variant,
) -> Result<Option<Found<'a>>, Reply> {
    let mut shape = Shape {
        center: [0.0; 2],
        conversion: 0.0,
        kind: ShapeKind::Radius(0.0),
    };
    let base = if variant.around_coordinates() {
        shape.center = long_lat(&args[2..4])?;
        let (r, conversion) = radius(&args[4..6])?;
        (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
        6
    } else if variant.around_member() {
        // With the key missing Redis checks neither the member nor the radius.
        if let Some(zset) = zset {
            shape.center = member_position(zset, &args[2])?;
            let (r, conversion) = radius(&args[3..5])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
        }
        5
    } else if variant == Variant::SearchStore {
        3
    } else {
        2
    };
    let options = parse_options(zset, args, base, variant, &mut shape)?;
    check_options(&options, args, variant)?;
    let Some(zset) = zset else {
        return match options.store {
            Some(_) => Ok(Some(Found {
                points: Vec::new(),
                options,
                conversion: 1.0,
            })),
            None => Ok(None),
        };
    };
    let limit = if options.any { options.count } else { 0 };
    let mut points = points_in_shape(zset, &shape, limit);
    if points.is_empty() && options.store.is_none() {
        return Ok(None);
    }
    let mut sort = options.sort;
    if options.count != 0 && sort == Sort::None && !options.any {
        sort = Sort::Asc;
    }
    // A stable sort, as glibc's qsort (a merge sort) is for these sizes.
    match sort {
        Sort::Asc => points.sort_by(|a, b| a.distance.total_cmp(&b.distance)),
        Sort::Desc => points.sort_by(|a, b| b.distance.total_cmp(&a.distance)),
        Sort::None => {}
    }
    if options.count != 0 {
        points.truncate(usize::try_from(options.count).unwrap_or(usize::MAX));
    }
    Ok(Some(Found {
        points,
        options,
        conversion: shape.conversion,
    }))
}

fn member_position(zset: &ZSet, member: &[u8]) -> Result<[f64; 2], Reply> {
    zset.score(member)
        .map(geohash::decode_score)
        .ok_or_else(|| Reply::error(UNKNOWN_MEMBER))
}

/// The options loop of `georadiusGeneric`: FROMMEMBER, FROMLONLAT, BYRADIUS and BYBOX are
/// read into `shape` as they come, so their errors come before those of later options.
fn parse_options<'a>(
    zset: Option<&ZSet>,
    args: &'a [Vec<u8>],
    base: usize,
    variant: Variant,
    shape: &mut Shape,
) -> Result<Options<'a>, Reply> {
    let mut o = Options {
        with_dist: false,
        with_hash: false,
        with_coord: false,
        any: false,
        sort: Sort::None,
        count: 0,
        store: (variant == Variant::SearchStore).then(|| args[1].as_slice()),
        store_dist: false,
        from_member: false,
        from_lon_lat: false,
        by_radius: false,
        by_box: false,
    };
    let mut i = base;
    while i < args.len() {
        let arg = &args[i];
        // How many words follow this option.
        let after = args.len() - i - 1;
        if is(arg, "withdist") {
            o.with_dist = true;
        } else if is(arg, "withhash") {
            o.with_hash = true;
        } else if is(arg, "withcoord") {
            o.with_coord = true;
        } else if is(arg, "any") {
            o.any = true;
        } else if is(arg, "asc") {
            o.sort = Sort::Asc;
        } else if is(arg, "desc") {
            o.sort = Sort::Desc;
        } else if is(arg, "count") && after >= 1 {
            let count = strict_i64(&args[i + 1]).ok_or_else(|| Reply::error(NOT_INTEGER))?;
            if count <= 0 {
                return Err(Reply::error("ERR COUNT must be > 0"));
            }
            o.count = count as u64;
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist"))
            && after >= 1
            && variant.stores_by_option()
        {
            o.store = Some(&args[i + 1]);
            o.store_dist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && variant == Variant::SearchStore {
            o.store_dist = true;
        } else if is(arg, "frommember") && after >= 1 && variant.is_search() && !o.from_lon_lat {
            if let Some(zset) = zset {
                shape.center = member_position(zset, &args[i + 1])?;
            }
            o.from_member = true;
            i += 1;
        } else if is(arg, "fromlonlat") && after >= 2 && variant.is_search() && !o.from_member {
            shape.center = long_lat(&args[i + 1..i + 3])?;
            o.from_lon_lat = true;
            i += 2;
        } else if is(arg, "byradius") && after >= 2 && variant.is_search() && !o.by_box {
            let (r, conversion) = radius(&args[i + 1..i + 3])?;
            (shape.kind, shape.conversion) = (ShapeKind::Radius(r), conversion);
            o.by_radius = true;
            i += 2;
        } else if is(arg, "bybox") && after >= 3 && variant.is_search() && !o.by_radius {
            let (width, height, conversion) = box_size(&args[i + 1..i + 4])?;
            (shape.kind, shape.conversion) = (ShapeKind::Box { width, height }, conversion);
            o.by_box = true;
            i += 3;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// The checks after the options, in Redis's order.
fn check_options(o: &Options, args: &[Vec<u8>], variant: Variant) -> Result<(), Reply> {
    let name = String::from_utf8_lossy(&args[0]);
    if o.store.is_some() && (o.with_dist || o.with_hash || o.with_coord) {
        let what = if variant == Variant::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if variant.is_search() && !(o.from_member || o.from_lon_lat) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if variant.is_search() && !(o.by_radius || o.by_box) {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if o.any && o.count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// The points of `zset` inside `shape`, box by box in Redis's order (`membersOfAllNeighbors`),
/// stopping at `limit` matches when it is not 0 (ANY).
fn points_in_shape(zset: &ZSet, shape: &Shape, limit: u64) -> Vec<Point> {
    let boxes = shape.boxes();
    let mut points = Vec::new();
    let mut last_processed = 0;
    let full = |points: &Vec<Point>| limit != 0 && points.len() as u64 >= limit;
    for (i, hash) in boxes.iter().enumerate() {
        if hash.is_zero() {
            continue;
        }
        // Huge radii make neighbours coincide: Redis skips a box equal to the last one
        // scanned (never comparing with the centre's, index 0).
        if last_processed != 0 && *hash == boxes[last_processed] {
            continue;
        }
        if full(&points) {
            break;
        }
        points_in_box(zset, *hash, shape, limit, &mut points);
        last_processed = i;
    }
    points
}

/// The points whose score is in the box's range `[min, max)` and inside the shape.
fn points_in_box(zset: &ZSet, hash: HashBits, shape: &Shape, limit: u64, out: &mut Vec<Point>) {
    let min = hash.align52() as f64;
    let next = HashBits {
        bits: hash.bits + 1,
        step: hash.step,
    };
    let max = next.align52() as f64;
    for (member, score) in zset.scored_at_least(min) {
        if score >= max {
            break;
        }
        let position = geohash::decode_score(score);
        if let Some(distance) = shape.distance_if_within(position) {
            out.push(Point {
                member: member.to_vec(),
                score,
                position,
                distance,
            });
        }
        if limit != 0 && out.len() as u64 >= limit {
            break;
        }
    }
}

/// The matches as GEORADIUS answers them: names, or arrays with the WITH* fields.
fn reply(points: &[Point], o: &Options) -> Reply {
    let with_any = o.with_dist || o.with_hash || o.with_coord;
    let items = points.iter().map(|p| {
        if !with_any {
            return Reply::bulk(&p.member);
        }
        let mut fields = vec![Reply::bulk(&p.member)];
        if o.with_dist {
            fields.push(Reply::bulk(distance_text(p.distance)));
        }
        if o.with_hash {
            fields.push(Reply::Int(p.score as i64));
        }
        if o.with_coord {
            fields.push(position_reply(p.position));
        }
        Reply::Array(fields)
    });
    Reply::Array(items.collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::emulator::run_line;
    use crate::redis::entry::Seed;
    use crate::redis::reply::Protocol;

    fn run(em: &mut Emulator, conn: &mut Connection, line: &str) -> String {
        String::from_utf8(run_line(em, conn, line).to_bytes(Protocol::Resp2)).unwrap()
    }

    fn sicily() -> (Emulator, Connection) {
        let mut em = Emulator::new(&Seed::new());
        let mut conn = Connection::default();
        run(
            &mut em,
            &mut conn,
            "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
        );
        (em, conn)
    }

    /// WATCH as redis-server 7.0 answers it: a store to the watched key aborts EXEC even with
    /// the same content; the source of GEORADIUS ... STORE is not touched.
    #[test]
    fn geo_stores_and_restore_break_watches_on_the_key_they_write() {
        let (mut em, mut conn) = sicily();
        let mut other = Connection::default();
        other.id = conn.id + 1;
        let cases = [
            (
                "d",
                "geosearchstore d Sicily fromlonlat 13 38 byradius 100 km",
                true,
            ),
            ("d2", "georadius Sicily 13 38 100 km store d2", true),
            ("Sicily", "georadius Sicily 13 38 100 km store d3", false),
            ("d4", "georadius Sicily 13 38 100 km withdist", false),
            ("Sicily", "geoadd Sicily 13.361389 38.115556 Palermo", false),
            (
                "Sicily",
                "georadius Sicily 13 38 100 km count 1 storedist Sicily",
                true,
            ),
        ];
        for (key, line, breaks) in cases {
            run(&mut em, &mut other, line);
            em.watch(&conn, &[key.as_bytes().to_vec()]).unwrap();
            run(&mut em, &mut other, line);
            assert_eq!(em.watch_broken(conn.id), breaks, "{line}");
            em.unwatch(conn.id);
        }
        let Reply::Bulk(payload) = run_line(&mut em, &mut conn, "dump d") else {
            panic!("dump");
        };
        em.watch(&conn, &[b"d".to_vec()]).unwrap();
        let args = [
            b"restore".to_vec(),
            b"d".to_vec(),
            b"0".to_vec(),
            payload,
            b"replace".to_vec(),
        ];
        em.execute(
            &mut other,
            &crate::redis::command::Command {
                args: args.to_vec(),
            },
        );
        assert!(
            em.watch_broken(conn.id),
            "RESTORE REPLACE with the same value"
        );
    }

    #[test]
    fn strtod_rejects_what_redis_rejects() {
        assert_eq!(strtod(b"1.5"), Some(1.5));
        assert_eq!(strtod(b"inf"), Some(f64::INFINITY));
        assert!(strtod(b"-0").unwrap().is_sign_negative());
        assert_eq!(strtod(b"1e-310"), Some(1e-310));
        for bad in ["", " 1", "1 ", "nan", "1e400", "1e-400", "x"] {
            assert_eq!(strtod(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn distances_and_coordinates_print_like_redis() {
        assert_eq!(distance_text(166274.15156960033), "166274.1516");
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.00001), "0.0000");
        assert_eq!(
            coordinate_reply(13.361_389_338_970_184),
            Reply::FormattedDouble("13.36138933897018433".into())
        );
        assert_eq!(coordinate_reply(-0.0), Reply::FormattedDouble("0".into()));
        assert_eq!(
            coordinate_reply(180.0),
            Reply::FormattedDouble("180".into())
        );
    }

    #[test]
    fn invalid_pairs_name_the_coordinates() {
        let (mut em, mut conn) = sicily();
        assert_eq!(
            run(&mut em, &mut conn, "geoadd g 200 100 m"),
            "-ERR invalid longitude,latitude pair 200.000000,100.000000\r\n"
        );
        assert_eq!(
            run(&mut em, &mut conn, "geoadd g 1e400 0 m"),
            "-ERR value is not a valid float\r\n"
        );
    }

    #[test]
    fn georadius_sorts_and_decorates_matches() {
        let (mut em, mut conn) = sicily();
        assert_eq!(
            run(
                &mut em,
                &mut conn,
                "georadius Sicily 15 37 200 km WITHDIST WITHCOORD ASC"
            ),
            "*2\r\n*3\r\n$7\r\nCatania\r\n$7\r\n56.4413\r\n*2\r\n$20\r\n15.08726745843887329\r\n$20\r\n37.50266842333162032\r\n\
             *3\r\n$7\r\nPalermo\r\n$8\r\n190.4424\r\n*2\r\n$20\r\n13.36138933897018433\r\n$20\r\n38.11555639549629859\r\n"
        );
    }

    #[test]
    fn geosearchstore_writes_distances_and_deletes_on_no_match() {
        let (mut em, mut conn) = sicily();
        let line = "geosearchstore d Sicily fromlonlat 15 37 byradius 100 km storedist";
        assert_eq!(run(&mut em, &mut conn, line), ":1\r\n");
        assert_eq!(
            run(&mut em, &mut conn, "zrange d 0 -1 withscores"),
            "*2\r\n$7\r\nCatania\r\n$18\r\n56.441257870158204\r\n"
        );
        let nothing = "geosearchstore d Sicily fromlonlat 0 0 byradius 1 m";
        assert_eq!(run(&mut em, &mut conn, nothing), ":0\r\n");
        assert_eq!(run(&mut em, &mut conn, "exists d"), ":0\r\n");
    }

    #[test]
    fn a_huge_count_allocates_nothing_more_than_the_matches() {
        let (mut em, mut conn) = sicily();
        let line = "geosearch Sicily frommember Palermo byradius 1000 km count 9223372036854775807";
        assert_eq!(
            run(&mut em, &mut conn, line),
            "*2\r\n$7\r\nPalermo\r\n$7\r\nCatania\r\n"
        );
        let any = "geosearch Sicily frommember Palermo byradius 1000 km count 1 any";
        assert_eq!(run(&mut em, &mut conn, any), "*1\r\n$7\r\nPalermo\r\n");
    }
}
