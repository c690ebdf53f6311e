//! `mocket serve`: the entries of a mocks file behind ordinary listeners, one per destination.

use std::net::{IpAddr, TcpListener};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use mocket_config::{LogLevel, Settings};
use mocket_engine::Engine;
use mocket_engine::journal::Journal;

use crate::EXIT_BAD_INPUT;

#[derive(Args)]
pub struct ServeArgs {
    /// The mocks file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// The first port: destinations are served on PORT, PORT+1, ... in file order. Default: any
    /// free ports.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Append one JSON line per request to FILE.
    #[arg(long, value_name = "FILE")]
    journal: Option<PathBuf>,
    /// error, warn (default), info or debug.
    #[arg(long, value_name = "LEVEL")]
    log: Option<String>,
}

pub fn serve(args: ServeArgs) -> ExitCode {
    match start(&args) {
        Ok(()) => loop {
            std::thread::park();
        },
        Err(e) => {
            mocket_engine::say(&e.to_string());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn start(args: &ServeArgs) -> Result<(), String> {
    let settings = Settings {
        config: Some(args.config.clone()),
        ..Settings::default()
    };
    let config = settings.load().map_err(|e| e.to_string())?;
    let log = args
        .log
        .as_deref()
        .map(LogLevel::parse)
        .transpose()
        .map_err(|e| format!("--log: {e}"))?;
    let journal = Journal::open(args.journal.as_deref()).map_err(|e| format!("--journal: {e}"))?;
    let engine = Engine::with_config(Ok(Arc::new(config)), log.unwrap_or_default(), journal, None);
    let destinations = engine.destinations();
    if destinations.is_empty() {
        return Err(format!("{}: no entries to serve", args.config.display()));
    }
    for (i, dest) in destinations.into_iter().enumerate() {
        let port = match args.port {
            Some(first) => first.checked_add(i as u16).ok_or("--port: out of ports")?,
            None => 0,
        };
        let listener = TcpListener::bind((args.bind, port))
            .map_err(|e| format!("cannot listen on {}:{port}: {e}", args.bind))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        println!("{dest} -> {local}");
        engine
            .serve_destination(listener, dest)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
