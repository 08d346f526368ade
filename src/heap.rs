//! How the exporter asks the C allocator to hold its memory.
//!
//! Rust's global allocator is the system `malloc`, glibc's on Linux. Two of
//! its habits kept resident memory the exporter no longer used (measured with
//! the 100k-ticket bench, bench/NOTES.md round 9):
//!
//! - Memory a thread frees stays in that thread's arena until the same
//!   arena allocates again. Page writes and evaluations run on whichever
//!   blocking threads tokio picks, so RSS climbed poll after poll while the
//!   live heap did not (`malloc_stats`: 0.7 MB more in use after 18 polls).
//!   [`release_free_memory`] hands the free pages back before and after each
//!   evaluation.
//! - Blocks of 128 KiB and more are mapped on their own and unmapped when
//!   freed, but glibc raises that threshold each time such a block is freed
//!   (up to 32 MiB), after which the large, short-lived buffers of a sync
//!   and an evaluation (decoded pages, rendered metrics, the pages' rows)
//!   come from the heap and leave holes between long-lived items.
//!   [`configure`] fixes the threshold.
//!
//! Elsewhere (musl, other systems) both are no-ops.

/// The size from which a block is mapped on its own: glibc's initial value,
/// kept fixed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 128 * 1024;

/// Sets the allocator's options; call once, first thing in `main`.
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes malloc's parameters; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
    }
}

/// Hands the heap's free pages back to the system: it walks every arena's
/// free lists once. The evaluator calls it before and after each evaluation.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes each arena's lock and only returns free
    // chunks' pages to the kernel; it may be called from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
