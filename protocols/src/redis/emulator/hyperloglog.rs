//! HyperLogLog: `PFADD`, `PFCOUNT`, `PFMERGE`, with Redis's algorithm (MurmurHash64A, 16384
//! registers of 6 bits, Ertl's estimator), so counts equal a real server's.
//!
//! The value is a Redis string holding Redis's dense representation (`HYLL` header, packed
//! registers); the emulator always writes the dense form where Redis starts sparse, and does
//! not cache the cardinality in the header, so `GET` and `STRLEN` of an HLL differ from
//! Redis's. It reads both of Redis's forms, so an HLL copied from a real server works.

use super::{Emulator, Handler, Value, WRONGTYPE};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "PFADD" => pfadd,
        "PFCOUNT" => pfcount,
        "PFMERGE" => pfmerge,
        _ => return None,
    })
}

const P: u32 = 14;
const REGISTERS: usize = 1 << P;
/// Bits of the hash left after the register index.
const Q: u32 = 64 - P;
const HEADER: usize = 16;
const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

/// Redis's 64-bit MurmurHash2 (`MurmurHash64A`), little-endian, as `hyperloglog.c` has it.
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, b) in rest.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the run length it reports (trailing zeros + 1).
fn register_of(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The 16384 registers of one HLL.
#[derive(Debug, Clone, PartialEq)]
struct Registers(Vec<u8>);

impl Registers {
    fn new() -> Self {
        Registers(vec![0; REGISTERS])
    }

    /// Raises a register; whether it changed (PFADD does it in the dense bytes).
    #[cfg(test)]
    fn add(&mut self, element: &[u8]) -> bool {
        let (index, run) = register_of(element);
        if self.0[index] < run {
            self.0[index] = run;
            true
        } else {
            false
        }
    }

    fn merge(&mut self, other: &Registers) {
        for (mine, theirs) in self.0.iter_mut().zip(&other.0) {
            *mine = (*mine).max(*theirs);
        }
    }

    /// Redis's estimate (Ertl, "New cardinality estimation algorithms for HyperLogLog
    /// sketches", as `hllCount` computes it).
    fn count(&self) -> u64 {
        let m = REGISTERS as f64;
        let mut histogram = [0u32; 64];
        for r in &self.0 {
            histogram[usize::from(*r)] += 1;
        }
        let q = Q as usize;
        let mut z = m * tau((m - f64::from(histogram[q + 1])) / m);
        for j in (1..=q).rev() {
            z += f64::from(histogram[j]);
            z *= 0.5;
        }
        z += m * sigma(f64::from(histogram[0]) / m);
        const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
        (ALPHA_INF * m * m / z).round() as u64
    }

    /// Redis's dense representation, cardinality cache marked stale.
    fn to_dense(&self) -> Vec<u8> {
        let mut out = vec![0u8; DENSE_SIZE];
        out[..4].copy_from_slice(b"HYLL");
        out[15] = 0x80;
        for (i, r) in self.0.iter().enumerate() {
            dense_set(&mut out, i, *r);
        }
        out
    }

    /// Reads Redis's dense or sparse form; `Err` is Redis's error.
    fn parse(data: &[u8]) -> Result<Registers, Reply> {
        if data.len() < HEADER || &data[..4] != b"HYLL" || data[4] > 1 {
            return Err(Reply::error(NOT_HLL));
        }
        if data[4] == 0 {
            if data.len() != DENSE_SIZE {
                return Err(Reply::error(NOT_HLL));
            }
            let registers = (0..REGISTERS).map(|i| dense_get(data, i)).collect();
            return Ok(Registers(registers));
        }
        parse_sparse(&data[HEADER..]).ok_or_else(|| Reply::error(CORRUPT))
    }
}

/// Redis's sparse opcodes: ZERO (`00xxxxxx`), XZERO (`01xxxxxx yyyyyyyy`), VAL (`1vvvvvxx`).
fn parse_sparse(body: &[u8]) -> Option<Registers> {
    let mut registers = Registers::new();
    let (mut at, mut index) = (0, 0usize);
    while at < body.len() {
        let op = body[at];
        let (run, value) = match op >> 6 {
            0 => (usize::from(op & 0x3f) + 1, 0),
            1 => {
                let low = *body.get(at + 1)?;
                at += 1;
                (((usize::from(op & 0x3f) << 8) | usize::from(low)) + 1, 0)
            }
            _ => (usize::from(op & 0x3) + 1, ((op >> 2) & 0x1f) + 1),
        };
        at += 1;
        let end = index.checked_add(run).filter(|e| *e <= REGISTERS)?;
        registers.0[index..end].fill(value);
        index = end;
    }
    (index == REGISTERS).then_some(registers)
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if previous == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if previous == z {
            return z / 3.0;
        }
    }
}

/// The registers at `key`: `Ok(None)` when missing, Redis's errors for other values.
fn registers(em: &mut Emulator, db: usize, key: &[u8]) -> Result<Option<Registers>, Reply> {
    match em.value(db, key) {
        None => Ok(None),
        Some(Value::String(data)) => Registers::parse(data).map(Some),
        Some(_) => Err(Reply::error(WRONGTYPE)),
    }
}

/// Stores registers under `key`, keeping its expiry as Redis's in-place update does.
fn store(em: &mut Emulator, db: usize, key: &[u8], registers: &Registers) {
    let dense = Value::String(registers.to_dense());
    match em.slot(db, key) {
        Some(slot) => slot.value = dense,
        None => em.put(db, key, dense),
    }
}

/// `PFADD key [element ...]`: 1 when the key was created or a register changed. Registers
/// change in place in the dense bytes: a client adding in a loop costs no copy per element.
fn pfadd(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let key = &args[1];
    let created = match em.value(conn.db, key) {
        None => true,
        Some(Value::String(data)) if is_dense(data) => false,
        Some(Value::String(data)) => match Registers::parse(data) {
            Ok(r) => {
                *data = r.to_dense();
                false
            }
            Err(e) => return e,
        },
        Some(_) => return Reply::error(WRONGTYPE),
    };
    if created {
        store(em, conn.db, key, &Registers::new());
    }
    let Some(Value::String(dense)) = em.value(conn.db, key) else {
        unreachable!("a dense HLL was just made sure of")
    };
    let mut changed = created;
    for element in &args[2..] {
        let (index, run) = register_of(element);
        if dense_get(dense, index) < run {
            dense_set(dense, index, run);
            changed = true;
        }
    }
    if changed {
        dense[15] |= 0x80;
    }
    Reply::Int(changed.into())
}

fn is_dense(data: &[u8]) -> bool {
    data.len() == DENSE_SIZE && data.starts_with(b"HYLL") && data[4] == 0
}

fn dense_get(dense: &[u8], index: usize) -> u8 {
    let bit = index * 6;
    let (byte, shift) = (HEADER + bit / 8, bit % 8);
    let low = u16::from(dense[byte]);
    let high = u16::from(dense.get(byte + 1).copied().unwrap_or(0));
    (((low | (high << 8)) >> shift) & 63) as u8
}

fn dense_set(dense: &mut [u8], index: usize, value: u8) {
    let bit = index * 6;
    let (byte, shift) = (HEADER + bit / 8, bit % 8);
    let mask = 63u16 << shift;
    let value = u16::from(value) << shift;
    dense[byte] = (dense[byte] & !(mask as u8)) | value as u8;
    if let Some(next) = dense.get_mut(byte + 1) {
        *next = (*next & !((mask >> 8) as u8)) | (value >> 8) as u8;
    }
}

/// `PFCOUNT key [key ...]`: the cardinality of the union.
fn pfcount(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match union(em, conn.db, &args[1..]) {
        Ok(r) => Reply::Int(r.count() as i64),
        Err(e) => e,
    }
}

/// `PFMERGE destkey [sourcekey ...]`: the union of all, destination included, into it.
fn pfmerge(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    match union(em, conn.db, &args[1..]) {
        Ok(r) => {
            store(em, conn.db, &args[1], &r);
            Reply::ok()
        }
        Err(e) => e,
    }
}

fn union(em: &mut Emulator, db: usize, keys: &[Vec<u8>]) -> Result<Registers, Reply> {
    let mut all = Registers::new();
    for key in keys {
        if let Some(r) = registers(em, db, key)? {
            all.merge(&r);
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_equal_redis_servers() {
        // PFCOUNT after these PFADDs on redis-server 7.0.15: 5 and 2979.
        let mut small = Registers::new();
        for e in ["a", "b", "c", "d", "e"] {
            small.add(e.as_bytes());
        }
        assert_eq!(small.count(), 5);
        let mut big = Registers::new();
        for i in 1..=3000 {
            big.add(format!("e{i}").as_bytes());
        }
        assert_eq!(big.count(), 2979);
    }

    #[test]
    fn dense_form_round_trips_and_sparse_form_reads() {
        let mut r = Registers::new();
        for i in 0..500 {
            r.add(format!("e{i}").as_bytes());
        }
        let dense = r.to_dense();
        assert_eq!(dense.len(), DENSE_SIZE);
        assert_eq!(Registers::parse(&dense).unwrap(), r);
        // Sparse: XZERO for 16383 registers, then VAL 3 for one register.
        let mut sparse = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80".to_vec();
        sparse.extend([0x40 | 0x3f, 0xfe, 0x80 | (2 << 2)]);
        let parsed = Registers::parse(&sparse).unwrap();
        assert_eq!(parsed.0[16383], 3);
        assert_eq!(parsed.0.iter().filter(|v| **v != 0).count(), 1);
        assert!(Registers::parse(b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x40").is_err());
        assert!(Registers::parse(b"not an hll").is_err());
    }

    #[test]
    fn empty_and_small_counts() {
        assert_eq!(Registers::new().count(), 0);
        let mut r = Registers::new();
        for i in 0..1000 {
            r.add(i.to_string().as_bytes());
        }
        let n = r.count();
        assert!((980..=1020).contains(&n), "{n}");
    }
}
