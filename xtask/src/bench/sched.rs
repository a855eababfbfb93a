//! Scheduler benchmarks: parallel speedup of a CPU-bound batch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wippy_sched::{Config, Scheduler, Task};

use super::{Bench, Better};

pub fn benches() -> Vec<Bench> {
    vec![Bench {
        name: "sched.speedup_2w",
        unit: "ratio",
        better: Better::Higher,
        target: 1.8,
        reference: "same batch, 2 workers vs 1",
        run: speedup,
    }]
}

struct Burn {
    rounds: u64,
    left: Arc<AtomicUsize>,
    done: mpsc::Sender<()>,
}

impl Task for Burn {
    fn run(self: Arc<Self>) {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..self.rounds {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
        std::hint::black_box(x);
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.send(()).ok();
        }
    }
}

fn batch(workers: usize, tasks: usize, rounds: u64) -> Duration {
    let sched = Scheduler::new(Config {
        name: format!("bench-{workers}w"),
        workers,
        ..Config::default()
    })
    .expect("scheduler starts");
    let handle = sched.handle();
    let left = Arc::new(AtomicUsize::new(tasks));
    let (tx, rx) = mpsc::channel();
    let start = Instant::now();
    for _ in 0..tasks {
        handle.spawn(Arc::new(Burn {
            rounds,
            left: left.clone(),
            done: tx.clone(),
        }));
    }
    rx.recv_timeout(Duration::from_secs(300))
        .expect("batch finishes");
    let took = start.elapsed();
    sched.shutdown();
    took
}

/// Time of the batch on 1 worker divided by its time on 2 workers.
fn speedup(quick: bool) -> f64 {
    let (tasks, rounds) = if quick {
        (2_000, 20_000)
    } else {
        (10_000, 50_000)
    };
    // Warm up both configurations once.
    batch(1, tasks / 10, rounds);
    batch(2, tasks / 10, rounds);
    let one = batch(1, tasks, rounds);
    let two = batch(2, tasks, rounds);
    one.as_secs_f64() / two.as_secs_f64()
}
