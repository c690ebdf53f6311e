//! The payload of `FUNCTION DUMP` and `FUNCTION RESTORE`: per library, opcode
//! `RDB_OPCODE_FUNCTION2` then the code as an RDB string, sealed with the RDB footer (version
//! and CRC64, [`super::super::rdb`]).
//!
//! Restoring reads what Redis dumps, LZF-compressed strings included. Dumping writes the
//! strings uncompressed, which Redis also restores: the bytes differ from Redis's own dump
//! (it compresses code longer than 20 bytes), the libraries they carry do not.

use std::fmt;

use super::super::rdb::{self, Reader, write_string};

/// `RDB_OPCODE_FUNCTION2`.
const FUNCTION2: u8 = 245;
/// `RDB_OPCODE_FUNCTION`, the format of Redis 7.0's release candidates.
const FUNCTION_PRE_GA: u8 = 246;
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

impl From<rdb::PayloadError> for PayloadError {
    fn from(e: rdb::PayloadError) -> Self {
        match e {
            rdb::PayloadError::VersionOrChecksum => PayloadError::VersionOrChecksum,
            rdb::PayloadError::Malformed => PayloadError::Malformed,
        }
    }
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
        write_string(&mut out, code);
    }
    rdb::seal(out)
}

/// The codes of the libraries in `payload`.
pub(super) fn parse(payload: &[u8]) -> Result<Vec<Vec<u8>>, PayloadError> {
    let mut reader = Reader::new(rdb::open(payload)?, MAX_CODE);
    let mut codes = Vec::new();
    while !reader.at_end() {
        match reader.byte()? {
            FUNCTION2 => codes.push(reader.string()?),
            FUNCTION_PRE_GA => return Err(PayloadError::PreGa),
            _ => return Err(PayloadError::NotAFunction),
        }
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let sealed = |body: &[u8]| rdb::seal(body.to_vec());
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
            p.extend_from_slice(&(rdb::RDB_VERSION + 1).to_le_bytes());
            let crc = rdb::crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            p
        };
        assert_eq!(parse(&newer), Err(PayloadError::VersionOrChecksum));
    }
}
