//! BOS handling: the post-processor's choice unless `tokenizer_config.json` says `add_bos_token`.

use crate::common::fixture;
use rlora_llama::TextTokenizer;

fn tokenizer_with_config(name: &str, config: Option<&str>) -> TextTokenizer {
    let dir = std::env::temp_dir().join(format!("rlora-tokenizer-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        fixture("llama-gqa").join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    if let Some(config) = config {
        std::fs::write(dir.join("tokenizer_config.json"), config).unwrap();
    }
    TextTokenizer::from_dir(&dir).unwrap()
}

#[test]
fn add_bos_token_overrides_the_post_processor() {
    let reference = TextTokenizer::from_dir(fixture("llama-gqa")).unwrap();
    let with_bos = reference.encode("The old sailor").unwrap();
    let bos = reference.bos_id().expect("the Llama fixture has <s>");
    assert_eq!(with_bos[0], bos);

    // No config: the tokenizer.json post-processor's own choice (it prepends <s>).
    assert_eq!(
        tokenizer_with_config("none", None)
            .encode("The old sailor")
            .unwrap(),
        with_bos
    );
    let without = tokenizer_with_config(
        "off",
        Some(r#"{"add_bos_token": false, "bos_token": "<s>"}"#),
    );
    assert_eq!(without.encode("The old sailor").unwrap(), with_bos[1..]);
    let on = tokenizer_with_config(
        "on",
        Some(r#"{"add_bos_token": true, "bos_token": {"content": "<s>"}}"#),
    );
    assert_eq!(on.encode("The old sailor").unwrap(), with_bos);
}

#[test]
fn decode_round_trips_text_and_a_missing_file_is_named() {
    let tokenizer = TextTokenizer::from_dir(fixture("qwen2-tied")).unwrap();
    let text = "In the middle of the night, 42 sailors sang!";
    assert_eq!(
        tokenizer.decode(&tokenizer.encode(text).unwrap()).unwrap(),
        text
    );
    let error = TextTokenizer::from_dir("/nonexistent")
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("/nonexistent/tokenizer.json"), "{error}");
}

#[test]
fn ids_beyond_the_models_vocabulary_are_named() {
    let tokenizer = TextTokenizer::from_dir(fixture("llama-gqa")).unwrap();
    tokenizer.check_fits(1 << 20).unwrap();
    let error = tokenizer.check_fits(10).unwrap_err().to_string();
    assert!(
        error.contains("llama-gqa/tokenizer.json") && error.contains("vocab_size 10"),
        "{error}"
    );
    // The fixture's own config.json: its tokenizer fits.
    TextTokenizer::from_model_dir(fixture("llama-gqa")).unwrap();
}
