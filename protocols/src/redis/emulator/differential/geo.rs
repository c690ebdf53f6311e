//! Differential scripts for the geo commands, compared byte for byte with a real
//! `redis-server` in RESP2 and RESP3: fixed scripts for every command, option and error, and a
//! seeded generator of random points and searches whose coordinates, distances and hashes
//! (and the order of unsorted matches, which follows Redis's geohash boxes) must match.

use super::{Pair, Step, real_or_skip, steps};

/// The fixed scripts; each runs in RESP2 and again after `HELLO 3`.
const GEO_SCRIPTS: &[(&str, &[&str])] = &[
    (
        "add, pos, dist, hash",
        &[
            "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "geoadd Sicily 13.361389 38.115556 Palermo",
            "geoadd Sicily ch 13.4 38.1 Palermo 12 37 Trapani",
            "geoadd Sicily nx 1 1 Palermo 2 2 New",
            "geoadd Sicily xx 3 3 New2 13.361389 38.115556 Palermo",
            "geoadd Sicily xx ch 13.361389 38.115556 Palermo",
            "geoadd Sicily nx xx 1 1 a",
            "geoadd Sicily ch nx ch 1 1 a",
            "geoadd Sicily gt 1 1 a",
            "geoadd Sicily 1 1",
            "geoadd Sicily 1 1 a 2",
            "geoadd Sicily ch ch ch",
            "geoadd Sicily 200 10 a",
            "geoadd Sicily 10 86 a",
            "geoadd Sicily -180 -85.05112878 edge1 180 85.05112878 edge2",
            "geoadd Sicily -0 100 a",
            "geoadd Sicily inf 0 a",
            "geoadd Sicily x 0 a",
            "geoadd Sicily 0 x a",
            "geoadd Sicily 1e400 0 a",
            "geoadd Sicily 1e-400 0 a",
            "geoadd Sicily 1e-310 0 tiny",
            "geoadd Sicily \" 1\" 0 a",
            "geoadd Sicily 0 0 zero -0 -0 negzero",
            "zrange Sicily 0 -1 withscores",
            "geopos Sicily Palermo Catania nope edge1 edge2 zero negzero tiny",
            "geopos nokey a b",
            "geopos Sicily",
            "geohash Sicily Palermo Catania nope edge1 edge2 zero",
            "geohash nokey a",
            "geohash Sicily",
            "geodist Sicily Palermo Catania",
            "geodist Sicily Palermo Catania km",
            "geodist Sicily Palermo Catania MI",
            "geodist Sicily Palermo Catania ft",
            "geodist Sicily Palermo Catania m",
            "geodist Sicily Palermo Catania yards",
            "geodist Sicily Palermo Catania km extra",
            "geodist Sicily Palermo nope",
            "geodist nokey a b",
            "geodist nokey a b parsec",
            "geodist Sicily Palermo Palermo",
            "geodist Sicily edge1 edge2",
            "geodist Sicily zero negzero",
            "zadd Sicily -1 neg 1e20 big 1.5 frac 4503599627370496 top",
            "geopos Sicily neg big frac top",
            "geohash Sicily neg big frac top",
            "geodist Sicily neg big",
            "set str v",
            "geoadd str 1 1 a",
            "geopos str a",
            "geohash str a",
            "geodist str a b",
            "geodist str a b nope",
            "geoadd",
            "geopos k",
            "geodist k a",
        ],
    ),
    (
        "georadius and georadiusbymember",
        &[
            "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "geoadd Sicily 13.583333 37.316667 Agrigento 12.5 37.8 Marsala 14.55 38.0 Cefalu",
            "georadius Sicily 15 37 200 km",
            "georadius Sicily 15 37 200 km WITHDIST",
            "georadius Sicily 15 37 200 km WITHCOORD",
            "georadius Sicily 15 37 200 km WITHHASH",
            "georadius Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
            "georadius Sicily 15 37 200 km withhash withcoord withdist asc",
            "georadius Sicily 15 37 200 km desc",
            "georadius Sicily 15 37 200 km asc desc",
            "georadius Sicily 15 37 200 km count 2",
            "georadius Sicily 15 37 200 km count 2 desc",
            "georadius Sicily 15 37 200 km count 2 any",
            "georadius Sicily 15 37 200 km count 2 any asc",
            "georadius Sicily 15 37 200 km count 1 any withdist",
            "georadius Sicily 15 37 200 km any",
            "georadius Sicily 15 37 200 km count 0",
            "georadius Sicily 15 37 200 km count -1",
            "georadius Sicily 15 37 200 km count x",
            "georadius Sicily 15 37 200 km count",
            "georadius Sicily 15 37 200 km count 100",
            "georadius Sicily 15 37 124000 mi",
            "georadius Sicily 15 37 200000 m withdist",
            "georadius Sicily 15 37 656000 ft withdist",
            "georadius Sicily 15 37 0 km",
            "georadius Sicily 15 37 -1 km",
            "georadius Sicily 15 37 x km",
            "georadius Sicily 15 37 1 parsec",
            "georadius Sicily 15 37 inf km",
            "georadius Sicily 200 37 1 km",
            "georadius Sicily 15 x 1 km",
            "georadius Sicily 15 37 200 km foo",
            "georadius Sicily 15 37 200 km store",
            "georadius Sicily 15 37 200 km store dst",
            "zrange dst 0 -1 withscores",
            "georadius Sicily 15 37 200 km storedist dst count 2",
            "zrange dst 0 -1 withscores",
            "georadius Sicily 15 37 200 km storedist dst desc",
            "zrange dst 0 -1 withscores",
            "georadius Sicily 0 0 1 km store dst",
            "exists dst",
            "georadius Sicily 15 37 200 km store dst withdist",
            "georadius Sicily 15 37 200 km storedist dst withcoord",
            "georadius_ro Sicily 15 37 200 km store dst",
            "georadius_ro Sicily 15 37 200 km storedist dst",
            "georadius_ro Sicily 15 37 200 km withdist asc",
            "georadius nokey 15 37 200 km",
            "georadius nokey 15 37 200 km withdist",
            "set dst2 v",
            "georadius nokey 15 37 200 km store dst2",
            "exists dst2",
            "georadius nokey 200 37 200 km",
            "georadiusbymember Sicily Palermo 100 km",
            "georadiusbymember Sicily Palermo 100 km withdist withcoord withhash",
            "georadiusbymember Sicily Palermo 300 km desc count 3",
            "georadiusbymember Sicily Palermo 300 km count 2 any",
            "georadiusbymember Sicily nope 100 km",
            "georadiusbymember Sicily nope x km",
            "georadiusbymember Sicily Palermo x km",
            "georadiusbymember Sicily Palermo 100 km store dst",
            "zrange dst 0 -1 withscores",
            "georadiusbymember nokey nope x parsec",
            "georadiusbymember nokey nope x parsec store dst",
            "georadiusbymember nokey nope 1 km foo",
            "georadiusbymember_ro Sicily Palermo 100 km",
            "georadiusbymember_ro Sicily Palermo 100 km store dst",
            "georadius Sicily 15 37 200 km store Sicily",
            "zrange Sicily 0 -1 withscores",
            "set str v",
            "georadius str 15 37 200 km",
            "georadius str 200 37 200 km",
            "georadiusbymember str a 1 km",
            "georadius Sicily 15 37 200",
            "georadiusbymember Sicily Palermo 100",
            "geoadd big 0 0 a 90 0 b -90 0 c 179 0 d -179 0 e 0 80 f 0 -80 g",
            "georadius big 0 0 20000 km",
            "georadius big 0 0 20000 km withdist",
            "georadius big 179.5 0 200 km withcoord",
            "georadius big 0 85 600 km withdist",
            "georadius big 0 -85 600 km withdist",
            "georadius big 0 0 0 m withdist",
            "multi",
            "geoadd tx 1 2 a",
            "geopos tx a",
            "georadius tx 1 2 1 km withcoord withdist withhash",
            "geosearchstore txd tx fromlonlat 1 2 byradius 1 km storedist",
            "exec",
            "eval \"return redis.call('geopos', KEYS[1], 'Palermo', 'nope')\" 1 Sicily",
            "eval \"return redis.call('georadius', KEYS[1], 15, 37, 200, 'km', 'withcoord', 'withdist', 'asc')\" 1 Sicily",
            "eval \"return redis.call('geodist', KEYS[1], 'Palermo', 'Catania')\" 1 Sicily",
            "eval \"return redis.call('geoadd', KEYS[1], 500, 0, 'x')\" 1 Sicily",
        ],
    ),
    (
        "geosearch and geosearchstore",
        &[
            "geoadd Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
            "geoadd Sicily 13.583333 37.316667 Agrigento 12.5 37.8 Marsala 14.55 38.0 Cefalu",
            "geosearch Sicily frommember Palermo byradius 200 km",
            "geosearch Sicily frommember Palermo byradius 200 km asc withcoord withdist withhash",
            "geosearch Sicily fromlonlat 15 37 bybox 400 400 km asc withdist",
            "geosearch Sicily fromlonlat 15 37 bybox 400 100 km withdist",
            "geosearch Sicily fromlonlat 15 37 bybox 100 400 km withcoord",
            "geosearch Sicily fromlonlat 15 37 bybox 0 0 km",
            "geosearch Sicily fromlonlat 15 37 bybox 200 200 mi count 2 desc",
            "geosearch Sicily fromlonlat 15 37 byradius 200 km count 2 any",
            "geosearch Sicily fromlonlat 15 37 byradius 200 km any",
            "geosearch Sicily fromlonlat 15 37 byradius 200 km count 0",
            "geosearch Sicily fromlonlat 15 37",
            "geosearch Sicily byradius 200 km",
            "GeoSearch Sicily byradius 200 km",
            "geosearch Sicily fromlonlat 15 37 byradius 200 km bybox 1 1 km",
            "geosearch Sicily fromlonlat 15 37 bybox 1 1 km byradius 200 km",
            "geosearch Sicily frommember Palermo fromlonlat 15 37 byradius 200 km",
            "geosearch Sicily fromlonlat 15 37 frommember Palermo byradius 200 km",
            "geosearch Sicily frommember Palermo frommember Catania byradius 200 km",
            "geosearch Sicily frommember nope byradius 200 km",
            "geosearch Sicily frommember nope byradius x km",
            "geosearch Sicily fromlonlat 15 37 byradius x km",
            "geosearch Sicily fromlonlat 15 37 byradius -1 km",
            "geosearch Sicily fromlonlat 15 37 byradius 1 parsec",
            "geosearch Sicily fromlonlat 15 37 bybox x 1 km",
            "geosearch Sicily fromlonlat 15 37 bybox 1 x km",
            "geosearch Sicily fromlonlat 15 37 bybox -1 1 km",
            "geosearch Sicily fromlonlat 15 37 bybox 1 1 parsec",
            "geosearch Sicily fromlonlat 15 37 bybox 1 1",
            "geosearch Sicily fromlonlat 200 37 byradius 1 km",
            "geosearch Sicily fromlonlat 15 byradius 1 km",
            "geosearch Sicily fromlonlat 15 37 byradius 1 km store dst",
            "geosearch Sicily fromlonlat 15 37 byradius 1 km storedist",
            "geosearch nokey frommember nope byradius 1 km",
            "geosearch nokey fromlonlat 15 37 byradius 1 km withdist",
            "geosearch nokey fromlonlat 15 37",
            "geosearch Sicily fromlonlat 15 37 byradius 200 km any",
            "geosearchstore dst Sicily frommember Palermo byradius 200 km",
            "zrange dst 0 -1 withscores",
            "geosearchstore dst Sicily frommember Palermo byradius 200 km storedist",
            "zrange dst 0 -1 withscores",
            "geosearchstore dst Sicily fromlonlat 15 37 bybox 300 300 km storedist count 2 desc",
            "zrange dst 0 -1 withscores",
            "geosearchstore dst Sicily fromlonlat 15 37 byradius 200 km withdist",
            "geosearchstore dst Sicily fromlonlat 15 37 byradius 200 km store x",
            "geosearchstore dst Sicily fromlonlat 0 0 byradius 1 km",
            "exists dst",
            "geosearchstore dst nokey fromlonlat 0 0 byradius 1 km",
            "geosearchstore dst nokey frommember x byradius 1 km",
            "geosearchstore dst Sicily fromlonlat 15 37",
            "set str v",
            "geosearch str fromlonlat 15 37 byradius 1 km",
            "geosearchstore dst str fromlonlat 15 37 byradius 1 km",
            "geosearchstore str Sicily fromlonlat 15 37 byradius 200 km",
            "type str",
            "geosearch Sicily",
            "geosearchstore dst Sicily",
            "geoadd polar 0 84 a 90 84 b 180 84 c -90 84 d 0 -84 e 179.9 -84 f",
            "geosearch polar fromlonlat 0 85 byradius 500 km withdist",
            "geosearch polar fromlonlat 0 85 bybox 3000 500 km withdist",
            "geosearch polar fromlonlat 180 -84 bybox 100 100 km withcoord",
            "geosearch polar fromlonlat -180 -84 byradius 100 km withcoord",
        ],
    ),
];

#[test]
fn geo_commands_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("geo_commands_answer_byte_for_byte_like_redis_server") else {
        return;
    };
    for (family, lines) in GEO_SCRIPTS {
        for resp3 in [false, true] {
            let mut lines = lines.to_vec();
            if resp3 {
                lines.insert(0, "hello 3");
            }
            let mut pair = Pair::new(&server);
            if let Err(e) = pair.compare(&steps(&lines)) {
                panic!("geo {family} (RESP{}): {e}", if resp3 { 3 } else { 2 });
            }
        }
    }
}

/// A small xorshift generator: the sequences replay from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A coordinate with up to 6 decimals in `[min, max]`.
    fn coordinate(&mut self, min: f64, max: f64) -> String {
        let span = ((max - min) * 1e6) as u64;
        format!("{:.6}", min + self.below(span + 1) as f64 / 1e6)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One random sequence: points clustered around a random centre (so searches find many), then
/// searches of every kind around points and members with random options.
fn random_geo_steps(seed: u64) -> Vec<Step> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut lines = Vec::new();
    if rng.below(2) == 0 {
        lines.push("hello 3".to_string());
    }
    let center_lat = rng.below(170) as f64 - 85.0;
    let center_lon = rng.below(360) as f64 - 180.0;
    let spread = [0.01, 0.5, 5.0, 60.0][rng.below(4) as usize];
    let around = |rng: &mut Rng, c: f64, lo: f64, hi: f64| {
        rng.coordinate((c - spread).max(lo), (c + spread).min(hi))
    };
    let points = 1 + rng.below(40);
    for i in 0..points {
        let lon = around(&mut rng, center_lon, -180.0, 180.0);
        let lat = around(&mut rng, center_lat, -85.05112878, 85.05112878);
        lines.push(format!("geoadd g {lon} {lat} m{i}"));
    }
    let units = ["m", "km", "mi", "ft"];
    for _ in 0..20 {
        let unit = rng.pick(&units);
        let size = format!(
            "{}",
            [1, 50, 500, 5000, 50_000, 2_000_000][rng.below(6) as usize]
        );
        let scaled = match unit {
            "km" => size.clone(),
            _ => format!("{}", size.parse::<u64>().unwrap() * 1000),
        };
        let from = if rng.below(2) == 0 {
            format!("frommember m{}", rng.below(points))
        } else {
            let lon = around(&mut rng, center_lon, -180.0, 180.0);
            let lat = around(&mut rng, center_lat, -85.05112878, 85.05112878);
            format!("fromlonlat {lon} {lat}")
        };
        let by = if rng.below(2) == 0 {
            format!("byradius {scaled} {unit}")
        } else {
            let height = rng.below(3) + 1;
            format!(
                "bybox {scaled} {} {unit}",
                scaled.parse::<u64>().unwrap() * height / 2
            )
        };
        let mut options = String::new();
        for option in ["withcoord", "withdist", "withhash", "asc", "desc"] {
            if rng.below(3) == 0 {
                options.push(' ');
                options.push_str(option);
            }
        }
        if rng.below(3) == 0 {
            options.push_str(&format!(" count {}", 1 + rng.below(10)));
            if rng.below(2) == 0 {
                options.push_str(" any");
            }
        }
        let search = match rng.below(4) {
            0 => format!("geosearch g {from} {by}{options}"),
            1 => {
                let lon = around(&mut rng, center_lon, -180.0, 180.0);
                let lat = around(&mut rng, center_lat, -85.05112878, 85.05112878);
                format!("georadius g {lon} {lat} {scaled} {unit}{options}")
            }
            2 => format!(
                "georadiusbymember g m{} {scaled} {unit}{options}",
                rng.below(points)
            ),
            _ => {
                lines.push(format!("geosearchstore d g {from} {by} storedist"));
                "zrange d 0 -1 withscores".to_string()
            }
        };
        lines.push(search);
        if rng.below(4) == 0 {
            lines.push(format!(
                "geodist g m{} m{} {unit}",
                rng.below(points),
                rng.below(points)
            ));
            lines.push(format!("geopos g m{}", rng.below(points)));
            lines.push(format!("geohash g m{}", rng.below(points)));
        }
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    steps(&lines)
}

#[test]
fn random_geo_sequences_answer_byte_for_byte_like_redis_server() {
    let Some(server) = real_or_skip("random_geo_sequences_answer_byte_for_byte_like_redis_server")
    else {
        return;
    };
    let sequences: u64 = std::env::var("MOCKET_DIFF_GEO_SEQUENCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(40);
    let (mut compared, mut commands) = (0, 0);
    for seed in 0..sequences {
        let mut pair = Pair::new(&server);
        match pair.compare(&random_geo_steps(seed)) {
            Ok(n) => commands += n,
            Err(e) => panic!("geo sequence seed {seed}: {e}"),
        }
        compared += 1;
    }
    eprintln!("geo differential: {compared} sequences, {commands} commands compared");
}
