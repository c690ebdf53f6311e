//! An index of one address's command entries, so a command is compared only with the entries
//! that could answer it: entries without `args_regex` are found by their exact words, the
//! others by their command name. Candidates come back in the order the entries were given
//! (file order, except that an exact host's entries come before those of a host pattern,
//! DESIGN.md section 7), as the HTTP route index does.

use std::collections::HashMap;

use super::{Command, Matcher};

#[derive(Debug, Default)]
pub struct CommandIndex {
    /// Exact words (upper-case name, then the arguments) -> ranks of entries, in order.
    exact: HashMap<Vec<Vec<u8>>, Vec<usize>>,
    /// Upper-case name -> ranks of the entries with `args_regex`, in order.
    by_name: HashMap<String, Vec<usize>>,
    /// Rank -> entry index: the order entries are tried in.
    by_rank: Vec<usize>,
}

impl CommandIndex {
    /// Indexes the matchers of command entries (entry index, matcher), given in the order
    /// they are tried.
    pub fn new<'a>(entries: impl IntoIterator<Item = (usize, &'a Matcher)>) -> Self {
        let mut index = CommandIndex::default();
        for (entry_index, matcher) in entries {
            let i = index.by_rank.len();
            index.by_rank.push(entry_index);
            if matcher.args_regex.is_empty() {
                let words = std::iter::once(matcher.name.as_bytes().to_vec())
                    .chain(matcher.args.iter().cloned())
                    .collect();
                index.exact.entry(words).or_default().push(i);
            } else {
                index
                    .by_name
                    .entry(matcher.name.clone())
                    .or_default()
                    .push(i);
            }
        }
        index
    }

    /// The indexes of the entries that could answer `cmd`, in the order given to
    /// [`CommandIndex::new`]; every other entry differs in name or arguments.
    pub fn candidates(&self, cmd: &Command) -> Vec<usize> {
        let name = cmd.name();
        let words: Vec<Vec<u8>> = std::iter::once(name.as_bytes().to_vec())
            .chain(cmd.params().iter().cloned())
            .collect();
        let mut out: Vec<usize> = [self.exact.get(&words), self.by_name.get(&name)]
            .into_iter()
            .flatten()
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.into_iter().map(|rank| self.by_rank[rank]).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::{Behavior, RedisEntry};
    use serde_json::json;

    fn matcher(v: serde_json::Value) -> Matcher {
        match RedisEntry::from_json(&v).unwrap().behavior {
            Behavior::Command { matcher, .. } => matcher,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn candidates_keep_the_given_order_not_the_entry_indexes() {
        // Entry 0 is of a host pattern and entry 1 of the exact host: the exact host's is
        // tried first, whatever their places in the file.
        let pattern = matcher(json!({"redis": "*.h", "command": ["GET", "a"], "response": "p"}));
        let by_name = matcher(
            json!({"redis": "*.h", "command": ["GET"], "match": {"args_regex": ["a"]}, "response": "r"}),
        );
        let exact = matcher(json!({"redis": "x.h", "command": ["GET", "a"], "response": "x"}));
        let index = CommandIndex::new([(1, &exact), (0, &pattern), (2, &by_name)]);
        assert_eq!(index.candidates(&Command::new(["GET", "a"])), vec![1, 0, 2]);
        let index = CommandIndex::new([(2, &by_name), (1, &exact), (0, &pattern)]);
        assert_eq!(index.candidates(&Command::new(["GET", "a"])), vec![2, 1, 0]);
    }

    #[test]
    fn candidates_are_exactly_the_entries_that_could_match() {
        let matchers = [
            matcher(json!({"redis": "h", "command": ["GET", "a"], "response": "1"})),
            matcher(json!({"redis": "h", "command": ["get", "b"], "response": "2"})),
            matcher(
                json!({"redis": "h", "command": ["GET"], "match": {"args_regex": ["a.*"]}, "response": "3"}),
            ),
            matcher(json!({"redis": "h", "command": ["GET", "a"], "response": "4"})),
            matcher(json!({"redis": "h", "command": ["SET", "a", "x"], "response": "5"})),
        ];
        let index = CommandIndex::new(matchers.iter().enumerate());
        assert_eq!(index.candidates(&Command::new(["get", "a"])), vec![0, 2, 3]);
        assert_eq!(index.candidates(&Command::new(["GET", "b"])), vec![1, 2]);
        assert_eq!(
            index.candidates(&Command::new(["SET", "a"])),
            Vec::<usize>::new()
        );
        for cmd in [
            Command::new(["GET", "a"]),
            Command::new(["GET", "b"]),
            Command::new(["SET", "a", "x"]),
        ] {
            let candidates = index.candidates(&cmd);
            for (i, m) in matchers.iter().enumerate() {
                if !candidates.contains(&i) {
                    assert!(m.check(&cmd).is_err(), "{cmd:?} vs {i}");
                }
            }
        }
    }
}
