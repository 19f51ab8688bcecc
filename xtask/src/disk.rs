//! Room on the disk for a build.
//!
//! Cargo never deletes what it built before: every change of a dependency,
//! feature set or profile leaves its old artifacts behind, so a target
//! directory that CI reuses run after run only grows. When the disk fills,
//! the linker dies mid-write (`ld terminated with signal 7 [Bus error]`),
//! which says nothing about the cause. Before building, [`keep_room`] makes
//! room if there is too little, and names the problem if it cannot.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result, bail};

use crate::shell::progress;

/// Below this much free space a full `cargo xtask test` may not fit (a cold
/// one writes about 5 GiB: the test binaries, both wasm builds, the tools).
const WANTED: u64 = 8 << 30;
/// Below this, even a warm run's links may not fit: stop and say so.
const NEEDED: u64 = 2 << 30;
/// Artifacts left untouched this long are the first to go.
const STALE_AFTER: Duration = Duration::from_secs(3 * 24 * 60 * 60);

/// The directory cargo builds into for this checkout.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| root.join("target"), PathBuf::from)
}

/// Makes room in `target` if its disk is short of space: first the
/// incremental caches (they only speed up rebuilds), then artifacts not
/// written for [`STALE_AFTER`]. Cargo rebuilds whatever it still needs.
pub(crate) fn keep_room(target: &Path) -> Result<()> {
    let Some(free) = free_space(target)? else {
        return Ok(());
    };
    if free >= WANTED {
        return Ok(());
    }
    progress(format!(
        "only {} free on the disk holding {}: removing old build artifacts",
        gib(free),
        target.display()
    ));
    let now = SystemTime::now();
    let profiles = profile_dirs(target)?;
    let mut freed = 0;
    for profile in &profiles {
        freed += remove_all(&profile.join("incremental"))?;
    }
    if free + freed < WANTED {
        for profile in &profiles {
            freed += remove_stale(&profile.join("deps"), now)?;
        }
    }
    let free = free_space(target)?.unwrap_or(free + freed);
    progress(format!("freed {}; {} free now", gib(freed), gib(free)));
    if free < NEEDED {
        bail!(
            "only {} free on the disk holding {} (a build needs at least {}): \
             free some space, or `cargo clean` if this checkout's builds are what filled it",
            gib(free),
            target.display(),
            gib(NEEDED)
        );
    }
    Ok(())
}

/// Free bytes on the filesystem holding `path` (or its nearest existing
/// ancestor), or `None` where it cannot be read.
fn free_space(path: &Path) -> Result<Option<u64>> {
    let Some(existing) = path.ancestors().find(|dir| dir.exists()) else {
        return Ok(None);
    };
    let stats = nix::sys::statvfs::statvfs(existing)
        .with_context(|| format!("reading the free space of {}", existing.display()))?;
    // `fsblkcnt_t` is 32 bits on some platforms, 64 here.
    #[allow(clippy::useless_conversion)]
    let available = u64::from(stats.blocks_available());
    Ok(Some(available.saturating_mul(stats.fragment_size())))
}

/// The per-profile directories (`debug`, `release`, a target triple's own),
/// each of which may hold `deps` and `incremental`.
fn profile_dirs(target: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in read_dir(target)? {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.join("deps").is_dir() || path.join("incremental").is_dir() {
            dirs.push(path);
        } else {
            // `<target>/wasm32-unknown-unknown/release`, and the like.
            dirs.extend(
                read_dir(&path)?
                    .into_iter()
                    .map(|entry| entry.path())
                    .filter(|sub| sub.join("deps").is_dir() || sub.join("incremental").is_dir()),
            );
        }
    }
    Ok(dirs)
}

/// Removes the files in `deps` last written before `now - STALE_AFTER`;
/// returns the bytes freed.
fn remove_stale(deps: &Path, now: SystemTime) -> Result<u64> {
    let mut freed = 0;
    for entry in read_dir(deps)? {
        let metadata = entry
            .metadata()
            .with_context(|| format!("reading {}", entry.path().display()))?;
        let written = metadata.modified().unwrap_or(now);
        if now.duration_since(written).unwrap_or_default() < STALE_AFTER {
            continue;
        }
        freed += if metadata.is_dir() {
            remove_all(&entry.path())?
        } else {
            remove(&entry.path(), || fs::remove_file(entry.path()))?;
            metadata.len()
        };
    }
    Ok(freed)
}

/// Removes `dir` and everything in it; returns the bytes freed.
fn remove_all(dir: &Path) -> Result<u64> {
    if !dir.exists() {
        return Ok(0);
    }
    let size = size_of(dir)?;
    remove(dir, || fs::remove_dir_all(dir))?;
    Ok(size)
}

fn remove(path: &Path, removal: impl FnOnce() -> io::Result<()>) -> Result<()> {
    match removal() {
        Err(error) if error.kind() != io::ErrorKind::NotFound => {
            Err(error).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

fn size_of(path: &Path) -> Result<u64> {
    let metadata =
        fs::symlink_metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !metadata.is_dir() {
        return Ok(metadata.len());
    }
    let mut size = 0;
    for entry in read_dir(path)? {
        size += size_of(&entry.path())?;
    }
    Ok(size)
}

fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    match fs::read_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        entries => entries
            .and_then(Iterator::collect)
            .with_context(|| format!("listing {}", dir.display())),
    }
}

fn gib(bytes: u64) -> String {
    // Display only: a float's rounding is fine here.
    #[allow(clippy::cast_precision_loss)]
    let gib = bytes as f64 / f64::from(1u32 << 30);
    format!("{gib:.1} GiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: usize) {
        fs::create_dir_all(path.parent().expect("a parent")).expect("a directory");
        fs::write(path, vec![0; bytes]).expect("a file");
    }

    fn age(path: &Path, by: Duration) {
        let file = fs::File::options()
            .write(true)
            .open(path)
            .expect("an open file");
        file.set_modified(SystemTime::now() - by)
            .expect("a modification time");
    }

    #[test]
    fn stale_artifacts_go_and_recent_ones_stay() {
        let target = tempfile::tempdir().expect("a temporary directory");
        let old = target.path().join("debug/deps/app-0123");
        let new = target.path().join("debug/deps/app-4567");
        let wasm_old = target
            .path()
            .join("wasm32-unknown-unknown/release/deps/libcore-89ab.rlib");
        for path in [&old, &new, &wasm_old] {
            write(path, 1000);
        }
        age(&old, STALE_AFTER + Duration::from_secs(60));
        age(&wasm_old, STALE_AFTER + Duration::from_secs(60));

        let now = SystemTime::now();
        let mut freed = 0;
        let profiles = profile_dirs(target.path()).expect("profiles");
        assert_eq!(profiles.len(), 2, "{profiles:?}");
        for profile in profiles {
            freed += remove_stale(&profile.join("deps"), now).expect("removal");
        }

        assert_eq!(freed, 2000);
        assert!(!old.exists() && !wasm_old.exists());
        assert!(new.exists());
    }

    #[test]
    fn incremental_caches_are_measured_and_removed() {
        let target = tempfile::tempdir().expect("a temporary directory");
        let incremental = target.path().join("debug/incremental");
        write(&incremental.join("app-1/s-1/query-cache.bin"), 300);
        write(&incremental.join("app-2/dep-graph.bin"), 200);

        assert_eq!(remove_all(&incremental).expect("removal"), 500);
        assert!(!incremental.exists());
        assert_eq!(remove_all(&incremental).expect("nothing left"), 0);
    }

    #[test]
    fn free_space_reads_the_nearest_existing_directory() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let free = free_space(&dir.path().join("not/yet/built")).expect("statvfs");
        assert!(free.is_some_and(|bytes| bytes > 0), "{free:?}");
    }
}
