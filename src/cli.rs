//! The command line. Only this module knows clap: it turns arguments into a [`Request`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Exit codes:
  0  success (also: nothing to promote)
  1  failure: bad input, a refused operation, a git error; nothing was written
  2  usage error
  3  `render --check` / `diff --exit-code`: there are pending changes";

/// Move container image versions through the environments of a GitOps config repository.
#[derive(Debug, Parser)]
#[command(name = "promote", version, after_help = AFTER_HELP, disable_help_subcommand = true)]
pub struct Cli {
    /// Run as if started in DIR (the config repository or a directory inside it).
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// Options of every command that changes an environment.
#[derive(Debug, Args)]
pub struct ChangeArgs {
    /// Why: recorded in deploy.log and the commit message.
    #[arg(short, long)]
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
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "always", value_name = "WHEN", conflicts_with = "push")]
    pub pr: Option<PrMode>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Go ahead although the environment's audit trail fails verification (a deliberate repair):
    /// REASON is recorded in the new record, which chains onto the log as it is now.
    #[arg(long, value_name = "REASON")]
    pub repair_audit: Option<String>,
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
    /// Go ahead although the environment's gates refuse; the audit record says so, with `--reason`.
    #[arg(long, requires = "reason")]
    pub override_gates: bool,
    /// Why the gates are overridden (required with `--override-gates`).
    #[arg(long, requires = "override_gates")]
    pub reason: Option<String>,
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
    /// `--repair-audit REASON`: build on an audit trail that fails verification, recording why.
    pub repair_audit: Option<String>,
    /// `rollback --allow-remove`: a rollback may remove services (and their manifests).
    pub allow_remove: bool,
}

impl ChangeArgs {
    fn opts(self, gates: Option<GateArgs>) -> ChangeOpts {
        ChangeOpts {
            message: self.message,
            dry_run: self.dry_run,
            json: self.output == OutputFormat::Json,
            push: self.push,
            pr: self.pr,
            override_gates: gates.filter(|g| g.override_gates).and_then(|g| g.reason),
            repair_audit: self.repair_audit,
            allow_remove: false,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render manifests from templates, values and the versions in each environment's metadata.
    Render {
        /// Environments to render (default: all).
        envs: Vec<String>,
        /// Write nothing; list the files that would change and exit 3 if any would.
        #[arg(long)]
        check: bool,
    },
    /// Check the whole repository: config, templates, drift, YAML, images, metadata, audit logs.
    Check {
        /// Also check that the changes since REV (a pull request's base, e.g. `origin/main`) are
        /// valid promotions on it: each deploy.log extends REV's, and each new record's versions are
        /// what its source runs and pass the gates.
        #[arg(long, value_name = "REV")]
        base: Option<String>,
    },
    /// Print the effective configuration, with every default filled in.
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Promote ENV to the versions the environment it takes from runs now, and commit.
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
    Hold {
        /// The environment to hold.
        env: String,
        /// Why: shown to whoever is refused, and recorded.
        #[arg(long)]
        reason: String,
        /// Push to the branch's upstream (retrying as for `set-image --push`).
        #[arg(long)]
        push: bool,
        /// Open (or update) a pull request instead of committing here (see `promote to --help`).
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "always", value_name = "WHEN", conflicts_with = "push")]
        pr: Option<PrMode>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Lift the hold on ENV.
    Unhold {
        /// The environment.
        env: String,
        /// Why: recorded in deploy.log and the commit message.
        #[arg(short, long)]
        message: Option<String>,
        /// Push to the branch's upstream (retrying as for `set-image --push`).
        #[arg(long)]
        push: bool,
        /// Open (or update) a pull request instead of committing here (see `promote to --help`).
        #[arg(long, value_enum, num_args = 0..=1, require_equals = true, default_missing_value = "always", value_name = "WHEN", conflicts_with = "push")]
        pr: Option<PrMode>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Show what `promote to ENV` would commit: version changes, then a diff per file.
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
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// The audit history from deploy.log, newest first.
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
    Pr {
        #[command(subcommand)]
        command: PrCommand,
    },
    /// Preview environments: one per pull-request branch, under `previews.dir` (`environments/prs/`).
    Preview {
        #[command(subcommand)]
        command: PreviewCommand,
    },
    /// Adopt promote here: in a sed-templated repository (`<env>/*.yaml.tpl`), write `promote.yaml`
    /// (layout legacy) and promote's metadata, proving no rendered byte changes; in an empty one,
    /// write the bundled example. Commits nothing.
    Init {
        /// Say what was found and what would be written; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Convert a legacy (sed) repository to the native layout in one commit, proving that every
    /// rendered manifest stays byte-identical. ArgoCD Applications must then follow the new paths.
    Migrate {
        /// List the files the migration would write and delete; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `promote pr ...`.
#[derive(Debug, Subcommand)]
pub enum PrCommand {
    /// Rebuild promote's pull-request branches of ENV (or the one BRANCH) on the base's new head
    /// when the environment changed there since they were made; up-to-date ones are left alone.
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
    Up {
        /// The pull request's branch: any name (it becomes a DNS-safe slug); put `--` before one that starts with `-`.
        branch: String,
        /// Every service's image was built from this git commit (7 to 40 lowercase hex characters).
        #[arg(long)]
        sha: String,
        /// Why: recorded in the preview's deploy.log and the commit message.
        #[arg(short, long)]
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
    Down {
        /// The pull request's branch: any name (it becomes a DNS-safe slug); put `--` before one that starts with `-`.
        branch: String,
        /// Why: recorded in the previews' deploy.log and the commit message.
        #[arg(short, long)]
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
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
    /// Remove stale previews in one commit.
    ///
    /// A preview is stale when it was not updated for `--older-than`, or when its branch is not kept
    /// (`--keep`, `--keep-file`): either reason is enough.
    #[command(group(clap::ArgGroup::new("stale").required(true).multiple(true).args(["older_than", "keep", "keep_file"])))]
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
        /// Why: recorded in the previews' deploy.log and the commit message.
        #[arg(short, long)]
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
    },
    Check {
        base: Option<String>,
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
    Hold {
        env: String,
        reason: Option<String>,
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
    Preview(PreviewRequest),
    Init {
        dry_run: bool,
    },
    Migrate {
        dry_run: bool,
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

impl Cli {
    pub fn into_request(self) -> (Option<PathBuf>, Request) {
        let json = |o: OutputFormat| o == OutputFormat::Json;
        let req = match self.command {
            Command::Render { envs, check } => Request::Render { envs, check },
            Command::Check { base } => Request::Check { base },
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
            Command::Hold {
                env,
                reason,
                push,
                pr,
                output,
            } => Request::Hold {
                env,
                reason: Some(reason),
                opts: ChangeOpts {
                    push,
                    pr,
                    json: output == OutputFormat::Json,
                    ..Default::default()
                },
            },
            Command::Unhold {
                env,
                message,
                push,
                pr,
                output,
            } => Request::Hold {
                env,
                reason: None,
                opts: ChangeOpts {
                    message,
                    push,
                    pr,
                    json: output == OutputFormat::Json,
                    ..Default::default()
                },
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
            Command::Preview { command } => Request::Preview(command.into_request()),
            Command::Init { dry_run } => Request::Init { dry_run },
            Command::Migrate { dry_run } => Request::Migrate { dry_run },
        };
        (self.dir, req)
    }
}
