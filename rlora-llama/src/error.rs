//! Errors of model loading, adapters and generation; each names the file, key or tensor at fault.

use std::path::PathBuf;

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file is malformed or lacks a field (serde's message has the line and column).
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A config value is unsupported or inconsistent.
    #[error("{path}: `{key}` {message}")]
    Config {
        /// The config file.
        path: PathBuf,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// A checkpoint lacks a tensor the model needs.
    #[error("{path}: missing tensor `{name}`")]
    MissingTensor {
        /// The checkpoint (file or index) searched.
        path: PathBuf,
        /// The tensor.
        name: String,
    },
    /// A checkpoint tensor has the wrong shape.
    #[error("{path}: tensor `{name}` has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// The file holding it.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// What the config implies.
        expected: Vec<usize>,
        /// What the file holds.
        found: Vec<usize>,
    },
    /// A checkpoint tensor has a dtype that cannot be read.
    #[error("{path}: tensor `{name}` has dtype {dtype}; supported: F32, F16, BF16")]
    TensorDtype {
        /// The file holding it.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// A checkpoint tensor holds values that are not finite (NaN or infinite).
    #[error(
        "{path}: tensor `{name}` is not finite at {count} of its values (the first, at flat \
         index {index}, is {value}): the model's weights are broken; download or convert them \
         again"
    )]
    NonFiniteTensor {
        /// The file holding it.
        path: PathBuf,
        /// The tensor.
        name: String,
        /// How many of its values are not finite.
        count: usize,
        /// The flat index of the first.
        index: usize,
        /// The first.
        value: f32,
    },
    /// A checkpoint holds tensors the model does not use.
    #[error("{path}: unexpected tensors {names:?}")]
    UnexpectedTensors {
        /// The checkpoint.
        path: PathBuf,
        /// Their names (the first few).
        names: Vec<String>,
    },
    /// A safetensors file is malformed.
    #[error("{path}: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The tokenizer failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An R-LoRA layer could not be built or loaded.
    #[error(transparent)]
    RLora(#[from] rlora::RLoraError),
    /// An adapter's rank or head count is larger than a target projection's dimensions.
    #[error(
        "{setting} {value} is larger than the {module} projections ({d_input} → {d_output}): at \
         most {}",
        d_input.min(d_output)
    )]
    AdapterTooLarge {
        /// `rank` or `heads`.
        setting: &'static str,
        /// Its value.
        value: usize,
        /// The target projection (`gate_proj`, …).
        module: &'static str,
        /// The projection's input size.
        d_input: usize,
        /// Its output size.
        d_output: usize,
    },
    /// A multi-head adapter was to be exported to PEFT's LoRA format, which holds one head,
    /// without a routing to fold its heads under.
    #[error(
        "the adapter at {path} has {heads} heads and a PEFT LoRA holds one: give a routing to \
         fold them under"
    )]
    HeadsToFold {
        /// The adapter's projection (`model.layers.0.mlp.up_proj`).
        path: String,
        /// Its heads.
        heads: usize,
    },
    /// An argument is out of its domain.
    #[error("{0}")]
    InvalidArgument(String),
}

impl LlamaError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn json(path: impl Into<PathBuf>, error: impl std::fmt::Display) -> Self {
        Self::Json {
            path: path.into(),
            message: error.to_string(),
        }
    }
}

/// Reads and parses a JSON file, with errors that name it.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
) -> Result<T, LlamaError> {
    let text = std::fs::read_to_string(path).map_err(|e| LlamaError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| LlamaError::json(path, e))
}
