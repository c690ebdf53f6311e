//! The RDB serialization that `DUMP`/`RESTORE` ([`super::dump`]) and `FUNCTION DUMP`/`FUNCTION
//! RESTORE` ([`super::functions`]) payloads share: the footer (RDB version 10, Redis 7.0's,
//! then the CRC64 of everything before it, both little-endian), lengths and strings (plain,
//! integer and LZF encodings). One place, so both payloads read and check bytes alike.
//!
//! Nothing is allocated from a length the payload claims: a string is taken from the payload
//! itself (so it is no longer than the payload) or decompressed to at most the reader's
//! `max_string` bytes.

/// The RDB version of Redis 7.0: payloads of later versions are refused.
pub(super) const RDB_VERSION: u16 = 10;
/// Version (2 bytes) and CRC64 (8 bytes).
const FOOTER_LEN: usize = 10;

/// Why the RDB layer refuses a payload; each payload words these as its own Redis errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PayloadError {
    /// Too short, a later RDB version, or a wrong checksum.
    VersionOrChecksum,
    /// Truncated or corrupt data, or an encoding Redis does not write.
    Malformed,
}

/// `body` with the footer appended: the payload Redis would accept.
pub(super) fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// The body of `payload` once its footer is checked (`verifyDumpPayload`).
pub(super) fn open(payload: &[u8]) -> Result<&[u8], PayloadError> {
    if payload.len() < FOOTER_LEN {
        return Err(PayloadError::VersionOrChecksum);
    }
    let (checked, crc) = payload.split_at(payload.len() - 8);
    let (body, version) = checked.split_at(checked.len() - 2);
    let version = u16::from_le_bytes([version[0], version[1]]);
    if version > RDB_VERSION || crc64(checked).to_le_bytes() != crc {
        return Err(PayloadError::VersionOrChecksum);
    }
    Ok(body)
}

/// Redis's `crc64`: Jones polynomial, reflected, initial value 0, no final xor.
pub(super) fn crc64(data: &[u8]) -> u64 {
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

/// `rdbSaveLen`: 6 bits, 14 bits, or a 32/64-bit big-endian number.
pub(super) fn write_len(out: &mut Vec<u8>, len: usize) {
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

/// `rdbSaveRawString` without LZF: a canonical integer of at most 11 characters that fits in
/// 32 bits as an integer encoding, anything else as its length and bytes. Redis loads both;
/// a compressible string over 20 bytes differs from Redis's own (LZF) bytes.
pub(super) fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    let integer = (s.len() <= 11)
        .then(|| std::str::from_utf8(s).ok()?.parse::<i64>().ok())
        .flatten()
        .filter(|n| n.to_string().as_bytes() == s);
    match integer {
        Some(n) if i8::try_from(n).is_ok() => out.extend_from_slice(&[0xc0, n as i8 as u8]),
        Some(n) if i16::try_from(n).is_ok() => {
            out.push(0xc1);
            out.extend_from_slice(&(n as i16).to_le_bytes());
        }
        Some(n) if i32::try_from(n).is_ok() => {
            out.push(0xc2);
            out.extend_from_slice(&(n as i32).to_le_bytes());
        }
        _ => {
            write_len(out, s.len());
            out.extend_from_slice(s);
        }
    }
}

/// A bounded reader of RDB data: every read is checked against the end of `data`.
pub(super) struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    /// The longest string [`Reader::string`] returns, plain or decompressed.
    max_string: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8], max_string: usize) -> Self {
        Reader {
            data,
            at: 0,
            max_string,
        }
    }

    /// How many bytes have been read.
    pub(super) fn position(&self) -> usize {
        self.at
    }

    pub(super) fn at_end(&self) -> bool {
        self.at >= self.data.len()
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        let end = self.at.checked_add(n).ok_or(PayloadError::Malformed)?;
        let bytes = self.data.get(self.at..end).ok_or(PayloadError::Malformed)?;
        self.at = end;
        Ok(bytes)
    }

    pub(super) fn byte(&mut self) -> Result<u8, PayloadError> {
        Ok(self.take(1)?[0])
    }

    /// `rdbLoadLenByRef`: a length, or (`true`) the number of a special string encoding.
    fn len_or_encoding(&mut self) -> Result<(u64, bool), PayloadError> {
        let first = self.byte()?;
        Ok(match first >> 6 {
            0 => (u64::from(first & 0x3f), false),
            1 => (
                u64::from(first & 0x3f) << 8 | u64::from(self.byte()?),
                false,
            ),
            3 => (u64::from(first & 0x3f), true),
            _ if first == 0x80 => {
                let bytes = self.take(4)?;
                (
                    u64::from(u32::from_be_bytes(bytes.try_into().expect("4"))),
                    false,
                )
            }
            _ if first == 0x81 => {
                let bytes = self.take(8)?;
                (u64::from_be_bytes(bytes.try_into().expect("8")), false)
            }
            _ => return Err(PayloadError::Malformed),
        })
    }

    /// A length where no special encoding is expected (Redis then takes its number). A count
    /// is not bounded here: callers grow collections element by element.
    pub(super) fn len(&mut self) -> Result<u64, PayloadError> {
        Ok(self.len_or_encoding()?.0)
    }

    /// A string's length, refused beyond `max_string`.
    fn string_len(&self, len: u64) -> Result<usize, PayloadError> {
        usize::try_from(len)
            .ok()
            .filter(|len| *len <= self.max_string)
            .ok_or(PayloadError::Malformed)
    }

    /// `rdbGenericLoadStringObject`: raw, an 8/16/32-bit integer, or LZF-compressed.
    pub(super) fn string(&mut self) -> Result<Vec<u8>, PayloadError> {
        let (len, encoded) = self.len_or_encoding()?;
        if !encoded {
            let len = self.string_len(len)?;
            return Ok(self.take(len)?.to_vec());
        }
        let integer = match len {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.take(2)?.try_into().expect("2"))),
            2 => i64::from(i32::from_le_bytes(self.take(4)?.try_into().expect("4"))),
            3 => {
                let compressed =
                    usize::try_from(self.len()?).map_err(|_| PayloadError::Malformed)?;
                let plain = self.len()?;
                let plain = self.string_len(plain)?;
                return lzf_decompress(self.take(compressed)?, plain);
            }
            _ => return Err(PayloadError::Malformed),
        };
        Ok(integer.to_string().into_bytes())
    }
}

/// liblzf's `lzf_decompress`, to exactly `plain` bytes (Redis refuses any other size).
fn lzf_decompress(input: &[u8], plain: usize) -> Result<Vec<u8>, PayloadError> {
    let mut out: Vec<u8> = Vec::with_capacity(plain.min(input.len().saturating_mul(8)));
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = usize::from(input[ip]);
        ip += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            let literal = input.get(ip..ip + run).ok_or(PayloadError::Malformed)?;
            if out.len() + run > plain {
                return Err(PayloadError::Malformed);
            }
            out.extend_from_slice(literal);
            ip += run;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(PayloadError::Malformed)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(PayloadError::Malformed)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let len = len + 2;
            if back > out.len() || out.len() + len > plain {
                return Err(PayloadError::Malformed);
            }
            let from = out.len() - back;
            for i in 0..len {
                out.push(out[from + i]);
            }
        }
    }
    if out.len() == plain {
        Ok(out)
    } else {
        Err(PayloadError::Malformed)
    }
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
    fn footer_is_checked() {
        let payload = seal(b"body".to_vec());
        assert_eq!(open(&payload), Ok(&b"body"[..]));
        assert_eq!(open(b"short"), Err(PayloadError::VersionOrChecksum));
        let mut damaged = payload.clone();
        damaged[1] ^= 1;
        assert_eq!(open(&damaged), Err(PayloadError::VersionOrChecksum));
        let mut newer = b"body".to_vec();
        newer.extend_from_slice(&(RDB_VERSION + 1).to_le_bytes());
        let crc = crc64(&newer);
        newer.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(open(&newer), Err(PayloadError::VersionOrChecksum));
    }

    #[test]
    fn strings_round_trip_in_every_length_encoding() {
        for s in [
            &b""[..],
            b"-12",
            b"300",
            b"-70000",
            b"007",
            b"12345678901",
            &[b'x'; 100],
            &[b'y'; 70_000],
        ] {
            let mut out = Vec::new();
            write_string(&mut out, s);
            let mut reader = Reader::new(&out, usize::MAX);
            assert_eq!(reader.string().as_deref(), Ok(s));
            assert!(reader.at_end());
        }
    }

    #[test]
    fn lzf_strings_decompress_within_their_bounds() {
        // "abcabcabc": three literals, then a back reference of 6 bytes at distance 3.
        let lzf = b"\xc3\x06\x09\x02abc\x80\x02";
        assert_eq!(Reader::new(lzf, 64).string(), Ok(b"abcabcabc".to_vec()));
        // Over the reader's limit, claiming 4 GiB, or a back reference before the start.
        for data in [
            &lzf[..],
            b"\xc3\x01\x80\xff\xff\xff\xff\x00",
            b"\xc3\x02\x05\x3f\xff",
        ] {
            assert_eq!(
                Reader::new(data, 8).string(),
                Err(PayloadError::Malformed),
                "{data:?}"
            );
        }
    }
}
