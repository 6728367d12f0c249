//! A change request as the user made it (not its result): [`Replay`] rebuilds it from whatever
//! repository state it runs on, so `--push` can re-plan after a lost race, `--pr` on the upstream
//! head and `pr refresh` on a new base.

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::model::audit;
use crate::model::config::{Approval, Config};
use crate::model::version::Version;
use crate::plan::{self, ChangeRequest, Ctx};

/// A request as the user made it (not its result): what `--pr` replays on the upstream head, and
/// what `pr refresh` replays on a new base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "kebab-case")]
pub enum Replay {
    To {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        only: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    SetImage {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pairs: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Rollback {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Hold {
        env: String,
        reason: String,
    },
    Unhold {
        env: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

impl Replay {
    pub fn env(&self) -> &str {
        match self {
            Replay::To { env, .. }
            | Replay::SetImage { env, .. }
            | Replay::Rollback { env, .. }
            | Replay::Hold { env, .. }
            | Replay::Unhold { env, .. } => env,
        }
    }

    /// The request, made from the repository `ctx` opens.
    pub fn make(&self, ctx: &Ctx) -> Result<ChangeRequest> {
        match self {
            Replay::To {
                env,
                from,
                only,
                message,
            } => plan::promotion(ctx, env, from.as_deref(), only, message.clone()),
            Replay::SetImage {
                env,
                sha,
                pairs,
                message,
            } => set_image_request(ctx, env, sha.as_deref(), pairs, message.clone()),
            Replay::Rollback { env, to, message } => {
                plan::rollback(ctx, env, to.as_deref(), message.clone())
            }
            Replay::Hold { env, reason } => plan::hold(ctx, env, Some(reason.clone()), None),
            Replay::Unhold { env, message } => plan::hold(ctx, env, None, message.clone()),
        }
    }

    /// The command that makes this request by pull request, for hints.
    pub fn command_line(&self) -> String {
        match self {
            Replay::To { env, only, .. } if only.is_empty() => format!("promote to {env} --pr"),
            Replay::To { env, only, .. } => {
                format!("promote to {env} --only {} --pr", only.join(","))
            }
            Replay::SetImage {
                env, sha, pairs, ..
            } => {
                let mut s = format!("promote set-image {env}");
                if let Some(sha) = sha {
                    s.push_str(&format!(" --sha {sha}"));
                }
                for p in pairs {
                    s.push_str(&format!(" {p}"));
                }
                s + " --pr"
            }
            Replay::Rollback { env, to: None, .. } => format!("promote rollback {env} --pr"),
            Replay::Rollback {
                env, to: Some(t), ..
            } => {
                format!("promote rollback {env} --to {t} --pr")
            }
            Replay::Hold { env, .. } => format!("promote hold {env} --reason \"...\" --pr"),
            Replay::Unhold { env, .. } => format!("promote unhold {env} --pr"),
        }
    }

    /// promote's branch for this request: `promote/<env>/<what was asked>`. The same request gives
    /// the same branch (so running it again updates its pull request); the part after the
    /// environment is readable where it can be, else a hash of the request.
    pub fn branch(&self, config: &Config) -> String {
        let env = self.env();
        let id = match self {
            Replay::To { from, only, .. } => {
                let source = from
                    .clone()
                    .or_else(|| config.env(env).ok().and_then(|e| e.from.clone()));
                let mut id = format!("from-{}", source.unwrap_or_default());
                if !only.is_empty() {
                    let mut only = only.clone();
                    only.sort();
                    only.dedup();
                    id.push_str(&format!("-only-{}", only.join("-")));
                }
                id
            }
            Replay::SetImage { sha, pairs, .. } => {
                let mut parts: Vec<String> = sha.iter().cloned().collect();
                let mut pairs = pairs.clone();
                pairs.sort();
                parts.extend(pairs.iter().map(|p| p.replacen('=', "-", 1)));
                format!("set-image-{}", parts.join("-"))
            }
            Replay::Rollback { to: None, .. } => "rollback".into(),
            Replay::Rollback { to: Some(t), .. } => format!("rollback-to-{t}"),
            Replay::Hold { .. } => "hold".into(),
            Replay::Unhold { .. } => "unhold".into(),
        };
        format!("promote/{env}/{}", ref_safe(&id))
    }
}

/// `id` if it is a short, plain ref name component; otherwise its readable start and a hash.
pub(super) fn ref_safe(id: &str) -> String {
    let plain = id
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.' || c == '_')
        && !id.contains("..")
        && !id.ends_with('.')
        && !id.ends_with(".lock");
    if plain && id.len() <= 60 {
        return id.to_string();
    }
    let hash = &audit::sha256_hex(id.as_bytes())[..12];
    let head: String = id
        .chars()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.')
        .take(40)
        .collect::<String>()
        .replace("..", "-");
    format!("{}-{hash}", head.trim_end_matches(['-', '.']))
}

/// Refuses a direct commit into an environment with `approval: pr` (the hosting's branch
/// protection is what enforces it; this saves a rejected push and says what to run instead).
pub(super) fn refuse_direct(ctx: &Ctx, replay: &Replay) -> Result<()> {
    let env = ctx.config.env(replay.env())?;
    if env.approval != Approval::Pr {
        return Ok(());
    }
    Err(Failure::PrRequired {
        env: env.name.clone(),
        command: replay.command_line(),
    }
    .into())
}

pub(super) fn set_image_request(
    ctx: &Ctx,
    env: &str,
    sha: Option<&str>,
    pairs: &[String],
    message: Option<String>,
) -> Result<ChangeRequest> {
    let config = &ctx.config;
    let env = config.env(env)?;
    let mut versions = BTreeMap::new();
    if sha.is_none() && pairs.is_empty() {
        return Err(Failure::NoVersionsGiven {
            env: env.name.clone(),
        }
        .into());
    }
    if let Some(sha) = sha {
        let v = Version::from_sha(sha).map_err(|e| Failure::ShaInvalid {
            sha: sha.to_string(),
            error: e.to_string(),
        })?;
        for s in &config.services {
            versions.insert(s.name.clone(), v.clone());
        }
    }
    let mut given: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in pairs {
        let Some((svc, value)) = pair.split_once('=') else {
            return Err(Failure::NotServiceVersion {
                pair: pair.to_string(),
            }
            .into());
        };
        if let Some(first) = given.insert(svc, pair) {
            return Err(Failure::ServiceGivenTwice {
                service: svc.to_string(),
                first: first.to_string(),
                second: pair.to_string(),
            }
            .into());
        }
        let service = config.service(svc)?;
        let v = parse_version(&service.image, value).map_err(|e| Failure::VersionInvalid {
            pair: pair.to_string(),
            error: e.to_string(),
        })?;
        versions.insert(svc.to_string(), v);
    }
    Ok(ChangeRequest {
        env: env.name.clone(),
        action: "set-image".into(),
        from: None,
        versions,
        message,
        ..Default::default()
    })
}

/// A version given on the command line: a git SHA, a `tag[@digest]`, or a full reference of the
/// service's own image.
pub(super) fn parse_version(image: &str, value: &str) -> std::result::Result<Version, String> {
    if value.contains('/') {
        let r = crate::model::imageref::ImageRef::parse(value).map_err(|e| e.to_string())?;
        if !crate::model::imageref::same_repository(&r.name(), image) {
            return Err(format!(
                "the image is `{}`, but this service's image is `{image}`",
                r.name()
            ));
        }
        if r.tag.is_none() && r.digest.is_none() {
            return Err("the reference has no tag or digest".into());
        }
        return Ok(Version {
            tag: r.tag,
            digest: r.digest,
        });
    }
    Version::parse(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_ids_are_ref_safe_and_stable() {
        assert_eq!(ref_safe("from-staging"), "from-staging");
        assert_eq!(ref_safe("set-image-api-a252dcc"), "set-image-api-a252dcc");
        let digest = ref_safe("set-image-api-1.2@sha256:0123");
        assert!(digest.starts_with("set-image-api-1.2-"), "{digest}");
        assert_eq!(digest, ref_safe("set-image-api-1.2@sha256:0123"));
        assert_ne!(digest, ref_safe("set-image-api-1.2@sha256:0124"));
        let long = ref_safe(&"x".repeat(100));
        assert!(long.len() < 60, "{long}");
        assert!(ref_safe("a..b").contains('-'));
    }

    #[test]
    fn requests_survive_the_trailer() {
        for r in [
            Replay::To {
                env: "prod".into(),
                from: None,
                only: vec!["api".into()],
                message: Some("line one\nline two".into()),
            },
            Replay::Hold {
                env: "prod".into(),
                reason: "incident 42".into(),
            },
        ] {
            let line = serde_json::to_string(&r).unwrap();
            assert!(!line.contains('\n'));
            assert_eq!(serde_json::from_str::<Replay>(&line).unwrap(), r);
        }
    }
}
