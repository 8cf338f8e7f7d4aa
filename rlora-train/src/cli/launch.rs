//! `rlora launch --nprocs N -- <train flags>`: a training group of N processes on this machine
//! (as `torchrun --standalone --nproc-per-node N`), for one machine with several GPUs and for
//! testing: it picks a free coordinator port on 127.0.0.1, starts `rlora train` as ranks
//! `0..N` with `--nodes N --node-rank I --coordinator 127.0.0.1:PORT`, forwards their output
//! line by line behind `[rank I]`, and fails fast: when one rank fails or dies, it stops the
//! others and says which one ended how. As torchrun's `--max-restarts`, a group whose run had
//! started (rank 0 had claimed `--output`) then starts again, all ranks, from the run's last
//! checkpoint (`--resume`; `--overwrite` of its own files when it had none yet), at most
//! `--max-restarts` times, each restart said with its cause; but not after a rank stopped on
//! values that are not finite (exit status 3), which the same flags meet again. SIGINT or
//! SIGTERM to the launcher is passed on to its ranks, and the launcher ends once they have,
//! without a restart. The ranks make their private folders in one of the launcher's, which it
//! removes once they have all ended, however they ended.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Args;
use tempfile::TempDir;

use super::CliError;
use super::launch_signals::{LaunchSignals, name, pass_on};
use crate::run::{
    NOT_FINITE_EXIT_STATUS, RANK_FOLDERS_VARIABLE, RUN_CONFIG_FILE, ended, free_ports, started_run,
    taken_port,
};
use crate::trainer::latest_checkpoint;

/// How often the ranks are checked.
const POLL: Duration = Duration::from_millis(100);

/// How long ranks that were passed a signal have to end before they are killed.
const SIGNAL_GRACE: Duration = Duration::from_secs(10);

/// How long a restart with `--port` waits for the group's ports to be free again (rank 0's
/// coordinator ends once rank 0 has).
const PORTS_GRACE: Duration = Duration::from_secs(10);

/// The starts of the lines burn's collective engine prints on stdout at each of its connections
/// to the coordinator (every exchange), which the launcher does not forward.
const ENGINE_CHATTER: [&str; 2] = ["Connecting to ws://", "Failed to connect to ws://"];

/// The flags the launcher gives each rank itself.
const GROUP_FLAGS: [&str; 4] = ["--nodes", "--node-rank", "--coordinator", "--node-address"];

/// Arguments of `rlora launch`.
#[derive(Debug, Args)]
pub struct LaunchArgs {
    /// Processes to start: ranks 0..N of one group.
    #[arg(long, value_parser = clap::value_parser!(u32).range(2..))]
    pub nprocs: u32,
    /// The coordinator's port on 127.0.0.1 (it serves this one and the next; the ranks' tensor
    /// services take the 2 × N ports after them) (default: free ports, drawn below those the
    /// system gives outgoing connections).
    #[arg(long)]
    pub port: Option<u16>,
    /// Times the group starts again after a rank failed, from the run's last checkpoint (as
    /// torchrun's flag; not after a loss or gradients that are not finite, which the same flags
    /// meet again); 0: fail at once.
    #[arg(long, default_value_t = 3)]
    pub max_restarts: u32,
    /// `rlora train`'s flags, after `--` (`train` itself may lead them).
    #[arg(last = true, required = true, value_name = "TRAIN FLAGS")]
    pub train: Vec<String>,
}

/// Runs the group with `program` (the `rlora` executable) and waits for it, starting it again
/// after a failure while `--max-restarts` allows.
///
/// # Errors
/// A group flag among the train flags, `--port` with a port of the group's taken, no free
/// ports, a rank that cannot start, a rank that failed or died (the others are stopped first)
/// before the run started or after the last restart, or SIGINT or SIGTERM (passed on to the
/// ranks, which have ended).
pub fn run_launch(args: &LaunchArgs, program: &Path) -> Result<(), CliError> {
    let flags: Vec<String> = match args.train.split_first() {
        Some((first, rest)) if first == "train" => rest.to_vec(),
        _ => args.train.clone(),
    };
    if let Some(flag) = flags
        .iter()
        .find(|f| GROUP_FLAGS.iter().any(|g| f.split('=').next() == Some(*g)))
    {
        return Err(
            format!("{flag}: `rlora launch` gives each rank its group flags itself").into(),
        );
    }
    let nprocs = args.nprocs as usize;
    if let Some(port) = args.port {
        check_ports(port, nprocs)?;
    }
    let signals = LaunchSignals::catch()?;
    let folders = rank_folders()?;
    let mut attempt_flags = flags.clone();
    let mut restarts = 0;
    let result = loop {
        let ending = attempt(args, program, &attempt_flags, &signals, folders.path());
        let failure = match ending {
            Ok(()) => break Ok(()),
            Err(Ending::Stopped(error)) => break Err(error),
            Err(Ending::Failed(failure)) => failure,
        };
        let Some(run) = started_run(folders.path()) else {
            break Err(failure.into());
        };
        if restarts == args.max_restarts {
            let after = match restarts {
                0 => " (--max-restarts 0)".to_string(),
                n => format!(" (after {n} restarts, --max-restarts {n})"),
            };
            break Err(format!("{failure}{after}").into());
        }
        restarts += 1;
        let (again, how) = restart_flags(&flags, &run);
        eprintln!(
            "[launch] {failure}: restart {restarts} of {}, {how}",
            args.max_restarts
        );
        attempt_flags = again;
    };
    remove_rank_folders(folders);
    result
}

/// How one start of the group ended, when not well.
enum Ending {
    /// A rank failed or died (the others were stopped): a restart may help.
    Failed(String),
    /// A signal stopped the group, a rank stopped on values that are not finite (which a
    /// restart meets again), or the launcher could not start or watch the group.
    Stopped(CliError),
}

/// Starts the group once, on `--port` or on free ports, and waits for it.
fn attempt(
    args: &LaunchArgs,
    program: &Path,
    flags: &[String],
    signals: &LaunchSignals,
    folders: &Path,
) -> Result<(), Ending> {
    let nprocs = args.nprocs as usize;
    let port = match args.port {
        Some(port) => ports_free_again(port, nprocs),
        None => free_ports(2 + 2 * nprocs),
    }
    .map_err(Ending::Stopped)?;
    let mut ranks = start_ranks(program, flags, nprocs, port, folders).map_err(Ending::Stopped)?;
    let result = supervise(&mut ranks, signals);
    for rank in ranks {
        rank.join_output();
    }
    result
}

/// `--port` once the group's ports are free, waiting at most [`PORTS_GRACE`] for a coordinator
/// of an earlier start to end.
fn ports_free_again(port: u16, nprocs: usize) -> Result<u16, CliError> {
    let deadline = Instant::now() + PORTS_GRACE;
    loop {
        let checked = check_ports(port, nprocs);
        if checked.is_ok() || Instant::now() >= deadline {
            return checked;
        }
        std::thread::sleep(POLL);
    }
}

/// The flags of a restart of the run in `run` and how it goes on: `flags` without `--resume`
/// and `--overwrite`, then `--resume` when the run has a checkpoint, else `--overwrite` (the
/// folder holds only this launch's run, which had not reached its first checkpoint).
fn restart_flags(flags: &[String], run: &Path) -> (Vec<String>, String) {
    let mut again: Vec<String> = flags
        .iter()
        .filter(|f| !matches!(f.split('=').next(), Some("--resume" | "--overwrite")))
        .cloned()
        .collect();
    let how = match latest_checkpoint(run) {
        Some(epoch) => {
            again.push("--resume".into());
            let checkpoint = match checkpoint_every(run) {
                Some(every) => format!("the checkpoint of step {}", epoch * every),
                None => format!("checkpoint {epoch}"),
            };
            format!(
                "resuming from {checkpoint} in {}",
                run.join("checkpoint").display()
            )
        }
        None => {
            again.push("--overwrite".into());
            format!("from the start (no checkpoint yet in {})", run.display())
        }
    };
    (again, how)
}

/// Starts ranks `0..nprocs` of `program train FLAGS`, their coordinator on `port`, their
/// private folders in `folders`; if one cannot start, stops those started.
fn start_ranks(
    program: &Path,
    flags: &[String],
    nprocs: usize,
    port: u16,
    folders: &Path,
) -> Result<Vec<Rank>, CliError> {
    let mut ranks: Vec<Rank> = Vec::new();
    for rank in 0..nprocs {
        let mut command = Command::new(program);
        command
            .env(RANK_FOLDERS_VARIABLE, folders)
            .arg("train")
            .args(flags)
            .args([
                "--nodes",
                &nprocs.to_string(),
                "--node-rank",
                &rank.to_string(),
            ])
            .args(["--coordinator", &format!("127.0.0.1:{port}")]);
        match Rank::start(rank, command) {
            Ok(started) => ranks.push(started),
            Err(error) => {
                stop_all(&mut ranks);
                return Err(error);
            }
        }
    }
    Ok(ranks)
}

/// `port` when the group's ports (the coordinator's two, then two per rank) are free now.
fn check_ports(port: u16, nprocs: usize) -> Result<u16, CliError> {
    let count = 2 + 2 * nprocs;
    let last = usize::from(port) + count - 1;
    if last > usize::from(u16::MAX) {
        return Err(format!(
            "--port {port}: the group serves {count} ports from it, up to {last}, past 65535: \
             give a lower --port"
        )
        .into());
    }
    match taken_port(port, count as u16) {
        None => Ok(port),
        Some((taken, error)) => Err(format!(
            "--port {port}: port {taken} is in use ({error}): the group serves ports {port} to \
             {last} (the coordinator's two, then two per rank); give another --port, or leave \
             it out to pick free ports"
        )
        .into()),
    }
}

/// The folder where the ranks make their private folders.
fn rank_folders() -> Result<TempDir, CliError> {
    tempfile::Builder::new()
        .prefix("rlora-launch-")
        .tempdir()
        .map_err(|e| {
            format!(
                "cannot make a folder for the ranks in {}: {e}",
                std::env::temp_dir().display()
            )
            .into()
        })
}

/// Removes the ranks' folders (all ranks have ended), saying so if it cannot.
fn remove_rank_folders(folders: TempDir) {
    let path = folders.path().to_path_buf();
    if let Err(error) = folders.close() {
        eprintln!(
            "[launch] warning: cannot remove the ranks' folder {}: {error}",
            path.display()
        );
    }
}

/// `--checkpoint-every` of the run in `run`, as its `run_config.json` saved it.
fn checkpoint_every(run: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(run.join(RUN_CONFIG_FILE)).ok()?;
    let saved: serde_json::Value = serde_json::from_str(&text).ok()?;
    saved.get("checkpoint_every")?.as_u64().map(|n| n as usize)
}

/// One started rank and the threads that forward its output.
struct Rank {
    rank: usize,
    child: Child,
    forwarders: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl Rank {
    fn start(rank: usize, mut command: Command) -> Result<Self, CliError> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start rank {rank} ({command:?}): {e}"))?;
        eprintln!("[launch] rank {rank} is process {}", child.id());
        let prefix = format!("[rank {rank}] ");
        let mut forwarders = Vec::new();
        if let Some(out) = child.stdout.take() {
            forwarders.push(forward(out, prefix.clone(), false));
        }
        if let Some(err) = child.stderr.take() {
            forwarders.push(forward(err, prefix, true));
        }
        Ok(Self {
            rank,
            child,
            forwarders,
            status: None,
        })
    }

    fn join_output(self) {
        for forwarder in self.forwarders {
            let _ = forwarder.join();
        }
    }
}

/// Copies `stream` to this process's stdout (or stderr) line by line, each behind `prefix`, but
/// for burn's connection chatter.
fn forward(stream: impl Read + Send + 'static, prefix: String, to_stderr: bool) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            if ENGINE_CHATTER.iter().any(|start| text.starts_with(start)) {
                line.clear();
                continue;
            }
            let _ = if to_stderr {
                writeln!(std::io::stderr().lock(), "{prefix}{text}")
            } else {
                writeln!(std::io::stdout().lock(), "{prefix}{text}")
            };
            line.clear();
        }
    })
}

/// Waits until every rank has ended well, or one has not: then stops the others; or until a
/// signal comes: then passes it on and waits for the ranks.
fn supervise(ranks: &mut [Rank], signals: &LaunchSignals) -> Result<(), Ending> {
    loop {
        if let Some(signal) = signals.take() {
            return Err(Ending::Stopped(interrupted(ranks, signal, signals).into()));
        }
        for index in 0..ranks.len() {
            if ranks[index].status.is_some() {
                continue;
            }
            let status = ranks[index]
                .child
                .try_wait()
                .map_err(|e| Ending::Stopped(format!("rank {}: {e}", ranks[index].rank).into()))?;
            let Some(status) = status else {
                continue;
            };
            ranks[index].status = Some(status);
            if !status.success() {
                let stopped = stop_all(ranks);
                let others = if stopped.is_empty() {
                    String::new()
                } else {
                    format!("; stopped rank {}", join(&stopped))
                };
                let rank = ranks[index].rank;
                if status.code() == Some(i32::from(NOT_FINITE_EXIT_STATUS)) {
                    return Err(Ending::Stopped(
                        format!(
                            "rank {rank} stopped on values that are not finite (its error above \
                             says at which step, and how to go on with a lower --lr){others}; not \
                             restarted: the same flags meet them again"
                        )
                        .into(),
                    ));
                }
                return Err(Ending::Failed(format!(
                    "rank {rank} {}{others}",
                    ended(status)
                )));
            }
        }
        if ranks.iter().all(|r| r.status.is_some()) {
            return Ok(());
        }
        std::thread::sleep(POLL);
    }
}

/// Passes `signal` on to the ranks still running and waits for them (passing on the signals
/// that come meanwhile), killing those still running after [`SIGNAL_GRACE`]; says how each
/// ended.
fn interrupted(ranks: &mut [Rank], signal: i32, signals: &LaunchSignals) -> String {
    eprintln!(
        "[launch] {}: passing it on to the ranks and waiting for them",
        name(signal)
    );
    pass_on_all(ranks, signal);
    wait_for_ranks(ranks, signals);
    let killed = stop_all(ranks);
    format!(
        "interrupted by {}, which was passed on to every rank: {}",
        name(signal),
        endings(ranks, &killed)
    )
}

/// Waits at most [`SIGNAL_GRACE`] for the ranks still running to end, passing on the signals
/// that come meanwhile.
fn wait_for_ranks(ranks: &mut [Rank], signals: &LaunchSignals) {
    let deadline = Instant::now() + SIGNAL_GRACE;
    while ranks.iter().any(|r| r.status.is_none()) && Instant::now() < deadline {
        if let Some(again) = signals.take() {
            pass_on_all(ranks, again);
        }
        for rank in ranks.iter_mut().filter(|r| r.status.is_none()) {
            rank.status = rank.child.try_wait().ok().flatten();
        }
        std::thread::sleep(POLL);
    }
}

/// `rank 0 was killed (signal 2), rank 1 still ran 10 s after it and was killed`: how each rank
/// ended, those in `killed` killed after the grace.
fn endings(ranks: &[Rank], killed: &[usize]) -> String {
    let ended_alone = ranks
        .iter()
        .filter(|r| !killed.contains(&r.rank))
        .map(|r| match r.status {
            Some(status) => format!("rank {} {}", r.rank, ended(status)),
            None => format!("rank {} could not be waited for", r.rank),
        });
    let grace = SIGNAL_GRACE.as_secs();
    let killed = killed
        .iter()
        .map(|rank| format!("rank {rank} still ran {grace} s after it and was killed"));
    ended_alone.chain(killed).collect::<Vec<_>>().join(", ")
}

/// Sends `signal` to every rank still running (a failure is said, and the rank is killed later
/// if it does not end).
fn pass_on_all(ranks: &[Rank], signal: i32) {
    for rank in ranks.iter().filter(|r| r.status.is_none()) {
        if let Err(error) = pass_on(&rank.child, signal) {
            eprintln!(
                "[launch] cannot pass {} on to rank {}: {error}",
                name(signal),
                rank.rank
            );
        }
    }
}

/// Kills the ranks still running; returns their numbers.
fn stop_all(ranks: &mut [Rank]) -> Vec<usize> {
    let mut stopped = Vec::new();
    for rank in ranks.iter_mut().filter(|r| r.status.is_none()) {
        let _ = rank.child.kill();
        rank.status = rank.child.wait().ok();
        stopped.push(rank.rank);
    }
    stopped
}

fn join(ranks: &[usize]) -> String {
    ranks
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
