//! Host figures for the snapshot and the low-space guard. A thread of its
//! own reads the free space every `EVERY` and load and memory every
//! `LOAD_EVERY` readings (statvfs of a hung network filesystem
//! may block: never on the control loop); the loop turns each reading into
//! the `HostView`, publishing only when a shown figure changed, and feeds
//! the guard, whose crossings the loop acts on (downloads held or released,
//! one log line each way).

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::warn;

use crate::host::{Crossing, HostSample, HostSampler, SpaceGuard, round_as_shown, round_load};
use crate::model::{FsView, HostView};

/// The pace of free-space readings: at the default threshold (1 GiB) a
/// download at 100 MB/s needs 10 s to eat through it.
pub(super) const EVERY: Duration = Duration::from_secs(5);
/// Load and memory are read every this many readings (15 s): the 1-minute
/// load is an average over a minute, and on a busy machine it moves at
/// every kernel update (5 s), so reading it at every reading would rebuild
/// a snapshot every 5 s for a figure that says little more than one every
/// 15 s does.
const LOAD_EVERY: u32 = 3;

/// The roles whose filesystems the guard watches: aria2 writes the
/// downloads, workers their temp files.
const GUARDED: &[&str] = &["downloads", "temp"];

pub(super) struct HostWatch {
    samples: mpsc::Receiver<HostSample>,
    guard: SpaceGuard,
    view: Option<HostView>,
}

impl HostWatch {
    /// Starts the reading thread on `dirs` (role, dir). Without a thread (the
    /// system refused one) there are no host figures, and no guard.
    pub fn start(dirs: Vec<(&'static str, PathBuf)>, min_free: u64) -> HostWatch {
        let (tx, samples) = mpsc::channel(1);
        let spawned = std::thread::Builder::new()
            .name("steward-host".into())
            .spawn(move || {
                let mut sampler = HostSampler::new(dirs);
                let mut reading = sampler.sample();
                for turn in 1u32.. {
                    // Ends once the loop is gone (the receiver dropped).
                    if tx.blocking_send(reading.clone()).is_err() {
                        return;
                    }
                    // A pace, not a wait for something: nothing signals
                    // that the load or the free space moved.
                    std::thread::sleep(EVERY);
                    if turn.is_multiple_of(LOAD_EVERY) {
                        (reading.load_1m, reading.memory_used, reading.memory_total) =
                            sampler.load_and_memory();
                    }
                    reading.filesystems = sampler.filesystems();
                }
            });
        if let Err(e) = spawned {
            warn!(error = %e, "cannot start the host sampler: no host figures, no low-space guard");
        }
        HostWatch {
            samples,
            guard: SpaceGuard::new(min_free),
            view: None,
        }
    }

    /// The next reading; `None` (for good) when the thread is gone.
    pub async fn next(&mut self) -> Option<HostSample> {
        self.samples.recv().await
    }

    /// Takes a reading: whether the view changed, and the guard's crossing.
    pub fn take(&mut self, sample: &HostSample) -> (bool, Crossing) {
        let least = sample
            .filesystems
            .iter()
            .filter(|fs| fs.holds.iter().any(|r| GUARDED.contains(r)))
            .map(|fs| fs.available)
            .min();
        let crossing = self.guard.observe(least);
        let view = view_of(sample, &self.guard);
        let changed = self.view.as_ref() != Some(&view);
        self.view = Some(view);
        (changed, crossing)
    }

    pub fn is_low(&self) -> bool {
        self.guard.is_low()
    }

    pub fn view(&self) -> Option<HostView> {
        self.view.clone()
    }
}

/// The reading as shown: figures rounded as the header shows them.
fn view_of(sample: &HostSample, guard: &SpaceGuard) -> HostView {
    HostView {
        load_1m: round_load(sample.load_1m),
        memory_used_bytes: round_as_shown(sample.memory_used),
        memory_total_bytes: round_as_shown(sample.memory_total),
        filesystems: sample
            .filesystems
            .iter()
            .map(|fs| FsView {
                holds: fs.holds.iter().map(|r| r.to_string()).collect(),
                path: fs.path.clone(),
                available_bytes: round_as_shown(fs.available),
                total_bytes: round_as_shown(fs.total),
                low: fs.holds.iter().any(|r| GUARDED.contains(r)) && guard.below(fs.available),
            })
            .collect(),
        min_free_bytes: guard.min_free(),
        low_space: guard.is_low(),
        resume_above_bytes: guard.resume_above(),
    }
}

/// The warning's words: which filesystem, how much is left, what follows.
pub(super) fn low_space_line(view: &HostView) -> String {
    let human = crate::time::human_bytes;
    let places: Vec<String> = view
        .low_filesystems()
        .map(|fs| {
            format!(
                "{} available on {} ({})",
                human(fs.available_bytes),
                fs.path.display(),
                fs.holds.join(", ")
            )
        })
        .collect();
    format!(
        "low disk space: {}, below [host] min_free_space {}: downloads paused until above {}",
        places.join("; "),
        crate::config::format_size(view.min_free_bytes),
        human(view.resume_above_bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::FsSample;

    const MIB: u64 = 1 << 20;

    fn reading(load: f64, downloads_free: u64) -> HostSample {
        HostSample {
            load_1m: load,
            memory_used: 3 << 30,
            memory_total: 16 << 30,
            filesystems: vec![
                FsSample {
                    holds: vec!["data"],
                    path: "/srv/steward".into(),
                    available: 100 << 30,
                    total: 200 << 30,
                },
                FsSample {
                    holds: vec!["downloads", "temp"],
                    path: "/mnt/dl".into(),
                    available: downloads_free,
                    total: 64 * MIB,
                },
            ],
        }
    }

    #[test]
    fn only_a_shown_change_is_news_and_the_guard_watches_downloads_and_temp() {
        let (_tx, samples) = mpsc::channel(1);
        let mut watch = HostWatch {
            samples,
            guard: SpaceGuard::new(40 * MIB),
            view: None,
        };
        assert_eq!(
            watch.take(&reading(0.41, 50 * MIB)),
            (true, Crossing::Steady)
        );
        // Moves below what is shown: no news.
        assert_eq!(
            watch.take(&reading(0.4449, 50 * MIB + 1000)),
            (false, Crossing::Steady)
        );
        assert_eq!(
            watch.take(&reading(0.46, 50 * MIB)),
            (true, Crossing::Steady)
        );
        let (changed, crossing) = watch.take(&reading(0.43, 39 * MIB));
        assert!(changed);
        assert_eq!(crossing, Crossing::WentLow);
        let view = watch.view().unwrap();
        assert!(view.low_space && view.filesystems[1].low && !view.filesystems[0].low);
        assert_eq!(
            low_space_line(&view),
            "low disk space: 39.0 MiB available on /mnt/dl (downloads, temp), below [host] min_free_space 40MiB: downloads paused until above 44.0 MiB"
        );
        assert_eq!(watch.take(&reading(0.43, 43 * MIB)).1, Crossing::Steady);
        assert!(watch.view().unwrap().low_space, "inside the margin");
        assert!(
            !watch.view().unwrap().filesystems[1].low,
            "above the line itself"
        );
        assert_eq!(watch.take(&reading(0.43, 45 * MIB)).1, Crossing::Recovered);
        assert!(!watch.view().unwrap().low_space);
    }
}
