//! What lets a restarted relay RESUME: per shard, the session id, the resume
//! URL and the last sequence whose events (and every event before them) are
//! acknowledged by the endpoint or written to the spool.
//!
//! [`Progress`] decides which sequence is safe: a position reached while some
//! earlier batch is still only in memory must not be written, or a crash would
//! lose that batch and the RESUME would not replay it (ADR 0005).
//! `RELAY_STATE_DIR/session.json` is written atomically (temporary file,
//! fsync, rename).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::spool::write_durably;

/// Where one shard's session stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    pub(crate) session_id: Arc<str>,
    pub(crate) resume_url: Option<Arc<str>>,
    pub(crate) sequence: u64,
    /// Counts the sessions this process has seen on the shard (0: loaded
    /// from disk), so a snapshot of an older session never replaces a newer
    /// one.
    #[serde(skip)]
    pub(crate) generation: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SavedShard {
    shard: u32,
    shard_count: u32,
    #[serde(flatten)]
    position: Position,
}

#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    shards: Vec<SavedShard>,
}

/// The state file under `state_dir`.
pub(crate) fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("session.json")
}

/// Reads the saved positions for a relay of `shard_count` shards; positions
/// saved by a relay with another shard count cannot be resumed and are
/// ignored. A missing file is a first start.
pub(crate) fn load(state_dir: &Path, shard_count: u32) -> io::Result<Vec<Option<Position>>> {
    let mut positions = vec![None; usize::try_from(shard_count).unwrap_or(1)];
    let bytes = match std::fs::read(path(state_dir)) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(positions),
        Err(err) => return Err(err),
    };
    let saved: Saved = match serde_json::from_slice(&bytes) {
        Ok(saved) => saved,
        Err(err) => {
            tracing::warn!(error = %err, "session state is unreadable; identifying afresh");
            return Ok(positions);
        }
    };
    for shard in saved.shards {
        let slot = usize::try_from(shard.shard)
            .ok()
            .and_then(|i| positions.get_mut(i));
        match slot {
            Some(slot) if shard.shard_count == shard_count => *slot = Some(shard.position),
            _ => tracing::warn!(
                shard = shard.shard,
                saved_shard_count = shard.shard_count,
                shard_count,
                "saved session belongs to another shard layout; identifying afresh"
            ),
        }
    }
    Ok(positions)
}

/// Writes the positions atomically.
pub(crate) fn save(state_dir: &Path, positions: &[Option<Position>]) -> io::Result<()> {
    let shard_count = u32::try_from(positions.len()).unwrap_or(u32::MAX);
    let saved = Saved {
        shards: positions
            .iter()
            .enumerate()
            .filter_map(|(i, position)| {
                Some(SavedShard {
                    shard: u32::try_from(i).ok()?,
                    shard_count,
                    position: position.clone()?,
                })
            })
            .collect(),
    };
    let bytes = serde_json::to_vec_pretty(&saved).map_err(io::Error::other)?;
    write_durably(&path(state_dir), &bytes)
}

/// Tracks, per batch, where the gateway stood when it was sealed, and so
/// which positions are safe to save.
#[derive(Debug)]
pub(crate) struct Progress {
    /// As received from the gateway tasks.
    latest: Vec<Option<Position>>,
    /// Batch number → `latest` when that batch was sealed, for batches whose
    /// snapshot is not yet known to be safe.
    snapshots: BTreeMap<u64, Vec<Option<Position>>>,
    /// What may be saved now.
    safe: Vec<Option<Position>>,
}

impl Progress {
    /// Starts from the saved positions (which are safe by construction).
    pub(crate) fn new(saved: Vec<Option<Position>>) -> Self {
        Self {
            latest: saved.clone(),
            snapshots: BTreeMap::new(),
            safe: saved,
        }
    }

    /// A session began on `shard` (READY), or was first seen after a
    /// RESUME, with everything up to `sequence` dispatched before it. That
    /// position is safe at once: no event of this session came before it.
    /// An older session's events still only in memory cannot be replayed
    /// after a crash whatever is saved: Discord does not resume a session
    /// once it has given out another.
    pub(crate) fn session(
        &mut self,
        shard: usize,
        session_id: Arc<str>,
        resume_url: Option<Arc<str>>,
        sequence: u64,
    ) {
        let (Some(latest), Some(safe)) = (self.latest.get_mut(shard), self.safe.get_mut(shard))
        else {
            return;
        };
        let generation = [latest.as_ref(), safe.as_ref()]
            .into_iter()
            .flatten()
            .map(|p| p.generation)
            .max()
            .unwrap_or(0)
            + 1;
        let position = Position {
            session_id,
            resume_url,
            sequence,
            generation,
        };
        *latest = Some(position.clone());
        *safe = Some(position);
    }

    /// A dispatch with `sequence` was received on `shard`; its event (if it
    /// is forwarded) is now in the open batch.
    pub(crate) fn seen(&mut self, shard: usize, sequence: u64) {
        if let Some(Some(position)) = self.latest.get_mut(shard) {
            position.sequence = sequence;
        }
    }

    /// Batch `number` was sealed holding everything received so far.
    pub(crate) fn sealed(&mut self, number: u64) {
        self.snapshots.insert(number, self.latest.clone());
    }

    /// Recomputes what is safe. `oldest_unsafe` is the oldest batch that is
    /// neither acknowledged nor spooled (in memory, maybe in flight);
    /// `open_is_empty` says whether events wait in the unsealed batch.
    pub(crate) fn settle(
        &mut self,
        oldest_unsafe: Option<u64>,
        open_is_empty: bool,
    ) -> &[Option<Position>] {
        let limit = oldest_unsafe.unwrap_or(u64::MAX);
        while let Some(entry) = self.snapshots.first_entry() {
            if *entry.key() >= limit {
                break;
            }
            merge(&mut self.safe, entry.remove());
        }
        if oldest_unsafe.is_none() && open_is_empty {
            merge(&mut self.safe, self.latest.clone());
        }
        &self.safe
    }
}

/// Takes `newer`'s position for every shard that has one, unless it belongs
/// to an older session than the one already safe.
fn merge(safe: &mut [Option<Position>], newer: Vec<Option<Position>>) {
    for (slot, position) in safe.iter_mut().zip(newer) {
        if let Some(position) = position
            && slot
                .as_ref()
                .is_none_or(|current| position.generation >= current.generation)
        {
            *slot = Some(position);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(session: &str, sequence: u64) -> Option<Position> {
        Some(Position {
            session_id: session.into(),
            resume_url: Some("wss://resume.example".into()),
            sequence,
            generation: 0,
        })
    }

    fn sequence(
        progress: &mut Progress,
        oldest_unsafe: Option<u64>,
        open_empty: bool,
    ) -> Option<u64> {
        progress.settle(oldest_unsafe, open_empty)[0]
            .as_ref()
            .map(|p| p.sequence)
    }

    /// The ADR's rule, step by step: a sequence is never safe while an
    /// earlier event is only in memory.
    #[test]
    fn a_sequence_is_never_safe_ahead_of_events_in_memory() {
        let mut progress = Progress::new(vec![at("old", 7)]);
        assert_eq!(sequence(&mut progress, None, true), Some(7), "saved");

        progress.session(0, "s1".into(), Some("wss://r".into()), 1); // READY
        assert_eq!(sequence(&mut progress, None, true), Some(1), "READY");
        progress.seen(0, 2); // an event, now in the open batch
        assert_eq!(sequence(&mut progress, None, false), Some(1), "open: 2");

        progress.sealed(1); // batch 1 = up to seq 2, in memory
        progress.seen(0, 3);
        progress.sealed(2); // batch 2 = up to seq 3, spooled
        assert_eq!(
            sequence(&mut progress, Some(1), true),
            Some(1),
            "1 in memory"
        );

        // Batch 1 acknowledged: both batches are safe, and so is seq 3.
        assert_eq!(sequence(&mut progress, None, true), Some(3));

        progress.seen(0, 4);
        progress.sealed(3);
        progress.seen(0, 5); // an ignored dispatch, open batch empty
        assert_eq!(
            sequence(&mut progress, Some(3), true),
            Some(3),
            "3 in memory"
        );
        assert_eq!(sequence(&mut progress, None, true), Some(5), "all safe");
    }

    #[test]
    fn a_new_session_is_safe_at_once_and_older_snapshots_never_win() {
        let mut progress = Progress::new(vec![at("old", 40)]);
        progress.seen(0, 41);
        progress.sealed(1); // an old-session batch, still in memory
        progress.session(0, "new".into(), None, 1); // op 9, then READY
        let safe = progress.settle(Some(1), true)[0]
            .clone()
            .expect("a position");
        assert_eq!((&*safe.session_id, safe.sequence), ("new", 1));
        progress.seen(0, 2);
        progress.sealed(2);
        // Batch 1 (old session) delivered: its snapshot must not bring the
        // old session back.
        let safe = progress.settle(Some(2), true)[0]
            .clone()
            .expect("a position");
        assert_eq!((&*safe.session_id, safe.sequence), ("new", 1));
        let safe = progress.settle(None, true)[0].clone().expect("a position");
        assert_eq!((&*safe.session_id, safe.sequence), ("new", 2));
    }

    #[test]
    fn shards_move_independently() {
        let mut progress = Progress::new(vec![None, None]);
        progress.session(1, "b".into(), None, 8);
        progress.seen(1, 9);
        let safe = progress.settle(None, true);
        assert!(safe[0].is_none());
        assert_eq!(safe[1].as_ref().map(|p| p.sequence), Some(9));
    }

    #[test]
    fn saved_state_round_trips_and_another_shard_layout_is_ignored() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert_eq!(load(dir.path(), 2).expect("loads"), vec![None, None]);
        save(dir.path(), &[at("a", 5), None]).expect("saves");
        assert_eq!(load(dir.path(), 2).expect("loads"), vec![at("a", 5), None]);
        assert_eq!(load(dir.path(), 1).expect("loads"), vec![None]);
        std::fs::write(path(dir.path()), b"{not json").expect("writes");
        assert_eq!(load(dir.path(), 2).expect("loads"), vec![None, None]);
    }
}
