//! Tokenization for causal-LM fine-tuning: `prompt ‖ completion ‖ EOS`, with the loss on the
//! completion and EOS only, truncated to a maximum length.

use rlora_llama::{LlamaError, TextTokenizer};

use super::TaskExample;

/// One tokenized training example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenizedExample {
    /// The task it belongs to (index into the run's task list).
    pub task: usize,
    /// `prompt ‖ completion ‖ EOS` token ids (possibly truncated).
    pub tokens: Vec<u32>,
    /// The number of prompt tokens: positions `≥ prompt_len` are the targets the loss counts.
    pub prompt_len: usize,
}

impl TokenizedExample {
    /// The number of tokens the loss counts.
    pub fn num_targets(&self) -> usize {
        self.tokens.len() - self.prompt_len
    }

    /// The tokens the loss counts in a batch ([`LmBatcher`](super::LmBatcher)): the positions
    /// `t ≥ max(1, prompt_len)`, each predicted from the one before.
    pub fn counted_tokens(&self) -> usize {
        self.tokens.len().saturating_sub(self.prompt_len.max(1))
    }
}

/// How many examples tokenization truncated or skipped, per task.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizeReport {
    /// Examples whose completion was cut at the maximum length.
    pub truncated: usize,
    /// Examples skipped because the prompt alone fills the maximum length.
    pub skipped_too_long: usize,
}

/// Encodes text into token ids: prompts with the model's BOS rules, continuations without
/// special tokens, and the EOS id that ends every completion.
pub trait Tokenize {
    /// A prompt's ids.
    fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError>;
    /// A continuation's ids.
    fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlamaError>;
    /// The id that ends a completion.
    fn eos(&self) -> Result<u32, LlamaError>;
}

impl Tokenize for TextTokenizer {
    fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        self.encode(text)
    }

    fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        TextTokenizer::encode_continuation(self, text)
    }

    fn eos(&self) -> Result<u32, LlamaError> {
        self.eos_ids()
            .first()
            .copied()
            .ok_or_else(|| LlamaError::Tokenizer("the tokenizer has no EOS token".into()))
    }
}

/// Tokenizes `examples` of task `task` to at most `max_len` tokens each.
pub fn tokenize_examples(
    task: usize,
    examples: &[TaskExample],
    tokenizer: &impl Tokenize,
    max_len: usize,
) -> Result<(Vec<TokenizedExample>, TokenizeReport), LlamaError> {
    let eos = tokenizer.eos()?;
    let mut report = TokenizeReport::default();
    let mut tokenized = Vec::with_capacity(examples.len());
    for example in examples {
        let mut tokens = tokenizer.encode_prompt(&example.prompt)?;
        let prompt_len = tokens.len();
        if prompt_len >= max_len {
            report.skipped_too_long += 1;
            continue;
        }
        tokens.extend(tokenizer.encode_continuation(&example.completion)?);
        tokens.push(eos);
        if tokens.len() > max_len {
            tokens.truncate(max_len);
            report.truncated += 1;
        }
        tokenized.push(TokenizedExample {
            task,
            tokens,
            prompt_len,
        });
    }
    Ok((tokenized, report))
}
