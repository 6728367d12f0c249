//! What keeps the outside world out: no symbolic link is followed in the paths promote reads or
//! writes, and recorded or user-supplied text is made safe before it reaches a terminal.
//!
//! promote follows no symbolic link in `promote.yaml`, the template directories, an environment's
//! directory, its templates, manifests, metadata file and deploy.log, or the previews directory.
//! A link there is refused with its path and where it points: a template linked to
//! `/proc/self/environ` would otherwise carry the CI's secrets into a manifest, a diff or an error,
//! and an environment directory linked to another would make a change to one write the other.

use std::path::Path;

use anyhow::Result;

use crate::error::UserError;
use crate::model::config::Config;

/// The refusal for a symbolic link at `rel` (repository-relative), naming where it points.
pub fn link_error(root: &Path, rel: &str) -> anyhow::Error {
    let target = std::fs::read_link(root.join(rel))
        .map(|t| escape(&t.to_string_lossy()))
        .unwrap_or_else(|_| "?".into());
    UserError::new(format!(
        "`{}` is a symbolic link (to `{target}`): promote follows no symbolic links in templates, environments or previews",
        escape(rel)
    ))
    .hint("replace the link with a copy of the file (or `{% include %}` a partial from `templates/`)")
    .into()
}

/// Refuses when `rel` or any directory on the way to it (from the repository root) is a symbolic
/// link. A path that does not exist (yet) is fine as far as it goes.
pub fn no_link(root: &Path, rel: &str) -> Result<()> {
    let mut path = root.to_path_buf();
    let mut sofar = String::new();
    for part in rel.split('/').filter(|p| !p.is_empty() && *p != ".") {
        path.push(part);
        if !sofar.is_empty() {
            sofar.push('/');
        }
        sofar.push_str(part);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => return Err(link_error(root, &sofar)),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Ok(())
}

/// Checks every path the config names (templates, each environment's directories and files, the
/// previews directory) for symbolic links: a few `lstat` calls per environment.
pub fn check_config_paths(config: &Config) -> Result<()> {
    let root = &config.root;
    no_link(root, crate::model::config::CONFIG_FILE)?;
    no_link(root, &config.templates)?;
    for env in &config.environments {
        for p in [
            &env.dir,
            &env.manifests,
            &env.templates,
            &env.metadata,
            &env.deploy_log,
        ] {
            no_link(root, p)?;
        }
    }
    if let Some(p) = &config.previews {
        no_link(root, &p.dir)?;
        no_link(root, &p.templates)?;
    }
    Ok(())
}

/// Text from a record, a user or a repository, made safe for a terminal: every control character
/// but newline and tab is shown as an escape (`\u{1b}`), so an ESC or BEL in a message, a branch
/// name, a reason or an actor's name cannot move the cursor, retitle the window or ring the bell.
pub fn escape(s: &str) -> String {
    if !s.chars().any(is_unsafe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// [`escape`], on one line: newlines too.
pub fn escape_line(s: &str) -> String {
    escape(s).replace('\n', "\\n")
}

fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        // Unicode's bidirectional overrides can reorder what a reader sees.
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape("plain\ttext\n"), "plain\ttext\n");
        assert_eq!(escape("a\x1b[2Jb\x07"), "a\\u{1b}[2Jb\\u{7}");
        assert_eq!(escape("\r\u{9b}"), "\\u{d}\\u{9b}");
        assert_eq!(escape_line("a\nb"), "a\\nb");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn links_on_the_way_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("environments/dev")).unwrap();
        std::os::unix::fs::symlink("dev", root.join("environments/staging")).unwrap();
        no_link(root, "environments/dev/manifests").unwrap();
        no_link(root, "missing/x").unwrap();
        let e = no_link(root, "environments/staging/metadata.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`environments/staging` is a symbolic link (to `dev`)"),
            "{e}"
        );
    }
}
