//! Applying a planned change: the journal written first, the files, then the commit.

pub mod files;
pub mod journal;
