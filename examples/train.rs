//! `cargo run --release --example train`: fine-tune R-LoRA adapters and print the per-task table.
//!
//! With no flags: the shipped tiny base (`assets/tiny-base`) on the built-in multi-task suite,
//! R-LoRA on the MLP projections, a few minutes on a laptop CPU. With `--model DIR --task
//! NAME=FILE …`: a real Hugging Face checkpoint with the paper's settings. Any `rlora train` flag
//! may be added (`-- --help` lists them). `--features cuda` / `wgpu` / `vulkan` / `metal` pick
//! a GPU backend (`ddp`: CUDA, `--devices N` through burn's DDP strategy); the code path is the
//! same.

use std::process::ExitCode;

use rlora_examples::{BACKEND_NAME, TrainBackend, devices, probe_device, tune_cpu_allocator};
use rlora_train::cli::{data_parallel, example_args, run_train};

fn main() -> ExitCode {
    tune_cpu_allocator();
    let user: Vec<String> = std::env::args().skip(1).collect();
    let args = match example_args(&user, "target/example-train") {
        Ok(args) => args,
        Err(error) => error.exit(),
    };
    let model = args.model.as_deref().map_or_else(
        || "the embedded tiny base".to_string(),
        |m| m.display().to_string(),
    );
    println!("backend: {BACKEND_NAME}; model: {model}");
    let device = Default::default();
    if let Err(message) = probe_device(&device) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let devices = devices(args.devices as usize);
    match run_train::<TrainBackend>(&args, &devices, data_parallel(&devices)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
