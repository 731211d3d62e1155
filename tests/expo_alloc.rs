//! The parser allocates nothing per sample: counted with a counting global allocator while a
//! node_exporter page of 1,492 samples streams through in 4 KiB chunks. (The one `unsafe` of
//! the project lives here: a global allocator can only be written with it; test-only.)

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use scrapetop::expo::{Compat, Format, Limits, Parser};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

/// The counter is global: the tests of this file take turns so one never counts another's
/// allocations.
static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[test]
fn a_page_costs_a_few_allocations_not_one_per_sample() {
    let _turn = turn();
    let page = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/expo/node_exporter.prom"
    ))
    .expect("fixture");
    for compat in [Compat::V2, Compat::V3] {
        let before = ALLOCS.load(Ordering::Relaxed);
        let mut p = Parser::new(Format::Text, compat, Limits::default());
        for c in page.chunks(4096) {
            p.feed(c).expect("parses");
        }
        assert_eq!(p.finish(), Ok(1492));
        let n = ALLOCS.load(Ordering::Relaxed) - before;
        // The carried-line buffer and the label scratch list grow a few times, once.
        assert!(n < 20, "{n} allocations for 1,492 samples ({compat:?})");
    }
}

/// The protobuf reader too: 300 copies of the fidelity suite's protobuf page (counters with a
/// label, a gauge, an untyped: 1,200 samples) and of its summary and classic histograms
/// (3,900 samples), in 4 KiB chunks so that messages straddle chunks.
#[test]
fn a_protobuf_page_costs_a_few_allocations_not_one_per_sample() {
    let _turn = turn();
    let seed = |name: &str| {
        let b = std::fs::read(format!(
            "{}/fuzz/seeds/expo_proto/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("seed");
        // The first byte of a fuzz seed picks the settings: not part of the page.
        b[1..].to_vec()
    };
    for (name, samples) in [("valid-0", 1200), ("summary_histogram-0", 3900)] {
        let page = seed(name).repeat(300);
        for compat in [Compat::V2, Compat::V3] {
            let before = ALLOCS.load(Ordering::Relaxed);
            let mut p = Parser::new(Format::Protobuf, compat, Limits::default());
            for c in page.chunks(4096) {
                p.feed(c).expect("parses");
            }
            assert_eq!(p.finish(), Ok(samples));
            let n = ALLOCS.load(Ordering::Relaxed) - before;
            assert!(
                n < 20,
                "{n} allocations for {samples} samples ({compat:?}, {name})"
            );
        }
    }
}
