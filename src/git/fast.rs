//! Which backend reads and writes a repository: the `git` binary, or the in-process fast path.
//!
//! git is the reference: the path through the `git` binary (`gitcli`, `git::commit`) is right on
//! every repository git supports. The in-process path (libgit2, `gitindex`, `gitwrite`) is an
//! optimization, taken only where everything it depends on is on an ALLOW-LIST below: anything
//! not listed -- an environment variable, a config key, a repository extension, an index
//! extension, a hook, a linked worktree -- sends the run through `git`. Never a list of
//! exceptions: what this module does not know is not proven.
//!
//! `PROMOTE_GIT=cli` forces the `git` backend; `PROMOTE_GIT=auto` (the default) decides here.
//! The reason for the `git` backend is printed with `PROMOTE_TRACE=1`; users see nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Result;

use crate::error::Failure;

/// What `PROMOTE_GIT` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The in-process path where it is proven equal to git, git elsewhere (the default).
    Auto,
    /// The `git` binary for everything.
    Cli,
}

/// `PROMOTE_GIT`: unset, empty or `auto`, or `cli`; anything else is an error that says so.
pub fn mode() -> Result<Mode> {
    match std::env::var("PROMOTE_GIT") {
        Err(std::env::VarError::NotPresent) => Ok(Mode::Auto),
        Ok(v) if v.is_empty() || v == "auto" => Ok(Mode::Auto),
        Ok(v) if v == "cli" => Ok(Mode::Cli),
        Ok(v) => Err(Failure::PromoteGitInvalid {
            value: v,
            unicode: true,
        }
        .into()),
        Err(std::env::VarError::NotUnicode(v)) => Err(Failure::PromoteGitInvalid {
            value: v.to_string_lossy().into_owned(),
            unicode: false,
        }
        .into()),
    }
}

/// `GIT_*` environment variables that change nothing the in-process path reads or writes: who
/// commits (read through `git var` anyway), how git talks to remotes and terminals, tracing, and
/// the config files git reads (the config itself is read through `git config`). Any other `GIT_*`
/// variable (`GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE`, `GIT_COMMON_DIR`,
/// `GIT_OBJECT_DIRECTORY`, `GIT_ALTERNATE_OBJECT_DIRECTORIES`, `GIT_NAMESPACE`,
/// `GIT_CONFIG_PARAMETERS`, `GIT_ATTR_SOURCE`, ...) sends the run through `git`.
const ENV_ALLOWED: &[&str] = &[
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_TERMINAL_PROMPT",
    "GIT_CONFIG_NOSYSTEM",
    "GIT_CONFIG_GLOBAL",
    "GIT_CONFIG_SYSTEM",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_ASKPASS",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_SSH_VARIANT",
    "GIT_SSL_NO_VERIFY",
    "GIT_SSL_CAINFO",
    "GIT_SSL_CAPATH",
    "GIT_HTTP_USER_AGENT",
    "GIT_HTTP_LOW_SPEED_LIMIT",
    "GIT_HTTP_LOW_SPEED_TIME",
    "GIT_HTTP_PROXY_AUTHMETHOD",
    "GIT_PROXY_COMMAND",
    "GIT_PROTOCOL_FROM_USER",
    "GIT_ALLOW_PROTOCOL",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_FLUSH",
    "GIT_OPTIONAL_LOCKS",
    "GIT_MERGE_VERBOSITY",
    "GIT_MERGE_AUTOEDIT",
    "GIT_REDACT_COOKIES",
    "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR",
    "GIT_DEFAULT_HASH",
];

/// The first `GIT_*` environment variable not on [`ENV_ALLOWED`] (tracing variables aside).
pub fn env_reason() -> Option<String> {
    std::env::vars_os().find_map(|(k, _)| {
        let k = k.to_string_lossy();
        (k.starts_with("GIT_") && !k.starts_with("GIT_TRACE") && !ENV_ALLOWED.contains(&k.as_ref()))
            .then(|| format!("`{k}` is set"))
    })
}

/// The config as git reads it (`git config --list`: every file, `include`, `includeIf`, `-c`),
/// keys as git prints them (section and name lowercased).
pub type GitConfig = HashMap<String, Option<String>>;

/// Runs `git config -z --list` in `root`.
pub fn read_config(root: &Path) -> Result<GitConfig> {
    // `-z`: a key, a newline and the value, then NUL; a key without value ends at the NUL.
    let out = Command::new("git")
        .current_dir(root)
        .args(["config", "-z", "--list"])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "`git config --list` failed in `{}`: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut config = GitConfig::new();
    for item in out.stdout.split(|b| *b == 0).filter(|i| !i.is_empty()) {
        let item = String::from_utf8_lossy(item);
        match item.split_once('\n') {
            Some((k, v)) => config.insert(k.to_string(), Some(v.to_string())),
            None => config.insert(item.to_string(), None),
        };
    }
    Ok(config)
}

/// git's reading of a boolean value (`true`/`yes`/`on`/`1`, a key without value).
fn truthy(v: &Option<String>) -> Option<bool> {
    match v.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => Some(true),
        Some("true" | "yes" | "on" | "1") => Some(true),
        Some("false" | "no" | "off" | "0" | "") => Some(false),
        Some(other) => other.parse::<i64>().ok().map(|n| n != 0),
    }
}

/// Config sections that change nothing the in-process path reads or writes (remotes, branches'
/// upstreams, identity, output, other commands' settings). `filter.*` only matters through
/// attributes, which are checked per path.
const SECTIONS_ALLOWED: &[&str] = &[
    "user",
    "author",
    "committer",
    "remote",
    "branch",
    "alias",
    "color",
    "push",
    "fetch",
    "pull",
    "merge",
    "mergetool",
    "diff",
    "difftool",
    "log",
    "credential",
    "http",
    "https",
    "url",
    "init",
    "advice",
    "gc",
    "pack",
    "rerere",
    "rebase",
    "tag",
    "pager",
    "help",
    "format",
    "sendemail",
    "safe",
    "maintenance",
    "filter",
    "lfs",
    "gpg",
    "column",
    "interactive",
    "blame",
    "grep",
    "protocol",
    "transfer",
    "receive",
    "uploadpack",
    "clone",
    "checkout",
    "stash",
    "versionsort",
    "promote",
    "include",
    "includeif",
    "submodule",
    "status",
    "am",
    "apply",
    "notes",
    "trailer",
    "worktree",
    "web",
    "instaweb",
    "gui",
    "guitool",
    "man",
    "cherrypick",
    "revert",
    "reset",
    "sequence",
    "imap",
    "replay",
    "bundle",
    "fsck",
    "fetchpack",
    "hasconfig",
];

/// `core.*` keys (and the values) the in-process path is proven for.
fn core_allowed(name: &str, value: &Option<String>) -> bool {
    match name {
        // The format versions libgit2 and `gitwrite` read and write.
        "repositoryformatversion" => matches!(value.as_deref(), Some("0" | "1")),
        "filemode" | "symlinks" => truthy(value) == Some(true),
        // libgit2 honours it when it moves the branch, as git does.
        "logallrefupdates" => true,
        "bare" | "ignorecase" | "precomposeunicode" | "splitindex" | "sparsecheckout"
        | "sparsecheckoutcone" | "untrackedcache" => truthy(value) == Some(false),
        "autocrlf" => truthy(value) == Some(false),
        "fsmonitor" => truthy(value) == Some(false),
        // Settings of other commands, of the terminal, of packs and of the network.
        "editor"
        | "pager"
        | "excludesfile"
        | "whitespace"
        | "quotepath"
        | "abbrev"
        | "askpass"
        | "sshcommand"
        | "compression"
        | "loosecompression"
        | "packedgitlimit"
        | "packedgitwindowsize"
        | "deltabasecachelimit"
        | "bigfilethreshold"
        | "preloadindex"
        | "trustctime"
        | "checkstat"
        | "commitgraph"
        | "multipackindex"
        | "fsync"
        | "fsyncmethod"
        | "fsyncobjectfiles"
        | "createobject"
        | "notesref"
        | "warnambiguousrefs"
        | "safecrlf"
        | "hidedotfiles"
        | "longpaths"
        | "protectntfs"
        | "protecthfs"
        | "restrictinheritedhandles"
        | "unsetenvvars"
        | "checkroundtripencoding"
        | "commentchar"
        | "commentstring"
        | "splitindexshared" => true,
        _ => false,
    }
}

/// Why the config keeps the in-process path off, if it does: the first key not on the allow-list
/// (or on it with a value it is not proven for).
pub fn config_reason(config: &GitConfig) -> Option<String> {
    let mut keys: Vec<&String> = config.keys().collect();
    keys.sort();
    for key in keys {
        let value = &config[key];
        let (section, name) = match key.rsplit_once('.') {
            Some(p) => p,
            None => return Some(format!("config `{key}`")),
        };
        let top = section.split('.').next().unwrap_or(section);
        let ok = match (top, name) {
            ("core", n) if section == "core" => core_allowed(n, value),
            ("extensions", "worktreeconfig") => true,
            ("extensions", "objectformat") => value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("sha1")),
            ("extensions", "refstorage") => value
                .as_deref()
                .is_some_and(|v| v.eq_ignore_ascii_case("files")),
            ("index", "version") => matches!(value.as_deref(), Some("2" | "3" | "4")),
            ("index", "threads" | "recordendofindexentries" | "recordoffsettable") => true,
            ("index", "skiphash" | "sparse") => truthy(value) == Some(false),
            ("feature", "manyfiles") => truthy(value) == Some(false),
            ("commit", "gpgsign") => truthy(value) == Some(false),
            ("commit", "template" | "verbose" | "status") => true,
            ("i18n", "commitencoding") => value
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case("utf-8") || e.eq_ignore_ascii_case("utf8")),
            ("i18n", "logoutputencoding") => true,
            ("gpg", _) | ("user", _) => true,
            (s, _) => SECTIONS_ALLOWED.contains(&s) || SECTIONS_ALLOWED.contains(&section),
        };
        if !ok {
            return Some(match value {
                Some(v) => format!("config `{key}={v}`"),
                None => format!("config `{key}`"),
            });
        }
    }
    None
}

/// Hooks `git commit` runs, or that watch what it does.
pub const COMMIT_HOOKS: &[&str] = &[
    "pre-commit",
    "prepare-commit-msg",
    "commit-msg",
    "post-commit",
    "reference-transaction",
    "post-index-change",
];

/// Where git looks for hooks: `core.hooksPath` as git resolves it (`~/` is the home directory, a
/// relative path is relative to the work tree, where hooks run), else `<common dir>/hooks`.
pub fn hooks_dir(config: &GitConfig, root: &Path, common_dir: &Path) -> PathBuf {
    match config.get("core.hookspath").cloned().flatten() {
        Some(p) => {
            let home = std::env::var_os("HOME").map(PathBuf::from);
            if p == "~" {
                home.unwrap_or_else(|| PathBuf::from(p))
            } else if let (Some(rest), Some(home)) = (p.strip_prefix("~/"), home) {
                home.join(rest)
            } else {
                root.join(p)
            }
        }
        None => common_dir.join("hooks"),
    }
}

/// The first commit hook found where git looks for it.
pub fn hook_reason(dir: &Path) -> Option<String> {
    COMMIT_HOOKS
        .iter()
        .map(|h| dir.join(h))
        .find(|p| p.exists())
        .map(|p| format!("hook `{}`", p.display()))
}

/// Why the repository's layout keeps the in-process path off: a linked worktree (hooks, config
/// and refs split between two git dirs), a git dir elsewhere than `.git` in the work tree (a
/// separate git dir, a submodule's), borrowed objects (alternates), a shallow or partial
/// clone, or an index the in-process reader and writer do not handle exactly (a split or sparse
/// index, a required extension, another version).
pub fn layout_reason(root: &Path, git_dir: &Path, common_dir: &Path) -> Option<String> {
    if git_dir != common_dir {
        return Some("a linked worktree".to_string());
    }
    // The plain layout only: libgit2 takes a separate git dir's parent for the work tree.
    let plain = root.join(".git");
    if git_dir.canonicalize().ok() != plain.canonicalize().ok() || !plain.is_dir() {
        return Some(format!(
            "the git dir `{}` is not `.git` in the work tree",
            git_dir.display()
        ));
    }
    for (file, what) in [
        ("objects/info/alternates", "alternates"),
        ("shallow", "a shallow clone"),
    ] {
        if common_dir.join(file).exists() {
            return Some(what.to_string());
        }
    }
    let index = git_dir.join("index");
    if index.exists() && super::index::read_shared(&index).is_none() {
        return Some(format!(
            "`{}` has a format or extension the in-process reader does not handle",
            index.display()
        ));
    }
    None
}

/// Attributes that change the bytes git stores for a file.
pub const CONVERSIONS: &[&str] = &[
    "text",
    "eol",
    "crlf",
    "filter",
    "ident",
    "working-tree-encoding",
];

/// The paths (repository-relative) for which git applies a conversion on `git add`: any of
/// [`CONVERSIONS`] specified, from any attributes file git reads (the work tree's and the index's
/// `.gitattributes`, `info/attributes`, `core.attributesFile`, the system file, macros).
/// `git check-attr` answers exactly, for all the paths in one process.
pub fn converted(root: &Path, paths: &[String]) -> Result<Vec<String>> {
    use std::io::Write;
    let mut cmd = Command::new("git");
    cmd.current_dir(root)
        // With `--stdin` the attributes are the arguments; the paths come NUL-separated on stdin.
        .args(["check-attr", "-z", "--stdin"])
        .args(CONVERSIONS)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut input = Vec::new();
    for p in paths {
        input.extend_from_slice(p.as_bytes());
        input.push(0);
    }
    let mut stdin = child.stdin.take().expect("piped");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output()?;
    let _ = writer.join();
    if !out.status.success() {
        anyhow::bail!(
            "`git check-attr` failed in `{}`: {}",
            root.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // `<path> NUL <attribute> NUL <info> NUL`, for every path and attribute.
    let fields: Vec<&[u8]> = out.stdout.split(|b| *b == 0).collect();
    let mut found = Vec::new();
    for triple in fields.chunks_exact(3) {
        if triple[2] != b"unspecified" {
            let p = String::from_utf8_lossy(triple[0]).into_owned();
            if found.last() != Some(&p) {
                found.push(p);
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, Option<&str>)]) -> GitConfig {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect()
    }

    #[test]
    fn a_plain_config_is_allowed() {
        let c = cfg(&[
            ("core.repositoryformatversion", Some("0")),
            ("core.filemode", Some("true")),
            ("core.bare", Some("false")),
            ("core.logallrefupdates", Some("true")),
            ("user.name", Some("Jane")),
            ("remote.origin.url", Some("../origin.git")),
            ("branch.main.remote", Some("origin")),
            ("filter.lfs.clean", Some("git-lfs clean -- %f")),
        ]);
        assert_eq!(config_reason(&c), None);
    }

    #[test]
    fn what_changes_the_commit_is_refused() {
        for (k, v) in [
            ("core.autocrlf", Some("true")),
            ("core.autocrlf", Some("input")),
            ("core.eol", Some("crlf")),
            ("core.attributesfile", Some("~/attrs")),
            ("core.hookspath", Some("~/hooks")),
            ("core.splitindex", Some("true")),
            ("core.fsmonitor", Some("true")),
            ("core.worktree", Some("/elsewhere")),
            ("core.sharedrepository", Some("group")),
            ("extensions.objectformat", Some("sha256")),
            ("extensions.refstorage", Some("reftable")),
            ("extensions.partialclone", Some("origin")),
            ("index.skiphash", Some("true")),
            ("index.sparse", Some("true")),
            ("feature.manyfiles", Some("true")),
            ("commit.gpgsign", Some("true")),
            ("commit.cleanup", Some("scissors")),
            ("i18n.commitencoding", Some("ISO-8859-1")),
            ("something.unknown", Some("1")),
        ] {
            let c = cfg(&[("core.filemode", Some("true")), (k, v)]);
            let why = config_reason(&c).unwrap_or_else(|| panic!("{k} allowed"));
            assert!(why.contains(k), "{why}");
        }
    }

    #[test]
    fn hooks_path_as_git_resolves_it() {
        let home = std::env::var_os("HOME").map(PathBuf::from).unwrap();
        let root = Path::new("/repo");
        let common = Path::new("/repo/.git");
        assert_eq!(hooks_dir(&cfg(&[]), root, common), common.join("hooks"));
        let c = cfg(&[("core.hookspath", Some("~/hooks"))]);
        assert_eq!(hooks_dir(&c, root, common), home.join("hooks"));
        let c = cfg(&[("core.hookspath", Some(".githooks"))]);
        assert_eq!(hooks_dir(&c, root, common), root.join(".githooks"));
        let c = cfg(&[("core.hookspath", Some("/abs/hooks"))]);
        assert_eq!(hooks_dir(&c, root, common), PathBuf::from("/abs/hooks"));
    }

    #[test]
    fn converted_paths_as_git_check_attr_sees_them() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let git = |args: &[&str]| {
            assert!(Command::new("git")
                .current_dir(d)
                .args(args)
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .stdout(Stdio::null())
                .status()
                .unwrap()
                .success());
        };
        git(&["init", "-q"]);
        let paths = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let all = paths(&["a/x.yaml", "a/y.json", "b/z.yaml", "c d/\u{e9}.yaml"]);
        assert_eq!(converted(d, &all).unwrap(), Vec::<String>::new());
        std::fs::create_dir_all(d.join("b")).unwrap();
        std::fs::write(d.join("b/.gitattributes"), "*.yaml filter=crypt\n").unwrap();
        std::fs::create_dir_all(d.join(".git/info")).unwrap();
        std::fs::write(d.join(".git/info/attributes"), "*.json eol=crlf\n").unwrap();
        assert_eq!(
            converted(d, &all).unwrap(),
            paths(&["a/y.json", "b/z.yaml"])
        );
        // Attributes that do not change what git stores do not count.
        std::fs::write(d.join(".git/info/attributes"), "*.json diff=json -merge\n").unwrap();
        assert_eq!(converted(d, &all).unwrap(), paths(&["b/z.yaml"]));
    }

    #[test]
    fn booleans_as_git_reads_them() {
        assert_eq!(truthy(&None), Some(true));
        assert_eq!(truthy(&Some("Yes".into())), Some(true));
        assert_eq!(truthy(&Some("off".into())), Some(false));
        assert_eq!(truthy(&Some("2".into())), Some(true));
        assert_eq!(truthy(&Some("input".into())), None);
    }
}
