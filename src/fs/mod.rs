//! The file system, confined: operations relative to an open directory, and no symbolic link followed.

pub mod at;
pub mod links;
