//! The one integration test binary: runs the real `promote` binary against real git repositories in
//! temporary directories, with a bare `origin.git` beside them for pushes.

mod support;

mod action;
mod adopt;
mod cli;
mod crash;
mod gates;
mod gitmatrix;
mod init;
mod install;
mod pr;
mod preview;
mod promote;
mod push;
mod recovery_matrix;
mod render;
mod report;
mod trust;
