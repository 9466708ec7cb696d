//! The data dir's shape and permissions, checked before anything else touches
//! it: a dedicated dir (never `/`, a home or a system dir), private to
//! steward's user, whose well-known subdirs are real dirs steward owns.
//! [`prepare`] also creates what is missing and tightens what others can
//! read; [`inspect`] changes nothing. Neither ever "fixes" a symlink, a
//! foreign owner or a world-writable dir: those stop the command.

use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::paths::DataDir;

/// The subdirs steward makes under the data dir (see `paths`).
pub const SUBDIRS: [&str; 6] = ["tmp", "trash", "sessions", "logs", "downloads", "aria2"];

/// The subdirs whose files are tightened one level down at start: they hold
/// session state, logs and aria2's secret, never a worker's scratch.
const PRIVATE_FILE_DIRS: [&str; 4] = ["sessions", "trash", "logs", "aria2"];

/// The files steward makes or reads in the data dir's root.
const ROOT_FILES: [&str; 10] = [
    "steward.db",
    "steward.db-wal",
    "steward.db-shm",
    "steward.db-journal",
    "steward.toml",
    "steward.lock",
    "sweep.lock",
    "status.json",
    "status.json.tmp",
    "control.sock",
];

/// Dirs that are never a data dir, whatever their contents (compared canonicalised).
const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/dev/shm",
    "/etc",
    "/home",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/media",
    "/mnt",
    "/opt",
    "/proc",
    "/root",
    "/run",
    "/run/user",
    "/sbin",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/usr/bin",
    "/usr/lib",
    "/usr/local",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/share",
    "/var",
    "/var/cache",
    "/var/lib",
    "/var/log",
    "/var/run",
    "/var/tmp",
];

/// Why a data dir is not used. Display is one line saying what to check.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("refusing data dir {}: it is {what} (use a dedicated dir, e.g. {})", path.display(), suggestion.display())]
    Forbidden {
        path: PathBuf,
        what: String,
        suggestion: PathBuf,
    },
    #[error("data dir {} is not empty and does not look like a steward data dir (found {found}): check it, or pass --init to use it anyway", path.display())]
    Foreign { path: PathBuf, found: String },
    #[error("{} is a symlink{}: steward never follows links in its data dir; check it and replace it with a real directory", path.display(), target_text(target))]
    Symlink {
        path: PathBuf,
        target: Option<PathBuf>,
    },
    #[error("data dir {} is a symlink{}: pass the real path as --data-dir", path.display(), target_text(target))]
    DataDirSymlink {
        path: PathBuf,
        target: Option<PathBuf>,
    },
    #[error("{} is not a directory ({what}): check it and move it away", path.display())]
    NotADir { path: PathBuf, what: &'static str },
    #[error("{} is owned by uid {uid}, not by steward's user (uid {euid}): something may have been planted in it; check it, or run steward as its owner", path.display())]
    OtherOwner { path: PathBuf, uid: u32, euid: u32 },
    #[error("{} is writable by others (mode {mode:04o}): something may have been planted in it; check it and chmod {fix:o}", path.display())]
    WritableByOthers { path: PathBuf, mode: u32, fix: u32 },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn target_text(target: &Option<PathBuf>) -> String {
    match target {
        Some(t) => format!(" (to {})", t.display()),
        None => String::new(),
    }
}

impl LayoutError {
    /// Every refusal is about the input (exit 2); only an I/O failure is a runtime one.
    pub fn is_usage(&self) -> bool {
        !matches!(self, LayoutError::Io { .. })
    }
}

/// `[temp] root` shares a role with another part of the data dir, or lies
/// outside it. Display is the reason; the caller names the key and file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("[temp] root = {:?} {why} (use a dedicated dir inside the data dir, e.g. {})", root.display().to_string(), suggestion.display())]
pub struct TempRootError {
    pub root: PathBuf,
    pub why: String,
    pub suggestion: PathBuf,
}

/// A permission change made (or, from [`inspect`], that the next start makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub path: PathBuf,
    pub from: u32,
    pub to: u32,
}

impl fmt::Display for Tightened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "tightened {} from {:04o} to {:04o}",
            self.path.display(),
            self.from,
            self.to
        )
    }
}

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// False when the data dir does not exist (only [`inspect`] leaves it so).
    pub exists: bool,
    /// Dirs created (by [`prepare`]) or missing (seen by [`inspect`]).
    pub created: Vec<PathBuf>,
    /// Modes tightened (by [`prepare`]) or too open (seen by [`inspect`]).
    pub tightened: Vec<Tightened>,
}

/// Checks the data dir, creates it and its subdirs (0700) where missing and
/// tightens what others can read. `placed` are the dirs the config puts
/// somewhere (the temp root, checked with [`check_temp_root`] first; the
/// download dir): those inside the data dir are steward's, with the subdirs'
/// rules. `init` accepts a non-empty dir that does not look like a data dir.
pub fn prepare(data_dir: &DataDir, placed: &[&Path], init: bool) -> Result<Findings, LayoutError> {
    walk(data_dir, placed, init, true)
}

/// The same checks as [`prepare`], changing nothing: for read-only commands
/// and `doctor`. A missing data dir is `exists: false`, not an error.
pub fn inspect(data_dir: &DataDir, placed: &[&Path], init: bool) -> Result<Findings, LayoutError> {
    walk(data_dir, placed, init, false)
}

/// Makes `path` a real dir of mode 0700 whatever the umask: created (with
/// any missing parents) if absent; an existing one that is a symlink or not
/// a dir is an error, never followed. Only for dirs inside the data dir.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)?;
    // The umask may have taken bits the builder asked for; an existing dir
    // keeps none for others.
    chmod_nofollow(path, 0o700, true)
}

/// `[temp] root` must be a dedicated dir strictly inside the data dir that no
/// other role shares: not the data dir, not `sessions`, `trash`, `logs`,
/// `downloads`, `aria2` (nor inside them), not the download dir (nor inside
/// or around it). The sweep deletes what it finds there.
pub fn check_temp_root(
    data_dir: &DataDir,
    temp_root: &Path,
    download_dir: &Path,
) -> Result<(), TempRootError> {
    let root = normalize(&absolute(temp_root));
    let data = normalize(data_dir.root());
    let refuse = |why: String| TempRootError {
        root: temp_root.to_path_buf(),
        why,
        suggestion: data_dir.tmp_dir(),
    };
    if root == data {
        return Err(refuse("is the data dir itself".into()));
    }
    let Ok(rel) = root.strip_prefix(&data) else {
        return Err(refuse(format!(
            "is outside the data dir {}",
            data_dir.root().display()
        )));
    };
    let first = rel.components().next().map(|c| c.as_os_str().to_owned());
    if let Some(first) = first.as_ref().and_then(|f| f.to_str())
        && SUBDIRS.contains(&first)
        && first != "tmp"
    {
        let what = if rel.components().count() == 1 {
            "is"
        } else {
            "is inside"
        };
        return Err(refuse(format!("{what} the data dir's {first} dir")));
    }
    if let Some(first) = first.as_ref().and_then(|f| f.to_str())
        && ROOT_FILES.contains(&first)
    {
        return Err(refuse(format!("is the data dir's file {first}")));
    }
    let downloads = normalize(&absolute(download_dir));
    if root == downloads || root.starts_with(&downloads) || downloads.starts_with(&root) {
        return Err(refuse(format!(
            "overlaps the download dir {}",
            download_dir.display()
        )));
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// Resolves `.` and `..` lexically (symlinks are checked on disk separately).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Asked once per process: the walk checks the owner of every entry (thousands
/// of session lock files at 3,000 accounts), two syscalls each otherwise.
fn euid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EUID.get_or_init(|| rustix::process::geteuid().as_raw())
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LayoutError + 'a {
    move |source| LayoutError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// `path` canonicalised, or for a path that does not exist yet, its nearest
/// existing ancestor canonicalised with the rest appended.
fn canonical(path: &Path) -> PathBuf {
    let path = normalize(&absolute(path));
    let mut tail = Vec::new();
    let mut head = path.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(head) {
            let mut out = real;
            for part in tail.iter().rev() {
                out.push(part);
            }
            return out;
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_owned());
                head = parent;
            }
            _ => return path,
        }
    }
}

fn forbidden(data_dir: &DataDir) -> Result<(), LayoutError> {
    let real = canonical(data_dir.root());
    let refuse = |what: String, suggestion: PathBuf| LayoutError::Forbidden {
        path: data_dir.root().to_path_buf(),
        what,
        suggestion,
    };
    for sys in SYSTEM_DIRS {
        if real == Path::new(sys) || real == canonical(Path::new(sys)) {
            let what = if *sys == "/" {
                "the filesystem root".to_owned()
            } else {
                format!("the system directory {sys}")
            };
            return Err(refuse(what, PathBuf::from("/var/lib/steward")));
        }
    }
    let homes: Vec<PathBuf> = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .filter(|h| h.is_absolute() && h != Path::new("/"))
        .collect();
    for home in &homes {
        let home_real = canonical(home);
        let suggestion = home.join(".local/share/steward");
        if real == home_real {
            return Err(refuse(
                format!("a home directory ({})", home.display()),
                suggestion,
            ));
        }
        if home_real.starts_with(&real) {
            return Err(refuse(
                format!("a parent of the home directory {}", home.display()),
                suggestion,
            ));
        }
    }
    Ok(())
}

/// The names of the data dir's root that steward makes or reads, given the
/// first components of the dirs the config places inside it. Stray `*.pid`
/// / `*.lock` files are the sweep's to judge (stale lock files).
fn known_root_name(name: &str, placed_first: &[String]) -> bool {
    SUBDIRS.contains(&name)
        || ROOT_FILES.contains(&name)
        || placed_first.iter().any(|p| p == name)
        || name.ends_with(".pid")
        || name.ends_with(".lock")
}

fn walk(
    data_dir: &DataDir,
    placed: &[&Path],
    init: bool,
    apply: bool,
) -> Result<Findings, LayoutError> {
    forbidden(data_dir)?;
    let root = data_dir.root();
    let mut found = Findings {
        exists: true,
        ..Findings::default()
    };
    let meta = match std::fs::symlink_metadata(root) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound && !apply => {
            found.exists = false;
            return Ok(found);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // Parents are outside steward's tree: the usual modes.
            if let Some(parent) = root.parent() {
                std::fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
            }
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(root)
                .or_else(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .map_err(io_err("cannot create data dir", root))?;
            chmod_nofollow(root, 0o700, true).map_err(io_err("cannot chmod data dir", root))?;
            found.created.push(root.to_path_buf());
            std::fs::symlink_metadata(root).map_err(io_err("cannot read", root))?
        }
        Err(e) => return Err(io_err("cannot read data dir", root)(e)),
    };
    if meta.file_type().is_symlink() {
        return Err(LayoutError::DataDirSymlink {
            path: root.to_path_buf(),
            target: std::fs::read_link(root).ok(),
        });
    }
    check_dir(root, &meta, apply, &mut found)?;

    // Relative to the data dir, for those inside it.
    let placed_rel: Vec<PathBuf> = placed
        .iter()
        .filter_map(|p| {
            normalize(&absolute(p))
                .strip_prefix(normalize(root))
                .ok()
                .filter(|rel| rel.components().next().is_some())
                .map(Path::to_path_buf)
        })
        .collect();
    let placed_first: Vec<String> = placed_rel
        .iter()
        .filter_map(|r| r.components().next())
        .filter_map(|c| c.as_os_str().to_str().map(str::to_owned))
        .collect();
    if !root.join("steward.db").exists() && !init {
        let mut foreign: Vec<String> = std::fs::read_dir(root)
            .map_err(io_err("cannot list data dir", root))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !known_root_name(n, &placed_first))
            .collect();
        if !foreign.is_empty() {
            foreign.sort();
            let more = foreign.len().saturating_sub(3);
            foreign.truncate(3);
            let mut text = foreign.join(", ");
            if more > 0 {
                text.push_str(&format!(" and {more} more"));
            }
            return Err(LayoutError::Foreign {
                path: root.to_path_buf(),
                found: text,
            });
        }
    }

    // A placed dir's own chain (e.g. `work` and `work/tmp`) gets the subdirs' rules.
    let mut dirs: Vec<PathBuf> = SUBDIRS.iter().map(|s| root.join(s)).collect();
    for rel in &placed_rel {
        let mut at = root.to_path_buf();
        for part in rel.components() {
            at.push(part);
            if !dirs.contains(&at) {
                dirs.push(at.clone());
            }
        }
    }
    for dir in &dirs {
        match std::fs::symlink_metadata(dir) {
            Ok(meta) => check_dir(dir, &meta, apply, &mut found)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if apply {
                    create_private_dir(dir).map_err(io_err("cannot create", dir))?;
                }
                found.created.push(dir.clone());
            }
            Err(e) => return Err(io_err("cannot read", dir)(e)),
        }
    }

    for name in ROOT_FILES {
        let path = root.join(name);
        match std::fs::symlink_metadata(&path) {
            // An operator may keep the config elsewhere and link it in; it is only read.
            Ok(meta) if meta.file_type().is_symlink() && name == "steward.toml" => {}
            Ok(meta) => check_file(&path, &meta, apply, &mut found, true)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot read", &path)(e)),
        }
    }
    for sub in PRIVATE_FILE_DIRS {
        let dir = root.join(sub);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Not following a link, like `symlink_metadata`, but relative to
            // the open dir: thousands of lock files, no path walk each.
            if let Ok(meta) = entry.metadata()
                && meta.is_file()
                && meta.uid() == euid()
            {
                check_file(&path, &meta, apply, &mut found, false)?;
            }
        }
    }
    Ok(found)
}

fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<(), LayoutError> {
    let euid = euid();
    if meta.uid() != euid {
        return Err(LayoutError::OtherOwner {
            path: path.to_path_buf(),
            uid: meta.uid(),
            euid,
        });
    }
    Ok(())
}

fn check_dir(
    path: &Path,
    meta: &std::fs::Metadata,
    apply: bool,
    found: &mut Findings,
) -> Result<(), LayoutError> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(LayoutError::Symlink {
            path: path.to_path_buf(),
            target: std::fs::read_link(path).ok(),
        });
    }
    if !kind.is_dir() {
        return Err(LayoutError::NotADir {
            path: path.to_path_buf(),
            what: kind_name(&kind),
        });
    }
    check_owner(path, meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(LayoutError::WritableByOthers {
            path: path.to_path_buf(),
            mode,
            fix: 0o700,
        });
    }
    tighten(path, mode, mode & 0o7700, true, apply, found)
}

/// A file in the root (`strict`: others' write access refuses the start,
/// as for dirs) or one level into a private subdir (tightened only).
fn check_file(
    path: &Path,
    meta: &std::fs::Metadata,
    apply: bool,
    found: &mut Findings,
    strict: bool,
) -> Result<(), LayoutError> {
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(LayoutError::Symlink {
            path: path.to_path_buf(),
            target: std::fs::read_link(path).ok(),
        });
    }
    check_owner(path, meta)?;
    if !kind.is_file() {
        // A socket or fifo: its dir's mode is what keeps others out.
        return Ok(());
    }
    let mode = meta.mode() & 0o7777;
    if strict && mode & 0o022 != 0 {
        return Err(LayoutError::WritableByOthers {
            path: path.to_path_buf(),
            mode,
            fix: 0o600,
        });
    }
    tighten(path, mode, mode & 0o700, false, apply, found)
}

fn tighten(
    path: &Path,
    mode: u32,
    want: u32,
    dir: bool,
    apply: bool,
    found: &mut Findings,
) -> Result<(), LayoutError> {
    if mode == want {
        return Ok(());
    }
    let change = Tightened {
        path: path.to_path_buf(),
        from: mode,
        to: want,
    };
    if apply {
        chmod_nofollow(path, want, dir).map_err(io_err("cannot tighten", path))?;
    }
    found.tightened.push(change);
    Ok(())
}

/// chmod through a descriptor opened without following a symlink, so a
/// swapped-in link is never the thing changed.
fn chmod_nofollow(path: &Path, mode: u32, dir: bool) -> io::Result<()> {
    let mut flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    if dir {
        flags |= OFlags::DIRECTORY;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty())?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
    Ok(())
}

fn kind_name(kind: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_file() {
        "a regular file"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_fifo() {
        "a fifo"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else {
        "not a directory"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn prepare_creates_a_private_tree_and_inspect_creates_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("data"));
        let found = inspect(&dd, &[&dd.tmp_dir()], false).unwrap();
        assert!(!found.exists);
        assert!(!dd.root().exists());
        prepare(&dd, &[&dd.tmp_dir()], false).unwrap();
        assert_eq!(mode_of(dd.root()), 0o700);
        for sub in SUBDIRS {
            assert_eq!(mode_of(&dd.root().join(sub)), 0o700, "{sub}");
        }
    }

    #[test]
    fn a_symlinked_data_dir_is_refused_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let dd = DataDir::new(&link);
        let err = prepare(&dd, &[&dd.tmp_dir()], false).unwrap_err();
        assert!(matches!(err, LayoutError::DataDirSymlink { .. }), "{err}");
        assert!(std::fs::read_dir(&real).unwrap().next().is_none());
    }

    #[test]
    fn dirs_the_config_places_inside_are_steward_s_and_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let dd = DataDir::new(tmp.path().join("data"));
        let media = dd.root().join("media");
        let scratch = dd.root().join("work/tmp");
        std::fs::create_dir_all(&media).unwrap();
        let placed: [&Path; 2] = [&scratch, &media];
        // Not foreign: `media` is the configured download dir.
        prepare(&dd, &placed, false).unwrap();
        assert_eq!(mode_of(&dd.root().join("work")), 0o700);
        assert_eq!(mode_of(&scratch), 0o700);
        // Without that config, `media` is a name steward never makes.
        let err = inspect(&dd, &[&dd.tmp_dir()], false).unwrap_err();
        assert!(matches!(err, LayoutError::Foreign { .. }), "{err}");
        // And a placed dir gets the subdirs' rules.
        std::fs::remove_dir(&media).unwrap();
        std::os::unix::fs::symlink(tmp.path(), &media).unwrap();
        let err = prepare(&dd, &placed, false).unwrap_err();
        assert!(matches!(err, LayoutError::Symlink { .. }), "{err}");
    }

    #[test]
    fn temp_root_must_be_a_dedicated_dir_inside() {
        let dd = DataDir::new("/srv/st");
        let dl = dd.downloads_dir();
        let ok = |p: &str| check_temp_root(&dd, Path::new(p), &dl).is_ok();
        assert!(ok("/srv/st/tmp"));
        assert!(ok("/srv/st/scratch/tmp"));
        assert!(!ok("/srv/st"));
        assert!(!ok("/srv/st/"));
        assert!(!ok("/srv/st/sessions"));
        assert!(!ok("/srv/st/trash/x"));
        assert!(!ok("/srv/st/downloads"));
        assert!(!ok("/srv/st/tmp/../aria2"));
        assert!(!ok("/srv/other"));
        assert!(!ok("/srv/st/steward.db"));
        assert!(check_temp_root(&dd, Path::new("/srv/st/dl/t"), Path::new("/srv/st/dl")).is_err());
    }

    #[test]
    fn system_dirs_and_root_are_refused() {
        for p in ["/", "/etc", "/usr/", "/tmp/.", "/var/lib/../tmp"] {
            assert!(
                matches!(
                    forbidden(&DataDir::new(p)),
                    Err(LayoutError::Forbidden { .. })
                ),
                "{p}"
            );
        }
        assert!(forbidden(&DataDir::new("/var/lib/steward-test-nonexistent")).is_ok());
    }
}
