//! Expected output as `insta` snapshots: `tests/snapshots/<dir>/<name>.snap`, one file a snapshot,
//! reviewed with `cargo insta review` (or rewritten with `INSTA_UPDATE=always cargo test`).
//!
//! A mismatch always fails the test. Outside CI, insta also leaves the new output beside the snapshot
//! as `<name>.snap.new` for review; under `CI=true` (set by every CI service and by our CI) it writes
//! nothing. insta compares text with its trailing white space trimmed and a CRLF read as LF, and
//! users get exact bytes, so [`exact`] first makes both visible: a snapshot pins every byte.

/// Asserts that `$actual` is the snapshot `$name` (`"dir/file.ext"`: `tests/snapshots/dir/file.ext.snap`).
#[macro_export]
macro_rules! snapshot {
    ($name:expr, $actual:expr $(,)?) => {{
        let full = $name;
        let (dir, name) = AsRef::<str>::as_ref(&full)
            .split_once('/')
            .expect("a snapshot name is `dir/file`");
        insta::with_settings!({
            snapshot_path => format!("../snapshots/{dir}"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, $crate::support::exact($actual));
        });
    }};
}

/// `text` as insta keeps it exactly: every CR shown as `␍`, and an end other than one newline after
/// the last visible character written out on a line of its own (`[end: "\n\n"]`).
pub fn exact(text: &str) -> String {
    let text = text.replace('\r', "␍");
    let body = text.trim_end();
    match &text[body.len()..] {
        "\n" => text,
        end => format!("{body}\n[end: {end:?}]\n"),
    }
}
