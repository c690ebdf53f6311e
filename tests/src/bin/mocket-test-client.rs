//! A Rust client for the integration tests: `mocket-test-client std|tokio HOST PORT SEND`
//! connects, sends SEND, half-closes, and prints everything it receives (as text).

#![forbid(unsafe_code)]

use std::io::{Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, host, port, send] = args.as_slice() else {
        eprintln!("usage: mocket-test-client std|tokio HOST PORT SEND");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("port");
    let received = match mode.as_str() {
        "std" => with_std(host, port, send.as_bytes()),
        "tokio" => with_tokio(host, port, send.as_bytes()),
        other => panic!("unknown mode {other}"),
    };
    match received {
        Ok(bytes) => print!("{}", String::from_utf8_lossy(&bytes)),
        Err(e) => {
            eprintln!("client error: {e}");
            std::process::exit(1);
        }
    }
}

fn with_std(host: &str, port: u16, send: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut s = std::net::TcpStream::connect((host, port))?;
    s.write_all(send)?;
    s.shutdown(std::net::Shutdown::Write)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    Ok(out)
}

fn with_tokio(host: &str, port: u16, send: &[u8]) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut s = tokio::net::TcpStream::connect((host, port)).await?;
        s.write_all(send).await?;
        s.shutdown().await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok(out)
    })
}
