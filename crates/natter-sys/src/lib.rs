//! The calls Natter makes into the C library directly: each is one audited `unsafe` block
//! behind a safe function that does nothing where the call does not exist. The server uses
//! [`release_free_memory`]; the benchmark uses [`drop_cached_pages`]. Every other
//! crate of the workspace forbids unsafe code (STYLE.md); this one denies it and allows it
//! per call.

#![deny(unsafe_code)]

/// Gives the memory the allocator holds but no longer uses back to the system; returns
/// whether anything was given back.
///
/// glibc returns freed memory on its own only from the top of a heap, so memory freed
/// below a live allocation stays resident. Start-up frees most of what it allocates (the
/// OpenAPI document is built as a tree of maps and strings, serialised, and dropped, while
/// the router's allocations land between its pieces): measured 2026-12-05, the main heap
/// held 2.5 MB of which 0.3 MB was in use, and this call took the idle server's RSS from
/// ~20.4 to ~18.6 MB.
///
/// It walks and locks each allocator arena in turn, so call it at quiet moments (after
/// start-up), not on a request path. Elsewhere (musl, macOS, Windows) it does nothing:
/// those allocators have no such call.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code, reason = "FFI call to glibc's malloc_trim")]
pub fn release_free_memory() -> bool {
    // SAFETY: malloc_trim takes no pointers and is MT-Safe: glibc locks each arena while
    // it trims it, like any malloc or free does.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Gives the memory the allocator holds but no longer uses back to the system; returns
/// whether anything was given back. Nothing to do with this allocator.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

/// Drops the file's pages from the kernel's page cache (those not mapped by a process),
/// so that the next read or mapping reads them from the disk again. Writes the file's dirty
/// pages first: the kernel drops only clean ones.
///
/// For measurements of the code pages a server maps: the page cache of a file just written
/// (by `cp` or the linker) is held in large folios, and a page fault on code then maps more
/// of the file around it than when the same file was read from disk — 1.2–1.4 MB more RSS
/// for the same `natter` binary (measured 2026-12-05, Linux 6.18, ext4). Elsewhere than
/// Linux it does nothing.
#[cfg(target_os = "linux")]
#[allow(unsafe_code, reason = "FFI call to posix_fadvise")]
pub fn drop_cached_pages(file: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    file.sync_data()?;
    // SAFETY: the descriptor is open for the duration of the call (borrowed from `file`);
    // posix_fadvise only advises the kernel about it and touches no memory of ours.
    let code = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    // posix_fadvise returns the error number instead of setting errno.
    match code {
        0 => Ok(()),
        code => Err(std::io::Error::from_raw_os_error(code)),
    }
}

/// Drops the file's pages from the kernel's page cache: nothing to do here.
#[cfg(not(target_os = "linux"))]
pub fn drop_cached_pages(_file: &std::fs::File) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn drops_the_cached_pages_of_an_open_file() {
        let path = std::env::temp_dir().join(format!("natter-sys-{}", std::process::id()));
        std::fs::write(&path, vec![7u8; 1 << 20]).expect("writing a scratch file");
        let file = std::fs::File::open(&path).expect("opening it");
        super::drop_cached_pages(&file).expect("advising the kernel");
        // The content is intact: it is read back from the disk.
        assert_eq!(
            std::fs::read(&path).expect("reading it back"),
            vec![7u8; 1 << 20]
        );
        std::fs::remove_file(&path).expect("removing it");
    }

    #[test]
    fn releases_memory_freed_below_a_live_allocation() {
        // 4 MB in 64 KB pieces (below glibc's mmap threshold, so on the heap); every other
        // piece freed: each freed piece lies between two live ones, so it cannot merge into
        // the top of the heap, where free() alone would give it back. Only a trim does.
        let mut pieces: Vec<Option<Vec<u8>>> =
            (0..64).map(|_| Some(vec![1u8; 64 * 1024])).collect();
        for piece in pieces.iter_mut().skip(1).step_by(2) {
            *piece = None;
        }
        let released = super::release_free_memory();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(released, "glibc had free pages to give back");
        } else {
            assert!(!released);
        }
        let kept = pieces.iter().flatten().count();
        assert_eq!(kept, 32);
        assert!(pieces
            .iter()
            .flatten()
            .all(|piece| piece.iter().all(|&b| b == 1)));
    }
}
