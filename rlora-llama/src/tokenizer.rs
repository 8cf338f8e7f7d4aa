//! [`TextTokenizer`]: a Hugging Face `tokenizer.json` with the checkpoint's BOS and EOS rules.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::LlamaConfig;
use crate::error::{LlamaError, read_json};

/// The parts of `tokenizer_config.json` that change how prompts are encoded.
#[derive(Debug, Default, Deserialize)]
struct TokenizerConfig {
    #[serde(default)]
    add_bos_token: Option<bool>,
    #[serde(default)]
    bos_token: Option<SpecialToken>,
    #[serde(default)]
    eos_token: Option<SpecialToken>,
}

/// A special token, as a string or as an `AddedToken` object.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SpecialToken {
    Text(String),
    Object { content: String },
}

impl SpecialToken {
    fn content(&self) -> &str {
        match self {
            Self::Text(s) => s,
            Self::Object { content } => content,
        }
    }
}

/// The parts of `generation_config.json` used here.
#[derive(Debug, Default, Deserialize)]
struct GenerationDefaults {
    #[serde(default)]
    eos_token_id: Option<crate::config::TokenIds>,
}

/// A tokenizer that encodes prompts the way the checkpoint expects (BOS prepended or not) and
/// knows the checkpoint's end-of-sequence tokens.
pub struct TextTokenizer {
    tokenizer: tokenizers::Tokenizer,
    /// The `tokenizer.json` it was read from, for messages.
    path: PathBuf,
    bos: Option<u32>,
    /// `add_bos_token` of `tokenizer_config.json`, which overrides the post-processor.
    add_bos: Option<bool>,
    eos: Vec<u32>,
    /// The longest token of the vocabulary, in bytes.
    longest_token: usize,
}

impl TextTokenizer {
    /// Loads `dir/tokenizer.json`, with `tokenizer_config.json` (whether to add BOS, the BOS and
    /// EOS tokens) and `generation_config.json` (EOS ids) when present.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let path = dir.join("tokenizer.json");
        let tokenizer = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| LlamaError::Tokenizer(format!("{}: {e}", path.display())))?;
        let config_path = dir.join("tokenizer_config.json");
        let config: TokenizerConfig = if config_path.exists() {
            read_json(&config_path)?
        } else {
            TokenizerConfig::default()
        };
        let generation_path = dir.join("generation_config.json");
        let generation: GenerationDefaults = if generation_path.exists() {
            read_json(&generation_path)?
        } else {
            GenerationDefaults::default()
        };
        let id = |token: &Option<SpecialToken>| {
            token
                .as_ref()
                .and_then(|t| tokenizer.token_to_id(t.content()))
        };
        let bos = id(&config.bos_token);
        let mut eos: Vec<u32> = generation
            .eos_token_id
            .map(|ids| ids.to_vec())
            .unwrap_or_default();
        if let Some(id) = id(&config.eos_token)
            && !eos.contains(&id)
        {
            eos.push(id);
        }
        let longest_token = tokenizer
            .get_vocab(true)
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(1);
        Ok(Self {
            tokenizer,
            path,
            bos,
            add_bos: config.add_bos_token,
            eos,
            longest_token,
        })
    }

    /// The tokenizer of the model in `dir` ([`TextTokenizer::from_dir`]), checked against the
    /// model's `config.json` ([`TextTokenizer::check_fits`]) before the model loads: a token id
    /// the model's embedding lacks is an error here rather than an out-of-bounds lookup later.
    pub fn from_model_dir(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let tokenizer = Self::from_dir(dir)?;
        let config = LlamaConfig::from_file(dir.join("config.json"))?;
        tokenizer.check_fits(config.vocab_size)?;
        Ok(tokenizer)
    }

    /// The ids of `text` as transformers encodes a prompt: the post-processor's special tokens,
    /// with BOS added or removed as `add_bos_token` says when the config sets it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| LlamaError::Tokenizer(e.to_string()))?;
        let mut ids = encoding.get_ids().to_vec();
        let starts_with_bos = self.bos.is_some() && ids.first().copied() == self.bos;
        match (self.add_bos, self.bos) {
            (Some(true), Some(bos)) if !starts_with_bos => ids.insert(0, bos),
            (Some(false), _) if starts_with_bos => {
                ids.remove(0);
            }
            _ => {}
        }
        Ok(ids)
    }

    /// The ids of `text` with no special tokens: a continuation of an encoded prompt.
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, LlamaError> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| LlamaError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, LlamaError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| LlamaError::Tokenizer(e.to_string()))
    }

    /// The end-of-sequence ids.
    pub fn eos_ids(&self) -> &[u32] {
        &self.eos
    }

    /// The end-of-sequence id that ends a completion: the first of [`eos_ids`](Self::eos_ids).
    ///
    /// # Errors
    /// The tokenizer has none; the error names the files that would give one.
    pub fn eos_id(&self) -> Result<u32, LlamaError> {
        self.eos.first().copied().ok_or_else(|| {
            let dir = self.path.with_file_name("");
            LlamaError::Tokenizer(format!(
                "{}: the tokenizer has no end-of-sequence token, which ends every completion: \
                 neither {} (`eos_token_id`) nor {} (`eos_token`, a token of tokenizer.json) \
                 names one",
                self.path.display(),
                dir.join("generation_config.json").display(),
                dir.join("tokenizer_config.json").display()
            ))
        })
    }

    /// The most bytes of text one token stands for: the longest token of the vocabulary (added
    /// tokens included), in bytes of its vocabulary entry, which is never shorter than the text
    /// it encodes (a byte-level BPE writes each byte as one character of one or two bytes,
    /// SentencePiece a space as `▁`, a byte fallback as `<0x..>`). At least 1.
    pub fn longest_token_bytes(&self) -> usize {
        self.longest_token
    }

    /// The BOS id, if the tokenizer has one.
    pub fn bos_id(&self) -> Option<u32> {
        self.bos
    }

    /// The vocabulary size, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Checks that every id of the vocabulary (added tokens included) and every end-of-sequence
    /// id is below `vocab_size`, the rows of the model's embedding: a larger id would index past
    /// them. The error names the file, the token and its id.
    pub fn check_fits(&self, vocab_size: usize) -> Result<(), LlamaError> {
        let vocab = self.tokenizer.get_vocab(true);
        let largest = vocab.iter().max_by_key(|(_, id)| **id);
        if let Some((token, id)) = largest.filter(|(_, id)| **id as usize >= vocab_size) {
            let last = vocab_size.saturating_sub(1);
            return Err(LlamaError::Tokenizer(format!(
                "{}: token {token:?} has id {id}, but the model's config.json has vocab_size \
                 {vocab_size} (ids 0 to {last}): the tokenizer does not belong to this model",
                self.path.display()
            )));
        }
        match self.eos.iter().find(|&&eos| eos as usize >= vocab_size) {
            Some(eos) => Err(LlamaError::Tokenizer(format!(
                "{}: the end-of-sequence id {eos} (generation_config.json or \
                 tokenizer_config.json) is not below the model's vocab_size {vocab_size}",
                self.path.with_file_name("").display()
            ))),
            None => Ok(()),
        }
    }
}
