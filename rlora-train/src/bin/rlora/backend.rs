//! The backend a program runs on, picked by its package's cargo features: the first enabled of
//! `cuda`, `metal`, `vulkan`, `wgpu`, else the CPU: `flex` (the default) or `ndarray`; its
//! devices and their data-parallel strategy. The library is generic over the backend and exports
//! none: this file is compiled into the programs that pick one, the `rlora` command, the
//! benchmark and the root package's examples.
//!
//! Flex is the default CPU backend by measurement (README, "Performance"): its matrix products
//! (the `gemm` crate, AVX-512 where the CPU has it, on every core) and its zero-copy views made
//! the training step 1.2× faster than NdArray's (with its threads and SIMD) and decoding 5×.

use rlora_train::trainer::DataParallel;

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
    feature = "flex",
    not(any(
        feature = "cuda",
        feature = "metal",
        feature = "vulkan",
        feature = "wgpu"
    ))
))]
/// The inference backend: Flex on the CPU.
pub type Backend = burn::backend::Flex;
#[cfg(all(
    feature = "ndarray",
    not(any(
        feature = "cuda",
        feature = "metal",
        feature = "vulkan",
        feature = "wgpu",
        feature = "flex"
    ))
))]
/// The inference backend: NdArray on the CPU.
pub type Backend = burn::backend::NdArray;
#[cfg(not(any(
    feature = "cuda",
    feature = "metal",
    feature = "vulkan",
    feature = "wgpu",
    feature = "flex",
    feature = "ndarray"
)))]
compile_error!("enable one backend feature: flex (default), ndarray, wgpu, vulkan, metal or cuda");

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
} else if cfg!(feature = "flex") {
    "flex"
} else {
    "ndarray"
};

/// Keeps the memory of freed tensors in the process for the next ones (glibc's malloc, Linux):
/// by default every tensor above 128 KiB to 32 MiB is mapped fresh from the OS and unmapped when
/// freed, so each operation's output pays a page fault per 4 KiB (and, with several threads,
/// TLB shootdowns). One arena, a fixed 32 MiB map threshold and no trimming cut the training
/// step's page faults by 40%. Call once, first thing in `main`.
pub fn tune_cpu_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_MMAP_THRESHOLD: i32 = -3;
        const M_ARENA_MAX: i32 = -8;
        // SAFETY: mallopt only changes glibc's allocation policy; it is called before any other
        // thread exists, with values inside the ranges glibc documents.
        unsafe {
            mallopt(M_ARENA_MAX, 1);
            mallopt(M_MMAP_THRESHOLD, 32 << 20);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

/// `count` devices of the backend for data-parallel training (`rlora train --devices N`): CUDA
/// GPUs `0..count`, discrete GPUs `0..count` through wgpu, or `count` workers sharing the CPU;
/// one device is the default device.
pub fn devices(count: usize) -> Vec<burn::tensor::Device<Backend>> {
    if count <= 1 {
        return vec![Default::default()];
    }
    #[cfg(feature = "cuda")]
    let devices = (0..count)
        .map(|index| burn::backend::cuda::CudaDevice { index })
        .collect();
    #[cfg(all(
        any(feature = "wgpu", feature = "vulkan", feature = "metal"),
        not(feature = "cuda")
    ))]
    let devices = (0..count)
        .map(burn::backend::wgpu::WgpuDevice::DiscreteGpu)
        .collect();
    #[cfg(not(any(
        feature = "cuda",
        feature = "wgpu",
        feature = "vulkan",
        feature = "metal"
    )))]
    let devices = vec![Default::default(); count];
    devices
}

/// How the build's `devices` sum their gradients: burn's DDP strategy in a build with the `ddp`
/// feature, its multi-device strategy otherwise.
#[cfg_attr(not(feature = "ddp"), allow(unused_variables))]
pub fn data_parallel(devices: &[burn::tensor::Device<Backend>]) -> DataParallel {
    #[cfg(feature = "ddp")]
    if devices.len() > 1 {
        return DataParallel::AllReduce(all_reduce_runtime(devices));
    }
    DataParallel::Gather
}

/// burn's distributed data parallel runtime for `devices` (`ddp` feature): the session of the
/// backend's collective operations that sums the devices' gradients (NCCL on CUDA) with
/// `ReduceOperation::Sum`, since every device's loss is already divided by the whole update's
/// tokens.
#[cfg(feature = "ddp")]
pub fn all_reduce_runtime(
    devices: &[burn::tensor::Device<Backend>],
) -> Box<dyn burn::train::DistributedRuntime> {
    use burn::tensor::backend::distributed::{DistributedConfig, ReduceOperation};
    use burn::train::ExecutionStrategy;
    let config = DistributedConfig {
        all_reduce_op: ReduceOperation::Sum,
    };
    match ExecutionStrategy::<TrainBackend>::ddp(devices.to_vec(), config) {
        ExecutionStrategy::DistributedDataParallel { runtime, .. } => runtime,
        _ => unreachable!("ExecutionStrategy::ddp makes a DistributedDataParallel strategy"),
    }
}

/// Checks that the backend can run on `device` by making a tensor there. GPU runtimes panic when
/// their driver is missing (CUDA without `libcuda`, wgpu without any adapter); this turns that
/// into an error that says what is missing and what to do instead.
pub fn probe_device(device: &burn::tensor::Device<Backend>) -> Result<(), String> {
    let cause = match first_panic(|| {
        burn::tensor::Tensor::<Backend, 1>::zeros([1], device).into_data();
    }) {
        Ok(()) => return Ok(()),
        Err(cause) => cause,
    };
    let hint = match BACKEND_NAME {
        "cuda" => {
            "the `cuda` feature needs an NVIDIA GPU and its driver (libcuda.so); build without it \
             to train on the CPU, or with `--features wgpu` for another GPU"
        }
        "flex" | "ndarray" => "the CPU backend should always start; please report this",
        _ => {
            "wgpu needs a GPU driver for Vulkan, Metal or DirectX 12 (on Linux without a GPU, \
             Mesa's software driver: apt-get install mesa-vulkan-drivers libvulkan1)"
        }
    };
    Err(format!(
        "the {BACKEND_NAME} backend cannot start on this machine: {cause}\n{hint}"
    ))
}

/// Runs `f`; if it panics, returns the message of the first panic of any thread meanwhile
/// (a runtime may fail in a thread of its own, CUDA's device thread, so that `f` itself sees
/// only a closed channel), printing none of them.
fn first_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let messages = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook = std::panic::take_hook();
    let sink = messages.clone();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown cause".into());
        if let Ok(mut messages) = sink.lock() {
            messages.push(message);
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    result.map_err(|_| {
        messages
            .lock()
            .ok()
            .and_then(|m| m.first().cloned())
            .unwrap_or_else(|| "unknown cause".into())
    })
}

#[cfg(test)]
mod tests {
    // One test: the panic hook is global, so probes must not run in parallel test threads.
    #[test]
    fn the_default_backend_starts_and_a_runtime_thread_failure_is_reported_by_its_message() {
        assert_eq!(super::probe_device(&Default::default()), Ok(()));
        // As CUDA without a driver: the device thread panics, the caller sees a closed channel.
        let result = super::first_panic(|| {
            let (sender, receiver) = std::sync::mpsc::channel::<u32>();
            std::thread::spawn(move || {
                let _sender = sender;
                panic!("Unable to dynamically load the \"cuda\" shared library");
            });
            receiver.recv().unwrap()
        });
        assert_eq!(
            result,
            Err("Unable to dynamically load the \"cuda\" shared library".to_string())
        );
        assert_eq!(super::first_panic(|| 7), Ok(7));
    }
}
