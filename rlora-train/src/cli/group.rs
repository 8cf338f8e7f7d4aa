//! `rlora train --nodes N --node-rank I --coordinator HOST:PORT`: the flags of a group run, the
//! coordinator that rank 0 serves (a child `rlora coordinator`), and the private folder of the
//! other ranks, which write nothing into `--output`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use tempfile::TempDir;
use xxhash_rust::xxh3::xxh3_128;

use super::resume_check::IGNORED;
use super::{CliError, TrainArgs};
use crate::trainer::{GroupMember, GroupSettings};

/// This process's part in a group run, or `None` when `args` train in one process.
///
/// # Errors
/// `--node-rank`, `--coordinator` or `--node-address` without `--nodes`, `--nodes` without
/// `--coordinator`, a rank out of range, or an address that is not `HOST:PORT`.
pub fn group_member(args: &TrainArgs) -> Result<Option<GroupMember>, CliError> {
    if args.nodes <= 1 {
        let stray = [
            (args.node_rank != 0, "--node-rank"),
            (args.coordinator.is_some(), "--coordinator"),
            (args.node_address.is_some(), "--node-address"),
        ];
        if let Some((_, flag)) = stray.iter().find(|(given, _)| *given) {
            return Err(format!(
                "{flag} belongs to a group run: give --nodes N (2 or more) too, or leave it out"
            )
            .into());
        }
        return Ok(None);
    }
    let coordinator = args.coordinator.as_deref().ok_or(
        "--nodes needs --coordinator HOST:PORT: the address rank 0 serves the group's \
         coordinator at (every process gets the same)",
    )?;
    let settings = GroupSettings::new(
        args.nodes as usize,
        args.node_rank as usize,
        coordinator,
        args.node_address.as_deref(),
        Duration::from_secs(args.group_timeout),
    )?;
    Ok(Some(GroupMember {
        settings,
        settings_digest: settings_digest(args)?,
    }))
}

/// XXH3-128 of the settings that decide what is trained: `run_config.json`'s content without
/// the keys that do not (the output folder, the evaluation's settings, …).
fn settings_digest(args: &TrainArgs) -> Result<u128, CliError> {
    let mut settings = serde_json::to_value(args)?;
    if let Value::Object(map) = &mut settings {
        map.retain(|key, _| !IGNORED.contains(&key.as_str()));
    }
    Ok(xxh3_128(&serde_json::to_vec(&settings)?))
}

/// The group's coordinator, served by rank 0 as a child process (`rlora coordinator`), which
/// ends when this process ends: with this handle, or when its standard input closes, should
/// this process die.
pub struct Coordinator {
    child: Child,
}

impl Coordinator {
    /// Starts `program coordinator --port PORT` for `member`'s coordinator.
    ///
    /// # Errors
    /// The program cannot be started.
    pub fn start(program: &Path, member: &GroupMember) -> Result<Self, CliError> {
        let port = member.settings.coordinator_addr.port();
        let child = Command::new(program)
            .args([
                "coordinator",
                "--while-stdin-open",
                "--port",
                &port.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start the group's coordinator ({} coordinator --port {port}): {e}",
                    program.display()
                )
            })?;
        Ok(Self { child })
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        // Closing its standard input ends it too; killing it does not wait for it to notice.
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The private folder of a rank other than 0, for its checkpoints and logs, deleted when
/// dropped; with `--resume`, it holds a copy of the run's checkpoints from
/// `--output/checkpoint` (rank 0's), which the handshake then checks are the ones rank 0 resumes.
///
/// # Errors
/// The folder cannot be made, or `--resume` finds no checkpoint folder in `--output` (this
/// machine does not share it with rank 0's).
pub fn worker_folder(args: &TrainArgs) -> Result<TempDir, CliError> {
    let folder = tempfile::Builder::new()
        .prefix(&format!("rlora-rank-{}-", args.node_rank))
        .tempdir()
        .map_err(|e| format!("cannot make a folder for rank {}: {e}", args.node_rank))?;
    if args.resume {
        let source = args.output.join("checkpoint");
        let listing = std::fs::read_dir(&source).map_err(|e| {
            format!(
                "--resume: rank {} reads the run's checkpoints from {} ({e}): rank 0 writes \
                 them there; put --output on a file system every node shares, or copy the \
                 folder to this machine",
                args.node_rank,
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
