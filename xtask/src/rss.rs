//! Resident set size of this process, from /proc/self/statm (Linux).

/// Resident bytes now, or 0 where /proc is not available.
pub fn resident_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * page_size()
}

fn page_size() -> u64 {
    // Every Linux target we run on uses 4 KiB pages for statm accounting.
    4096
}
