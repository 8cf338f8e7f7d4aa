//! The root package holds the examples (`cargo run --example NAME --features cuda|wgpu|…`);
//! its backend features pick [`rlora_train::backend`]'s backend.

pub use rlora_train::backend::{
    BACKEND_NAME, Backend, TrainBackend, data_parallel, devices, probe_device, tune_cpu_allocator,
};
