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

#[test]
fn a_page_costs_a_few_allocations_not_one_per_sample() {
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
