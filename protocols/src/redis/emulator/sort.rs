//! `SORT` and `SORT_RO` over lists, sets and sorted sets: numeric or `ALPHA` order, `BY`
//! patterns (with `->field` for hashes), `LIMIT`, `ASC`/`DESC`, `GET` patterns and `STORE`,
//! following Redis 7.0's `sort.c`.

use std::cmp::Ordering;

use super::{Emulator, Handler, SYNTAX, Value, WRONGTYPE, float_arg, int_arg, is, sets};
use crate::redis::conn::Connection;
use crate::redis::reply::Reply;

pub(super) fn handler(name: &str) -> Option<Handler> {
    Some(match name {
        "SORT" | "SORT_RO" => sort,
        _ => return None,
    })
}

#[derive(Debug, Default)]
struct Options<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<&'a [u8]>,
    gets: Vec<&'a [u8]>,
    store: Option<&'a [u8]>,
}

fn options(args: &[Vec<u8>], readonly: bool) -> Result<Options<'_>, Reply> {
    let mut o = Options::default();
    let mut i = 2;
    while i < args.len() {
        let left = args.len() - i - 1;
        let word = &args[i];
        if is(word, "ASC") {
            o.desc = false;
        } else if is(word, "DESC") {
            o.desc = true;
        } else if is(word, "ALPHA") {
            o.alpha = true;
        } else if is(word, "LIMIT") && left >= 2 {
            o.limit = Some((int_arg(&args[i + 1])?, int_arg(&args[i + 2])?));
            i += 2;
        } else if !readonly && is(word, "STORE") && left >= 1 {
            o.store = Some(&args[i + 1]);
            i += 1;
        } else if is(word, "BY") && left >= 1 {
            o.by = Some(&args[i + 1]);
            i += 1;
        } else if is(word, "GET") && left >= 1 {
            o.gets.push(&args[i + 1]);
            i += 1;
        } else {
            return Err(Reply::error(SYNTAX));
        }
        i += 1;
    }
    Ok(o)
}

/// What a `BY` or `GET` pattern names for `element`: `#` is the element itself; otherwise
/// the first `*` is replaced by it and the key read as a string, or as a hash field after
/// `->`. A pattern without `*` names nothing.
fn lookup(em: &mut Emulator, db: usize, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|b| *b == b'*')?;
    let after = &pattern[star + 1..];
    let (suffix, field) = match after.windows(2).position(|w| w == b"->") {
        Some(at) if at + 2 < after.len() => (&after[..at], Some(&after[at + 2..])),
        _ => (after, None),
    };
    let key = [&pattern[..star], element, suffix].concat();
    match (em.value(db, &key)?, field) {
        (Value::String(s), None) => Some(s.clone()),
        (Value::Hash(h), Some(field)) => h.get(field).cloned(),
        _ => None,
    }
}

/// One element to sort with its sort key.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

/// The elements in the order Redis loads them: a list from its head, a set as `SMEMBERS`
/// lists it, a sorted set by score.
fn elements(value: Option<&Value>) -> Result<Vec<Vec<u8>>, Reply> {
    Ok(match value {
        None => Vec::new(),
        Some(Value::List(l)) => l.iter().cloned().collect(),
        Some(Value::Set(s)) => sets::in_redis_order(s).into_iter().cloned().collect(),
        Some(Value::ZSet(z)) => z.ordered(false).map(|(m, _)| m.to_vec()).collect(),
        Some(_) => return Err(Reply::error(WRONGTYPE)),
    })
}

/// `SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]` and `SORT_RO` (no `STORE`).
fn sort(em: &mut Emulator, conn: &mut Connection, args: &[Vec<u8>]) -> Reply {
    let mut o = match options(args, is(&args[0], "SORT_RO")) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let db = conn.db;
    let value = em.value(db, &args[1]).cloned();
    let is_set = matches!(value, Some(Value::Set(_)));
    let mut elements = match elements(value.as_ref()) {
        Ok(e) => e,
        Err(e) => return e,
    };
    // A `BY` without `*` means "do not sort"; a set is then sorted by its elements anyway
    // when stored, since its order is not defined.
    let mut dont_sort = o.by.is_some_and(|p| !p.contains(&b'*'));
    if dont_sort && is_set && o.store.is_some() {
        (dont_sort, o.alpha, o.by) = (false, true, None);
    }
    let len = elements.len() as i64;
    let (start, count) = o.limit.unwrap_or((0, -1));
    let start = start.max(0);
    let end = if count < 0 {
        len - 1
    } else {
        start.saturating_add(count) - 1
    };
    let (start, end) = if start >= len {
        (len - 1, len - 2)
    } else {
        (start, end.min(len - 1))
    };
    if dont_sort {
        if o.desc && !is_set {
            elements.reverse();
        }
    } else {
        let mut items = Vec::with_capacity(elements.len());
        for element in elements {
            let by = match o.by {
                Some(pattern) => lookup(em, db, pattern, &element),
                None => Some(element.clone()),
            };
            let score = match (&by, o.alpha) {
                (Some(text), false) if text.is_empty() => 0.0,
                (Some(text), false) => match float_arg(text) {
                    Some(score) => score,
                    None => {
                        return Reply::error(
                            "ERR One or more scores can't be converted into double",
                        );
                    }
                },
                _ => 0.0,
            };
            items.push(Item { element, score, by });
        }
        let has_by = o.by.is_some();
        items.sort_by(|a, b| {
            let order = compare(a, b, o.alpha, has_by);
            if o.desc { order.reverse() } else { order }
        });
        elements = items.into_iter().map(|i| i.element).collect();
    }
    let picked: Vec<Vec<u8>> = if start <= end {
        elements[start as usize..=end as usize].to_vec()
    } else {
        Vec::new()
    };
    let mut output: Vec<Option<Vec<u8>>> = Vec::new();
    for element in &picked {
        if o.gets.is_empty() {
            output.push(Some(element.clone()));
        }
        for pattern in &o.gets {
            output.push(lookup(em, db, pattern, element));
        }
    }
    match o.store {
        None => Reply::Array(
            output
                .into_iter()
                .map(|v| v.map_or(Reply::Nil, Reply::Bulk))
                .collect(),
        ),
        Some(destination) => {
            let len = output.len();
            em.remove(db, destination);
            if len > 0 {
                let list = output.into_iter().map(Option::unwrap_or_default).collect();
                em.put(db, destination, Value::List(list));
            }
            Reply::Int(len as i64)
        }
    }
}

/// Redis's `sortCompare`: numbers, ties broken by the elements' bytes; or `ALPHA` on the `BY`
/// values (a missing one first) or on the elements.
fn compare(a: &Item, b: &Item, alpha: bool, has_by: bool) -> Ordering {
    if !alpha {
        return a
            .score
            .partial_cmp(&b.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| a.element.cmp(&b.element));
    }
    if has_by {
        a.by.cmp(&b.by)
    } else {
        a.element.cmp(&b.element)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(element: &str, score: f64, by: Option<&str>) -> Item {
        Item {
            element: element.into(),
            score,
            by: by.map(Into::into),
        }
    }

    #[test]
    fn ties_and_missing_by_values_order_like_redis() {
        assert_eq!(
            compare(&item("b", 1.0, None), &item("a", 1.0, None), false, false),
            Ordering::Greater
        );
        assert_eq!(
            compare(
                &item("a", 0.0, None),
                &item("b", 0.0, Some("x")),
                true,
                true
            ),
            Ordering::Less
        );
        assert_eq!(
            compare(
                &item("a", 0.0, Some("y")),
                &item("b", 0.0, Some("x")),
                true,
                true
            ),
            Ordering::Greater
        );
    }
}
