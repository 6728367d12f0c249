//! The one error type that reaches the edge: a message a user can act on, optional `hint:` lines
//! and the exit code. Everything else is `anyhow` with context; `main` picks the exit code here.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

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

/// An error the user caused and can fix, rendered: printed as `error: {message}` followed by
/// `hint: ...` lines, and the exit code. Only [`Failure`] makes one, so every text is in this file.
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

/// Every failure a user can cause and fix, one variant each (as `just` does it): the one place where
/// their wording, hints and exit codes are written and reviewed. Call sites build a variant and
/// return it (`Err(Failure::DetachedHead.into())`); [`Failure::render`] gives the text.
///
/// Fields hold what the message names, already as text where the site formats it (an
/// `anyhow` chain as `{e:#}`, a path escaped for the terminal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    // ---- the command line and the environment
    /// A `PROMOTE_*` variable with a value its parser refuses.
    EnvInvalid {
        name: String,
        value: String,
        takes: String,
    },
    /// `PROMOTE_GIT` is neither `auto` nor `cli` (`unicode`: it was valid UTF-8).
    PromoteGitInvalid { value: String, unicode: bool },
    /// `PROMOTE_NOW` is not an RFC 3339 time.
    PromoteNowInvalid { value: String, error: String },
    /// `promote man --dir` with a command.
    ManDirTakesCommand { command: String },
    /// `promote man --dir` at something that is not a directory.
    ManDirNotDirectory { dir: PathBuf },
    /// `promote man` with a command that does not exist (`known`: the parent's commands).
    NoSuchCommand {
        parent: String,
        word: String,
        page: String,
        known: Vec<String>,
    },

    // ---- files of the config repository
    /// A file promote must read exists but cannot be read.
    CannotRead { file: String, error: String },
    /// A symbolic link where promote follows none.
    SymbolicLink { path: String, target: String },
    /// An environment's metadata file is not valid JSON of its shape.
    InvalidMetadata {
        file: String,
        line: usize,
        error: String,
    },
    /// `preview` with an empty branch name.
    EmptyBranch,
    /// `preview` with a branch name holding a control character.
    BranchControlCharacter { branch: String, character: char },

    // ---- git
    /// The repository is bare.
    BareRepository,
    /// `start` is not inside a git repository.
    NotARepository { start: PathBuf },
    /// git refuses to open the repository (its own words in `stderr`).
    GitCannotOpen { start: PathBuf, stderr: String },
    /// git has no `user.name`/`user.email` to commit with.
    NoIdentity,
    /// `index.lock` is still there after waiting; `holder` is the process that has it open.
    IndexLocked {
        lock: PathBuf,
        holder: Option<(u32, String)>,
        waited: Duration,
    },
    /// Another promote holds the clone's lock (`pid` as it wrote it, if it did).
    AnotherPromote { pid: String, waited: Duration },
    /// `--push` on a detached HEAD.
    DetachedHead,
    /// `--push` on a branch without an upstream.
    NoUpstream { branch: String },
    /// A revision that names no commit.
    NotACommit { rev: String },

    // ---- the change and its journal
    /// The journal cannot be parsed.
    JournalUnreadable { path: PathBuf, error: String },
    /// A repair is needed but a live process holds `index.lock`.
    RepairLockHeld {
        what: String,
        lock: PathBuf,
        holder: String,
    },
    /// A repair is needed but `index.lock` was made by another git process.
    RepairLockForeign { what: String, lock: PathBuf },
    /// A repair left paths out of line (`report`: its account of them).
    RepairIncomplete { report: String },
    /// The change failed; there was nothing to put back.
    ChangeFailed { error: String },
    /// The change failed and putting things back failed too.
    ChangeAndRepairFailed { error: String, repair: String },
    /// The change failed and putting things back is not complete (`not_undone`: renames left).
    ChangeRepairIncomplete {
        error: String,
        report: String,
        not_undone: Vec<String>,
    },
    /// The change failed before its commit and was rolled back (`written`: the files were; `disk_full`).
    ChangeRolledBack {
        written: bool,
        disk_full: bool,
        error: String,
    },
    /// The change was committed as `commit`, then something failed.
    ChangeCommittedThen { commit: String, error: String },
}

impl Failure {
    /// The rendered error: message, hints and exit code. The one place their text is written.
    pub fn render(self) -> UserError {
        use Failure::*;
        match self {
            // ---- the command line and the environment
            EnvInvalid { name, value, takes } => {
                UserError::new(format!("`{name}={value}` is not valid: it takes {takes}"))
                    .hint(format!("set it to such a value, or unset it (`unset {name}`)"))
                    .code(exit::USAGE)
            }
            PromoteGitInvalid { value, unicode } => {
                let e = UserError::new(format!("`PROMOTE_GIT` is `{value}`: expected `auto` or `cli`"));
                if unicode {
                    e.hint("`PROMOTE_GIT=cli` runs every git read and write through the `git` binary; unset it (or `auto`) for the default")
                } else {
                    e
                }
            }
            PromoteNowInvalid { value, error } => {
                UserError::new(format!("`PROMOTE_NOW={value}` is not an RFC 3339 time: {error}"))
            }
            ManDirTakesCommand { command } => UserError::new(format!(
                "`promote man --dir` writes every page; it takes no command (got `{command}`)"
            ))
            .hint("drop the command, or drop `--dir` to print that one page")
            .code(exit::USAGE),
            ManDirNotDirectory { dir } => UserError::new(format!(
                "`{}` is not a directory: `promote man --dir` writes a page per command into one",
                dir.display()
            ))
            .hint("name a directory (it is created if missing), or drop `--dir` to print the page"),
            NoSuchCommand { parent, word, page, known } => {
                UserError::new(format!("no command `{parent} {word}`"))
                    .hint(if known.is_empty() {
                        format!("`{parent}` has no commands: `promote man {page}` prints its page")
                    } else {
                        format!("`{parent}` has: {}", known.join(", "))
                    })
                    .code(exit::USAGE)
            }

            // ---- files of the config repository
            CannotRead { file, error } => UserError::new(format!("cannot read `{file}`: {error}")),
            SymbolicLink { path, target } => UserError::new(format!(
                "`{path}` is a symbolic link (to `{target}`): promote follows no symbolic links in templates, environments or previews"
            ))
            .hint("replace the link with a copy of the file (or `{% include %}` a partial from `templates/`)"),
            InvalidMetadata { file, line, error } => {
                UserError::new(format!("`{file}` (line {line}): invalid metadata: {error}"))
                    .hint(format!("fix the file by hand, or restore it with `git checkout -- {file}`"))
            }
            EmptyBranch => UserError::new("the branch name is empty")
                .hint("pass the pull request's branch, e.g. `promote preview up feature/login --sha <sha>`"),
            BranchControlCharacter { branch, character } => UserError::new(format!(
                "the branch name {branch:?} contains a control character ({character:?})"
            ))
            .hint("branch names are one line of printable characters"),

            // ---- git
            BareRepository => UserError::new("the repository is bare; promote needs a checkout"),
            NotARepository { start } => {
                UserError::new(format!("`{}` is not inside a git repository", start.display()))
                    .hint("run promote inside your config repository, or pass `-C DIR`")
            }
            GitCannotOpen { start, stderr } => UserError::new(format!(
                "git cannot open the repository at `{}`:\n  {}",
                start.display(),
                stderr.replace('\n', "\n  ")
            ))
            .hint("the message above is git's own; `git status` in that directory shows the same"),
            NoIdentity => UserError::new("git has no identity to commit with")
                .hint("set one: `git config user.name \"Your Name\"` and `git config user.email you@example.com`"),
            IndexLocked { lock, holder, waited } => {
                let who = match &holder {
                    Some((pid, cmd)) => format!("process {pid} (`{cmd}`) holds it"),
                    None => "no process has it open".to_string(),
                };
                let e = UserError::new(format!(
                    "the git index is locked: `{}` exists; {who}; waited {:.1} s",
                    lock.display(),
                    waited.as_secs_f64()
                ));
                match holder {
                    Some(_) => e.hint("let that git command finish and run again, or wait longer with `PROMOTE_LOCK_WAIT=<seconds>`"),
                    None => e.hint(format!(
                        "if no git command is running in this repository, a crashed one left it: remove `{}` and run again",
                        lock.display()
                    )),
                }
            }
            AnotherPromote { pid, waited } => {
                let who = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
                UserError::new(format!(
                    "another promote is running in this clone{who}; waited {} s for it",
                    waited.as_secs()
                ))
                .hint("let it finish and run again; the lock is released when that process exits")
            }
            DetachedHead => UserError::new("HEAD is detached: `--push` needs a branch with an upstream"),
            NoUpstream { branch } => UserError::new(format!("branch `{branch}` has no upstream to push to"))
                .hint(format!("set one: `git push -u origin {branch}` (or `git branch --set-upstream-to origin/{branch}`)")),
            NotACommit { rev } => UserError::new(format!("`{rev}` does not name a commit"))
                .hint("fetch it first (`git fetch origin`), or give a branch, tag or commit id"),

            // ---- the change and its journal
            JournalUnreadable { path, error } => UserError::new(format!(
                "`{}` is not a journal this promote can read: {error}",
                path.display()
            ))
            .hint("it records a change a killed run left unfinished; check `git status`, put things right by hand, then delete the file"),
            RepairLockHeld { what, lock, holder } => UserError::new(format!(
                "an interrupted change ({what}) needs repair, but `{}` is held by a running process ({holder})",
                lock.display()
            ))
            .hint("let that process finish, then run `promote recover`"),
            RepairLockForeign { what, lock } => UserError::new(format!(
                "an interrupted change ({what}) needs repair, but `{}` was not made by it: another git process made it",
                lock.display()
            ))
            .hint(format!(
                "if no git process is running in this clone, remove it (`rm {}`), then run `promote recover`",
                lock.display()
            )),
            RepairIncomplete { report } => UserError::new(format!(
                "{report}\nthe change is still recorded in `.git/promote/journal`"
            ))
            .hint("fix what is named above (free disk space, finish the other git process), then run `promote recover`"),
            ChangeFailed { error } => UserError::new(format!("the change failed: {error}"))
                .hint("run `promote recover`"),
            ChangeAndRepairFailed { error, repair } => UserError::new(format!(
                "the change failed, and putting things back failed too\n{error}\nwhile putting things back: {repair}"
            ))
            .hint("the change is recorded in `.git/promote/journal`; once the cause is fixed, `promote recover` puts things right"),
            ChangeRepairIncomplete { error, report, not_undone } => {
                let mut msg = format!(
                    "the change failed: {error}\nputting things back is not complete:\n{report}"
                );
                for p in not_undone {
                    msg.push_str(&format!("\n  could not rename back {p}"));
                }
                UserError::new(msg)
                    .hint("free disk space (or fix what is named above), then run `promote recover`: the change is recorded in `.git/promote/journal`")
            }
            ChangeRolledBack { written, disk_full, error } => UserError::new(format!(
                "{} failed; the working tree and index are as they were\n{error}",
                if written { "the commit" } else { "writing the files" }
            ))
            .hint(if disk_full {
                "free disk space and run again"
            } else {
                "fix what git complains about (a hook, `git config user.email`, signing) and run again"
            }),
            ChangeCommittedThen { commit, error } => UserError::new(format!(
                "the change was committed as {}, then: {error}\nthe working tree and index are in line with that commit (verified)",
                &commit[..7.min(commit.len())]
            )),
        }
    }
}

impl From<Failure> for UserError {
    fn from(f: Failure) -> Self {
        f.render()
    }
}

impl From<Failure> for anyhow::Error {
    fn from(f: Failure) -> Self {
        anyhow::Error::new(f.render())
    }
}

/// `bail!` for user errors: `fail!(Failure::DetachedHead)`.
#[macro_export]
macro_rules! fail {
    ($failure:expr) => {
        return Err(($failure).into())
    };
}

/// A command's result when it did not fail: the exit code to use (0, or 3 for pending changes).
pub type Outcome = anyhow::Result<i32>;
