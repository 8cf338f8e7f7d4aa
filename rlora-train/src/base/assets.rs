//! The shipped tiny base, compiled in: [`model_or_tiny_base`] finds it in the checkout or writes
//! the embedded copy to a cache folder.

use std::path::{Path, PathBuf};

/// The shipped tiny base model in this checkout (built by `cargo xtask pretrain`).
pub fn tiny_base_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/tiny-base")
}

/// The shipped tiny base's files, compiled in so that an installed `rlora` has it too.
const TINY_BASE_FILES: [(&str, &[u8]); 5] = [
    (
        "config.json",
        include_bytes!("../../../assets/tiny-base/config.json"),
    ),
    (
        "generation_config.json",
        include_bytes!("../../../assets/tiny-base/generation_config.json"),
    ),
    (
        "model.safetensors",
        include_bytes!("../../../assets/tiny-base/model.safetensors"),
    ),
    (
        "tokenizer.json",
        include_bytes!("../../../assets/tiny-base/tokenizer.json"),
    ),
    (
        "tokenizer_config.json",
        include_bytes!("../../../assets/tiny-base/tokenizer_config.json"),
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
        rlora::io::write_atomically(&path, bytes).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rlora_llama::{Llama, TextTokenizer};

    use super::super::tiny_config;
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
        let model = Llama::<burn::backend::Flex>::from_pretrained(&dir, None, &device).unwrap();
        assert_eq!(model.config, tiny_config());
        assert!(TextTokenizer::from_dir(&dir).is_ok());
        assert_eq!(
            model_or_tiny_base(Some(Path::new("elsewhere"))).unwrap(),
            Path::new("elsewhere")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
