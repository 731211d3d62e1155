//! Runs the TUI against a fake event source (no engine, no network): a few targets whose
//! scrapes tick every second, and whose commands are answered. Shows that `tui::run` works with
//! any event source. `cargo run --example tui_fake`
use std::sync::Arc;
use std::time::Duration;

use scrapetop::event::{
    CloseReason, Command, ConnInfo, Event, EventKind, PoolKey, Scheme, ScrapeResult, TargetId,
    TargetRef,
};
use scrapetop::tui::{TuiOptions, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (ev_tx, ev_rx) = tokio::sync::mpsc::channel::<Event>(4096);
    let (cmd_tx, mut cmd_rx) =
        tokio::sync::mpsc::channel::<Command>(scrapetop::engine::COMMAND_QUEUE);
    let targets: Vec<Arc<TargetRef>> = (0..30)
        .map(|i| {
            Arc::new(TargetRef {
                id: TargetId(i),
                job: format!("job{}", i % 3).into(),
                instance: format!("127.0.0.1:{}", 9100 + i).into(),
            })
        })
        .collect();
    let feeder = tokio::spawn({
        let targets = targets.clone();
        async move {
            for t in &targets {
                let port = 9100 + t.id.0 as u16;
                let _ = ev_tx
                    .send(Event::now(
                        Some(t.clone()),
                        EventKind::TargetAdded {
                            url: format!("http://{}/metrics", t.instance),
                            pool: pool(t, port),
                            interval_s: 1.0,
                            timeout_s: 1.0,
                            labels: Default::default(),
                        },
                    ))
                    .await;
                let _ = ev_tx
                    .send(Event::now(
                        Some(t.clone()),
                        EventKind::ConnOpened(ConnInfo {
                            conn_id: t.id.0,
                            pool: pool(t, port),
                            fd: 20 + t.id.0 as i32,
                            local: ([127, 0, 0, 1], 40000 + port).into(),
                            peer: ([127, 0, 0, 1], port).into(),
                            connect_ms: 0.2,
                            tls: None,
                        }),
                    ))
                    .await;
            }
            let mut next_conn = 1000;
            let mut conn_of: Vec<u64> = targets.iter().map(|t| t.id.0).collect();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        for (i, t) in targets.iter().enumerate() {
                            let ev = Event::now(Some(t.clone()), EventKind::Scrape(ScrapeResult { conn_id: Some(conn_of[i]), reused: true, status: Some(200), duration_ms: 1.0 + i as f64, bytes: 1000, samples: 10, up: true, error: None }));
                            if ev_tx.send(ev).await.is_err() { return; }
                        }
                    }
                    Some(cmd) = cmd_rx.recv() => {
                        if cmd == Command::Quit { return; }
                        if let Command::Reconnect(sel) = cmd {
                            for (i, t) in targets.iter().enumerate() {
                                if sel.matches(t) {
                                    let port = 9100 + t.id.0 as u16;
                                    let _ = ev_tx.send(Event::now(Some(t.clone()), EventKind::ConnClosed { conn_id: conn_of[i], fd: 20 + t.id.0 as i32, reason: CloseReason::Forced, lifetime_s: 1.0, requests: 1 })).await;
                                    next_conn += 1;
                                    conn_of[i] = next_conn;
                                    let _ = ev_tx.send(Event::now(Some(t.clone()), EventKind::ConnOpened(ConnInfo { conn_id: next_conn, pool: pool(t, port), fd: 20 + t.id.0 as i32, local: ([127, 0, 0, 1], 30000 + (next_conn % 20000) as u16).into(), peer: ([127, 0, 0, 1], port).into(), connect_ms: 0.2, tls: None }))).await;
                                }
                            }
                        }
                    }
                }
            }
        }
    });
    let opts = TuiOptions {
        demo: true,
        export_dir: std::env::temp_dir(),
        ..TuiOptions::default()
    };
    run(opts, ev_rx, cmd_tx).await?;
    feeder.abort();
    Ok(())
}

fn pool(t: &TargetRef, port: u16) -> PoolKey {
    PoolKey {
        job: t.job.clone(),
        scheme: Scheme::Http,
        host: "127.0.0.1".into(),
        port,
    }
}
