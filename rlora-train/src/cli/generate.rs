//! `rlora generate`: continue a prompt.

use std::path::{Path, PathBuf};

use clap::Args;
use rlora_llama::{
    AttentionKernel, GenerationConfig, Llama, LlamaConfig, LlamaError, TextTokenizer,
};
use serde::Serialize;

use crate::base::model_or_tiny_base;
use crate::run::values::{non_negative, probability};
use rlora_llama::LlamaBackend;

/// Arguments of `rlora generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A Hugging Face model folder (config.json, model.safetensors or shards, tokenizer.json) (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// An adapter folder: this project's, or a PEFT LoRA adapter.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The prompt text.
    #[arg(long)]
    pub prompt: String,
    /// The most tokens to generate.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_new_tokens: u32,
    /// Sampling temperature; 0 (the default) is greedy decoding.
    #[arg(long, default_value_t = 0.0, value_parser = non_negative)]
    pub temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this probability mass.
    #[arg(long, value_parser = probability)]
    pub top_p: Option<f64>,
    /// Sample among the k most likely tokens.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub top_k: Option<u32>,
    /// The sampling seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop when the continuation contains this text (repeatable, not empty); the text is cut
    /// before it.
    #[arg(long = "stop", value_parser = non_empty_stop)]
    pub stop: Vec<String>,
    /// Cut the prompt's start (keeping BOS) when it and --max-new-tokens do not fit the model's
    /// context (`max_position_embeddings`), instead of refusing it.
    #[arg(long)]
    pub truncate_prompt: bool,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    pub json: bool,
}

/// What `rlora generate --json` prints.
#[derive(Debug, Serialize, PartialEq)]
pub struct GenerateOutput {
    /// The prompt's token ids (with BOS when the tokenizer adds it).
    pub prompt_ids: Vec<u32>,
    /// The new token ids.
    pub generated_ids: Vec<u32>,
    /// The decoded continuation, cut before a stop string.
    pub text: String,
}

/// Loads the model (and adapter) on `device` and continues the prompt.
pub fn run_generate<B: LlamaBackend>(
    args: &GenerateArgs,
    device: &B::Device,
) -> Result<GenerateOutput, LlamaError> {
    let model_dir =
        model_or_tiny_base(args.model.as_deref()).map_err(LlamaError::InvalidArgument)?;
    let tokenizer = TextTokenizer::from_model_dir(&model_dir)?;
    let context = Context::of(&model_dir)?;
    let prompt_ids = context
        .fit(
            tokenizer.encode(&args.prompt)?,
            tokenizer.bos_id(),
            args.max_new_tokens as usize,
            args.truncate_prompt,
        )
        .map_err(LlamaError::InvalidArgument)?;
    let mut model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    if let Some(adapter) = &args.adapter {
        model = model.load_any_adapter(adapter, device)?;
    }
    let model = model.with_attention(AttentionKernel::for_backend::<B>());
    let config = GenerationConfig {
        max_new_tokens: args.max_new_tokens as usize,
        temperature: args.temperature,
        top_k: args.top_k.map(|k| k as usize),
        top_p: args.top_p,
        seed: args.seed,
        stop_tokens: tokenizer.eos_ids().to_vec(),
        use_kv_cache: true,
    };
    let stop_at = |text: &str| args.stop.iter().filter_map(|s| text.find(s.as_str())).min();
    let generated_ids = model.generate(&prompt_ids, &config, |ids| {
        tokenizer
            .decode(ids)
            .is_ok_and(|text| stop_at(&text).is_some())
    })?;
    let mut text = tokenizer.decode(&generated_ids)?;
    if let Some(cut) = stop_at(&text) {
        text.truncate(cut);
    }
    Ok(GenerateOutput {
        prompt_ids,
        generated_ids,
        text,
    })
}

/// Refuses an empty `--stop`, which every text contains: the output would always be empty.
fn non_empty_stop(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Err(
            "an empty text is in every continuation, so the output would be empty: \
                    give a text to stop at"
                .into(),
        );
    }
    Ok(value.to_string())
}

/// The model's context: the most positions it takes (`max_position_embeddings` of its
/// `config.json`), which a prompt and its new tokens share.
struct Context {
    /// `max_position_embeddings`.
    positions: usize,
    /// The `config.json` that says so, for messages.
    file: PathBuf,
}

impl Context {
    /// The context of the model in `model_dir`.
    fn of(model_dir: &Path) -> Result<Self, LlamaError> {
        let file = model_dir.join("config.json");
        let positions = LlamaConfig::from_file(&file)?.max_position_embeddings;
        Ok(Self { positions, file })
    }

    /// `prompt` (its ids; `bos` when the tokenizer has one) checked to fit the context with
    /// `max_new` new tokens; with `truncate`, a prompt that does not fit loses its first tokens
    /// after BOS instead (said on stderr).
    ///
    /// # Errors
    /// `max_new` leaves no room for a prompt, or the prompt does not fit and `truncate` is off;
    /// each names the flag and the limit.
    fn fit(
        &self,
        prompt: Vec<u32>,
        bos: Option<u32>,
        max_new: usize,
        truncate: bool,
    ) -> Result<Vec<u32>, String> {
        let (positions, file) = (self.positions, self.file.display());
        let limit = format!(
            "the model's context of {positions} tokens (max_position_embeddings in {file})"
        );
        let keep_bos = usize::from(bos.is_some() && prompt.first() == bos.as_ref());
        if max_new + keep_bos.max(1) > positions {
            return Err(format!(
                "--max-new-tokens {max_new} leaves no room for the prompt in {limit}: at most {}",
                positions.saturating_sub(keep_bos.max(1))
            ));
        }
        let room = positions - max_new;
        if prompt.len() <= room {
            return Ok(prompt);
        }
        if !truncate {
            return Err(format!(
                "--prompt is {} tokens, {} with --max-new-tokens {max_new}, more than {limit}: \
                 shorten the prompt, lower --max-new-tokens, or add --truncate-prompt to cut the \
                 prompt's start to {room} tokens",
                prompt.len(),
                prompt.len() + max_new
            ));
        }
        let cut = prompt.len() - room;
        eprintln!(
            "--truncate-prompt: the prompt's first {cut} of {} tokens{} were cut, to fit {limit} \
             with --max-new-tokens {max_new}",
            prompt.len(),
            if keep_bos == 1 { " after BOS" } else { "" }
        );
        let mut kept = prompt[..keep_bos].to_vec();
        kept.extend_from_slice(&prompt[keep_bos + cut..]);
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(positions: usize) -> Context {
        Context {
            positions,
            file: PathBuf::from("m/config.json"),
        }
    }

    #[test]
    fn a_prompt_and_its_new_tokens_must_fit_the_context() {
        let prompt: Vec<u32> = (0..10).collect();
        assert_eq!(
            context(14).fit(prompt.clone(), Some(0), 4, false),
            Ok(prompt.clone())
        );
        let refused = context(13)
            .fit(prompt.clone(), Some(0), 4, false)
            .unwrap_err();
        for part in [
            "--prompt is 10 tokens, 14 with --max-new-tokens 4",
            "context of 13",
            "m/config.json",
        ] {
            assert!(refused.contains(part), "{refused}");
        }
        // Truncated: BOS (id 0) kept, then the prompt's last tokens.
        assert_eq!(
            context(13).fit(prompt.clone(), Some(0), 4, true),
            Ok(vec![0, 2, 3, 4, 5, 6, 7, 8, 9])
        );
        // Without a BOS at its start, the prompt's last tokens alone.
        assert_eq!(
            context(13).fit(prompt.clone(), None, 4, true),
            Ok(vec![1, 2, 3, 4, 5, 6, 7, 8, 9])
        );
        let huge = context(13)
            .fit(prompt, Some(0), 1_000_000_000, true)
            .unwrap_err();
        assert!(
            huge.contains("--max-new-tokens 1000000000") && huge.contains("at most 12"),
            "{huge}"
        );
    }

    #[test]
    fn an_empty_stop_text_is_refused() {
        assert!(non_empty_stop("").is_err());
        assert_eq!(non_empty_stop("\n"), Ok("\n".to_string()));
    }
}
