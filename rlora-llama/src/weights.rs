//! [`WeightSource`]: where a model's pretrained weights come from (a checkpoint, or a fresh
//! random draw), so that one builder assembles the model from either.

use burn::module::Param;
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType};

use crate::checkpoint::Checkpoint;
use crate::error::LlamaError;
use crate::quantization::Quantization;

/// Supplies the pretrained weights by Hugging Face name (`model.layers.0.mlp.up_proj`).
pub trait WeightSource<B: Backend> {
    /// A linear layer `d_in → d_out`, from `{name}.weight` (and `{name}.bias` when `bias`).
    fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear<B>, LlamaError>;
    /// An RMSNorm of width `d` from `{name}.weight`.
    fn rms_norm(&mut self, name: &str, d: usize, eps: f64) -> Result<RmsNorm<B>, LlamaError>;
    /// An embedding table `[vocab, d]` from `{name}.weight`.
    fn embedding(&mut self, name: &str, vocab: usize, d: usize)
    -> Result<Embedding<B>, LlamaError>;
    /// How the decoder layers' projections are quantized once loaded, if they are.
    fn quantization(&self) -> Option<Quantization>;
}

/// Weights read from a checkpoint onto `device`; the frozen matrices (projections, embedding, LM
/// head) in `dtype`, norms in f32.
pub struct CheckpointWeights<'a, B: Backend> {
    /// The checkpoint.
    pub checkpoint: &'a mut Checkpoint,
    /// Where the tensors go.
    pub device: B::Device,
    /// The float type of the frozen matrices.
    pub dtype: DType,
    /// The quantization of the projections, if any (from `dtype`, one at a time as they load).
    pub quantization: Option<Quantization>,
}

impl<B: Backend> WeightSource<B> for CheckpointWeights<'_, B> {
    fn quantization(&self) -> Option<Quantization> {
        self.quantization
    }

    fn linear(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear<B>, LlamaError> {
        let weight = self.checkpoint.linear_weight(
            &format!("{name}.weight"),
            d_in,
            d_out,
            &self.device,
            self.dtype,
        )?;
        let bias = if bias {
            Some(Param::from_tensor(self.checkpoint.tensor(
                &format!("{name}.bias"),
                [d_out],
                &self.device,
                self.dtype,
            )?))
        } else {
            None
        };
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias,
        })
    }

    fn rms_norm(&mut self, name: &str, d: usize, eps: f64) -> Result<RmsNorm<B>, LlamaError> {
        let gamma =
            self.checkpoint
                .tensor(&format!("{name}.weight"), [d], &self.device, DType::F32)?;
        Ok(RmsNorm {
            gamma: Param::from_tensor(gamma),
            epsilon: eps,
        })
    }

    fn embedding(
        &mut self,
        name: &str,
        vocab: usize,
        d: usize,
    ) -> Result<Embedding<B>, LlamaError> {
        let weight = self.checkpoint.tensor(
            &format!("{name}.weight"),
            [vocab, d],
            &self.device,
            self.dtype,
        )?;
        Ok(Embedding {
            weight: Param::from_tensor(weight),
        })
    }
}

/// Freshly initialized weights (burn's default initializers), for benchmarks and pretraining;
/// the frozen matrices cast to `dtype`.
pub struct RandomWeights<B: Backend> {
    /// Where the tensors go.
    pub device: B::Device,
    /// The float type of the frozen matrices.
    pub dtype: DType,
    /// The quantization of the projections, if any (from `dtype`, one at a time as they load).
    pub quantization: Option<Quantization>,
}

impl<B: Backend> WeightSource<B> for RandomWeights<B> {
    fn quantization(&self) -> Option<Quantization> {
        self.quantization
    }

    fn linear(
        &mut self,
        _name: &str,
        d_in: usize,
        d_out: usize,
        bias: bool,
    ) -> Result<Linear<B>, LlamaError> {
        let linear = LinearConfig::new(d_in, d_out)
            .with_bias(bias)
            .init(&self.device);
        let dtype = FloatDType::from(self.dtype);
        Ok(Linear {
            weight: linear.weight.map(|w| w.cast(dtype)),
            bias: linear.bias.map(|b| b.map(|b| b.cast(dtype))),
        })
    }

    fn rms_norm(&mut self, _name: &str, d: usize, eps: f64) -> Result<RmsNorm<B>, LlamaError> {
        Ok(RmsNormConfig::new(d).with_epsilon(eps).init(&self.device))
    }

    fn embedding(
        &mut self,
        _name: &str,
        vocab: usize,
        d: usize,
    ) -> Result<Embedding<B>, LlamaError> {
        let embedding = EmbeddingConfig::new(vocab, d).init(&self.device);
        let dtype = FloatDType::from(self.dtype);
        Ok(Embedding {
            weight: embedding.weight.map(|w| w.cast(dtype)),
        })
    }
}
