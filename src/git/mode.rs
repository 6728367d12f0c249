//! git's file modes and index entry flag bits: the one definition for `git/` and its callers.
//!
//! A mode is what a tree entry and an index entry record: the file type in the high bits
//! (`TYPE_MASK`), and for a regular file whether it is executable. See git's `cache.h`
//! (`S_IFGITLINK`, `canon_mode`) and <https://git-scm.com/docs/index-format>.

/// A regular file's mode, as trees and the index record it.
pub const REGULAR: u32 = 0o100644;
/// An executable file's mode.
pub const EXECUTABLE: u32 = 0o100755;
/// A symbolic link's mode (its content is the link's target).
pub const SYMLINK: u32 = 0o120000;
/// A directory's mode in a tree.
pub const TREE: u32 = 0o040000;
/// A submodule's commit (a "gitlink").
pub const GITLINK: u32 = 0o160000;
/// The file-type bits of a mode.
pub const TYPE_MASK: u32 = 0o170000;
/// The file-type bits of a regular file (executable or not): `mode & TYPE_MASK == FILE_TYPE`.
pub const FILE_TYPE: u32 = 0o100000;

/// Index entry flags: the entry has a second, 16-bit flags field (index version 3 and up).
pub const EXTENDED: u16 = 0x4000;
/// Index entry flags: the path's length, or `NAME_MASK` for a longer path.
pub const NAME_MASK: u16 = 0x0fff;
/// Index entry flags: where the merge stage (0 to 3) is.
const STAGE_SHIFT: u16 = 12;

/// The merge stage of an index entry with these flags: 0 for a normal entry, 1 to 3 for the
/// sides of a conflict.
pub fn stage(flags: u16) -> u16 {
    (flags >> STAGE_SHIFT) & 3
}

/// A mode as git's index keeps it (`canon_mode`): what `git write-tree` writes for it.
pub fn canonical(mode: u32) -> u32 {
    match mode & TYPE_MASK {
        FILE_TYPE if mode & 0o100 != 0 => EXECUTABLE,
        FILE_TYPE => REGULAR,
        SYMLINK => SYMLINK,
        TREE => TREE,
        _ => GITLINK,
    }
}

/// A canonical mode as a tree object writes it (octal, no leading zero).
pub fn tree_text(mode: u32) -> &'static [u8] {
    match mode {
        REGULAR => b"100644",
        EXECUTABLE => b"100755",
        SYMLINK => b"120000",
        TREE => b"40000",
        _ => b"160000",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_and_modes() {
        assert_eq!(stage(0x0005), 0);
        assert_eq!(stage(0x1005 | EXTENDED), 1);
        assert_eq!(stage(0x3fff), 3);
        assert_eq!(canonical(0o100664), REGULAR);
        assert_eq!(canonical(0o100775), EXECUTABLE);
        assert_eq!(canonical(0o040755), TREE);
        assert_eq!(tree_text(canonical(0o120777)), b"120000");
    }
}
