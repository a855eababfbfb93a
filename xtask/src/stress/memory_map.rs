//! Where resident memory is, for the `reclaim` scenario's investigations
//! (`WIPPY_STRESS_MEMORY_MAP=1` prints it before and after): resident
//! bytes by kind of mapping (`/proc/self/smaps`), mimalloc's live pages by
//! block size (committed against used), and per mimalloc arena how much
//! of what is resident (`/proc/self/pagemap`) lies in a live page and how
//! much outside one (arena metadata, free memory not yet purged).
//!
//! Reads other threads' allocator state without stopping them: call it
//! while the runtime is quiet.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Mutex;

use libmimalloc_sys::{mi_heap_area_t, mi_heap_t, mi_heap_visit_blocks};

/// Whether the reports are asked for.
pub(super) fn wanted() -> bool {
    std::env::var_os("WIPPY_STRESS_MEMORY_MAP").is_some()
}

/// A mapping of `/proc/self/smaps`.
struct Mapping {
    start: usize,
    end: usize,
    /// The path, or `[anon]`.
    name: String,
    resident_kb: u64,
}

fn mappings() -> Vec<Mapping> {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return Vec::new();
    };
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = f.first() else { continue };
        if let Some((a, b)) = first.split_once('-')
            && !first.ends_with(':')
            && let (Ok(start), Ok(end)) =
                (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            out.push(Mapping {
                start,
                end,
                name: f.get(5).map_or("[anon]".to_owned(), |s| (*s).to_owned()),
                resident_kb: 0,
            });
        } else if *first == "Rss:"
            && let (Some(m), Some(kb)) = (out.last_mut(), f.get(1).and_then(|v| v.parse().ok()))
        {
            m.resident_kb = kb;
        }
    }
    out
}

/// A live mimalloc page: (start, reserved bytes, block size, committed
/// bytes, used bytes).
type Page = (usize, usize, usize, usize, usize);

static PAGES: Mutex<Vec<Page>> = Mutex::new(Vec::new());

unsafe extern "C" fn visit(
    _heap: *const mi_heap_t,
    area: *const mi_heap_area_t,
    _block: *mut c_void,
    _size: usize,
    _arg: *mut c_void,
) -> bool {
    // SAFETY: mimalloc passes a valid area for the duration of the call.
    let a = unsafe { &*area };
    PAGES.lock().unwrap_or_else(|e| e.into_inner()).push((
        a.blocks as usize,
        a.reserved,
        a.block_size,
        a.committed,
        a.used * a.block_size,
    ));
    true
}

fn live_pages() -> Vec<Page> {
    PAGES.lock().unwrap_or_else(|e| e.into_inner()).clear();
    // SAFETY: a null heap is the main heap; the visitor only records the
    // areas it is shown (and only areas: `visit_blocks` is false).
    unsafe {
        mi_heap_visit_blocks(
            std::ptr::null_mut(),
            false,
            Some(visit),
            std::ptr::null_mut(),
        )
    };
    let mut pages = std::mem::take(&mut *PAGES.lock().unwrap_or_else(|e| e.into_inner()));
    pages.sort_unstable();
    pages
}

/// Prints the report, headed `label`, to stderr.
pub(super) fn report(label: &str) {
    let maps = mappings();
    eprintln!("memory map {label}: resident KB by mapping");
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for m in &maps {
        let kind = if m.name != "[anon]" {
            m.name.clone()
        } else if m.end - m.start >= 64 << 20 {
            "[anon, 64 MiB or more: mimalloc arenas]".to_owned()
        } else {
            "[anon, smaller]".to_owned()
        };
        *by_kind.entry(kind).or_default() += m.resident_kb;
    }
    for (kind, kb) in by_kind.iter().filter(|(_, kb)| **kb >= 256) {
        eprintln!("  {kb:>9}  {kind}");
    }
    let pages = live_pages();
    let mut by_size: BTreeMap<usize, (usize, usize, usize)> = BTreeMap::new();
    for &(_, _, block, committed, used) in &pages {
        let e = by_size.entry(block).or_default();
        e.0 += 1;
        e.1 += committed;
        e.2 += used;
    }
    eprintln!("  mimalloc live pages by block size (shown from 256 KB committed):");
    for (block, (n, committed, used)) in &by_size {
        if *committed >= 256 << 10 {
            eprintln!(
                "    {block:>8} B blocks: {n:>4} pages, {:>6} KB committed, {:>6} KB used",
                committed >> 10,
                used >> 10
            );
        }
    }
    let Ok(mut pagemap) = std::fs::File::open("/proc/self/pagemap") else {
        return;
    };
    for m in maps
        .iter()
        .filter(|m| m.name == "[anon]" && m.end - m.start >= 64 << 20)
    {
        let n = (m.end - m.start) / 4096;
        let mut entries = vec![0u8; n * 8];
        if pagemap
            .seek(SeekFrom::Start((m.start / 4096 * 8) as u64))
            .is_err()
            || pagemap.read_exact(&mut entries).is_err()
        {
            continue;
        }
        let (mut inside, mut outside) = (0usize, 0usize);
        for (i, e) in entries.chunks_exact(8).enumerate() {
            let present = u64::from_le_bytes(e.try_into().unwrap_or_default()) >> 63 == 1;
            if !present {
                continue;
            }
            let at = m.start + i * 4096;
            let ix = pages.partition_point(|p| p.0 <= at);
            if ix > 0 && at < pages[ix - 1].0 + pages[ix - 1].1.max(4096) {
                inside += 4;
            } else {
                outside += 4;
            }
        }
        eprintln!(
            "  arena at {:#x}: {inside} KB resident in live pages, {outside} KB outside",
            m.start
        );
    }
}
