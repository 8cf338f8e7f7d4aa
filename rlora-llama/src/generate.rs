//! Text generation: greedy or temperature / top-k / top-p sampling with a seed, a KV cache, and
//! stop tokens and strings.

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::backend::LlamaBackend;
use crate::error::LlamaError;
use crate::model::Llama;

/// How to pick each next token and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationConfig {
    /// The most tokens to generate.
    pub max_new_tokens: usize,
    /// 0 for greedy decoding, otherwise the softmax temperature.
    pub temperature: f64,
    /// Sample only among the `k` most likely tokens.
    pub top_k: Option<usize>,
    /// Sample only among the most likely tokens whose probabilities sum to `p` (nucleus).
    pub top_p: Option<f64>,
    /// The sampling seed.
    pub seed: u64,
    /// Tokens that end generation (kept in the output).
    pub stop_tokens: Vec<u32>,
    /// Reuse keys and values of earlier tokens (on by default; off recomputes the whole
    /// sequence every step, for checking the cache).
    pub use_kv_cache: bool,
}

impl Default for GenerationConfig {
    fn default() -> Self {
        Self {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: None,
            top_p: None,
            seed: 0,
            stop_tokens: Vec::new(),
            use_kv_cache: true,
        }
    }
}

impl GenerationConfig {
    /// Checks the sampling parameters.
    pub fn validate(&self) -> Result<(), LlamaError> {
        let bad = |m: String| Err(LlamaError::InvalidArgument(m));
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return bad(format!(
                "temperature must be finite and ≥ 0, got {}",
                self.temperature
            ));
        }
        if self.top_k == Some(0) {
            return bad("top_k must be at least 1".into());
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return bad(format!("top_p must be in (0, 1], got {p}"));
        }
        Ok(())
    }
}

impl<B: LlamaBackend> Llama<B> {
    /// Continues `prompt` (token ids), returning the new tokens. `stop` is asked after each token
    /// with everything generated so far (for stop strings); generation also ends at a stop token
    /// or after `max_new_tokens`.
    pub fn generate(
        &self,
        prompt: &[u32],
        config: &GenerationConfig,
        mut stop: impl FnMut(&[u32]) -> bool,
    ) -> Result<Vec<u32>, LlamaError> {
        config.validate()?;
        if prompt.is_empty() {
            return Err(LlamaError::InvalidArgument(
                "the prompt has no tokens".into(),
            ));
        }
        let device = self.embed_tokens.weight.device();
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut cache = config.use_kv_cache.then(|| self.new_cache());
        let mut sequence = prompt.to_vec();
        let mut pending: &[u32] = prompt;
        let mut generated = Vec::new();
        while generated.len() < config.max_new_tokens {
            let input = if cache.is_some() {
                pending
            } else {
                &sequence[..]
            };
            let tokens = token_tensor::<B>(input, &device);
            let last: Vec<f32> = self
                .last_logits(tokens, None, cache.as_mut())
                .into_data()
                .convert::<f32>()
                .to_vec()
                .map_err(|e| LlamaError::InvalidArgument(format!("logits: {e:?}")))?;
            let next = pick_token(&last, config, &mut rng);
            sequence.push(next);
            generated.push(next);
            pending = &sequence[sequence.len() - 1..];
            if config.stop_tokens.contains(&next) || stop(&generated) {
                break;
            }
        }
        Ok(generated)
    }
}

/// `[1, n]` token ids.
fn token_tensor<B: Backend>(ids: &[u32], device: &B::Device) -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = ids.iter().map(|&id| id as i64).collect();
    let n = ids.len();
    Tensor::from_data(TensorData::new(ids, [1, n]), device)
}

/// The next token from last-position `logits`: the arg-max when greedy, else a draw from the
/// tempered softmax restricted by top-k and top-p.
fn pick_token(logits: &[f32], config: &GenerationConfig, rng: &mut StdRng) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
                if v > best.1 { (i, v) } else { best }
            })
            .0 as u32
    };
    if config.temperature == 0.0 {
        return argmax();
    }
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    order.truncate(config.top_k.unwrap_or(logits.len()));
    let max = logits[order[0]] as f64;
    let weights: Vec<f64> = order
        .iter()
        .map(|&i| ((logits[i] as f64 - max) / config.temperature).exp())
        .collect();
    let total: f64 = weights.iter().sum();
    let mut keep = weights.len();
    if let Some(p) = config.top_p {
        let mut cumulative = 0.0;
        keep = weights
            .iter()
            .position(|w| {
                cumulative += w / total;
                cumulative >= p
            })
            .map_or(weights.len(), |i| i + 1);
    }
    let kept_total: f64 = weights[..keep].iter().sum();
    let mut draw = rng.random::<f64>() * kept_total;
    for (i, w) in weights[..keep].iter().enumerate() {
        if draw < *w {
            return order[i] as u32;
        }
        draw -= w;
    }
    order[keep - 1] as u32
}
