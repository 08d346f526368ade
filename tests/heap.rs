//! The allocator settings of `src/heap.rs`, checked by the resident memory
//! they leave. One test, so no other test allocates in this process meanwhile.

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use helpdesk_sla_exporter::heap;

const MIB: usize = 1024 * 1024;

/// This process's resident memory in bytes (`/proc/self/statm`, in pages).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("reads /proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field is the resident pages");
    pages * 4096
}

#[test]
fn freed_memory_goes_back_to_the_system() {
    heap::configure();

    // Large blocks stay mapped on their own after one was freed: without a
    // fixed threshold, glibc would raise it to this block's size here and
    // take the 64 blocks below from the heap, where they stay resident.
    drop(std::hint::black_box(vec![1u8; MIB]));
    let before = rss();
    let blocks: Vec<Vec<u8>> = (0..64).map(|_| vec![1u8; MIB]).collect();
    let pin = std::hint::black_box(Box::new([1u8; 64]));
    assert!(rss() >= before + 48 * MIB, "the blocks are resident");
    drop(std::hint::black_box(blocks));
    let after = rss();
    assert!(
        after < before + 16 * MIB,
        "freed large blocks stayed resident: {} MiB before, {} MiB after",
        before / MIB,
        after / MIB
    );

    // Small blocks freed below a live one stay in the heap until trimmed.
    let small: Vec<Box<[u8; 1024]>> = (0..64 * 1024).map(|_| Box::new([1u8; 1024])).collect();
    let pin2 = std::hint::black_box(Box::new([1u8; 64]));
    drop(std::hint::black_box(small));
    let freed = rss();
    heap::release_free_memory();
    let trimmed = rss();
    assert!(
        freed >= trimmed + 32 * MIB,
        "trimming gave back too little: {} MiB before, {} MiB after",
        freed / MIB,
        trimmed / MIB
    );
    drop((pin, pin2));
}
