//! `--web.listen-address` with the real Prometheus (Debian's 2.42): Prometheus scrapes
//! scrapetop's `/metrics` while the watched target's DNS record moves to another host; the
//! stale-peer series reaches 1 in Prometheus's own storage and the stale-peer alert of
//! `assets/alerts.yml` fires in that Prometheus.
//!
//! Built on the lab of the network-namespace suite (`netns/lab.rs`, shared read-only): needs
//! root and the Debian packages `.ci/run` installs; without them the scenario is skipped loudly,
//! under `CI=true` it fails. Run it under the suite lock like `tests/netns.rs`:
//! `flock /tmp/scrapetop-suite.lock cargo test --test netns_metrics -- --nocapture`.

#[allow(dead_code, unused_macros)]
#[path = "common/lines.rs"]
mod lines;

#[path = "netns/lab.rs"]
mod lab;

use std::time::{Duration, Instant};

use lab::{HELPER, Host, Lab, is_up};
use serde_json::Value;

const NAME: &str = "node.scrapetop.test";
/// Where scrapetop serves /metrics inside the scraper namespace.
const METRICS: &str = "127.0.0.1:9985";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `promtool ARGS` in `dir`; panics with its output unless it succeeds.
fn promtool(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("promtool (Debian package prometheus): {e}"));
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GET against Prometheus's API inside the scraper namespace, parsed.
fn api(lab: &Lab, path: &str) -> Option<Value> {
    let url = format!("http://127.0.0.1:9090{path}");
    let out = lab.try_exec(Host::Scraper, &[HELPER, "get", &url]).ok()?;
    let v: Value = serde_json::from_str(&out).ok()?;
    (v["status"] == "success").then_some(v)
}

/// The value Prometheus has for `scrapetop_target_stale_peer` of `instance`.
fn stale_in_prometheus(lab: &Lab, instance: &str) -> Option<String> {
    let v = api(lab, "/api/v1/query?query=scrapetop_target_stale_peer")?;
    v["data"]["result"]
        .as_array()?
        .iter()
        .find(|r| r["metric"]["instance"] == instance)
        .and_then(|r| r["value"][1].as_str().map(str::to_owned))
}

/// The state ("pending", "firing") of the stale-peer alert for `instance`, if any.
fn stale_alert(lab: &Lab, instance: &str) -> Option<String> {
    let v = api(lab, "/api/v1/alerts")?;
    v["data"]["alerts"]
        .as_array()?
        .iter()
        .find(|a| {
            a["labels"]["alertname"] == "ScrapeConnectionStalePeer"
                && a["labels"]["instance"] == instance
        })
        .and_then(|a| a["state"].as_str().map(str::to_owned))
}

/// Poll (every 250 ms, bounded) until `f` gives what `want` accepts.
fn wait<T: std::fmt::Debug>(
    what: &str,
    within: Duration,
    f: impl Fn() -> Option<T>,
    want: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + within;
    let mut last = None;
    loop {
        if let Some(v) = f() {
            if want(&v) {
                return v;
            }
            last = Some(v);
        }
        assert!(
            Instant::now() < deadline,
            "{what} not seen within {within:?}; last: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_scrapetop_and_alerts_on_a_stale_peer() {
    let Some(mut lab) = Lab::new("metrics", &[Host::T1, Host::T2, Host::Dns]) else {
        return;
    };
    // The rules as shipped, and a copy whose 10m `for` is 2s so the alert fires in a test.
    let rules_dir = lab.dir.path().join("rules");
    std::fs::create_dir_all(&rules_dir).expect("rules dir");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/alerts.yml"))
            .expect("assets/alerts.yml");
    assert!(
        shipped.contains("for: 10m"),
        "the stale-peer rule waits 10m"
    );
    std::fs::write(rules_dir.join("alerts.yml"), &shipped).expect("rules");
    promtool(&rules_dir, &["check", "rules", "alerts.yml"]);
    std::fs::write(
        rules_dir.join("alerts-fast.yml"),
        shipped.replace("for: 10m", "for: 2s"),
    )
    .expect("fast rules");
    promtool(&rules_dir, &["check", "rules", "alerts-fast.yml"]);
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/assets/alerts.test.yml"
    ))
    .expect("assets/alerts.test.yml");
    std::fs::write(rules_dir.join("alerts.test.yml"), unit).expect("rule tests");
    promtool(&rules_dir, &["test", "rules", "alerts.test.yml"]);
    lab.step("promtool check rules and test rules: pass");

    let (ip1, ip2) = (Host::T1.ip(), Host::T2.ip());
    lab.testexporter(Host::T1, "9100");
    lab.testexporter(Host::T2, "9100");
    lab.dns_record(NAME, &ip1);
    lab.start_dns();
    let target = format!("{NAME}:9100");
    let dns = lab.dns_server();
    let mut st = lab.scrapetop(
        &[],
        &[
            "--interval",
            "1s",
            "--timeout",
            "800ms",
            "--dns-server",
            &dns,
            "--web.listen-address",
            METRICS,
            "--target",
            &target,
        ],
    );
    st.wait_for("up", secs(10), is_up);

    // The real Prometheus, scraping scrapetop every second with the rules loaded.
    let pdir = lab.dir.path().join("prometheus");
    std::fs::create_dir_all(pdir.join("data")).expect("prometheus dir");
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\n  evaluation_interval: 1s\n\
         rule_files: ['{}']\n\
         scrape_configs:\n  \
         - {{job_name: scrapetop, honor_labels: true, static_configs: [{{targets: ['{METRICS}']}}]}}\n",
        rules_dir.join("alerts-fast.yml").display()
    );
    let cfg_path = pdir.join("prometheus.yml");
    std::fs::write(&cfg_path, cfg).expect("prometheus.yml");
    promtool(&pdir, &["check", "config", "prometheus.yml"]);
    let config = format!("--config.file={}", cfg_path.display());
    let data = format!("--storage.tsdb.path={}", pdir.join("data").display());
    lab.spawn(
        Host::Scraper,
        "prometheus",
        &[
            "prometheus",
            &config,
            &data,
            "--web.listen-address=127.0.0.1:9090",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ],
        None,
    );
    lab.wait_listening(Host::Scraper, 9090, secs(20));
    let up = wait(
        "Prometheus scraping scrapetop",
        secs(20),
        || {
            let v = api(&lab, "/api/v1/query?query=up")?;
            v["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        },
        |v| v == "1",
    );
    assert_eq!(up, "1");
    wait(
        "stale_peer 0 in Prometheus",
        secs(10),
        || stale_in_prometheus(&lab, &target),
        |v| v == "0",
    );
    assert_eq!(stale_alert(&lab, &target), None, "no alert before the move");
    lab.step("Prometheus has scrapetop_target_stale_peer = 0");

    // The record moves to t2. The connection stays on t1; a re-resolve sees the move
    // (dnsmasq re-reads its records on SIGHUP asynchronously: ask until it answers t2).
    lab.dns_record(NAME, &ip2);
    lab.step("record moved to t2");
    let deadline = Instant::now() + secs(10);
    loop {
        st.send(r#"{"cmd":"re_resolve"}"#);
        let evs = st.collect(Duration::from_millis(500));
        if let Some((_, peer, _)) = evs.iter().find_map(lab::stale_peer) {
            assert_eq!(peer.to_string(), format!("{ip1}:9100"));
            break;
        }
        assert!(Instant::now() < deadline, "no stale_peer within 10s");
    }
    lab.step("scrapetop: stale_peer");

    wait(
        "stale_peer 1 in Prometheus",
        secs(10),
        || stale_in_prometheus(&lab, &target),
        |v| v == "1",
    );
    lab.step("Prometheus has scrapetop_target_stale_peer = 1");
    wait(
        "the stale-peer alert firing",
        secs(15),
        || stale_alert(&lab, &target),
        |s| s == "firing",
    );
    lab.step("ScrapeConnectionStalePeer firing in Prometheus");
    // The watched target is still up in scrapetop's metrics: the risk is hidden, as it is
    // for a Prometheus scraping it directly.
    let v = api(
        &lab,
        "/api/v1/query?query=scrapetop_target_up%20and%20scrapetop_target_stale_peer%20%3D%3D%201",
    )
    .expect("query");
    assert_eq!(v["data"]["result"][0]["value"][1], "1", "{v}");

    assert_eq!(st.quit(), Some(0));
}
