//! The payload of `FUNCTION DUMP` and `FUNCTION RESTORE`: Redis's RDB encoding of the
//! libraries' code (opcode `RDB_OPCODE_FUNCTION2` then an RDB string, per library), the RDB
//! version (10, Redis 7.0's) and a CRC64 (Jones) of all that.
//!
//! Restoring reads what Redis dumps, LZF-compressed strings included. Dumping writes the
//! strings uncompressed, which Redis also restores: the bytes differ from Redis's own dump
//! (it compresses code longer than 20 bytes), the libraries they carry do not.

use std::fmt;

/// `RDB_OPCODE_FUNCTION2`.
const FUNCTION2: u8 = 245;
/// `RDB_OPCODE_FUNCTION`, the format of Redis 7.0's release candidates.
const FUNCTION_PRE_GA: u8 = 246;
/// `RDB_VERSION` of Redis 7.0.
const RDB_VERSION: u16 = 10;
/// Version (2 bytes) and CRC64 (8 bytes).
const FOOTER: usize = 10;
/// The longest library code a payload may declare: a length there is a peer's number.
const MAX_CODE: usize = 64 << 20;

/// Why a payload cannot be restored, worded as Redis's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PayloadError {
    VersionOrChecksum,
    PreGa,
    NotAFunction,
    Malformed,
}

impl fmt::Display for PayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PayloadError::VersionOrChecksum => "ERR DUMP payload version or checksum are wrong",
            PayloadError::PreGa => "ERR Pre-GA function format not supported",
            PayloadError::NotAFunction => "ERR given type is not a function",
            PayloadError::Malformed => "ERR failed loading the given functions payload",
        })
    }
}

impl std::error::Error for PayloadError {}

/// The payload of `codes`.
pub(super) fn dump<'a>(codes: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for code in codes {
        out.push(FUNCTION2);
        write_len(&mut out, code.len());
        out.extend_from_slice(code);
    }
    out.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The codes of the libraries in `payload`.
pub(super) fn parse(payload: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    if payload.len() < FOOTER {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (body, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([body[body.len() - 2], body[body.len() - 1]]);
    if version > RDB_VERSION || crc64(body).to_le_bytes() != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    let mut reader = Reader {
        data: &body[..body.len() - 2],
        at: 0,
    };
    let mut codes = Vec::new();
    while reader.at < reader.data.len() {
        match reader.byte()? {
            FUNCTION2 => codes.push(reader.string()?),
            FUNCTION_PRE_GA => return Err(PayloadError::PreGa),
            _ => return Err(PayloadError::NotAFunction),
        }
    }
    Ok(codes)
}

/// An RDB length: 6 bits, 14 bits, or a 32/64-bit big-endian number.
fn write_len(out: &mut Vec<u8>, len: usize) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.extend_from_slice(&[0x40 | (len >> 8) as u8, len as u8]);
    } else if let Ok(len) = u32::try_from(len) {
        out.push(0x80);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

/// An RDB length or, when `encoded`, the kind of a specially encoded string.
enum Length {
    Plain(usize),
    Encoded(u8),
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], PayloadError> {
        let end = self.at.checked_add(n).ok_or(PayloadError::Malformed)?;
        let bytes = self.data.get(self.at..end).ok_or(PayloadError::Malformed)?;
        self.at = end;
        Ok(bytes)
    }

    fn byte(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    fn length(&mut self) -> Result<Length, PayloadError> {
        let first = self.byte()?;
        let len = match first >> 6 {
            0 => u64::from(first & 0x3f),
            1 => (u64::from(first & 0x3f) << 8) | u64::from(self.byte()?),
            2 if first == 0x80 => u64::from(u32::from_be_bytes(
                self.take(4)?.try_into().expect("4 bytes"),
            )),
            2 if first == 0x81 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            2 => return Err(PayloadError::Malformed),
            _ => return Ok(Length::Encoded(first & 0x3f)),
        };
        usize::try_from(len)
            .ok()
            .filter(|len| *len <= MAX_CODE)
            .map(Length::Plain)
            .ok_or(PayloadError::Malformed)
    }

    fn plain_length(&mut self) -> Result<usize, PayloadError> {
        match self.length()? {
            Length::Plain(len) => Ok(len),
            Length::Encoded(_) => Err(PayloadError::Malformed),
        }
    }

    /// An RDB string: raw, an integer, or LZF-compressed.
    fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        match self.length()? {
            Length::Plain(len) => Ok(self.take(len)?.to_vec()),
            Length::Encoded(0) => Ok((self.byte()? as i8).to_string().into_bytes()),
            Length::Encoded(1) => {
                let n = i16::from_le_bytes(self.take(2)?.try_into().expect("2 bytes"));
                Ok(n.to_string().into_bytes())
            }
            Length::Encoded(2) => {
                let n = i32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes"));
                Ok(n.to_string().into_bytes())
            }
            Length::Encoded(3) => {
                let compressed_len = self.plain_length()?;
                let len = self.plain_length()?;
                lzf_decompress(self.take(compressed_len)?, len)
            }
            Length::Encoded(_) => Err(PayloadError::Malformed),
        }
    }
}

/// LZF decompression (the format of liblzf, which Redis uses), to exactly `len` bytes.
fn lzf_decompress(input: &[u8], len: usize) -> Result<Vec<u8>, PayloadError> {
    let mut out = Vec::with_capacity(len.min(input.len().saturating_mul(4)));
    let mut at = 0;
    let next = |at: &mut usize| -> Result<usize, PayloadError> {
        let b = *input.get(*at).ok_or(PayloadError::Malformed)?;
        *at += 1;
        Ok(usize::from(b))
    };
    while at < input.len() {
        let control = next(&mut at)?;
        if control < 32 {
            let literal = input
                .get(at..at + control + 1)
                .ok_or(PayloadError::Malformed)?;
            out.extend_from_slice(literal);
            at += control + 1;
        } else {
            let mut run = control >> 5;
            if run == 7 {
                run += next(&mut at)?;
            }
            let back = ((control & 0x1f) << 8) + next(&mut at)? + 1;
            let start = out.len().checked_sub(back).ok_or(PayloadError::Malformed)?;
            for i in 0..run + 2 {
                let b = out[start + i];
                out.push(b);
            }
        }
        if out.len() > len {
            return Err(PayloadError::Malformed);
        }
    }
    if out.len() != len {
        return Err(PayloadError::Malformed);
    }
    Ok(out)
}

/// Redis's CRC64: Jones polynomial, reflected, initial value 0.
fn crc64(data: &[u8]) -> u64 {
    const TABLE: [u64; 256] = {
        // The reflected form of 0xad93d23594c935a9.
        const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
        let mut table = [0u64; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u64;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ POLY
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    data.iter().fold(0, |crc, b| {
        TABLE[((crc ^ u64::from(*b)) & 0xff) as usize] ^ (crc >> 8)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_is_redis_jones_crc() {
        // The check value of Redis's crc64.c test.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn a_payload_redis_dumped_with_lzf_is_read() {
        // `FUNCTION DUMP` of redis-server 7.0.15 for one library.
        let payload = b"\xf5\xc3@w@\x82\x1f#!lua name=one\nredis.register_fu\x06nction{\xc0\x08\x00_`)\r'f', callback=\xc0\x1b\x17() return 1 end, descrip@@\x03='hi 3\x13flags={'no-writes'}}\n\x00\x03\x1a\x17Bkr\x0ck";
        let codes = parse(payload).expect("a valid payload");
        assert_eq!(
            codes,
            vec![
                b"#!lua name=one\nredis.register_function{function_name='f', callback=function() return 1 end, description='hi', flags={'no-writes'}}".to_vec()
            ]
        );
    }

    #[test]
    fn dump_and_parse_round_trip_long_and_short_codes() {
        let long = vec![b'x'; 70_000];
        let codes: Vec<&[u8]> = vec![b"#!lua name=a\n", &long, &long[..100]];
        let payload = dump(codes.iter().copied());
        assert_eq!(parse(&payload).unwrap(), codes);
    }

    #[test]
    fn damaged_or_hostile_payloads_are_refused_without_allocating() {
        assert_eq!(parse(b"short"), Err(PayloadError::VersionOrChecksum));
        let mut payload = dump([b"#!lua name=a\n".as_slice()].into_iter());
        payload[3] ^= 1;
        assert_eq!(parse(&payload), Err(PayloadError::VersionOrChecksum));
        let sealed = |body: &[u8]| {
            let mut p = body.to_vec();
            p.extend_from_slice(&RDB_VERSION.to_le_bytes());
            let crc = crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            p
        };
        // A declared length of 2^64-1 and an LZF string claiming 4 GB.
        let huge = [&[FUNCTION2, 0x81][..], &[0xff; 8]].concat();
        assert_eq!(parse(&sealed(&huge)), Err(PayloadError::Malformed));
        let lzf = [FUNCTION2, 0xc3, 0x01, 0x80, 0xff, 0xff, 0xff, 0xff, 0x00];
        assert_eq!(parse(&sealed(&lzf)), Err(PayloadError::Malformed));
        // A back reference before the start of the output.
        let back = [FUNCTION2, 0xc3, 0x02, 0x05, 0x3f, 0xff];
        assert_eq!(parse(&sealed(&back)), Err(PayloadError::Malformed));
        assert_eq!(parse(&sealed(&[0])), Err(PayloadError::NotAFunction));
        assert_eq!(parse(&sealed(&[FUNCTION_PRE_GA])), Err(PayloadError::PreGa));
        let newer = {
            let mut p = vec![FUNCTION2, 0];
            p.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
            let crc = crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            p
        };
        assert_eq!(parse(&newer), Err(PayloadError::VersionOrChecksum));
    }
}
