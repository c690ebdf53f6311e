//! An index of one address's command entries, so a command is compared only with the entries
//! that could answer it: entries without `args_regex` are found by their exact words, the
//! others by their command name.

use std::collections::HashMap;

use super::{Command, Matcher};

#[derive(Debug, Default)]
pub struct CommandIndex {
    /// Exact words (upper-case name, then the arguments) -> entry indexes, in file order.
    exact: HashMap<Vec<Vec<u8>>, Vec<usize>>,
    /// Upper-case name -> entries with `args_regex`, in file order.
    by_name: HashMap<String, Vec<usize>>,
}

impl CommandIndex {
    /// Indexes the matchers of command entries, given in file order.
    pub fn new<'a>(entries: impl IntoIterator<Item = (usize, &'a Matcher)>) -> Self {
        let mut index = CommandIndex::default();
        for (i, matcher) in entries {
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

    /// The entries that could answer `cmd`, in file order; every other entry differs in name
    /// or arguments.
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
        out
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
