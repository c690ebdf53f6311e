//! The daemon's side of a JSON control session: one connection to `MOCKET_SOCKET`, served on a
//! thread of its own for its whole life. Replies and responder calls share the connection,
//! each written whole under one lock; closing the connection closes the session's scopes.
//!
//! After answering, the thread reads without sleeping for [`NEXT_REQUEST_SPIN`] before it
//! blocks: a test's next request often follows at once (a register after a register), and on
//! an idle machine waking a sleeping thread costs about as much as the request (issue 12).

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mocket_shim_api::{Spin, read_soon};

use super::protocol::{self, ErrorKind, MAX_MESSAGE, ProtocolError};
use super::session::{Handled, Placement};
use crate::Engine;
use crate::control::sync::lock;

/// How long a write to a client that does not read may block an engine thread; after it the
/// session is treated as gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the session's thread waits for the next request without sleeping after answering
/// one. Bounded: a test that sends nothing more costs this much CPU once, then nothing (and
/// [`Spin`] turns spinning off while it does not pay: on a loaded machine).
pub const NEXT_REQUEST_SPIN: Duration = Duration::from_micros(50);

/// Serves `stream` (whose first bytes, `already`, were read by the control server) on a new
/// thread. A thread that cannot start closes the connection, which the client reads as a
/// closed session.
pub fn serve_session(engine: &Arc<Engine>, stream: UnixStream, already: Vec<u8>) {
    let engine_for_thread = Arc::clone(engine);
    let spawned = engine.spawn("mocket-session", move || {
        if let Err(e) = run(&engine_for_thread, stream, already) {
            engine_for_thread.info(&format!("a control session ended: {e}"));
        }
    });
    if let Err(e) = spawned {
        engine.warn(&format!("cannot start a thread for a control session: {e}"));
    }
}

fn run(engine: &Arc<Engine>, stream: UnixStream, already: Vec<u8>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let writer = Arc::new(Mutex::new(stream.try_clone()?));
    let sink_writer = Arc::clone(&writer);
    let session = engine.control_open(Box::new(move |message: &str| {
        write_line(&sink_writer, message).is_ok()
    }));
    let served = read_messages(engine, stream, already, session, &writer);
    engine.control_close(session);
    served
}

/// Reads and answers messages until the client closes the connection or breaks the framing.
fn read_messages(
    engine: &Arc<Engine>,
    stream: UnixStream,
    mut input: Vec<u8>,
    session: u64,
    writer: &Arc<Mutex<UnixStream>>,
) -> io::Result<()> {
    let mut scanned = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut spin = Spin::new(NEXT_REQUEST_SPIN);
    loop {
        while let Some(end) = input[scanned..].iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = input.drain(..scanned + end + 1).collect();
            scanned = 0;
            answer(engine, session, &line[..line.len() - 1], writer)?;
        }
        if scanned == 0 && input.is_empty() {
            spin.arm();
        }
        scanned = input.len();
        if input.len() > MAX_MESSAGE {
            let error = ProtocolError::new(
                ErrorKind::BadRequest,
                format!(
                    "a message longer than {} MiB; the session is closed",
                    MAX_MESSAGE >> 20
                ),
            );
            let _ = write_line(writer, &protocol::error_reply(None, &error));
            return Ok(());
        }
        let n = read_soon(&stream, &mut buf, &mut spin)?;
        if n == 0 {
            return Ok(());
        }
        input.extend_from_slice(&buf[..n]);
    }
}

fn answer(
    engine: &Arc<Engine>,
    session: u64,
    line: &[u8],
    writer: &Arc<Mutex<UnixStream>>,
) -> io::Result<()> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    match engine.control_handle(session, line, Placement::Daemon, false) {
        Handled::Reply(reply) => write_line(writer, &reply),
        // Waiting for a lease must not stop the session's other requests (the `respond` of
        // another test's call, above all): it waits on a thread of its own.
        Handled::WouldWait => {
            let (engine_for_wait, line, writer) =
                (Arc::clone(engine), line.to_vec(), Arc::clone(writer));
            let spawned = engine.spawn("mocket-lease-wait", move || {
                if let Handled::Reply(reply) =
                    engine_for_wait.control_handle(session, &line, Placement::Daemon, true)
                {
                    let _ = write_line(&writer, &reply);
                }
            });
            spawned.map(|_| ())
        }
        Handled::NoSession => Err(io::ErrorKind::NotConnected.into()),
    }
}

fn write_line(writer: &Mutex<UnixStream>, message: &str) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(message.len() + 1);
    bytes.extend_from_slice(message.as_bytes());
    bytes.push(b'\n');
    lock(writer).write_all(&bytes)
}
