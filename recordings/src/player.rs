//! Replay state: which recorded interactions have answered already. Every occurrence is kept,
//! so identical requests recorded three times answer three times, in the recorded order.

use mocket_protocols::field::Destination;

use crate::cassette::{Interaction, Kind};
use crate::http::{Matcher, RecordedRequest, RecordedResponse};
use crate::redis::RedisConnection;
use crate::tcp::TcpConnection;

#[derive(Debug)]
pub struct Player {
    interactions: Vec<Interaction>,
    destinations: Vec<Option<Destination>>,
    used: Vec<bool>,
    matcher: Matcher,
    /// In a run that does not record, a request whose every occurrence was used gets the last
    /// one again (as the last response of an entry repeats) instead of nothing.
    repeat: bool,
}

impl Player {
    pub fn new(interactions: Vec<Interaction>, matcher: Matcher, repeat: bool) -> Self {
        let destinations = interactions.iter().map(Interaction::destination).collect();
        let used = vec![false; interactions.len()];
        Player {
            interactions,
            destinations,
            used,
            matcher,
            repeat,
        }
    }

    /// What the cassette recorded for `dest` (its first interaction there): kind and TLS.
    pub fn knows(&self, dest: &Destination) -> Option<(Kind, bool)> {
        self.indexes(dest)
            .next()
            .map(|i| (self.interactions[i].kind(), self.interactions[i].tls()))
    }

    /// Whether some connection or exchange to `dest` has not answered yet.
    pub fn has_unused(&self, dest: &Destination) -> bool {
        self.indexes(dest).any(|i| !self.used[i])
    }

    /// The first unused recorded answer to `live` (or, when repeating, the last used one).
    pub fn http(&mut self, live: &RecordedRequest) -> Option<RecordedResponse> {
        let matching: Vec<usize> = (0..self.interactions.len())
            .filter(|i| match &self.interactions[*i] {
                Interaction::Http(h) => self.matcher.matches(&h.request, live),
                _ => false,
            })
            .collect();
        let chosen = match matching.iter().find(|i| !self.used[**i]) {
            Some(i) => *i,
            None if self.repeat => *matching.last()?,
            None => return None,
        };
        self.used[chosen] = true;
        match &self.interactions[chosen] {
            Interaction::Http(h) => Some(h.response.clone()),
            _ => unreachable!("filtered to http"),
        }
    }

    /// Recorded Redis connections to `dest` a new connection may replay, in recorded order.
    pub fn redis(&self, dest: &Destination) -> Vec<(usize, RedisConnection)> {
        self.connections(dest, |i| match i {
            Interaction::Redis(r) => Some(r.clone()),
            _ => None,
        })
    }

    pub fn tcp(&self, dest: &Destination) -> Vec<(usize, TcpConnection)> {
        self.connections(dest, |i| match i {
            Interaction::Tcp(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// Marks a connection as taken; `false` when another connection took it first.
    pub fn claim(&mut self, index: usize) -> bool {
        match self.used.get_mut(index) {
            Some(used) if !*used => {
                *used = true;
                true
            }
            Some(_) => self.repeat,
            None => false,
        }
    }

    fn indexes<'a>(&'a self, dest: &'a Destination) -> impl Iterator<Item = usize> + 'a {
        (0..self.interactions.len()).filter(move |i| self.destinations[*i].as_ref() == Some(dest))
    }

    /// Unused connections first; when none is left and the run repeats, all of them.
    fn connections<T>(
        &self,
        dest: &Destination,
        pick: impl Fn(&Interaction) -> Option<T>,
    ) -> Vec<(usize, T)> {
        let all: Vec<usize> = self.indexes(dest).collect();
        let unused: Vec<usize> = all.iter().copied().filter(|i| !self.used[*i]).collect();
        let chosen = if unused.is_empty() && self.repeat {
            all
        } else {
            unused
        };
        chosen
            .into_iter()
            .filter_map(|i| pick(&self.interactions[i]).map(|c| (i, c)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpExchange;
    use crate::tcp::{Chunk, Dir};

    fn get(url: &str, answer: &str) -> Interaction {
        Interaction::Http(HttpExchange {
            request: RecordedRequest {
                method: "GET".into(),
                url: url.into(),
                headers: Vec::new(),
                body: Vec::new(),
            },
            response: RecordedResponse {
                status: 200,
                headers: Vec::new(),
                body: answer.as_bytes().to_vec(),
                body_truncated: None,
            },
        })
    }

    fn live(url: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![("authorization".into(), "Bearer new".into())],
            body: Vec::new(),
        }
    }

    fn body(r: Option<RecordedResponse>) -> String {
        String::from_utf8(r.expect("an answer").body).unwrap()
    }

    fn tcp(dest: &str) -> Interaction {
        Interaction::Tcp(TcpConnection {
            truncated: None,
            id: String::new(),
            destination: Destination::new(dest, 9),
            tls: false,
            chunks: vec![Chunk {
                from: Dir::Server,
                bytes: b"hi".to_vec(),
            }],
        })
    }

    #[test]
    fn repeated_requests_replay_in_recorded_order() {
        let items = vec![
            get("http://h/n", "1"),
            get("http://h/other", "x"),
            get("http://h/n", "2"),
            get("http://h/n", "3"),
        ];
        let mut p = Player::new(items.clone(), Matcher::default(), false);
        assert_eq!(body(p.http(&live("http://h/n"))), "1");
        assert_eq!(body(p.http(&live("http://h/n"))), "2");
        assert_eq!(body(p.http(&live("http://h/n"))), "3");
        assert_eq!(
            p.http(&live("http://h/n")),
            None,
            "a recording run records the fourth"
        );
        let mut p = Player::new(items, Matcher::default(), true);
        for _ in 0..3 {
            p.http(&live("http://h/n"));
        }
        assert_eq!(
            body(p.http(&live("http://h/n"))),
            "3",
            "a replay-only run repeats the last"
        );
        assert_eq!(p.http(&live("http://h/nope")), None);
    }

    #[test]
    fn connections_are_claimed_once() {
        let items = vec![tcp("a"), get("http://b:9/", "x"), tcp("a")];
        let mut p = Player::new(items.clone(), Matcher::default(), false);
        let a = Destination::new("a", 9);
        assert_eq!(p.knows(&a), Some((Kind::Tcp, false)));
        assert_eq!(
            p.knows(&Destination::new("b", 9)),
            Some((Kind::Http, false))
        );
        assert_eq!(p.knows(&Destination::new("c", 9)), None);
        assert_eq!(p.tcp(&a).iter().map(|c| c.0).collect::<Vec<_>>(), [0, 2]);
        assert!(p.claim(0));
        assert!(!p.claim(0));
        assert!(p.has_unused(&a));
        assert!(p.claim(2));
        assert!(!p.has_unused(&a));
        assert!(p.tcp(&a).is_empty());
        let mut p = Player::new(items, Matcher::default(), true);
        p.claim(0);
        p.claim(2);
        assert_eq!(p.tcp(&a).len(), 2, "a replay-only run reuses connections");
        assert!(p.claim(0));
    }
}
