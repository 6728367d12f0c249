//! Opening or updating the pull request on the hosting: with its CLI (`gh`, `glab`, one table),
//! with GitLab's push options, or by printing the address that opens it.

use crate::commands::apply_change;
use crate::error::{Failure, UserError};
use crate::git::pr;
use crate::model::config::Config;
use crate::model::hosting::{self, Kind};
use crate::plan::{Ctx, Plan};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Stdio};

/// The hosting of the remote: its kind and the repository's web address.
pub(super) struct Hosting {
    pub(super) kind: Kind,
    pub(super) repo: hosting::Repository,
}

impl Hosting {
    /// From `hosting:` in `promote.yaml`, else from the remote's URL as configured.
    pub(super) fn resolve(ctx: &Ctx, remote: &str) -> Option<Hosting> {
        let configured = ctx.config.hosting.as_ref();
        let url = configured
            .and_then(|h| h.url.clone())
            .or_else(|| pr::remote_url(&ctx.config.root, remote))?;
        let repo = hosting::parse_remote(&url)?;
        let kind = configured
            .and_then(|h| h.kind)
            .or_else(|| hosting::detect(&repo.host))?;
        Some(Hosting { kind, repo })
    }
}

/// Where the pull request is, and how it was opened.
pub(super) struct Link {
    pub(super) url: Option<String>,
    /// `gh`, `glab`, `push-options`, `url` (printed for a person to open), `none`.
    pub(super) via: &'static str,
    /// Whether a new pull request was opened (`false`: an existing one was updated, or unknown).
    pub(super) opened: bool,
    /// What the user should do, when promote could not open it.
    pub(super) todo: Option<String>,
}

/// A hosting's command-line tool: `gh` and `glab` open and update a pull request the same way, with
/// their own commands, flags and JSON fields.
struct Cli {
    program: &'static str,
    /// `pr` or `mr`.
    noun: &'static str,
    /// How `view` prints JSON.
    view_json: [&'static str; 2],
    /// The `state` of an open one, and the field that holds its address.
    open_state: &'static str,
    url_field: &'static str,
    /// The verb that changes an open one's title and description.
    update: &'static str,
    /// The flags that name the target (base) and source (head) branches, in the order they are given.
    branches: [(&'static str, Side); 2],
    /// How the description is given: `--body-file -` on stdin, or `--description` as an argument.
    description: Description,
    /// What `create` needs last (`glab` asks for confirmation without `--yes`).
    create_tail: &'static [&'static str],
}

#[derive(Clone, Copy)]
enum Side {
    Base,
    Head,
}

#[derive(Clone, Copy)]
enum Description {
    Stdin(&'static str),
    Arg(&'static str),
}

const GH: Cli = Cli {
    program: "gh",
    noun: "pr",
    view_json: ["--json", "url,state"],
    open_state: "OPEN",
    url_field: "url",
    update: "edit",
    branches: [("--base", Side::Base), ("--head", Side::Head)],
    description: Description::Stdin("--body-file"),
    create_tail: &[],
};

const GLAB: Cli = Cli {
    program: "glab",
    noun: "mr",
    view_json: ["--output", "json"],
    open_state: "opened",
    url_field: "web_url",
    update: "update",
    branches: [
        ("--source-branch", Side::Head),
        ("--target-branch", Side::Base),
    ],
    description: Description::Arg("--description"),
    create_tail: &["--yes"],
};

/// The pull request to open or update.
/// The pull request asked for: from `branch` into `base`, with its title and description.
pub(super) struct Request<'a> {
    pub(super) base: &'a str,
    pub(super) branch: &'a str,
    pub(super) title: &'a str,
    pub(super) body: &'a str,
}

impl Cli {
    /// Updates the open pull request of `request.branch` (when `update`), else opens one.
    fn open_or_update(
        &self,
        root: &Path,
        repo: &str,
        request: &Request,
        update: bool,
        by_hand: impl Fn(anyhow::Error) -> anyhow::Error,
    ) -> Result<Link> {
        let branch = request.branch;
        let mut view = vec![self.noun, "view", branch, "--repo", repo];
        view.extend(self.view_json);
        let open = tool(root, self.program, &view, None).ok().and_then(|out| {
            let v: serde_json::Value = serde_json::from_str(out.trim()).ok()?;
            (v["state"] == self.open_state)
                .then(|| v[self.url_field].as_str().map(str::to_string))?
        });
        if let Some(url) = open {
            if update {
                let mut args = vec![self.noun, self.update, branch, "--repo", repo];
                args.extend(["--title", request.title]);
                let input = self.description.give(&mut args, request.body);
                tool(root, self.program, &args, input).map_err(&by_hand)?;
            }
            return Ok(Link {
                url: Some(url),
                via: self.program,
                opened: false,
                todo: None,
            });
        }
        let mut args = vec![self.noun, "create", "--repo", repo];
        for (flag, side) in self.branches {
            args.extend([
                flag,
                match side {
                    Side::Base => request.base,
                    Side::Head => branch,
                },
            ]);
        }
        args.extend(["--title", request.title]);
        let input = self.description.give(&mut args, request.body);
        args.extend(self.create_tail);
        let out = tool(root, self.program, &args, input).map_err(by_hand)?;
        Ok(Link {
            url: last_url(&out),
            via: self.program,
            opened: true,
            todo: None,
        })
    }
}

impl Description {
    /// Adds the description's flag to `args`; what to give on stdin, if anything.
    fn give<'a>(self, args: &mut Vec<&'a str>, body: &'a str) -> Option<&'a str> {
        match self {
            Description::Stdin(flag) => {
                args.extend([flag, "-"]);
                Some(body)
            }
            Description::Arg(flag) => {
                args.extend([flag, body]);
                None
            }
        }
    }
}

/// Opens or updates the pull request of `request.branch`, or says how to. `pushed`: what the remote
/// said to the push; `push_options`: the push carried GitLab's options that open the merge request.
pub(super) fn link(
    ctx: &Ctx,
    remote: &str,
    request: &Request,
    pushed: Option<&str>,
    push_options: bool,
    update: bool,
) -> Result<Link> {
    let &Request {
        base,
        branch,
        title,
        ..
    } = request;
    let root = &ctx.config.root;
    let Some(h) = Hosting::resolve(ctx, remote) else {
        let url = pr::remote_url(root, remote).unwrap_or_default();
        return Ok(Link {
            url: None,
            via: "none",
            opened: false,
            todo: Some(format!(
                "open a pull request from `{branch}` into `{base}` on your hosting: promote cannot tell which service `{url}` is (set `hosting: {{kind: github, url: https://...}}` in `promote.yaml` for a link)"
            )),
        });
    };
    let repo = h.repo.cli_repo(h.kind);
    let by_hand = |e: anyhow::Error| -> anyhow::Error {
        let url = hosting::new_pr_url(h.kind, &h.repo, base, branch, title);
        match e.downcast::<UserError>() {
            Ok(u) => u.open_by_hand(branch, h.kind.pr_word(), &url).into(),
            Err(e) => e,
        }
    };
    let cli = match h.kind {
        Kind::Github => Some(&GH),
        Kind::Gitlab => Some(&GLAB),
        _ => None,
    };
    if let Some(cli) = cli.filter(|c| installed(c.program)) {
        return cli.open_or_update(root, &repo, request, update, by_hand);
    }
    match h.kind {
        Kind::Gitlab if push_options => {
            // GitLab opened (or kept) the merge request as it took the push, and said where.
            let url = pushed.and_then(remote_url_said);
            let todo = url.is_none().then(|| {
                format!(
                    "GitLab did not say where the merge request is: see {}/-/merge_requests?source_branch={branch}",
                    h.repo.url()
                )
            });
            Ok(Link {
                url,
                via: "push-options",
                opened: true,
                todo,
            })
        }
        kind => {
            let url = hosting::new_pr_url(kind, &h.repo, base, branch, title);
            Ok(Link {
                url: None,
                via: "url",
                opened: false,
                todo: Some(format!(
                    "open the {} (if one is not open already): {url}",
                    kind.pr_word()
                )),
            })
        }
    }
}

/// GitLab's push options that open (or keep) a merge request as the branch is pushed. A push option
/// is one line, so the description is the versions on one line; the commit message has the rest.
pub(super) fn gitlab_push_options(base: &str, title: &str, plan: &Plan) -> Vec<String> {
    let one_line = |s: &str| s.replace(['\n', '\r'], " ");
    let versions: Vec<String> = plan
        .versions
        .iter()
        .map(|c| one_line(&apply_change::version_line(c)))
        .collect();
    let mut description = format!("promote `{}`", plan.request.env);
    if !versions.is_empty() {
        description.push_str(&format!(": {}", versions.join(", ")));
    }
    if let Some(r) = &plan.record {
        description.push_str(&format!("; audit record {}", &r.id[..12.min(r.id.len())]));
    }
    vec![
        "merge_request.create".into(),
        format!("merge_request.target={base}"),
        format!("merge_request.title={}", one_line(title)),
        format!("merge_request.description={description}"),
    ]
}

/// The last `https://` address in a tool's output (`gh pr create` prints the new PR's).
pub(super) fn last_url(out: &str) -> Option<String> {
    out.split_whitespace()
        .rev()
        .find(|w| w.starts_with("https://") || w.starts_with("http://"))
        .map(str::to_string)
}

/// The merge request's address from what the remote said during the push (`remote:   https://...`).
pub(super) fn remote_url_said(said: &str) -> Option<String> {
    said.lines()
        .filter_map(|l| l.strip_prefix("remote:"))
        .flat_map(str::split_whitespace)
        .find(|w| {
            (w.starts_with("https://") || w.starts_with("http://"))
                && (w.contains("merge_requests") || w.contains("/pull"))
        })
        .map(str::to_string)
}

/// Whether `name` is an executable on PATH.
pub(super) fn installed(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Runs a hosting CLI (never a prompt: `GH_PROMPT_DISABLED`, `NO_PROMPT`, no stdin but `input`).
pub(super) fn tool(
    dir: &Path,
    program: &str,
    args: &[&str],
    input: Option<&str>,
) -> Result<String> {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir)
        .args(args)
        .env("GH_PROMPT_DISABLED", "1")
        .env("NO_PROMPT", "1")
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{program}`"))?;
    if let (Some(text), Some(stdin)) = (input, child.stdin.take()) {
        crate::git::feed(stdin, text.as_bytes(), program)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(Failure::HostingCliFailed {
            program: program.to_string(),
            args: args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// What `promote init` says about approvals by pull request, for the environments at the end of the
/// pipeline (those no other environment takes from): the setting, the CODEOWNERS line and the
/// branch protection that make the hosting enforce it.
pub(crate) fn approval_advice(config: &Config) -> Option<String> {
    let last: Vec<&crate::model::config::Environment> = config
        .environments
        .iter()
        .filter(|e| e.from.is_some())
        .filter(|e| {
            !config
                .environments
                .iter()
                .any(|o| o.from.as_deref() == Some(e.name.as_str()))
        })
        .collect();
    let first = last.first()?;
    let names: Vec<String> = last.iter().map(|e| format!("`{}`", e.name)).collect();
    let mut s = format!(
        "approvals by pull request, for {} (optional; see \"Promotion by pull request\" in the README):\n",
        names.join(", ")
    );
    s.push_str(&format!(
        "  promote.yaml        `approval: pr` under `{}`: promote refuses direct commits there, and `promote to {} --pr` opens a pull request\n",
        first.name, first.name
    ));
    for e in &last {
        s.push_str(&format!(
            "  CODEOWNERS          /{}/ @your-org/release-approvers\n",
            e.dir
        ));
    }
    s.push_str("  branch protection   GitHub: require a pull request, review from Code Owners, dismiss stale approvals; GitLab: allowed to push \"No one\", Code Owner approval\n");
    s.push_str("  promote runs on your machine and cannot stop a push: the hosting's branch protection enforces the approval");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_said_by_the_remote() {
        let said = "remote: \nremote: View merge request for promote/prod/from-staging:\nremote:   https://gitlab.com/acme/config/-/merge_requests/7\nremote: \nTo gitlab.com:acme/config.git\n";
        assert_eq!(
            remote_url_said(said).as_deref(),
            Some("https://gitlab.com/acme/config/-/merge_requests/7")
        );
        assert_eq!(remote_url_said("To ../origin.git\n"), None);
        assert_eq!(
            last_url("Creating pull request\nhttps://github.com/acme/config/pull/3\n").as_deref(),
            Some("https://github.com/acme/config/pull/3")
        );
    }
}
