//! `HSCAN`, `SSCAN` and `ZSCAN`: every element in one reply with cursor 0, as Redis answers
//! for the small encodings (listpacks, intsets) tests use; for larger collections Redis pages,
//! which the `SCAN` contract lets a client not rely on.

use super::keys::{ScanOptions, scan_cursor, scan_options};
use super::{Emulator, Handler, Value, WRONGTYPE, sets};
use crate::redis::conn::Connection;
use crate::redis::reply::{Reply, format_double};

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "HSCAN" | "SSCAN" | "ZSCAN" => element_scan,
        _ => return None,
    })
}

fn element_scan(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let options = match (scan_cursor(&args[2]), scan_options(&args[3..], false)) {
        (Ok(_), Ok(o)) => o,
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let ScanOptions { pattern, .. } = options;
    let wanted = |element: &[u8]| pattern.as_ref().is_none_or(|p| p.matches(element));
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let mut found = Vec::new();
    match (name.as_str(), em.value(conn.db, &args[1])) {
        (_, None) => {}
        ("HSCAN", Some(Value::Hash(hash))) => {
            for (field, value) in hash.iter().filter(|(f, _)| wanted(f)) {
                found.extend([field.clone(), value.clone()]);
            }
        }
        ("SSCAN", Some(Value::Set(set))) => {
            let members = sets::in_redis_order(set);
            found.extend(members.into_iter().filter(|m| wanted(m)).cloned());
        }
        ("ZSCAN", Some(Value::ZSet(zset))) => {
            for (member, score) in zset.ordered(false).filter(|(m, _)| wanted(m)) {
                found.extend([member.to_vec(), format_double(score).into_bytes()]);
            }
        }
        _ => return Reply::error(WRONGTYPE),
    }
    Reply::Array(vec![Reply::bulk("0"), Reply::bulks(found)])
}
