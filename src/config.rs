//! The configuration file (`steward.toml`): its shape, defaults, duration
//! syntax, validation, and one-line errors that name the file, line and key.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::de::{DeTable, DeValue};

use crate::paths::DataDir;

/// Signal names accepted for `[worker].stop_signal` (without the `SIG` prefix).
pub const STOP_SIGNALS: &[&str] = &["TERM", "INT", "HUP", "QUIT", "USR1", "USR2", "KILL"];

const DURATION_HINT: &str = "use e.g. 500ms, 10s, 2m";
const SIZE_HINT: &str = "use a whole number and one of B, KiB, MiB, GiB, TiB, e.g. 500MiB, 1GiB";

/// The ceiling of the ages (`[temp] max_age`, `[trash] keep`): 100 years, far
/// beyond any use, and far inside every i64-millisecond and `Instant` sum.
pub const MAX_AGE: Duration = Duration::from_secs(36_500 * 86_400);
/// The ceiling of every other duration (deadlines, backoffs, intervals): one day.
/// A longer wait is a typo, and a deadline must still be reachable.
pub const MAX_DEADLINE: Duration = Duration::from_secs(86_400);

/// The whole configuration. Every field has a default, so an empty file (or
/// no file) is a valid configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub worker: WorkerConfig,
    pub aria2: Aria2Config,
    pub temp: TempConfig,
    pub trash: TrashConfig,
    pub shutdown: ShutdownConfig,
    pub ui: UiConfig,
    pub metrics: MetricsConfig,
    pub host: HostConfig,
}

/// `[host]`: the machine steward runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// Below this much available space on the filesystem of the downloads
    /// dir or of the temp root, aria2's downloads are paused and the header
    /// warns, until space is back above it plus a margin.
    #[serde(with = "byte_size")]
    pub min_free_space: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            min_free_space: 1 << 30,
        }
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where `GET /metrics` and `GET /healthz` are served, e.g.
    /// `127.0.0.1:9464`; unset, no server. The docs say loopback; another
    /// address is the operator's choice (there is no authentication).
    pub listen: Option<std::net::SocketAddr>,
}

/// `[ui]`: the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UiConfig {
    /// What the terminal hanging up (SIGHUP: the SSH connection dropped)
    /// does to a steward whose dashboard it was, or to `run --headless`
    /// started from it.
    pub on_hangup: OnHangup,
}

/// `[ui].on_hangup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnHangup {
    /// Stop drawing and go on as `run --headless`; `steward` attaches later.
    #[default]
    KeepRunning,
    /// Shut the fleet down in order, as `q` does.
    Shutdown,
}

impl<'de> Deserialize<'de> for OnHangup {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            "on_hangup",
            &[
                ("keep-running", OnHangup::KeepRunning),
                ("shutdown", OnHangup::Shutdown),
            ],
        )
    }
}

/// One of `words` (a kebab-case enum in the file), or an error naming the
/// key and every word it takes.
fn one_of<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    key: &str,
    words: &[(&str, T)],
) -> Result<T, D::Error> {
    let s = String::deserialize(d)?;
    if let Some((_, value)) = words.iter().find(|(word, _)| *word == s) {
        return Ok(*value);
    }
    let names: Vec<&str> = words.iter().map(|(word, _)| *word).collect();
    let expected = match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    Err(serde::de::Error::custom(format!(
        "invalid {key} {s:?} (expected {expected})"
    )))
}

/// `[worker]`: how each account's worker process is run and restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// argv of the worker; `None` means the built-in demo worker.
    #[serde(deserialize_with = "de_command")]
    pub command: Option<Vec<String>>,
    /// Signal name without the `SIG` prefix, one of [`STOP_SIGNALS`].
    #[serde(deserialize_with = "de_signal")]
    pub stop_signal: String,
    #[serde(with = "duration")]
    pub stop_timeout: Duration,
    pub restart: RestartPolicy,
    #[serde(with = "duration")]
    pub backoff_initial: Duration,
    #[serde(with = "duration")]
    pub backoff_max: Duration,
    /// A worker that stayed up this long gets its backoff reset.
    #[serde(with = "duration")]
    pub backoff_reset_after: Duration,
    /// Extra environment variables for every worker.
    pub env: BTreeMap<String, String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            command: None,
            stop_signal: "TERM".to_owned(),
            stop_timeout: Duration::from_secs(10),
            restart: RestartPolicy::OnFailure,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            backoff_reset_after: Duration::from_secs(30),
            env: BTreeMap::new(),
        }
    }
}

/// `[worker].restart`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

impl<'de> Deserialize<'de> for RestartPolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_of(
            d,
            "restart policy",
            &[
                ("always", RestartPolicy::Always),
                ("on-failure", RestartPolicy::OnFailure),
                ("never", RestartPolicy::Never),
            ],
        )
    }
}

/// `[aria2]`: the shared download daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Aria2Config {
    pub enabled: bool,
    pub binary: String,
    /// `None` (or `""`) means `<data-dir>/downloads`.
    #[serde(deserialize_with = "de_opt_path")]
    pub download_dir: Option<PathBuf>,
    pub max_concurrent: u32,
    pub extra_args: Vec<String>,
    #[serde(with = "duration")]
    pub restart_backoff_max: Duration,
}

impl Default for Aria2Config {
    fn default() -> Self {
        Aria2Config {
            enabled: true,
            binary: "aria2c".to_owned(),
            download_dir: None,
            max_concurrent: 5,
            extra_args: Vec::new(),
            restart_backoff_max: Duration::from_secs(30),
        }
    }
}

/// `[temp]`: the registered temp tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TempConfig {
    /// `None` (or `""`) means `<data-dir>/tmp`.
    #[serde(deserialize_with = "de_opt_path")]
    pub root: Option<PathBuf>,
    #[serde(with = "duration")]
    pub max_age: Duration,
    #[serde(with = "duration")]
    pub stats_interval: Duration,
}

impl Default for TempConfig {
    fn default() -> Self {
        TempConfig {
            root: None,
            max_age: Duration::from_secs(24 * 3600),
            stats_interval: Duration::from_secs(5),
        }
    }
}

/// `[trash]`: how long trashed session files are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrashConfig {
    #[serde(with = "duration")]
    pub keep: Duration,
}

impl Default for TrashConfig {
    fn default() -> Self {
        TrashConfig {
            keep: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// `[shutdown]`: the deadline of each shutdown phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ShutdownConfig {
    #[serde(with = "duration")]
    pub cancel_tasks: Duration,
    #[serde(with = "duration")]
    pub save_downloads: Duration,
    /// `None` means `worker.stop_timeout + 1s` (see [`Config::stop_workers_deadline`]).
    #[serde(with = "opt_duration")]
    pub stop_workers: Option<Duration>,
    #[serde(with = "duration")]
    pub stop_aria2: Duration,
    #[serde(with = "duration")]
    pub clean_temp: Duration,
    #[serde(with = "duration")]
    pub close_store: Duration,
    /// When set, the whole shutdown is forced after this long.
    #[serde(with = "opt_duration")]
    pub force_after: Option<Duration>,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            cancel_tasks: Duration::from_secs(5),
            save_downloads: Duration::from_secs(3),
            stop_workers: None,
            stop_aria2: Duration::from_secs(3),
            clean_temp: Duration::from_secs(10),
            close_store: Duration::from_secs(5),
            force_after: None,
        }
    }
}

/// A config file that could not be read or is not valid. Display is one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {file}: {source}")]
    Io {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config error in {file}{}: {message}", line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Invalid {
        /// The file name as given by the caller.
        file: String,
        /// 1-based line of the offending key or value, when known.
        line: Option<usize>,
        /// What is wrong, naming the key and table, e.g.
        /// `unknown key "comand" in [worker]`.
        message: String,
    },
}

impl Config {
    /// Reads and validates `path`. A missing file gives the defaults unless
    /// `required` (the file was named explicitly, e.g. by `--config`).
    pub fn load(path: &Path, required: bool) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Config::from_str_named(&text, &name),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Config::default())
            }
            Err(source) => Err(ConfigError::Io { file: name, source }),
        }
    }

    /// Parses and validates `text`; `display_name` is the file name used in errors.
    pub fn from_str_named(text: &str, display_name: &str) -> Result<Config, ConfigError> {
        let invalid = |span: Option<Range<usize>>, message: String| ConfigError::Invalid {
            file: display_name.to_owned(),
            line: span.map(|s| line_of(text, s.start)),
            message,
        };
        // The recoverable parse keeps the keys read before a syntax error, so
        // that error can name its key too.
        let (doc, errors) = DeTable::parse_recoverable(text);
        if let Some(e) = errors.first() {
            return Err(invalid(e.span(), describe(text, doc.get_ref(), e)));
        }
        let config = Config::deserialize(toml::de::Deserializer::from(doc.clone()))
            .map_err(|e| invalid(e.span(), describe(text, doc.get_ref(), &e)))?;
        config.validate().map_err(|(table, key, what)| {
            invalid(
                key_span(doc.get_ref(), table, key),
                with_key(&what, key, table),
            )
        })?;
        Ok(config)
    }

    /// Every duration with the ceiling it must stay under: (table, key, value, max).
    fn durations(&self) -> Vec<(&'static str, &'static str, Duration, Duration)> {
        let (w, a, t, s) = (&self.worker, &self.aria2, &self.temp, &self.shutdown);
        let mut all = vec![
            ("worker", "stop_timeout", w.stop_timeout, MAX_DEADLINE),
            ("worker", "backoff_initial", w.backoff_initial, MAX_DEADLINE),
            ("worker", "backoff_max", w.backoff_max, MAX_DEADLINE),
            (
                "worker",
                "backoff_reset_after",
                w.backoff_reset_after,
                MAX_DEADLINE,
            ),
            (
                "aria2",
                "restart_backoff_max",
                a.restart_backoff_max,
                MAX_DEADLINE,
            ),
            ("temp", "max_age", t.max_age, MAX_AGE),
            ("temp", "stats_interval", t.stats_interval, MAX_DEADLINE),
            ("trash", "keep", self.trash.keep, MAX_AGE),
            ("shutdown", "cancel_tasks", s.cancel_tasks, MAX_DEADLINE),
            ("shutdown", "save_downloads", s.save_downloads, MAX_DEADLINE),
            ("shutdown", "stop_aria2", s.stop_aria2, MAX_DEADLINE),
            ("shutdown", "clean_temp", s.clean_temp, MAX_DEADLINE),
            ("shutdown", "close_store", s.close_store, MAX_DEADLINE),
        ];
        if let Some(d) = s.stop_workers {
            all.push(("shutdown", "stop_workers", d, MAX_DEADLINE));
        }
        if let Some(d) = s.force_after {
            all.push(("shutdown", "force_after", d, MAX_DEADLINE));
        }
        all
    }

    /// Checks of ranges and of fields together. Err = (table, key, message).
    fn validate(&self) -> Result<(), (&'static str, &'static str, String)> {
        for (table, key, value, max) in self.durations() {
            if value > max {
                return Err((
                    table,
                    key,
                    format!(
                        "{key} {} is above the maximum {} (ages may be up to {}, deadlines, backoffs and intervals up to {})",
                        format_duration(value),
                        format_duration(max),
                        format_duration(MAX_AGE),
                        format_duration(MAX_DEADLINE)
                    ),
                ));
            }
        }
        for (name, value) in &self.worker.env {
            let bad = if name.is_empty() {
                Some("an empty variable name")
            } else if name.contains('\0') {
                Some("a NUL byte in the variable name")
            } else if name.contains('=') {
                Some("a '=' in the variable name")
            } else if value.contains('\0') {
                Some("a NUL byte in the value")
            } else {
                None
            };
            if let Some(bad) = bad {
                return Err((
                    "worker",
                    "env",
                    format!("{bad} of {name:?} (no process can be started with it: remove it)"),
                ));
            }
        }
        let w = &self.worker;
        if w.backoff_initial.is_zero() {
            return Err((
                "worker",
                "backoff_initial",
                "backoff_initial must be more than 0 (use e.g. 500ms, 1s)".to_owned(),
            ));
        }
        if w.backoff_initial > w.backoff_max {
            return Err((
                "worker",
                "backoff_max",
                format!(
                    "backoff_max {} is below backoff_initial {} (make it at least as large)",
                    format_duration(w.backoff_max),
                    format_duration(w.backoff_initial)
                ),
            ));
        }
        if self.temp.stats_interval.is_zero() {
            return Err((
                "temp",
                "stats_interval",
                "stats_interval must be more than 0 (use e.g. 5s)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The deadline of the "stop workers" shutdown phase.
    pub fn stop_workers_deadline(&self) -> Duration {
        self.shutdown.stop_workers.unwrap_or(
            self.worker
                .stop_timeout
                .saturating_add(Duration::from_secs(1)),
        )
    }

    /// The longest the whole shutdown plan can take: every phase's deadline.
    pub fn shutdown_total(&self) -> Duration {
        let s = &self.shutdown;
        [
            s.cancel_tasks,
            s.save_downloads,
            self.stop_workers_deadline(),
            s.stop_aria2,
            s.clean_temp,
            s.close_store,
        ]
        .into_iter()
        .fold(Duration::ZERO, Duration::saturating_add)
    }

    /// Where aria2c puts downloads.
    pub fn download_dir(&self, data_dir: &DataDir) -> PathBuf {
        self.aria2
            .download_dir
            .clone()
            .unwrap_or_else(|| data_dir.downloads_dir())
    }

    /// Root of the registered temp tree.
    pub fn temp_root(&self, data_dir: &DataDir) -> PathBuf {
        self.temp.root.clone().unwrap_or_else(|| data_dir.tmp_dir())
    }
}

// ---------------------------------------------------------------------------
// Byte sizes

/// The units of [`parse_size`], largest first.
const SIZE_UNITS: [(&str, u64); 5] = [
    ("TiB", 1 << 40),
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("B", 1),
];

/// Parses `500MiB`, `1GiB`, `0B` (a whole number and one binary unit, as
/// written: "1gb" or "1.5GiB" are refused rather than guessed at).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let (_, per) = SIZE_UNITS.iter().find(|(u, _)| *u == unit.trim_start())?;
    n.checked_mul(*per)
}

/// The inverse of [`parse_size`]: the largest unit that divides exactly.
pub fn format_size(bytes: u64) -> String {
    let (unit, per) = SIZE_UNITS
        .iter()
        .find(|(_, per)| bytes != 0 && bytes.is_multiple_of(*per))
        .unwrap_or(&("B", 1));
    format!("{}{unit}", bytes / per)
}

mod byte_size {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let s = String::deserialize(d)?;
        parse_size(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid size {s:?} ({SIZE_HINT})")))
    }
}

// ---------------------------------------------------------------------------
// Durations

/// Parses `500ms`, `10s`, `2m`, `1h`, `7d` (a whole number and one unit).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let ms_per = match unit.trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms_per).map(Duration::from_millis)
}

/// The inverse of [`parse_duration`]: the largest unit that divides exactly.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, per) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms != 0 && ms.is_multiple_of(per) {
            return format!("{}{unit}", ms / per);
        }
    }
    format!("{ms}ms")
}

fn duration_from_str<E: serde::de::Error>(s: &str) -> Result<Duration, E> {
    parse_duration(s).ok_or_else(|| E::custom(format!("invalid duration {s:?} ({DURATION_HINT})")))
}

mod duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        duration_from_str(&s)
    }
}

/// Like `duration`, with `""` meaning `None`.
mod opt_duration {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s = String::deserialize(d)?;
        if s.trim().is_empty() {
            Ok(None)
        } else {
            duration_from_str(&s).map(Some)
        }
    }
}

fn de_opt_path<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    let s = String::deserialize(d)?;
    Ok(if s.is_empty() {
        None
    } else {
        Some(PathBuf::from(s))
    })
}

fn de_command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let argv = Vec::<String>::deserialize(d)?;
    if argv.is_empty() {
        return Err(serde::de::Error::custom(
            "empty command (remove the key to use the built-in demo worker, or give an argv like [\"python3\", \"bot.py\"])",
        ));
    }
    if argv[0].is_empty() {
        return Err(serde::de::Error::custom(
            "empty program name (the first element is the program to run)",
        ));
    }
    Ok(Some(argv))
}

fn de_signal<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let upper = raw.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if STOP_SIGNALS.contains(&name) {
        Ok(name.to_owned())
    } else {
        Err(serde::de::Error::custom(format!(
            "invalid signal {raw:?} (expected one of {})",
            STOP_SIGNALS.join(", ")
        )))
    }
}

impl fmt::Display for RestartPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        })
    }
}

// ---------------------------------------------------------------------------
// Error positions: toml's own spans, mapped to the key they belong to

/// One key of the parsed document and where it stands: a `key = value` line,
/// a dotted or inline key, or a `[table]` / `[[table]]` header.
struct Entry<'d> {
    /// Dotted name of the table holding the key, `""` at the top level.
    table: String,
    key: &'d str,
    /// Number of tables above the key, so the innermost match wins.
    depth: usize,
    key_span: Range<usize>,
    value_span: Range<usize>,
    header: bool,
}

impl Entry<'_> {
    fn holds(&self, at: usize) -> bool {
        let holds = |s: &Range<usize>| s.contains(&at) || s.start == at;
        holds(&self.key_span) || holds(&self.value_span)
    }
}

fn join_key(table: &str, key: &str) -> String {
    if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    }
}

/// Every key of `table` and of the tables below it, parents before children.
fn entries<'d>(table: &'d DeTable<'_>, path: &str, depth: usize, text: &str) -> Vec<Entry<'d>> {
    let mut out = Vec::new();
    for (key, value) in table.iter() {
        let value_span = value.span();
        let written = text.get(value_span.clone()).unwrap_or("");
        // A header's value span is the header itself; an inline table's starts
        // with `{`, a dotted key's with the key, an inline array's never with `[[{`.
        let header = match value.get_ref() {
            DeValue::Table(_) => written.starts_with('['),
            DeValue::Array(items) => {
                written.starts_with("[[")
                    && items
                        .iter()
                        .next()
                        .is_some_and(|i| matches!(i.get_ref(), DeValue::Table(_)))
            }
            _ => false,
        };
        let child = join_key(path, key.get_ref());
        out.push(Entry {
            table: path.to_owned(),
            key: key.get_ref(),
            depth,
            key_span: key.span(),
            value_span,
            header,
        });
        match value.get_ref() {
            DeValue::Table(t) => out.extend(entries(t, &child, depth + 1, text)),
            DeValue::Array(items) => {
                for item in items.iter() {
                    if let DeValue::Table(t) = item.get_ref() {
                        out.extend(entries(t, &child, depth + 1, text));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The innermost key whose name or value holds byte offset `at`.
fn entry_at<'a, 'd>(all: &'a [Entry<'d>], at: usize) -> Option<&'a Entry<'d>> {
    all.iter()
        .filter(|e| e.holds(at))
        .max_by_key(|e| (e.depth, std::cmp::Reverse(e.value_span.len())))
}

/// Span of the key `key` in `[table]` (a plain table name, as the checks after
/// parsing give it), however it was written: under a header, dotted or inline.
fn key_span(doc: &DeTable<'_>, table: &str, key: &str) -> Option<Range<usize>> {
    let parent = match doc.get(table)?.get_ref() {
        DeValue::Table(t) => t,
        _ => return None,
    };
    parent.get_key_value(key).map(|(k, _)| k.span())
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    let before = &text.as_bytes()[..at.min(text.len())];
    before.iter().filter(|&&b| b == b'\n').count() + 1
}

/// `in [worker]`, or `at the top level`.
fn place(table: &str) -> String {
    if table.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{table}]")
    }
}

/// `what (hint)` from serde/toml's `what, expected X` or an already
/// parenthesised hint.
fn split_hint(what: &str) -> (&str, Option<String>) {
    if let Some(i) = what.rfind(", expected ") {
        return (&what[..i], Some(what[i + 2..].to_owned()));
    }
    if what.ends_with(')')
        && let Some(i) = what.rfind(" (")
    {
        return (&what[..i], Some(what[i + 2..what.len() - 1].to_owned()));
    }
    (what, None)
}

/// `what, expected X` → `what (expected X)`.
fn hinted(what: &str) -> String {
    let (head, hint) = split_hint(what);
    hint.map_or(head.to_owned(), |h| format!("{head} ({h})"))
}

/// `invalid duration "10x" (use ...)` → `invalid duration "10x" for key
/// "stop_timeout" in [worker] (use ...)`.
fn with_key(what: &str, key: &str, table: &str) -> String {
    let (head, hint) = split_hint(what);
    let hint = hint.map(|h| format!(" ({h})")).unwrap_or_default();
    format!("{head} for key {key:?} {}{hint}", place(table))
}

/// Turns a toml error into one line naming the key and table, from the
/// error's span and the keys of the (possibly partly) parsed document.
fn describe(text: &str, doc: &DeTable<'_>, e: &toml::de::Error) -> String {
    let msg = e.message().lines().next().unwrap_or("").trim();
    let Some(span) = e.span() else {
        return hinted(msg);
    };
    let all = entries(doc, "", 0, text);
    let found = entry_at(&all, span.start);

    if let Some(rest) = msg.strip_prefix("unknown field `") {
        // serde's `unknown field `x`, expected one of `a`, `b`` (or `expected `a``).
        let field = rest.split('`').next().unwrap_or("");
        let expected = rest
            .split_once(", expected ")
            .map(|(_, e)| e.trim_start_matches("one of ").replace('`', ""));
        let (table, key, header) = match found {
            Some(f) => (f.table.as_str(), f.key, f.header),
            None => ("", field, false),
        };
        let bracketed = |e: &str| {
            let tables: Vec<String> = e.split(", ").map(|t| format!("[{t}]")).collect();
            tables.join(", ")
        };
        let hint = match (expected, header, table.is_empty()) {
            (None, ..) => String::new(),
            (Some(e), true, true) => format!(" (expected one of {})", bracketed(&e)),
            (Some(e), true, false) => format!(" ([{table}] takes only the keys {e})"),
            (Some(e), false, true) => format!(" (expected one of the tables {})", bracketed(&e)),
            (Some(e), false, false) => format!(" (expected one of {e})"),
        };
        return if header {
            format!("unknown table [{}]{hint}", join_key(table, key))
        } else {
            format!("unknown key {key:?} {}{hint}", place(table))
        };
    }

    if msg == "duplicate key" {
        // The second of two equal keys is not in the document: its first
        // occurrence is, named as written at the error's span.
        let written = text.get(span.clone()).unwrap_or("").trim();
        let name = written.trim_matches('"').trim_matches('\'');
        let first = all
            .iter()
            .filter(|e| e.key == name && e.key_span.start < span.start)
            .max_by_key(|e| e.key_span.start);
        if let Some(first) = first {
            let line = line_of(text, first.key_span.start);
            return format!(
                "duplicate key {name:?} {} (it is already set on line {line}: keep one)",
                place(&first.table)
            );
        }
        if let Some(f) = found.filter(|f| f.header) {
            return format!(
                "table [{}] is defined twice (merge the two into one)",
                join_key(&f.table, f.key)
            );
        }
    }

    match found {
        Some(f) => with_key(msg, f.key, &f.table),
        None => hinted(msg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_str_named(text, "steward.toml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn metrics_listen_is_unset_by_default_and_takes_an_address() {
        assert_eq!(Config::default().metrics.listen, None);
        let c = Config::from_str_named("[metrics]\nlisten = \"127.0.0.1:9464\"\n", "steward.toml")
            .unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
        let e = Config::from_str_named("[metrics]\nlisten = \"localhost\"\n", "steward.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
    }

    #[test]
    fn empty_file_and_missing_file_give_defaults() {
        let c = Config::from_str_named("", "steward.toml").unwrap();
        assert_eq!(c, Config::default());
        assert_eq!(c.worker.command, None);
        assert_eq!(c.worker.stop_signal, "TERM");
        assert_eq!(c.worker.stop_timeout, Duration::from_secs(10));
        assert_eq!(c.worker.restart, RestartPolicy::OnFailure);
        assert_eq!(c.worker.backoff_initial, Duration::from_secs(1));
        assert_eq!(c.worker.backoff_max, Duration::from_secs(60));
        assert_eq!(c.worker.backoff_reset_after, Duration::from_secs(30));
        assert!(c.aria2.enabled);
        assert_eq!(c.aria2.binary, "aria2c");
        assert_eq!(c.aria2.max_concurrent, 5);
        assert_eq!(c.temp.max_age, Duration::from_secs(86_400));
        assert_eq!(c.trash.keep, Duration::from_secs(7 * 86_400));
        assert_eq!(c.shutdown.stop_workers, None);
        assert_eq!(c.stop_workers_deadline(), Duration::from_secs(11));
        let d = DataDir::new("/srv/s");
        assert_eq!(c.download_dir(&d), PathBuf::from("/srv/s/downloads"));
        assert_eq!(c.temp_root(&d), PathBuf::from("/srv/s/tmp"));

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.toml");
        assert_eq!(Config::load(&missing, false).unwrap(), Config::default());
        let e = Config::load(&missing, true).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot read config {}: ", missing.display())),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn full_valid_file() {
        let text = r#"
[worker]
command = ["python3", "bot.py"]
stop_signal = "SIGint"
stop_timeout = "500ms"
restart = "always"
backoff_initial = "2s"
backoff_max = "2m"
backoff_reset_after = "1h"
env = { LANG = "C", X = "y" }

[aria2]
enabled = false
binary = "/usr/bin/aria2c"
download_dir = "/data/dl"
max_concurrent = 9
extra_args = ["--foo"]
restart_backoff_max = "1d"

[temp]
root = "/tmp/st"
max_age = "12h"
stats_interval = "1s"

[trash]
keep = "1d"

[shutdown]
cancel_tasks = "1s"
save_downloads = "2s"
stop_workers = "20s"
stop_aria2 = "4s"
clean_temp = "5s"
close_store = "6s"
force_after = "1m"
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.toml");
        std::fs::write(&path, text).unwrap();
        let c = Config::load(&path, true).unwrap();
        assert_eq!(
            c.worker.command,
            Some(vec!["python3".to_owned(), "bot.py".to_owned()])
        );
        assert_eq!(c.worker.stop_signal, "INT");
        assert_eq!(c.worker.stop_timeout, Duration::from_millis(500));
        assert_eq!(c.worker.restart, RestartPolicy::Always);
        assert_eq!(c.worker.backoff_max, Duration::from_secs(120));
        assert_eq!(c.worker.backoff_reset_after, Duration::from_secs(3600));
        assert_eq!(c.worker.env.get("LANG").map(String::as_str), Some("C"));
        assert!(!c.aria2.enabled);
        assert_eq!(c.aria2.download_dir, Some(PathBuf::from("/data/dl")));
        assert_eq!(c.aria2.max_concurrent, 9);
        assert_eq!(c.aria2.extra_args, vec!["--foo".to_owned()]);
        assert_eq!(c.aria2.restart_backoff_max, Duration::from_secs(86_400));
        assert_eq!(c.temp.root, Some(PathBuf::from("/tmp/st")));
        assert_eq!(c.trash.keep, Duration::from_secs(86_400));
        assert_eq!(c.shutdown.stop_workers, Some(Duration::from_secs(20)));
        assert_eq!(c.stop_workers_deadline(), Duration::from_secs(20));
        assert_eq!(c.shutdown.force_after, Some(Duration::from_secs(60)));

        // Empty strings mean "unset" for the optional paths and durations.
        let c = Config::from_str_named(
            "[aria2]\ndownload_dir = \"\"\n[shutdown]\nforce_after = \"\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.aria2.download_dir, None);
        assert_eq!(c.shutdown.force_after, None);
    }

    #[test]
    fn unknown_key_names_line_key_and_table() {
        let text = "# steward\n\n[worker]\ncomand = [\"x\"]\n";
        let e = err(text);
        assert!(
            e.starts_with(
                "config error in steward.toml line 4: unknown key \"comand\" in [worker]"
            ),
            "{e}"
        );
        assert!(!e.contains('\n'));
        let e = err("[trash]\nkeep = \"1d\"\n\n\n[shutdown]\n  bogus = 1\n");
        assert!(
            e.starts_with(
                "config error in steward.toml line 6: unknown key \"bogus\" in [shutdown]"
            ),
            "{e}"
        );
        let e = err("worker.comand = 1\n");
        assert!(
            e.starts_with(
                "config error in steward.toml line 1: unknown key \"comand\" in [worker]"
            ),
            "{e}"
        );
        let e = err("x = 1\n");
        assert!(
            e.starts_with(
                "config error in steward.toml line 1: unknown key \"x\" at the top level"
            ),
            "{e}"
        );
    }

    #[test]
    fn unknown_table() {
        let e = err("[worker]\nrestart = \"never\"\n[workers]\ncommand = [\"a\"]\n");
        assert!(
            e.starts_with("config error in steward.toml line 3: unknown table [workers] (expected one of [worker], [aria2],"),
            "{e}"
        );
        let e = err("[worker.sub]\nx = 1\n");
        assert!(
            e.starts_with("config error in steward.toml line 1: unknown table [worker.sub]"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration() {
        let e = err("[worker]\nstop_signal = \"TERM\"\nstop_timeout = \"10x\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 3: invalid duration \"10x\" for key \"stop_timeout\" in [worker] (use e.g. 500ms, 10s, 2m)"
        );
        for bad in [
            "",
            "s",
            "10",
            "-1s",
            "1.5s",
            "1 h x",
            "99999999999999999999d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_duration("0ms"), Some(Duration::ZERO));
        let e = err("[trash]\nkeep = 5\n");
        assert!(
            e.starts_with("config error in steward.toml line 2: invalid type: integer `5` for key \"keep\" in [trash] (expected"),
            "{e}"
        );
        let e = err("[temp]\nstats_interval = \"0s\"\n");
        assert!(
            e.starts_with(
                "config error in steward.toml line 2: stats_interval must be more than 0"
            ),
            "{e}"
        );
    }

    #[test]
    fn sizes_are_parsed_strictly_and_errors_name_the_key() {
        assert_eq!(Config::default().host.min_free_space, 1 << 30);
        for (text, bytes) in [
            ("1GiB", 1 << 30),
            ("500MiB", 500 << 20),
            ("0B", 0),
            ("7 KiB", 7 << 10),
            ("2TiB", 2 << 40),
            ("1234B", 1234),
        ] {
            assert_eq!(parse_size(text), Some(bytes), "{text:?}");
        }
        for bad in [
            "",
            "GiB",
            "1",
            "1gb",
            "1GB",
            "1.5GiB",
            "-1MiB",
            "1 GiB x",
            "99999999999TiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
        for bytes in [
            0,
            1,
            1023,
            1 << 10,
            3 << 20,
            1 << 30,
            (1 << 30) + 1,
            5 << 40,
        ] {
            assert_eq!(parse_size(&format_size(bytes)), Some(bytes));
        }
        assert_eq!(format_size(1 << 30), "1GiB");
        assert_eq!(format_size(1536 << 10), "1536KiB");
        let c = Config::from_str_named("[host]\nmin_free_space = \"64MiB\"\n", "x").unwrap();
        assert_eq!(c.host.min_free_space, 64 << 20);
        let e = err("[host]\n\nmin_free_space = \"1GB\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 3: invalid size \"1GB\" for key \"min_free_space\" in [host] (use a whole number and one of B, KiB, MiB, GiB, TiB, e.g. 500MiB, 1GiB)"
        );
        let e = err("[host]\nmin_free_space = 1024\n");
        assert!(
            e.starts_with("config error in steward.toml line 2: invalid type: integer `1024` for key \"min_free_space\" in [host]"),
            "{e}"
        );
    }

    #[test]
    fn durations_are_range_checked_naming_the_key_and_its_maximum() {
        let e = err("[trash]\nkeep = \"10000000000000000s\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 2: keep 10000000000000000s is above the maximum 36500d for key \"keep\" in [trash] (ages may be up to 36500d, deadlines, backoffs and intervals up to 1d)"
        );
        let e = err("[temp]\nmax_age = \"36501d\"\n");
        assert!(e.contains("for key \"max_age\" in [temp]"), "{e}");
        let e = err("[shutdown]\n\nforce_after = \"25h\"\n");
        assert!(
            e.starts_with("config error in steward.toml line 3: force_after 25h is above the maximum 1d for key \"force_after\" in [shutdown]"),
            "{e}"
        );
        for (table, key) in [
            ("worker", "stop_timeout"),
            ("worker", "backoff_reset_after"),
            ("aria2", "restart_backoff_max"),
            ("temp", "stats_interval"),
            ("shutdown", "stop_workers"),
            ("shutdown", "clean_temp"),
        ] {
            let e = err(&format!("[{table}]\n{key} = \"2d\"\n"));
            assert!(
                e.contains(&format!("for key {key:?} in [{table}]")) && e.contains("maximum 1d"),
                "{e}"
            );
        }
        // The ceilings themselves are fine.
        let c = Config::from_str_named(
            "[trash]\nkeep = \"36500d\"\n[temp]\nmax_age = \"36500d\"\n[shutdown]\nforce_after = \"1d\"\n",
            "x",
        )
        .unwrap();
        assert_eq!(c.trash.keep, MAX_AGE);
    }

    #[test]
    fn worker_env_with_nul_or_equals_is_refused_naming_the_key() {
        for (text, what) in [
            (
                "[worker]\nenv = { A = \"x\\u0000y\" }\n",
                "a NUL byte in the value of \"A\"",
            ),
            (
                "[worker]\nenv = { \"A\\u0000B\" = \"x\" }\n",
                "a NUL byte in the variable name of \"A\\0B\"",
            ),
            (
                "[worker]\nenv = { \"A=B\" = \"x\" }\n",
                "a '=' in the variable name of \"A=B\"",
            ),
            (
                "[worker]\nenv = { \"\" = \"x\" }\n",
                "an empty variable name",
            ),
        ] {
            let e = err(text);
            assert!(
                e.starts_with(&format!("config error in steward.toml line 2: {what}")),
                "{e}"
            );
            assert!(e.contains("for key \"env\" in [worker]"), "{e}");
        }
        let c = Config::from_str_named("[worker]\nenv = { A = \"b=c d\" }\n", "x").unwrap();
        assert_eq!(c.worker.env["A"], "b=c d");
    }

    #[test]
    fn bad_restart_policy() {
        let e = err("[worker]\nrestart = \"sometimes\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 2: invalid restart policy \"sometimes\" for key \"restart\" in [worker] (expected always, on-failure or never)"
        );
    }

    #[test]
    fn empty_command_is_an_error() {
        let e = err("[worker]\ncommand = []\n");
        assert!(
            e.starts_with("config error in steward.toml line 2: empty command for key \"command\" in [worker] ("),
            "{e}"
        );
        let e = err("[worker]\ncommand = [\n  \"a\",\n  1,\n]\n");
        assert!(e.starts_with("config error in steward.toml line 4: invalid type: integer `1` for key \"command\" in [worker]"), "{e}");
    }

    #[test]
    fn stop_signal_is_validated() {
        let e = err("[worker]\nstop_signal = \"NOPE\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 2: invalid signal \"NOPE\" for key \"stop_signal\" in [worker] (expected one of TERM, INT, HUP, QUIT, USR1, USR2, KILL)"
        );
        for ok in ["TERM", "SIGTERM", "hup", "SIGKILL", "usr2"] {
            let c =
                Config::from_str_named(&format!("[worker]\nstop_signal = {ok:?}\n"), "x").unwrap();
            assert!(STOP_SIGNALS.contains(&c.worker.stop_signal.as_str()));
        }
    }

    #[test]
    fn cross_field_checks_and_syntax_errors_have_lines() {
        let e = err("[worker]\n\nbackoff_initial = \"10s\"\nbackoff_max = \"5s\"\n");
        assert_eq!(
            e,
            "config error in steward.toml line 4: backoff_max 5s is below backoff_initial 10s for key \"backoff_max\" in [worker] (make it at least as large)"
        );
        let e = err("[worker\n");
        assert!(
            e.starts_with("config error in steward.toml line 1: "),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn errors_name_the_key_however_it_is_written() {
        // Nested table, by header, by dotted key and inline: the innermost key.
        for text in [
            "[worker.env]\nA = 5\n",
            "[worker]\nenv.A = 5\n",
            "[worker]\nenv = { A = 5 }\n",
        ] {
            let e = err(text);
            assert_eq!(
                e,
                "config error in steward.toml line 2: invalid type: integer `5` for key \"A\" in [worker.env] (expected a string)",
                "{text:?}"
            );
        }
        // Wrong type.
        assert_eq!(
            err("[aria2]\n\nenabled = \"yes\"\n"),
            "config error in steward.toml line 3: invalid type: string \"yes\" for key \"enabled\" in [aria2] (expected a boolean)"
        );
        // Unknown key with quotes and a comment that looks like a key.
        let e = err("[ \"worker\" ]  # c\n \"comand\" = 1 # stop_timeout = 1\n");
        assert!(
            e.starts_with(
                "config error in steward.toml line 2: unknown key \"comand\" in [worker] (expected one of command,"
            ),
            "{e}"
        );
        // Bad duration as a dotted key; a check after parsing finds its line too.
        assert_eq!(
            err("\nshutdown.stop_aria2 = \"3sec\"\n"),
            "config error in steward.toml line 2: invalid duration \"3sec\" for key \"stop_aria2\" in [shutdown] (use e.g. 500ms, 10s, 2m)"
        );
        assert!(
            err("worker.backoff_max = \"5s\"\n\nworker.backoff_initial = \"10s\"\n")
                .starts_with("config error in steward.toml line 1: backoff_max 5s is below backoff_initial 10s for key \"backoff_max\" in [worker]")
        );
        // A syntax error still names the key it broke.
        assert_eq!(
            err("[worker]\nstop_timeout = 10s\n"),
            "config error in steward.toml line 2: string values must be quoted for key \"stop_timeout\" in [worker] (expected literal string)"
        );
        // Duplicates say where the first one is.
        assert_eq!(
            err("[worker]\nstop_timeout = \"1s\"\nstop_timeout = \"2s\"\n"),
            "config error in steward.toml line 3: duplicate key \"stop_timeout\" in [worker] (it is already set on line 2: keep one)"
        );
        assert_eq!(
            err("[worker]\nrestart = \"never\"\n[worker]\n"),
            "config error in steward.toml line 3: table [worker] is defined twice (merge the two into one)"
        );
    }

    #[test]
    fn durations_round_trip_through_format() {
        for s in ["500ms", "10s", "2m", "1h", "7d", "0ms", "90s"] {
            assert_eq!(format_duration(parse_duration(s).unwrap()), s);
        }
        let json = serde_json::to_value(Config::default()).unwrap();
        assert_eq!(json["worker"]["stop_timeout"], "10s");
        assert_eq!(json["worker"]["restart"], "on-failure");
    }
}
