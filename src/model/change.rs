//! A file change: what a command plans and then applies, path by path.

/// What should be at a path after the change.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Write(Vec<u8>),
    /// Append these bytes to the file as it is (deploy.log): never rewrites what is there.
    Append(Vec<u8>),
    Delete,
}

/// One file's change, with the bytes before (None: absent) and after (None: deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

impl Change {
    /// What the change does to its file: `create`, `delete` or `update`.
    pub fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "create",
            (_, None) => "delete",
            _ => "update",
        }
    }

    /// The same, in the words of `--output json`'s file lists: `add`, `delete` or `modify`.
    pub fn kind(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "add",
            (_, None) => "delete",
            _ => "modify",
        }
    }
}
