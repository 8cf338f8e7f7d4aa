//! [`TensorFile`]: named tensors in a safetensors file, read with errors that name the file and
//! the key, and written atomically.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData, bf16, f16};
use safetensors::{Dtype, SafeTensors};

use super::write_atomically;
use crate::error::RLoraError;

/// Named tensors (stored as f32) bound to a safetensors file path.
#[derive(Debug, Clone)]
pub struct TensorFile {
    path: PathBuf,
    tensors: BTreeMap<String, TensorData>,
    metadata: HashMap<String, String>,
}

impl TensorFile {
    /// An empty set of tensors to be written to `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            tensors: BTreeMap::new(),
            metadata: HashMap::new(),
        }
    }

    /// Reads every tensor of a safetensors file (F32, F16 or BF16, converted to f32).
    pub fn read(path: impl Into<PathBuf>) -> Result<Self, RLoraError> {
        let path = path.into();
        let bytes = std::fs::read(&path).map_err(|e| RLoraError::io(&path, e))?;
        let parse_error = |e: safetensors::SafeTensorError| RLoraError::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        };
        let (_, header) = SafeTensors::read_metadata(&bytes).map_err(parse_error)?;
        let safetensors = SafeTensors::deserialize(&bytes).map_err(parse_error)?;
        let mut tensors = BTreeMap::new();
        for (key, view) in safetensors.iter() {
            let values = decode_f32(view.dtype(), view.data()).ok_or_else(|| {
                RLoraError::UnsupportedDtype {
                    file: path.clone(),
                    key: key.to_string(),
                    dtype: format!("{:?}", view.dtype()),
                }
            })?;
            tensors.insert(
                key.to_string(),
                TensorData::new(values, view.shape().to_vec()),
            );
        }
        let metadata = header.metadata().clone().unwrap_or_default();
        Ok(Self {
            path,
            tensors,
            metadata,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's `__metadata__` strings.
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// Sets one `__metadata__` entry.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// The keys still held.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Stores a tensor under `key` (as f32).
    pub fn insert<B: Backend, const D: usize>(
        &mut self,
        key: impl Into<String>,
        tensor: Tensor<B, D>,
    ) {
        self.tensors
            .insert(key.into(), tensor.into_data().convert::<f32>());
    }

    /// Stores raw tensor data under `key` (converted to f32).
    pub fn insert_data(&mut self, key: impl Into<String>, data: TensorData) {
        self.tensors.insert(key.into(), data.convert::<f32>());
    }

    /// Whether `key` is present.
    pub fn contains(&self, key: &str) -> bool {
        self.tensors.contains_key(key)
    }

    /// Removes `key`, returning its data if it was there.
    pub fn remove(&mut self, key: &str) -> Option<TensorData> {
        self.tensors.remove(key)
    }

    /// Removes `key` and returns it as a tensor on `device`, checking its shape.
    pub fn take<B: Backend, const D: usize>(
        &mut self,
        key: &str,
        shape: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>, RLoraError> {
        let data = self.remove(key).ok_or_else(|| RLoraError::MissingTensor {
            file: self.path.clone(),
            key: key.to_string(),
        })?;
        if data.shape.as_slice() != shape.as_slice() {
            return Err(RLoraError::ShapeMismatch {
                file: self.path.clone(),
                key: key.to_string(),
                expected: shape.to_vec(),
                found: data.shape.to_vec(),
            });
        }
        Ok(Tensor::from_data(data, device))
    }

    /// Errors when tensors are left that nobody took (a misnamed or foreign tensor).
    pub fn ensure_consumed(&self) -> Result<(), RLoraError> {
        if self.tensors.is_empty() {
            return Ok(());
        }
        Err(RLoraError::UnexpectedTensors {
            file: self.path.clone(),
            keys: self.tensors.keys().cloned().collect(),
        })
    }

    /// Writes the tensors as F32 safetensors, atomically (a temporary file, then a rename).
    pub fn write(&self) -> Result<(), RLoraError> {
        let views: Vec<(&str, safetensors::tensor::TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(key, data)| {
                let view = safetensors::tensor::TensorView::new(
                    Dtype::F32,
                    data.shape.to_vec(),
                    data.as_bytes(),
                )
                .map_err(|e| RLoraError::Safetensors {
                    path: self.path.clone(),
                    message: format!("tensor `{key}`: {e}"),
                })?;
                Ok((key.as_str(), view))
            })
            .collect::<Result<_, RLoraError>>()?;
        let metadata = (!self.metadata.is_empty()).then(|| self.metadata.clone());
        let bytes =
            safetensors::serialize(views, metadata).map_err(|e| RLoraError::Safetensors {
                path: self.path.clone(),
                message: e.to_string(),
            })?;
        write_atomically(&self.path, &bytes)
    }
}

/// Little-endian F32, F16 or BF16 bytes (a safetensors tensor's data) as f32 values; `None` for
/// any other dtype.
pub fn decode_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    let values = match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    };
    Some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_f16_and_bf16_bytes_decode_to_their_values() {
        let values = [1.5f32, -0.25, 3.0];
        let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f16_bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| f16::from_f32(*v).to_le_bytes())
            .collect();
        let bf16_bytes: Vec<u8> = values
            .iter()
            .flat_map(|v| bf16::from_f32(*v).to_le_bytes())
            .collect();
        for (dtype, bytes) in [
            (Dtype::F32, f32_bytes),
            (Dtype::F16, f16_bytes),
            (Dtype::BF16, bf16_bytes),
        ] {
            assert_eq!(decode_f32(dtype, &bytes).unwrap(), values, "{dtype:?}");
        }
        assert_eq!(decode_f32(Dtype::I64, &[0; 8]), None);
    }
}
