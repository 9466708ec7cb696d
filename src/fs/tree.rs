//! Trees on disk, for the temp registry, the sweep and the trash: reading
//! directories (`getdents64`), measuring and removing trees without
//! following symlinks or crossing filesystems. (Whether a path is locked is
//! `crate::lock`'s to say.)
//!
//! Removal works on directory descriptors (`openat` with `O_NOFOLLOW |
//! O_DIRECTORY`, `unlinkat`), never on re-resolved path strings, so a
//! directory swapped for a symlink halfway through cannot redirect it: a
//! symlink is always unlinked itself, its target is never opened. Every
//! directory is `fstat`ed after opening and skipped when its `st_dev` differs
//! from the tree's (a mount point inside a temp dir is left alone).
//!
//! Each directory is read whole in one `getdents64` pass into a reused
//! buffer before anything in it is touched, and every entry is named
//! relative to its directory's descriptor: no path is built per file. A
//! removal may take file types from `d_type` and unlink non-directories
//! without a `stat` ([`Count::Entries`]), as `find -delete` does.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags, RawDir};

use crate::fs::Beneath;
use crate::proc::FilesInUse;
use serde::{Deserialize, Serialize};

/// Deeper trees are refused rather than recursed into (one descriptor per level).
const MAX_DEPTH: u32 = 256;

/// What a walk (or a removal) saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Measure {
    /// Regular files, symlinks and other non-directories.
    pub files: u64,
    /// Directories, the top one included.
    pub dirs: u64,
    /// Sum of `st_size` of the non-directories.
    pub bytes: u64,
    /// The newest mtime seen (unix ms), 0 if none.
    pub newest_ms: i64,
    /// Directories skipped because they are on another filesystem.
    pub other_dev: u64,
}

impl Measure {
    fn add_stat(&mut self, st: &rustix::fs::Stat) {
        self.newest_ms = self.newest_ms.max(mtime_ms(st));
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
            self.dirs += 1;
        } else {
            self.files += 1;
            self.bytes += u64::try_from(st.st_size).unwrap_or(0);
        }
    }

    pub fn absorb(&mut self, other: &Measure) {
        self.files += other.files;
        self.dirs += other.dirs;
        self.bytes += other.bytes;
        self.newest_ms = self.newest_ms.max(other.newest_ms);
        self.other_dev += other.other_dev;
    }
}

/// Modification time of a stat in unix milliseconds.
// `st_mtime` is i64 on 64-bit targets but not everywhere: keep the conversion.
#[allow(clippy::useless_conversion)]
pub fn mtime_ms(st: &rustix::fs::Stat) -> i64 {
    i64::from(st.st_mtime)
        .saturating_mul(1000)
        .saturating_add(st.st_mtime_nsec as i64 / 1_000_000)
}

/// `lstat`: never follows a final symlink.
pub fn lstat(path: &Path) -> io::Result<rustix::fs::Stat> {
    Ok(rustix::fs::lstat(path)?)
}

pub fn is_dir(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

pub fn is_symlink(st: &rustix::fs::Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

fn cstr(name: &OsStr) -> io::Result<CString> {
    CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn open_dir_at(dirfd: BorrowedFd<'_>, name: &CStr) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Size of the `getdents64` buffer: a 100-entry directory is read in one call.
const DENTS_BUF: usize = 32 * 1024;

/// Reads directories for a walk: one `getdents64` buffer and a pool of entry
/// lists, reused for the whole walk, so no name is allocated per file.
pub struct DirReader {
    dents: Vec<MaybeUninit<u8>>,
    pool: Vec<Vec<u8>>,
}

/// One directory's entries as `[d_type][d_ino, 8 bytes][name][NUL]`
/// records, all read before any of them is acted on (removing entries while
/// `getdents` is still reading the same directory is left to no file
/// system's mercy).
struct EntryList(Vec<u8>);

impl EntryList {
    /// `(type from d_type, inode, name)`; `FileType::Unknown` where the file
    /// system does not fill `d_type`.
    fn iter(&self) -> impl Iterator<Item = (FileType, u64, &CStr)> {
        let mut rest = self.0.as_slice();
        std::iter::from_fn(move || {
            let (&code, tail) = rest.split_first()?;
            let (ino, tail) = tail.split_first_chunk::<8>()?;
            let end = tail.iter().position(|&b| b == 0)?;
            let name = CStr::from_bytes_with_nul(&tail[..=end]).ok()?;
            rest = &tail[end + 1..];
            Some((type_of_code(code), u64::from_ne_bytes(*ino), name))
        })
    }
}

fn code_of_type(t: FileType) -> u8 {
    match t {
        FileType::RegularFile => 1,
        FileType::Directory => 2,
        FileType::Symlink => 3,
        FileType::Fifo => 4,
        FileType::Socket => 5,
        FileType::CharacterDevice => 6,
        FileType::BlockDevice => 7,
        _ => 0,
    }
}

fn type_of_code(code: u8) -> FileType {
    match code {
        1 => FileType::RegularFile,
        2 => FileType::Directory,
        3 => FileType::Symlink,
        4 => FileType::Fifo,
        5 => FileType::Socket,
        6 => FileType::CharacterDevice,
        7 => FileType::BlockDevice,
        _ => FileType::Unknown,
    }
}

impl Default for DirReader {
    fn default() -> Self {
        DirReader::new()
    }
}

impl DirReader {
    pub fn new() -> DirReader {
        DirReader {
            dents: vec![MaybeUninit::uninit(); DENTS_BUF],
            pool: Vec::new(),
        }
    }

    /// Every entry of `dirfd` but `.` and `..`, read from the descriptor's
    /// current position (a fresh descriptor: the start) to the end.
    fn read(&mut self, dirfd: BorrowedFd<'_>) -> io::Result<EntryList> {
        let mut out = self.pool.pop().unwrap_or_default();
        out.clear();
        let mut dir = RawDir::new(dirfd, &mut self.dents);
        while let Some(entry) = dir.next() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.pool.push(out);
                    return Err(e.into());
                }
            };
            let name = entry.file_name().to_bytes_with_nul();
            if name == b".\0" || name == b"..\0" {
                continue;
            }
            out.push(code_of_type(entry.file_type()));
            out.extend_from_slice(&entry.ino().to_ne_bytes());
            out.extend_from_slice(name);
        }
        Ok(EntryList(out))
    }

    fn recycle(&mut self, list: EntryList) {
        self.pool.push(list.0);
    }
}

/// Measures `path`, reached beneath `anchor` (lstat, then recursively for a
/// directory on `dev`, or on its own device when `dev` is `None`). A missing
/// path is an error (`NotFound`); unreadable subdirectories are skipped.
///
/// Every entry is `stat`ed relative to its directory's descriptor (size and
/// mtime are what is measured, so `d_type` cannot spare the `stat`), each
/// directory is read in one `getdents64` pass, and no path is built.
pub fn measure(anchor: &Beneath, path: &Path, dev: Option<u64>) -> io::Result<Measure> {
    measure_in_use(anchor, path, dev, None).map(|(m, _)| m)
}

/// [`measure`], also looking up every entry in `in_use`: the second value
/// is a pid that has something in the tree open, locked or as its working
/// directory (the first one met).
pub fn measure_in_use(
    anchor: &Beneath,
    path: &Path,
    dev: Option<u64>,
    in_use: Option<&FilesInUse>,
) -> io::Result<(Measure, Option<i32>)> {
    let (parent, name) = anchor.parent_and_name(path)?;
    let st = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mut w = Walk {
        reader: DirReader::new(),
        in_use,
        holder: None,
        m: Measure::default(),
    };
    w.see(&st);
    if is_dir(&st) {
        let dev = dev.unwrap_or(st.st_dev);
        if st.st_dev != dev {
            return Ok((
                Measure {
                    other_dev: 1,
                    ..Measure::default()
                },
                None,
            ));
        }
        w.m.add_stat(&st);
        let fd = open_dir_at(parent.as_fd(), &name)?;
        w.walk(fd.as_fd(), dev, 1);
    } else {
        w.m.add_stat(&st);
    }
    Ok((w.m, w.holder))
}

/// One measuring walk: its buffers, what it counted, and the first holder
/// of anything in it.
struct Walk<'a> {
    reader: DirReader,
    in_use: Option<&'a FilesInUse>,
    holder: Option<i32>,
    m: Measure,
}

impl Walk<'_> {
    fn see(&mut self, st: &rustix::fs::Stat) {
        if self.holder.is_none() {
            self.holder = self.in_use.and_then(|u| u.holder(st.st_dev, st.st_ino));
        }
    }

    fn walk(&mut self, dirfd: BorrowedFd<'_>, dev: u64, depth: u32) {
        if depth > MAX_DEPTH {
            return;
        }
        let Ok(list) = self.reader.read(dirfd) else {
            return;
        };
        for (_, _, name) in list.iter() {
            let Ok(st) = rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) else {
                continue;
            };
            self.see(&st);
            if is_dir(&st) {
                if st.st_dev != dev {
                    self.m.other_dev += 1;
                    continue;
                }
                self.m.add_stat(&st);
                if let Ok(fd) = open_dir_at(dirfd, name) {
                    self.walk(fd.as_fd(), dev, depth + 1);
                }
            } else {
                self.m.add_stat(&st);
            }
        }
        self.reader.recycle(list);
    }
}

/// One directory's own entries, as the temp stats walker caches them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirContents {
    /// Its non-directories (count, bytes, newest mtime) and the
    /// subdirectories on another device (`other_dev`); `dirs` stays 0.
    pub local: Measure,
    /// The names of its subdirectories on `dev`.
    pub subdirs: Vec<OsString>,
}

/// Reads the directory `path` (never through a final symlink) in one
/// `getdents64` pass and `stat`s each entry relative to it. Entries that
/// vanish meanwhile are skipped.
pub fn dir_contents(reader: &mut DirReader, path: &Path, dev: u64) -> io::Result<DirContents> {
    let fd = rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let list = reader.read(fd.as_fd())?;
    let mut out = DirContents::default();
    for (_, _, name) in list.iter() {
        let Ok(st) = rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW) else {
            continue;
        };
        if !is_dir(&st) {
            out.local.add_stat(&st);
        } else if st.st_dev == dev {
            out.subdirs
                .push(OsStr::from_bytes(name.to_bytes()).to_owned());
        } else {
            out.local.other_dev += 1;
        }
    }
    reader.recycle(list);
    Ok(out)
}

/// Why a removal did not complete.
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("{0} is on another filesystem: left alone")]
    OtherFilesystem(String),
    #[error("{0} was modified recently: left alone")]
    Modified(String),
    #[error("{what} could not be removed completely: {source}")]
    Partial {
        what: String,
        /// What was removed before the error.
        removed: Measure,
        #[source]
        source: io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    /// Something inside is open, locked or a working directory: it was kept,
    /// with every directory that holds it; the rest went.
    #[error("{what}: kept, in use by pid {pid}")]
    Kept {
        what: String,
        pid: i32,
        removed: Measure,
    },
}

/// What a removal counts in the [`Measure`] it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// `stat` every entry before removing it: files, dirs, bytes and the
    /// newest mtime (the temp registry adjusts its figures by these).
    Bytes,
    /// Take each entry's type from `getdents` (`d_type`) and unlink every
    /// non-directory without a `stat`, as `find -delete` does: files and
    /// dirs are counted, `bytes` and `newest_ms` stay 0 (the sweep reports
    /// its plan's measure instead). Directories, and entries whose type the
    /// file system does not report, are still `stat`ed: the device and the
    /// symlink checks need it.
    Entries,
}

/// How [`remove`] goes about it.
#[derive(Debug, Clone, Copy)]
pub struct Removal<'a> {
    /// Directories on another device are never entered; `None`: the device
    /// of the path itself.
    pub dev: Option<u64>,
    pub count: Count,
    /// When set, the path itself (whatever its type) and every directory in
    /// it whose mtime is newer than this (unix ms) are left alone: the
    /// sweep's "still older than `max_age`" re-check, made on what it has
    /// to `stat` anyway. A directory's mtime moves when an entry is created,
    /// removed or renamed in it; a file rewritten in place moves only its own.
    pub keep_newer_than_ms: Option<i64>,
    /// When set, every entry some process has open, locked or as its working
    /// directory is kept, with the directories that hold it (looked up by
    /// the `d_ino` of `getdents` or the `stat` the entry gets anyway).
    pub keep_in_use: Option<&'a FilesInUse>,
}

/// Removes `path` counting bytes ([`Count::Bytes`]) with no age check: see
/// [`remove`].
pub fn remove_path(
    anchor: &Beneath,
    path: &Path,
    dev: Option<u64>,
) -> Result<Measure, RemoveError> {
    remove(
        anchor,
        path,
        &Removal {
            dev,
            count: Count::Bytes,
            keep_newer_than_ms: None,
            keep_in_use: None,
        },
    )
}

/// Removes `path`: a symlink or file is unlinked (a symlink's target is
/// never touched), a directory is emptied depth-first through directory
/// descriptors and removed. Directories on a device other than `how.dev`
/// are never entered. A path that is already gone is `Ok` with an empty
/// measure. `path` is reached beneath `anchor` (the data dir): a path
/// outside it, or one that leads through a symlink, is refused.
pub fn remove(anchor: &Beneath, path: &Path, how: &Removal) -> Result<Measure, RemoveError> {
    let what = path.display().to_string();
    let io_err = |source: io::Error| RemoveError::Io {
        what: what.clone(),
        source,
    };
    let (parent, name) = match anchor.parent_and_name(path) {
        Ok(found) => found,
        // A missing directory on the way: the path is already gone.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Measure::default()),
        Err(e) => return Err(io_err(e)),
    };
    let st = match rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(Measure::default()),
        Err(e) => return Err(io_err(e.into())),
    };
    let mut remover = Remover {
        reader: DirReader::new(),
        how: *how,
        first_err: None,
        kept: None,
    };
    if remover.too_new(&st) {
        return Err(RemoveError::Modified(what));
    }
    let mut m = Measure::default();
    if let Some(pid) = remover.in_use(st.st_dev, st.st_ino) {
        return Err(RemoveError::Kept {
            what,
            pid,
            removed: m,
        });
    }
    if !is_dir(&st) {
        if how.dev.is_some_and(|d| d != st.st_dev) {
            return Err(RemoveError::OtherFilesystem(what));
        }
        match rustix::fs::unlinkat(&parent, &name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_err(e.into())),
        }
        remover.removed(&mut m, &st);
        return Ok(m);
    }
    let dev = how.dev.unwrap_or(st.st_dev);
    if st.st_dev != dev {
        return Err(RemoveError::OtherFilesystem(what));
    }
    let fd = open_dir_at(parent.as_fd(), &name).map_err(io_err)?;
    let opened = rustix::fs::fstat(&fd).map_err(|e| io_err(e.into()))?;
    if opened.st_dev != dev || opened.st_ino != st.st_ino {
        return Err(RemoveError::OtherFilesystem(what));
    }
    let kept_inside = remover.empty_dir(fd.as_fd(), dev, &mut m, 1);
    drop(fd);
    if !kept_inside {
        match rustix::fs::unlinkat(&parent, &name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => remover.removed(&mut m, &st),
            Err(e) => remover.fail(e.into()),
        }
    }
    match (remover.first_err, remover.kept) {
        (Some(source), _) => Err(RemoveError::Partial {
            what,
            removed: m,
            source,
        }),
        (None, Some(pid)) => Err(RemoveError::Kept {
            what,
            pid,
            removed: m,
        }),
        (None, None) => Ok(m),
    }
}

/// Removes entries of one directory one after another (the temp root at a
/// shutdown, hundreds of workers' dirs): the directory is opened once and the
/// reader's buffers are reused, so an empty dir costs an `open`, a flock
/// probe, an `fstat`, a `getdents` and the `rmdir`, with no path walked.
pub struct EntryRemover {
    dir: OwnedFd,
    path: std::path::PathBuf,
    dev: u64,
    /// Reused for every entry; its `first_err` is reset for each.
    remover: Remover<'static>,
}

/// What [`EntryRemover::remove_unless_locked`] did.
#[derive(Debug)]
pub enum EntryRemoval {
    /// Removed (or already gone: an empty measure), counted as
    /// [`Count::Bytes`] counts.
    Removed(Measure),
    /// Another open file description holds a flock on it: left as it is.
    Held,
}

impl EntryRemover {
    /// Opens `dir`, reached beneath `anchor`; its entries on device `dev`
    /// can then be removed.
    pub fn open(anchor: &Beneath, dir: &Path, dev: u64) -> io::Result<EntryRemover> {
        let fd = anchor.open_dir(dir)?;
        Ok(EntryRemover {
            dir: fd,
            path: dir.to_owned(),
            dev,
            remover: Remover {
                reader: DirReader::new(),
                how: Removal {
                    dev: Some(dev),
                    count: Count::Bytes,
                    keep_newer_than_ms: None,
                    keep_in_use: None,
                },
                first_err: None,
                kept: None,
            },
        })
    }

    /// Removes the entry `name` as [`remove_path`] would, unless someone
    /// holds a flock on it. The probe is made on the descriptor the removal
    /// then works through, so what was probed is what is removed. An entry
    /// that cannot be opened (a symlink, which `O_NOFOLLOW` refuses) is
    /// unlinked itself, unprobed, unless it is a directory.
    pub fn remove_unless_locked(&mut self, name: &OsStr) -> Result<EntryRemoval, RemoveError> {
        let what = self.path.join(name).display().to_string();
        let io_err = |source: io::Error| RemoveError::Io {
            what: what.clone(),
            source,
        };
        let cname = cstr(name).map_err(io_err)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let file = match rustix::fs::openat(&self.dir, &cname, flags, Mode::empty()) {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Ok(EntryRemoval::Removed(Measure::default())),
            Err(e) => return self.unlink_unopened(&cname, e.into(), what),
        };
        if crate::lock::flock_held_on(&file) {
            return Ok(EntryRemoval::Held);
        }
        let st = rustix::fs::fstat(&file).map_err(|e| io_err(e.into()))?;
        if st.st_dev != self.dev {
            return Err(RemoveError::OtherFilesystem(what));
        }
        let r = &mut self.remover;
        r.first_err = None;
        let mut m = Measure::default();
        let flags = if is_dir(&st) {
            r.empty_dir(file.as_fd(), self.dev, &mut m, 1);
            AtFlags::REMOVEDIR
        } else {
            AtFlags::empty()
        };
        drop(file);
        match rustix::fs::unlinkat(&self.dir, &cname, flags) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => r.removed(&mut m, &st),
            Err(e) => r.fail(e.into()),
        }
        match r.first_err.take() {
            None => Ok(EntryRemoval::Removed(m)),
            Some(source) => Err(RemoveError::Partial {
                what,
                removed: m,
                source,
            }),
        }
    }

    /// An entry `open` refused with `err`: a non-directory is unlinked as
    /// it is (a symlink as the link itself); a directory fails with `err`.
    fn unlink_unopened(
        &self,
        name: &CStr,
        err: io::Error,
        what: String,
    ) -> Result<EntryRemoval, RemoveError> {
        let io_err = |source: io::Error| RemoveError::Io {
            what: what.clone(),
            source,
        };
        let st = match rustix::fs::statat(&self.dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return Ok(EntryRemoval::Removed(Measure::default())),
            Err(e) => return Err(io_err(e.into())),
        };
        if is_dir(&st) {
            return Err(io_err(err));
        }
        if st.st_dev != self.dev {
            return Err(RemoveError::OtherFilesystem(what));
        }
        match rustix::fs::unlinkat(&self.dir, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => {}
            Err(e) => return Err(io_err(e.into())),
        }
        let mut m = Measure::default();
        m.add_stat(&st);
        Ok(EntryRemoval::Removed(m))
    }
}

/// One removal's state: the reader's buffers, the first error (later
/// errors are not reported: the tree goes on being removed as far as it
/// can) and the first holder of something kept.
struct Remover<'a> {
    reader: DirReader,
    how: Removal<'a>,
    first_err: Option<io::Error>,
    kept: Option<i32>,
}

impl Remover<'_> {
    fn fail(&mut self, e: io::Error) {
        self.first_err.get_or_insert(e);
    }

    /// The holder of `(dev, ino)` when in-use entries are kept.
    fn in_use(&self, dev: u64, ino: u64) -> Option<i32> {
        self.how.keep_in_use?.holder(dev, ino)
    }

    /// Keeps an entry in use by `pid`; true, for `empty_dir`'s count.
    fn keep(&mut self, pid: i32) -> bool {
        self.kept.get_or_insert(pid);
        true
    }

    fn too_new(&self, st: &rustix::fs::Stat) -> bool {
        self.how
            .keep_newer_than_ms
            .is_some_and(|limit| mtime_ms(st) > limit)
    }

    /// Counts one removed entry that was `stat`ed.
    fn removed(&self, m: &mut Measure, st: &rustix::fs::Stat) {
        match self.how.count {
            Count::Bytes => m.add_stat(st),
            Count::Entries if is_dir(st) => m.dirs += 1,
            Count::Entries => m.files += 1,
        }
    }

    /// Removes what `dirfd` holds; true when something in it was kept
    /// because it is in use (the directory must then stay too).
    fn empty_dir(&mut self, dirfd: BorrowedFd<'_>, dev: u64, m: &mut Measure, depth: u32) -> bool {
        if depth > MAX_DEPTH {
            self.fail(io::Error::other("directory tree too deep"));
            return false;
        }
        let list = match self.reader.read(dirfd) {
            Ok(list) => list,
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        let mut kept = false;
        for (file_type, ino, name) in list.iter() {
            kept |= self.remove_entry(dirfd, file_type, ino, name, dev, m, depth);
        }
        self.reader.recycle(list);
        kept
    }

    /// Removes one entry; true when it, or something in it, was kept
    /// because it is in use.
    #[allow(clippy::too_many_arguments)]
    fn remove_entry(
        &mut self,
        dirfd: BorrowedFd<'_>,
        file_type: FileType,
        ino: u64,
        name: &CStr,
        dev: u64,
        m: &mut Measure,
        depth: u32,
    ) -> bool {
        let maybe_dir = matches!(file_type, FileType::Directory | FileType::Unknown);
        // A non-directory shares its directory's device, so getdents' inode
        // is enough to look it up without a stat.
        if !maybe_dir && let Some(pid) = self.in_use(dev, ino) {
            return self.keep(pid);
        }
        if self.how.count == Count::Entries && !maybe_dir {
            // Not a directory by d_type: unlink it as it is, a symlink as
            // the link itself. unlink(2) never removes a directory, so a
            // directory put in its place since getdents fails (EISDIR) and is
            // handled below, after a stat.
            match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
                Ok(()) => {
                    m.files += 1;
                    return false;
                }
                Err(rustix::io::Errno::NOENT) => return false,
                Err(rustix::io::Errno::ISDIR) => {}
                Err(e) => {
                    self.fail(e.into());
                    return false;
                }
            }
        }
        let st = match rustix::fs::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => st,
            Err(rustix::io::Errno::NOENT) => return false,
            Err(e) => {
                self.fail(e.into());
                return false;
            }
        };
        if let Some(pid) = self.in_use(st.st_dev, st.st_ino) {
            return self.keep(pid);
        }
        if !is_dir(&st) {
            match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
                Ok(()) => self.removed(m, &st),
                Err(rustix::io::Errno::NOENT) => {}
                Err(e) => self.fail(e.into()),
            }
            return false;
        }
        if st.st_dev != dev {
            m.other_dev += 1;
            self.fail(io::Error::other(format!(
                "{} is a mount point (left alone)",
                name.to_string_lossy()
            )));
            return false;
        }
        if self.too_new(&st) {
            self.fail(io::Error::other(format!(
                "{} was modified recently (left alone)",
                name.to_string_lossy()
            )));
            return false;
        }
        let kept_inside = match open_dir_at(dirfd, name) {
            Ok(sub) => {
                let same =
                    rustix::fs::fstat(&sub).is_ok_and(|o| o.st_dev == dev && o.st_ino == st.st_ino);
                if !same {
                    self.fail(io::Error::other("directory changed while removing"));
                    return false;
                }
                self.empty_dir(sub.as_fd(), dev, m, depth + 1)
            }
            Err(e) => {
                self.fail(e);
                return false;
            }
        };
        if kept_inside {
            return true;
        }
        match rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR) {
            Ok(()) => self.removed(m, &st),
            Err(rustix::io::Errno::NOENT) => {}
            Err(e) => self.fail(e.into()),
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn anchor(tmp: &tempfile::TempDir) -> Beneath {
        Beneath::open_root(tmp.path()).unwrap()
    }

    #[test]
    fn removes_a_tree_but_only_the_link_of_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "precious").unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b")).unwrap();
        std::fs::write(tree.join("a/b/f"), "12345").unwrap();
        std::fs::write(tree.join("g"), "1").unwrap();
        symlink(&outside, tree.join("a/link")).unwrap();
        let m = measure(&anchor(&tmp), &tree, None).unwrap();
        assert_eq!((m.files, m.dirs, m.bytes >= 6), (3, 3, true));
        let removed = remove_path(&anchor(&tmp), &tree, None).unwrap();
        assert_eq!((removed.files, removed.dirs), (3, 3));
        assert!(!tree.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep")).unwrap(),
            "precious"
        );
        // A top-level symlink: the link goes, the target stays.
        let link = tmp.path().join("toplink");
        symlink(&outside, &link).unwrap();
        remove_path(&anchor(&tmp), &link, None).unwrap();
        assert!(std::fs::symlink_metadata(&link).is_err());
        assert!(outside.join("keep").exists());
        // Gone already: fine.
        assert_eq!(
            remove_path(&anchor(&tmp), &link, None).unwrap(),
            Measure::default()
        );
    }

    /// A registered path whose parent was swapped for a symlink (a planted
    /// `tmp/evil -> /somewhere`): nothing outside is touched, by any entry
    /// point, and measuring refuses too.
    #[test]
    fn a_path_through_a_symlinked_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("file"), "precious").unwrap();
        std::fs::create_dir(outside.path().join("dir")).unwrap();
        std::fs::create_dir(tmp.path().join("tmp")).unwrap();
        symlink(outside.path(), tmp.path().join("tmp/evil")).unwrap();
        let a = anchor(&tmp);
        for name in ["file", "dir"] {
            let path = tmp.path().join("tmp/evil").join(name);
            let err = remove_path(&a, &path, None).unwrap_err();
            assert!(err.to_string().contains("symlink"), "{err}");
            assert!(remove(&a, &path, &by_type()).is_err());
            assert!(measure(&a, &path, None).is_err());
            assert!(EntryRemover::open(&a, &tmp.path().join("tmp/evil"), 0).is_err());
        }
        // Outside the anchor by its text: refused before any syscall.
        assert!(remove_path(&a, &outside.path().join("file"), None).is_err());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("file")).unwrap(),
            "precious"
        );
        assert!(outside.path().join("dir").is_dir());
    }

    fn by_type() -> Removal<'static> {
        Removal {
            dev: None,
            count: Count::Entries,
            keep_newer_than_ms: None,
            keep_in_use: None,
        }
    }

    fn age(path: &Path, days: u64) {
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 86_400);
        let f = File::open(path).unwrap();
        f.set_modified(t).unwrap();
    }

    #[test]
    fn removal_by_d_type_counts_entries_and_never_follows_a_symlink() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(outside.join("sub")).unwrap();
        std::fs::write(outside.join("sub/keep"), "precious").unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir_all(tree.join("a/b/c")).unwrap();
        std::fs::write(tree.join("a/b/c/deep"), "12345").unwrap();
        std::fs::write(tree.join("a/f"), "1").unwrap();
        symlink(&outside, tree.join("a/b/dirlink")).unwrap();
        symlink(outside.join("sub/keep"), tree.join("filelink")).unwrap();
        let removed = remove(&anchor(&tmp), &tree, &by_type()).unwrap();
        // 2 files + 2 links; tree, a, a/b, a/b/c. Bytes are not counted.
        assert_eq!((removed.files, removed.dirs, removed.bytes), (4, 4, 0));
        assert!(!tree.exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("sub/keep")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn a_directory_modified_since_the_limit_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("tree");
        std::fs::create_dir_all(tree.join("old")).unwrap();
        std::fs::create_dir_all(tree.join("busy")).unwrap();
        std::fs::write(tree.join("old/f"), "x").unwrap();
        std::fs::write(tree.join("busy/new"), "x").unwrap();
        std::fs::write(tree.join("loose"), "x").unwrap();
        for p in ["old/f", "old", "loose"] {
            age(&tree.join(p), 3);
        }
        let limit = crate::time::now_ms() - 86_400_000;
        let how = Removal {
            keep_newer_than_ms: Some(limit),
            ..by_type()
        };
        // The top level itself was written just now: nothing is touched.
        assert!(matches!(
            remove(&anchor(&tmp), &tree, &how),
            Err(RemoveError::Modified(_))
        ));
        assert!(tree.join("old/f").exists() && tree.join("loose").exists());
        // Old at the top, but one directory inside is busy: that one stays.
        age(&tree, 3);
        match remove(&anchor(&tmp), &tree, &how) {
            Err(RemoveError::Partial {
                removed, source, ..
            }) => {
                assert!(source.to_string().contains("busy"), "{source}");
                assert_eq!((removed.files, removed.dirs), (2, 1));
            }
            other => panic!("expected a partial removal, got {other:?}"),
        }
        assert!(tree.join("busy/new").exists());
        assert!(!tree.join("old").exists() && !tree.join("loose").exists());
    }

    /// File systems that leave `d_type` unset, and entries whose type changed
    /// since `getdents`, are handled by a `stat`.
    #[test]
    fn an_unknown_or_stale_d_type_falls_back_to_stat() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("dir1/sub")).unwrap();
        std::fs::write(root.join("dir1/sub/f"), "x").unwrap();
        std::fs::create_dir(root.join("dir2")).unwrap();
        std::fs::create_dir(root.join("dir3")).unwrap();
        std::fs::write(root.join("file1"), "x").unwrap();
        std::fs::write(root.join("file2"), "x").unwrap();
        symlink(root.join("dir1"), root.join("link")).unwrap();
        let fd = rustix::fs::open(root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let dev = rustix::fs::fstat(&fd).unwrap().st_dev;
        for (count, file_type, name, dirs, files) in [
            (Count::Entries, FileType::Unknown, "dir1", 2, 1),
            (Count::Entries, FileType::Unknown, "file1", 0, 1),
            // A directory that getdents called a file: unlink refuses, a stat decides.
            (Count::Entries, FileType::RegularFile, "dir2", 1, 0),
            // A file that getdents called a directory.
            (Count::Entries, FileType::Directory, "file2", 0, 1),
            // A symlink called a directory: the link goes, never its target.
            (Count::Entries, FileType::Directory, "link", 0, 1),
            (Count::Bytes, FileType::Unknown, "dir3", 1, 0),
        ] {
            let mut r = Remover {
                reader: DirReader::new(),
                how: Removal {
                    dev: None,
                    count,
                    keep_newer_than_ms: None,
                    keep_in_use: None,
                },
                first_err: None,
                kept: None,
            };
            let mut m = Measure::default();
            let name_c = CString::new(name).unwrap();
            let ino = lstat(&root.join(name)).unwrap().st_ino;
            r.remove_entry(fd.as_fd(), file_type, ino, &name_c, dev, &mut m, 1);
            assert!(r.first_err.is_none(), "{name}: {:?}", r.first_err);
            assert_eq!((m.dirs, m.files), (dirs, files), "{name}");
            assert!(
                std::fs::symlink_metadata(root.join(name)).is_err(),
                "{name}"
            );
        }
        assert!(std::fs::read_dir(root).unwrap().next().is_none());
    }

    #[test]
    fn a_directory_larger_than_one_getdents_buffer_is_read_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let tree = tmp.path().join("big");
        std::fs::create_dir(&tree).unwrap();
        // ~80 bytes a record: 2,000 of them need several getdents calls.
        let n = 2000;
        for i in 0..n {
            std::fs::write(tree.join(format!("{i:0>60}")), "ab").unwrap();
        }
        let m = measure(&anchor(&tmp), &tree, None).unwrap();
        assert_eq!((m.files, m.dirs, m.bytes), (n, 1, 2 * n));
        let removed = remove(&anchor(&tmp), &tree, &by_type()).unwrap();
        assert_eq!((removed.files, removed.dirs), (n, 1));
        assert!(!tree.exists());
    }

    #[test]
    fn dir_contents_counts_own_entries_and_lists_subdirs() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        std::fs::create_dir_all(d.join("sub/inner")).unwrap();
        std::fs::write(d.join("sub/inner/f"), "not counted here").unwrap();
        std::fs::write(d.join("f"), "123").unwrap();
        symlink(d.join("sub"), d.join("link")).unwrap();
        let dev = lstat(d).unwrap().st_dev;
        let c = dir_contents(&mut DirReader::new(), d, dev).unwrap();
        assert_eq!((c.local.files, c.local.dirs, c.local.other_dev), (2, 0, 0));
        assert!(c.local.bytes >= 3);
        assert_eq!(c.subdirs, [OsString::from("sub")]);
        // Never through a symlink.
        assert!(dir_contents(&mut DirReader::new(), &d.join("link"), dev).is_err());
    }

    #[test]
    fn entry_lists_keep_types_and_names() {
        let mut list = Vec::new();
        for (t, ino, name) in [
            (FileType::Directory, 7u64, "d"),
            (FileType::Unknown, u64::MAX, "ü x"),
        ] {
            list.push(code_of_type(t));
            list.extend_from_slice(&ino.to_ne_bytes());
            list.extend_from_slice(name.as_bytes());
            list.push(0);
        }
        let list = EntryList(list);
        let got: Vec<(FileType, u64, String)> = list
            .iter()
            .map(|(t, i, n)| (t, i, n.to_string_lossy().into_owned()))
            .collect();
        assert_eq!(
            got,
            [
                (FileType::Directory, 7, "d".to_owned()),
                (FileType::Unknown, u64::MAX, "ü x".to_owned())
            ]
        );
    }

    #[test]
    fn an_entry_remover_removes_trees_files_and_links_but_not_a_held_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(root.join("tree/a")).unwrap();
        std::fs::create_dir(root.join("empty")).unwrap();
        std::fs::create_dir(root.join("held")).unwrap();
        std::fs::create_dir(&outside).unwrap();
        std::fs::write(outside.join("keep"), "precious").unwrap();
        std::fs::write(root.join("tree/a/f"), "12345").unwrap();
        std::fs::write(root.join("file"), "123").unwrap();
        symlink(&outside, root.join("link")).unwrap();
        let dev = lstat(&root).unwrap().st_dev;
        let mut r = EntryRemover::open(&anchor(&tmp), &root, dev).unwrap();
        let removed = |outcome| match outcome {
            Ok(EntryRemoval::Removed(m)) => m,
            other => panic!("{other:?}"),
        };
        let m = removed(r.remove_unless_locked(OsStr::new("tree")));
        assert_eq!((m.files, m.dirs, m.bytes), (1, 2, 5));
        assert_eq!(removed(r.remove_unless_locked(OsStr::new("empty"))).dirs, 1);
        let m = removed(r.remove_unless_locked(OsStr::new("file")));
        assert_eq!((m.files, m.bytes), (1, 3));
        // The link goes, not what it points to.
        assert_eq!(removed(r.remove_unless_locked(OsStr::new("link"))).files, 1);
        assert!(std::fs::symlink_metadata(root.join("link")).is_err());
        assert!(outside.join("keep").exists());
        // Gone already: an empty measure.
        let m = removed(r.remove_unless_locked(OsStr::new("tree")));
        assert_eq!(m, Measure::default());
        // Another description's flock keeps it, untouched.
        let holder = File::open(root.join("held")).unwrap();
        holder.lock().unwrap();
        assert!(matches!(
            r.remove_unless_locked(OsStr::new("held")),
            Ok(EntryRemoval::Held)
        ));
        assert!(root.join("held").is_dir());
        drop(holder);
        // A test thread forking a child copies our descriptors until its exec.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            match r.remove_unless_locked(OsStr::new("held")) {
                Ok(EntryRemoval::Removed(m)) => {
                    assert_eq!(m.dirs, 1);
                    break;
                }
                Ok(EntryRemoval::Held) => {
                    assert!(std::time::Instant::now() < end, "lock never freed");
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    }
}
