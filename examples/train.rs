//! `cargo run --release --example train`: fine-tune R-LoRA adapters and print the per-task table.
//!
//! With no flags: the shipped tiny base (`assets/tiny-base`) on the built-in multi-task suite,
//! R-LoRA on the MLP projections, a few minutes on a laptop CPU ([`RunSpec::tiny_base`]). With
//! `--model DIR --task NAME=FILE …`: a real Hugging Face checkpoint with the paper's settings.
//! Any `rlora train` flag may be added (`-- --help` lists them). `--features cuda` / `wgpu` /
//! `vulkan` / `metal` pick a GPU backend (`ddp`: CUDA, `--devices N` through burn's DDP
//! strategy); the code path is the same.

use std::process::ExitCode;

use rlora_examples::{
    BACKEND_NAME, TrainBackend, data_parallel, devices, probe_device, tune_cpu_allocator,
};
use rlora_train::cli::example_spec;
use rlora_train::run::{RunSpec, train};

fn main() -> ExitCode {
    tune_cpu_allocator();
    let user: Vec<String> = std::env::args().skip(1).collect();
    let spec: RunSpec = match example_spec(&user, "target/example-train") {
        Ok(spec) => spec,
        Err(error) => error.exit(),
    };
    let model = spec.model.model.as_deref().map_or_else(
        || "the embedded tiny base".to_string(),
        |m| m.display().to_string(),
    );
    println!("backend: {BACKEND_NAME}; model: {model}");
    if let Err(message) = probe_device(&Default::default()) {
        eprintln!("error: {message}");
        return ExitCode::FAILURE;
    }
    let devices = devices(spec.placement.devices as usize);
    match train::<TrainBackend>(&spec, &devices, data_parallel(&devices)) {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_status())
        }
    }
}
