//! The trimmer gives a burst's freed heap back to the OS (`memory.rs`). Its
//! own test binary: the resident set it reads is the whole process's.

/// Resident bytes of this process (`/proc/self/statm`).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_burst_freed_is_given_back_to_the_os() {
    if runtime::memory::free_heap_bytes().is_none() {
        eprintln!("SKIPPED: not glibc; the trimmer does nothing here");
        return;
    }
    // A burst: 200,000 small allocations (~100 MiB), then all but the last
    // freed (the last keeps the heap's top in use, as a live server would).
    let mut burst: Vec<Vec<u8>> = (0..200_000).map(|i| vec![(i % 251) as u8; 500]).collect();
    let keep = burst.pop();
    drop(burst);
    let before = rss_bytes();
    let free = runtime::memory::trim_if_worthwhile(runtime::memory::TRIM_FREE_BYTES)
        .expect("a 100 MiB burst leaves enough free heap to trim");
    assert!(free >= 64 << 20, "free heap {free}");
    let after = rss_bytes();
    assert!(
        after + (48 << 20) < before,
        "the freed heap went back to the OS: {before} -> {after} bytes resident"
    );
    // A heap with little free is left alone.
    assert_eq!(runtime::memory::trim_if_worthwhile(u64::MAX), None);
    drop(keep);
}
