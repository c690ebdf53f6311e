//! The fake addresses shared by the processes of one tree under the embedded placement.
//!
//! Each process has its own engine and so its own [`FakeIpMap`]. Hash-then-probe gives a name
//! the same address in every process only when no earlier name took its slot, which depends on
//! lookup order: 20 000 names looked up in opposite orders by two processes disagreed on about
//! 4 000. No local rule can fix that: a process that looked up one name alone cannot know that
//! another process saw it collide. So every first assignment goes through one file:
//!
//! - **An append-only log** of claims, one line `IP NAME CHECK` per claim, each written with a
//!   single `write` on a file opened with `O_APPEND`, so concurrent writers never interleave
//!   lines and no lock is needed.
//! - **Replayed in file order**, with one rule: the first valid line for a name, and the first
//!   valid line for an address, win; a later line for either is ignored. Every process reads the
//!   same lines in the same order, so every process derives the same map.
//! - **Claiming** a name: pick the first free address (hash, then probe, over the replayed
//!   map), append the line, then read the log up to the end; the claim holds if the replay gave
//!   the name an address (its own, or one another process claimed first); otherwise another
//!   process took the address in between and the claim is tried again.
//! - **Crash safety**: `CHECK` is a checksum of `IP NAME`; a line cut short by a crash, or run
//!   together with the next one, fails it and is skipped, and a reader consumes only complete
//!   lines. A lost claim is simply claimed again.
//! - **Cost**: a name already known costs nothing; a new name costs a `pread` of the lines
//!   appended since this process last looked, one `write` and one more `pread` (no lock, no
//!   fsync). A process that never looks up a name never opens the file. No-collision names
//!   cannot skip the file: a process cannot know locally that another one saw its name collide.
//!
//! The file lives in the per-user runtime directory (`$XDG_RUNTIME_DIR/mocket`, else the
//! per-user data directory next to the CA), named by a hash of the terminal session and the
//! mocks file, so the processes of one tree share it and unrelated runs do not; files not
//! touched for a day are removed when a new one is created.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{FakeIpError, FakeIpMap, fnv1a};

/// A log longer than this is not one mocket wrote (the whole range takes about 6 MB).
const MAX_LOG_BYTES: u64 = 32 << 20;
/// Claims tried for one name before giving up: each retry means another process won the
/// address in between, which repeats only under extreme contention.
const MAX_CLAIMS: usize = 64;
/// Registry files older than this are from finished runs.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Why the shared registry could not be used.
#[derive(Debug)]
pub struct RegistryError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fake-address registry {}: {} (remove the file if it is damaged)",
            self.path.display(),
            self.message
        )
    }
}

impl std::error::Error for RegistryError {}

/// An open registry log and how far this process has replayed it.
#[derive(Debug, Clone)]
pub struct Registry {
    file: Arc<File>,
    path: PathBuf,
    /// The offset just past the last complete line replayed.
    replayed_to: u64,
}

impl Registry {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| RegistryError {
                path: path.to_path_buf(),
                message: format!("cannot open: {e}"),
            })?;
        Ok(Registry {
            file: Arc::new(file),
            path: path.to_path_buf(),
            replayed_to: 0,
        })
    }

    /// The registry of this tree: keyed by the terminal session and the mocks file.
    pub fn for_this_tree(mocks_file: Option<&Path>) -> Result<Self, RegistryError> {
        let dir = registry_dir()?;
        let mocks = mocks_file.map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| p.into()));
        let key = format!("{}\0{}", session_id(), mocks.unwrap_or_default().display());
        let path = dir.join(format!("fake-ips-{:08x}.log", fnv1a(key.as_bytes())));
        if !path.exists() {
            remove_stale(&dir);
        }
        Registry::open(&path)
    }

    fn error(&self, message: String) -> RegistryError {
        RegistryError {
            path: self.path.clone(),
            message,
        }
    }

    /// Replays the lines appended since the last call into `map`: usually one `pread` that
    /// returns the few lines other processes added (or nothing).
    pub(super) fn catch_up(&mut self, map: &mut FakeIpMap) -> Result<(), RegistryError> {
        let mut chunk = [0u8; 8192];
        let mut pending = Vec::new();
        loop {
            let at = self.replayed_to + pending.len() as u64;
            if at > MAX_LOG_BYTES {
                return Err(self.error(format!("longer than {MAX_LOG_BYTES} bytes")));
            }
            let n = self
                .file
                .read_at(&mut chunk, at)
                .map_err(|e| self.error(format!("cannot read: {e}")))?;
            pending.extend_from_slice(&chunk[..n]);
            let complete = pending
                .iter()
                .rposition(|b| *b == b'\n')
                .map_or(0, |i| i + 1);
            for line in pending[..complete].split(|b| *b == b'\n') {
                if let Some((ip, name)) = parse_line(line) {
                    map.insert(name, ip);
                }
            }
            pending.drain(..complete);
            self.replayed_to += complete as u64;
            // A short read is the end of the file (an incomplete last line waits for later).
            if n < chunk.len() {
                return Ok(());
            }
        }
    }

    /// The address of `name`, claimed in the log when no process has claimed one yet.
    pub(super) fn assign(
        &mut self,
        map: &mut FakeIpMap,
        name: &str,
    ) -> Result<Ipv4Addr, FakeIpError> {
        if !shareable(name) {
            // Never sent by a resolver; kept out of the line format, and out of other
            // processes' maps.
            let ip = map.free_ip_for(name)?;
            map.insert(name, ip);
            return Ok(ip);
        }
        for _ in 0..MAX_CLAIMS {
            self.catch_up(map).map_err(FakeIpError::Registry)?;
            if let Some(ip) = map.by_name.get(name) {
                return Ok(*ip);
            }
            let ip = map.free_ip_for(name)?;
            (&*self.file)
                .write_all(claim_line(ip, name).as_bytes())
                .map_err(|e| FakeIpError::Registry(self.error(format!("cannot write: {e}"))))?;
        }
        self.catch_up(map).map_err(FakeIpError::Registry)?;
        map.by_name.get(name).copied().ok_or_else(|| {
            FakeIpError::Registry(self.error(format!(
                "{MAX_CLAIMS} claims for {name} all lost to other processes"
            )))
        })
    }
}

/// Whether `name` can be written as one word of a line.
fn shareable(name: &str) -> bool {
    !name.is_empty() && name.len() <= 253 && name.bytes().all(|b| b.is_ascii_graphic())
}

fn claim_line(ip: Ipv4Addr, name: &str) -> String {
    let claim = format!("{ip} {name}");
    format!("{claim} {:08x}\n", fnv1a(claim.as_bytes()))
}

/// The claim on one line, if the line is whole.
fn parse_line(line: &[u8]) -> Option<(Ipv4Addr, &str)> {
    let line = std::str::from_utf8(line).ok()?;
    let (claim, check) = line.rsplit_once(' ')?;
    if format!("{:08x}", fnv1a(claim.as_bytes())) != check {
        return None;
    }
    let (ip, name) = claim.split_once(' ')?;
    shareable(name).then_some((ip.parse().ok()?, name))
}

/// `$XDG_RUNTIME_DIR/mocket` (per user, private, cleared at logout), else the per-user data
/// directory (`~/.local/share/mocket`), created on first use.
fn registry_dir() -> Result<PathBuf, RegistryError> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute() && p.is_dir())
        .map(|p| p.join("mocket"));
    let dir = match runtime {
        Some(dir) => dir,
        None => crate::ca_store::data_dir_from_env()
            .map(|d| d.join("run"))
            .map_err(|e| RegistryError {
                path: PathBuf::from("(no directory)"),
                message: e.to_string(),
            })?,
    };
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| RegistryError {
            path: dir.clone(),
            message: format!("cannot create the directory: {e}"),
        })?;
    Ok(dir)
}

/// The session of this process (`/proc/self/stat`): every process started from one shell
/// command line shares it, unless a program makes a new session on purpose.
fn session_id() -> String {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces: state, ppid,
    // pgrp, session.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(3).map(String::from))
        .unwrap_or_default()
}

fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ours = name.to_string_lossy().starts_with("fake-ips-");
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > STALE_AFTER);
        if ours && old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_log(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mocket-registry-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fake-ips.log");
        let _ = std::fs::remove_file(&path);
        path
    }

    fn shared(path: &Path) -> FakeIpMap {
        FakeIpMap::shared(Registry::open(path).unwrap()).unwrap()
    }

    #[test]
    fn maps_sharing_a_log_agree_whatever_the_order() {
        let path = temp_log("order");
        let names: Vec<String> = (0..20_000).map(|i| format!("n{i}.test")).collect();
        let (mut a, mut b) = (shared(&path), shared(&path));
        // Interleaved, in opposite orders: the worst case for hash-then-probe.
        let mut from_a = Vec::new();
        let mut from_b = Vec::new();
        for (x, y) in names.iter().zip(names.iter().rev()) {
            from_a.push((x.clone(), a.ip_of(x).unwrap()));
            from_b.push((y.clone(), b.ip_of(y).unwrap()));
        }
        for (name, ip) in from_a {
            assert_eq!(b.ip_of(&name).unwrap(), ip, "{name}");
        }
        for (name, ip) in from_b {
            assert_eq!(a.ip_of(&name).unwrap(), ip, "{name}");
            assert_eq!(a.name_of(ip), Some(name));
        }
        let late = shared(&path);
        assert_eq!(late.by_name.len(), 20_000);
        assert_eq!(late.by_name, a.by_name);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn an_address_another_process_handed_out_is_known() {
        let path = temp_log("name-of");
        let (mut parent, mut child) = (shared(&path), shared(&path));
        let ip = parent.ip_of("late.test").unwrap();
        assert_eq!(child.name_of(ip).as_deref(), Some("late.test"));
        assert_eq!(child.name_of(Ipv4Addr::new(198, 18, 7, 7)), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn damaged_lines_are_skipped_and_claims_retried() {
        let path = temp_log("damaged");
        let mut a = shared(&path);
        let ip = a.ip_of("first.test").unwrap();
        // A claim cut short by a crash, then another process's claim run into it.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"198.18.0.9 cut.te")
            .unwrap();
        let mut b = shared(&path);
        assert_eq!(b.ip_of("first.test").unwrap(), ip);
        let second = b.ip_of("second.test").unwrap();
        assert_eq!(a.ip_of("second.test").unwrap(), second);
        assert_eq!(
            shared(&path).name_of(second).as_deref(),
            Some("second.test")
        );
        assert_eq!(shared(&path).by_name.get("cut.te"), None);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn lines_round_trip_and_reject_tampering() {
        let ip = Ipv4Addr::new(198, 18, 1, 2);
        let line = claim_line(ip, "a.test");
        assert_eq!(parse_line(line.trim_end().as_bytes()), Some((ip, "a.test")));
        let tampered = line.replace("a.test", "b.test");
        assert_eq!(parse_line(tampered.trim_end().as_bytes()), None);
        assert!(!shareable("a b") && !shareable("a\nb") && !shareable(""));
    }
}
