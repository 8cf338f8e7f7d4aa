//! The layer's integration tests, in one test binary: every test binary instantiates the
//! backend's generic code anew, and on wgpu with burn's fusion seven binaries took 30 minutes to
//! build on 2 cores.

mod atomic_write;
mod common;
mod diagnostics;
mod dropout;
mod golden;
mod init;
mod offset_and_adapter;
mod training;
