//! Every environment variable promote reads, checked once before a command runs: a value promote
//! would not understand is an error that names the variable and what it takes, never silently
//! replaced by a default. An empty value counts as unset.

use crate::error::{Failure, UserError};

/// A variable's name, what it takes (for the message), and its check.
type Var = (&'static str, &'static str, fn(&str) -> bool);

/// The variables.
const VARS: &[Var] = &[
    (
        "PROMOTE_LOCK_WAIT",
        "seconds, from 0 to 3600 (e.g. `30` or `0.5`)",
        |v| v.parse::<f64>().is_ok_and(|s| (0.0..=3600.0).contains(&s)),
    ),
    (
        "PROMOTE_PUSH_ATTEMPTS",
        "a whole number from 1 to 100",
        |v| v.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)),
    ),
    (
        "PROMOTE_PUSH_BACKOFF_MS",
        "milliseconds, from 0 to 600000",
        |v| v.parse::<u64>().is_ok_and(|n| n <= 600_000),
    ),
    (
        "PROMOTE_NOW",
        "an RFC 3339 time (e.g. `2026-11-23T10:00:00Z`)",
        |v| chrono::DateTime::parse_from_rfc3339(v).is_ok(),
    ),
    ("PROMOTE_TRACE", "`1` (on) or `0` (off)", |v| {
        matches!(v, "0" | "1")
    }),
    (
        "PROMOTE_PROGRESS",
        "`1` (always, one line per step) or `0` (never)",
        |v| matches!(v, "0" | "1"),
    ),
    (
        "PROMOTE_GIT",
        "`auto` (the default) or `cli` (every git read and write through the `git` binary)",
        |v| matches!(v, "auto" | "cli"),
    ),
    (
        "PROMOTE_COMMIT",
        "`git` (always commit through `git commit`)",
        |v| v == "git",
    ),
];

/// Checks every variable of [`VARS`] that is set.
pub fn validate() -> Result<(), UserError> {
    validate_with(|k| std::env::var(k).ok())
}

/// [`validate`] over any source of variables (for unit tests).
pub fn validate_with(get: impl Fn(&str) -> Option<String>) -> Result<(), UserError> {
    for (name, takes, ok) in VARS {
        let Some(v) = get(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        if !ok(&v) {
            return Err(Failure::EnvInvalid {
                name: name.to_string(),
                value: v,
                takes: takes.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit;

    fn check(pairs: &[(&str, &str)]) -> Result<(), UserError> {
        validate_with(|k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn good_values_and_unset_or_empty_pass() {
        assert!(check(&[]).is_ok());
        assert!(check(&[("PROMOTE_LOCK_WAIT", "")]).is_ok());
        assert!(check(&[
            ("PROMOTE_LOCK_WAIT", "0.5"),
            ("PROMOTE_PUSH_ATTEMPTS", "3"),
            ("PROMOTE_PUSH_BACKOFF_MS", "0"),
            ("PROMOTE_NOW", "2026-11-23T10:00:00Z"),
            ("PROMOTE_TRACE", "1"),
            ("PROMOTE_PROGRESS", "0"),
            ("PROMOTE_COMMIT", "git"),
        ])
        .is_ok());
    }

    #[test]
    fn each_bad_value_is_named() {
        for (k, v) in [
            ("PROMOTE_LOCK_WAIT", "abc"),
            ("PROMOTE_LOCK_WAIT", "-1"),
            ("PROMOTE_LOCK_WAIT", "7200"),
            ("PROMOTE_PUSH_ATTEMPTS", "0"),
            ("PROMOTE_PUSH_ATTEMPTS", "ten"),
            ("PROMOTE_PUSH_BACKOFF_MS", "1.5"),
            ("PROMOTE_NOW", "yesterday"),
            ("PROMOTE_TRACE", "yes"),
            ("PROMOTE_PROGRESS", "auto"),
            ("PROMOTE_COMMIT", "libgit2"),
        ] {
            let e = check(&[(k, v)]).unwrap_err();
            assert!(
                e.message.starts_with(&format!("`{k}={v}` is not valid")),
                "{}",
                e.message
            );
            assert_eq!(e.code, exit::USAGE);
        }
    }
}
