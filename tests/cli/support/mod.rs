//! Test harness: hermetic git repositories and the real binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

mod case;
mod snap;
pub use case::{pod, Case, State};
pub use snap::exact;

/// The pinned clock for the tool (see `audit::now`).
pub const NOW: &str = "2026-11-23T10:00:00Z";

/// A work tree in a temp dir, with a bare `origin.git` beside it.
pub struct Repo {
    _tmp: tempfile::TempDir,
    /// The temp dir (holds `work/`, `origin.git/`, and `home/`).
    pub base: PathBuf,
    /// The work tree.
    pub path: PathBuf,
}

/// What a run of `promote` did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    pub fn ok(self) -> Run {
        self.expect(0)
    }
}

/// Environment for every child process: no user or system git config, a temp HOME, pinned identity
/// and dates, no color.
pub fn hermetic(cmd: &mut Command, base: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", base.join("home"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Jane Doe")
        .env("GIT_AUTHOR_EMAIL", "jane@example.com")
        .env("GIT_COMMITTER_NAME", "Jane Doe")
        .env("GIT_COMMITTER_EMAIL", "jane@example.com")
        .env("GIT_AUTHOR_DATE", "2026-11-23T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-11-23T10:00:00Z")
        .env("PROMOTE_NOW", NOW)
        .env("NO_COLOR", "1")
        .env("LC_ALL", "C");
    // CI runs the suite twice: as is, and with every git read and write through the `git` binary
    // (except in the tests of the in-process path itself).
    if IN_PROCESS.with(|c| c.get()) {
        cmd.env("PROMOTE_GIT", "auto");
    } else if let Some(mode) = std::env::var_os("PROMOTE_GIT") {
        cmd.env("PROMOTE_GIT", mode);
    }
}

thread_local! {
    static IN_PROCESS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// For a test of the in-process path itself (its packs, its use of git's index): this test's runs
/// take the default backend even in the suite's `PROMOTE_GIT=cli` run.
pub fn in_process_path_only() {
    IN_PROCESS.with(|c| c.set(true));
}

/// The repository root of this crate (for the bundled example and the corpus).
pub fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real-world corpus vendored under `tests/fixtures/corpus` (sources and licences in its SOURCES.md).
pub fn corpus_dir() -> PathBuf {
    crate_dir().join("tests/fixtures/corpus")
}

impl Repo {
    /// An empty repository on branch `main` with one empty commit, and a bare origin it tracks.
    pub fn new() -> Repo {
        let tmp = tempfile::tempdir().expect("temp dir");
        let base = tmp.path().canonicalize().expect("canonical temp dir");
        let path = base.join("work");
        std::fs::create_dir_all(&path).unwrap();
        std::fs::create_dir_all(base.join("home")).unwrap();
        let repo = Repo {
            _tmp: tmp,
            base,
            path,
        };
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["init", "-q", "--bare", "-b", "main", "../origin.git"]);
        repo.git(&["remote", "add", "origin", "../origin.git"]);
        repo.git(&["commit", "-q", "--allow-empty", "-m", "empty"]);
        repo.git(&["push", "-q", "-u", "origin", "main"]);
        repo
    }

    /// A repository holding a copy of the bundled example (promote.yaml, templates/, environments/),
    /// committed and pushed.
    pub fn example() -> Repo {
        let repo = Repo::new();
        for entry in ["promote.yaml", "templates", "environments"] {
            copy_tree(&crate_dir().join(entry), &repo.path.join(entry));
        }
        repo.commit_all("the bundled example");
        repo.git(&["push", "-q"]);
        repo
    }

    pub fn file(&self, rel: &str) -> PathBuf {
        self.path.join(rel)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.file(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn read_bytes(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.file(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn exists(&self, rel: &str) -> bool {
        self.file(rel).exists()
    }

    pub fn commit_all(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// Runs git in the work tree; panics on failure.
    pub fn git(&self, args: &[&str]) -> String {
        let r = self.git_run(args);
        assert_eq!(r.code, 0, "git {args:?}\n{}\n{}", r.stdout, r.stderr);
        r.stdout
    }

    /// Runs git in the work tree and returns what happened.
    pub fn git_run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("git");
        cmd.current_dir(&self.path).args(args);
        hermetic(&mut cmd, &self.base);
        run(cmd)
    }

    /// `git status --porcelain`: empty when the tree is clean.
    pub fn status(&self) -> String {
        self.git(&["status", "--porcelain", "--untracked-files=all"])
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    /// Runs the real `promote` binary in the work tree.
    pub fn promote(&self, args: &[&str]) -> Run {
        self.promote_env(args, &[])
    }

    /// Runs `promote` with extra environment variables.
    pub fn promote_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_promote"));
        cmd.current_dir(&self.path).args(args);
        hermetic(&mut cmd, &self.base);
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }
}

impl Repo {
    /// `program` in `dir` with the hermetic environment (a second clone, a tool that calls promote).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(dir);
        hermetic(&mut cmd, &self.base);
        cmd
    }

    /// Runs `promote` in the work tree with `stdin` as its input and extra environment variables.
    pub fn promote_stdin(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Run {
        use std::io::Write;
        use std::process::Stdio;
        let mut cmd = self.command(env!("CARGO_BIN_EXE_promote"), &self.path);
        cmd.args(args).envs(env.iter().copied());
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        let out = child.wait_with_output().expect("wait");
        Run::of(out)
    }

    /// Runs `program` in the work tree with the hermetic environment, the directory of the `promote`
    /// under test first on PATH, `unset` removed and `env` on top (scripts that call `promote` by name).
    pub fn run_with_promote_on_path(
        &self,
        program: &str,
        args: &[&str],
        unset: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        let bin = Path::new(env!("CARGO_BIN_EXE_promote")).parent().unwrap();
        let mut path = std::ffi::OsString::from(bin);
        path.push(":");
        path.push(std::env::var_os("PATH").unwrap_or_default());
        let mut cmd = Command::new(program);
        cmd.current_dir(&self.path).args(args);
        hermetic(&mut cmd, &self.base);
        cmd.env("PATH", path);
        for k in unset {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    }
}

fn run(mut cmd: Command) -> Run {
    Run::of(cmd.output().expect("spawn"))
}

impl Run {
    /// What a finished child did.
    pub fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).to_string(),
        }
    }
}

/// Writes an executable script (a hook, a stand-in tool), making its directory.
pub fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_file() {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
        return;
    }
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        copy_tree(&entry.path(), &to.join(entry.file_name()));
    }
}

/// Replaces the parts of output that vary between runs (commit ids, temp paths) with stable names.
pub fn redact(repo: &Repo, s: &str) -> String {
    let text = s.replace(repo.base.to_string_lossy().as_ref(), "[TMP]");
    // 40-hex commit ids: keep snapshots independent of commit hashes.
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            .count();
        if run == 40 && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            out.push_str("[COMMIT]");
            i += 40;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}
