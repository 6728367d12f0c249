//! Unified diffs of file changes, for `diff`, `--dry-run` and `check`'s drift report.

use similar::{ChangeTag, TextDiff};

use crate::ui::paint;

/// A unified diff of one file (`None` is an absent file), `git diff` style.
pub fn unified(path: &str, before: Option<&[u8]>, after: Option<&[u8]>, color: bool) -> String {
    let old = String::from_utf8_lossy(before.unwrap_or_default());
    let new = String::from_utf8_lossy(after.unwrap_or_default());
    let (a, b) = (
        if before.is_some() {
            format!("a/{path}")
        } else {
            "/dev/null".into()
        },
        if after.is_some() {
            format!("b/{path}")
        } else {
            "/dev/null".into()
        },
    );
    let mut out = String::new();
    out.push_str(&paint(&format!("--- {a}\n+++ {b}"), "1", color));
    out.push('\n');
    let diff = TextDiff::from_lines(old.as_ref(), new.as_ref());
    for hunk in diff.unified_diff().context_radius(3).iter_hunks() {
        out.push_str(&paint(&hunk.header().to_string(), "36", color));
        out.push('\n');
        for change in hunk.iter_changes() {
            let (sign, code) = match change.tag() {
                ChangeTag::Delete => ('-', "31"),
                ChangeTag::Insert => ('+', "32"),
                ChangeTag::Equal => (' ', ""),
            };
            let mut line = format!("{sign}{}", change.value());
            let missing_newline = !line.ends_with('\n');
            if missing_newline {
                line.push('\n');
            }
            let line = line.trim_end_matches('\n');
            if code.is_empty() {
                out.push_str(line);
            } else {
                out.push_str(&paint(line, code, color));
            }
            out.push('\n');
            if missing_newline {
                out.push_str("\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// The first line (1-based) where two texts differ.
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    Some(a[..at].iter().filter(|&&c| c == b'\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_unified_diff() {
        let d = unified("x.yaml", Some(b"a\nb\nc\n"), Some(b"a\nB\nc\n"), false);
        assert_eq!(
            d,
            "--- a/x.yaml\n+++ b/x.yaml\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
        );
    }

    #[test]
    fn new_file_and_no_final_newline() {
        let d = unified("x.yaml", None, Some(b"a"), false);
        assert_eq!(
            d,
            "--- /dev/null\n+++ b/x.yaml\n@@ -0,0 +1 @@\n+a\n\\ No newline at end of file\n"
        );
    }
}
