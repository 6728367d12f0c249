//! FOR TESTS ONLY: named points where a change can be made to fail, to prove it is all or nothing.

use anyhow::Result;

/// `PROMOTE_FAILPOINT=<name>[:error|:exit|:enospc]` makes the run fail at the
/// failpoint `name`: with an error (`error`, the default), as if killed (`exit`: the process ends
/// at once with code 137, no destructor or cleanup runs, as under SIGKILL), or with a full disk
/// (`enospc`: an I/O error ENOSPC). An environment variable, read here only, rather than a cargo
/// feature, so the integration tests drive the very binary `cargo build` makes; unset, it costs
/// one lookup per run.
pub fn check(name: &str) -> Result<()> {
    static SPEC: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
    let spec = SPEC.get_or_init(|| {
        let v = std::env::var("PROMOTE_FAILPOINT").ok()?;
        let (n, mode) = v.split_once(':').unwrap_or((&v, "error"));
        Some((n.to_string(), mode.to_string()))
    });
    match spec {
        Some((n, mode)) if n == name => match mode.as_str() {
            "exit" => std::process::exit(137),
            "enospc" => Err(
                anyhow::Error::new(std::io::Error::from_raw_os_error(libc::ENOSPC))
                    .context(format!("failpoint `{name}`")),
            ),
            _ => Err(anyhow::anyhow!("failpoint `{name}`")),
        },
        _ => Ok(()),
    }
}
