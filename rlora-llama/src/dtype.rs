//! [`BaseDtype`]: the float type the frozen base is held and multiplied in, or its quantization.

use burn::tensor::DType;
use burn::tensor::backend::{Backend, DTypeUsage};

use crate::error::LlamaError;
use crate::quantization::Quantization;

/// The float type of the frozen base's matrices (the projections, the embedding, the LM head);
/// the norms, the adapters and their optimizer state, the activations and the loss stay f32.
///
/// A 16-bit base halves the model's memory (2 bytes per parameter instead of 4): each frozen
/// product casts its f32 input to the base's type, multiplies there, and casts the result back.
///
/// `Q8` and `Q4` hold the frozen projections block-wise quantized instead (see
/// [`Quantization`]): the embedding, the LM head and the products stay in the type `Auto` picks.
///
/// With the `clap` feature a command line can take it by name (`auto`, `f32`, `f16`, `bf16`,
/// `q8`, `q4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum BaseDtype {
    /// The checkpoint's own type when it is 16-bit and the backend computes in it, else f32.
    #[default]
    Auto,
    /// 32-bit floats.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16 (the float type of most Hugging Face checkpoints).
    Bf16,
    /// The projections quantized to 8 bits (1.125 bytes per parameter), the rest as `Auto`.
    Q8,
    /// The projections quantized to 4 bits (0.625 bytes per parameter), the rest as `Auto`.
    Q4,
}

impl BaseDtype {
    /// How the frozen projections are quantized, if they are.
    pub fn quantization(self) -> Option<Quantization> {
        match self {
            Self::Q8 => Some(Quantization::Q8),
            Self::Q4 => Some(Quantization::Q4),
            Self::Auto | Self::F32 | Self::F16 | Self::Bf16 => None,
        }
    }

    /// The type to hold the base in on `device`, for a checkpoint stored in `on_disk`. An
    /// explicit 16-bit type the backend cannot compute in is an error naming both.
    pub fn resolve<B: Backend>(
        self,
        on_disk: Option<DType>,
        device: &B::Device,
    ) -> Result<DType, LlamaError> {
        let wanted = match self {
            Self::Auto | Self::Q8 | Self::Q4 => {
                return Ok(on_disk
                    .filter(|d| matches!(d, DType::F16 | DType::BF16))
                    .filter(|&d| computes_in::<B>(d, device))
                    .unwrap_or(DType::F32));
            }
            Self::F32 => DType::F32,
            Self::F16 => DType::F16,
            Self::Bf16 => DType::BF16,
        };
        if computes_in::<B>(wanted, device) {
            Ok(wanted)
        } else {
            Err(LlamaError::InvalidArgument(format!(
                "this backend cannot compute in {wanted:?}: hold the base in f32 (or another \
                 16-bit type), or use a backend that supports it (flex and cuda compute in f16 \
                 and bf16; wgpu in f16 where the GPU does)"
            )))
        }
    }
}

/// Whether the backend stores and computes in `dtype` on `device`.
pub fn computes_in<B: Backend>(dtype: DType, device: &B::Device) -> bool {
    B::dtype_usage(device, dtype).contains(DTypeUsage::Arithmetic)
}
