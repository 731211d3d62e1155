//! Run N exporters on loopback for manual tries: `cargo run --example fleet -- 20`.
//! Prints one `--target` argument per exporter.

use scrapetop::exporter::{Exporter, ExporterConfig};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let mut all = Vec::new();
    for _ in 0..n {
        let e = Exporter::start(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            ExporterConfig::default(),
        )
        .await?;
        print!("--target {} ", e.addr());
        all.push(e);
    }
    println!();
    tokio::signal::ctrl_c().await?;
    Ok(())
}
