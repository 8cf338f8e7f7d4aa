//! `rlora coordinator --port PORT`: a training group's coordinator, burn's collective
//! orchestrator, which introduces the processes of the group to each other at every exchange,
//! on PORT and PORT + 1 (the group's two exchange channels). Rank 0 of `rlora train --nodes N`
//! starts one itself; run by hand, it serves until interrupted.

use clap::Args;

use super::CliError;
use super::ports::taken_port;

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
