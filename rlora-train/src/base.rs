//! The tiny base model the examples fine-tune: a ~0.8M-parameter Llama over bytes, pretrained
//! from scratch on a generated English-like corpus (`rlora pretrain`, `cargo xtask pretrain`),
//! so that fine-tuning starts from a model that knows words, digits and the `Q: … A: …` form but
//! none of the built-in tasks' answers.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::backend::AutodiffBackend;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rlora_llama::{Llama, LlamaConfig, ModelType, TextTokenizer, TokenIds, Unfreeze};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

use crate::cli::CliError;
use crate::data::{Tokenize, TokenizedExample};
use crate::train::{TrainingConfig, TrainingData, train};

/// The special tokens, ids 0, 1, 2; the 256 bytes follow.
const SPECIALS: [&str; 3] = ["<s>", "</s>", "<pad>"];

/// The architecture of the tiny base: 4 layers, d = 128, GQA 4/2 heads, tied embeddings.
pub fn tiny_config() -> LlamaConfig {
    LlamaConfig {
        model_type: ModelType::Llama,
        vocab_size: SPECIALS.len() + 256,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        head_dim: None,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        rope_scaling: None,
        max_position_embeddings: 512,
        tie_word_embeddings: true,
        attention_bias: false,
        mlp_bias: false,
        bos_token_id: Some(0),
        eos_token_id: Some(TokenIds::One(1)),
    }
}

/// Writes a byte-level tokenizer (`<s>`, `</s>`, `<pad>`, then one token per byte, no merges)
/// as `tokenizer.json`, with `tokenizer_config.json` (BOS added) and `generation_config.json`.
pub fn write_byte_tokenizer(dir: &Path) -> Result<(), CliError> {
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

/// `lines` lines of generated English-like text: sentences, questions about them, word, letter
/// and number lists, and `key=value` strings. It teaches the surface the tasks use, not their
/// answers.
pub fn pretraining_corpus(seed: u64, lines: usize) -> Vec<String> {
    const SUBJECTS: &[&str] = &[
        "the old sailor",
        "a small cat",
        "my friend",
        "the teacher",
        "a tall tree",
        "the red car",
        "our neighbor",
        "the quiet river",
        "a young girl",
        "the baker",
        "an old dog",
        "the farmer",
        "a busy bee",
        "the king",
    ];
    const VERBS: &[&str] = &[
        "sees",
        "likes",
        "finds",
        "paints",
        "carries",
        "follows",
        "remembers",
        "builds",
        "hears",
        "wants",
        "loves",
        "hates",
        "sells",
        "keeps",
    ];
    const OBJECTS: &[&str] = &[
        "a blue boat",
        "the green hill",
        "an apple",
        "the long road",
        "a warm coat",
        "the bright moon",
        "a loud song",
        "the small house",
        "a heavy stone",
        "the cold water",
        "a new book",
        "the dark forest",
        "a sweet cake",
    ];
    const WHEN: &[&str] = &[
        "in the morning",
        "near the sea",
        "after lunch",
        "every day",
        "at night",
        "in winter",
        "today",
    ];
    const ADJECTIVES: &[&str] = &[
        "good", "bad", "great", "awful", "lovely", "boring", "fine", "nice", "dull", "bright",
        "happy", "sad",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let letters = |rng: &mut StdRng, n: usize| -> String {
        (0..n)
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect()
    };
    (0..lines)
        .map(|_| {
            let subject = *SUBJECTS.choose(&mut rng).expect("non-empty");
            let verb = *VERBS.choose(&mut rng).expect("non-empty");
            let object = *OBJECTS.choose(&mut rng).expect("non-empty");
            match rng.random_range(0..7) {
                0 | 1 => format!(
                    "{subject} {verb} {object} {}.",
                    WHEN.choose(&mut rng).expect("non-empty")
                ),
                2 => {
                    format!("{subject} {verb} {object}.\nQ: what does {subject} see?\nA: {object}")
                }
                3 => {
                    let n = rng.random_range(3..7);
                    let numbers: Vec<String> = (0..n)
                        .map(|_| rng.random_range(0..100).to_string())
                        .collect();
                    format!("numbers: {}", numbers.join(" "))
                }
                4 => {
                    let n = rng.random_range(2..6);
                    let words: Vec<String> = (0..n)
                        .map(|_| {
                            let len = rng.random_range(3..7);
                            letters(&mut rng, len)
                        })
                        .collect();
                    format!("words: {}", words.join(" "))
                }
                5 => {
                    let n = rng.random_range(2..6);
                    let pairs: Vec<String> = (0..n)
                        .map(|_| {
                            format!(
                                "{}{}={}",
                                letters(&mut rng, 1),
                                rng.random_range(0..10),
                                rng.random_range(0..10)
                            )
                        })
                        .collect();
                    format!("{}.", pairs.join(" "))
                }
                _ => format!(
                    "the day was {}. {subject} felt {}.",
                    ADJECTIVES.choose(&mut rng).expect("non-empty"),
                    ADJECTIVES.choose(&mut rng).expect("non-empty")
                ),
            }
        })
        .collect()
}

/// Pretrains the tiny base for `steps` steps and writes it, with its tokenizer, to `output`
/// (a Hugging Face folder). `work` holds the run's logs and checkpoints.
pub fn pretrain_base<B: AutodiffBackend>(
    output: &Path,
    work: &Path,
    steps: usize,
    seed: u64,
    device: &B::Device,
) -> Result<PathBuf, CliError> {
    write_byte_tokenizer(output)?;
    let tokenizer = TextTokenizer::from_dir(output)?;
    let eos = tokenizer.eos()?;
    let encode = |lines: Vec<String>| -> Result<Vec<TokenizedExample>, CliError> {
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
    let model = Llama::<B>::random(tiny_config(), None, device)?.map(&mut Unfreeze);
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
    let model = train(model, &data, &config, work, false)?;
    model.save_pretrained(output)?;
    Ok(output.to_path_buf())
}

/// The shipped tiny base model in this checkout (built by `cargo xtask pretrain`).
pub fn tiny_base_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/tiny-base")
}

/// The shipped tiny base's files, compiled in so that an installed `rlora` has it too.
const TINY_BASE_FILES: [(&str, &[u8]); 5] = [
    (
        "config.json",
        include_bytes!("../../assets/tiny-base/config.json"),
    ),
    (
        "generation_config.json",
        include_bytes!("../../assets/tiny-base/generation_config.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../assets/tiny-base/model.safetensors"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../../assets/tiny-base/tokenizer.json"),
    ),
    (
        "tokenizer_config.json",
        include_bytes!("../../assets/tiny-base/tokenizer_config.json"),
    ),
];

/// `model`, or else the tiny base: the repository's `assets/tiny-base` when this build's
/// checkout still has it, otherwise the embedded copy, written once (atomically) to
/// `$XDG_CACHE_HOME/rlora/tiny-base-<version>` (or `~/.cache/…`, or the temporary folder).
pub fn model_or_tiny_base(model: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(model) = model {
        return Ok(model.to_path_buf());
    }
    let checkout = tiny_base_dir();
    if checkout.join("model.safetensors").is_file() {
        return Ok(checkout);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = cache
        .join("rlora")
        .join(format!("tiny-base-{}", env!("CARGO_PKG_VERSION")));
    write_embedded_base(&dir)?;
    Ok(dir)
}

/// Writes the embedded tiny base into `dir`, leaving files that already hold the same bytes.
fn write_embedded_base(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, bytes) in TINY_BASE_FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|existing| existing == bytes) {
            continue;
        }
        rlora::write_atomically(&path, bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_base_is_the_shipped_one_and_loads() {
        let dir = std::env::temp_dir().join(format!("rlora-embedded-base-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_embedded_base(&dir).unwrap();
        write_embedded_base(&dir).unwrap();
        for (name, _) in TINY_BASE_FILES {
            assert_eq!(
                std::fs::read(dir.join(name)).unwrap(),
                std::fs::read(tiny_base_dir().join(name)).unwrap(),
                "{name}"
            );
        }
        let device = Default::default();
        let model = Llama::<burn::backend::NdArray>::from_pretrained(&dir, None, &device).unwrap();
        assert_eq!(model.config, tiny_config());
        assert!(TextTokenizer::from_dir(&dir).is_ok());
        assert_eq!(
            model_or_tiny_base(Some(Path::new("elsewhere"))).unwrap(),
            Path::new("elsewhere")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
