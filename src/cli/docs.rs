//! Shell completions and man pages, generated from the clap definition in `cli.rs` so that they can
//! never disagree with what the binary accepts. Besides `cli.rs`, the only module that sees clap.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{exit, Failure, Outcome};
use crate::ui;

/// The name the scripts complete and the pages document.
const BIN: &str = "promote";

/// `promote completions SHELL`: the script on stdout.
pub fn completions(shell: Shell) -> Outcome {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN, &mut out);
    ui::data(&String::from_utf8(out).context("a completion script is not UTF-8")?);
    Ok(exit::OK)
}

/// Every man page: `promote.1` first, then one page per command, depth first (`promote-preview.1`,
/// `promote-preview-up.1`, ...), as (file name, roff source).
pub fn man_pages() -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(cmd: &clap::Command, pages: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let man = page(cmd.clone());
        let mut roff = Vec::new();
        man.render(&mut roff)
            .with_context(|| format!("rendering the man page of `{}`", cmd.get_name()))?;
        pages.push((man.get_filename(), roff));
        // Hidden ones too: `completions` and `man` are left out of `promote --help` only to keep
        // it on one screen, and deserve a page.
        for sub in cmd.get_subcommands() {
            walk(sub, pages)?;
        }
        Ok(())
    }
    let mut pages = Vec::new();
    walk(&built(), &mut pages)?;
    Ok(pages)
}

/// `promote man [COMMAND...] [--dir DIR]`. A relative DIR is taken from `-C` as every other path is.
pub fn man(cwd: &Path, out_dir: Option<&Path>, command: &[String]) -> Outcome {
    match out_dir {
        Some(out) => {
            if !command.is_empty() {
                return Err(Failure::ManDirTakesCommand {
                    command: command.join(" "),
                }
                .into());
            }
            // As a path under `-C` would be, and printed as the user wrote it when there is none.
            let out = if cwd == Path::new(".") {
                out.to_path_buf()
            } else {
                cwd.join(out)
            };
            write_pages(&out)
        }
        None => {
            let cmd = find(command)?;
            let mut roff = Vec::new();
            page(cmd)
                .render(&mut roff)
                .context("rendering the man page")?;
            ui::data(&String::from_utf8(roff).context("a man page is not UTF-8")?);
            Ok(exit::OK)
        }
    }
}

/// The whole command tree, built the way the pages show it (no `help` pseudo-command: `promote
/// help` is not one).
fn built() -> clap::Command {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    cmd
}

fn page(cmd: clap::Command) -> clap_mangen::Man {
    clap_mangen::Man::new(cmd)
        .source(concat!("promote ", env!("CARGO_PKG_VERSION")))
        .manual("promote manual")
}

/// The command at path `words` (`["preview", "up"]`), or a user error naming the one not found.
fn find(words: &[String]) -> anyhow::Result<clap::Command> {
    let mut cmd = built();
    for (i, word) in words.iter().enumerate() {
        let Some(sub) = cmd
            .get_subcommands()
            .find(|s| s.get_name() == word)
            .cloned()
        else {
            let parent = std::iter::once(BIN)
                .chain(words[..i].iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ");
            let known = cmd
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_string())
                .collect();
            return Err(Failure::NoSuchCommand {
                parent,
                word: word.to_string(),
                page: words[..i].join(" "),
                known,
            }
            .into());
        };
        cmd = sub;
    }
    Ok(cmd)
}

/// Writes every page into `out` (created if missing), each as a temp file renamed into place, so a
/// page is either the old one or the new one, never half-written.
fn write_pages(out: &Path) -> Outcome {
    let pages = man_pages()?;
    if out.exists() && !out.is_dir() {
        return Err(Failure::ManDirNotDirectory {
            dir: out.to_path_buf(),
        }
        .into());
    }
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the man page directory `{}`", out.display()))?;
    let mut written: Vec<PathBuf> = Vec::with_capacity(pages.len());
    for (name, roff) in &pages {
        let path = out.join(name);
        let tmp = out.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, roff)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .with_context(|| format!("writing the man page `{}`", path.display()))
            .inspect_err(|_| {
                let _ = std::fs::remove_file(&tmp);
            })?;
        written.push(path);
    }
    let list: String = written
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    ui::data(&list);
    ui::status(&format!(
        "wrote {} man pages to `{}`",
        written.len(),
        out.display()
    ));
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_page_per_command_named_as_man_finds_it() {
        let pages = man_pages().unwrap();
        let names: Vec<&str> = pages.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "promote.1");
        for n in [
            "promote-to.1",
            "promote-set-image.1",
            "promote-preview.1",
            "promote-preview-up.1",
        ] {
            assert!(names.contains(&n), "{n} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "{names:?}");
        let to = &pages.iter().find(|(n, _)| n == "promote-to.1").unwrap().1;
        let to = String::from_utf8_lossy(to);
        assert!(
            to.starts_with(".ie \\n(.g .ds Aq") || to.contains(".TH promote-to 1"),
            "{to}"
        );
        assert!(to.contains("\\-\\-only"), "{to}");
    }

    #[test]
    fn an_unknown_command_names_its_parent_and_the_known_ones() {
        let err = find(&["preview".into(), "upp".into()]).unwrap_err();
        let user = err.downcast_ref::<crate::error::UserError>().unwrap();
        assert_eq!(user.message, "no command `promote preview upp`");
        assert_eq!(user.hints, ["`promote preview` has: up, down, list, gc"]);
        assert_eq!(
            find(&["preview".into(), "up".into()]).unwrap().get_name(),
            "up"
        );
    }
}
