//! The shim's line to the engine: a daemon behind `MOCKET_SOCKET` (under `mocket run`), or the
//! embedded engine library, loaded on first use next to `libmocket.so` (under a bare
//! `LD_PRELOAD`).

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_void};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use mocket_control::log_level::LogLevel;

/// The longest reply line read from the daemon.
const MAX_REPLY: usize = 64 * 1024;

type RequestFn = unsafe extern "C" fn(*const u8, usize, *mut u8, usize) -> isize;
type SetHookFn = unsafe extern "C" fn(extern "C" fn());

/// The embedded engine's side of the test API's C functions (see `crate::control_api`).
pub type OnMessage = unsafe extern "C" fn(*mut c_void, *const u8, usize);
type OpenFn = unsafe extern "C" fn(Option<OnMessage>, *mut c_void) -> u64;
type SendFn = unsafe extern "C" fn(u64, *const u8, usize, *mut usize) -> *mut u8;
type FreeFn = unsafe extern "C" fn(*mut u8, usize);
type CloseFn = unsafe extern "C" fn(u64);
pub struct ControlFns {
    pub open: OpenFn,
    pub send: SendFn,
    pub free: FreeFn,
    pub close: CloseFn,
}

enum Link {
    Daemon(PathBuf),
    Embedded(RequestFn, Option<ControlFns>),
}

static LINK: OnceLock<Result<Link, String>> = OnceLock::new();
static WARN: OnceLock<bool> = OnceLock::new();

/// Whether warnings go to stderr (`MOCKET_LOG` is not `error`).
pub fn log_warnings() -> bool {
    *WARN.get_or_init(|| {
        !std::env::var("MOCKET_LOG").is_ok_and(|v| LogLevel::parse(&v) == Ok(LogLevel::Error))
    })
}

/// Sends one request line and returns the reply line, or why the engine could not be reached.
pub fn ask(request: &str) -> Result<String, String> {
    match LINK.get_or_init(open) {
        Ok(Link::Daemon(path)) => ask_daemon(path, request),
        Ok(Link::Embedded(f, _)) => Ok(ask_embedded(*f, request)),
        Err(e) => Err(e.clone()),
    }
}

fn open() -> Result<Link, String> {
    if let Some(path) = std::env::var_os("MOCKET_SOCKET").filter(|p| !p.is_empty()) {
        return Ok(Link::Daemon(PathBuf::from(path)));
    }
    let lib = std::env::var_os("MOCKET_ENGINE_LIB")
        .map(PathBuf::from)
        .or_else(|| own_path().map(|p| p.with_file_name("libmocket_engine.so")))
        .ok_or("cannot find libmocket_engine.so (set MOCKET_ENGINE_LIB)")?;
    load_engine(&lib).map(|(request, control)| Link::Embedded(request, control))
}

/// The embedded engine's control functions, loading the engine if needed; why not when they
/// cannot be had.
pub fn control_fns() -> Result<&'static ControlFns, String> {
    match LINK.get_or_init(open) {
        Ok(Link::Embedded(_, Some(fns))) => Ok(fns),
        Ok(Link::Embedded(_, None)) => Err(
            "the embedded engine library does not export the control functions (an older \
             libmocket_engine.so? set MOCKET_ENGINE_LIB)"
                .into(),
        ),
        Ok(Link::Daemon(path)) => Err(format!(
            "MOCKET_SOCKET is set: the daemon's control socket {} serves the test API, not \
             mocket_control_open",
            path.display()
        )),
        Err(e) => Err(e.clone()),
    }
}

/// A control connection kept per thread: a fresh one per question would cost a connect and a
/// daemon thread each time. It is used only by the thread and process that opened it, and only
/// while its fd is still the socket it opened (an application may close fds it does not own).
struct Channel {
    pid: u32,
    inode: u64,
    reader: BufReader<UnixStream>,
}

thread_local! {
    static CHANNEL: RefCell<Option<Channel>> = const { RefCell::new(None) };
}

impl Channel {
    fn open(path: &Path) -> std::io::Result<Channel> {
        let stream = UnixStream::connect(path)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let inode = inode(stream.as_raw_fd()).unwrap_or(0);
        Ok(Channel {
            pid: crate::pid::current(),
            inode,
            reader: BufReader::new(stream),
        })
    }

    fn still_ours(&self) -> bool {
        self.pid == crate::pid::current()
            && inode(self.reader.get_ref().as_raw_fd()) == Some(self.inode)
    }

    fn exchange(&mut self, request: &str) -> std::io::Result<String> {
        self.send(request)?;
        self.read_reply()
    }

    fn send(&mut self, request: &str) -> std::io::Result<()> {
        send_all(self.reader.get_ref(), format!("{request}\n").as_bytes())
    }

    fn read_reply(&mut self) -> std::io::Result<String> {
        let mut reply = String::new();
        (&mut self.reader)
            .take(MAX_REPLY as u64)
            .read_line(&mut reply)?;
        // A reply is whole only with its line break: anything else (the daemon closed the
        // connection, or sent a line too long to be a reply) is an error, never half a reply.
        match reply.strip_suffix('\n') {
            Some(line) => Ok(line.to_string()),
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// Writes all of `bytes` with `send(MSG_NOSIGNAL)`: a daemon that went away is an error
/// (`EPIPE`), never a SIGPIPE that would kill the application.
fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: bytes is valid for reads of its length; the fd is the stream's own socket.
        let n = unsafe {
            libc::send(
                stream.as_raw_fd(),
                bytes.as_ptr().cast(),
                bytes.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        match n {
            n if n > 0 => bytes = &bytes[n as usize..],
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

fn inode(fd: std::os::fd::RawFd) -> Option<u64> {
    // SAFETY: fstat writes into a stat struct we own; an invalid fd only makes it fail.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st.st_ino)
}

fn ask_daemon(path: &Path, request: &str) -> Result<String, String> {
    on_channel(path, |channel| channel.exchange(request))
}

/// Runs `exchange` on this thread's channel to the daemon at `path`, opened (again) when
/// needed.
fn on_channel<T>(
    path: &Path,
    exchange: impl Fn(&mut Channel) -> std::io::Result<T>,
) -> Result<T, String> {
    let fail =
        |e: std::io::Error| format!("cannot reach the mocket daemon at {}: {e}", path.display());
    let asked = CHANNEL.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(channel) = slot.take() {
            if channel.still_ours() {
                *slot = Some(channel);
            } else {
                // Another process's or another file's fd now: never touch it.
                std::mem::forget(channel);
            }
        }
        if let Some(reply) = slot.as_mut().and_then(|c| exchange(c).ok()) {
            return Ok(reply);
        }
        // No channel yet, or the daemon dropped it: one fresh attempt.
        let mut channel = Channel::open(path).map_err(fail)?;
        let reply = exchange(&mut channel).map_err(fail)?;
        *slot = Some(channel);
        Ok(reply)
    });
    // A thread being torn down has no thread-locals left: use a one-off connection.
    asked.unwrap_or_else(|_| {
        Channel::open(path)
            .and_then(|mut c| exchange(&mut c))
            .map_err(fail)
    })
}

fn ask_embedded(f: RequestFn, request: &str) -> String {
    let mut out = vec![0u8; 8192];
    // SAFETY: both buffers are valid for the lengths passed; the engine writes at most
    // `out.len()` bytes and returns how many it wrote.
    let n = unsafe { f(request.as_ptr(), request.len(), out.as_mut_ptr(), out.len()) };
    out.truncate(n.clamp(0, out.len() as isize) as usize);
    String::from_utf8_lossy(&out).into_owned()
}

/// The path of this library, from the dynamic loader.
fn own_path() -> Option<PathBuf> {
    // SAFETY: dladdr only reads its first argument as an address and fills `info`.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    let anchor = own_path as *const c_void;
    // SAFETY: as above.
    if unsafe { libc::dladdr(anchor, &mut info) } == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: dli_fname is a NUL-terminated string owned by the loader.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

fn load_engine(path: &Path) -> Result<(RequestFn, Option<ControlFns>), String> {
    use std::os::unix::ffi::OsStrExt;
    let fail = |what: &str| format!("cannot load the embedded engine {}: {what}", path.display());
    let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| fail("bad path"))?;
    // SAFETY: dlopen of a NUL-terminated path; the library's initializers are Rust's own.
    let handle = unsafe { libc::dlopen(cpath.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns null or a NUL-terminated message.
        let err = unsafe { libc::dlerror() };
        let msg = if err.is_null() {
            "unknown error".into()
        } else {
            // SAFETY: non-null dlerror result is a valid C string.
            unsafe { CStr::from_ptr(err) }
                .to_string_lossy()
                .into_owned()
        };
        return Err(fail(&msg));
    }
    // SAFETY: looking up NUL-terminated names in a handle dlopen returned.
    let request = unsafe { libc::dlsym(handle, c"mocket_engine_request".as_ptr()) };
    // SAFETY: as above.
    let set_hook = unsafe { libc::dlsym(handle, c"mocket_engine_set_thread_hook".as_ptr()) };
    if request.is_null() || set_hook.is_null() {
        return Err(fail("it does not export the mocket engine interface"));
    }
    // SAFETY: both symbols are defined by mocket-embedded with exactly these signatures.
    let request = unsafe {
        let set_hook: SetHookFn = std::mem::transmute(set_hook);
        set_hook(crate::guard::mark_internal_thread);
        std::mem::transmute::<*mut c_void, RequestFn>(request)
    };
    Ok((request, control_symbols(handle)))
}

/// The control functions of the engine library `handle`, when it exports all four.
fn control_symbols(handle: *mut c_void) -> Option<ControlFns> {
    let symbol = |name: &CStr| {
        // SAFETY: looking up a NUL-terminated name in a handle dlopen returned.
        let f = unsafe { libc::dlsym(handle, name.as_ptr()) };
        (!f.is_null()).then_some(f)
    };
    let open = symbol(c"mocket_engine_control_open")?;
    let send = symbol(c"mocket_engine_control_send")?;
    let free = symbol(c"mocket_engine_control_free")?;
    let close = symbol(c"mocket_engine_control_close")?;
    // SAFETY: mocket-embedded defines these symbols with exactly the signatures of ControlFns.
    unsafe {
        Some(ControlFns {
            open: std::mem::transmute::<*mut c_void, OpenFn>(open),
            send: std::mem::transmute::<*mut c_void, SendFn>(send),
            free: std::mem::transmute::<*mut c_void, FreeFn>(free),
            close: std::mem::transmute::<*mut c_void, CloseFn>(close),
        })
    }
}

use mocket_control::Request;
pub use mocket_control::{Reply, Transport};

/// Asks; an unreachable engine or an unreadable reply is a refusal (fail closed).
fn request(request: Request) -> Reply {
    let line = match request.to_line() {
        Ok(line) => line,
        Err(e) => return Reply::Refuse(format!("mocket cannot ask about this: {e}")),
    };
    match ask(&line) {
        Ok(line) => Reply::parse(&line)
            .unwrap_or_else(|e| Reply::Refuse(format!("unreadable engine reply {line:?}: {e}"))),
        Err(e) => Reply::Refuse(e),
    }
}

fn pid() -> u32 {
    crate::pid::current()
}

pub fn resolve(name: &str) -> Reply {
    request(Request::Resolve {
        pid: pid(),
        name: name.to_string(),
    })
}

pub fn resolved(name: &str, addrs: &[std::net::IpAddr]) {
    let _ = request(Request::Resolved {
        pid: pid(),
        name: name.to_string(),
        addrs: addrs.to_vec(),
    });
}

pub fn query(name: &str) -> Reply {
    request(Request::Query {
        pid: pid(),
        name: name.to_string(),
    })
}

pub fn ca() -> Reply {
    request(Request::Ca { pid: pid() })
}

pub fn reverse(addr: std::net::IpAddr) -> Reply {
    request(Request::Reverse { pid: pid(), addr })
}

pub fn route(transport: Transport, dest: std::net::SocketAddr) -> Reply {
    request(Request::Route {
        pid: pid(),
        transport,
        addr: dest.ip(),
        port: dest.port(),
    })
}
