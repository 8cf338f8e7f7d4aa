//! The backend the `rlora` command and the examples run on, picked by cargo feature: the first
//! enabled of `cuda`, `metal`, `vulkan`, `wgpu`, else `ndarray` (the default, CPU). Everything
//! else is one generic code path.

#[cfg(feature = "cuda")]
/// The inference backend: CUDA.
pub type Backend = burn::backend::Cuda;
#[cfg(all(feature = "metal", not(feature = "cuda")))]
/// The inference backend: wgpu on Metal.
pub type Backend = burn::backend::Metal;
#[cfg(all(feature = "vulkan", not(any(feature = "cuda", feature = "metal"))))]
/// The inference backend: wgpu on Vulkan.
pub type Backend = burn::backend::Vulkan;
#[cfg(all(
    feature = "wgpu",
    not(any(feature = "cuda", feature = "metal", feature = "vulkan"))
))]
/// The inference backend: wgpu on the platform's default graphics API.
pub type Backend = burn::backend::Wgpu;
#[cfg(all(
    feature = "ndarray",
    not(any(
        feature = "cuda",
        feature = "metal",
        feature = "vulkan",
        feature = "wgpu"
    ))
))]
/// The inference backend: NdArray on the CPU.
pub type Backend = burn::backend::NdArray;
#[cfg(not(any(
    feature = "cuda",
    feature = "metal",
    feature = "vulkan",
    feature = "wgpu",
    feature = "ndarray"
)))]
compile_error!("enable one backend feature: ndarray (default), wgpu, vulkan, metal or cuda");

/// The training backend: [`Backend`] with autodiff.
pub type TrainBackend = burn::backend::Autodiff<Backend>;

/// The name of the backend the features picked, for logs.
pub const BACKEND_NAME: &str = if cfg!(feature = "cuda") {
    "cuda"
} else if cfg!(feature = "metal") {
    "metal"
} else if cfg!(feature = "vulkan") {
    "vulkan"
} else if cfg!(feature = "wgpu") {
    "wgpu"
} else {
    "ndarray"
};
