//! How glibc's allocator keeps memory.
//!
//! How many heaps it keeps. By default it gives threads their own arenas, up
//! to 8 per core, and memory freed in one arena is rarely handed back to the system: a
//! daemon whose work hops between tokio's worker and blocking threads slowly grows its RSS
//! without keeping more data. The 10,000-shot soak measured it: live heap flat, RSS +5.2 KB
//! per shot; two arenas cut the growth by a third (docs/RELIABILITY.md). A booth has a
//! handful of threads and little memory, so two arenas cost nothing measurable.

/// Limits glibc to two arenas unless `MALLOC_ARENA_MAX` is set (the operator's choice wins).
/// Called first thing in `main`, before any thread exists. Other C libraries: nothing to do.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before other threads
        // start allocating.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Where glibc puts large blocks, fixed at 128 KiB: a photo's frame buffers (tens of MiB
/// each) then always get their own mappings and go back to the system when freed. By
/// default glibc raises this threshold to the size of the last large block freed (up to
/// 32 MiB), after which every frame buffer lives in the heap and stays in RSS once the booth
/// is idle. Measured with 30 photos from a 12 MP camera (docs/PERFORMANCE.md): idle RSS
/// 39.8 MiB with the moving threshold, 13.6 MiB fixed. `MALLOC_MMAP_THRESHOLD_` in the
/// environment wins.
pub const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Fixes the mmap threshold (and the trim threshold with it) unless the environment sets
/// them. Called first thing in `main`.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: as above; setting either parameter turns glibc's dynamic threshold off.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}
