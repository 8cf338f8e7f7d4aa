//! Exchanges between two processes through burn's collective engine, made as `rlora train
//! --nodes 2` makes them ([`ProcessGroup::all_reduce_sum`]: a registration, a ring all-reduce
//! and a finish per exchange, on two channels in turn), counted until one fails: how many
//! exchanges a failure takes, and what failed.
//!
//! ```sh
//! cargo run --release -p rlora-train --example exchange_soak -- [--exchanges 2000] [--floats 176641] [--load THREADS] [--engine-threads 1] [--no-introduction]
//! ```
//!
//! The program starts the group's coordinator and two ranks as children of itself, on free
//! ports; when an exchange fails (burn's engine cannot go on in that process), it stops the
//! attempt and starts a new one on new ports, until the ranks have made `--exchanges` in all.
//! `--load N` keeps N threads of this process busy meanwhile, as other work on the machine
//! would. The ranks are introduced as training's handshake introduces them (each exchange then
//! waits for the peer's tensor port to listen), unless `--no-introduction`. burn's engine runs
//! on `--engine-threads` worker threads in each rank (1, as `rlora train` in a group runs it;
//! [`ENGINE_THREADS_VARIABLE`]); `0` leaves tokio's default, a thread per core. It prints each
//! failure (after how many exchanges, and each rank's first panic message) and a summary line.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use burn::backend::Flex;
use burn::tensor::Tensor;
use rlora_train::cli::{CoordinatorArgs, run_coordinator};
use rlora_train::run::free_ports;
use rlora_train::trainer::{ENGINE_THREADS_VARIABLE, GroupSettings, ProcessGroup};

/// The bucket of the tiny base's R-LoRA run in the README's measurements: 176,640 adapter floats
/// and the loss.
const BUCKET_FLOATS: usize = 176_641;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("coordinator") => coordinator(&args[1..]),
        Some("rank") => rank(&args[1..]),
        _ => soak(&args),
    };
    if let Err(error) = result {
        eprintln!("exchange_soak: {error}");
        std::process::exit(1);
    }
}

/// The value of flag `name` in `args`, parsed, or `default`.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{name} needs a number")),
    }
}

/// The parent: attempts until the ranks have made `--exchanges` exchanges.
fn soak(args: &[String]) -> Result<(), String> {
    let total: u64 = flag(args, "--exchanges", 2000)?;
    let floats: usize = flag(args, "--floats", BUCKET_FLOATS)?;
    let load: usize = flag(args, "--load", 0)?;
    let engine_threads: usize = flag(args, "--engine-threads", 1)?;
    let introduce = !args.iter().any(|a| a == "--no-introduction");
    let program = std::env::current_exe().map_err(|e| e.to_string())?;
    let logs = tempfile::tempdir().map_err(|e| e.to_string())?;
    let busy = Arc::new(AtomicBool::new(true));
    let spinners: Vec<_> = (0..load)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while busy.load(Ordering::Relaxed) {
                    x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                }
            })
        })
        .collect();
    let started = Instant::now();
    let (mut done, mut failures) = (0u64, 0u64);
    while done < total {
        let (made, failure, port) = attempt(
            &program,
            total - done,
            floats,
            introduce,
            engine_threads,
            logs.path(),
        )?;
        done += made;
        if let Some(cause) = failure {
            failures += 1;
            // Exchange k of a group uses channel k mod 2: the coordinator's port P + channel,
            // rank r's tensor port P + 2 + 2 r + channel.
            println!(
                "failure {failures} at exchange {} (the group's exchange {}, channel {}; \
                 coordinator port {port}, rank 0's tensor ports {}, rank 1's {}): {cause}",
                done + 1,
                made + 1,
                made % 2,
                format_args!("{}/{}", port + 2, port + 3),
                format_args!("{}/{}", port + 4, port + 5),
            );
        }
    }
    busy.store(false, Ordering::Relaxed);
    for spinner in spinners {
        let _ = spinner.join();
    }
    let per_failure = match failures {
        0 => format!("none in {done}"),
        n => format!("{:.0}", done as f64 / n as f64),
    };
    println!(
        "exchanges {done}, floats {floats}, load threads {load}, engine threads {}, failures \
         {failures}, exchanges per failure {per_failure}, {:.1} ms per exchange, {:.0} s",
        match engine_threads {
            0 => "a core each".to_string(),
            n => n.to_string(),
        },
        started.elapsed().as_secs_f64() * 1e3 / done as f64,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One group: a coordinator and two ranks making at most `count` exchanges, burn's engine on
/// `engine_threads` worker threads (0: tokio's default); the exchanges both ranks completed, the
/// cause if one failed, and the coordinator's port.
fn attempt(
    program: &Path,
    count: u64,
    floats: usize,
    introduce: bool,
    engine_threads: usize,
    logs: &Path,
) -> Result<(u64, Option<String>, u16), String> {
    let port = free_ports(6).map_err(|e| e.to_string())?;
    let mut coordinator = Command::new(program)
        .args(["coordinator", &port.to_string()])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut ranks: Vec<(Child, std::path::PathBuf)> = Vec::new();
    for rank in 0..2 {
        let log = logs.join(format!("rank-{rank}.err"));
        let mut command = Command::new(program);
        match engine_threads {
            0 => command.env_remove(ENGINE_THREADS_VARIABLE),
            n => command.env(ENGINE_THREADS_VARIABLE, n.to_string()),
        };
        let child = command
            .args(["rank", &rank.to_string(), &port.to_string()])
            .args([count, floats as u64, u64::from(introduce)].map(|n| n.to_string()))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| e.to_string())?;
        ranks.push((child, log));
    }
    let progress: Vec<_> = ranks
        .iter_mut()
        .map(|(child, _)| {
            let out = child.stdout.take().expect("piped");
            std::thread::spawn(move || {
                BufReader::new(out)
                    .lines()
                    .map_while(Result::ok)
                    .filter(|l| l.starts_with("exchanged"))
                    .count() as u64
            })
        })
        .collect();
    let mut children: Vec<&mut Child> = ranks.iter_mut().map(|(child, _)| child).collect();
    let statuses = wait_or_kill(&mut children);
    let made = progress
        .into_iter()
        .map(|p| p.join().unwrap_or(0))
        .min()
        .unwrap_or(0);
    drop(coordinator.stdin.take());
    let _ = coordinator.kill();
    let _ = coordinator.wait();
    if statuses.iter().all(|ok| *ok) {
        return Ok((made, None, port));
    }
    let cause = ranks
        .iter()
        .enumerate()
        .map(|(rank, (_, log))| {
            let said = first_panic(log).unwrap_or_else(|| "nothing".into());
            format!("[rank {rank}: {said}]")
        })
        .collect::<Vec<_>>()
        .join(" ");
    Ok((made, Some(cause), port))
}

/// Waits for every rank; whether each succeeded. Once one has failed, the others get 60 s to
/// stop on their own (the group's time-out is 30 s) before they are killed; a rank that is
/// still making exchanges is never killed.
fn wait_or_kill(ranks: &mut [&mut Child]) -> Vec<bool> {
    let mut statuses: Vec<Option<bool>> = vec![None; ranks.len()];
    let mut deadline: Option<Instant> = None;
    while statuses.iter().any(Option::is_none) {
        for (rank, status) in ranks.iter_mut().zip(&mut statuses) {
            if status.is_none()
                && let Ok(Some(exit)) = rank.try_wait()
            {
                *status = Some(exit.success());
                if !exit.success() && deadline.is_none() {
                    deadline = Some(Instant::now() + Duration::from_secs(60));
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            for (rank, status) in ranks.iter_mut().zip(&mut statuses) {
                if status.is_none() {
                    let _ = rank.kill();
                    let _ = rank.wait();
                    *status = Some(false);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    statuses.into_iter().flatten().collect()
}

/// The first panic in a rank's standard error (a warning line of burn's engine, as
/// `quiet_engine_output` prints it, or a panic report), else its last line.
fn first_panic(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    if let Some(line) = text
        .lines()
        .find(|l| l.starts_with("warning: burn's collective engine"))
    {
        return Some(line.to_string());
    }
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(at) = line.find("panicked at ") {
            let place = line[at + "panicked at ".len()..].trim_end_matches(':');
            let place = place.rsplit("/src/").next().unwrap_or(place);
            let message = lines.next().unwrap_or("");
            return Some(format!("{place}: {message}"));
        }
    }
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_string)
}

/// `coordinator PORT`: the group's coordinator as `rlora coordinator --port PORT
/// --while-stdin-open` serves it.
fn coordinator(args: &[String]) -> Result<(), String> {
    let port = args
        .first()
        .and_then(|p| p.parse().ok())
        .ok_or("coordinator PORT")?;
    run_coordinator(&CoordinatorArgs {
        port,
        while_stdin_open: true,
    })
    .map_err(|e| e.to_string())
}

/// `rank R PORT COUNT FLOATS INTRODUCE`: joins the group (introduced when INTRODUCE is 1, as
/// training's handshake does) and makes COUNT exchanges of FLOATS floats,
/// checking each sum and printing `exchanged K` after each.
fn rank(args: &[String]) -> Result<(), String> {
    let number = |i: usize| -> Result<u64, String> {
        args.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| "rank R PORT COUNT FLOATS INTRODUCE".to_string())
    };
    let (rank, port, count, floats) = (number(0)?, number(1)?, number(2)?, number(3)?);
    let introduced = number(4)? == 1;
    let settings = GroupSettings::new(
        2,
        rank as usize,
        &format!("127.0.0.1:{port}"),
        None,
        Duration::from_secs(30),
    )
    .map_err(|e| e.to_string())?;
    let device = Default::default();
    let group = ProcessGroup::<Flex>::join(settings, &device, None).map_err(|e| e.to_string())?;
    if introduced {
        group
            .introduce("the introduction")
            .map_err(|e| e.to_string())?;
    }
    for k in 0..count {
        let value = (k % 1024) as f32;
        let tensor = Tensor::<Flex, 1>::full([floats as usize], value * (rank + 1) as f32, &device);
        let sum = group
            .all_reduce_sum(tensor, &format!("exchange {}", k + 1))
            .map_err(|e| e.to_string())?;
        let first: f32 = sum.slice(0..1).into_scalar();
        if first != value * 3.0 {
            return Err(format!(
                "exchange {}: sum {first}, not {}",
                k + 1,
                value * 3.0
            ));
        }
        // Not held across exchanges: burn's engine prints on stdout too.
        let mut out = std::io::stdout().lock();
        writeln!(out, "exchanged {}", k + 1).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    Ok(())
}
