//! The objects of one emulated API server, its resourceVersion counter, the history of changes
//! a watch may start from, and the watches with their bounded queues.
//!
//! Writers never wait for a watcher: a change is encoded into each matching watch's queue, and a
//! watch whose queue is full is marked overflowed and gets nothing more (its driver ends it).

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Value, json};

use super::resources::ResourceId;
use super::selector::{FieldSelector, LabelSelector};

/// How many changes are kept for watches that start from an older resourceVersion; a watch
/// from before them gets `410 Expired`, as from a compacted etcd.
pub const HISTORY: usize = 100_000;

/// The default bound of a watch's queue, in events (the entry's `watch_buffer`).
pub const DEFAULT_WATCH_BUFFER: usize = 1000;

/// Where an object lives.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub resource: ResourceId,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One write, as watches see it.
#[derive(Debug, Clone)]
struct Change {
    resource: ResourceId,
    revision: u64,
    kind: ChangeKind,
    object: Value,
    /// The object before a modification, to tell a watch with a selector that it left or
    /// entered the selection.
    before: Option<Value>,
}

/// What a watch selects.
#[derive(Debug, Clone)]
pub struct WatchFilter {
    pub resource: ResourceId,
    /// `None`: every namespace.
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl WatchFilter {
    pub fn selects(&self, object: &Value) -> bool {
        let in_namespace = self
            .namespace
            .as_deref()
            .is_none_or(|ns| object["metadata"]["namespace"].as_str().unwrap_or("") == ns);
        in_namespace && self.labels.matches(object) && self.fields.matches(object)
    }

    /// The event line `change` makes for this watch, if any.
    fn event(&self, change: &Change) -> Option<Vec<u8>> {
        if change.resource != self.resource {
            return None;
        }
        let now = self.selects(&change.object);
        let before = change.before.as_ref().map(|b| self.selects(b));
        let kind = match (change.kind, before, now) {
            (ChangeKind::Added, _, true) => "ADDED",
            (ChangeKind::Deleted, _, true) => "DELETED",
            (ChangeKind::Modified, Some(true), true) => "MODIFIED",
            (ChangeKind::Modified, Some(false), true) => "ADDED",
            (ChangeKind::Modified, Some(true), false) => "DELETED",
            _ => return None,
        };
        Some(event_line(kind, &change.object))
    }
}

/// One line of a watch stream: `{"type":"ADDED","object":{...}}` and a newline.
pub fn event_line(kind: &str, object: &Value) -> Vec<u8> {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object}))
        .expect("a JSON value always serializes");
    line.push(b'\n');
    line
}

struct Watcher {
    filter: WatchFilter,
    queue: VecDeque<Vec<u8>>,
    overflowed: bool,
}

/// What a watch's driver takes from its queue.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Drained {
    pub lines: Vec<Vec<u8>>,
    /// The queue overflowed: the watch must end (after the lines taken before).
    pub overflowed: bool,
    /// The watch is not registered (it ended).
    pub gone: bool,
}

/// A watch from a resourceVersion the history no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooOld {
    pub oldest: u64,
}

pub struct Store {
    objects: BTreeMap<Key, Value>,
    revision: u64,
    history: VecDeque<Change>,
    /// Every change after this revision is in `history`.
    history_floor: u64,
    watchers: BTreeMap<u64, Watcher>,
    next_watch: u64,
    watch_buffer: usize,
    history_limit: usize,
    /// Watches that overflowed since [`Store::take_overflowed`] was last called.
    overflowed: Vec<u64>,
}

impl Store {
    pub fn new(watch_buffer: usize) -> Self {
        Store::with_history(watch_buffer, HISTORY)
    }

    /// A store that keeps the last `history_limit` changes for watches.
    pub fn with_history(watch_buffer: usize, history_limit: usize) -> Self {
        Store {
            history_limit: history_limit.max(1),
            overflowed: Vec::new(),
            objects: BTreeMap::new(),
            revision: 0,
            history: VecDeque::new(),
            history_floor: 0,
            watchers: BTreeMap::new(),
            next_watch: 0,
            watch_buffer: watch_buffer.max(1),
        }
    }

    /// The current resourceVersion of the whole server.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key)
    }

    /// The objects of `resource` (in `namespace`, or all), ordered by namespace and name.
    pub fn list<'a>(
        &'a self,
        resource: ResourceId,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Value)> + 'a {
        let start = Key {
            resource,
            namespace: namespace.unwrap_or("").to_string(),
            name: String::new(),
        };
        self.objects.range(start..).take_while(move |(k, _)| {
            k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// Stores `object` under `key` with the next resourceVersion, and tells the watches.
    pub fn put(&mut self, key: Key, mut object: Value, kind: ChangeKind) -> Value {
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        let before = self.objects.insert(key.clone(), object.clone());
        self.record(Change {
            resource: key.resource,
            revision: self.revision,
            kind,
            object: object.clone(),
            before,
        });
        object
    }

    /// Removes the object at `key`; the deletion gets the next resourceVersion, as in
    /// Kubernetes.
    pub fn remove(&mut self, key: &Key) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.record(Change {
            resource: key.resource,
            revision: self.revision,
            kind: ChangeKind::Deleted,
            object: object.clone(),
            before: None,
        });
        Some(object)
    }

    fn record(&mut self, change: Change) {
        for (id, watcher) in self.watchers.iter_mut().filter(|(_, w)| !w.overflowed) {
            if let Some(line) = watcher.filter.event(&change) {
                if watcher.queue.len() >= self.watch_buffer {
                    watcher.overflowed = true;
                    watcher.queue.clear();
                    self.overflowed.push(*id);
                } else {
                    watcher.queue.push_back(line);
                }
            }
        }
        self.history.push_back(change);
        if self.history.len() > self.history_limit
            && let Some(dropped) = self.history.pop_front()
        {
            self.history_floor = dropped.revision;
        }
    }

    /// Starts a watch: the events it starts with (every selected object as `ADDED` without a
    /// resourceVersion, else the changes after `since`), and its id for [`Store::drain`].
    pub fn watch(
        &mut self,
        filter: WatchFilter,
        since: Option<u64>,
    ) -> Result<(u64, Vec<Vec<u8>>), TooOld> {
        let backlog = match since {
            None => self
                .list(filter.resource, filter.namespace.as_deref())
                .filter(|(_, o)| filter.selects(o))
                .map(|(_, o)| event_line("ADDED", o))
                .collect(),
            Some(since) if since < self.history_floor => {
                return Err(TooOld {
                    oldest: self.history_floor,
                });
            }
            Some(since) => {
                let first = self.history.partition_point(|c| c.revision <= since);
                self.history
                    .range(first..)
                    .filter_map(|c| filter.event(c))
                    .collect()
            }
        };
        self.next_watch += 1;
        let id = self.next_watch;
        self.watchers.insert(
            id,
            Watcher {
                filter,
                queue: VecDeque::new(),
                overflowed: false,
            },
        );
        Ok((id, backlog))
    }

    /// Takes what waits for watch `id`.
    pub fn drain(&mut self, id: u64) -> Drained {
        match self.watchers.get_mut(&id) {
            None => Drained {
                gone: true,
                ..Drained::default()
            },
            Some(w) => Drained {
                lines: w.queue.drain(..).collect(),
                overflowed: w.overflowed,
                gone: false,
            },
        }
    }

    /// The watches that overflowed since the last call: their drivers may be blocked writing
    /// to a client that does not read, and must be freed (e.g. by shutting the socket down).
    pub fn take_overflowed(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.overflowed)
    }

    pub fn unwatch(&mut self, id: u64) {
        self.watchers.remove(&id);
    }

    /// How many watches are open.
    pub fn watches(&self) -> usize {
        self.watchers.len()
    }
}

/// `2026-11-29T20:07:53Z` for a time in seconds since the Unix epoch.
pub fn rfc3339(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let secs = unix_seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        Key {
            resource: 0,
            namespace: "ns".into(),
            name: name.into(),
        }
    }

    fn obj(name: &str, app: &str) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "labels": {"app": app}}})
    }

    fn filter(labels: &str) -> WatchFilter {
        WatchFilter {
            resource: 0,
            namespace: Some("ns".into()),
            labels: LabelSelector::parse(labels).unwrap(),
            fields: FieldSelector::default(),
        }
    }

    fn types(lines: &[Vec<u8>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_slice(l).unwrap();
                format!(
                    "{} {}",
                    v["type"].as_str().unwrap(),
                    v["object"]["metadata"]["resourceVersion"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_982_873), "2026-11-29T20:07:53Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn watches_see_changes_in_order_and_selections_move() {
        let mut s = Store::new(10);
        s.put(key("a"), obj("a", "web"), ChangeKind::Added);
        let (id, backlog) = s.watch(filter("app=web"), None).unwrap();
        assert_eq!(types(&backlog), ["ADDED 1"]);
        s.put(key("a"), obj("a", "db"), ChangeKind::Modified);
        s.put(key("b"), obj("b", "web"), ChangeKind::Added);
        s.put(key("a"), obj("a", "web"), ChangeKind::Modified);
        s.put(key("b"), obj("b", "web"), ChangeKind::Modified);
        s.remove(&key("b"));
        let d = s.drain(id);
        assert_eq!(
            types(&d.lines),
            ["DELETED 2", "ADDED 3", "ADDED 4", "MODIFIED 5", "DELETED 6"]
        );
        // From a resourceVersion: the history after it.
        let (_, backlog) = s.watch(filter(""), Some(4)).unwrap();
        assert_eq!(types(&backlog), ["MODIFIED 5", "DELETED 6"]);
        assert_eq!(s.list(0, Some("ns")).count(), 1);
        assert_eq!(s.list(0, None).count(), 1);
        assert_eq!(s.list(1, None).count(), 0);
    }

    #[test]
    fn a_full_queue_overflows_without_blocking_the_writer() {
        let mut s = Store::new(2);
        let (id, _) = s.watch(filter(""), None).unwrap();
        for i in 0..5 {
            s.put(key(&format!("o{i}")), obj("x", "web"), ChangeKind::Added);
        }
        assert_eq!(s.take_overflowed(), [id]);
        assert!(s.take_overflowed().is_empty());
        let d = s.drain(id);
        assert!(d.overflowed && d.lines.is_empty());
        s.unwatch(id);
        assert!(s.drain(id).gone);
        assert_eq!(s.watches(), 0);
    }

    #[test]
    fn a_compacted_history_is_too_old() {
        let mut s = Store::with_history(2, 10);
        for i in 0..13 {
            s.put(key("a"), obj(&format!("{i}"), "web"), ChangeKind::Modified);
        }
        assert_eq!(
            s.watch(filter(""), Some(1)).unwrap_err(),
            TooOld { oldest: 3 }
        );
        assert!(s.watch(filter(""), Some(3)).is_ok());
    }
}
