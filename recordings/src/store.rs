//! The cassette file: atomic writes and several processes writing at once.
//!
//! Every write takes an exclusive `flock` on `<cassette>.lock`, reads what is on disk, applies
//! this process's change, writes a temporary file in the same directory, `fsync`s it and
//! renames it over the cassette (then `fsync`s the directory). Another process's interactions
//! are therefore merged, never overwritten, and a process killed at any point leaves either the
//! previous cassette or the new one, never a torn file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::RecordingError;
use crate::cassette::{Cassette, Interaction};

#[derive(Debug, Clone)]
pub struct Store {
    path: PathBuf,
}

impl Store {
    pub fn new(path: PathBuf) -> Self {
        Store { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cassette on disk, `None` when there is none yet.
    pub fn load(&self) -> Result<Option<Cassette>, RecordingError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(RecordingError::Store(format!(
                    "cannot read the cassette {}: {e}",
                    self.path.display()
                )));
            }
        };
        Cassette::parse(&text).map(Some).map_err(|e| {
            RecordingError::Cassette(format!(
                "the cassette {} is broken: {e}",
                self.path.display()
            ))
        })
    }

    /// Under the lock: reads the cassette, lets `change` edit its interactions, writes it back.
    /// A cassette that cannot be read is left alone (and the write fails): a hand-edited file
    /// with a typo must not be replaced by this process's few interactions.
    pub fn update(&self, change: impl FnOnce(&mut Vec<Interaction>)) -> Result<(), RecordingError> {
        self.update_text(change).map_err(RecordingError::Store)
    }

    fn update_text(&self, change: impl FnOnce(&mut Vec<Interaction>)) -> Result<(), String> {
        let fail =
            |what: &str, e: std::io::Error| format!("cannot {what} {}: {e}", self.path.display());
        let dir = self.dir();
        fs::create_dir_all(dir).map_err(|e| fail("create the directory of", e))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_path())
            .map_err(|e| fail("open the lock file of", e))?;
        lock.lock().map_err(|e| fail("lock", e))?;
        let mut cassette = self.load()?.unwrap_or_default();
        change(&mut cassette.interactions);
        write_atomic(&self.path, cassette.to_text().as_bytes()).map_err(|e| fail("write", e))
        // The lock is released when `lock` is dropped, after the rename.
    }

    fn dir(&self) -> &Path {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        }
    }

    fn lock_path(&self) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        self.path.with_file_name(name)
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, renames it over `path`, and
/// syncs the directory so the rename itself survives a crash.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        // Best effort: some filesystems refuse to sync a directory.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{Dir, TcpConnection};
    use mocket_protocols::field::Destination;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("mocket-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn conn(id: &str, text: &str) -> Interaction {
        let mut c = TcpConnection {
            truncated: None,
            id: id.into(),
            destination: Destination::new("h", 1),
            tls: false,
            chunks: Vec::new(),
        };
        c.push(Dir::Client, text.as_bytes());
        Interaction::Tcp(c)
    }

    #[test]
    fn updates_merge_with_what_is_on_disk() {
        let dir = temp_dir("merge");
        let store = Store::new(dir.join("sub/default.json"));
        assert_eq!(store.load().unwrap(), None);
        store.update(|items| items.push(conn("a", "1"))).unwrap();
        // Another process's store for the same file.
        let other = Store::new(dir.join("sub/default.json"));
        other.update(|items| items.push(conn("b", "2"))).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.interactions, vec![conn("a", "1"), conn("b", "2")]);
        let names: Vec<String> = fs::read_dir(dir.join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn threads_writing_at_once_lose_nothing() {
        let dir = temp_dir("threads");
        let path = dir.join("c.json");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = Store::new(path.clone());
                std::thread::spawn(move || {
                    for i in 0..10 {
                        store
                            .update(|items| items.push(conn(&format!("{t}-{i}"), "x")))
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let loaded = Store::new(path).load().unwrap().unwrap();
        assert_eq!(loaded.interactions.len(), 40);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_broken_cassette_is_never_overwritten() {
        let dir = temp_dir("broken");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.json");
        fs::write(&path, "{\"mocket_cassette\": 1, \"interactions\": [").unwrap();
        let store = Store::new(path.clone());
        let err = store
            .update(|items| items.push(conn("a", "1")))
            .unwrap_err();
        assert!(err.message().contains("is broken"), "{err}");
        assert!(fs::read_to_string(&path).unwrap().ends_with('['));
        fs::remove_dir_all(&dir).unwrap();
    }
}
