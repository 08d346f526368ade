//! `--demo`: the built-in demo helpdesk, served on loopback inside the process.

use crate::app::ConfigSource;

/// Starts the demo helpdesk and returns the config that points the real
/// LiveAgent provider at it.
pub async fn start() -> anyhow::Result<ConfigSource> {
    anyhow::bail!("the demo helpdesk is not available yet")
}
