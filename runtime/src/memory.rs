//! Giving freed heap memory back to the OS after a burst.
//!
//! glibc's malloc keeps what a burst freed (a flood of connections closed, an
//! attack of a million frames) in its arenas: measured, a node held about
//! 40 MiB more after a 1,000,000-frame attack than before it, all of it free
//! heap that `malloc_trim(0)` returned. The BEAM's allocators hand such
//! carriers back by themselves; here [`spawn_trimmer`] looks every
//! [`TRIM_PERIOD`] at how much of the heap is free (`mallinfo2`, a walk over
//! the arenas) and trims only when at least [`TRIM_FREE_BYTES`] is, so a
//! node whose heap is in use never pays for a trim. (Chunks a trim gave back
//! still count as free, so after a burst the check trims again each period
//! until the heap is reused: one walk of the free chunks every 30 s.) On
//! other platforms and C libraries this does nothing.

use std::time::Duration;

use tokio::task::JoinHandle;

/// How often the trimmer looks.
pub const TRIM_PERIOD: Duration = Duration::from_secs(30);

/// Free heap worth a trim.
pub const TRIM_FREE_BYTES: u64 = 32 * 1024 * 1024;

/// Bytes in free chunks of every malloc arena, where glibc can say.
pub fn free_heap_bytes() -> Option<u64> {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads malloc's own statistics (glibc ≥ 2.33).
        let info = unsafe { libc::mallinfo2() };
        Some(info.fordblks as u64)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        None
    }
}

/// Trims the heap when at least `min_free` bytes of it are free; returns
/// the free bytes seen when it trimmed.
pub fn trim_if_worthwhile(min_free: u64) -> Option<u64> {
    let free = free_heap_bytes()?;
    if free < min_free {
        return None;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages.
    unsafe {
        libc::malloc_trim(0);
    }
    Some(free)
}

/// Checks every `period` and trims after a burst (see the module's
/// documentation); runs until aborted.
pub fn spawn_trimmer(period: Duration, min_free: u64) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            // The walk over the arenas takes their locks: off the workers.
            let trimmed = tokio::task::spawn_blocking(move || trim_if_worthwhile(min_free)).await;
            if let Ok(Some(free)) = trimmed {
                tracing::debug!(
                    free_mib = free / (1024 * 1024),
                    "free heap returned to the OS"
                );
            }
        }
    })
}
