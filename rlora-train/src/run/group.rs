//! `rlora train --nodes N --node-rank I --coordinator HOST:PORT`: the flags of a group run and
//! the private folder of the ranks other than 0, which write nothing into `--output`. Rank 0's
//! coordinator is in `coordinator_child`, what the handshake compares in `group_identity`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::ports::ephemeral_ports;
use super::{Failure, RunSpec};
use crate::trainer::{GroupSettings, GroupSettingsError};

/// The environment variable naming the folder where ranks 1.. make their private folders
/// (default: the system's temporary folder). `rlora launch` sets it to a folder of its own,
/// which it removes once its ranks have ended, however they ended.
pub const RANK_FOLDERS_VARIABLE: &str = "RLORA_RANK_FOLDERS";

/// The file rank 0 writes in [`RANK_FOLDERS_VARIABLE`]'s folder once `--output` holds its run
/// (checked, claimed and recorded): the run's folder, absolute. `rlora launch` restarts a group
/// only when it is there, so that a restart resumes (or starts again) this run and never
/// another one that a refused start left alone.
pub const RUN_STARTED_FILE: &str = "run-started";

/// Rank 0 of a group started by `rlora launch`: says that `output` now holds this group's run
/// (see [`RUN_STARTED_FILE`]); nothing without the launcher's folder.
///
/// # Errors
/// The file cannot be written.
pub fn mark_run_started(output: &Path) -> Result<(), Failure> {
    let Some(folders) = std::env::var_os(RANK_FOLDERS_VARIABLE).map(PathBuf::from) else {
        return Ok(());
    };
    let output = std::path::absolute(output).map_err(|e| format!("{}: {e}", output.display()))?;
    let file = folders.join(RUN_STARTED_FILE);
    std::fs::write(&file, output.as_os_str().as_encoded_bytes())
        .map_err(|e| format!("{}: {e}", file.display()).into())
}

/// The run folder rank 0 recorded in `folders` (see [`mark_run_started`]), if it did.
pub fn started_run(folders: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(folders.join(RUN_STARTED_FILE)).ok()?;
    #[cfg(unix)]
    let path = <std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(bytes);
    #[cfg(not(unix))]
    let path = String::from_utf8(bytes).ok()?;
    Some(PathBuf::from(path))
}

/// This process's place in a group run, or `None` when `spec` trains in one process.
///
/// # Errors
/// `--node-rank`, `--coordinator` or `--node-address` without `--nodes`, `--nodes` without
/// `--coordinator`, a rank out of range, or an address that is not `HOST:PORT`.
pub fn group_settings(spec: &RunSpec) -> Result<Option<GroupSettings>, Failure> {
    if spec.placement.nodes <= 1 {
        let stray = [
            (spec.placement.node_rank != 0, "--node-rank"),
            (spec.placement.coordinator.is_some(), "--coordinator"),
            (spec.placement.node_address.is_some(), "--node-address"),
        ];
        if let Some((_, flag)) = stray.iter().find(|(given, _)| *given) {
            return Err(format!(
                "{flag} belongs to a group run: give --nodes N (2 or more) too, or leave it out"
            )
            .into());
        }
        return Ok(None);
    }
    let coordinator = spec.placement.coordinator.as_deref().ok_or(
        "--nodes needs --coordinator HOST:PORT: the address rank 0 serves the group's \
         coordinator at (every process gets the same)",
    )?;
    let settings = GroupSettings::new(
        spec.placement.nodes as usize,
        spec.placement.node_rank as usize,
        coordinator,
        spec.placement.node_address.as_deref(),
        Duration::from_secs(spec.placement.group_timeout),
    )
    .map_err(flagged)?;
    if let Some(warning) = ephemeral_warning(&settings) {
        eprintln!("{warning}");
    }
    Ok(Some(settings))
}

/// A warning when this process's tensor ports lie among the ports the system gives outgoing
/// connections: burn's engine serves them anew for every exchange, and a connection that took
/// one in between (the group makes one to the coordinator per process and update) stops the
/// group.
fn ephemeral_warning(settings: &GroupSettings) -> Option<String> {
    let ephemeral = ephemeral_ports();
    let (first, last) = (settings.data_port(0), settings.data_port(1));
    (ephemeral.contains(&first) || ephemeral.contains(&last)).then(|| {
        format!(
            "warning: {}: the tensor ports {first} and {last} are among the ports this system \
             gives outgoing connections ({}-{}), and a connection may take one between two \
             exchanges, stopping the group: give a --coordinator port below {} (or \
             --node-address HOST:PORT), or let `rlora launch` pick the ports",
            settings.describe(),
            ephemeral.start(),
            ephemeral.end(),
            u32::from(*ephemeral.start()).saturating_sub(1 + 2 * settings.nodes as u32),
        )
    })
}

/// `error` in the words of the flags that gave its values.
fn flagged(error: GroupSettingsError) -> String {
    match error {
        GroupSettingsError::TooFewNodes(nodes) => format!(
            "--nodes {nodes}: a group needs at least 2 processes (without --nodes, one process \
             trains alone)"
        ),
        GroupSettingsError::RankOutOfRange { rank, nodes } => format!(
            "--node-rank {rank} is out of range for --nodes {nodes}: ranks are 0..{}",
            nodes - 1
        ),
        GroupSettingsError::Coordinator(reason) => format!("--coordinator {reason}"),
        GroupSettingsError::NodeAddress(reason) => format!("--node-address {reason}"),
        GroupSettingsError::TensorPorts(_) => {
            format!("{error}: give a lower --coordinator port or --node-address HOST:PORT")
        }
    }
}

/// The private folder of a rank other than 0, for its checkpoints and logs, deleted when
/// dropped (in [`RANK_FOLDERS_VARIABLE`]'s folder when it is set); with `--resume`, it holds a
/// copy of the run's checkpoints from `--output/checkpoint` (rank 0's), which the handshake then
/// checks are the ones rank 0 resumes.
///
/// # Errors
/// The folder cannot be made, or `--resume` finds no checkpoint folder in `--output` (this
/// machine does not share it with rank 0's).
pub fn worker_folder(spec: &RunSpec) -> Result<TempDir, Failure> {
    let parent = std::env::var_os(RANK_FOLDERS_VARIABLE)
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let folder = tempfile::Builder::new()
        .prefix(&format!("rlora-rank-{}-", spec.placement.node_rank))
        .tempdir_in(&parent)
        .map_err(|e| {
            format!(
                "cannot make a folder for rank {} in {}: {e}",
                spec.placement.node_rank,
                parent.display()
            )
        })?;
    if spec.output.resume {
        let source = spec.output.output.join("checkpoint");
        let listing = std::fs::read_dir(&source).map_err(|e| {
            format!(
                "--resume: rank {} reads the run's checkpoints from {} ({e}): rank 0 writes \
                 them there; put --output on a file system every node shares, or copy the \
                 folder to this machine",
                spec.placement.node_rank,
                source.display()
            )
        })?;
        let target = folder.path().join("checkpoint");
        std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
        for entry in listing {
            let entry = entry.map_err(|e| format!("{}: {e}", source.display()))?;
            let to = target.join(entry.file_name());
            std::fs::copy(entry.path(), &to).map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e}",
                    entry.path().display(),
                    to.display()
                )
            })?;
        }
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_ports_among_the_ephemeral_ports_are_warned_of() {
        let settings = |port: u32| {
            let coordinator = format!("127.0.0.1:{port}");
            GroupSettings::new(2, 1, &coordinator, None, Duration::from_secs(1)).unwrap()
        };
        let ephemeral = ephemeral_ports();
        let inside = u32::from(*ephemeral.start());
        let warning = ephemeral_warning(&settings(inside)).unwrap();
        assert!(
            warning.contains(&format!(
                "rank 1 of 2: the tensor ports {} and {}",
                inside + 4,
                inside + 5
            )),
            "{warning}"
        );
        let below = u32::from(*ephemeral.start()) - 5;
        assert!(ephemeral_warning(&settings(below - 1)).is_none());
        assert!(ephemeral_warning(&settings(below)).is_some());
    }
}
