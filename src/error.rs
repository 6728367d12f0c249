//! The one error type that reaches the edge: a message a user can act on, optional `hint:` lines
//! and the exit code. Everything else is `anyhow` with context; `main` picks the exit code here.
//!
//! Every failure a user can cause is a [`Failure`] variant, and [`Failure::render`] is the one
//! place its words, hints and exit code are written: review the voice here, not across the code.
//! A site builds the variant with the values it names (`Failure::NoUpstream { branch }.into()`);
//! [`UserError`] is the rendered form that `ui::report` prints, and only this file makes one.
//! What stays free text elsewhere: the config's value checks (one [`Failure::ConfigInvalid`] with
//! the problem their validation names), the per-file problem lists of `render`, `check`, `init`
//! and `migrate` ([`Failure::Problems`]), and `anyhow` context on failures that are not the
//! user's (a git command that broke, a write the OS refused).

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// `model::config::CONFIG_FILE`, named here so that this file depends on nothing of the crate.
const CONFIG_FILE: &str = "promote.yaml";

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
    fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hints: Vec::new(),
            code: exit::FAILURE,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    fn code(mut self, code: i32) -> Self {
        self.code = code;
        self
    }
}

impl UserError {
    /// The hint added when a hosting CLI failed after the branch was pushed: the pull request
    /// (`word`: GitLab's "merge request") can still be opened at `url`.
    pub fn open_by_hand(self, branch: &str, word: &str, url: &str) -> Self {
        self.hint(format!(
            "`{branch}` is pushed: open its {word} by hand: {url}"
        ))
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
    /// The repository's object format is one promote does not know.
    UnknownObjectFormat { start: PathBuf, format: String },
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

    // ---- the config
    /// No `promote.yaml` at the repository's root.
    NoConfig { root: PathBuf },
    /// `promote.yaml` does not parse (`at`: ` (line L, column C)` or empty).
    ConfigSyntax { at: String, error: String },
    /// `promote.yaml` parses but a value is wrong (`at`: ` (line L)` or empty; `problem` says which).
    ConfigInvalid { at: String, problem: String },
    /// An environment name the config does not declare (`suggestion`: a " (did you mean ...)" or empty).
    UnknownEnvironment {
        name: String,
        suggestion: String,
        known: Vec<String>,
    },
    /// A service name the config does not declare.
    UnknownService {
        name: String,
        suggestion: String,
        known: Vec<String>,
    },

    // ---- what a command is given
    /// `-C` names a file.
    DirIsFile { dir: String },
    /// `-C` names nothing.
    NoSuchDir { dir: String },
    /// `-C` names a directory that cannot be opened.
    CannotOpen { dir: String, error: String },
    /// `promote hold` without `-m`.
    HoldNeedsReason { env: String },
    /// `set-image` with neither `--sha` nor `SERVICE=VERSION`.
    NoVersionsGiven { env: String },
    /// `--sha` that is not a git SHA.
    ShaInvalid { sha: String, error: String },
    /// `preview up --sha` that is not a git SHA.
    PreviewShaInvalid { error: String },
    /// A `SERVICE=VERSION` without `=`.
    NotServiceVersion { pair: String },
    /// The same service twice on one command line.
    ServiceGivenTwice {
        service: String,
        first: String,
        second: String,
    },
    /// A `SERVICE=VERSION` whose version does not parse.
    VersionInvalid { pair: String, error: String },
    /// `--older-than` that is not a duration.
    OlderThanInvalid { error: String },
    /// `--older-than` that is zero or negative.
    OlderThanNotPositive { value: String },
    /// `preview gc` with nothing that says what to keep.
    GcNeedsCriteria,
    /// `--keep-file` that cannot be read.
    KeepFileUnreadable { file: String, error: String },
    /// `--keep-file` (`-`: stdin) that names no branch.
    KeepFileEmpty { file: String },
    /// `report --since` that is not a duration.
    SinceInvalid { error: String },
    /// `report --html` cannot create its directory.
    HtmlDirUncreatable { dir: PathBuf, error: String },
    /// `report --html` cannot write the page.
    HtmlUnwritable { path: PathBuf, error: String },

    // ---- the repository's state
    /// HEAD is detached where promote commits.
    DetachedHeadCommit { head: String },
    /// The repository has no commits; `why` says what needs one.
    NoCommits { why: String },
    /// An environment has uncommitted changes where promote writes.
    EnvDirty { env: String, dirty: Vec<String> },
    /// `render` would overwrite uncommitted changes.
    RenderDirty { dirty: Vec<String> },
    /// `init` would rewrite files with uncommitted changes.
    InitDirty { dirty: Vec<String> },
    /// `migrate` reads or writes files with uncommitted changes.
    MigrateDirty { dirty: Vec<String> },
    /// The previews have uncommitted changes.
    PreviewsDirty { dirty: Vec<String> },
    /// An environment's manifests differ from what its templates render now.
    Drift { env: String, files: Vec<String> },
    /// A list of problems, one a line, with their hints (`blocked`: what they stop).
    Problems {
        blocked: Blocked,
        problems: Vec<String>,
        hints: Vec<String>,
    },

    // ---- a change's preconditions
    /// `--push` would publish local commits too.
    UnpushedCommits { upstream: String },
    /// `--push` kept losing the race.
    PushGaveUp {
        tries: u32,
        upstream: String,
        commit: String,
        rejection: String,
    },
    /// The gates refuse the change (`refusals`: one a line).
    GatesRefuse { env: String, refusals: Vec<String> },
    /// The audit trail the change builds on does not verify (`problems`: indented lines).
    AuditDoesNotVerify {
        env: String,
        problems: Vec<String>,
        deploy_log: String,
    },
    /// `log --verify` found problems (one a line).
    AuditProblems { problems: Vec<String> },
    /// A rollback would remove services (`what` says which and the manifests it deletes).
    RemovesServices {
        action: String,
        what: String,
        env: String,
    },
    /// A promotion into the start of the pipeline.
    PipelineStart { env: String },
    /// A promotion from an environment the target does not take from.
    WrongSource {
        env: String,
        allowed: String,
        from: String,
    },
    /// A promotion from an environment that runs nothing yet (`hint`: how to give it versions).
    SourceEmpty { source: String, hint: String },
    /// A promotion of a service the source does not run.
    SourceLacksService {
        source: String,
        service: String,
        hint: String,
    },
    /// A command gate that cannot be started.
    GateCommandFailed {
        env: String,
        command: String,
        error: String,
    },
    /// A rollback where the log has no change.
    NothingToRollBack { env: String },
    /// `--to` names no record.
    NoSuchRecord { env: String, id: String },
    /// `--to` names several records.
    AmbiguousRecord { id: String },
    /// A record whose `before` version does not parse.
    RecordVersionInvalid { id: String, error: String },

    // ---- init and migrate
    /// `init` where `promote.yaml` exists.
    AlreadyInitialized,
    /// `init` without a sed layout where a directory of the example exists.
    ExampleDirExists { dir: String },
    /// `init` without a sed layout where a file of the example exists.
    ExampleFileExists { path: String },
    /// `migrate` on the native layout.
    AlreadyNative,
    /// `migrate` with previews configured.
    MigratePreviews,
    /// `migrate` of an environment that renders elsewhere.
    MigrateNotOwnDir {
        env: String,
        manifests: String,
        dir: String,
    },
    /// `migrate` where the native layout's files exist.
    NativeLayoutInTheWay { dir: String, file: String },
    /// `migrate` would move a file onto one the native layout writes.
    MigrateMoveCollision { old: String, new: String },
    /// `migrate` cannot rewrite `promote.yaml` itself.
    MigrateConfigRewrite,

    // ---- previews
    /// No `previews:` in the config.
    PreviewsNotConfigured,
    /// Legacy previews that share the environments' templates.
    LegacyPreviewsNeedTemplates,
    /// A path outside the previews directory.
    OutsidePreviews { rel: String, dir: String },
    /// A symbolic link on the way to a preview's path.
    PreviewSymlink { rel: String, link: String },
    /// A directory that is not a preview where a branch's preview goes.
    PreviewInTheWay {
        dir: String,
        branch: String,
        why: String,
        previews: String,
    },
    /// Every preview name a branch could take is taken.
    NoFreePreviewName { branch: String, taken: Vec<String> },
    /// A preview's audit trail does not verify.
    PreviewAuditBroken {
        namespace: String,
        broken: Vec<String>,
        log: String,
        branch: String,
    },

    // ---- pull requests
    /// A direct change into an `approval: pr` environment.
    PrRequired { env: String, command: String },
    /// `--pr` where HEAD tracks no branch.
    PrNoUpstream,
    /// promote's branch moved while it was rebuilt.
    PrBranchMoved {
        branch: String,
        remote: String,
        command: String,
    },
    /// A hosting CLI (`gh`, `glab`) failed.
    HostingCliFailed {
        program: String,
        args: String,
        stderr: String,
    },
    /// A `promote/...` branch the remote does not have.
    NoSuchRemoteBranch { branch: String, remote: String },
    /// A branch whose commit has no request trailer.
    NotMadeByPromote { branch: String, trailer: String },
    /// `pr verify`: changes that are not valid promotions on the base.
    InvalidPromotions { base: String, problems: Vec<String> },
}

impl Failure {
    /// The rendered error: message, hints and exit code. The one place their text is written.
    // long: one arm per variant, a table to read down rather than a procedure; split, it would
    // scatter again the texts this file exists to gather.
    pub fn render(self) -> UserError {
        match self {
            // ---- the command line and the environment
            Self::EnvInvalid { name, value, takes } => {
                UserError::new(format!("`{name}={value}` is not valid: it takes {takes}"))
                    .hint(format!("set it to such a value, or unset it (`unset {name}`)"))
                    .code(exit::USAGE)
            }
            Self::PromoteGitInvalid { value, unicode } => {
                let e = UserError::new(format!("`PROMOTE_GIT` is `{value}`: expected `auto` or `cli`"));
                if unicode {
                    e.hint("`PROMOTE_GIT=cli` runs every git read and write through the `git` binary; unset it (or `auto`) for the default")
                } else {
                    e
                }
            }
            Self::PromoteNowInvalid { value, error } => {
                UserError::new(format!("`PROMOTE_NOW={value}` is not an RFC 3339 time: {error}"))
            }
            Self::ManDirTakesCommand { command } => UserError::new(format!(
                "`promote man --dir` writes every page; it takes no command (got `{command}`)"
            ))
            .hint("drop the command, or drop `--dir` to print that one page")
            .code(exit::USAGE),
            Self::ManDirNotDirectory { dir } => UserError::new(format!(
                "`{}` is not a directory: `promote man --dir` writes a page per command into one",
                dir.display()
            ))
            .hint("name a directory (it is created if missing), or drop `--dir` to print the page"),
            Self::NoSuchCommand { parent, word, page, known } => {
                UserError::new(format!("no command `{parent} {word}`"))
                    .hint(if known.is_empty() {
                        format!("`{parent}` has no commands: `promote man {page}` prints its page")
                    } else {
                        format!("`{parent}` has: {}", known.join(", "))
                    })
                    .code(exit::USAGE)
            }

            // ---- files of the config repository
            Self::CannotRead { file, error } => UserError::new(format!("cannot read `{file}`: {error}")),
            Self::SymbolicLink { path, target } => UserError::new(format!(
                "`{path}` is a symbolic link (to `{target}`): promote follows no symbolic links in templates, environments or previews"
            ))
            .hint("replace the link with a copy of the file (or `{% include %}` a partial from `templates/`)"),
            Self::InvalidMetadata { file, line, error } => {
                UserError::new(format!("`{file}` (line {line}): invalid metadata: {error}"))
                    .hint(format!("fix the file by hand, or restore it with `git checkout -- {file}`"))
            }
            Self::EmptyBranch => UserError::new("the branch name is empty")
                .hint("pass the pull request's branch, e.g. `promote preview up feature/login --sha <sha>`"),
            Self::BranchControlCharacter { branch, character } => UserError::new(format!(
                "the branch name {branch:?} contains a control character ({character:?})"
            ))
            .hint("branch names are one line of printable characters"),

            // ---- git
            Self::BareRepository => UserError::new("the repository is bare; promote needs a checkout"),
            Self::NotARepository { start } => {
                UserError::new(format!("`{}` is not inside a git repository", start.display()))
                    .hint("run promote inside your config repository, or pass `-C DIR`")
            }
            Self::GitCannotOpen { start, stderr } => UserError::new(format!(
                "git cannot open the repository at `{}`:\n  {}",
                start.display(),
                stderr.replace('\n', "\n  ")
            ))
            .hint("the message above is git's own; `git status` in that directory shows the same"),
            Self::UnknownObjectFormat { start, format } => UserError::new(format!(
                "the repository at `{}` uses the object format `{format}`, which promote does not know",
                start.display()
            ))
            .hint("promote knows `sha1` and `sha256`"),
            Self::NoIdentity => UserError::new("git has no identity to commit with")
                .hint("set one: `git config user.name \"Your Name\"` and `git config user.email you@example.com`"),
            Self::IndexLocked { lock, holder, waited } => {
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
            Self::AnotherPromote { pid, waited } => {
                let who = if pid.is_empty() { String::new() } else { format!(" (pid {pid})") };
                UserError::new(format!(
                    "another promote is running in this clone{who}; waited {} s for it",
                    waited.as_secs()
                ))
                .hint("let it finish and run again; the lock is released when that process exits")
            }
            Self::DetachedHead => UserError::new("HEAD is detached: `--push` needs a branch with an upstream"),
            Self::NoUpstream { branch } => UserError::new(format!("branch `{branch}` has no upstream to push to"))
                .hint(format!("set one: `git push -u origin {branch}` (or `git branch --set-upstream-to origin/{branch}`)")),
            Self::NotACommit { rev } => UserError::new(format!("`{rev}` does not name a commit"))
                .hint("fetch it first (`git fetch origin`), or give a branch, tag or commit id"),

            // ---- the change and its journal
            Self::JournalUnreadable { path, error } => UserError::new(format!(
                "`{}` is not a journal this promote can read: {error}",
                path.display()
            ))
            .hint("it records a change a killed run left unfinished; check `git status`, put things right by hand, then delete the file"),
            Self::RepairLockHeld { what, lock, holder } => UserError::new(format!(
                "an interrupted change ({what}) needs repair, but `{}` is held by a running process ({holder})",
                lock.display()
            ))
            .hint("let that process finish, then run `promote recover`"),
            Self::RepairLockForeign { what, lock } => UserError::new(format!(
                "an interrupted change ({what}) needs repair, but `{}` was not made by it: another git process made it",
                lock.display()
            ))
            .hint(format!(
                "if no git process is running in this clone, remove it (`rm {}`), then run `promote recover`",
                lock.display()
            )),
            Self::RepairIncomplete { report } => UserError::new(format!(
                "{report}\nthe change is still recorded in `.git/promote/journal`"
            ))
            .hint("fix what is named above (free disk space, finish the other git process), then run `promote recover`"),
            Self::ChangeFailed { error } => UserError::new(format!("the change failed: {error}"))
                .hint("run `promote recover`"),
            Self::ChangeAndRepairFailed { error, repair } => UserError::new(format!(
                "the change failed, and putting things back failed too\n{error}\nwhile putting things back: {repair}"
            ))
            .hint("the change is recorded in `.git/promote/journal`; once the cause is fixed, `promote recover` puts things right"),
            Self::ChangeRepairIncomplete { error, report, not_undone } => {
                let mut msg = format!(
                    "the change failed: {error}\nputting things back is not complete:\n{report}"
                );
                for p in not_undone {
                    msg.push_str(&format!("\n  could not rename back {p}"));
                }
                UserError::new(msg)
                    .hint("free disk space (or fix what is named above), then run `promote recover`: the change is recorded in `.git/promote/journal`")
            }
            Self::ChangeRolledBack { written, disk_full, error } => UserError::new(format!(
                "{} failed; the working tree and index are as they were\n{error}",
                if written { "the commit" } else { "writing the files" }
            ))
            .hint(if disk_full {
                "free disk space and run again"
            } else {
                "fix what git complains about (a hook, `git config user.email`, signing) and run again"
            }),
            Self::ChangeCommittedThen { commit, error } => UserError::new(format!(
                "the change was committed as {}, then: {error}\nthe working tree and index are in line with that commit (verified)",
                &commit[..7.min(commit.len())]
            )),

            // ---- the config
            Self::NoConfig { root } => UserError::new(format!(
                "no `{CONFIG_FILE}` at the root of the repository `{}`",
                root.display()
            ))
            .hint("run promote inside a config repository, or pass `-C DIR`")
            .hint("see the README's config reference to write one"),
            Self::ConfigSyntax { at, error } => UserError::new(format!("`{CONFIG_FILE}`{at}: {error}"))
                .hint("see the README's config reference for the allowed keys"),
            Self::ConfigInvalid { at, problem } => UserError::new(format!("`{CONFIG_FILE}`{at}: {problem}")),
            Self::UnknownEnvironment { name, suggestion, known } => {
                UserError::new(format!("unknown environment `{name}`{suggestion}"))
                    .hint(format!("environments in `{CONFIG_FILE}`: {}", known.join(", ")))
            }
            Self::UnknownService { name, suggestion, known } => {
                UserError::new(format!("unknown service `{name}`{suggestion}"))
                    .hint(format!("services in `{CONFIG_FILE}`: {}", known.join(", ")))
            }

            // ---- what a command is given
            Self::DirIsFile { dir } => UserError::new(format!("`{dir}` is a file, not a directory"))
                .hint("`-C` takes the config repository's directory (or one inside it)"),
            Self::NoSuchDir { dir } => UserError::new(format!("`{dir}`: no such directory"))
                .hint("`-C` takes the config repository's directory (or one inside it); check the path"),
            Self::CannotOpen { dir, error } => UserError::new(format!("cannot open `{dir}`: {error}")),
            Self::HoldNeedsReason { env } => UserError::new(format!("`promote hold {env}` needs a reason"))
                .hint(format!(
                    "say why, for whoever it stops: `promote hold {env} -m \"incident 42\"` (`--reason` is the same)"
                ))
                .code(exit::USAGE),
            Self::NoVersionsGiven { env } => UserError::new("no versions given").hint(format!(
                "`promote set-image {env} --sha <sha>` sets every service; `promote set-image {env} api=<sha>` sets one"
            )),
            Self::ShaInvalid { sha, error } => UserError::new(format!("`--sha {sha}`: {error}")),
            Self::PreviewShaInvalid { error } => UserError::new(format!("--sha: {error}")),
            Self::NotServiceVersion { pair } => UserError::new(format!("`{pair}` is not `SERVICE=VERSION`"))
                .hint("write it as e.g. `api=a252dcc`"),
            Self::ServiceGivenTwice { service, first, second } => {
                UserError::new(format!("`{service}` is given twice: `{first}` and `{second}`"))
                    .hint(format!("give each service one version: keep `{first}` or `{second}`"))
                    .code(exit::USAGE)
            }
            Self::VersionInvalid { pair, error } => UserError::new(format!("`{pair}`: {error}")),
            Self::OlderThanInvalid { error } => UserError::new(format!("--older-than: {error}")),
            Self::OlderThanNotPositive { value } => {
                UserError::new(format!("--older-than: `{value}` is not a positive duration"))
            }
            Self::GcNeedsCriteria => UserError::new("`preview gc` needs `--older-than`, `--keep` or `--keep-file`")
                .hint("e.g. `git ls-remote --heads origin | promote preview gc --keep-file - --older-than 14d`")
                .code(exit::USAGE),
            Self::KeepFileUnreadable { file, error } => {
                UserError::new(format!("--keep-file: cannot read `{file}`: {error}"))
            }
            Self::KeepFileEmpty { file } => {
                let what = if file == "-" { "stdin".to_string() } else { format!("`{file}`") };
                UserError::new(format!(
                    "--keep-file: {what} names no branch: every preview would be removed"
                ))
                .hint("check the command that lists the branches (e.g. `git ls-remote --heads origin`); nothing was changed")
            }
            Self::SinceInvalid { error } => UserError::new(format!("--since: {error}"))
                .hint("e.g. `--since 30d`, `--since 2w`, `--since 36h`"),
            Self::HtmlDirUncreatable { dir, error } => UserError::new(format!(
                "--html: cannot create the directory `{}`: {error}",
                dir.display()
            )),
            Self::HtmlUnwritable { path, error } => {
                UserError::new(format!("--html: cannot write `{}`: {error}", path.display()))
            }

            // ---- the repository's state
            Self::DetachedHeadCommit { head } => UserError::new(format!(
                "HEAD is detached (at {}): a commit here would be on no branch, and easily lost",
                &head[..head.len().min(7)]
            ))
            .hint("switch to the branch to commit on (`git switch main`), or make one here (`git switch -c <branch>`)"),
            Self::NoCommits { why } => UserError::new(format!("the repository has no commits yet: {why}"))
                .hint("commit the config repository first: `git add -A && git commit -m \"config repository\"`"),
            Self::EnvDirty { env, dirty } => UserError::new(format!(
                "`{env}` has uncommitted changes:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit or stash them first: promote commits only its own change"),
            Self::RenderDirty { dirty } => UserError::new(format!(
                "these files have uncommitted changes that rendering would overwrite:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit them, or discard them with `git checkout -- <file>`, then render again"),
            Self::InitDirty { dirty } => UserError::new(format!(
                "these files have uncommitted changes, and `promote init` would rewrite them:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit them first, so that their old content stays in git history"),
            Self::MigrateDirty { dirty } => UserError::new(format!(
                "these files have uncommitted changes:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit or stash them first: the migration is one commit of its own"),
            Self::PreviewsDirty { dirty } => UserError::new(format!(
                "the previews have uncommitted changes:\n  {}",
                dirty.join("\n  ")
            ))
            .hint("commit or stash them first: promote commits only its own change"),
            Self::Drift { env, files } => UserError::new(format!(
                "environment `{env}` has manifests that differ from what its templates render now:\n{}",
                files.iter().map(|f| format!("  {f}")).collect::<Vec<_>>().join("\n")
            ))
            .hint(format!(
                "run `promote render {env}` and commit the result first (or `promote check` to see the differences)"
            ))
            .hint("a promotion only changes versions, so it will not mix in other changes"),
            Self::Problems { blocked, problems, hints } => {
                let mut e = UserError::new(
                    std::iter::once(blocked.title())
                        .chain(problems)
                        .collect::<Vec<_>>()
                        .join("\n  "),
                );
                for h in hints {
                    e = e.hint(h);
                }
                e
            }

            // ---- a change's preconditions
            Self::UnpushedCommits { upstream } => UserError::new(format!(
                "your branch has commits that `{upstream}` does not have: `--push` would publish them too"
            ))
            .hint("push or drop them first (`git log @{upstream}..`), then run again"),
            Self::PushGaveUp { tries, upstream, commit, rejection } => UserError::new(format!(
                "gave up after {tries} attempts: `{upstream}` kept moving while pushing.\nthe change is committed locally as {} but not pushed\nlast rejection: {rejection}",
                &commit[..7.min(commit.len())]
            ))
            .hint("run the same command again, or push by hand with `git pull --rebase && git push`"),
            Self::GatesRefuse { env, refusals } => {
                UserError::new(format!("`{env}` refuses this change:\n{}", refusals.join("\n")))
                    .hint("wait until it passes, or let a person through: `--override-gates --reason \"...\"` (recorded in the audit log)")
            }
            Self::AuditDoesNotVerify { env, problems, deploy_log } => UserError::new(format!(
                "refusing to change `{env}`: the audit trail it builds on does not verify:\n{}",
                problems.join("\n")
            ))
            .hint(format!(
                "restore what was removed or edited: `git log -p -- {deploy_log}` shows it; `promote log --verify` checks every log against its history"
            ))
            .hint("for a deliberate repair, run again with `--repair-audit -m \"<why>\"` (recorded in the new record)"),
            Self::AuditProblems { problems } => UserError::new(problems.join("\n"))
                .hint("`git log -p -- <file>` shows who changed it; `git show <commit>` what the commit did"),
            Self::RemovesServices { action, what, env } => UserError::new(format!("refusing: this {action} {what}"))
                .hint("with ArgoCD pruning, that takes the services down; to do it anyway, add `--allow-remove`")
                .hint(format!(
                    "to return to an earlier version instead, pick a record with `promote log {env}` and run `promote rollback {env} --to <id>`"
                )),
            Self::PipelineStart { env } => UserError::new(format!(
                "`{env}` is the start of the pipeline: it takes no promotions"
            ))
            .hint(format!("set its versions directly: `promote set-image {env} --sha <sha>`")),
            Self::WrongSource { env, allowed, from } => UserError::new(format!(
                "`{env}` takes versions only from `{allowed}`, not from `{from}`"
            ))
            .hint(format!("promote `{allowed}` first, then run `promote to {env}`"))
            .hint("environments cannot be skipped: the pipeline is declared in `promote.yaml`"),
            Self::SourceEmpty { source, hint } => UserError::new(format!(
                "`{source}` runs no versions yet: there is nothing to promote from it"
            ))
            .hint(hint),
            Self::SourceLacksService { source, service, hint } => UserError::new(format!(
                "`{source}` does not run `{service}`: there is no version to promote"
            ))
            .hint(hint),
            Self::GateCommandFailed { env, command, error } => UserError::new(format!(
                "cannot run the command gate of `{env}` (`{command}`): {error}"
            )),
            Self::NothingToRollBack { env } => {
                UserError::new(format!("`{env}` has no recorded changes to roll back"))
                    .hint(format!("`promote log {env}` shows its history"))
            }
            Self::NoSuchRecord { env, id } => UserError::new(format!("`{env}` has no record `{id}`"))
                .hint(format!("`promote log {env}` lists the record ids")),
            Self::AmbiguousRecord { id } => {
                UserError::new(format!("record id `{id}` is ambiguous: give more characters"))
            }
            Self::RecordVersionInvalid { id, error } => UserError::new(format!("record `{id}`: {error}")),

            // ---- init and migrate
            Self::AlreadyInitialized => UserError::new(format!(
                "`{CONFIG_FILE}` already exists: this repository is set up for promote"
            ))
            .hint("`promote check` checks it; `promote config` prints its effective configuration"),
            Self::ExampleDirExists { dir } => UserError::new(format!(
                "found no sed layout to adopt (no `<env>/*.yaml.tpl`), and `{dir}/` exists: `promote init` writes the bundled example only where it overwrites nothing"
            ))
            .hint("write `promote.yaml` by hand (see the README's config reference), or run `promote init` in an empty repository"),
            Self::ExampleFileExists { path } => UserError::new(format!(
                "`{path}` exists: `promote init` writes the bundled example only where it overwrites nothing"
            )),
            Self::AlreadyNative => UserError::new(
                "this repository already uses the native layout: there is nothing to migrate",
            ),
            Self::MigratePreviews => UserError::new("`promote migrate` does not convert the previews' `*.yaml.tpl` templates")
                .hint(format!("remove `previews:` from `{CONFIG_FILE}`, migrate, then set previews up again on the shared templates")),
            Self::MigrateNotOwnDir { env, manifests, dir } => UserError::new(format!(
                "environment `{env}` renders into `{manifests}`, not its own directory `{dir}`: `promote migrate` moves only the usual sed layout"
            )),
            Self::NativeLayoutInTheWay { dir, file } => {
                UserError::new(format!("`{dir}/{file}` exists, where the native layout goes"))
                    .hint(format!("move `{dir}/` out of the way first: the native layout renders every template in it"))
            }
            Self::MigrateMoveCollision { old, new } => UserError::new(format!(
                "`{old}` would move to `{new}`, which the native layout writes"
            ))
            .hint(format!("move or rename `{old}` first")),
            Self::MigrateConfigRewrite => UserError::new(format!("cannot rewrite `{CONFIG_FILE}` for the native layout by itself (is it written in flow style?)"))
                .hint("remove `layout: legacy`, `placeholders:` and each environment's `dir`, `manifests` and `metadata` by hand, in the same change"),

            // ---- previews
            Self::PreviewsNotConfigured => UserError::new(format!(
                "previews are not configured: `{CONFIG_FILE}` has no `previews:` section"
            ))
            .hint("add `previews: {}` for the defaults: previews under `environments/prs/`, rendered from the shared templates")
            .hint("see \"Preview environments\" in the README"),
            Self::LegacyPreviewsNeedTemplates => UserError::new(
                "previews in the legacy layout need their own template directory of `*.yaml.tpl` files",
            )
            .hint(format!("set `previews.templates` in `{CONFIG_FILE}`, e.g. to `dev`")),
            Self::OutsidePreviews { rel, dir } => UserError::new(format!(
                "refusing to touch `{rel}`: it is outside the previews directory `{dir}`"
            )),
            Self::PreviewSymlink { rel, link } => UserError::new(format!(
                "refusing to touch `{rel}`: `{link}` is a symbolic link"
            ))
            .hint("previews are plain directories; remove the link"),
            Self::PreviewInTheWay { dir, branch, why, previews } => UserError::new(format!(
                "`{dir}` is in the way of branch `{branch}`'s preview: {why}"
            ))
            .hint(format!("previews own `{previews}`; move that directory elsewhere")),
            Self::NoFreePreviewName { branch, taken } => UserError::new(format!(
                "branch `{branch}` has no free preview name: {}",
                taken.join(", ")
            ))
            .hint("remove one of those previews (`promote preview down <branch>`), or rename the branch"),
            Self::PreviewAuditBroken { namespace, broken, log, branch } => UserError::new(format!(
                "refusing to change preview `{namespace}`: its audit trail does not verify:\n  {}",
                broken.join("\n  ")
            ))
            .hint(format!(
                "restore it (`git log -p -- {log}`), or remove the preview with `promote preview down {branch}` and bring it up again"
            )),

            // ---- pull requests
            Self::PrRequired { env, command } => UserError::new(format!(
                "`{env}` takes changes by pull request only (`approval: pr` in `promote.yaml`): nothing was written"
            ))
            .hint(format!(
                "open one: `{command}` (your checkout is not touched); `--pr=auto` opens one only where it is required"
            )),
            Self::PrNoUpstream => UserError::new(
                "`--pr` opens the pull request into the branch your checkout tracks, and HEAD tracks none (a detached HEAD, or a branch without an upstream)",
            )
            .hint("check out the branch the pull request goes into, tracking the remote's (`git switch main`, `git branch --set-upstream-to origin/main`)"),
            Self::PrBranchMoved { branch, remote, command } => UserError::new(format!(
                "`{branch}` changed on `{remote}` while promote was rebuilding it: nothing was pushed"
            ))
            .hint(format!("someone else updated it; run `{command}` again")),
            Self::HostingCliFailed { program, args, stderr } => UserError::new(format!(
                "`{program} {args}` failed:\n  {}",
                stderr.trim().replace('\n', "\n  ")
            ))
            .hint(format!("check `{program} auth status`")),
            Self::NoSuchRemoteBranch { branch, remote } => {
                UserError::new(format!("`{branch}` is not a branch on `{remote}`"))
                    .hint(format!("`git ls-remote --heads {remote} 'promote/*'` lists promote's branches"))
            }
            Self::NotMadeByPromote { branch, trailer } => UserError::new(format!(
                "`{branch}` was not made by `promote ... --pr`: its commit has no `{trailer}` trailer"
            )),
            Self::InvalidPromotions { base, problems } => UserError::new(format!(
                "the changes since `{base}` are not valid promotions on it:\n  {}",
                problems.join("\n  ")
            ))
            .hint("if the pull request is stale, `promote pr refresh <env>` rebuilds it on its base"),
        }
    }
}

/// What a list of problems ([`Failure::Problems`]) stops: the line above the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// Rendering an environment for a change.
    Render { env: String },
    /// Rendering a preview.
    Preview { namespace: String, branch: String },
    /// `promote render`.
    RenderFiles,
    /// `promote init`: the sed layout as it is.
    Adopt,
    /// `promote init`: the adopted config would not render the files byte for byte.
    AdoptBytes,
    /// `promote migrate`: the manifests differ from what the templates render now.
    MigrateDrift,
    /// `promote migrate`: the native layout would not render the same bytes.
    MigrateBytes,
    /// `promote migrate`: anything else.
    Migrate,
}

impl Blocked {
    fn title(self) -> String {
        match self {
            Blocked::Render { env } => format!("cannot render environment `{env}`:"),
            Blocked::Preview { namespace, branch } => {
                format!("cannot render preview `{namespace}` (branch `{branch}`):")
            }
            Blocked::RenderFiles => "nothing was written; cannot render:".into(),
            Blocked::Adopt => "cannot adopt this repository as it is; nothing was written:".into(),
            Blocked::AdoptBytes => "cannot adopt this repository: promote would not render it byte for byte as it is; nothing was written:".into(),
            Blocked::MigrateDrift => {
                "cannot migrate: the manifests are not what the templates render now:".into()
            }
            Blocked::MigrateBytes => "cannot migrate: the native layout would not render every byte as the sed layout does; nothing was written:".into(),
            Blocked::Migrate => "cannot migrate; nothing was written:".into(),
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

/// A command's result when it did not fail: the exit code to use (0, or 3 for pending changes).
pub type Outcome = anyhow::Result<i32>;

#[cfg(test)]
mod tests {
    use super::*;

    /// One of each variant. [`index`] is exhaustive, so a new variant does not compile until it
    /// has a number, and the test below fails until it has a sample. (Both are tables, one line
    /// or entry per variant, hence their length.)
    fn samples() -> Vec<Failure> {
        vec![
            Failure::EnvInvalid {
                name: "s".into(),
                value: "s".into(),
                takes: "s".into(),
            },
            Failure::PromoteGitInvalid {
                value: "s".into(),
                unicode: true,
            },
            Failure::PromoteNowInvalid {
                value: "s".into(),
                error: "s".into(),
            },
            Failure::ManDirTakesCommand {
                command: "s".into(),
            },
            Failure::ManDirNotDirectory {
                dir: PathBuf::from("p"),
            },
            Failure::NoSuchCommand {
                parent: "s".into(),
                word: "s".into(),
                page: "s".into(),
                known: vec!["l".into()],
            },
            Failure::CannotRead {
                file: "s".into(),
                error: "s".into(),
            },
            Failure::SymbolicLink {
                path: "s".into(),
                target: "s".into(),
            },
            Failure::InvalidMetadata {
                file: "s".into(),
                line: 1,
                error: "s".into(),
            },
            Failure::EmptyBranch,
            Failure::BranchControlCharacter {
                branch: "s".into(),
                character: '\x07',
            },
            Failure::BareRepository,
            Failure::NotARepository {
                start: PathBuf::from("p"),
            },
            Failure::GitCannotOpen {
                start: PathBuf::from("p"),
                stderr: "s".into(),
            },
            Failure::UnknownObjectFormat {
                start: PathBuf::from("p"),
                format: "s".into(),
            },
            Failure::NoIdentity,
            Failure::IndexLocked {
                lock: PathBuf::from("p"),
                holder: None,
                waited: Duration::from_secs(1),
            },
            Failure::AnotherPromote {
                pid: "s".into(),
                waited: Duration::from_secs(1),
            },
            Failure::DetachedHead,
            Failure::NoUpstream { branch: "s".into() },
            Failure::NotACommit { rev: "s".into() },
            Failure::JournalUnreadable {
                path: PathBuf::from("p"),
                error: "s".into(),
            },
            Failure::RepairLockHeld {
                what: "s".into(),
                lock: PathBuf::from("p"),
                holder: "s".into(),
            },
            Failure::RepairLockForeign {
                what: "s".into(),
                lock: PathBuf::from("p"),
            },
            Failure::RepairIncomplete { report: "s".into() },
            Failure::ChangeFailed { error: "s".into() },
            Failure::ChangeAndRepairFailed {
                error: "s".into(),
                repair: "s".into(),
            },
            Failure::ChangeRepairIncomplete {
                error: "s".into(),
                report: "s".into(),
                not_undone: vec!["l".into()],
            },
            Failure::ChangeRolledBack {
                written: true,
                disk_full: true,
                error: "s".into(),
            },
            Failure::ChangeCommittedThen {
                commit: "s".into(),
                error: "s".into(),
            },
            Failure::NoConfig {
                root: PathBuf::from("p"),
            },
            Failure::ConfigSyntax {
                at: "s".into(),
                error: "s".into(),
            },
            Failure::ConfigInvalid {
                at: "s".into(),
                problem: "s".into(),
            },
            Failure::UnknownEnvironment {
                name: "s".into(),
                suggestion: "s".into(),
                known: vec!["l".into()],
            },
            Failure::UnknownService {
                name: "s".into(),
                suggestion: "s".into(),
                known: vec!["l".into()],
            },
            Failure::DirIsFile { dir: "s".into() },
            Failure::NoSuchDir { dir: "s".into() },
            Failure::CannotOpen {
                dir: "s".into(),
                error: "s".into(),
            },
            Failure::HoldNeedsReason { env: "s".into() },
            Failure::NoVersionsGiven { env: "s".into() },
            Failure::ShaInvalid {
                sha: "s".into(),
                error: "s".into(),
            },
            Failure::PreviewShaInvalid { error: "s".into() },
            Failure::NotServiceVersion { pair: "s".into() },
            Failure::ServiceGivenTwice {
                service: "s".into(),
                first: "s".into(),
                second: "s".into(),
            },
            Failure::VersionInvalid {
                pair: "s".into(),
                error: "s".into(),
            },
            Failure::OlderThanInvalid { error: "s".into() },
            Failure::OlderThanNotPositive { value: "s".into() },
            Failure::GcNeedsCriteria,
            Failure::KeepFileUnreadable {
                file: "s".into(),
                error: "s".into(),
            },
            Failure::KeepFileEmpty { file: "s".into() },
            Failure::SinceInvalid { error: "s".into() },
            Failure::HtmlDirUncreatable {
                dir: PathBuf::from("p"),
                error: "s".into(),
            },
            Failure::HtmlUnwritable {
                path: PathBuf::from("p"),
                error: "s".into(),
            },
            Failure::DetachedHeadCommit { head: "s".into() },
            Failure::NoCommits { why: "s".into() },
            Failure::EnvDirty {
                env: "s".into(),
                dirty: vec!["l".into()],
            },
            Failure::RenderDirty {
                dirty: vec!["l".into()],
            },
            Failure::InitDirty {
                dirty: vec!["l".into()],
            },
            Failure::MigrateDirty {
                dirty: vec!["l".into()],
            },
            Failure::PreviewsDirty {
                dirty: vec!["l".into()],
            },
            Failure::Drift {
                env: "s".into(),
                files: vec!["l".into()],
            },
            Failure::Problems {
                blocked: Blocked::Migrate,
                problems: vec!["l".into()],
                hints: vec!["l".into()],
            },
            Failure::UnpushedCommits {
                upstream: "s".into(),
            },
            Failure::PushGaveUp {
                tries: 2,
                upstream: "s".into(),
                commit: "s".into(),
                rejection: "s".into(),
            },
            Failure::GatesRefuse {
                env: "s".into(),
                refusals: vec!["l".into()],
            },
            Failure::AuditDoesNotVerify {
                env: "s".into(),
                problems: vec!["l".into()],
                deploy_log: "s".into(),
            },
            Failure::AuditProblems {
                problems: vec!["l".into()],
            },
            Failure::RemovesServices {
                action: "s".into(),
                what: "s".into(),
                env: "s".into(),
            },
            Failure::PipelineStart { env: "s".into() },
            Failure::WrongSource {
                env: "s".into(),
                allowed: "s".into(),
                from: "s".into(),
            },
            Failure::SourceEmpty {
                source: "s".into(),
                hint: "s".into(),
            },
            Failure::SourceLacksService {
                source: "s".into(),
                service: "s".into(),
                hint: "s".into(),
            },
            Failure::GateCommandFailed {
                env: "s".into(),
                command: "s".into(),
                error: "s".into(),
            },
            Failure::NothingToRollBack { env: "s".into() },
            Failure::NoSuchRecord {
                env: "s".into(),
                id: "s".into(),
            },
            Failure::AmbiguousRecord { id: "s".into() },
            Failure::RecordVersionInvalid {
                id: "s".into(),
                error: "s".into(),
            },
            Failure::AlreadyInitialized,
            Failure::ExampleDirExists { dir: "s".into() },
            Failure::ExampleFileExists { path: "s".into() },
            Failure::AlreadyNative,
            Failure::MigratePreviews,
            Failure::MigrateNotOwnDir {
                env: "s".into(),
                manifests: "s".into(),
                dir: "s".into(),
            },
            Failure::NativeLayoutInTheWay {
                dir: "s".into(),
                file: "s".into(),
            },
            Failure::MigrateMoveCollision {
                old: "s".into(),
                new: "s".into(),
            },
            Failure::MigrateConfigRewrite,
            Failure::PreviewsNotConfigured,
            Failure::LegacyPreviewsNeedTemplates,
            Failure::OutsidePreviews {
                rel: "s".into(),
                dir: "s".into(),
            },
            Failure::PreviewSymlink {
                rel: "s".into(),
                link: "s".into(),
            },
            Failure::PreviewInTheWay {
                dir: "s".into(),
                branch: "s".into(),
                why: "s".into(),
                previews: "s".into(),
            },
            Failure::NoFreePreviewName {
                branch: "s".into(),
                taken: vec!["l".into()],
            },
            Failure::PreviewAuditBroken {
                namespace: "s".into(),
                broken: vec!["l".into()],
                log: "s".into(),
                branch: "s".into(),
            },
            Failure::PrRequired {
                env: "s".into(),
                command: "s".into(),
            },
            Failure::PrNoUpstream,
            Failure::PrBranchMoved {
                branch: "s".into(),
                remote: "s".into(),
                command: "s".into(),
            },
            Failure::HostingCliFailed {
                program: "s".into(),
                args: "s".into(),
                stderr: "s".into(),
            },
            Failure::NoSuchRemoteBranch {
                branch: "s".into(),
                remote: "s".into(),
            },
            Failure::NotMadeByPromote {
                branch: "s".into(),
                trailer: "s".into(),
            },
            Failure::InvalidPromotions {
                base: "s".into(),
                problems: vec!["l".into()],
            },
        ]
    }

    fn index(f: &Failure) -> usize {
        match f {
            Failure::EnvInvalid { .. } => 0,
            Failure::PromoteGitInvalid { .. } => 1,
            Failure::PromoteNowInvalid { .. } => 2,
            Failure::ManDirTakesCommand { .. } => 3,
            Failure::ManDirNotDirectory { .. } => 4,
            Failure::NoSuchCommand { .. } => 5,
            Failure::CannotRead { .. } => 6,
            Failure::SymbolicLink { .. } => 7,
            Failure::InvalidMetadata { .. } => 8,
            Failure::EmptyBranch => 9,
            Failure::BranchControlCharacter { .. } => 10,
            Failure::BareRepository => 11,
            Failure::NotARepository { .. } => 12,
            Failure::GitCannotOpen { .. } => 13,
            Failure::UnknownObjectFormat { .. } => 14,
            Failure::NoIdentity => 15,
            Failure::IndexLocked { .. } => 16,
            Failure::AnotherPromote { .. } => 17,
            Failure::DetachedHead => 18,
            Failure::NoUpstream { .. } => 19,
            Failure::NotACommit { .. } => 20,
            Failure::JournalUnreadable { .. } => 21,
            Failure::RepairLockHeld { .. } => 22,
            Failure::RepairLockForeign { .. } => 23,
            Failure::RepairIncomplete { .. } => 24,
            Failure::ChangeFailed { .. } => 25,
            Failure::ChangeAndRepairFailed { .. } => 26,
            Failure::ChangeRepairIncomplete { .. } => 27,
            Failure::ChangeRolledBack { .. } => 28,
            Failure::ChangeCommittedThen { .. } => 29,
            Failure::NoConfig { .. } => 30,
            Failure::ConfigSyntax { .. } => 31,
            Failure::ConfigInvalid { .. } => 32,
            Failure::UnknownEnvironment { .. } => 33,
            Failure::UnknownService { .. } => 34,
            Failure::DirIsFile { .. } => 35,
            Failure::NoSuchDir { .. } => 36,
            Failure::CannotOpen { .. } => 37,
            Failure::HoldNeedsReason { .. } => 38,
            Failure::NoVersionsGiven { .. } => 39,
            Failure::ShaInvalid { .. } => 40,
            Failure::PreviewShaInvalid { .. } => 41,
            Failure::NotServiceVersion { .. } => 42,
            Failure::ServiceGivenTwice { .. } => 43,
            Failure::VersionInvalid { .. } => 44,
            Failure::OlderThanInvalid { .. } => 45,
            Failure::OlderThanNotPositive { .. } => 46,
            Failure::GcNeedsCriteria => 47,
            Failure::KeepFileUnreadable { .. } => 48,
            Failure::KeepFileEmpty { .. } => 49,
            Failure::SinceInvalid { .. } => 50,
            Failure::HtmlDirUncreatable { .. } => 51,
            Failure::HtmlUnwritable { .. } => 52,
            Failure::DetachedHeadCommit { .. } => 53,
            Failure::NoCommits { .. } => 54,
            Failure::EnvDirty { .. } => 55,
            Failure::RenderDirty { .. } => 56,
            Failure::InitDirty { .. } => 57,
            Failure::MigrateDirty { .. } => 58,
            Failure::PreviewsDirty { .. } => 59,
            Failure::Drift { .. } => 60,
            Failure::Problems { .. } => 61,
            Failure::UnpushedCommits { .. } => 62,
            Failure::PushGaveUp { .. } => 63,
            Failure::GatesRefuse { .. } => 64,
            Failure::AuditDoesNotVerify { .. } => 65,
            Failure::AuditProblems { .. } => 66,
            Failure::RemovesServices { .. } => 67,
            Failure::PipelineStart { .. } => 68,
            Failure::WrongSource { .. } => 69,
            Failure::SourceEmpty { .. } => 70,
            Failure::SourceLacksService { .. } => 71,
            Failure::GateCommandFailed { .. } => 72,
            Failure::NothingToRollBack { .. } => 73,
            Failure::NoSuchRecord { .. } => 74,
            Failure::AmbiguousRecord { .. } => 75,
            Failure::RecordVersionInvalid { .. } => 76,
            Failure::AlreadyInitialized => 77,
            Failure::ExampleDirExists { .. } => 78,
            Failure::ExampleFileExists { .. } => 79,
            Failure::AlreadyNative => 80,
            Failure::MigratePreviews => 81,
            Failure::MigrateNotOwnDir { .. } => 82,
            Failure::NativeLayoutInTheWay { .. } => 83,
            Failure::MigrateMoveCollision { .. } => 84,
            Failure::MigrateConfigRewrite => 85,
            Failure::PreviewsNotConfigured => 86,
            Failure::LegacyPreviewsNeedTemplates => 87,
            Failure::OutsidePreviews { .. } => 88,
            Failure::PreviewSymlink { .. } => 89,
            Failure::PreviewInTheWay { .. } => 90,
            Failure::NoFreePreviewName { .. } => 91,
            Failure::PreviewAuditBroken { .. } => 92,
            Failure::PrRequired { .. } => 93,
            Failure::PrNoUpstream => 94,
            Failure::PrBranchMoved { .. } => 95,
            Failure::HostingCliFailed { .. } => 96,
            Failure::NoSuchRemoteBranch { .. } => 97,
            Failure::NotMadeByPromote { .. } => 98,
            Failure::InvalidPromotions { .. } => 99,
        }
    }

    /// Failures whose message says all there is to do (the value to fix is named in it): every
    /// other failure has a hint.
    const NO_HINT: &[&str] = &[
        "PromoteNowInvalid",
        "CannotRead",
        "BareRepository",
        "DetachedHead",
        "ChangeCommittedThen",
        "ConfigInvalid",
        "CannotOpen",
        "ShaInvalid",
        "PreviewShaInvalid",
        "VersionInvalid",
        "OlderThanInvalid",
        "OlderThanNotPositive",
        "KeepFileUnreadable",
        "HtmlDirUncreatable",
        "HtmlUnwritable",
        "GateCommandFailed",
        "AmbiguousRecord",
        "RecordVersionInvalid",
        "ExampleFileExists",
        "AlreadyNative",
        "MigrateNotOwnDir",
        "OutsidePreviews",
        "NotMadeByPromote",
    ];

    fn name(f: &Failure) -> String {
        let debug = format!("{f:?}");
        debug
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string()
    }

    #[test]
    fn every_variant_has_a_sample() {
        let got: Vec<usize> = samples().iter().map(index).collect();
        assert_eq!(got, (0..got.len()).collect::<Vec<_>>());
        assert_eq!(got.len(), 100, "a variant without a sample");
    }

    /// Two failures a user cannot tell apart (the same message and hints) are one failure, or one
    /// of them says too little. (`promote.yaml`'s syntax and value errors share the form
    /// ``promote.yaml` (line N): ...` and differ by their hint.)
    #[test]
    fn no_two_failures_say_the_same() {
        let mut seen = std::collections::BTreeMap::new();
        for f in samples() {
            let n = name(&f);
            let e = f.render();
            let said = (e.message, e.hints);
            if let Some(other) = seen.insert(said.clone(), n.clone()) {
                panic!("`{other}` and `{n}` both say {said:?}");
            }
        }
    }

    #[test]
    fn a_failure_has_a_hint_unless_its_message_says_the_fix() {
        for f in samples() {
            let n = name(&f);
            let hints = f.render().hints;
            assert_eq!(
                hints.is_empty(),
                NO_HINT.contains(&n.as_str()),
                "`{n}`: hints {hints:?}; a failure without a hint belongs in NO_HINT, and only one"
            );
        }
    }

    #[test]
    fn one_voice_and_documented_exit_codes() {
        for f in samples() {
            let n = name(&f);
            let e = f.render();
            let first = e.message.chars().next().unwrap_or(' ');
            assert!(
                !first.is_uppercase() || e.message.starts_with("HEAD "),
                "`{n}` starts with a capital: {:?}",
                e.message
            );
            assert!(
                !e.message.ends_with('.') && !e.message.ends_with('\n'),
                "`{n}`: {:?}",
                e.message
            );
            for h in &e.hints {
                assert!(!h.is_empty() && !h.ends_with('\n'), "`{n}`: hint {h:?}");
            }
            assert!(
                [exit::FAILURE, exit::USAGE].contains(&e.code),
                "`{n}`: exit code {}",
                e.code
            );
        }
    }
}
