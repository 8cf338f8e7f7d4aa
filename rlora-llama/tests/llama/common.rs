//! Shared by the integration tests: the backend, fixture paths and golden files.

use std::path::PathBuf;

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};

#[cfg(not(any(feature = "test-wgpu", feature = "test-cuda")))]
pub type TestBackend = burn::backend::NdArray<f32>;
#[cfg(all(feature = "test-wgpu", not(feature = "test-cuda")))]
pub type TestBackend = burn::backend::Wgpu;
#[cfg(feature = "test-cuda")]
pub type TestBackend = burn::backend::Cuda;

/// The training backend over [`TestBackend`].
pub type TestAutodiff = burn::backend::Autodiff<TestBackend>;

/// The test device.
pub fn device() -> burn::tensor::Device<TestBackend> {
    Default::default()
}

/// `rlora-llama/tests/fixtures/<name>`: under `CARGO_MANIFEST_DIR` as it is when the test runs
/// (cargo sets it; the GPU bundle's `run.sh` points it into the bundle), else where the test was
/// built.
pub fn fixture(name: &str) -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), PathBuf::from)
        .join("tests/fixtures")
        .join(name)
}

/// A fixture folder's `golden.json`.
pub fn golden(name: &str) -> serde_json::Value {
    let path = fixture(name).join("golden.json");
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden.json")).expect("valid JSON")
}

/// A JSON array of integers.
pub fn ids(value: &serde_json::Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}

/// A JSON array of numbers, flattened.
pub fn floats(value: &serde_json::Value) -> Vec<f32> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(floats).collect(),
        v => vec![v.as_f64().expect("a number") as f32],
    }
}

/// `[batch, seq]` token ids.
pub fn tokens<B: Backend>(rows: &[Vec<u32>]) -> Tensor<B, 2, Int> {
    let seq = rows[0].len();
    let flat: Vec<i64> = rows.iter().flatten().map(|&id| id as i64).collect();
    Tensor::from_data(
        TensorData::new(flat, [rows.len(), seq]),
        &Default::default(),
    )
}

/// `[batch, seq]` attention mask from 0/1 rows.
pub fn mask<B: Backend>(rows: &[Vec<u32>]) -> Tensor<B, 2, Bool> {
    tokens::<B>(rows).equal_elem(1)
}

/// The values of a tensor as f32.
pub fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 data")
}

/// The largest absolute difference.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()))
}

/// The Llama fixture's prompts (its golden file's `prompt_ids`).
pub fn prompts() -> Vec<Vec<u32>> {
    golden("llama-gqa")["prompt_ids"]
        .as_array()
        .expect("an array of prompts")
        .iter()
        .map(ids)
        .collect()
}

/// The logits of `model` for one `prompt`, flattened.
pub fn logits<B: rlora_llama::LlamaBackend>(
    model: &rlora_llama::Llama<B>,
    prompt: &[u32],
) -> Vec<f32> {
    values(model.forward(tokens(&[prompt.to_vec()]), None, None))
}
