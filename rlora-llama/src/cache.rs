//! [`KvCache`]: the keys and values of every layer for the tokens seen so far.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

/// Keys and values per layer, `[batch, seen, kv_heads, head_dim]` (appending a token appends
/// rows), and which of the seen positions are real tokens (not padding), `[batch, seen]`.
#[derive(Debug, Clone)]
pub struct KvCache<B: Backend> {
    pub(crate) layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    /// The positions seen so far.
    pub(crate) seen: usize,
    /// Which seen positions are real tokens, once any padding was given.
    pub(crate) mask: Option<Tensor<B, 2, Bool>>,
}

impl<B: Backend> KvCache<B> {
    /// An empty cache for a model of `layers` decoder layers.
    pub fn new(layers: usize) -> Self {
        Self {
            layers: vec![None; layers],
            seen: 0,
            mask: None,
        }
    }

    /// The number of positions seen so far.
    pub fn len(&self) -> usize {
        self.seen
    }

    /// Whether no token was seen yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one layer's new keys and values `[batch, new, kv_heads, head_dim]`, returning all
    /// of them.
    pub(crate) fn append(
        &mut self,
        layer: usize,
        k: Tensor<B, 4>,
        v: Tensor<B, 4>,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let (k, v) = match self.layers[layer].take() {
            Some((k0, v0)) => (Tensor::cat(vec![k0, k], 1), Tensor::cat(vec![v0, v], 1)),
            None => (k, v),
        };
        self.layers[layer] = Some((k.clone(), v.clone()));
        (k, v)
    }
}
