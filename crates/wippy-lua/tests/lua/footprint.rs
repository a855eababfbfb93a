//! What a parked Lua process costs in all: its Lua heap and its Rust state
//! (cell, process, `ProcData`, shard bookkeeping), counted by a counting
//! allocator (Lua allocates through Rust's). `lua.idle_memory` measures the
//! same thing as resident memory, which is noisier; this pins it down.
//! The allocator counts the whole test binary, so the test runs alone
//! (`common::alone`). It allocates through mimalloc, as the `wippy` binary
//! does, so tests of resident memory (`reclaim.rs`) see what it sees.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicIsize, Ordering};

use mimalloc::MiMalloc;
use std::time::Duration;

use wippy_process::Payload;

use crate::common::*;

/// Net bytes allocated, process-wide.
struct Counting;

static NET: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to mimalloc; only counts.
unsafe impl GlobalAlloc for Counting {
    /// # Safety
    /// As for [`GlobalAlloc::alloc`].
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        NET.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { MiMalloc.alloc(l) }
    }
    /// # Safety
    /// As for [`GlobalAlloc::dealloc`].
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        NET.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { MiMalloc.dealloc(p, l) }
    }
    /// # Safety
    /// As for [`GlobalAlloc::realloc`].
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        NET.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { MiMalloc.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Says it is ready (one send), then waits on its inbox: the process of
/// the `lua.idle_memory` benchmark.
const IDLE: &str = r#"
local M = {}
function M.main(parent)
    local inbox = process.inbox()
    process.send(parent, "ready", 1)
    inbox:receive()
end
return M
"#;

#[test]
fn a_parked_process_costs_under_two_and_a_half_kilobytes_in_all() {
    // The counter is process-wide: no other test may allocate meanwhile.
    let _alone = alone();
    const N: isize = 20_000;
    let t = TestApp::new(vec![entry("idle", IDLE)], 2);
    let (mailbox, ready) = t.mailbox();
    // A shard makes its VM at its first process: one process per shard
    // first (outside spawns go to the least-loaded shard), so that what is
    // counted is processes, not VMs.
    let shards = t.host.snapshot().shards.len();
    for _ in 0..shards {
        t.spawn("idle", vec![Payload::Pid(mailbox)]);
    }
    for _ in 0..shards {
        ready.recv_timeout(TIMEOUT).expect("every shard starts one");
    }
    std::thread::sleep(Duration::from_millis(100));
    let before = NET.load(Ordering::Relaxed);
    for _ in 0..N {
        t.spawn("idle", vec![Payload::Pid(mailbox)]);
    }
    for _ in 0..N {
        ready
            .recv_timeout(TIMEOUT)
            .expect("every process gets ready");
    }
    // Let the shards finish parking (and the collector free its messages).
    std::thread::sleep(Duration::from_millis(200));
    let per = (NET.load(Ordering::Relaxed) - before) / N;
    println!("bytes allocated per parked process: {per}");
    // 2,430-2,470 today (15 runs, Dec 2026): the bound leaves room for
    // noise (GC timing), not for another field per process.
    assert!(
        per <= 2480,
        "{per} bytes per parked process (Lua heap and Rust state)"
    );
    assert!(per >= 1024, "{per}: the counter missed the processes");
}
