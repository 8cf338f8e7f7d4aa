//! `rlora coordinator --port PORT`: a training group's coordinator, burn's collective
//! orchestrator, which introduces the processes of the group to each other at every exchange,
//! on PORT and PORT + 1 (the group's two exchange channels). Rank 0 of `rlora train --nodes N`
//! starts one itself; run by hand, it serves until interrupted.
//!
//! burn-collective 0.21's orchestrator never closes a finished registration's `/response`
//! connection (its handler waits on the session's channel, never on the socket, and sessions are
//! never removed), so the coordinator holds two more descriptors per exchange, one per update of
//! training, for as long as it runs: at a soft limit of 256 open files it stopped answering at
//! exchange 121 (`accept error: Too many open files`), and at the usual 1,024 it would stop near
//! update 500. The coordinator therefore raises its soft limit to the hard one when it starts,
//! and says how many updates that leaves when the hard limit is low.

use clap::Args;

use super::CliError;
use crate::run::taken_port;

/// Arguments of `rlora coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// The first of the two ports to serve on (every interface): the PORT of the group's
    /// --coordinator HOST:PORT.
    #[arg(long)]
    pub port: u16,
    /// End when standard input closes (how rank 0 ties its coordinator's life to its own).
    #[arg(long)]
    pub while_stdin_open: bool,
}

/// Serves the coordinator until the process is interrupted (or, with `--while-stdin-open`,
/// until its standard input closes).
///
/// # Errors
/// A port is taken, or the runtime cannot start.
pub fn run_coordinator(args: &CoordinatorArgs) -> Result<(), CliError> {
    let next = args
        .port
        .checked_add(1)
        .ok_or("--port 65535 has no next port")?;
    let ports = [args.port, next];
    if let Some((port, e)) = taken_port(args.port, 2) {
        return Err(format!("cannot serve the coordinator on port {port}: {e}").into());
    }
    if args.while_stdin_open {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    raise_open_file_limit();
    crate::trainer::quiet_engine_output();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the coordinator's runtime: {e}"))?;
    runtime.block_on(async {
        tokio::join!(
            burn::collective::start_global_orchestrator(ports[0]),
            burn::collective::start_global_orchestrator(ports[1]),
        )
    });
    Ok(())
}

/// The hard limit of open files under which the coordinator warns.
const LOW_HARD_LIMIT: u64 = 65_536;

/// Raises this process's soft limit of open files to its hard limit; warns (on stderr) with the
/// updates the limit leaves when the hard limit is below [`LOW_HARD_LIMIT`] (burn's coordinator
/// keeps one descriptor per process and exchange).
#[cfg(unix)]
fn raise_open_file_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let raised = Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    };
    let effective = match setrlimit(Resource::Nofile, raised) {
        Ok(()) => limit.maximum,
        Err(_) => limit.current,
    };
    if let Some(files) = effective.filter(|&n| n < LOW_HARD_LIMIT) {
        eprintln!(
            "rlora coordinator: warning: burn's coordinator keeps one open file per process and \
             update, and this process may open {files}: a group of N processes stops after \
             about {files}/N updates; raise the hard limit (`ulimit -Hn`) for longer runs, or \
             let `rlora launch --max-restarts` restart the group"
        );
    }
}

#[cfg(not(unix))]
fn raise_open_file_limit() {}
