//! Shared pieces of the benchmarks: a global allocator that counts live heap bytes and their
//! peak, so that a benchmark can report what a piece of code held at most.
//!
//! A benchmark binary installs it with
//! `#[global_allocator] static ALLOCATOR: CountingAllocator = CountingAllocator;`
//! and reads [`live_bytes`] / [`peak_bytes`], calling [`reset_peak`] before the measured part.
//!
//! [`sandbox_process`] runs the Personio sandbox in a child process; [`main_with`] is the
//! `main` of every benchmark binary (child mode or benchmark mode).

pub mod counting_store;
pub mod sandbox_process;

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting.
pub struct CountingAllocator;

fn grew(bytes: usize) {
    let live = LIVE.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the counters
// are side bookkeeping only.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(pointer, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        moved
    }
}

/// Heap bytes allocated and not yet freed.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// The most heap bytes live at once since the start or the last [`reset_peak`].
pub fn peak_bytes() -> usize {
    PEAK.load(Ordering::Relaxed)
}

/// Starts a new peak measurement from what is live now.
pub fn reset_peak() {
    PEAK.store(live_bytes(), Ordering::Relaxed);
}

/// Bytes as MiB with one decimal, for reports.
pub fn mebibytes(bytes: usize) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The `main` of a benchmark binary called `name`: with [`sandbox_process::CHILD_FLAG`] among
/// the arguments it runs `child` (serving the sandbox), otherwise `benchmark`; both get the
/// arguments. Errors are printed with the binary's name and end in a failure exit code.
pub fn main_with<C, B>(
    name: &str,
    child: impl FnOnce(Vec<String>) -> C,
    benchmark: impl FnOnce(Vec<String>) -> B,
) -> ExitCode
where
    C: Future<Output = Result<(), String>>,
    B: Future<Output = Result<(), String>>,
{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("{name}: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = if args.iter().any(|arg| arg == sandbox_process::CHILD_FLAG) {
        runtime.block_on(child(args))
    } else {
        runtime.block_on(benchmark(args))
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{name}: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Rate windows as `15/1 s and 300/60 s`, for reports.
pub fn describe_windows(windows: &[common::personio::RateWindow]) -> String {
    windows
        .iter()
        .map(|window| format!("{}/{} s", window.max_requests, window.per.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// `wall / floor`; `None` when the limits set no floor (everything fits one burst).
pub fn ratio(wall: std::time::Duration, floor: std::time::Duration) -> Option<f64> {
    (!floor.is_zero()).then(|| wall.as_secs_f64() / floor.as_secs_f64())
}

/// A [`ratio`] for reports.
pub fn describe_ratio(ratio: Option<f64>) -> String {
    ratio.map_or_else(
        || "n/a (no floor)".to_owned(),
        |ratio| format!("{ratio:.3}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOCATOR: CountingAllocator = CountingAllocator;

    #[test]
    fn counts_live_bytes_and_their_peak() {
        reset_peak();
        let before = live_bytes();
        let block = vec![0u8; 4 << 20];
        assert!(live_bytes() >= before + (4 << 20));
        drop(block);
        assert!(peak_bytes() >= before + (4 << 20));
        // Other test threads may allocate meanwhile, but not 4 MiB.
        assert!(live_bytes() < before + (4 << 20));
    }
}
