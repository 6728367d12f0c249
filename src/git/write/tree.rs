//! Trees: `parent`'s tree rewritten along the changed paths, in git's canonical format.
#![deny(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss
)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use anyhow::{bail, Context, Result};
use git2::{ObjectType, Odb, OdbObject, Oid};

use super::{Kind, NewObjects};
use crate::git::mode::{canonical, tree_text, TREE};

/// The changes under one directory, by name.
#[derive(Default)]
pub(super) struct Dir<'u> {
    files: BTreeMap<&'u [u8], Option<(Oid, u32)>>,
    dirs: BTreeMap<&'u [u8], Dir<'u>>,
}

impl<'u> Dir<'u> {
    pub(super) fn insert(&mut self, path: &'u str, change: Option<(Oid, u32)>) -> Result<()> {
        let mut dir = self;
        let mut parts = path.split('/').peekable();
        while let Some(name) = parts.next() {
            if parts.peek().is_none() {
                if dir.files.insert(name.as_bytes(), change).is_some() {
                    bail!("`{path}` is updated twice");
                }
            } else {
                dir = dir.dirs.entry(name.as_bytes()).or_default();
            }
        }
        Ok(())
    }
}

/// A tree entry.
struct Entry<'a> {
    mode: u32,
    name: &'a [u8],
    id: Oid,
}

impl Entry<'_> {
    fn is_tree(&self) -> bool {
        self.mode == TREE
    }
}

/// The entries of a tree object.
fn parse_tree(data: &[u8]) -> Option<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let space = at + data[at..].iter().position(|&c| c == b' ')?;
        let mode = std::str::from_utf8(&data[at..space]).ok()?;
        let nul = space + 1 + data[space + 1..].iter().position(|&c| c == 0)?;
        entries.push(Entry {
            mode: canonical(u32::from_str_radix(mode, 8).ok()?),
            name: &data[space + 1..nul],
            id: Oid::from_bytes(data.get(nul + 1..nul + 21)?).ok()?,
        });
        at = nul + 21;
    }
    Some(entries)
}

/// git's order of tree entries: by name, a directory's name as if it ended with `/`.
fn tree_order(a: &Entry, b: &Entry) -> std::cmp::Ordering {
    let n = a.name.len().min(b.name.len());
    a.name[..n].cmp(&b.name[..n]).then_with(|| {
        let end = |e: &Entry| {
            e.name
                .get(n)
                .copied()
                .unwrap_or(if e.is_tree() { b'/' } else { 0 })
        };
        end(a).cmp(&end(b))
    })
}

// Hand-written, not git2's `TreeUpdateBuilder`: that writes its trees (and needs its blobs)
// through the odb, the 12x to 38x cost measured for the objects (see `objects.rs`). Checked
// against `git update-index` + `git write-tree` by `differential.rs`.
/// The tree `base` (or an empty one) with `changes` applied: its id, or `None` if it ends empty.
pub(super) fn build<'a>(
    objects: &mut NewObjects<'_, 'a>,
    odb: &Odb,
    base: Option<Oid>,
    changes: &Dir,
    path: &str,
) -> Result<Option<Oid>> {
    let raw = base.map(|id| read_tree(odb, id, path)).transpose()?;
    let existing = match &raw {
        Some(object) => parse_tree(object.data())
            .with_context(|| format!("cannot parse tree {} (`{path}/`)", object.id()))?,
        None => Vec::new(),
    };
    let full = |name: &[u8]| {
        let name = String::from_utf8_lossy(name);
        if path.is_empty() {
            name.into_owned()
        } else {
            format!("{path}/{name}")
        }
    };
    // One changed name: what the parent has, then the deletion, the changes under the
    // directory, the new file.
    let mut resolve = |name: &[u8], current: Option<(Oid, u32)>| -> Result<Option<(Oid, u32)>> {
        let file = changes.files.get(name);
        let mut current = current;
        if let Some(None) = file {
            if let Some((_, TREE)) = current {
                bail!("cannot delete `{}`: it is a directory", full(name));
            }
            current = None;
        }
        if let Some(sub) = changes.dirs.get(name) {
            let base = match current {
                None => None,
                Some((id, TREE)) => Some(id),
                Some(_) => bail!(
                    "`{}` is a file in the parent commit: delete it to put files under it",
                    full(name)
                ),
            };
            current = build(objects, odb, base, sub, &full(name))?.map(|id| (id, TREE));
        }
        if let Some(Some((id, mode))) = file {
            if let Some((_, TREE)) = current {
                bail!(
                    "`{}` is a directory: delete what is under it to make it a file",
                    full(name)
                );
            }
            current = Some((*id, *mode));
        }
        Ok(current)
    };
    let changed = |name: &[u8]| changes.files.contains_key(name) || changes.dirs.contains_key(name);
    let mut entries = Vec::with_capacity(existing.len() + changes.files.len());
    let mut matched: HashSet<&[u8]> = HashSet::new();
    for e in existing {
        if !changed(e.name) {
            entries.push(e);
            continue;
        }
        matched.insert(e.name);
        if let Some((id, mode)) = resolve(e.name, Some((e.id, e.mode)))? {
            entries.push(Entry {
                mode,
                name: e.name,
                id,
            });
        }
    }
    let mut added: Vec<&[u8]> = changes
        .files
        .keys()
        .chain(changes.dirs.keys())
        .copied()
        .filter(|n| !matched.contains(n))
        .collect();
    added.sort_unstable();
    added.dedup();
    for name in added {
        if let Some((id, mode)) = resolve(name, None)? {
            entries.push(Entry { mode, name, id });
        }
    }
    if entries.is_empty() {
        return Ok(None);
    }
    entries.sort_by(tree_order);
    if let Some(w) = entries.windows(2).find(|w| w[0].name == w[1].name) {
        bail!("`{}` is both a file and a directory", full(w[0].name));
    }
    Ok(Some(objects.add(
        Kind::Tree,
        Cow::Owned(tree_data(&entries)),
        None,
    )))
}

/// Tree `id` (at `path`) from the object database.
fn read_tree<'o>(odb: &'o Odb, id: Oid, path: &str) -> Result<OdbObject<'o>> {
    let object = odb
        .read(id)
        .with_context(|| format!("cannot read tree {id} (`{path}/`)"))?;
    if object.kind() != ObjectType::Tree {
        bail!("{id} (`{path}/`) is not a tree");
    }
    Ok(object)
}

/// A tree object's content: its entries, sorted, in git's format.
fn tree_data(entries: &[Entry]) -> Vec<u8> {
    let size = entries.iter().map(|e| 6 + e.name.len() + 22).sum();
    let mut data = Vec::with_capacity(size);
    for e in entries {
        data.extend_from_slice(tree_text(e.mode));
        data.push(b' ');
        data.extend_from_slice(e.name);
        data.push(0);
        data.extend_from_slice(e.id.as_bytes());
    }
    data
}
