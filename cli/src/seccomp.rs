//! `--seccomp` around `mocket run`: when it is on, how the filter's listener travels from the
//! child (which installs the filter in `mocket __exec`, just before becoming CMD) to the daemon.
//!
//! The hand-off: `__exec` connects to a Unix socket in the run's private directory, installs
//! the filter, writes the listener's descriptor number and waits; the daemon takes that
//! descriptor out of the child with `pidfd_getfd` and says `ok`; `__exec` closes its copy and
//! execs. Only `write`/`read` are used after the filter is in place: a `connect` or `sendmsg`
//! would wait for a supervisor that does not have the listener yet.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mocket_seccomp::{Caller, FilterOptions, Listener};

/// How long either side of the hand-off waits for the other.
const HANDOFF_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `mocket run` intercepts with seccomp: `--seccomp`, else `MOCKET_SECCOMP` (`1` or
/// `0`), else on when CMD is a static executable.
pub fn wanted(flag: bool, program: &OsStr) -> Result<bool, String> {
    if flag {
        return Ok(true);
    }
    match std::env::var("MOCKET_SECCOMP").as_deref() {
        Ok("1") => Ok(true),
        Ok("0") => Ok(false),
        Ok(other) => Err(format!(
            "MOCKET_SECCOMP={other:?}: use 1 (intercept with seccomp) or 0 (never, even for a static CMD)"
        )),
        Err(_) => Ok(crate::elf::is_static_executable(program)),
    }
}

/// The daemon's end of the hand-off, created before CMD is started.
pub struct Handoff {
    listener: UnixListener,
    pub path: PathBuf,
}

impl Handoff {
    pub fn create(dir: &Path) -> Result<Handoff, String> {
        mocket_seccomp::supported().map_err(|e| {
            format!(
                "--seccomp: {e}; run without --seccomp (MOCKET_SECCOMP=0) to use LD_PRELOAD only"
            )
        })?;
        let path = dir.join("seccomp.sock");
        let listener = UnixListener::bind(&path)
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| format!("--seccomp: cannot listen on {}: {e}", path.display()))?;
        Ok(Handoff { listener, path })
    }

    /// Takes the filter's listener from `child` (the `__exec` process); `alive` says whether
    /// it still runs.
    pub fn receive(&self, child: u32, mut alive: impl FnMut() -> bool) -> Result<Listener, String> {
        let start = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !alive() || start.elapsed() > HANDOFF_TIMEOUT {
                        return Err(
                            "--seccomp: the command ended before installing the filter".into()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(format!("--seccomp: hand-off failed: {e}")),
            }
        };
        let fail = |e: String| format!("--seccomp: cannot take the filter's listener: {e}");
        stream
            .set_nonblocking(false)
            .map_err(|e| fail(e.to_string()))?;
        stream
            .set_read_timeout(Some(HANDOFF_TIMEOUT))
            .map_err(|e| fail(e.to_string()))?;
        let mut line = String::new();
        BufReader::new(&stream)
            .read_line(&mut line)
            .map_err(|e| fail(e.to_string()))?;
        let fd: i32 = line
            .trim()
            .parse()
            .map_err(|_| fail(format!("bad hand-off line {line:?}")))?;
        let listener = Caller::open(child)
            .and_then(|caller| caller.take_fd(fd))
            .map(Listener::from)
            .map_err(|e| fail(format!("pidfd_getfd: {e}")))?;
        (&stream)
            .write_all(b"ok\n")
            .map_err(|e| fail(e.to_string()))?;
        Ok(listener)
    }
}

/// In `mocket __exec`: installs the filter and hands its listener to the daemon at `path`.
pub fn install(path: &Path, strict: bool) -> Result<(), String> {
    let fail = |e: String| format!("--seccomp: {e}");
    let stream = UnixStream::connect(path).map_err(|e| {
        fail(format!(
            "cannot reach mocket run at {}: {e}",
            path.display()
        ))
    })?;
    stream
        .set_read_timeout(Some(HANDOFF_TIMEOUT))
        .map_err(|e| fail(e.to_string()))?;
    let listener =
        mocket_seccomp::install(FilterOptions { strict }).map_err(|e| fail(e.to_string()))?;
    (&stream)
        .write_all(format!("{}\n", listener.as_raw_fd()).as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut reply = String::new();
    BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(|e| fail(e.to_string()))?;
    if reply != "ok\n" {
        return Err(fail("mocket run did not take the filter's listener".into()));
    }
    // Only the daemon may hold the listener: if it dies, the tree's calls fail (ENOSYS).
    drop(listener);
    Ok(())
}
