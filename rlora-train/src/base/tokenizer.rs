//! [`write_byte_tokenizer`]: the tiny base's tokenizer, one token per byte.

use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use super::{BaseError, SPECIALS};

/// Writes a byte-level tokenizer (`<s>`, `</s>`, `<pad>`, then one token per byte, no merges)
/// as `tokenizer.json`, with `tokenizer_config.json` (BOS added) and `generation_config.json`.
pub fn write_byte_tokenizer(dir: &Path) -> Result<(), BaseError> {
    let mut alphabet: Vec<char> = ByteLevel::alphabet().into_iter().collect();
    alphabet.sort_unstable();
    let vocab: tokenizers::models::bpe::Vocab = SPECIALS
        .iter()
        .map(|s| s.to_string())
        .chain(alphabet.iter().map(char::to_string))
        .enumerate()
        .map(|(i, token)| (token, i as u32))
        .collect();
    let bpe = BPE::builder().vocab_and_merges(vocab, Vec::new()).build()?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    let specials: Vec<AddedToken> = SPECIALS
        .iter()
        .map(|s| AddedToken::from(*s, true))
        .collect();
    tokenizer.add_special_tokens(&specials);
    std::fs::create_dir_all(dir)?;
    tokenizer.save(dir.join("tokenizer.json"), true)?;
    let config = serde_json::json!({
        "bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>",
        "add_bos_token": true, "add_eos_token": false, "model_max_length": 512,
    });
    std::fs::write(
        dir.join("tokenizer_config.json"),
        serde_json::to_vec_pretty(&config)?,
    )?;
    let generation = serde_json::json!({ "bos_token_id": 0, "eos_token_id": 1 });
    std::fs::write(
        dir.join("generation_config.json"),
        serde_json::to_vec_pretty(&generation)?,
    )?;
    Ok(())
}
