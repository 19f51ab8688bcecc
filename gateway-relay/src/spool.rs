//! The disk spool: batches the endpoint has not acknowledged, one fsynced
//! file per batch under `RELAY_STATE_DIR/spool/`, named by the batch's
//! number so they are retried oldest first, and `rejected/` for batches the
//! endpoint refused as malformed (kept for a human, never retried by
//! itself: `gateway-relay replay-rejected` puts them back in the spool).
//!
//! A file is `{"events":[...]}` exactly as it will be sent (a valid
//! `RelayBatch`), named `{number:020}-{events}.json`; the event count in the
//! name gives the spool depth without reading anything.

use std::collections::BTreeMap;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bytes::Bytes;

/// Writes `bytes` to `path` so that after a crash the file is either absent
/// or whole: a temporary file, fsync, rename, fsync of the directory.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(io::Error::other)?
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    rejected: PathBuf,
    /// Batch number → events in it.
    batches: BTreeMap<u64, usize>,
    /// The highest number among the batches set aside, so that numbering
    /// after a restart never reuses (and overwrites) one of them.
    last_rejected: Option<u64>,
}

impl Spool {
    /// Opens (creating) the spool under `state_dir` and lists what a previous
    /// run left there. Half-written files are removed: their events were
    /// never counted as safe, so the gateway replays them.
    pub(crate) async fn open(state_dir: &Path) -> io::Result<Self> {
        let dir = state_dir.join("spool");
        let rejected = state_dir.join("rejected");
        let (dir, rejected, batches, last_rejected) = blocking(move || {
            std::fs::create_dir_all(&dir)?;
            std::fs::create_dir_all(&rejected)?;
            let mut batches = BTreeMap::new();
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.ends_with(".tmp") {
                    std::fs::remove_file(entry.path())?;
                    continue;
                }
                match parse_name(&name) {
                    Some((number, events)) => {
                        batches.insert(number, events);
                    }
                    None => {
                        tracing::warn!(file = %name, "ignoring a file that is not a spooled batch")
                    }
                }
            }
            let last_rejected = std::fs::read_dir(&rejected)?
                .filter_map(Result::ok)
                .filter_map(|entry| parse_name(&entry.file_name().to_string_lossy()))
                .map(|(number, _)| number)
                .max();
            Ok((dir, rejected, batches, last_rejected))
        })
        .await?;
        Ok(Self {
            dir,
            rejected,
            batches,
            last_rejected,
        })
    }

    fn path(&self, number: u64, events: usize) -> PathBuf {
        self.dir.join(file_name(number, events))
    }

    /// The oldest spooled batch: `(number, events)`.
    pub(crate) fn first(&self) -> Option<(u64, usize)> {
        self.batches.first_key_value().map(|(n, e)| (*n, *e))
    }

    /// The highest batch number a previous run used, spooled or set aside.
    pub(crate) fn last_number(&self) -> Option<u64> {
        let spooled = self.batches.last_key_value().map(|(n, _)| *n);
        spooled.max(self.last_rejected)
    }

    pub(crate) fn batches(&self) -> usize {
        self.batches.len()
    }

    pub(crate) fn events(&self) -> usize {
        self.batches.values().sum()
    }

    /// Writes a batch and fsyncs it: from then on it survives a crash.
    pub(crate) async fn write(
        &mut self,
        number: u64,
        events: usize,
        body: Bytes,
    ) -> io::Result<()> {
        let path = self.path(number, events);
        blocking(move || write_durably(&path, &body)).await?;
        self.batches.insert(number, events);
        Ok(())
    }

    /// Reads a spooled batch back (owned, so a send future can do it).
    pub(crate) fn reader(
        &self,
        number: u64,
    ) -> Option<impl Future<Output = io::Result<Bytes>> + use<>> {
        let events = *self.batches.get(&number)?;
        let path = self.path(number, events);
        Some(async move { tokio::fs::read(path).await.map(Bytes::from) })
    }

    /// The endpoint took it: forget it.
    pub(crate) async fn remove(&mut self, number: u64) -> io::Result<()> {
        let Some(events) = self.batches.remove(&number) else {
            return Ok(());
        };
        let path = self.path(number, events);
        blocking(move || match std::fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        })
        .await
    }

    /// The endpoint refused it as malformed: keep it aside for a human.
    pub(crate) async fn reject(&mut self, number: u64) -> io::Result<PathBuf> {
        let Some(events) = self.batches.remove(&number) else {
            return Err(io::Error::new(io::ErrorKind::NotFound, "not spooled"));
        };
        let from = self.path(number, events);
        let to = self.rejected.join(file_name(number, events));
        let rejected = self.rejected.clone();
        blocking(move || {
            std::fs::rename(&from, &to)?;
            std::fs::File::open(&rejected)?.sync_all()?;
            Ok(to)
        })
        .await
    }

    /// A batch refused before it was ever spooled.
    pub(crate) async fn write_rejected(
        &self,
        number: u64,
        events: usize,
        body: Bytes,
    ) -> io::Result<PathBuf> {
        let path = self.rejected.join(file_name(number, events));
        let written = path.clone();
        blocking(move || write_durably(&path, &body)).await?;
        Ok(written)
    }
}

/// Moves every batch set aside in `state_dir/rejected/` back to the spool,
/// under its own number (numbers are never reused, so none clashes), to be
/// sent first by the next run. Returns the batches and events moved. The
/// caller holds the state directory's lock: no relay is running.
pub(crate) fn requeue_rejected(state_dir: &Path) -> io::Result<(usize, usize)> {
    let dir = state_dir.join("spool");
    let rejected = state_dir.join("rejected");
    std::fs::create_dir_all(&dir)?;
    let mut moved = (0, 0);
    let entries = match std::fs::read_dir(&rejected) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(moved),
        Err(err) => return Err(err),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some((_, events)) = parse_name(&name.to_string_lossy()) else {
            continue;
        };
        std::fs::rename(entry.path(), dir.join(&name))?;
        moved.0 += 1;
        moved.1 += events;
    }
    std::fs::File::open(&dir)?.sync_all()?;
    std::fs::File::open(&rejected)?.sync_all()?;
    Ok(moved)
}

fn file_name(number: u64, events: usize) -> String {
    format!("{number:020}-{events}.json")
}

fn parse_name(name: &str) -> Option<(u64, usize)> {
    let (number, rest) = name.strip_suffix(".json")?.split_once('-')?;
    Some((number.parse().ok()?, rest.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_number_and_carry_the_event_count() {
        assert_eq!(file_name(42, 500), "00000000000000000042-500.json");
        assert_eq!(parse_name("00000000000000000042-500.json"), Some((42, 500)));
        assert!(file_name(9, 1) < file_name(10, 1));
        for bad in [
            "42.json",
            "x-1.json",
            "00000000000000000042-500.json.tmp",
            "notes.txt",
        ] {
            assert_eq!(parse_name(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_spool_survives_reopening_oldest_first_and_drops_half_written_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut spool = Spool::open(dir.path()).await.expect("opens");
        spool
            .write(7, 2, Bytes::from_static(b"{\"events\":[1,2]}"))
            .await
            .expect("write");
        spool
            .write(3, 1, Bytes::from_static(b"{\"events\":[0]}"))
            .await
            .expect("write");
        std::fs::write(
            dir.path().join("spool/00000000000000000009-1.json.tmp"),
            b"{\"ev",
        )
        .expect("half-written file");
        drop(spool);

        let mut spool = Spool::open(dir.path()).await.expect("reopens");
        assert_eq!(spool.first(), Some((3, 1)));
        assert_eq!((spool.batches(), spool.events()), (2, 3));
        assert_eq!(spool.last_number(), Some(7));
        let body = spool.reader(3).expect("spooled").await.expect("reads");
        assert_eq!(&body[..], b"{\"events\":[0]}");
        spool.remove(3).await.expect("removes");
        let rejected = spool.reject(7).await.expect("rejects");
        assert!(rejected.ends_with("rejected/00000000000000000007-2.json"));
        assert_eq!(spool.first(), None);
        let left: Vec<_> = std::fs::read_dir(dir.path().join("spool"))
            .expect("lists")
            .collect();
        assert!(left.is_empty(), "{left:?}");

        // Reopened with nothing spooled: numbering goes on after the batch
        // set aside rather than starting again at 1 and overwriting it.
        drop(spool);
        let spool = Spool::open(dir.path()).await.expect("reopens");
        assert_eq!(spool.first(), None);
        assert_eq!(spool.last_number(), Some(7));
    }
}
