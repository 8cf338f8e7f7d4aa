//! `rlora train --devices 2`: two devices of batch 8 train as one device of batch 16. On the CPU
//! (CI) the two devices are two workers of burn's multi-device strategy; on CUDA they are two
//! GPUs, under burn's DDP strategy in a build with the `ddp` feature (NCCL all-reduce in the
//! backward pass), where it runs with `-- --ignored` on a machine with two GPUs.

use crate::run::{assert_same_training, output_dir, succeeded, text, train, train_flags};

/// The largest difference allowed between a step's loss (and an adapter weight) on two devices
/// and on one: float sums in another order. On CUDA the all-reduce and the GPU's matrix products
/// round differently from one device's sums.
const TOLERANCE: f64 = if cfg!(feature = "cuda") { 1e-4 } else { 1e-5 };

#[test]
#[cfg_attr(
    feature = "cuda",
    ignore = "needs two NVIDIA GPUs: run it with `-- --ignored` on a machine that has them"
)]
fn two_devices_of_batch_8_train_as_one_device_of_batch_16() {
    let (alone, pair) = (output_dir("one-device"), output_dir("two-devices"));
    succeeded(&train(train_flags(&alone, 16, 4)));
    let mut flags = train_flags(&pair, 8, 4);
    flags.extend(["--devices".to_string(), "2".to_string()]);
    let output = train(flags);
    succeeded(&output);
    let strategy = if cfg!(feature = "ddp") {
        "(2 devices, all-reduce)"
    } else {
        "(2 devices)"
    };
    assert!(text(&output).contains(strategy), "{}", text(&output));
    // One progress line per update, whichever device reports last.
    let last_step_lines = text(&output).matches("step 4/4 (").count();
    assert_eq!(last_step_lines, 1, "{}", text(&output));
    assert_same_training(&alone, &pair, 2, 4, TOLERANCE);
    let _ = std::fs::remove_dir_all(&alone);
    let _ = std::fs::remove_dir_all(&pair);
}
