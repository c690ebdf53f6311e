//! Where `mocket` finds `libmocket.so` (and, beside it, `libmocket_shim.so`, which that stub
//! loads on first use, and `libmocket_engine.so`, which the shim loads from its own directory
//! under a bare `LD_PRELOAD`).
//!
//! `MOCKET_LIB` wins. Otherwise a `mocket` that carries the libraries (release builds: see
//! `build.rs`) writes them, on first use, to `$XDG_CACHE_HOME/mocket/<hash>/` (or
//! `~/.cache/mocket/<hash>/`), named by their content hash so that versions never mix, and
//! checks them on every start: a missing, stale or tampered copy is rewritten. Writes go to a
//! temporary file in the same directory, fsynced, then renamed over the library, so processes
//! starting together each see a whole library or none. A directory that cannot be written
//! (read-only, full) costs one warning line and a private directory under `$TMPDIR` instead. A
//! `mocket` without embedded libraries (dev builds) finds them beside itself.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The preloadable library's file name.
pub const SHIM: &str = "libmocket.so";

/// Libraries carried inside the `mocket` executable.
pub struct Embedded {
    /// Content hash of the libraries: the cache directory's name.
    pub hash: &'static str,
    /// `libmocket.so`'s bytes (the preloaded stub).
    pub shim: &'static [u8],
    /// `libmocket_shim.so`'s bytes (the Rust shim the stub loads beside itself).
    pub rust_shim: &'static [u8],
    /// `libmocket_engine.so`'s bytes.
    pub engine: &'static [u8],
}

#[cfg(mocket_embedded)]
pub static EMBEDDED: Option<Embedded> = Some(Embedded {
    hash: env!("MOCKET_EMBEDDED_HASH"),
    shim: include_bytes!(env!("MOCKET_EMBEDDED_SHIM")),
    rust_shim: include_bytes!(env!("MOCKET_EMBEDDED_RUST_SHIM")),
    engine: include_bytes!(env!("MOCKET_EMBEDDED_ENGINE")),
});

#[cfg(not(mocket_embedded))]
pub static EMBEDDED: Option<Embedded> = None;

/// The Rust shim's file name: the stub loads it from its own directory.
const RUST_SHIM: &str = "libmocket_shim.so";

/// The engine library's file name.
const ENGINE: &str = "libmocket_engine.so";

/// How much of the cached copies a start checks against the embedded bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Check {
    /// `mocket run`: the whole of `libmocket.so` and `libmocket_shim.so` (loaded into the
    /// processes of the tree) and the engine
    /// library's size (the daemon placement never loads it): a few hundred microseconds.
    Run,
    /// `mocket shim`: the whole of all three (a bare `LD_PRELOAD` loads the engine library).
    Both,
}

/// Why no library could be found or written.
#[derive(Debug)]
pub enum LibraryError {
    /// `MOCKET_LIB`, or the file beside a `mocket` without embedded libraries, is missing.
    Missing { path: PathBuf, from_env: bool },
    /// The path of the running executable is unknown.
    NoExecutable(io::Error),
    /// Neither the cache directory nor the temporary one could be written.
    Unwritable {
        cache: PathBuf,
        cache_error: io::Error,
        fallback: PathBuf,
        fallback_error: io::Error,
    },
}

impl fmt::Display for LibraryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LibraryError::Missing {
                path,
                from_env: true,
            } => write!(
                f,
                "MOCKET_LIB={}: no such file (point it at a libmocket.so, or unset it)",
                path.display()
            ),
            LibraryError::Missing {
                path,
                from_env: false,
            } => write!(
                f,
                "{} not found: build it with `cargo build --workspace`, install mocket with \
                 `cargo install --path cli` (it then carries the library), or set MOCKET_LIB",
                path.display()
            ),
            LibraryError::NoExecutable(e) => {
                write!(f, "cannot locate the mocket executable: {e}")
            }
            LibraryError::Unwritable {
                cache,
                cache_error,
                fallback,
                fallback_error,
            } => write!(
                f,
                "cannot write libmocket.so to {} ({cache_error}) nor to {} ({fallback_error}): \
                 make one of them writable, or set XDG_CACHE_HOME or TMPDIR",
                cache.display(),
                fallback.display()
            ),
        }
    }
}

impl std::error::Error for LibraryError {}

/// The `libmocket.so` to preload, written first if needed.
pub fn shim_path(check: Check) -> Result<PathBuf, LibraryError> {
    if let Some(path) = std::env::var_os("MOCKET_LIB").filter(|p| !p.is_empty()) {
        return existing(PathBuf::from(path), true);
    }
    match &EMBEDDED {
        Some(embedded) => {
            let env = |name: &str| std::env::var_os(name).map(PathBuf::from);
            let dir = write_embedded(embedded, check, &Places::from_env(env))?;
            Ok(dir.join(SHIM))
        }
        None => {
            let exe = std::env::current_exe().map_err(LibraryError::NoExecutable)?;
            existing(exe.with_file_name(SHIM), false)
        }
    }
}

fn existing(path: PathBuf, from_env: bool) -> Result<PathBuf, LibraryError> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(LibraryError::Missing { path, from_env })
    }
}

/// The two directories the libraries may be written to (each gets a `<hash>/` inside).
#[derive(Debug, PartialEq, Eq)]
pub struct Places {
    /// `$XDG_CACHE_HOME/mocket` or `~/.cache/mocket` (none without either variable).
    pub cache: Option<PathBuf>,
    /// `$TMPDIR/mocket-<uid>`: private to the user (checked before use).
    pub fallback: PathBuf,
}

impl Places {
    /// From the environment (`XDG_CACHE_HOME`, `HOME`, `TMPDIR`), read through `env`.
    pub fn from_env(env: impl Fn(&str) -> Option<PathBuf>) -> Places {
        // The XDG rule: a relative XDG_CACHE_HOME is invalid and ignored.
        let absolute = |p: PathBuf| Some(p).filter(|p| p.is_absolute());
        let cache = env("XDG_CACHE_HOME")
            .and_then(absolute)
            .or_else(|| env("HOME").and_then(absolute).map(|h| h.join(".cache")))
            .map(|base| base.join("mocket"));
        let tmp = env("TMPDIR")
            .and_then(absolute)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let uid = rustix::process::geteuid().as_raw();
        Places {
            cache,
            fallback: tmp.join(format!("mocket-{uid}")),
        }
    }
}

/// Makes `<cache>/<hash>/` (or, failing that, `<fallback>/<hash>/`, with one warning line) hold
/// the libraries and returns it.
pub fn write_embedded(
    embedded: &Embedded,
    check: Check,
    places: &Places,
) -> Result<PathBuf, LibraryError> {
    let cache_error = match &places.cache {
        Some(cache) => {
            let dir = cache.join(embedded.hash);
            match ensure(&dir, embedded, check) {
                Ok(()) => return Ok(dir),
                Err(e) => Some((dir, e)),
            }
        }
        None => None,
    };
    let fallback = places.fallback.join(embedded.hash);
    let fallback_result = private_dir(&places.fallback).and_then(|()| {
        // The user's own 0700 directory: nobody else can have put a file in it.
        ensure(&fallback, embedded, check)
    });
    match (fallback_result, cache_error) {
        (Ok(()), Some((dir, e))) => {
            mocket_engine::say(&format!(
                "cannot write libmocket.so and libmocket_engine.so to {} ({e}); using {} \
                 instead (make the first writable, or set XDG_CACHE_HOME, to keep one copy)",
                dir.display(),
                fallback.display()
            ));
            Ok(fallback)
        }
        (Ok(()), None) => Ok(fallback),
        (Err(fallback_error), cache_error) => {
            let (cache, cache_error) = cache_error.unwrap_or_else(|| {
                let e = io::Error::new(
                    io::ErrorKind::NotFound,
                    "neither XDG_CACHE_HOME nor HOME is set",
                );
                (PathBuf::from("$XDG_CACHE_HOME/mocket"), e)
            });
            Err(LibraryError::Unwritable {
                cache,
                cache_error,
                fallback,
                fallback_error,
            })
        }
    }
}

/// Makes `dir` hold the libraries as embedded, rewriting a missing, short or altered copy.
fn ensure(dir: &Path, embedded: &Embedded, check: Check) -> io::Result<()> {
    let files = [
        (SHIM, embedded.shim, true),
        (RUST_SHIM, embedded.rust_shim, true),
        (ENGINE, embedded.engine, check == Check::Both),
    ];
    for (name, bytes, whole) in files {
        let path = dir.join(name);
        if !holds(&path, bytes, whole) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
            remove_abandoned_temporaries(dir);
            write_atomically(&path, bytes)?;
        }
    }
    Ok(())
}

/// How old a temporary file must be before it counts as left by a killed writer (a live one
/// renames it within seconds).
const ABANDONED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);

/// Removes the temporary files of writers killed mid-write (best effort; only when writing).
fn remove_abandoned_temporaries(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let abandoned = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > ABANDONED_AFTER));
        if name.starts_with('.') && name.ends_with(".tmp") && abandoned {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Whether `path` has the size of `bytes` and, when `whole`, their content.
fn holds(path: &Path, bytes: &[u8], whole: bool) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    if !file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
    {
        return false;
    }
    if !whole {
        return true;
    }
    // Small and reused: a larger buffer costs more in fresh pages than it saves in reads.
    let mut buffer = [0u8; 64 * 1024];
    let mut rest = bytes;
    while !rest.is_empty() {
        let want = rest.len().min(buffer.len());
        if file.read_exact(&mut buffer[..want]).is_err() || buffer[..want] != rest[..want] {
            return false;
        }
        rest = &rest[want..];
    }
    true
}

/// Writes `bytes` to a new file beside `path`, syncs it and renames it over `path`: a reader
/// sees the old file or the whole new one, never part of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let temporary = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        // The rename itself survives a crash once the directory is synced.
        File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

/// Creates `dir` (mode 0700), or accepts it if it exists and is a directory of this user that
/// nobody else can write (a shared `/tmp` must not hand us someone else's library).
fn private_dir(dir: &Path) -> io::Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        Err(_) => {}
    }
    let meta = fs::symlink_metadata(dir)?;
    let uid = rustix::process::geteuid().as_raw();
    if meta.is_dir() && meta.uid() == uid && meta.mode() & 0o022 == 0 {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a directory only user {uid} can write",
                dir.display()
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
