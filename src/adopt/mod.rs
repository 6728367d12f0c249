//! Adopting a repository the sed script maintains: what only `promote init` and `promote migrate` use.

pub mod legacy;
