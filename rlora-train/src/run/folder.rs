//! `rlora train --output DIR`: the folder of one run, which a new run may not take over unasked.
//!
//! [`claim`] locks the folder ([`RunLock`]) and then decides from what it holds:
//!
//! | the folder | no flag | `--resume` | `--overwrite` |
//! |---|---|---|---|
//! | new, empty, or without a run's files | a new run | error: nothing to resume | a new run |
//! | holds a run with a checkpoint | error naming the run's files | continue it, if its settings match | delete the run's files, then a new run |
//! | holds a run without a checkpoint | error: start it again with `--overwrite` | the same error | delete the run's files, then a new run |
//!
//! A run's files are those `rlora train` writes ([`RUN_ENTRIES`], `heads_*.png`); anything else in
//! the folder is never deleted. A folder whose only run files are `run_config.json` and
//! `base_fingerprint.json` holds a run that stopped before its first step (or was refused after
//! its model loaded), with nothing to lose: a new run takes it. Nothing is written or deleted
//! until every check has passed: [`claim`] only decides, and [`RunFolder::prepare`], called once
//! the model has loaded, deletes what the decision says.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::lock::{LOCK_FILE, RunLock};
use super::resume_check::{announcement, compare, refusal};
use super::{Failure, RunSpec};
use crate::trainer::latest_checkpoint;

/// The settings of the run in a folder.
pub const RUN_CONFIG_FILE: &str = "run_config.json";

/// The fingerprint of the base model a run trains on (checkpoints hold only the adapters).
pub const BASE_FINGERPRINT_FILE: &str = "base_fingerprint.json";

/// The files and folders of a run in its `--output` (besides `heads_<module>.png`).
pub const RUN_ENTRIES: [&str; 11] = [
    RUN_CONFIG_FILE,
    BASE_FINGERPRINT_FILE,
    "adapter",
    "checkpoint",
    "train",
    "valid",
    "eval.json",
    "eval.md",
    "loss.png",
    "head_similarity.png",
    "experiment.log",
];

/// The run files that a run writes before its first step: a folder with no others holds no
/// training yet.
const SETTINGS_ENTRIES: [&str; 2] = [RUN_CONFIG_FILE, BASE_FINGERPRINT_FILE];

/// A run's folder, locked for this process until dropped, and what [`RunFolder::prepare`] will
/// change in it.
#[derive(Debug)]
pub struct RunFolder {
    _lock: RunLock,
    dir: PathBuf,
    plan: Plan,
}

/// What a claimed folder needs before the run writes into it.
#[derive(Debug)]
enum Plan {
    /// Nothing: a new run.
    Nothing,
    /// `--overwrite`: delete these run entries of the earlier run.
    Replace(Vec<String>),
    /// `--resume` from this checkpoint epoch: delete the metric logs after it.
    Resume(usize),
}

/// Creates and locks `spec.output.output`, and checks it against `--resume` / `--overwrite` (see the
/// [module docs](self)); deletes nothing: [`RunFolder::prepare`] does, once every check has
/// passed.
///
/// # Errors
/// The folder is in use by another run (naming its process id), holds a run and neither flag is
/// given, has nothing to resume, or holds a run whose settings differ in ways a resume cannot
/// apply (a diff of them); or a file cannot be read (naming it and the reason).
pub fn claim(spec: &RunSpec) -> Result<RunFolder, Failure> {
    let dir = &spec.output.output;
    if dir.exists() && !dir.is_dir() {
        return Err(format!("--output {} is a file, not a folder", dir.display()).into());
    }
    if spec.output.resume && !dir.exists() {
        return Err(format!(
            "--resume: {} does not exist; there is nothing to resume",
            dir.display()
        )
        .into());
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let lock = RunLock::acquire(dir)?;
    let run = run_entries(dir)?;
    let started = run.iter().any(|e| !SETTINGS_ENTRIES.contains(&e.as_str()));
    let checkpoint = latest_checkpoint(dir);
    let plan = if spec.output.resume {
        Plan::Resume(resumable(spec, &run, started)?)
    } else if started && spec.output.overwrite {
        Plan::Replace(run)
    } else if started && checkpoint.is_none() {
        return Err(format!(
            "--output {} holds another run ({}) without a checkpoint, so there is nothing to \
             resume: add --overwrite to replace it (its files only), or choose another --output",
            dir.display(),
            run.join(", ")
        )
        .into());
    } else if started {
        return Err(format!(
            "--output {} holds another run ({}): add --resume to continue it, --overwrite to \
             replace it, or choose another --output",
            dir.display(),
            run.join(", ")
        )
        .into());
    } else {
        Plan::Nothing
    };
    Ok(RunFolder {
        _lock: lock,
        dir: dir.clone(),
        plan,
    })
}

impl RunFolder {
    /// Makes the folder ready for the run, once every check has passed (the model has loaded):
    /// with `--overwrite`, deletes the earlier run's files; with `--resume`, the metric logs
    /// after its checkpoint (the resumed run writes them again).
    ///
    /// # Errors
    /// A file cannot be deleted (naming it and the reason).
    pub fn prepare(&mut self) -> Result<(), Failure> {
        match std::mem::replace(&mut self.plan, Plan::Nothing) {
            Plan::Nothing => Ok(()),
            Plan::Resume(epoch) => discard_logs_after(&self.dir, epoch),
            Plan::Replace(run) => {
                for entry in &run {
                    remove(&self.dir.join(entry))?;
                }
                println!(
                    "--overwrite: deleted the earlier run in {} ({})",
                    self.dir.display(),
                    run.join(", ")
                );
                Ok(())
            }
        }
    }
}

/// The checkpoint epoch that `--resume` continues from, once the saved settings are checked
/// against `spec` (printing the changes it applies); `run` is the folder's run entries, and
/// `started` whether any of them is more than the settings.
fn resumable(spec: &RunSpec, run: &[String], started: bool) -> Result<usize, Failure> {
    let dir = &spec.output.output;
    let file = dir.join(RUN_CONFIG_FILE);
    if !file.is_file() {
        return Err(format!(
            "--resume: {} holds no run (no {RUN_CONFIG_FILE}), so there is nothing to resume; \
             run without --resume to start a new run there",
            dir.display()
        )
        .into());
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let saved: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let (applied, refused) = compare(&saved, &serde_json::to_value(spec)?);
    if !refused.is_empty() {
        return Err(refusal(&file, &refused).into());
    }
    let Some(epoch) = latest_checkpoint(dir) else {
        let advice = if started {
            format!(
                "start the run again with --overwrite (which deletes its files: {})",
                run.join(", ")
            )
        } else {
            "run without --resume to start it".to_string()
        };
        return Err(format!(
            "--resume: {} has no checkpoint yet (none in {}), so there is nothing to resume: \
             {advice}",
            dir.display(),
            dir.join("checkpoint").display()
        )
        .into());
    };
    if let Some(line) = announcement(&applied) {
        println!("{line}");
    }
    Ok(epoch)
}

/// The names of the run's entries in `dir` ([`RUN_ENTRIES`] and `heads_*.png`), sorted.
fn run_entries(dir: &Path) -> Result<Vec<String>, Failure> {
    let listing = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names = Vec::new();
    for entry in listing {
        let name = entry
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .file_name()
            .to_string_lossy()
            .to_string();
        let heat_map = name.starts_with("heads_") && name.ends_with(".png");
        if name != LOCK_FILE && (RUN_ENTRIES.contains(&name.as_str()) || heat_map) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Deletes the metric logs of the epochs after `epoch` (`train/epoch-N`, `valid/epoch-N`,
/// `N > epoch`): a run killed after its last checkpoint leaves some, and the resumed run logs
/// those epochs again, every step exactly once.
fn discard_logs_after(dir: &Path, epoch: usize) -> Result<(), Failure> {
    for split in ["train", "valid"] {
        let Ok(listing) = std::fs::read_dir(dir.join(split)) else {
            continue;
        };
        for entry in listing.flatten() {
            let later = entry
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("epoch-"))
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > epoch);
            if later {
                remove(&entry.path())?;
            }
        }
    }
    Ok(())
}

/// Deletes a file or a folder with what it holds.
fn remove(path: &Path) -> Result<(), Failure> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    removed.map_err(|e| format!("cannot delete {}: {e}", path.display()).into())
}
