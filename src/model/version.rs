//! An image version: a tag, a digest, or both (`a252dcc`, `a252dcc@sha256:…`, `@sha256:…`).
//! A version belongs to an image; the full reference is `<image>:<tag>@<digest>`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::imageref;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl Version {
    /// Parses `tag`, `tag@digest` or `@digest`; an empty version is an error.
    pub fn parse(s: &str) -> Result<Version, String> {
        if s.is_empty() {
            return Err("the version is empty".into());
        }
        let (tag, digest) = match s.split_once('@') {
            Some((t, d)) => (t, Some(d)),
            None => (s, None),
        };
        let tag = if tag.is_empty() {
            None
        } else if imageref::is_valid_tag(tag) {
            Some(tag.to_string())
        } else {
            return Err(format!(
                "`{tag}` is not a valid image tag (letters, digits, `_`, `.`, `-`; at most 128 characters)"
            ));
        };
        let digest = match digest {
            None => None,
            Some(d) if imageref::is_valid_digest(d) => Some(d.to_string()),
            Some(d) => {
                return Err(format!(
                    "`{d}` is not a valid digest (expected `sha256:` and 64 hex characters)"
                ))
            }
        };
        if tag.is_none() && digest.is_none() {
            return Err("the version is empty".into());
        }
        Ok(Version { tag, digest })
    }

    /// A version from a git SHA (7 to 40 lowercase hex characters).
    pub fn from_sha(sha: &str) -> Result<Version, String> {
        if !imageref::is_git_sha(sha) {
            return Err(format!(
                "`{sha}` is not a git SHA (7 to 40 lowercase hex characters)"
            ));
        }
        Ok(Version {
            tag: Some(sha.to_string()),
            digest: None,
        })
    }

    /// The full image reference for this version of `image`.
    pub fn reference(&self, image: &str) -> String {
        let mut s = image.to_string();
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }

    /// A short form for tables and commit subjects: the tag, or the digest cut to 12 hex characters.
    pub fn short(&self) -> String {
        match (&self.tag, &self.digest) {
            (Some(t), _) => t.clone(),
            (None, Some(d)) => {
                let (algo, hex) = d.split_once(':').unwrap_or(("", d));
                format!("@{algo}:{}", &hex[..hex.len().min(12)])
            }
            (None, None) => String::new(),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(t) = &self.tag {
            f.write_str(t)?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Version::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn forms_round_trip() {
        for s in [
            "a252dcc",
            "v1.2.3",
            &format!("a252dcc@{DIGEST}"),
            &format!("@{DIGEST}"),
        ] {
            assert_eq!(Version::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn empty_and_bad_versions_are_errors() {
        assert!(Version::parse("").is_err());
        assert!(Version::parse("@").is_err());
        assert!(Version::parse("a/b").is_err());
        assert!(Version::parse("abc@sha256:12").is_err());
        assert!(Version::from_sha("A252DCC").is_err());
        assert!(Version::from_sha("a252dc").is_err());
    }

    #[test]
    fn reference_and_short() {
        let v = Version::parse(&format!("a252dcc@{DIGEST}")).unwrap();
        assert_eq!(
            v.reference("r.io/api"),
            format!("r.io/api:a252dcc@{DIGEST}")
        );
        assert_eq!(v.short(), "a252dcc");
        assert_eq!(
            Version::parse(&format!("@{DIGEST}")).unwrap().short(),
            "@sha256:0123456789ab"
        );
    }
}
