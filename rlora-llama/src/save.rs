//! [`Llama::save_pretrained`]: the model's pretrained weights as a Hugging Face folder
//! (`config.json`, `model.safetensors` in PyTorch's layout), loadable by transformers and by
//! [`Llama::from_pretrained`]. Adapters are not included (merge them first, or save them with
//! `save_adapter`).

use std::path::Path;

use burn::module::{ModuleMapper, Param};
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rlora::io::{TensorFile, write_atomically};

use crate::backend::LlamaBackend;
use crate::error::LlamaError;
use crate::model::Llama;
use crate::targets::TargetModule;

impl<B: LlamaBackend> Llama<B> {
    /// Writes `dir/config.json` and `dir/model.safetensors` (f32), each atomically.
    pub fn save_pretrained(&self, dir: impl AsRef<Path>) -> Result<(), LlamaError> {
        let dir = dir.as_ref();
        let mut file = TensorFile::new(dir.join(crate::checkpoint::WEIGHTS_FILE));
        file.set_metadata("format", "pt");
        file.insert("model.embed_tokens.weight", self.embed_tokens.weight.val());
        for (i, layer) in self.layers.iter().enumerate() {
            file.insert(
                format!("model.layers.{i}.input_layernorm.weight"),
                layer.input_layernorm.gamma.val(),
            );
            file.insert(
                format!("model.layers.{i}.post_attention_layernorm.weight"),
                layer.post_attention_layernorm.gamma.val(),
            );
            for module in TargetModule::ALL {
                insert_linear(
                    &mut file,
                    &module.path(i),
                    &layer.projection(module).dense_base(),
                );
            }
        }
        file.insert("model.norm.weight", self.norm.gamma.val());
        if let Some(head) = &self.lm_head {
            insert_linear(&mut file, "lm_head", head);
        }
        file.write()?;
        let json = serde_json::to_vec_pretty(&self.config)
            .map_err(|e| LlamaError::json(dir.join("config.json"), e))?;
        write_atomically(&dir.join("config.json"), &json)?;
        Ok(())
    }
}

/// `{name}.weight` as PyTorch's `[d_out, d_in]`, and `{name}.bias`.
fn insert_linear<B: Backend>(file: &mut TensorFile, name: &str, linear: &Linear<B>) {
    file.insert(format!("{name}.weight"), linear.weight.val().transpose());
    if let Some(bias) = &linear.bias {
        file.insert(format!("{name}.bias"), bias.val());
    }
}

impl<B: LlamaBackend> Llama<B> {
    /// The model with every float parameter trainable, pretrained weights included (for
    /// pretraining a model that [`Llama::build`] froze).
    pub fn unfrozen(self) -> Self {
        burn::module::Module::map(self, &mut Unfreeze)
    }
}

/// Marks every float parameter trainable.
struct Unfreeze;

impl<B: Backend> ModuleMapper<B> for Unfreeze {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        param.set_require_grad(true)
    }
}
