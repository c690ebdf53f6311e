//! `mocket serve`: the same entries served by ordinary listeners, one per destination, for
//! clients that `LD_PRELOAD` cannot reach (Go, static binaries) and for trying entries by hand
//! with curl. Not a placement of the engine: nothing is intercepted or redirected.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;

use mocket_protocols::field::Destination;

use super::{Claim, Engine};

impl Engine {
    /// The destinations that have entries, in file order of their first entry.
    pub fn destinations(&self) -> Vec<Destination> {
        let mut out: Vec<Destination> = Vec::new();
        for entry in self.config.iter().flat_map(|c| c.entries.iter()) {
            if !out.contains(entry.destination()) {
                out.push(entry.destination().clone());
            }
        }
        out
    }

    /// Serves `dest`'s entries on `listener` until the process exits (see [`super::pool`] for
    /// the threads).
    pub fn serve_destination(
        self: &Arc<Self>,
        listener: TcpListener,
        dest: Destination,
    ) -> io::Result<()> {
        let engine = Arc::clone(self);
        self.spawn("mocket-serve", move || {
            let name = format!("the listener for {dest}");
            engine.accept_loop(&listener, &name, |stream| {
                let _ = stream.set_nodelay(true);
                engine.idle_timeout.apply(&stream);
                let claim = Claim {
                    pid: 0,
                    dest: dest.clone(),
                    local: stream.local_addr().ok(),
                };
                let conn = Arc::clone(&engine);
                if let Err(e) = engine.run_connection(move || conn.serve(stream, claim)) {
                    engine.warn(&format!("cannot start a connection thread: {e}"));
                }
            })
        })?;
        Ok(())
    }
}
