//! The recorder the engine holds for a run: the cassette as it was when the run started (for
//! replay), the mode's decision, and every write.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use mocket_protocols::field::Destination;

use crate::cassette::{Interaction, Kind};
use crate::http::{Matcher, RecordedRequest, RecordedResponse};
use crate::mode::{Effect, Mode};
use crate::player::Player;
use crate::redact::Redactor;
use crate::redis::RedisReplay;
use crate::store::Store;
use crate::tcp::TcpReplay;

/// Everything recording needs from the environment and the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    pub dir: PathBuf,
    pub namespace: String,
    pub mode: Mode,
    /// A PEM file of CAs trusted for upstream TLS, besides the system roots.
    pub upstream_ca: Option<PathBuf>,
    pub redactor: Redactor,
    pub matcher: Matcher,
}

#[derive(Debug)]
pub struct Recorder {
    settings: RecordSettings,
    store: Store,
    effect: Effect,
    player: Mutex<Player>,
    /// Mode `all`: what the cassette held when this run started, dropped at its first write.
    stale: Mutex<Option<Vec<Interaction>>>,
    /// Makes connection ids unique across processes and runs.
    run: String,
    next_id: AtomicU64,
}

use mocket_control::sync::lock;

impl Recorder {
    /// Reads the cassette (a broken one is an error, never silently replaced) and decides what
    /// the mode means for this run.
    pub fn open(settings: RecordSettings) -> Result<Recorder, crate::RecordingError> {
        let path = crate::cassette_path(&settings.dir, &settings.namespace)?;
        let store = Store::new(path);
        let existing = store.load()?;
        let effect = settings.mode.effect(existing.is_some());
        let interactions = existing.map(|c| c.interactions).unwrap_or_default();
        let stale = (settings.mode == Mode::All).then(|| interactions.clone());
        let replayed = if effect.replay {
            interactions
        } else {
            Vec::new()
        };
        let player = Player::new(replayed, settings.matcher.clone(), !effect.record);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Recorder {
            store,
            effect,
            player: Mutex::new(player),
            stale: Mutex::new(stale),
            run: format!("{}-{:x}", std::process::id(), started.as_micros()),
            next_id: AtomicU64::new(0),
            settings,
        })
    }

    pub fn settings(&self) -> &RecordSettings {
        &self.settings
    }

    pub fn cassette(&self) -> &Path {
        self.store.path()
    }

    pub fn replays(&self) -> bool {
        self.effect.replay
    }

    pub fn records(&self) -> bool {
        self.effect.record
    }

    /// What the cassette holds for `dest` (kind, TLS), when replaying.
    pub fn knows(&self, dest: &Destination) -> Option<(Kind, bool)> {
        lock(&self.player).knows(dest)
    }

    pub fn has_unused(&self, dest: &Destination) -> bool {
        lock(&self.player).has_unused(dest)
    }

    pub fn replay_http(&self, live: &RecordedRequest) -> Option<RecordedResponse> {
        lock(&self.player).http(live)
    }

    pub fn redis_replay(&self, dest: &Destination) -> RedisReplay {
        RedisReplay::new(lock(&self.player).redis(dest))
    }

    pub fn tcp_replay(&self, dest: &Destination) -> TcpReplay {
        TcpReplay::new(lock(&self.player).tcp(dest))
    }

    /// Takes a recorded connection for one live connection (see [`RedisReplay`]).
    pub fn claim(&self, index: usize) -> bool {
        lock(&self.player).claim(index)
    }

    /// A fresh id for a recorded connection.
    pub fn connection_id(&self) -> String {
        format!(
            "{}-{}",
            self.run,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// Redacts and writes one interaction now, replacing an earlier save of the same
    /// connection. Called before the client sees the answer, so even a process that exits the
    /// moment it has its response (an embedded engine dies with it) keeps its recording.
    pub fn save(&self, mut interaction: Interaction) -> Result<(), crate::RecordingError> {
        self.settings.redactor.interaction(&mut interaction);
        let mut stale = lock(&self.stale);
        let old = stale.take();
        let written = self.store.update(|items| {
            if let Some(old) = &old {
                items.retain(|i| !old.contains(i));
            }
            let same = interaction
                .id()
                .and_then(|id| items.iter().position(|i| i.id() == Some(id)));
            match same {
                Some(pos) => items[pos] = interaction,
                None => items.push(interaction),
            }
        });
        if written.is_err() {
            *stale = old;
        }
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpExchange;
    use crate::redis::{RedisConnection, RedisExchange};

    fn settings(dir: &Path, mode: Mode) -> RecordSettings {
        RecordSettings {
            dir: dir.to_path_buf(),
            namespace: "default".into(),
            mode,
            upstream_ca: None,
            redactor: Redactor::default(),
            matcher: Matcher::default(),
        }
    }

    fn exchange(path: &str, answer: &str) -> Interaction {
        Interaction::Http(HttpExchange {
            request: RecordedRequest {
                method: "GET".into(),
                url: format!("http://h{path}"),
                headers: vec![("authorization".into(), "Bearer sekrit".into())],
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

    fn live(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            url: format!("http://h{path}"),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn temp(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mocket-rec-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn once_records_then_replays() {
        let dir = temp("once");
        let first = Recorder::open(settings(&dir, Mode::Once)).unwrap();
        assert!(first.records() && !first.replays());
        first.save(exchange("/a", "1")).unwrap();
        first.save(exchange("/a", "2")).unwrap();
        let text = std::fs::read_to_string(first.cassette()).unwrap();
        assert!(
            !text.contains("sekrit") && text.contains("<redacted>"),
            "{text}"
        );
        let second = Recorder::open(settings(&dir, Mode::Once)).unwrap();
        assert!(second.replays() && !second.records());
        assert_eq!(second.replay_http(&live("/a")).unwrap().body, b"1");
        assert_eq!(second.replay_http(&live("/a")).unwrap().body, b"2");
        assert_eq!(
            second.replay_http(&live("/a")).unwrap().body,
            b"2",
            "repeats the last"
        );
        assert!(second.replay_http(&live("/b")).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn all_replaces_what_the_cassette_held() {
        let dir = temp("all");
        let first = Recorder::open(settings(&dir, Mode::Once)).unwrap();
        first.save(exchange("/old", "1")).unwrap();
        let again = Recorder::open(settings(&dir, Mode::All)).unwrap();
        assert!(again.records() && !again.replays());
        again.save(exchange("/new", "1")).unwrap();
        again.save(exchange("/new2", "2")).unwrap();
        let text = std::fs::read_to_string(again.cassette()).unwrap();
        assert!(!text.contains("/old") && text.contains("/new2"), "{text}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn connections_saved_again_replace_their_earlier_save() {
        let dir = temp("conn");
        let rec = Recorder::open(settings(&dir, Mode::NewEpisodes)).unwrap();
        let id = rec.connection_id();
        assert_ne!(id, rec.connection_id());
        let mut conn = RedisConnection {
            id,
            destination: Destination::new("h", 6379),
            tls: false,
            exchanges: vec![RedisExchange {
                command: vec![b"AUTH".to_vec(), b"pw".to_vec()],
                reply: b"+OK\r\n".to_vec(),
            }],
        };
        rec.save(Interaction::Redis(conn.clone())).unwrap();
        conn.exchanges.push(RedisExchange {
            command: vec![b"PING".to_vec()],
            reply: b"+PONG\r\n".to_vec(),
        });
        rec.save(Interaction::Redis(conn)).unwrap();
        let saved = Store::new(rec.cassette().to_path_buf())
            .load()
            .unwrap()
            .unwrap();
        assert_eq!(saved.interactions.len(), 1);
        let Interaction::Redis(r) = &saved.interactions[0] else {
            panic!()
        };
        assert_eq!(r.exchanges.len(), 2);
        assert_eq!(r.exchanges[0].command[1], b"<redacted>");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_namespaces_and_broken_cassettes_are_errors() {
        let dir = temp("bad");
        let mut s = settings(&dir, Mode::Once);
        s.namespace = "../x".into();
        assert!(
            Recorder::open(s)
                .unwrap_err()
                .message()
                .contains("namespace")
        );
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("default.json"), "nope").unwrap();
        assert!(
            Recorder::open(settings(&dir, Mode::None))
                .unwrap_err()
                .message()
                .contains("broken")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
