//! What recovery reads about a few paths, as git sees them: HEAD's commit and tree entries, the
//! index entries, and the id git would store for a working-tree file. Ids are hexadecimal strings,
//! in the repository's object format (SHA-1 or SHA-256). The `git` binary answers wherever the
//! in-process path is not allowed (see `fast`): `ls-tree`, `ls-files -s`, `hash-object`.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};

use super::objects::ObjectFormat;
use super::Repo;

/// One entry of a tree or of the index: the object id and the mode (`0o100644`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: String,
    pub mode: u32,
}

/// The commit HEAD points at.
#[derive(Debug, Clone)]
pub struct HeadCommit {
    pub id: String,
    /// Its first parent, if it has one.
    pub parent: Option<String>,
    /// Its message's first line.
    pub subject: String,
}

/// Paths per `git` run, well under any argument-length limit.
const CHUNK: usize = 500;

impl Repo {
    /// The repository's object format.
    pub fn object_format(&self) -> ObjectFormat {
        self.format
    }

    /// The blob id of `content` as it is (no conversion), in the repository's object format.
    pub fn raw_blob_id(&self, content: &[u8]) -> String {
        self.format.blob_id(content)
    }

    /// The commit HEAD points at, with its parent and subject; `None` on an unborn branch.
    pub fn head_commit(&self) -> Option<HeadCommit> {
        if let Some(repo) = &self.repo {
            let c = repo.head().ok()?.peel_to_commit().ok()?;
            return Some(HeadCommit {
                id: c.id().to_string(),
                parent: c.parent_id(0).ok().map(|p| p.to_string()),
                subject: c.summary().unwrap_or_default().to_string(),
            });
        }
        // `%P`: the parents, space-separated; `%s`: the subject. NUL-separated: any subject.
        let out = super::cli::bytes(
            &self.root,
            &[
                "log",
                "-1",
                "--no-show-signature",
                "--format=%H%x00%P%x00%s",
                "HEAD",
                "--",
            ],
        )
        .ok()?;
        let text = String::from_utf8_lossy(&out);
        let mut fields = text.trim_end_matches('\n').splitn(3, '\0');
        let id = fields.next()?.to_string();
        let parent = fields
            .next()
            .and_then(|p| p.split(' ').next())
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let subject = fields.next().unwrap_or_default().to_string();
        (!id.is_empty()).then_some(HeadCommit {
            id,
            parent,
            subject,
        })
    }

    /// HEAD's tree entry at each of `paths` (none: not in HEAD, or no HEAD).
    pub fn head_entries(&self, paths: &[&str]) -> Result<Vec<Option<Entry>>> {
        if let Some(repo) = &self.repo {
            let tree = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
            return Ok(paths
                .iter()
                .map(|p| {
                    let e = tree.as_ref()?.get_path(Path::new(p)).ok()?;
                    Some(Entry {
                        id: e.id().to_string(),
                        mode: e.filemode() as u32,
                    })
                })
                .collect());
        }
        if super::cli::head(&self.root).is_none() {
            return Ok(vec![None; paths.len()]);
        }
        // `-r`: the blobs themselves, however deep; `--full-tree`: paths from the root.
        // `<mode> SP <type> SP <id> TAB <path> NUL`.
        let found = self.listed(
            &["ls-tree", "-r", "-z", "--full-tree", "HEAD", "--"],
            paths,
            |meta| {
                let mut f = meta.split(' ');
                let mode = f.next()?;
                let _kind = f.next()?;
                Some((f.next()?, mode))
            },
        )?;
        Ok(paths.iter().map(|p| found.get(*p).cloned()).collect())
    }

    /// The index entry (stage 0) at each of `paths`, as git reads the index.
    pub fn index_entries(&self, paths: &[&str]) -> Result<Vec<Option<Entry>>> {
        if let Some(repo) = &self.repo {
            let mut index = repo.index().context("cannot read the git index")?;
            index.read(true).context("cannot read the git index")?;
            return Ok(paths
                .iter()
                .map(|p| {
                    index.get_path(Path::new(p), 0).map(|e| Entry {
                        id: e.id.to_string(),
                        mode: e.mode,
                    })
                })
                .collect());
        }
        // `<mode> SP <id> SP <stage> TAB <path> NUL`; only stage 0 (a conflict is no entry).
        let found = self.listed(&["ls-files", "-s", "-z", "--"], paths, |meta| {
            let mut f = meta.split(' ');
            let (mode, id, stage) = (f.next()?, f.next()?, f.next()?);
            (stage == "0").then_some((id, mode))
        })?;
        Ok(paths.iter().map(|p| found.get(*p).cloned()).collect())
    }

    /// Runs `git <args> <paths>` (in chunks, paths literal) and reads its `<meta> TAB <path> NUL`
    /// records; `parse` takes `(id, octal mode)` from the meta part.
    fn listed(
        &self,
        args: &[&str],
        paths: &[&str],
        parse: impl Fn(&str) -> Option<(&str, &str)>,
    ) -> Result<HashMap<String, Entry>> {
        let mut found = HashMap::new();
        for chunk in paths.chunks(CHUNK) {
            // The paths are names, not patterns.
            let mut all = vec!["--literal-pathspecs"];
            all.extend(args);
            all.extend(chunk);
            let out = super::cli::bytes(&self.root, &all)?;
            for record in out.split(|b| *b == 0).filter(|r| !r.is_empty()) {
                let text = String::from_utf8_lossy(record);
                let Some((meta, path)) = text.split_once('\t') else {
                    continue;
                };
                let Some((id, mode)) = parse(meta) else {
                    continue;
                };
                let Ok(mode) = u32::from_str_radix(mode, 8) else {
                    continue;
                };
                found.insert(
                    path.to_string(),
                    Entry {
                        id: id.to_string(),
                        mode,
                    },
                );
            }
        }
        Ok(found)
    }

    /// The blob id git would store for each of `files` (repository-relative, each a regular file
    /// that exists): `git hash-object`, which applies the checkout's conversions (`core.autocrlf`,
    /// `text`/`eol`, filters, ...). In-process only where `fast` allows the repository and no
    /// attribute converts any of the paths.
    pub fn stored_ids(&self, files: &[&str]) -> Result<Vec<String>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        if self.repo.is_some() {
            let owned: Vec<String> = files.iter().map(|p| p.to_string()).collect();
            if super::fast::converted(&self.root, &owned).is_ok_and(|c| c.is_empty()) {
                return files
                    .iter()
                    .map(|p| {
                        let full = self.root.join(p);
                        std::fs::read(&full)
                            .map(|b| self.format.blob_id(&b))
                            .with_context(|| format!("cannot read `{}`", full.display()))
                    })
                    .collect();
            }
        }
        let mut ids = Vec::with_capacity(files.len());
        for chunk in files.chunks(CHUNK) {
            // Files named as arguments: each is hashed as if added at its own path.
            let mut args = vec!["hash-object", "--"];
            args.extend(chunk);
            let out = super::cli::bytes(&self.root, &args)?;
            ids.extend(String::from_utf8_lossy(&out).lines().map(str::to_string));
        }
        anyhow::ensure!(
            ids.len() == files.len(),
            "`git hash-object` answered {} ids for {} files",
            ids.len(),
            files.len()
        );
        Ok(ids)
    }
}
