//! The Prometheus text (exposition format 0.0.4) of one `Snapshot`: what
//! `GET /metrics` serves and `steward metrics` prints. Reads the snapshot
//! only, never the store or /proc. Per-account series carry the account id
//! as their one label (bounded by the number of accounts; no pids or paths).

use std::fmt;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::model::{
    AccountView, Aria2State, DownloadStatus, LastShutdown, Snapshot, SweepKind, WorkerState,
};

/// The `Content-Type` of what `encode` writes.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
const DOWNLOAD_STATUSES: [DownloadStatus; 6] = [
    DownloadStatus::Active,
    DownloadStatus::Waiting,
    DownloadStatus::Paused,
    DownloadStatus::Error,
    DownloadStatus::Complete,
    DownloadStatus::Removed,
];
const SHUTDOWN_KINDS: [LastShutdown; 3] = [
    LastShutdown::Clean,
    LastShutdown::Forced,
    LastShutdown::Crashed,
];

/// The metrics of `snapshot` as of `now_ms` (ages are counted to it):
/// `encode_snapshot` then `encode_clock`.
pub fn encode(snapshot: Arc<Snapshot>, now_ms: i64) -> String {
    let mut out = encode_snapshot(snapshot.clone());
    out.push_str(&encode_clock(snapshot, now_ms));
    out
}

/// Every metric that depends on the snapshot alone: the same text for the
/// same snapshot, so a server may keep it until the next one (`seq`).
pub fn encode_snapshot(snapshot: Arc<Snapshot>) -> String {
    text_of(SnapshotMetrics {
        snapshot,
        part: Part::Snapshot,
    })
}

/// The metrics that also depend on the time of the scrape (ages), after
/// `encode_snapshot`'s (families may come in any order).
pub fn encode_clock(snapshot: Arc<Snapshot>, now_ms: i64) -> String {
    text_of(SnapshotMetrics {
        snapshot,
        part: Part::Clock { now_ms },
    })
}

fn text_of(metrics: SnapshotMetrics) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(metrics));
    let mut out = String::with_capacity(4096);
    // Writing into a String never fails, and the collector's own errors
    // are the writer's: none.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry);
    out
}

fn sweep_kind_name(kind: SweepKind) -> &'static str {
    // `sweep.temp_dead_owner` without its prefix: the JSON word.
    kind.event_kind().trim_start_matches("sweep.")
}

#[derive(Debug)]
struct SnapshotMetrics {
    snapshot: Arc<Snapshot>,
    part: Part,
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Snapshot,
    Clock { now_ms: i64 },
}

/// One sample of a metric without labels.
fn single<V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: V,
) -> fmt::Result {
    encoder
        .encode_descriptor(name, help, unit, MetricType::Gauge)?
        .encode_gauge(&value)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    value: u64,
) -> fmt::Result {
    encoder
        .encode_descriptor(name, help, unit, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

/// A gauge with one sample per label set.
fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in samples {
        metric.encode_family(&labels)?.encode_gauge(&value)?;
    }
    Ok(())
}

/// A counter with one sample per label set.
fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    samples: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Counter)?;
    for (labels, value) in samples {
        metric
            .encode_family(&labels)?
            .encode_counter::<NoLabelSet, _, u64>(&value, None)?;
    }
    Ok(())
}

fn account(a: &AccountView) -> [(&'static str, &str); 1] {
    [("account", a.id.as_str())]
}

impl Collector for SnapshotMetrics {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        match self.part {
            Part::Snapshot => self.encode_snapshot(e),
            Part::Clock { now_ms } => {
                let oldest = self.snapshot.temp.as_ref().and_then(|t| t.oldest_ms);
                single(
                    &mut e,
                    "steward_temp_oldest_age",
                    "Age of the oldest temp entry (0 when there is none)",
                    Some(&Unit::Seconds),
                    oldest.map_or(0.0, |at| now_ms.saturating_sub(at).max(0) as f64 / 1000.0),
                )
            }
        }
    }
}

impl SnapshotMetrics {
    fn encode_snapshot(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let snap = &self.snapshot;
        let bytes = Unit::Bytes;
        let seconds = Unit::Seconds;
        let per_second = Unit::Other("bytes_per_second".into());

        gauges(
            &mut e,
            "steward_build_info",
            "steward's version (the value is always 1)",
            None,
            [([("version", snap.instance.version.as_str())], 1)],
        )?;
        gauges(
            &mut e,
            "steward_accounts",
            "Accounts by their worker's state",
            None,
            WorkerState::WORDS.iter().map(|&state| {
                let n = snap
                    .accounts
                    .iter()
                    .filter(|a| a.worker.state.word() == state)
                    .count() as u64;
                ([("state", state)], n)
            }),
        )?;
        single(
            &mut e,
            "steward_accounts_enabled",
            "Accounts that are enabled (their worker is meant to run)",
            None,
            snap.accounts.iter().filter(|a| a.enabled).count() as u64,
        )?;

        // Per account.
        let accounts = &snap.accounts;
        gauges(
            &mut e,
            "steward_worker_up",
            "1 while the account's worker is running",
            None,
            accounts.iter().map(|a| {
                (
                    account(a),
                    u64::from(a.worker.state == WorkerState::Running),
                )
            }),
        )?;
        counters(
            &mut e,
            "steward_worker_restarts",
            "Times the account's worker was started again since steward started",
            None,
            accounts
                .iter()
                .map(|a| (account(a), u64::from(a.worker.restarts))),
        )?;
        gauges(
            &mut e,
            "steward_worker_last_exit_code",
            "Exit code of the account's worker's last exit (absent when it ended by a signal or never ended)",
            None,
            accounts.iter().filter_map(|a| {
                let code = a.worker.last_exit.as_ref()?.code?;
                Some((account(a), i64::from(code)))
            }),
        )?;
        counters(
            &mut e,
            "steward_worker_cpu",
            "CPU time (user + system) the account's worker process has used; starts again with each restart",
            Some(&seconds),
            accounts
                .iter()
                .filter_map(|a| Some((account(a), a.worker.cpu_seconds?))),
        )?;
        gauges(
            &mut e,
            "steward_worker_rss",
            "Resident memory of the account's worker process",
            Some(&bytes),
            accounts
                .iter()
                .filter_map(|a| Some((account(a), a.worker.rss_bytes?))),
        )?;
        gauges(
            &mut e,
            "steward_worker_session_lock_held",
            "1 while a process holds the flock on the account's session file",
            None,
            accounts
                .iter()
                .map(|a| (account(a), u64::from(!a.worker.lock_holders.is_empty()))),
        )?;

        // aria2.
        let aria2 = snap.aria2.as_ref();
        single(
            &mut e,
            "steward_aria2_up",
            "1 while steward's aria2c answers over RPC",
            None,
            u64::from(aria2.is_some_and(|v| v.state == Aria2State::Running)),
        )?;
        counter(
            &mut e,
            "steward_aria2_restarts",
            "Times aria2c was started again since steward started",
            None,
            aria2.map_or(0, |v| u64::from(v.restarts)),
        )?;
        let global = aria2.and_then(|v| v.global.as_ref());
        single(
            &mut e,
            "steward_aria2_download_speed",
            "Download speed of all of aria2c's downloads, at its last poll",
            Some(&per_second),
            global.map_or(0, |g| g.download_speed),
        )?;
        single(
            &mut e,
            "steward_aria2_upload_speed",
            "Upload speed of all of aria2c's downloads, at its last poll",
            Some(&per_second),
            global.map_or(0, |g| g.upload_speed),
        )?;
        gauges(
            &mut e,
            "steward_aria2_downloads",
            "aria2c's downloads by status (those it lists)",
            None,
            DOWNLOAD_STATUSES.iter().map(|&status| {
                let n = aria2.map_or(0, |v| {
                    v.downloads.iter().filter(|d| d.status == status).count() as u64
                });
                ([("status", status.label())], n)
            }),
        )?;

        // Temp.
        let temp = snap.temp.clone().unwrap_or_default();
        single(
            &mut e,
            "steward_temp",
            "Size of the registered temp entries",
            Some(&bytes),
            temp.bytes,
        )?;
        single(
            &mut e,
            "steward_temp_files",
            "Files in the registered temp entries",
            None,
            temp.files,
        )?;
        single(
            &mut e,
            "steward_temp_orphaned_entries",
            "Registered temp entries whose owner process is dead",
            None,
            temp.orphaned,
        )?;

        // Sweeps.
        let sweeps = &snap.sweeps;
        counter(
            &mut e,
            "steward_sweep_runs",
            "Sweeps applied since steward started (start-up, retries, dashboard)",
            None,
            sweeps.runs,
        )?;
        counters(
            &mut e,
            "steward_sweep_removed_items",
            "Items the sweeps removed, by kind",
            None,
            SweepKind::ALL.iter().map(|&kind| {
                (
                    [("kind", sweep_kind_name(kind))],
                    sweeps.removed.get(&kind).copied().unwrap_or(0),
                )
            }),
        )?;
        counter(
            &mut e,
            "steward_sweep_freed",
            "Bytes the sweeps freed (as their plans measured them)",
            Some(&bytes),
            sweeps.bytes_freed,
        )?;

        // The host (absent before the first reading).
        if let Some(host) = &snap.host {
            single(
                &mut e,
                "steward_host_load1",
                "The host's 1-minute load average (as shown, 1 decimal)",
                None,
                host.load_1m,
            )?;
            single(
                &mut e,
                "steward_host_memory_used",
                "Memory in use on the host (as shown, two significant figures)",
                Some(&bytes),
                host.memory_used_bytes,
            )?;
            single(
                &mut e,
                "steward_host_memory_total",
                "The host's memory",
                Some(&bytes),
                host.memory_total_bytes,
            )?;
            // One sample per filesystem steward writes to, named by which of
            // its dirs it holds: at most three, whatever the fleet.
            let holds = |fs: &crate::model::FsView| fs.holds.join(",");
            gauges(
                &mut e,
                "steward_host_filesystem_available",
                "Space available on each filesystem holding steward's data, downloads or temp dirs",
                Some(&bytes),
                host.filesystems
                    .iter()
                    .map(|fs| ([("holds", holds(fs))], fs.available_bytes)),
            )?;
            single(
                &mut e,
                "steward_host_low_space",
                "1 while space under the downloads or temp dir is below [host] min_free_space (downloads are held)",
                None,
                u64::from(host.low_space),
            )?;
        }

        // The previous run's shutdown.
        gauges(
            &mut e,
            "steward_last_shutdown",
            "How the previous run of this data dir ended: 1 for its kind (all 0 on a fresh data dir)",
            None,
            SHUTDOWN_KINDS.iter().map(|&kind| {
                (
                    [("kind", kind.label())],
                    u64::from(snap.last_shutdown == Some(kind)),
                )
            }),
        )?;
        let mut took = e.encode_descriptor(
            "steward_last_shutdown_duration",
            "How long the previous run's shutdown took (absent after a crash or on a fresh data dir)",
            Some(&seconds),
            MetricType::Gauge,
        )?;
        if let Some(ms) = snap.last_shutdown_took_ms {
            took.encode_gauge(&(ms as f64 / 1000.0))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExitView, WorkerView};

    fn account_view(id: &str, state: WorkerState) -> AccountView {
        AccountView {
            id: id.into(),
            name: id.into(),
            enabled: true,
            secret_len: None,
            worker: WorkerView {
                state,
                ..Default::default()
            },
        }
    }

    #[test]
    fn the_host_and_its_low_space_flag_are_exported() {
        let snap = Snapshot {
            host: Some(crate::model::HostView {
                load_1m: 0.5,
                memory_used_bytes: 100,
                memory_total_bytes: 200,
                filesystems: vec![crate::model::FsView {
                    holds: vec!["data".into(), "downloads".into()],
                    available_bytes: 7,
                    ..Default::default()
                }],
                low_space: true,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = encode(Arc::new(snap), 0);
        for line in [
            "steward_host_low_space 1",
            "steward_host_filesystem_available_bytes{holds=\"data,downloads\"} 7",
            "steward_host_memory_total_bytes 200",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
        // Before the first reading: no host series at all.
        assert!(!encode(Arc::new(Snapshot::default()), 0).contains("steward_host_"));
    }

    #[test]
    fn names_carry_units_and_counters_end_in_total() {
        let mut alice = account_view("alice", WorkerState::Running);
        alice.worker.restarts = 3;
        alice.worker.cpu_seconds = Some(1.5);
        alice.worker.rss_bytes = Some(4096);
        alice.worker.pid = Some(4242);
        alice.worker.lock_holders = vec![4242];
        let mut bob = account_view(
            "bob",
            WorkerState::Exited {
                code: Some(2),
                signal: None,
            },
        );
        bob.worker.last_exit = Some(ExitView {
            code: Some(2),
            signal: None,
            at_ms: 1,
        });
        let snap = Snapshot {
            accounts: vec![alice, bob],
            last_shutdown: Some(LastShutdown::Forced),
            last_shutdown_took_ms: Some(2_500),
            ..Default::default()
        };
        let text = encode(Arc::new(snap), 0);
        for line in [
            "steward_accounts{state=\"running\"} 1",
            "steward_accounts{state=\"exited\"} 1",
            "steward_accounts{state=\"failed\"} 0",
            "steward_worker_up{account=\"alice\"} 1",
            "steward_worker_up{account=\"bob\"} 0",
            "steward_worker_restarts_total{account=\"alice\"} 3",
            "steward_worker_last_exit_code{account=\"bob\"} 2",
            "steward_worker_cpu_seconds_total{account=\"alice\"} 1.5",
            "steward_worker_rss_bytes{account=\"alice\"} 4096",
            "steward_worker_session_lock_held{account=\"alice\"} 1",
            "steward_worker_session_lock_held{account=\"bob\"} 0",
            "steward_aria2_up 0",
            "steward_aria2_download_speed_bytes_per_second 0",
            "steward_temp_bytes 0",
            "steward_temp_oldest_age_seconds 0.0",
            "steward_sweep_removed_items_total{kind=\"temp_dead_owner\"} 0",
            "steward_sweep_freed_bytes_total 0",
            "steward_last_shutdown{kind=\"forced\"} 1",
            "steward_last_shutdown_duration_seconds 2.5",
            "# TYPE steward_worker_cpu_seconds_total counter",
            "# HELP steward_build_info steward's version (the value is always 1)",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // No pid or path ever becomes a label.
        assert!(!text.contains("4242"), "{text}");
    }
}
