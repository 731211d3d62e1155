//! Test helper for the network-namespace suite (`tests/netns.rs`), not for users.
//!
//! The suite runs programs inside namespaces with `ip netns exec`, so anything it needs there
//! must be a program:
//!
//! - `serve IP PORT[-LAST] [LINES]`: the crate's own exporter (`scrapetop::exporter`) on every
//!   port of the range, prints `ready` once all are listening, runs until killed.
//! - `get URL`: a plain HTTP/1.0 GET (`http://IP:PORT/path`), body on stdout, exit 1 unless
//!   the status is 200. Used to read Prometheus's API and nginx's stub_status from inside a
//!   namespace.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use scrapetop::exporter::{Exporter, ExporterConfig};

const USAGE: &str =
    "usage: scrapetop-testexporter serve IP PORT[-LAST] [LINES] | get http://IP:PORT/PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let res = match args.first().map(String::as_str) {
        Some("serve") if args.len() >= 3 => serve(&args[1], &args[2], args.get(3)),
        Some("get") if args.len() == 2 => get(&args[1]),
        _ => Err(USAGE.to_owned()),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scrapetop-testexporter: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(ip: &str, ports: &str, lines: Option<&String>) -> Result<(), String> {
    let ip: IpAddr = ip.parse().map_err(|e| format!("address {ip:?}: {e}"))?;
    let (first, last) = match ports.split_once('-') {
        Some((a, b)) => (a, b),
        None => (ports, ports),
    };
    let port = |s: &str| s.parse::<u16>().map_err(|e| format!("port {s:?}: {e}"));
    let (first, last) = (port(first)?, port(last)?);
    let lines = match lines {
        Some(l) => l.parse().map_err(|e| format!("lines {l:?}: {e}"))?,
        None => 20,
    };
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let mut running = Vec::new();
        for p in first..=last {
            let cfg = ExporterConfig {
                lines,
                name: "testexporter".to_owned(),
                ..Default::default()
            };
            let e = Exporter::start(SocketAddr::new(ip, p), cfg)
                .await
                .map_err(|e| format!("listen on {ip}:{p}: {e}"))?;
            running.push(e);
        }
        println!("ready");
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
        drop(running);
        Ok(())
    })
}

fn get(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url:?}: only http:// URLs"))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|e| format!("{hostport:?}: {e} (give IP:PORT)"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).map_err(|e| format!("read: {e}"))?;
    let resp = String::from_utf8_lossy(&resp);
    let (head, body) = resp
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP header in {resp:?}"))?;
    print!("{body}");
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!("status {status}: {head}"))
    }
}
