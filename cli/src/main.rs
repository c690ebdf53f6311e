//! `mocket`: run a command under mocks, check a mocks file.

#![forbid(unsafe_code)]

mod dns_server;
mod elf;
mod libraries;
mod run;
mod seccomp;
mod serve;
mod supervisor;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mocket_engine::ca_store::{self, CaFiles, CaStoreError};

/// Socket-level network mocking for any dynamically linked Linux process.
#[derive(Parser)]
#[command(name = "mocket", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs CMD with libmocket.so preloaded and a daemon engine shared by its whole process tree.
    Run(run::RunArgs),
    /// Validates a mocks file: errors name the file, line, column and key.
    Check {
        /// The mocks file.
        file: PathBuf,
    },
    /// Serves the entries of a mocks file as ordinary servers, one listener per destination, for
    /// clients LD_PRELOAD cannot reach (Go, static binaries) and for manual use with curl.
    Serve(serve::ServeArgs),
    /// Prints the path of the mocket CA certificate (creating the CA on first use).
    Ca,
    /// Prints the path of libmocket.so for a bare `LD_PRELOAD="$(mocket shim)" cmd` (writing
    /// the library and its engine to the per-user cache first if needed).
    Shim,
    /// Internal: what `mocket run` starts, which ties itself to `mocket run`'s life and then
    /// becomes CMD.
    #[command(name = "__exec", hide = true)]
    Exec(run::ExecArgs),
}

/// Exit status for unusable input (a broken mocks file, a bad flag).
pub const EXIT_BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Run(args) => run::run(args),
        Command::Check { file } => check(&file),
        Command::Serve(args) => serve::serve(args),
        Command::Ca => ca(),
        Command::Shim => shim(),
        Command::Exec(args) => run::exec(args),
    }
}

fn ca() -> ExitCode {
    let loaded = CaFiles::from_env()
        .map_err(CaStoreError::from)
        .and_then(|files| {
            let ca = ca_store::load_or_create(&files)?;
            // The bundle a bare LD_PRELOAD points SSL_CERT_FILE and friends at (best effort: a
            // given CA may live in a read-only place).
            let _ = mocket_engine::trust::write_bare_bundle(&files, ca.cert_pem());
            Ok(files)
        });
    match loaded {
        Ok(files) => {
            println!("{}", files.cert.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            mocket_engine::say(&e.to_string());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn shim() -> ExitCode {
    match libraries::shim_path(libraries::Check::Both) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            mocket_engine::say(&e.to_string());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}

fn check(file: &std::path::Path) -> ExitCode {
    match mocket_config::Config::load(file) {
        Ok(config) => {
            println!("{}: ok ({} entries)", file.display(), config.entries.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            mocket_engine::say(&e.to_string());
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
