//! Fuzz bodies, shared by the libFuzzer targets (`fuzz_targets/*.rs`, nightly) and the stable
//! bounded run that CI does (`tests/fuzz.rs`, which includes this file).
//!
//! Each body takes arbitrary bytes and must neither panic nor hang; beyond that it checks what
//! must hold for any input: quoted input in errors stays bounded, parsed commands survive a
//! round trip, line positions point at the line they name.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use futures_util::FutureExt;
use scrapetop::config::sd;
use scrapetop::config::{self, NoLookups, SourceArgs};
use scrapetop::headless::{Input, LineReader, MAX_LINE, parse_input};

/// A scratch directory for this process; file names carry the thread, so parallel tests do
/// not share files.
fn scratch(name: &str) -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("scrapetop-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    });
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    dir.join(format!("t{thread}-{name}"))
}

thread_local! {
    static RT: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RT.with(|rt| rt.block_on(f))
}

/// Load sources as the binary does at start, without DNS lookups.
fn load(args: &SourceArgs) -> Result<config::Loaded, config::ConfigError> {
    block_on(config::load(args, &NoLookups))
}

/// A Prometheus configuration file: `--config` and `scrapetop check` (text and JSON).
pub fn config(data: &[u8]) {
    let path = scratch("prometheus.yml");
    std::fs::write(&path, data).expect("write scratch file");
    let args = SourceArgs {
        config: Some(path.clone()),
        ..Default::default()
    };
    if let Err(e) = load(&args) {
        assert!(!e.to_string().is_empty(), "an empty error");
    }
    let json = data.first().is_some_and(|b| b & 1 == 1);
    let (report, status) = config::check::check_report(std::slice::from_ref(&path), json);
    assert!(status == 0 || status == 1, "check status {status}");
    if json {
        serde_json::from_str::<serde_json::Value>(&report).expect("check --output json is JSON");
    }
}

/// A `--targets` file: plain list, file_sd JSON or YAML (by extension or content).
pub fn targets_list(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        // file_sd parsing is reached through `load` below (by extension and by detection).
        let p = Path::new("list.txt");
        let _ = sd::detect(text);
        for (target, loc) in sd::parse_plain(p, text) {
            let line = text
                .lines()
                .nth(loc.pos.line - 1)
                .expect("the named line exists");
            assert!(
                line.get(loc.pos.column - 1..)
                    .is_some_and(|rest| rest.starts_with(&target)),
                "line {} column {} does not hold {target:?}",
                loc.pos.line,
                loc.pos.column
            );
        }
    }
    let ext = ["txt", "json", "yml"][data.len() % 3];
    let path = scratch(&format!("targets.{ext}"));
    std::fs::write(&path, data).expect("write scratch file");
    let _ = load(&SourceArgs {
        targets_files: vec![path],
        interval: Some(Duration::from_secs(15)),
        ..Default::default()
    });
}

/// `--target` values (NUL separates several), through the loader and through clap.
pub fn target_arg(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let targets: Vec<String> = text.split('\0').take(8).map(str::to_owned).collect();
    let res = load(&SourceArgs {
        targets: targets.clone(),
        interval: Some(Duration::from_secs(15)),
        ..Default::default()
    });
    if let Ok(loaded) = res {
        assert!(
            loaded.targets.len() <= targets.len(),
            "more targets than given"
        );
    }
    let mut argv = vec!["scrapetop".to_owned(), "--headless".to_owned()];
    for t in &targets {
        argv.push("--target".into());
        argv.push(t.clone());
    }
    use scrapetop::cli::Cli;
    let _ = <Cli as clap::Parser>::try_parse_from(argv);
}

/// What the headless mode reads on stdin: lines, then commands.
pub fn command_line(data: &[u8]) {
    for max in [64, MAX_LINE] {
        let mut reader = LineReader::new(data, max);
        let mut lines = 0;
        while let Some(line) = reader
            .next_line()
            .now_or_never()
            .expect("a slice is always ready")
            .expect("a slice never fails")
        {
            lines += 1;
            assert!(lines <= data.len() + 1, "more lines than bytes");
            let text = match line {
                Ok(text) => text,
                Err(e) => {
                    assert!(e.len() < 2000, "an error of {} bytes", e.len());
                    continue;
                }
            };
            assert!(
                text.len() <= max && !text.contains('\n'),
                "a line over the limit"
            );
            match parse_input(text.trim()) {
                Ok(Input::Engine(c)) => {
                    let again = serde_json::to_string(&c).expect("a command serializes");
                    assert_eq!(parse_input(&again), Ok(Input::Engine(c)), "round trip");
                }
                Ok(Input::State) => {}
                Err(e) => assert!(e.len() < 2000, "an error of {} bytes: {e:.300}", e.len()),
            }
        }
    }
}

/// The protobuf exposition reader: never panics, the same outcome however the body is split,
/// a possible sample count (see `scrapetop::expo::check_proto_invariants`; the first byte
/// picks version, histogram settings, limits and split points).
pub fn expo_proto(data: &[u8]) {
    scrapetop::expo::check_proto_invariants(data);
}
