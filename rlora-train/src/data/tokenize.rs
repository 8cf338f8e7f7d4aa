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
    /// The most bytes of text one token stands for (at least 1): `n` tokens never cover more
    /// than `n` times this many bytes, which bounds the text worth encoding for `n` tokens.
    fn longest_token_bytes(&self) -> usize;
}

impl Tokenize for TextTokenizer {
    fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        self.encode(text)
    }

    fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        TextTokenizer::encode_continuation(self, text)
    }

    fn eos(&self) -> Result<u32, LlamaError> {
        self.eos_id()
    }

    fn longest_token_bytes(&self) -> usize {
        TextTokenizer::longest_token_bytes(self)
    }
}

/// How much a tokenizer's normalization (NFC and the like) may shorten a text before it is cut
/// into tokens, at most: a text longer than this many times `n ×` the longest token holds more
/// than `n` tokens.
const NORMALIZATION_SLACK: usize = 2;

/// The tokens encoded beyond those an example can keep, when its text is cut before encoding:
/// the cut changes at most the last word's tokens, which lie past the kept ones.
const CUT_MARGIN_TOKENS: usize = 16;

/// The bytes of text that surely hold more than `tokens` tokens of a tokenizer whose longest
/// token has `longest` bytes.
fn text_budget(tokens: usize, longest: usize) -> usize {
    tokens
        .saturating_add(CUT_MARGIN_TOKENS)
        .saturating_mul(longest.max(1))
        .saturating_mul(NORMALIZATION_SLACK)
}

/// `text` cut to at most `budget` bytes, at a character boundary.
fn prefix(text: &str, budget: usize) -> &str {
    let mut end = budget.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Tokenizes `examples` of task `task` to at most `max_len` tokens each.
///
/// The work is bounded by `max_len`, not by the texts' lengths: a prompt too long in bytes to
/// fit in `max_len` tokens (see [`Tokenize::longest_token_bytes`]) is skipped without being
/// encoded, and a completion is cut before encoding to the bytes that the tokens it can keep
/// take, and a margin, so a task file's huge record costs no more than a long one.
pub fn tokenize_examples(
    task: usize,
    examples: &[TaskExample],
    tokenizer: &impl Tokenize,
    max_len: usize,
) -> Result<(Vec<TokenizedExample>, TokenizeReport), LlamaError> {
    let eos = tokenizer.eos()?;
    let longest = tokenizer.longest_token_bytes();
    let mut report = TokenizeReport::default();
    let mut tokenized = Vec::with_capacity(examples.len());
    for example in examples {
        if example.prompt.len() > text_budget(max_len, longest) {
            report.skipped_too_long += 1;
            continue;
        }
        let mut tokens = tokenizer.encode_prompt(&example.prompt)?;
        let prompt_len = tokens.len();
        if prompt_len >= max_len {
            report.skipped_too_long += 1;
            continue;
        }
        let room = text_budget(max_len - prompt_len, longest);
        tokens.extend(tokenizer.encode_continuation(prefix(&example.completion, room))?);
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

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// One token per character (its code point), EOS 0; remembers the longest text it encoded.
    #[derive(Default)]
    struct Chars {
        longest_encoded: Cell<usize>,
    }

    impl Chars {
        fn ids(&self, text: &str) -> Vec<u32> {
            self.longest_encoded
                .set(self.longest_encoded.get().max(text.len()));
            text.chars().map(u32::from).collect()
        }
    }

    impl Tokenize for Chars {
        fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
            Ok(self.ids(text))
        }
        fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
            Ok(self.ids(text))
        }
        fn eos(&self) -> Result<u32, LlamaError> {
            Ok(0)
        }
        fn longest_token_bytes(&self) -> usize {
            4
        }
    }

    fn example(prompt: String, completion: String) -> TaskExample {
        TaskExample {
            prompt,
            completion,
            choices: None,
        }
    }

    #[test]
    fn a_huge_record_costs_what_the_sequence_length_takes() {
        let huge = "é".repeat(5_000_000);
        let examples = [
            example(huge.clone(), " 1".into()),
            example("Q:".into(), huge.clone()),
            example("Q:".into(), " 2".into()),
        ];
        let chars = Chars::default();
        let (rows, report) = tokenize_examples(0, &examples, &chars, 32).unwrap();
        assert_eq!(report.skipped_too_long, 1);
        assert_eq!(report.truncated, 1);
        assert!(
            chars.longest_encoded.get() <= text_budget(32, 4),
            "encoded {} bytes",
            chars.longest_encoded.get()
        );
        // The cut completion gives the tokens the whole one would have.
        let mut whole: Vec<u32> = "Q:".chars().chain(huge.chars()).map(u32::from).collect();
        whole.truncate(32);
        assert_eq!(rows[0].tokens, whole);
        assert_eq!(rows[1].tokens, vec![81, 58, 32, 50, 0]);
        // A prompt just within the budget is encoded, and skipped by its token count.
        let long = example("x".repeat(text_budget(32, 4)), " 1".into());
        let (rows, report) = tokenize_examples(0, &[long], &chars, 32).unwrap();
        assert!(rows.is_empty() && report.skipped_too_long == 1);
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        assert_eq!(prefix("aé", 2), "a");
        assert_eq!(prefix("aé", 3), "aé");
        assert_eq!(prefix("aé", 100), "aé");
    }
}
