//! The fuzz targets of `fuzz/` on stable Rust, for a bounded time: every seed and every saved
//! regression input, then pseudo-random mutations of them (bit flips, interesting bytes,
//! insertions, deletions, duplications, dictionary tokens, splices) until the time budget is
//! spent. libFuzzer (`fuzz/README.md`) explores far more; this keeps CI honest about crashes
//! and hangs on every change.
//!
//! `FUZZ_SECS` sets the budget per target (default 4 s), `FUZZ_SEED` the generator's seed
//! (default fixed, so a failure reproduces; `FUZZ_SEED=random` explores new ground). A failing
//! input is written to `target/fuzz-failures/` and quoted in the panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[path = "../fuzz/src/lib.rs"]
mod bodies;

/// One input taking longer than this is a hang.
const HANG: Duration = Duration::from_secs(2);

/// Mutated inputs are kept below this size (libFuzzer's default `-max_len` is 4096).
const MAX_INPUT: usize = 8192;

/// xorshift64*: small, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn files_under(dir: &Path, out: &mut Vec<Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            files_under(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push(b);
        }
    }
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>], dict: &[&str]) {
    const INTERESTING: &[u8] = b"\0\n\r\t \"'#:@/?[]{}-\\\x7f\xff\xc3\xa9\xef\xbb\xbf";
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, INTERESTING[rng.below(INTERESTING.len())]);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(64));
                input.drain(i..i + n);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(256));
                let copy = input[i..i + n].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 | 6 if !dict.is_empty() => {
                let tok = dict[rng.below(dict.len())].as_bytes();
                let i = rng.below(len + 1);
                input.splice(i..i, tok.iter().copied());
            }
            7 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                let at = rng.below(len + 1);
                input.splice(at..at, other[from..to].iter().copied());
            }
            8 if len > 0 => input.truncate(rng.below(len)),
            _ => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
        }
    }
    input.truncate(MAX_INPUT);
}

fn run_one(name: &str, body: fn(&[u8]), input: &[u8]) {
    let start = Instant::now();
    let res = catch_unwind(AssertUnwindSafe(|| body(input)));
    let took = start.elapsed();
    if res.is_err() || took > HANG {
        let dir = repo("target/fuzz-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{name}-{:016x}", fnv(input)));
        let _ = std::fs::write(&file, input);
        let what = if res.is_err() {
            "panicked".to_owned()
        } else {
            format!("took {took:?}")
        };
        panic!(
            "fuzz target {name} {what} on {:?} (saved as {})",
            String::from_utf8_lossy(&input[..input.len().min(2000)]),
            file.display()
        );
    }
}

fn fnv(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100_0000_01b3)
    })
}

fn fuzz(name: &str, body: fn(&[u8]), seed_dirs: &[&str], dict: &[&str]) {
    let mut seeds = Vec::new();
    for d in seed_dirs {
        files_under(&repo(d), &mut seeds);
    }
    files_under(&repo(&format!("fuzz/seeds/{name}")), &mut seeds);
    files_under(&repo(&format!("fuzz/regressions/{name}")), &mut seeds);
    seeds.push(Vec::new());
    assert!(seeds.len() > 1, "no seeds for {name}");
    for s in &seeds {
        run_one(name, body, s);
    }
    let secs: f64 = std::env::var("FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4.0);
    let seed = match std::env::var("FUZZ_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
        Ok(s) => s.parse().unwrap_or(1),
        Err(_) => 0x5eed_0000 ^ fnv(name.as_bytes()),
    } | 1;
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut runs = 0u64;
    // Bounded in time and count.
    while Instant::now() < deadline && runs < 5_000_000 {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut input, &seeds, dict);
        run_one(name, body, &input);
        runs += 1;
    }
    eprintln!(
        "fuzz {name}: {} seeds, {runs} mutated inputs, seed {seed}",
        seeds.len()
    );
    assert!(runs > 0, "{name}: no mutated input ran in {secs} s");
}

#[test]
fn fuzz_config() {
    fuzz(
        "config",
        bodies::config,
        &["tests/fixtures/configs", "assets/prometheus-example.yml"],
        &[
            "scrape_configs:\n",
            "- job_name: ",
            "static_configs:\n",
            "targets: [",
            "file_sd_configs:\n",
            "dns_sd_configs:\n",
            "relabel_configs:\n",
            "basic_auth:\n",
            "password: ",
            "authorization:\n",
            "tls_config:\n",
            "scrape_interval: ",
            "scrape_timeout: ",
            "body_size_limit: ",
            "regex: ",
            "action: ",
            "hashmod",
            "modulus: ",
            "__address__",
            "__param_target",
            "  ",
            "\n  - ",
            "1ms",
            "0s",
            "99999999999d",
            "1e400",
            "*",
            "&a",
            "*a",
            "!!str",
            "<<: *a",
            "{",
            "}",
            "[",
            "]",
        ],
    );
}

#[test]
fn fuzz_targets_list() {
    fuzz(
        "targets_list",
        bodies::targets_list,
        &[
            "assets/targets.txt",
            "assets/targets",
            "tests/fixtures/configs/valid/sd",
        ],
        &[
            "\n",
            "#",
            "[",
            "]",
            "{",
            "}",
            "\"targets\":",
            "\"labels\":",
            "- targets:",
            "labels:",
            "http://",
            "https://",
            "user:pw@",
            ":9100",
            "[::1]",
            "/metrics",
            "?a=b",
            "\u{feff}",
            "\"",
            ",",
        ],
    );
}

#[test]
fn fuzz_target_arg() {
    fuzz(
        "target_arg",
        bodies::target_arg,
        &[],
        &[
            "http://", "https://", "ftp://", "://", "@", ":", "[", "]", "::1", "%25", "/metrics",
            "?", "#", "\0", "user:pw@", ":0", ":65536", "..", "-", "_", ".",
        ],
    );
}

#[test]
fn fuzz_command_line() {
    fuzz(
        "command_line",
        bodies::command_line,
        &[],
        &[
            "{\"cmd\":",
            "\"reconnect\"",
            "\"re_resolve\"",
            "\"probe\"",
            "\"load\"",
            "\"pause\"",
            "\"quit\"",
            "\"state\"",
            "\"job\":",
            "\"instance\":",
            "\"path\":",
            "\"replace\":",
            "true",
            "null",
            "}",
            "\n",
            "\r\n",
            "\\u0000",
            "\\ud800",
            "1e999",
        ],
    );
}

#[test]
fn fuzz_expo_proto() {
    fuzz(
        "expo_proto",
        bodies::expo_proto,
        &[],
        &[
            // Tags of MetricFamily, Metric, Histogram and Bucket fields (ASCII only: the
            // mutator adds the high bytes), a packed span, deltas.
            "\u{0a}",
            "\u{12}",
            "\u{18}\u{04}",
            "\u{22}",
            "\u{3a}",
            "\u{1a}",
            "\u{11}\0\0\0\0\0\0\0\0",
            "\u{62}\u{04}\u{08}\0\u{10}\u{02}",
            "\u{6a}\u{02}\u{02}\u{02}",
            "\u{2a}",
            "\u{0c}",
            "\u{0b}",
        ],
    );
}
