//! `rlora launch --nprocs N -- <train flags>`: a training group of N processes on this machine
//! (as `torchrun --standalone --nproc-per-node N`), for one machine with several GPUs and for
//! testing: it picks a free coordinator port on 127.0.0.1, starts `rlora train` as ranks
//! `0..N` with `--nodes N --node-rank I --coordinator 127.0.0.1:PORT`, forwards their output
//! line by line behind `[rank I]`, and fails fast: when one rank fails or dies, it stops the
//! others and says which one ended how.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::Duration;

use clap::Args;

use super::CliError;

/// How often the ranks are checked.
const POLL: Duration = Duration::from_millis(100);

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
    /// services take the 2 × N ports after them) (default: free ports).
    #[arg(long)]
    pub port: Option<u16>,
    /// `rlora train`'s flags, after `--` (`train` itself may lead them).
    #[arg(last = true, required = true, value_name = "TRAIN FLAGS")]
    pub train: Vec<String>,
}

/// Runs the group with `program` (the `rlora` executable) and waits for it.
///
/// # Errors
/// A group flag among the train flags, no free ports, a rank that cannot start, or a rank that
/// failed or died (the others are stopped first).
pub fn run_launch(args: &LaunchArgs, program: &Path) -> Result<(), CliError> {
    let flags: Vec<&String> = match args.train.split_first() {
        Some((first, rest)) if first == "train" => rest.iter().collect(),
        _ => args.train.iter().collect(),
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
    let port = match args.port {
        Some(port) => port,
        None => free_ports(2 + 2 * nprocs)?,
    };
    let mut ranks: Vec<Rank> = Vec::new();
    for rank in 0..nprocs {
        let mut command = Command::new(program);
        command
            .arg("train")
            .args(&flags)
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
    let result = supervise(&mut ranks);
    for rank in ranks {
        rank.join_output();
    }
    result
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

/// Waits until every rank has ended well, or one has not: then stops the others.
fn supervise(ranks: &mut [Rank]) -> Result<(), CliError> {
    loop {
        for index in 0..ranks.len() {
            if ranks[index].status.is_some() {
                continue;
            }
            let status = ranks[index]
                .child
                .try_wait()
                .map_err(|e| format!("rank {}: {e}", ranks[index].rank))?;
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
                return Err(format!("rank {} {}{others}", ranks[index].rank, ended(status)).into());
            }
        }
        if ranks.iter().all(|r| r.status.is_some()) {
            return Ok(());
        }
        std::thread::sleep(POLL);
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

/// `failed (exit status 1)` or `was killed (signal 9)`.
fn ended(status: ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("was killed (signal {signal})");
        }
    }
    format!("failed ({status})")
}

/// A port `p` such that `p ..= p + count − 1` are all free on every interface.
fn free_ports(count: usize) -> Result<u16, CliError> {
    for _ in 0..50 {
        let first = TcpListener::bind(("0.0.0.0", 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("cannot find a free port: {e}"))?
            .port();
        if usize::from(first) + count > usize::from(u16::MAX) {
            continue;
        }
        let all_free = (0..count as u16).all(|i| TcpListener::bind(("0.0.0.0", first + i)).is_ok());
        if all_free {
            return Ok(first);
        }
    }
    Err(format!("found no {count} consecutive free ports: give --port").into())
}
