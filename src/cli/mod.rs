//! The command line. Only this module knows clap: it turns arguments into a [`Request`].

pub mod docs;
pub mod env;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  promote set-image dev --sha 3f9c2a1 --push   in CI, right after the image build
  promote diff staging                         what `promote to staging` would commit
  promote to staging -m \"release 42\"           promote what dev runs, and commit
  promote help to                              the help of one command
Exit codes: 0 ok (also: nothing to promote), 1 failure (nothing was written), 2 usage error,
  3 pending changes found by `render --check` or `diff --exit-code`";

/// Move container image versions through the environments of a GitOps config repository.
#[derive(Debug, Parser)]
#[command(name = "promote", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run as if started in DIR (the config repository or a directory inside it).
    #[arg(short = 'C', global = true, value_name = "DIR", display_order = 100)]
    pub dir: Option<PathBuf>,

    /// Print only errors, warnings and the data asked for (diffs, tables, JSON).
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        display_order = 100
    )]
    pub quiet: bool,

    /// Print details too: every file written, every row of a long list.
    #[arg(short, long, global = true, display_order = 100)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// A reason as given on the command line: anything but empty (an empty reason records nothing).
fn reason(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("a reason cannot be empty: say why, e.g. `-m \"release 42\"`".into());
    }
    Ok(s.to_string())
}

/// Options of every command that changes an environment.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Why: recorded in deploy.log and the commit message (`--reason` is the same flag).
    #[arg(short, long, visible_alias = "reason", value_name = "REASON", value_parser = reason)]
    pub message: Option<String>,
    /// Show the diff the change would commit; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Push to the branch's upstream; if another pipeline pushed first, re-apply on its head and retry.
    #[arg(long)]
    pub push: bool,
    /// Open (or update) a pull request instead of committing here: the change is made on the
    /// upstream head, committed on promote's own branch `promote/<env>/...` and pushed; your
    /// checkout is not touched. `--pr=auto`: only where the environment has `approval: pr`.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "always", value_name = "WHEN", conflicts_with = "push", hide_possible_values = true)]
    pub pr: Option<PrMode>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Go ahead although the environment's audit trail fails verification (a deliberate repair),
    /// with the reason given by `-m/--reason` (required), recorded in the new record, which chains
    /// onto the log as it is now.
    #[arg(long, requires = "message")]
    pub repair_audit: bool,
}

/// When `--pr` opens a pull request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrMode {
    /// Always (`--pr`).
    Always,
    /// Only into environments with `approval: pr`; elsewhere commit as without `--pr`.
    Auto,
}

/// Letting a person through the gates.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Go ahead although the environment's gates refuse; the audit record says so, with the
    /// reason given by `-m/--reason` (required).
    #[arg(long, requires = "message")]
    pub override_gates: bool,
}

/// Options of a change, free of clap.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeOpts {
    pub message: Option<String>,
    pub dry_run: bool,
    pub json: bool,
    pub push: bool,
    /// `--pr`: by pull request.
    pub pr: Option<PrMode>,
    /// `--override-gates --reason R`: let the change through its gates, recording why.
    pub override_gates: Option<String>,
    /// `--repair-audit -m R`: build on an audit trail that fails verification, recording why.
    pub repair_audit: Option<String>,
    /// `rollback --allow-remove`: a rollback may remove services (and their manifests).
    pub allow_remove: bool,
}

impl ChangeArgs {
    fn opts(self, gates: Option<GateArgs>) -> ChangeOpts {
        let repair_audit = self.repair_audit.then(|| self.message.clone()).flatten();
        ChangeOpts {
            override_gates: gates
                .filter(|g| g.override_gates)
                .and_then(|_| self.message.clone()),
            message: self.message,
            dry_run: self.dry_run,
            json: self.output == OutputFormat::Json,
            push: self.push,
            pr: self.pr,
            repair_audit,
            allow_remove: false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render manifests from templates, values and the versions in each environment's metadata.
    #[command(
        after_help = "Examples:\n  promote render                  write every environment's manifests\n  promote render prod --check     exit 3 if prod's manifests are not what its templates render"
    )]
    Render {
        /// Environments to render (default: all).
        envs: Vec<String>,
        /// Write nothing; list the files that would change and exit 3 if any would.
        #[arg(long)]
        check: bool,
        /// Write nothing; list the files that would change (exit 0).
        #[arg(long, conflicts_with = "check")]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Check the whole repository: config, templates, drift, YAML, images, metadata, audit logs.
    #[command(
        after_help = "Examples:\n  promote check                   in CI: exit 1 on any problem, each named with its file\n  promote check --base origin/main   in a pull request: its promotions are valid on the base"
    )]
    Check {
        /// Also check that the changes since REV (a pull request's base, e.g. `origin/main`) are
        /// valid promotions on it: each deploy.log extends REV's, and each new record's versions are
        /// what its source runs and pass the gates.
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Repair a change a killed run or a full disk left unfinished (every command does it first).
    ///
    /// Finishes the change if its commit was made, else puts every file back; says which.
    #[command(
        after_help = "Examples:\n  promote recover --dry-run   what it would finish or undo\n  promote recover             do it"
    )]
    Recover {
        /// Say what would be done; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the effective configuration, with every default filled in.
    #[command(
        after_help = "Examples:\n  promote config --output json    the effective config, every default filled in"
    )]
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Promote ENV to the versions the environment it takes from runs now, and commit.
    #[command(
        after_help = "Examples:\n  promote to staging                  what dev runs, into staging, in one commit\n  promote to prod -m \"release 42\" --push\n  promote to prod --only api,web      only these services"
    )]
    To {
        /// The environment to promote.
        env: String,
        /// The source environment; only the one ENV takes from (in `promote.yaml`) is accepted.
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Promote only these services (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "SERVICES")]
        only: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        gates: GateArgs,
    },
    /// Set image versions of ENV directly (the first step of a pipeline, right after the image build).
    #[command(
        after_help = "Examples:\n  promote set-image dev --sha 3f9c2a1 --push     every service built from one commit\n  promote set-image dev api=3f9c2a1 web=v1.4.2   per service"
    )]
    SetImage {
        /// The environment to change.
        env: String,
        /// Every service's image was built from this git commit (7 to 40 lowercase hex characters).
        #[arg(long)]
        sha: Option<String>,
        /// `SERVICE=SHA`, `SERVICE=TAG[@DIGEST]` or `SERVICE=<image>:<tag>[@<digest>]` pairs.
        #[arg(value_name = "SERVICE=VERSION")]
        pairs: Vec<String>,
        #[command(flatten)]
        change: ChangeArgs,
        #[command(flatten)]
        gates: GateArgs,
    },
    /// Return ENV to the versions it ran before its last change (or after record `--to ID`).
    #[command(
        after_help = "Examples:\n  promote rollback prod -m \"api leaks memory\"   back to before the last change\n  promote rollback prod --to 3e834d6f0dbc        to right after a record of `promote log prod`"
    )]
    Rollback {
        /// The environment to roll back.
        env: String,
        /// Return to the state right after this deploy.log record (see `promote log ENV`).
        #[arg(long, value_name = "ID")]
        to: Option<String>,
        /// Let the rollback remove services the environment did not run then (their manifests are
        /// deleted, and listed); without it such a rollback is refused.
        #[arg(long)]
        allow_remove: bool,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Stop every promotion into ENV until `promote unhold ENV` (e.g. after a rollback).
    #[command(
        after_help = "Examples:\n  promote hold prod -m \"incident 42\"     refuse promotions into prod until unhold"
    )]
    Hold {
        /// The environment to hold.
        env: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Lift the hold on ENV.
    #[command(after_help = "Examples:\n  promote unhold prod -m \"incident 42 resolved\"")]
    Unhold {
        /// The environment.
        env: String,
        #[command(flatten)]
        change: ChangeArgs,
    },
    /// Show what `promote to ENV` would commit: version changes, then a diff per file.
    #[command(
        after_help = "Examples:\n  promote diff prod                   what `promote to prod` would commit\n  promote diff prod --exit-code       exit 3 when prod is behind staging"
    )]
    Diff {
        /// The environment that would be promoted.
        env: String,
        /// The source environment (as for `promote to`).
        #[arg(long, value_name = "ENV")]
        from: Option<String>,
        /// Only these services (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "SERVICES")]
        only: Vec<String>,
        /// Exit 3 when the promotion would change something.
        #[arg(long)]
        exit_code: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// What runs where, and what is waiting to be promoted.
    #[command(after_help = "Examples:\n  promote status --output json")]
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Delivery figures from deploy.log: what runs where, how it got there, how fast
    ///
    /// Text, or `--output json`; with `--html DIR` a self-contained page (`DIR/index.html`) to publish.
    #[command(
        after_help = "Examples:\n  promote report --since 90d          the figures of the last 90 days\n  promote report --html site          write site/index.html"
    )]
    Report {
        /// The window of the figures and the timeline: `30d`, `2w`, `36h`.
        #[arg(long, value_name = "DURATION", default_value = "30d")]
        since: String,
        /// Write the page to DIR/index.html (DIR, relative to the current directory even with `-C`,
        /// is created if missing).
        #[arg(long, value_name = "DIR")]
        html: Option<PathBuf>,
        /// Output format of the figures on stdout (with `--html`: only `json` prints them).
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// The audit history from deploy.log, newest first.
    #[command(
        after_help = "Examples:\n  promote log prod -n 5              the last five changes of prod\n  promote log --verify               check every hash chain"
    )]
    Log {
        /// Only this environment (default: all).
        env: Option<String>,
        /// Show at most N records.
        #[arg(short = 'n', value_name = "N")]
        limit: Option<usize>,
        /// Check the hash chain of every deploy.log and name the first bad line.
        #[arg(long)]
        verify: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// promote's pull requests (`--pr`): bring them up to date with their base.
    #[command(
        after_help = "Examples:\n  promote pr refresh prod          rebuild prod's stale pull requests on their base"
    )]
    Pr {
        #[command(subcommand)]
        command: PrCommand,
    },
    /// Preview environments: one per pull-request branch, under `previews.dir` (`environments/prs/`).
    #[command(
        after_help = "Examples:\n  promote preview up feature/login --sha 3f9c2a1 --push\n  promote preview gc --keep-file branches.txt --push"
    )]
    Preview {
        #[command(subcommand)]
        command: PreviewCommand,
    },
    /// Adopt promote here, changing no rendered byte and committing nothing.
    ///
    /// In a sed-templated repository (`<env>/*.yaml.tpl`): write `promote.yaml` (layout legacy) and
    /// promote's metadata, proving that promote renders every file as it is. In an empty one: write
    /// the bundled example.
    #[command(
        after_help = "Examples:\n  promote init --dry-run             what would be written\n  promote init && promote render --check"
    )]
    Init {
        /// Say what was found and what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Convert a legacy (sed) repository to the native layout, in one commit.
    ///
    /// Every rendered manifest is proven to stay byte-identical; ArgoCD Applications must then follow
    /// the new paths.
    #[command(
        after_help = "Examples:\n  promote migrate --dry-run -v        every file it would write and delete\n  promote migrate"
    )]
    Migrate {
        /// List the files the migration would write and delete; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Print the shell completion script for SHELL.
    #[command(
        after_help = "Examples:\n  promote completions bash > ~/.local/share/bash-completion/completions/promote\n  promote completions zsh > ~/.zfunc/_promote      a directory on your $fpath\n  promote completions fish > ~/.config/fish/completions/promote.fish"
    )]
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print promote's man page, or COMMAND's; `--dir DIR` writes every page.
    #[command(
        after_help = "Examples:\n  promote man | man -l -                      promote(1)\n  promote man preview up | man -l -           promote-preview-up(1)\n  promote man --dir ~/.local/share/man/man1   every page: promote.1, promote-to.1, ..."
    )]
    Man {
        /// Write every page into DIR (created if missing) instead of printing one.
        #[arg(long = "dir", value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// The command whose page to print (default: promote's own).
        command: Vec<String>,
    },
}

/// `promote pr ...`.
#[derive(Debug, Subcommand)]
pub enum PrCommand {
    /// Rebuild promote's pull-request branches of ENV (or the one BRANCH) on the base's new head
    /// when the environment changed there since they were made; up-to-date ones are left alone.
    #[command(
        after_help = "Examples:\n  promote pr refresh prod                          every `promote/prod/...` branch\n  promote pr refresh promote/prod/from-staging     one branch"
    )]
    Refresh {
        /// An environment (every `promote/<env>/...` branch) or one branch.
        target: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

/// `promote preview ...`. A branch name may be anything (it becomes a DNS-safe slug); put `--` before
/// one that starts with `-`.
#[derive(Debug, Subcommand)]
pub enum PreviewCommand {
    /// Create or update BRANCH's preview with every service at SHA, and commit.
    #[command(after_help = "Examples:\n  promote preview up feature/login --sha 3f9c2a1 --push")]
    Up {
        /// The pull request's branch: any name (it becomes a DNS-safe slug); put `--` before one that starts with `-`.
        branch: String,
        /// Every service's image was built from this git commit (7 to 40 lowercase hex characters).
        #[arg(long)]
        sha: String,
        /// Why: recorded in the preview's deploy.log and the commit message (`--reason` is the same).
        #[arg(short, long, visible_alias = "reason", value_name = "REASON", value_parser = reason)]
        message: Option<String>,
        /// Show what would be committed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Push to the branch's upstream; if another pipeline pushed first, re-apply on its head and retry.
        #[arg(long)]
        push: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Remove BRANCH's preview directory in one commit (its record goes to the previews' deploy.log).
    #[command(
        after_help = "Examples:\n  promote preview down feature/login -m \"PR #7 merged\" --push"
    )]
    Down {
        /// The pull request's branch: any name (it becomes a DNS-safe slug); put `--` before one that starts with `-`.
        branch: String,
        /// Why: recorded in the previews' deploy.log and the commit message (`--reason` is the same).
        #[arg(short, long, visible_alias = "reason", value_name = "REASON", value_parser = reason)]
        message: Option<String>,
        /// Show what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Push to the branch's upstream; if another pipeline pushed first, re-apply on its head and retry.
        #[arg(long)]
        push: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// List the previews: branch, slug, version, created, last updated.
    #[command(after_help = "Examples:\n  promote preview list --output json")]
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Remove stale previews in one commit: not updated for `--older-than`, or of a branch not kept
    /// (`--keep`, `--keep-file`).
    #[command(group(clap::ArgGroup::new("stale").required(true).multiple(true).args(["older_than", "keep", "keep_file"])))]
    #[command(
        after_help = "Examples:\n  git ls-remote --heads origin | promote preview gc --keep-file - --push\n  promote preview gc --older-than 14d"
    )]
    Gc {
        /// Remove previews not updated for this long: `14d`, `36h`, `90m` (also `2w`, `1d12h`).
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// The branches that still exist: previews of any other branch are removed.
        #[arg(long, value_name = "BRANCH", num_args = 1..)]
        keep: Vec<String>,
        /// Read the branches to keep from FILE (`-`: stdin), one per line; the output of
        /// `git ls-remote --heads origin` works as it is. A file that names no branch is refused.
        #[arg(long, value_name = "FILE")]
        keep_file: Option<String>,
        /// Why: recorded in the previews' deploy.log and the commit message (`--reason` is the same).
        #[arg(short, long, visible_alias = "reason", value_name = "REASON", value_parser = reason)]
        message: Option<String>,
        /// List what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Push to the branch's upstream; if another pipeline pushed first, re-apply on its head and retry.
        #[arg(long)]
        push: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

/// What the user asked for, free of clap.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    Render {
        envs: Vec<String>,
        check: bool,
        dry_run: bool,
        json: bool,
    },
    Check {
        base: Option<String>,
        json: bool,
    },
    Recover {
        dry_run: bool,
    },
    Config {
        json: bool,
    },
    PrRefresh {
        target: String,
        json: bool,
    },
    Promote {
        env: String,
        from: Option<String>,
        only: Vec<String>,
        opts: ChangeOpts,
    },
    SetImage {
        env: String,
        sha: Option<String>,
        pairs: Vec<String>,
        opts: ChangeOpts,
    },
    Rollback {
        env: String,
        to: Option<String>,
        opts: ChangeOpts,
    },
    /// `hold` (with `hold`) or `unhold`; a hold's reason is `opts.message`.
    Hold {
        env: String,
        hold: bool,
        opts: ChangeOpts,
    },
    Diff {
        env: String,
        from: Option<String>,
        only: Vec<String>,
        exit_code: bool,
        json: bool,
    },
    Status {
        json: bool,
    },
    Log {
        env: Option<String>,
        limit: Option<usize>,
        verify: bool,
        json: bool,
    },
    Report {
        since: String,
        html: Option<PathBuf>,
        json: bool,
    },
    Preview(PreviewRequest),
    Init {
        dry_run: bool,
        json: bool,
    },
    Migrate {
        dry_run: bool,
        json: bool,
    },
    Completions {
        shell: clap_complete::Shell,
    },
    Man {
        dir: Option<PathBuf>,
        command: Vec<String>,
    },
}

/// `promote preview ...`, free of clap.
#[derive(Debug, Clone, PartialEq)]
pub enum PreviewRequest {
    Up {
        branch: String,
        sha: String,
        opts: PreviewOpts,
    },
    Down {
        branch: String,
        opts: PreviewOpts,
    },
    List {
        json: bool,
    },
    Gc {
        older_than: Option<String>,
        keep: Vec<String>,
        keep_file: Option<String>,
        opts: PreviewOpts,
    },
}

/// Options of the preview commands that change something.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviewOpts {
    pub message: Option<String>,
    pub dry_run: bool,
    pub push: bool,
    pub json: bool,
}

impl PreviewCommand {
    fn into_request(self) -> PreviewRequest {
        let opts = |message, dry_run, push, output| PreviewOpts {
            message,
            dry_run,
            push,
            json: output == OutputFormat::Json,
        };
        match self {
            PreviewCommand::Up {
                branch,
                sha,
                message,
                dry_run,
                push,
                output,
            } => PreviewRequest::Up {
                branch,
                sha,
                opts: opts(message, dry_run, push, output),
            },
            PreviewCommand::Down {
                branch,
                message,
                dry_run,
                push,
                output,
            } => PreviewRequest::Down {
                branch,
                opts: opts(message, dry_run, push, output),
            },
            PreviewCommand::List { output } => PreviewRequest::List {
                json: output == OutputFormat::Json,
            },
            PreviewCommand::Gc {
                older_than,
                keep,
                keep_file,
                message,
                dry_run,
                push,
                output,
            } => PreviewRequest::Gc {
                older_than,
                keep,
                keep_file,
                opts: opts(message, dry_run, push, output),
            },
        }
    }
}

impl Request {
    /// `--output json`: stdout holds one JSON document and nothing else.
    pub fn json(&self) -> bool {
        match self {
            Request::Config { json }
            | Request::Check { json, .. }
            | Request::PrRefresh { json, .. }
            | Request::Render { json, .. }
            | Request::Diff { json, .. }
            | Request::Status { json }
            | Request::Log { json, .. }
            | Request::Report { json, .. } => *json,
            Request::Promote { opts, .. }
            | Request::SetImage { opts, .. }
            | Request::Rollback { opts, .. }
            | Request::Hold { opts, .. } => opts.json,
            Request::Preview(p) => match p {
                PreviewRequest::List { json } => *json,
                PreviewRequest::Up { opts, .. }
                | PreviewRequest::Down { opts, .. }
                | PreviewRequest::Gc { opts, .. } => opts.json,
            },
            Request::Init { json, .. } | Request::Migrate { json, .. } => *json,
            Request::Recover { .. } => false,
            // A completion script or a man page is the output itself.
            Request::Completions { .. } | Request::Man { .. } => false,
        }
    }
}

impl Cli {
    // long: one arm per subcommand, each a field-for-field move from the parsed command to the
    // request; a flat table reads best whole, and split it would only scatter the commands.
    pub fn into_request(self) -> (Option<PathBuf>, Request) {
        let json = |o: OutputFormat| o == OutputFormat::Json;
        let req = match self.command {
            Command::Render {
                envs,
                check,
                dry_run,
                output,
            } => Request::Render {
                envs,
                check,
                dry_run,
                json: json(output),
            },
            Command::Check { base, output } => Request::Check {
                base,
                json: json(output),
            },
            Command::Recover { dry_run } => Request::Recover { dry_run },
            Command::Pr {
                command: PrCommand::Refresh { target, output },
            } => Request::PrRefresh {
                target,
                json: json(output),
            },
            Command::Config { output } => Request::Config { json: json(output) },
            Command::To {
                env,
                from,
                only,
                change,
                gates,
            } => Request::Promote {
                env,
                from,
                only,
                opts: change.opts(Some(gates)),
            },
            Command::SetImage {
                env,
                sha,
                pairs,
                change,
                gates,
            } => Request::SetImage {
                env,
                sha,
                pairs,
                opts: change.opts(Some(gates)),
            },
            Command::Rollback {
                env,
                to,
                allow_remove,
                change,
            } => Request::Rollback {
                env,
                to,
                opts: ChangeOpts {
                    allow_remove,
                    ..change.opts(None)
                },
            },
            Command::Hold { env, change } => Request::Hold {
                env,
                hold: true,
                opts: change.opts(None),
            },
            Command::Unhold { env, change } => Request::Hold {
                env,
                hold: false,
                opts: change.opts(None),
            },
            Command::Diff {
                env,
                from,
                only,
                exit_code,
                output,
            } => Request::Diff {
                env,
                from,
                only,
                exit_code,
                json: json(output),
            },
            Command::Status { output } => Request::Status { json: json(output) },
            Command::Log {
                env,
                limit,
                verify,
                output,
            } => Request::Log {
                env,
                limit,
                verify,
                json: json(output),
            },
            Command::Report {
                since,
                html,
                output,
            } => Request::Report {
                since,
                html,
                json: json(output),
            },
            Command::Preview { command } => Request::Preview(command.into_request()),
            Command::Init { dry_run, output } => Request::Init {
                dry_run,
                json: json(output),
            },
            Command::Migrate { dry_run, output } => Request::Migrate {
                dry_run,
                json: json(output),
            },
            Command::Completions { shell } => Request::Completions { shell },
            Command::Man { out_dir, command } => Request::Man {
                dir: out_dir,
                command,
            },
        };
        (self.dir, req)
    }
}
