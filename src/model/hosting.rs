//! Where the config repository is hosted, read from the remote's URL (or `hosting:` in
//! `promote.yaml`): which kind of service it is, and the web addresses that open a pull request.
//! Pure functions: nothing here runs a process or touches the network.

use serde::{Deserialize, Serialize};

/// A hosting service's kind: it decides the CLI (`gh`, `glab`), the push options and the URL forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Github,
    Gitlab,
    Bitbucket,
    Gitea,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Github => "GitHub",
            Kind::Gitlab => "GitLab",
            Kind::Bitbucket => "Bitbucket",
            Kind::Gitea => "Gitea",
        }
    }

    /// What the service calls a pull request.
    pub fn pr_word(self) -> &'static str {
        match self {
            Kind::Gitlab => "merge request",
            _ => "pull request",
        }
    }
}

/// A remote's repository, as a web address: `https://host[:port]/<path>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    /// `https://github.com`, `https://git.acme.example:8443`.
    pub origin: String,
    /// The host alone, lowercase (`github.com`).
    pub host: String,
    /// `acme/config`, `group/subgroup/config` (no `.git`).
    pub path: String,
}

impl Repository {
    /// The repository's web address.
    pub fn url(&self) -> String {
        format!("{}/{}", self.origin, self.path)
    }

    /// `[HOST/]OWNER/REPO` as `gh --repo` and `glab --repo` take it: the host only when it is not
    /// the service's public one.
    pub fn cli_repo(&self, kind: Kind) -> String {
        let public = match kind {
            Kind::Github => "github.com",
            Kind::Gitlab => "gitlab.com",
            _ => "",
        };
        if self.host == public {
            self.path.clone()
        } else {
            format!("{}/{}", self.host, self.path)
        }
    }
}

/// Reads a remote URL in the forms git accepts for a hosted repository: `https://[user@]host[:port]/path`,
/// `ssh://[user@]host[:port]/path`, `git://host/path` and scp-like `[user@]host:path`. `None` for a
/// local path or `file://` URL: there is no web address to derive.
pub fn parse_remote(url: &str) -> Option<Repository> {
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => {
            // scp-like `user@host:path`: a colon before any slash, and not a Windows drive letter.
            let colon = url.find(':')?;
            if url[..colon].contains('/') || colon < 2 {
                return None;
            }
            ("scp".to_string(), url)
        }
    };
    let (authority, path) = match scheme.as_str() {
        "https" | "http" | "ssh" | "git" | "git+ssh" | "ssh+git" => {
            let slash = rest.find('/')?;
            (&rest[..slash], &rest[slash + 1..])
        }
        "scp" => {
            let colon = rest.find(':')?;
            (&rest[..colon], &rest[colon + 1..])
        }
        _ => return None,
    };
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => (h, Some(p)),
        _ => (hostport, None),
    };
    let host = host.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let path = path.trim_matches('/');
    let path = path
        .strip_suffix(".git")
        .unwrap_or(path)
        .trim_end_matches('/');
    // GitLab's ssh form may carry a leading `~user` or `scm/` (Bitbucket Server): keep the path as is.
    if path.is_empty() {
        return None;
    }
    // The web side is https on the default port, whatever port ssh listens on; an http(s) remote
    // keeps its scheme and port.
    let origin = match (scheme.as_str(), port) {
        ("https" | "http", Some(p)) => format!("{scheme}://{host}:{p}"),
        ("https" | "http", None) => format!("{scheme}://{host}"),
        _ => format!("https://{host}"),
    };
    Some(Repository {
        origin,
        host,
        path: path.to_string(),
    })
}

/// The hosting kind a host name says, for the public services and the usual self-hosted names
/// (`gitlab.acme.example`, `github.acme.example` for GitHub Enterprise, `gitea.acme.example`).
/// Anything else is unknown: set `hosting.kind` in `promote.yaml`.
pub fn detect(host: &str) -> Option<Kind> {
    let host = host.to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let has = |name: &str| {
        labels
            .iter()
            .any(|l| *l == name || l.starts_with(&format!("{name}-")))
    };
    if host == "github.com" || host.ends_with(".ghe.com") || has("github") {
        Some(Kind::Github)
    } else if host == "gitlab.com" || has("gitlab") {
        Some(Kind::Gitlab)
    } else if host == "bitbucket.org" || has("bitbucket") {
        Some(Kind::Bitbucket)
    } else if host == "codeberg.org" || has("gitea") || has("forgejo") {
        Some(Kind::Gitea)
    } else {
        None
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The address that opens a pull request from `branch` into `base`, with the title. The description
/// is left to the service: for a pull request of one commit, GitHub, GitLab and Gitea fill it in from
/// the commit message, which lists every version change (a description in the URL would be kilobytes
/// of noise in a terminal).
pub fn new_pr_url(kind: Kind, repo: &Repository, base: &str, branch: &str, title: &str) -> String {
    let web = repo.url();
    match kind {
        Kind::Github => format!(
            "{web}/compare/{}...{}?expand=1&title={}",
            encode(base),
            encode(branch),
            encode(title)
        ),
        Kind::Gitlab => format!(
            "{web}/-/merge_requests/new?merge_request%5Bsource_branch%5D={}&merge_request%5Btarget_branch%5D={}&merge_request%5Btitle%5D={}",
            encode(branch),
            encode(base),
            encode(title)
        ),
        Kind::Bitbucket => format!(
            "{web}/pull-requests/new?source={}&dest={}",
            encode(branch),
            encode(base)
        ),
        Kind::Gitea => format!(
            "{web}/compare/{}...{}?title={}",
            encode(base),
            encode(branch),
            encode(title)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(url: &str) -> Repository {
        parse_remote(url).unwrap_or_else(|| panic!("{url} did not parse"))
    }

    #[test]
    fn remote_urls_in_every_form_git_takes() {
        for (url, web) in [
            (
                "https://github.com/acme/config.git",
                "https://github.com/acme/config",
            ),
            (
                "https://github.com/acme/config",
                "https://github.com/acme/config",
            ),
            (
                "https://ci-bot@github.com/acme/config.git/",
                "https://github.com/acme/config",
            ),
            (
                "git@github.com:acme/config.git",
                "https://github.com/acme/config",
            ),
            (
                "ssh://git@github.com/acme/config.git",
                "https://github.com/acme/config",
            ),
            (
                "ssh://git@gitlab.acme.example:2222/platform/deploy/config.git",
                "https://gitlab.acme.example/platform/deploy/config",
            ),
            (
                "https://gitlab.acme.example:8443/platform/config.git",
                "https://gitlab.acme.example:8443/platform/config",
            ),
            (
                "http://gitea.local:3000/acme/config",
                "http://gitea.local:3000/acme/config",
            ),
            (
                "git@bitbucket.org:acme/config.git",
                "https://bitbucket.org/acme/config",
            ),
            (
                "GIT@GitHub.com:acme/config.git",
                "https://github.com/acme/config",
            ),
        ] {
            assert_eq!(repo(url).url(), web, "{url}");
        }
        for local in [
            "../origin.git",
            "/srv/git/config.git",
            "file:///srv/git/config.git",
            "C:/git/config",
            "host:",
        ] {
            assert_eq!(parse_remote(local), None, "{local}");
        }
    }

    #[test]
    fn kinds_from_host_names() {
        for (host, kind) in [
            ("github.com", Some(Kind::Github)),
            ("github.acme.example", Some(Kind::Github)),
            ("acme.ghe.com", Some(Kind::Github)),
            ("gitlab.com", Some(Kind::Gitlab)),
            ("gitlab.acme.example", Some(Kind::Gitlab)),
            ("bitbucket.org", Some(Kind::Bitbucket)),
            ("codeberg.org", Some(Kind::Gitea)),
            ("gitea.acme.example", Some(Kind::Gitea)),
            ("git.acme.example", None),
            ("notgithub.com", None),
            ("mygitlab.example", None),
        ] {
            assert_eq!(detect(host), kind, "{host}");
        }
    }

    #[test]
    fn cli_repo_names_the_host_only_when_self_hosted() {
        assert_eq!(
            repo("git@github.com:acme/config.git").cli_repo(Kind::Github),
            "acme/config"
        );
        assert_eq!(
            repo("https://github.acme.example/acme/config").cli_repo(Kind::Github),
            "github.acme.example/acme/config"
        );
        assert_eq!(
            repo("https://gitlab.com/a/b/c.git").cli_repo(Kind::Gitlab),
            "a/b/c"
        );
    }

    #[test]
    fn new_pull_request_urls() {
        let gh = repo("git@github.com:acme/config.git");
        assert_eq!(
            new_pr_url(Kind::Github, &gh, "main", "promote/prod/from-staging", "promote staging -> prod: api a -> b"),
            "https://github.com/acme/config/compare/main...promote%2Fprod%2Ffrom-staging?expand=1&title=promote%20staging%20-%3E%20prod%3A%20api%20a%20-%3E%20b"
        );
        let gl = repo("git@gitlab.com:acme/config.git");
        assert_eq!(
            new_pr_url(Kind::Gitlab, &gl, "main", "promote/prod/hold", "t"),
            "https://gitlab.com/acme/config/-/merge_requests/new?merge_request%5Bsource_branch%5D=promote%2Fprod%2Fhold&merge_request%5Btarget_branch%5D=main&merge_request%5Btitle%5D=t"
        );
        let bb = repo("git@bitbucket.org:acme/config.git");
        assert_eq!(
            new_pr_url(Kind::Bitbucket, &bb, "main", "promote/prod/hold", "t"),
            "https://bitbucket.org/acme/config/pull-requests/new?source=promote%2Fprod%2Fhold&dest=main"
        );
        let gt = repo("https://codeberg.org/acme/config.git");
        assert_eq!(
            new_pr_url(Kind::Gitea, &gt, "main", "b", "t"),
            "https://codeberg.org/acme/config/compare/main...b?title=t"
        );
    }
}
