//! Branch name -> preview slug: the one name a preview goes by (its directory, `pr-<slug>` namespace,
//! `<slug>.` host prefix).
//!
//! A slug is a DNS-1123 label (lowercase letters, digits and `-`, starting and ending with a letter or
//! digit) of at most [`MAX_LEN`] characters, so that the namespace `pr-<slug>` fits the 63 characters
//! Kubernetes allows. A branch name is data, never a path: every character outside `[a-z0-9]` (after
//! lowercasing ASCII) becomes `-`, so `/`, `.` and `..` can never reach the file system.
//!
//! Readable slugs lose information (`feature/a` and `feature-a` both read `feature-a`), so every branch
//! also has a [`hashed`] slug that carries 8 hex characters of the SHA-256 of the branch name. A name
//! too long to keep, or with nothing readable left (`---`, `日本語`), only has the hashed one. The
//! preview commands try [`candidates`] in order and take the first one that is free or already the
//! branch's own, so two branches never share a preview.

use anyhow::Result;

use crate::error::Failure;
use crate::model::audit::sha256_hex;

/// The namespace prefix of a preview.
pub const PREFIX: &str = "pr-";

/// The longest slug: `pr-` + 60 = 63, the limit of a Kubernetes namespace (a DNS-1123 label).
pub const MAX_LEN: usize = 63 - PREFIX.len();

/// Hex characters of the branch name's SHA-256 in a hashed slug.
const HASH_LEN: usize = 8;

/// The readable slug of `branch`: lowercase, every run of other characters as one `-`, trimmed.
/// When that is too long or empty, the [`hashed`] slug.
pub fn slug(branch: &str) -> Result<String> {
    check_branch(branch)?;
    let readable = readable(branch);
    if readable.is_empty() || readable.len() > MAX_LEN {
        return Ok(hashed(branch));
    }
    Ok(readable)
}

/// The slug that names `branch` unambiguously: the readable part cut to fit, `-`, and the first
/// 8 hex characters of the SHA-256 of the branch name (`branch-<hash>` when nothing is readable).
pub fn hashed(branch: &str) -> String {
    let hash = &sha256_hex(branch.as_bytes())[..HASH_LEN];
    let readable = readable(branch);
    let keep = MAX_LEN - HASH_LEN - 1;
    let base = readable[..readable.len().min(keep)].trim_end_matches('-');
    let base = if base.is_empty() { "branch" } else { base };
    format!("{base}-{hash}")
}

/// The slugs `branch` may use, in order of preference (one or two, never empty).
pub fn candidates(branch: &str) -> Result<Vec<String>> {
    let first = slug(branch)?;
    let second = hashed(branch);
    Ok(if first == second {
        vec![first]
    } else {
        vec![first, second]
    })
}

/// Is `s` a slug this module could have made (a DNS-1123 label of at most [`MAX_LEN`] characters)?
pub fn is_valid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The namespace of a preview.
pub fn namespace(slug: &str) -> String {
    format!("{PREFIX}{slug}")
}

/// Branch names are free text, but not empty and on one line: a newline would forge lines in the
/// commit message (trailers) and the tables that show it.
fn check_branch(branch: &str) -> Result<()> {
    if branch.trim().is_empty() {
        return Err(Failure::EmptyBranch.into());
    }
    if let Some(c) = branch.chars().find(|c| c.is_control()) {
        return Err(Failure::BranchControlCharacter {
            branch: branch.to_string(),
            character: c,
        }
        .into());
    }
    Ok(())
}

fn readable(branch: &str) -> String {
    let mut out = String::with_capacity(branch.len());
    for c in branch.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_branches_keep_their_name() {
        for (branch, want) in [
            ("main", "main"),
            ("feature/login", "feature-login"),
            ("Feature/LOGIN_page", "feature-login-page"),
            ("release/1.2.3", "release-1-2-3"),
            (
                "dependabot/npm_and_yarn/lodash-4.17.21",
                "dependabot-npm-and-yarn-lodash-4-17-21",
            ),
            ("--help", "help"),
            ("../../prod", "prod"),
            ("a;rm -rf /", "a-rm-rf"),
            ("fix//double--dash__", "fix-double-dash"),
            ("café/über", "caf-ber"),
            ("$(touch x)", "touch-x"),
        ] {
            assert_eq!(slug(branch).unwrap(), want, "{branch}");
        }
    }

    #[test]
    fn every_slug_is_a_dns_label_that_fits_a_namespace() {
        let long = "x".repeat(300);
        let dashes = format!("a{}b", "-".repeat(300));
        let branches = [
            "main",
            "---",
            "...",
            ".",
            "/",
            "日本語",
            "🚀",
            long.as_str(),
            dashes.as_str(),
            "feature/",
            "-x-",
            "UPPER",
            "a b c",
        ];
        for b in branches {
            for s in candidates(b).unwrap() {
                assert!(is_valid(&s), "{b:?} -> {s:?}");
                assert!(namespace(&s).len() <= 63, "{b:?} -> {s:?}");
            }
        }
    }

    #[test]
    fn long_names_are_cut_with_a_hash_so_they_stay_apart() {
        let a = format!("feature/{}-a", "x".repeat(100));
        let b = format!("feature/{}-b", "x".repeat(100));
        let (sa, sb) = (slug(&a).unwrap(), slug(&b).unwrap());
        assert_ne!(sa, sb);
        assert_eq!(sa.len(), MAX_LEN);
        assert!(sa.starts_with("feature-xxxx"), "{sa}");
        assert_eq!(&sa[sa.len() - 8..], &sha256_hex(a.as_bytes())[..8]);
        // Exactly at the limit: kept as it is.
        let sixty = "y".repeat(MAX_LEN);
        assert_eq!(slug(&sixty).unwrap(), sixty);
        assert_eq!(slug(&"y".repeat(MAX_LEN + 1)).unwrap().len(), MAX_LEN);
    }

    #[test]
    fn names_with_nothing_readable_get_a_hashed_slug() {
        let s = slug("---").unwrap();
        assert_eq!(s, format!("branch-{}", &sha256_hex(b"---")[..8]));
        assert_ne!(slug("日本語").unwrap(), slug("中文").unwrap());
        assert_eq!(candidates("🚀").unwrap().len(), 1);
    }

    #[test]
    fn lossy_names_have_a_second_distinct_candidate() {
        let a = candidates("feature/a").unwrap();
        let b = candidates("feature-a").unwrap();
        assert_eq!(a[0], b[0], "both read `feature-a`");
        assert_ne!(a[1], b[1], "the hashed candidates differ");
    }

    #[test]
    fn empty_and_multiline_names_are_refused() {
        for b in ["", "   ", "a\nb", "x\0y", "\r"] {
            let e = slug(b).unwrap_err().to_string();
            assert!(
                e.contains("empty") || e.contains("control character"),
                "{b:?}: {e}"
            );
        }
    }
}
