//! [`KvCache`]: the keys and values of every layer for the tokens seen so far.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// Keys and values per layer, `[batch, kv_heads, seen, head_dim]`, and which of the seen
/// positions are real tokens (not padding), `[batch, seen]`.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    pub(crate) mask: Option<Tensor<B, 2, Bool>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model of `layers` decoder layers.
    pub fn new(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
            mask: None,
        }
    }

    /// The number of positions seen so far.
    pub fn len(&self) -> usize {
        self.mask.as_ref().map_or(0, |m| m.dims()[1])
    }

    /// Whether no token was seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one layer's new keys and values `[batch, kv_heads, new, head_dim]`, returning all
    /// of them.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((k0, v0)) => (Tensor::cat(vec![k0, k], 2), Tensor::cat(vec![v0, v], 2)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }
}
