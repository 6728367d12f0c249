//! The one error type that reaches the edge: a message a user can act on, optional `hint:` lines
//! and the exit code. Everything else is `anyhow` with context; `main` picks the exit code here.

use std::fmt;

/// Exit codes, documented in `--help` and the README.
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A failure: bad input, a refused operation, a git error.
    pub const FAILURE: i32 = 1;
    /// Usage error (clap's own code).
    pub const USAGE: i32 = 2;
    /// `--check` / `--exit-code` found pending changes.
    pub const PENDING: i32 = 3;
}

/// An error the user caused and can fix: printed as `error: {message}` followed by `hint: ...` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub hints: Vec<String>,
    pub code: i32,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hints: Vec::new(),
            code: exit::FAILURE,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// `bail!` for user errors: `fail!("unknown environment `{}`", name; hint = "...")`.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err($crate::error::UserError::new(format!($($arg)*)).into())
    };
}

/// A command's result when it did not fail: the exit code to use (0, or 3 for pending changes).
pub type Outcome = anyhow::Result<i32>;
