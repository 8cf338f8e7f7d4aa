//! Shared by the integration tests: the backend they run on and tensor comparisons.
//!
//! Every test body is generic over the backend; `TestBackend` is NdArray by default, wgpu with
//! `--features test-wgpu` and CUDA with `--features test-cuda`, so the same tests exercise the GPU code path.
#![allow(dead_code)]

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

#[cfg(not(any(feature = "test-wgpu", feature = "test-cuda")))]
pub type TestBackend = burn::backend::NdArray<f32>;
#[cfg(all(feature = "test-wgpu", not(feature = "test-cuda")))]
pub type TestBackend = burn::backend::Wgpu;
#[cfg(feature = "test-cuda")]
pub type TestBackend = burn::backend::Cuda;

/// The training (autodiff) backend over [`TestBackend`].
pub type TestAutodiff = burn::backend::Autodiff<TestBackend>;

/// The test device.
pub fn device() -> burn::tensor::Device<TestBackend> {
    Default::default()
}

/// The values of a tensor as f32.
pub fn values<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .to_vec()
        .expect("f32 data")
}

/// The largest `|actual − expected|` divided by the largest `|expected|`.
pub fn relative_error(actual: &[f32], expected: &[f32]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    let scale = expected
        .iter()
        .fold(0f64, |m, v| m.max(v.abs() as f64))
        .max(1e-30);
    let diff = actual
        .iter()
        .zip(expected)
        .fold(0f64, |m, (a, e)| m.max((*a as f64 - *e as f64).abs()));
    diff / scale
}

/// Asserts `actual ≈ expected` within `tolerance` relative to the largest expected magnitude.
pub fn assert_close<B: Backend, const D: usize>(
    what: &str,
    actual: Tensor<B, D>,
    expected: Tensor<B, D>,
    tolerance: f64,
) {
    assert_eq!(actual.dims(), expected.dims(), "{what}: shapes differ");
    let error = relative_error(&values(actual), &values(expected));
    assert!(
        error <= tolerance,
        "{what}: relative error {error:e} exceeds {tolerance:e}"
    );
}

/// A frozen-to-be base layer with the given weight `[d_in, d_out]` and optional bias.
pub fn linear<B: Backend>(weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Linear<B> {
    Linear {
        weight: Param::from_tensor(weight),
        bias: bias.map(Param::from_tensor),
    }
}

/// A tensor from a flat vector.
pub fn tensor<B: Backend, const D: usize>(values: Vec<f32>, shape: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, shape), &Default::default())
}
