//! The repository's chores: `cargo xtask <task>`.
//!
//! - `ci`: what `.ci/run` runs: formatting, the README's test command, clippy, the API docs of
//!   `rlora-llama` and `rlora-train` (rustdoc's warnings, broken links among them, are errors),
//!   clippy on every GPU backend feature, a compile check of the `ddp` build (CUDA through burn's DDP
//!   strategy), and on wgpu, when a Vulkan driver is present (required when `CI` is set), the
//!   backend-generic tests and training steps checked against the CPU backend.
//! - `wgpu-group`: a group of two processes on wgpu against one process (outside CI: each process
//!   tunes its kernels anew on the software GPU).
//! - `soak`: exchanges between two processes until burn's collective engine fails, then long
//!   group runs under `rlora launch`'s restarts ([`soak`]).
//! - `fixtures`: regenerates the golden files with the PyTorch reference scripts.
//! - `bench`: runs the benchmarks, which print their ratio tables; `bench --vs-pytorch`, rlora's
//!   benchmark beside its PyTorch twin ([`vs_pytorch`]).
//! - `gpu-bundle`: the GPU check as a folder to carry to a machine with an NVIDIA GPU and no Rust
//!   toolchain: CUDA builds of the command, the example, the benchmark and the GPU tests, their
//!   fixtures and the runner `run.sh` ([`gpu_bundle`]).
//! - `pretrain`: rebuilds the tiny base model in `assets/tiny-base` (about 10 minutes on 2 cores).
//! - `experiment`: the paper's comparison in miniature (`rlora experiment`, release build), into
//!   `experiments/<date>`; further arguments go to `rlora experiment`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod gpu_bundle;
mod soak;
mod vs_pytorch;

const USAGE: &str =
    "usage: cargo xtask <ci | fixtures | bench | gpu-bundle | wgpu-group | soak | pretrain | experiment [ARGS]>

  ci        fmt check, cargo test --workspace, clippy, the API docs (no rustdoc warning),
            clippy of the GPU features, cargo check
            of the ddp build, on wgpu (Vulkan, fused and autotuned): the backend-generic
            tests and 3 training steps against the CPU; each stage says how long it took
  wgpu-group
            a group of 2 processes on wgpu against 1 process (about 30 minutes: not in CI)
  soak [--exchanges 3000] [--runs 3] [--steps 1500] [--max-restarts 20] [--no-introduction]
            exchanges between 2 processes counted until burn's engine fails, then group runs of
            the tiny base under rlora launch's restarts: finished, restarts, wall time (release)
  fixtures  regenerate rlora/tests/fixtures with xtask/fixtures/rlora_reference.py
            (needs: pip install torch==2.15.0 safetensors==0.8.0 numpy==2.4.6)
  bench     cargo bench -p rlora -p rlora-train (prints time ratios against the baseline)
  bench --vs-pytorch [--shapes bench,qwen2.5-0.5b] [--dtypes f32,bf16] [--iters N] [--batch N] [--seq N]
            rlora's benchmark and its PyTorch twin (transformers + PEFT in a virtual environment
            under target/, created on first use) case by case, with their ratios
  gpu-bundle [--out DIR]
            build the GPU check for CUDA into one folder (default gpu-bundle/, under 60 MiB):
            the tests, 400 updates of the example, the benchmark beside PyTorch on the GPU;
            run it with DIR/run.sh on a machine with an NVIDIA GPU (bash and python3 suffice)
  pretrain  rebuild assets/tiny-base, the tiny byte-level base the examples fine-tune
  experiment
            LoRA, HydraLoRA, its ablations and R-LoRA over 3 seeds on the built-in suite
            (`rlora experiment ARGS`, release build), report in experiments/<date>";

/// The GPU backend features of the root package that CI compiles (it cannot run CUDA here).
/// `metal` needs an Apple target and is left to macOS builds.
const GPU_FEATURES: &str = "rlora-examples/wgpu,rlora-examples/vulkan,rlora-examples/cuda";

fn main() -> ExitCode {
    let task = std::env::args().nth(1);
    let result = match task.as_deref() {
        Some("ci") => ci(),
        Some("fixtures") => fixtures(),
        Some("bench") => bench(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("wgpu-group") => wgpu_group(),
        Some("soak") => soak::soak(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("gpu-bundle") => gpu_bundle::gpu_bundle(&std::env::args().skip(2).collect::<Vec<_>>()),
        Some("pretrain") => run(
            "pretraining the tiny base",
            rlora_release().args([
                "pretrain",
                "--output",
                "assets/tiny-base",
                "--steps",
                "1000",
            ]),
        ),
        Some("experiment") => run(
            "the experiment",
            rlora_release()
                .arg("experiment")
                .args(std::env::args().skip(2)),
        ),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask bench [--vs-pytorch [ARGS]]`.
fn bench(args: &[String]) -> Result<(), String> {
    match args.split_first() {
        None => run(
            "benchmarks",
            cargo().args(["bench", "-p", "rlora", "-p", "rlora-train"]),
        ),
        Some((flag, rest)) if flag == "--vs-pytorch" => {
            vs_pytorch::vs_pytorch(&vs_pytorch::Plan::parse(rest)?)
        }
        Some((other, _)) => Err(format!("unknown argument `{other}` for bench\n{USAGE}")),
    }
}

fn ci() -> Result<(), String> {
    run("formatting", cargo().args(["fmt", "--all", "--check"]))?;
    run(
        "tests (the README's test command)",
        cargo().args(["test", "--workspace"]),
    )?;
    run(
        "lints",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    run(
        "the API docs of rlora-llama and rlora-train, without broken links",
        cargo()
            .args(["doc", "-p", "rlora-llama", "-p", "rlora-train", "--no-deps"])
            .env("RUSTDOCFLAGS", "-D warnings"),
    )?;
    // The GPU builds of the examples and of `rlora-train` (whose `gpu_training` test only
    // compiles with a GPU feature), linted as the CPU build is.
    run(
        "GPU backends compile, without a lint",
        cargo().args([
            "clippy",
            "-p",
            "rlora-examples",
            "-p",
            "rlora-train",
            "--all-targets",
            "--features",
            GPU_FEATURES,
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    // burn's `distributed` feature makes autodiff require a backend with collective operations,
    // which the CPU reference of most tests is not: the `ddp` build checks the `rlora` command,
    // the library and the data-parallel tests only.
    run(
        "burn's DDP strategy on CUDA compiles (the `ddp` feature)",
        cargo().args([
            "check",
            "-p",
            "rlora-train",
            "--no-default-features",
            "--features",
            "ddp",
            "--lib",
            "--bins",
            "--test",
            "parallel",
        ]),
    )?;
    if vulkan_driver_present() {
        wgpu_tests()
    } else if std::env::var_os("CI").is_some() {
        Err(NO_VULKAN.into())
    } else {
        eprintln!("xtask: no Vulkan driver found, skipping the wgpu tests");
        Ok(())
    }
}

const NO_VULKAN: &str =
    "no Vulkan driver: install mesa-vulkan-drivers and libvulkan1 (as .ci/run does)";

/// On wgpu over Mesa's software Vulkan driver, with burn's fusion and autotune as every GPU
/// build has them: the layer's and the model's backend-generic tests and 3 training steps of the
/// embedded default against the CPU, built once. Autotune times each new kernel's candidates
/// (3 warm-up and 10 timed runs each), which on a software GPU is most of the time: the CI runs
/// at CubeCL's `minimal` tuning level.
fn wgpu_tests() -> Result<(), String> {
    run(
        "on wgpu: the backend-generic tests and 3 training steps against the CPU backend",
        cargo()
            .env("CUBECL_AUTOTUNE_LEVEL", "minimal")
            .env("RLORA_GPU_STEPS", "3")
            .args([
                "test",
                "-p",
                "rlora",
                "-p",
                "rlora-llama",
                "-p",
                "rlora-train",
                "--features",
                "rlora/test-wgpu,rlora-llama/test-wgpu,rlora-train/wgpu",
                "--test",
                "layer",
                "--test",
                "llama",
                "--test",
                "gpu_training",
            ]),
    )
}

/// `cargo xtask wgpu-group`: a group of two processes sharing the software GPU against one
/// process (each process tunes its kernels anew: about half an hour on 2 cores, outside CI).
fn wgpu_group() -> Result<(), String> {
    if !vulkan_driver_present() {
        return Err(NO_VULKAN.into());
    }
    run(
        "a group of two processes on wgpu against one process",
        cargo().env("CUBECL_AUTOTUNE_LEVEL", "minimal").args([
            "test",
            "-p",
            "rlora-train",
            "--features",
            "wgpu",
            "--test",
            "parallel",
            "processes::two_processes_of_batch_8_train_as_one_process_of_batch_16",
        ]),
    )
}

fn fixtures() -> Result<(), String> {
    let root = workspace_root();
    run(
        "golden fixtures (PyTorch reference)",
        Command::new("python3").current_dir(&root).args([
            "xtask/fixtures/rlora_reference.py",
            "--out",
            "rlora/tests/fixtures",
        ]),
    )
}

/// A Vulkan loader plus at least one installable client driver (Mesa's lavapipe counts).
fn vulkan_driver_present() -> bool {
    let loader = [
        "/usr/lib/x86_64-linux-gnu/libvulkan.so.1",
        "/usr/lib/aarch64-linux-gnu/libvulkan.so.1",
    ]
    .iter()
    .any(|p| Path::new(p).exists());
    let icd = ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .any(|dir| std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()));
    loader && icd
}

fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(workspace_root());
    command
}

/// `cargo run --release` of the `rlora` command, its arguments to follow.
fn rlora_release() -> Command {
    let mut command = cargo();
    command.args([
        "run",
        "--release",
        "-p",
        "rlora-train",
        "--bin",
        "rlora",
        "--",
    ]);
    command
}

/// The workspace of this checkout: `cargo xtask` (`cargo run`) gives xtask's manifest folder at
/// run time, so a target dir built in another checkout (CI's warm cache) points here, not there;
/// the folder xtask was compiled in when it runs without cargo.
fn workspace_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// Runs `command` as the stage `what`, and says how long it took (CI's time is watched).
fn run(what: &str, command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: == {what}: {command:?}");
    let started = std::time::Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot start {command:?}: {e}"))?;
    let seconds = started.elapsed().as_secs();
    if status.success() {
        eprintln!("xtask: == {what}: done in {seconds} s");
        Ok(())
    } else {
        Err(format!("{what} failed after {seconds} s ({status})"))
    }
}
