//! The raw bcrypt-verify rate of all cores (`scripts/bench.sh`): the ceiling
//! of the `login` scenario. One thread per core verifies a correct password
//! against a hash of the given cost, back to back, for the given time.
//!
//! Usage: bcrypt_rate <cost> <seconds>. Prints one line:
//! `threads=2 cost=12 verifies=80 rate=7.93` (rate in verifies per second).

use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let cost: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hash = bcrypt::hash("benchmark password", cost).expect("bcrypt hash");
    let run_for = Duration::from_secs_f64(seconds);

    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let hash = hash.clone();
            std::thread::spawn(move || {
                let mut done = 0u64;
                // Each thread's rate is its own count over its own time, so
                // the last, unfinished verification is not counted.
                while started.elapsed() < run_for {
                    assert!(bcrypt::verify("benchmark password", &hash).expect("verify"));
                    done += 1;
                }
                (done, started.elapsed())
            })
        })
        .collect();
    let (mut verifies, mut rate) = (0u64, 0.0f64);
    for worker in workers {
        let (done, elapsed) = worker.join().expect("bcrypt thread");
        verifies += done;
        rate += done as f64 / elapsed.as_secs_f64();
    }
    println!("threads={threads} cost={cost} verifies={verifies} rate={rate:.3}");
}
