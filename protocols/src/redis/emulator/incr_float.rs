//! `INCRBYFLOAT` and `HINCRBYFLOAT`, with the x87 `long double` arithmetic of Redis: it parses both
//! operands with `strtold`, adds them with a 64-bit mantissa and prints the sum with
//! `%.17Lf`, trailing zeros trimmed. An `f64` cannot reproduce that (`10.5 + 0.1` prints
//! `10.6` in Redis but `10.59999999999999964` from a double), so the value is kept exactly
//! as sign, 64-bit mantissa and binary exponent, rounded to nearest-even like the FPU.

use num_bigint::BigUint;
use num_traits::{One, ToPrimitive, Zero};

use super::{Emulator, Handler, hashes};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "INCRBYFLOAT" => incrbyfloat,
        "HINCRBYFLOAT" => hincrbyfloat,
        _ => return None,
    })
}

const NOT_FLOAT: &str = "ERR value is not a valid float";
const NOT_FINITE: &str = "ERR increment would produce NaN or Infinity";

/// `INCRBYFLOAT key increment`: the stored string and the increment must be floats; the
/// expiry stays.
fn incrbyfloat(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let current = match em.string(conn.db, &args[1]) {
        Ok(None) => Ok(Some(LongDouble::from_i64(0))),
        Ok(Some(text)) => LongDouble::parse(&text),
        Err(e) => return e,
    };
    let (Ok(current), Ok(by)) = (current, LongDouble::parse(&args[2])) else {
        return Reply::error(NOT_FLOAT);
    };
    match sum_text(current, by) {
        Ok(text) => {
            em.set_string(conn.db, &args[1], text.as_bytes(), true);
            Reply::bulk(text)
        }
        Err(e) => Reply::error(e),
    }
}

/// `HINCRBYFLOAT key field increment`.
fn hincrbyfloat(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let by = match LongDouble::parse(&args[3]) {
        Ok(Some(by)) => by,
        Ok(None) => return Reply::error("ERR value is NaN or Infinity"),
        Err(()) => return Reply::error(NOT_FLOAT),
    };
    let hash = match em.typed_or_create(conn.db, &args[1], hashes::as_hash, hashes::empty) {
        Ok(h) => h,
        Err(e) => return e,
    };
    let current = match hash.get(&args[2]) {
        None => Some(LongDouble::from_i64(0)),
        Some(text) => match LongDouble::parse(text) {
            Ok(value) => value,
            Err(()) => return refuse(em, conn, &args[1], "ERR hash value is not a float"),
        },
    };
    match sum_text(current, Some(by)) {
        Ok(text) => {
            hash.insert(args[2].clone(), text.clone().into_bytes());
            Reply::bulk(text)
        }
        Err(e) => refuse(em, conn, &args[1], e),
    }
}

/// An error after the hash may have been created empty: it must not stay.
fn refuse(em: &mut Emulator, conn: &Connection, key: &[u8], error: &str) -> Reply {
    em.drop_if_empty(conn.db, key);
    Reply::error(error)
}

/// The sum as Redis prints it; an infinite operand or sum is refused.
fn sum_text(current: Option<LongDouble>, by: Option<LongDouble>) -> Result<String, &'static str> {
    let (Some(current), Some(by)) = (current, by) else {
        return Err(NOT_FINITE);
    };
    current
        .add(&by)
        .map(|sum| sum.to_human())
        .map_err(|_| NOT_FINITE)
}

/// The bits of an x87 extended mantissa.
const MANTISSA_BITS: u64 = 64;
/// `2^MAX_EXPONENT` is the first power of two a `long double` cannot hold.
const MAX_EXPONENT: i64 = 16384;
/// Below `2^MIN_EXPONENT` (the smallest subnormal) a `long double` is zero.
const MIN_EXPONENT: i64 = -16445;
/// Redis refuses longer inputs (`MAX_LONG_DOUBLE_CHARS`).
const MAX_TEXT: usize = 5 * 1024;

/// A finite `long double`: `(-1)^negative * mantissa * 2^exponent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LongDouble {
    negative: bool,
    mantissa: u64,
    exponent: i64,
}

/// Why a sum has no `long double` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NotFinite {
    /// Beyond the largest `long double`, or below the smallest.
    OutOfRange,
}

impl LongDouble {
    pub(super) fn from_i64(n: i64) -> LongDouble {
        LongDouble {
            negative: n < 0,
            mantissa: n.unsigned_abs(),
            exponent: 0,
        }
    }

    /// What Redis's `string2ld` accepts: `strtold` syntax with no surrounding space, no NaN,
    /// no overflow and no underflow to zero. `Ok(None)` is an infinity (`inf`), which Redis
    /// accepts and then refuses as a result.
    pub(super) fn parse(text: &[u8]) -> Result<Option<LongDouble>, ()> {
        if text.is_empty() || text.len() >= MAX_TEXT {
            return Err(());
        }
        let (negative, body) = match text[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        if lower == b"inf" || lower == b"infinity" {
            return Ok(None);
        }
        let hex = body.len() > 2 && body[0] == b'0' && matches!(body[1], b'x' | b'X');
        let (digits, scale10, scale2) = if hex {
            let (digits, scale2) = hex_digits(&body[2..]).ok_or(())?;
            (digits, 0, scale2)
        } else {
            let (digits, scale10) = decimal_digits(body).ok_or(())?;
            (digits, scale10, 0)
        };
        if digits.is_zero() {
            return Ok(Some(LongDouble::from_i64(0)));
        }
        // About 10^4932 is the largest long double and 10^-4951 the smallest: refuse what is
        // far outside before computing a huge power.
        let magnitude = (digits.bits() as f64 + scale2 as f64) * std::f64::consts::LOG10_2;
        if !(-5000.0..=5000.0).contains(&(magnitude + scale10 as f64)) {
            return Err(());
        }
        let (numerator, denominator) = if scale10 >= 0 {
            (digits * pow10(scale10 as u64), BigUint::one())
        } else {
            (digits, pow10(scale10.unsigned_abs()))
        };
        round(negative, numerator, denominator, scale2)
            .map(Some)
            .map_err(|_| ())
    }

    /// The sum, rounded once to a 64-bit mantissa as the FPU rounds it.
    pub(super) fn add(&self, other: &LongDouble) -> Result<LongDouble, NotFinite> {
        let base = self.exponent.min(other.exponent);
        let scaled = |x: &LongDouble| BigUint::from(x.mantissa) << (x.exponent - base) as u64;
        let (a, b) = (scaled(self), scaled(other));
        let (negative, magnitude) = if self.negative == other.negative {
            (self.negative, a + b)
        } else if a >= b {
            (self.negative, a - b)
        } else {
            (other.negative, b - a)
        };
        if magnitude.is_zero() {
            return Ok(LongDouble::from_i64(0));
        }
        round(negative, magnitude, BigUint::one(), base)
    }

    /// `%.17Lf` with trailing zeros (and a bare point) removed, and `-0` printed as `0`: what
    /// Redis's `ld2string(..., LD_STR_HUMAN)` stores.
    pub(super) fn to_human(&self) -> String {
        let magnitude = BigUint::from(self.mantissa);
        let fixed = if self.exponent >= 0 {
            (magnitude << self.exponent as u64).to_string()
        } else {
            let shift = self.exponent.unsigned_abs();
            let scaled = magnitude * pow10(17);
            let quotient = nearest_even(&scaled, shift);
            let text = format!("{quotient:0>18}");
            let (int, fraction) = text.split_at(text.len() - 17);
            let fraction = fraction.trim_end_matches('0');
            if fraction.is_empty() {
                int.to_string()
            } else {
                format!("{int}.{fraction}")
            }
        };
        if self.negative && fixed != "0" {
            format!("-{fixed}")
        } else {
            fixed
        }
    }
}

/// `10^n`.
fn pow10(n: u64) -> BigUint {
    BigUint::from(10u32).pow(n as u32)
}

/// `value / 2^shift`, rounded to nearest, ties to even.
fn nearest_even(value: &BigUint, shift: u64) -> BigUint {
    let quotient = value >> shift;
    let remainder = value - (&quotient << shift);
    let twice = remainder << 1u32;
    let unit = BigUint::one() << shift;
    if twice > unit || (twice == unit && quotient.bit(0)) {
        quotient + 1u32
    } else {
        quotient
    }
}

/// The digits of `[0-9]*[.[0-9]*][e[+-][0-9]+]` as an integer and its power-of-ten scale.
fn decimal_digits(body: &[u8]) -> Option<(BigUint, i64)> {
    let (mantissa, exponent) = match body.iter().position(|b| matches!(b, b'e' | b'E')) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, fraction) = match mantissa.iter().position(|b| *b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if (int.is_empty() && fraction.is_empty()) || !all_digits(int) || !all_digits(fraction) {
        return None;
    }
    let scale = exponent.map_or(Some(0), signed_exponent)? - fraction.len() as i64;
    let text: Vec<u8> = int.iter().chain(fraction).copied().collect();
    let digits = BigUint::parse_bytes(&text, 10)?;
    Some((digits, scale))
}

/// `strtold`'s hexadecimal form after `0x`: `[0-9a-f]*[.[0-9a-f]*][p[+-][0-9]+]`, as an
/// integer and its power-of-two scale.
fn hex_digits(body: &[u8]) -> Option<(BigUint, i64)> {
    let (mantissa, exponent) = match body.iter().position(|b| matches!(b, b'p' | b'P')) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int, fraction) = match mantissa.iter().position(|b| *b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let all_hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    if (int.is_empty() && fraction.is_empty()) || !all_hex(int) || !all_hex(fraction) {
        return None;
    }
    let scale = exponent.map_or(Some(0), signed_exponent)? - 4 * fraction.len() as i64;
    let text: Vec<u8> = int.iter().chain(fraction).copied().collect();
    Some((BigUint::parse_bytes(&text, 16)?, scale))
}

/// An exponent's `[+-]digits`, clamped far beyond any `long double` so it cannot overflow.
fn signed_exponent(text: &[u8]) -> Option<i64> {
    let (sign, digits) = match text.first() {
        Some(b'-') => (-1, &text[1..]),
        Some(b'+') => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value: i64 = std::str::from_utf8(digits)
        .ok()?
        .parse()
        .unwrap_or(i64::MAX / 4);
    Some(sign * value.min(1_000_000))
}

/// `numerator / denominator * 2^exponent`, rounded to a 64-bit mantissa.
fn round(
    negative: bool,
    numerator: BigUint,
    denominator: BigUint,
    exponent: i64,
) -> Result<LongDouble, NotFinite> {
    // Choose `shift` so the quotient has 64 or 65 bits, then round the extra bits away.
    let shift = numerator.bits() as i64 - denominator.bits() as i64 - MANTISSA_BITS as i64 - 2;
    let (num, den) = if shift >= 0 {
        (numerator, denominator << shift as u64)
    } else {
        (numerator << shift.unsigned_abs(), denominator)
    };
    // quotient * 2^(shift + exponent) is the value, with 2 guard bits below 64.
    let quotient = &num / &den;
    let sticky = !(&num - &quotient * &den).is_zero();
    let extra = quotient.bits().saturating_sub(MANTISSA_BITS);
    let mut mantissa = quotient.clone() >> extra;
    let dropped = &quotient - (&mantissa << extra);
    let half = BigUint::one() << extra.saturating_sub(1);
    let above_half = extra > 0 && (dropped > half || (dropped == half && sticky));
    let tie = extra > 0 && dropped == half && !sticky;
    if above_half || (tie && mantissa.bit(0)) {
        mantissa += 1u32;
    }
    let mut exponent = shift + exponent + extra as i64;
    if mantissa.bits() > MANTISSA_BITS {
        mantissa >>= 1u32;
        exponent += 1;
    }
    let mantissa = mantissa.to_u64().expect("64 bits");
    let top = exponent + MANTISSA_BITS as i64;
    if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&top) {
        return Err(NotFinite::OutOfRange);
    }
    Ok(LongDouble {
        negative,
        mantissa,
        exponent,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        let a = LongDouble::parse(a.as_bytes()).unwrap().unwrap();
        let b = LongDouble::parse(b.as_bytes()).unwrap().unwrap();
        a.add(&b).unwrap().to_human()
    }

    #[test]
    fn sums_print_like_redis_long_doubles() {
        // Each expected text is what redis-server 7.0.15 answered on x86_64.
        assert_eq!(sum("10.5", "0.1"), "10.6");
        assert_eq!(sum("0", "0.1"), "0.1");
        assert_eq!(sum("3.0e3", "200"), "3200");
        assert_eq!(sum("5.0e3", "-5000"), "0");
        assert_eq!(sum("-0.1", "0"), "-0.1");
        assert_eq!(sum("1", "-1.5"), "-0.5");
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("1e-20", "0"), "0");
        assert_eq!(sum("-1e-20", "0"), "0");
        assert_eq!(sum("0x10", "0x1.8p1"), "19");
        assert_eq!(sum("1e-4950", "16"), "16");
    }

    #[test]
    fn strtold_syntax_is_checked() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", ".", "nan", "1e99999", "1e-99999", "0x", "0xg",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(LongDouble::parse(b"-inf"), Ok(None));
        assert!(LongDouble::parse(b".5").unwrap().is_some());
        assert!(LongDouble::parse(b"5.").unwrap().is_some());
    }
}
