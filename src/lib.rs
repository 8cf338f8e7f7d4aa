//! The root package holds the examples (`cargo run --example NAME --features cuda|wgpu|…`); its
//! backend features pick the backend they run on, the same choice as the `rlora` command's (the
//! one file is compiled into both).

#[path = "../rlora-train/src/bin/rlora/backend.rs"]
mod backend;

pub use backend::{
    BACKEND_NAME, Backend, TrainBackend, data_parallel, devices, probe_device, tune_cpu_allocator,
};
