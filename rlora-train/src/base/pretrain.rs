//! [`pretrain_base`]: the tiny base, trained from random weights on the generated corpus.

use std::path::{Path, PathBuf};

use rlora_llama::{Llama, TextTokenizer};

use super::corpus::pretraining_corpus;
use super::tokenizer::write_byte_tokenizer;
use super::{BaseError, tiny_config};
use crate::data::{Tokenize, TokenizedExample};
use crate::trainer::{TrainingConfig, TrainingData, train};
use rlora_llama::LlamaAutodiffBackend;

/// Pretrains the tiny base for `steps` steps and writes it, with its tokenizer, to `output`
/// (a Hugging Face folder). `work` holds the run's logs and checkpoints.
pub fn pretrain_base<B: LlamaAutodiffBackend>(
    output: &Path,
    work: &Path,
    steps: usize,
    seed: u64,
    device: &B::Device,
) -> Result<PathBuf, BaseError> {
    write_byte_tokenizer(output)?;
    let tokenizer = TextTokenizer::from_dir(output)?;
    let eos = tokenizer.eos()?;
    let encode = |lines: Vec<String>| -> Result<Vec<TokenizedExample>, BaseError> {
        lines
            .iter()
            .map(|line| {
                let mut tokens = tokenizer.encode_prompt(line)?;
                tokens.push(eos);
                Ok(TokenizedExample {
                    task: 0,
                    tokens,
                    prompt_len: 1,
                })
            })
            .collect()
    };
    let data = TrainingData {
        task_names: vec!["corpus".into()],
        train: encode(pretraining_corpus(seed, 20_000))?,
        validation: encode(pretraining_corpus(seed.wrapping_add(1), 256))?,
    };
    B::seed(device, seed);
    let model = Llama::<B>::random(tiny_config(), None, device)?.unfrozen();
    let config = TrainingConfig::new()
        .with_learning_rate(3e-3)
        .with_min_learning_rate(3e-4)
        .with_warmup_ratio(0.02)
        .with_weight_decay(0.01)
        .with_batch_size(32)
        .with_max_steps(Some(steps))
        .with_checkpoint_every(steps)
        .with_keep_checkpoints(1)
        .with_log_every(25)
        .with_seed(seed);
    let trained = train(model, &data, &config, work, false)?;
    trained.model.save_pretrained(output)?;
    Ok(output.to_path_buf())
}
