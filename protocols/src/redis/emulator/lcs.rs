//! `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`: the longest common
//! subsequence of two strings, by Redis's dynamic programming and its backward walk (which
//! decides which of several equally long answers is given, and the order of `IDX` ranges).

use super::{Emulator, Handler, SYNTAX, Value, int_arg, is};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "LCS" => lcs,
        _ => return None,
    })
}

/// The largest table the emulator builds (Redis's limit is `proto-max-bulk-len`, 512 MiB):
/// the engine serves every connection, so one command may not take that much.
const MAX_TABLE_BYTES: usize = 64 << 20;

#[derive(Debug, Default)]
struct Options {
    len: bool,
    idx: bool,
    min_match_len: usize,
    with_match_len: bool,
}

fn options(args: &[Vec<u8>]) -> Result<Options, Reply> {
    let mut o = Options::default();
    let mut rest = args;
    while let Some(option) = rest.first() {
        if is(option, "IDX") {
            o.idx = true;
        } else if is(option, "LEN") {
            o.len = true;
        } else if is(option, "WITHMATCHLEN") {
            o.with_match_len = true;
        } else if is(option, "MINMATCHLEN") && rest.len() >= 2 {
            o.min_match_len = int_arg(&rest[1])?.max(0) as usize;
            rest = &rest[1..];
        } else {
            return Err(Reply::error(SYNTAX));
        }
        rest = &rest[1..];
    }
    if o.len && o.idx {
        return Err(Reply::error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    Ok(o)
}

/// A matching run: positions in the first and the second string, inclusive.
type Range = ((usize, usize), (usize, usize));

fn lcs(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mut strings = Vec::with_capacity(2);
    for key in &args[1..3] {
        match em.value(conn.db, key) {
            None => strings.push(Vec::new()),
            Some(Value::String(s)) => strings.push(s.clone()),
            Some(_) => return Reply::error("ERR The specified keys must contain string values"),
        }
    }
    let options = match options(&args[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let (a, b) = (&strings[0], &strings[1]);
    let cells = (a.len() + 1).saturating_mul(b.len() + 1);
    if cells.saturating_mul(4) > MAX_TABLE_BYTES {
        return Reply::error(format!(
            "ERR mocket: LCS of strings of {} and {} bytes needs a table over {} MiB; use \
             shorter strings",
            a.len(),
            b.len(),
            MAX_TABLE_BYTES >> 20
        ));
    }
    let (common, ranges) = walk(a, b);
    if options.idx {
        let matches = ranges
            .into_iter()
            .filter(|((start, end), _)| {
                options.min_match_len == 0 || end - start + 1 >= options.min_match_len
            })
            .map(|((a0, a1), (b0, b1))| {
                let mut entry = vec![int_pair(a0, a1), int_pair(b0, b1)];
                if options.with_match_len {
                    entry.push(Reply::Int((a1 - a0 + 1) as i64));
                }
                Reply::Array(entry)
            })
            .collect();
        Reply::Map(vec![
            (Reply::bulk("matches"), Reply::Array(matches)),
            (Reply::bulk("len"), Reply::Int(common.len() as i64)),
        ])
    } else if options.len {
        Reply::Int(common.len() as i64)
    } else {
        Reply::Bulk(common)
    }
}

fn int_pair(a: usize, b: usize) -> Reply {
    Reply::Array(vec![Reply::Int(a as i64), Reply::Int(b as i64)])
}

/// The common subsequence and its matching runs, last first, exactly as Redis walks the table
/// back from its end.
fn walk(a: &[u8], b: &[u8]) -> (Vec<u8>, Vec<Range>) {
    let width = b.len() + 1;
    let mut table = vec![0u32; (a.len() + 1) * width];
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let mut common = Vec::with_capacity(table[a.len() * width + b.len()] as usize);
    let mut ranges = Vec::new();
    let mut current: Option<Range> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common.push(a[i - 1]);
            current = match current {
                None => Some(((i - 1, i - 1), (j - 1, j - 1))),
                Some(((start, end), (b_start, b_end))) if start == i && b_start == j => {
                    Some(((start - 1, end), (b_start - 1, b_end)))
                }
                Some(range) => {
                    // A match that does not extend the run: Redis emits the run and drops
                    // this match from every range (it only restarts on the next one).
                    emit = true;
                    Some(range)
                }
            };
            if let Some(((start, _), (b_start, _))) = current
                && (start == 0 || b_start == 0)
            {
                emit = true;
            }
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit && let Some(range) = current.take() {
            ranges.push(range);
        }
    }
    common.reverse();
    (common, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_redis_documented_answer() {
        let (common, ranges) = walk(b"ohmytext", b"mynewtext");
        assert_eq!(common, b"mytext");
        assert_eq!(ranges, vec![((4, 7), (5, 8)), ((2, 3), (0, 1))]);
    }
}
