//! File operations relative to an open directory (`openat`, `fstatat`, `renameat2`).
//!
//! The kernel walks a path one component at a time, under a lock-free lookup that still costs
//! about as much per component as reading a small file. A promotion touches thousands of files in
//! a few directories, so each directory is opened once and its files are named relative to it:
//! `/…/repo/staging/svc-0001-deployment.yaml.tpl` is walked once for `staging`, not once per file.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// An open directory.
pub struct Dir {
    fd: File,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        let c = cstr(path.as_os_str())?;
        // SAFETY: `c` is a valid NUL-terminated string; the result is checked.
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        Ok(Dir {
            fd: unsafe { File::from_raw_fd(fd) },
        })
    }

    /// The descriptor, for system calls that take a directory (`renameat2`, `fstatat`).
    pub fn raw(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// The bytes of the file `name` (relative to this directory), like `std::fs::read`, without
    /// asking its size first (two reads of a small file cost less than a `stat`).
    pub fn read(&self, name: &OsStr) -> io::Result<Vec<u8>> {
        let c = cstr(name)?;
        // SAFETY: valid directory fd and NUL-terminated name; the result is checked.
        let fd = unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                // A symbolic link is not followed (ELOOP): see `crate::fs::trust`.
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let mut file = unsafe { File::from_raw_fd(fd) };
        let mut bytes = Vec::with_capacity(8192);
        file.read_to_end(&mut bytes)?;
        Ok(bytes)
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
        let c = cstr(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: valid directory fd, NUL-terminated name, and a buffer of the right type; the
        // buffer is read only when the call succeeded.
        let r = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fstatat succeeded and filled the buffer.
        let st = unsafe { st.assume_init() };
        Ok(Stat {
            size: st.st_size as u64,
            mtime: (st.st_mtime, st.st_mtime_nsec),
            ctime: (st.st_ctime, st.st_ctime_nsec),
            ino: st.st_ino,
            mode: st.st_mode,
        })
    }
}

fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
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
