//! Reading a sed-templated ("legacy") repository, for `promote init` and `promote migrate`.
//!
//! The sed flow leaves, in each environment's directory, `X.yaml.tpl` templates beside `X.yaml`, what
//! sed made of them. Lining each template up with its rendered file, line by line, tells which ALL-CAPS
//! tokens are placeholders (where the two differ) and what each stood for in that environment; the
//! placeholder written right after `<image>:` is the version. Everything here reads; nothing writes.

mod align;
mod analyse;
mod jinja;
mod old_metadata;
mod proposal;
mod scan;
#[cfg(test)]
mod tests;

pub use align::*;
pub use analyse::*;
pub use jinja::*;
pub use old_metadata::*;
pub use proposal::*;
pub use scan::*;

/// The metadata file of the sed flow (ArgoCD ignores the name), which is also promote's legacy default.
pub const METADATA_FILE: &str = "metadata.json.noargo";
/// The audit log of an environment.
pub const DEPLOY_LOG: &str = "deploy.log";
/// Top-level directories that are never environments: the old flow's preview templates and live
/// previews, and the native layout's own directories.
const NOT_ENVIRONMENTS: &[&str] = &["template", "templates", "prs", "environments"];
