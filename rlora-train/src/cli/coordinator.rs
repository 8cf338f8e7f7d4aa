//! `rlora coordinator --port PORT`: a training group's coordinator, burn's collective
//! orchestrator, which introduces the processes of the group to each other. Rank 0 of
//! `rlora train --nodes N` starts one itself; run by hand, it serves until interrupted.

use std::net::TcpListener;

use clap::Args;

use super::CliError;

/// Arguments of `rlora coordinator`.
#[derive(Debug, Args)]
pub struct CoordinatorArgs {
    /// The port to serve on (every interface): the PORT of the group's --coordinator HOST:PORT.
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
/// The port is taken, or the runtime cannot start.
pub fn run_coordinator(args: &CoordinatorArgs) -> Result<(), CliError> {
    TcpListener::bind(("0.0.0.0", args.port)).map_err(|e| {
        format!(
            "--port {}: cannot serve the coordinator there: {e}",
            args.port
        )
    })?;
    if args.while_stdin_open {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            std::process::exit(0);
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the coordinator's runtime: {e}"))?;
    runtime.block_on(burn::collective::start_global_orchestrator(args.port));
    Ok(())
}
