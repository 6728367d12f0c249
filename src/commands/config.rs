//! `promote config`: the effective configuration.

use std::path::Path;

use crate::error::{exit, Outcome};
use crate::git::Repo;
use crate::model::config::Config;
use crate::ui;

pub fn run(dir: &Path, json: bool) -> Outcome {
    let repo = Repo::discover(dir)?;
    let config = Config::load(&repo.root)?;
    let text = if json {
        serde_json::to_string_pretty(&config)? + "\n"
    } else {
        serde_yaml::to_string(&config)?
    };
    ui::data(&text);
    Ok(exit::OK)
}
