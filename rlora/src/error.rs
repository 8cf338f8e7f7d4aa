//! Errors of the R-LoRA module: invalid configurations and adapters that do not fit.

use std::path::PathBuf;

/// Everything that can go wrong when building, loading or saving an R-LoRA layer.
#[derive(Debug, thiserror::Error)]
pub enum RLoraError {
    /// A configuration value is out of its domain.
    #[error("invalid R-LoRA config: `{field}` {reason}")]
    InvalidConfig {
        /// The offending field of [`RLoraConfig`](crate::RLoraConfig).
        field: &'static str,
        /// Why it is rejected, with the value.
        reason: String,
    },
    /// A config and a base layer (or two configs) disagree on a shape.
    #[error(
        "config mismatch: `{field}` is {expected} in {expected_from} but {found} in {found_from}"
    )]
    ConfigMismatch {
        /// The field that differs.
        field: &'static str,
        /// The value the layer has.
        expected: String,
        /// Where `expected` comes from.
        expected_from: String,
        /// The value that was offered.
        found: String,
        /// Where `found` comes from.
        found_from: String,
    },
    /// A tensor the adapter needs is absent from a safetensors file.
    #[error("{file}: missing tensor `{key}`")]
    MissingTensor {
        /// The file read.
        file: PathBuf,
        /// The absent key.
        key: String,
    },
    /// A tensor has the wrong shape.
    #[error("{file}: tensor `{key}` has shape {found:?}, expected {expected:?}")]
    ShapeMismatch {
        /// The file read.
        file: PathBuf,
        /// The tensor's key.
        key: String,
        /// The shape the layer needs.
        expected: Vec<usize>,
        /// The shape in the file.
        found: Vec<usize>,
    },
    /// A tensor has a dtype this crate does not read.
    #[error("{file}: tensor `{key}` has unsupported dtype {dtype} (expected F32, F16 or BF16)")]
    UnsupportedDtype {
        /// The file read.
        file: PathBuf,
        /// The tensor's key.
        key: String,
        /// The dtype found.
        dtype: String,
    },
    /// A file holds tensors that no layer asked for.
    #[error("{file}: unexpected tensors {keys:?}")]
    UnexpectedTensors {
        /// The file read.
        file: PathBuf,
        /// The keys nobody consumed.
        keys: Vec<String>,
    },
    /// A routing vector of the wrong length or with invalid entries.
    #[error("invalid routing weights: {0}")]
    InvalidRouting(String),
    /// The operation needs a single head.
    #[error("{operation} needs heads = 1, the layer has {heads} heads (use `merge_with_routing`)")]
    MultipleHeads {
        /// What was attempted.
        operation: &'static str,
        /// The layer's head count.
        heads: usize,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("{path}: {message}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A safetensors file could not be parsed or written.
    #[error("{path}: {message}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
}

impl RLoraError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidConfig {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
