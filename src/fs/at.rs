//! File operations relative to an open directory (`openat`, `fstatat`, `renameat2`).
//!
//! The kernel walks a path one component at a time, under a lock-free lookup that still costs
//! about as much per component as reading a small file. A promotion touches thousands of files in
//! a few directories, so each directory is opened once and its files are named relative to it:
//! `/…/repo/staging/svc-0001-deployment.yaml.tpl` is walked once for `staging`, not once per file.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};

/// An open directory.
pub struct Dir {
    fd: OwnedFd,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Dir { fd })
    }

    /// The bytes of the file `name` (relative to this directory), like `std::fs::read`, without
    /// asking its size first (two reads of a small file cost less than a `stat`).
    pub fn read(&self, name: &OsStr) -> io::Result<Vec<u8>> {
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            // A symbolic link is not followed (ELOOP): see `crate::fs::links`.
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        )?;
        let mut file = File::from(fd);
        let mut bytes = Vec::with_capacity(8192);
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// The descriptor, for system calls that take a directory (`renameat2`, `fstatat`).
impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// What `lstat` tells of a file (the fields promote compares).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub size: u64,
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub ino: u64,
    pub mode: u32,
}

impl Dir {
    /// `lstat` of `name` (relative to this directory; `.` is the directory itself).
    pub fn lstat(&self, name: &OsStr) -> io::Result<Stat> {
        let st = rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)?;
        // The field types differ between architectures (`c_long`, `c_ulong`, `u32`): the casts
        // widen or keep them, and a time's nanoseconds are below 10^9.
        Ok(Stat {
            size: st.st_size as u64,
            mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
            ino: st.st_ino as u64,
            mode: st.st_mode as u32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_relative_to_the_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(tmp.path().join("d/small"), b"abc").unwrap();
        std::fs::write(tmp.path().join("d/big"), &big).unwrap();
        std::fs::write(tmp.path().join("d/empty"), b"").unwrap();
        let dir = Dir::open(&tmp.path().join("d")).unwrap();
        assert_eq!(dir.read(OsStr::new("small")).unwrap(), b"abc");
        assert_eq!(dir.read(OsStr::new("big")).unwrap(), big);
        assert_eq!(dir.read(OsStr::new("empty")).unwrap(), b"");
        let missing = dir.read(OsStr::new("missing")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(Dir::open(&tmp.path().join("d/small")).is_err());
        // lstat agrees with std's.
        use std::os::unix::fs::MetadataExt;
        for name in ["small", "big", "."] {
            let ours = dir.lstat(OsStr::new(name)).unwrap();
            let std = std::fs::symlink_metadata(tmp.path().join("d").join(name)).unwrap();
            assert_eq!(ours.size, std.size());
            assert_eq!(ours.mtime, (std.mtime(), std.mtime_nsec()));
            assert_eq!(ours.ctime, (std.ctime(), std.ctime_nsec()));
            assert_eq!((ours.ino, ours.mode), (std.ino(), std.mode()));
        }
        std::os::unix::fs::symlink("small", tmp.path().join("d/link")).unwrap();
        let link = dir.lstat(OsStr::new("link")).unwrap();
        assert_eq!(link.mode & libc::S_IFMT, libc::S_IFLNK, "not followed");
        assert!(dir.lstat(OsStr::new("missing")).is_err());
    }
}
