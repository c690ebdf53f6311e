//! The daemon placement's control socket: the shim of every process under `mocket run` asks its
//! questions here, one line per request (see [`crate::control`]).

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;

use crate::engine::Engine;

/// Listens on `path` and answers every connection on its own thread, until the process exits.
pub fn serve_control(engine: Arc<Engine>, path: &Path) -> io::Result<()> {
    let listener = UnixListener::bind(path)?;
    std::thread::Builder::new()
        .name("mocket-control".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let engine = Arc::clone(&engine);
                let _ = std::thread::Builder::new()
                    .name("mocket-control-conn".into())
                    .spawn(move || answer(&engine, stream));
            }
        })?;
    Ok(())
}

fn answer(engine: &Arc<Engine>, stream: UnixStream) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let mut reply = engine.handle_line(&line);
        reply.push('\n');
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}
