//! [`Checkpoint`]: the tensors of a Hugging Face checkpoint folder (`model.safetensors`, or shards
//! listed by `model.safetensors.index.json`), memory-mapped and read one tensor at a time, so
//! loading never holds a second copy of the model.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use memmap2::Mmap;
use safetensors::SafeTensors;
use serde::Deserialize;

use crate::error::{LlamaError, read_json};

/// The single-file weights of a checkpoint folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The index of a sharded checkpoint.
pub const WEIGHTS_INDEX_FILE: &str = "model.safetensors.index.json";

#[derive(Deserialize)]
struct WeightIndex {
    weight_map: BTreeMap<String, String>,
}

/// A checkpoint's safetensors files, mapped, and which tensors were taken.
pub struct Checkpoint {
    /// What errors name: the single file or the index.
    path: PathBuf,
    files: Vec<(PathBuf, Mmap)>,
    /// Tensor name → index into `files`.
    location: HashMap<String, usize>,
    taken: BTreeSet<String>,
}

impl Checkpoint {
    /// Opens `dir/model.safetensors`, or the shards that `dir/model.safetensors.index.json` lists.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let index_path = dir.join(WEIGHTS_INDEX_FILE);
        let (path, shard_names): (PathBuf, Vec<String>) = if index_path.exists() {
            let index: WeightIndex = read_json(&index_path)?;
            let shards: BTreeSet<String> = index.weight_map.values().cloned().collect();
            (index_path, shards.into_iter().collect())
        } else {
            (dir.join(WEIGHTS_FILE), vec![WEIGHTS_FILE.to_string()])
        };
        let mut files = Vec::new();
        let mut location = HashMap::new();
        for name in shard_names {
            let file_path = dir.join(&name);
            let file =
                std::fs::File::open(&file_path).map_err(|e| LlamaError::io(&file_path, e))?;
            // SAFETY: the mapping is read-only and lives as long as `Checkpoint`; a checkpoint
            // rewritten while it is being loaded is outside what this loader supports.
            let mmap = unsafe { Mmap::map(&file) }.map_err(|e| LlamaError::io(&file_path, e))?;
            let tensors = SafeTensors::deserialize(&mmap).map_err(|e| LlamaError::Safetensors {
                path: file_path.clone(),
                message: e.to_string(),
            })?;
            for name in tensors.names() {
                location.insert(name.to_string(), files.len());
            }
            files.push((file_path, mmap));
        }
        Ok(Self {
            path,
            files,
            location,
            taken: BTreeSet::new(),
        })
    }

    /// The weight files, each with its mapped bytes.
    pub fn files(&self) -> impl Iterator<Item = (&Path, &[u8])> {
        self.files
            .iter()
            .map(|(path, mmap)| (path.as_path(), &mmap[..]))
    }

    /// Whether the checkpoint has `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.location.contains_key(name)
    }

    /// The tensor `name` as f32 values with its shape, checked against `shape`.
    fn read(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LlamaError> {
        let &file = self
            .location
            .get(name)
            .ok_or_else(|| LlamaError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })?;
        let (path, mmap) = &self.files[file];
        let tensors = SafeTensors::deserialize(mmap).map_err(|e| LlamaError::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        let view = tensors.tensor(name).map_err(|e| LlamaError::Safetensors {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if view.shape() != shape {
            return Err(LlamaError::TensorShape {
                path: path.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: view.shape().to_vec(),
            });
        }
        let values = rlora::io::decode_f32(view.dtype(), view.data()).ok_or_else(|| {
            LlamaError::TensorDtype {
                path: path.clone(),
                name: name.to_string(),
                dtype: format!("{:?}", view.dtype()),
            }
        })?;
        self.taken.insert(name.to_string());
        Ok(values)
    }

    /// The float type of the tensor `name` on disk (`F32`, `F16`, `BF16`, …), if it is there.
    pub fn dtype(&self, name: &str) -> Option<DType> {
        let (_, mmap) = &self.files[*self.location.get(name)?];
        let tensors = SafeTensors::deserialize(mmap).ok()?;
        Some(match tensors.tensor(name).ok()?.dtype() {
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::F64 => DType::F64,
            _ => DType::F32,
        })
    }

    /// The tensor `name`, which must have `shape`, on `device`, in `dtype`.
    pub fn tensor<B: Backend, const D: usize>(
        &mut self,
        name: &str,
        shape: [usize; D],
        device: &B::Device,
        dtype: DType,
    ) -> Result<Tensor<B, D>, LlamaError> {
        let values = self.read(name, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            (device, dtype),
        ))
    }

    /// A PyTorch linear weight `name` stored `[d_out, d_in]`, as burn's `[d_in, d_out]`, in
    /// `dtype`.
    pub fn linear_weight<B: Backend>(
        &mut self,
        name: &str,
        d_in: usize,
        d_out: usize,
        device: &B::Device,
        dtype: DType,
    ) -> Result<Tensor<B, 2>, LlamaError> {
        let values = self.read(name, &[d_out, d_in])?;
        let mut transposed = vec![0f32; values.len()];
        for (o, row) in values.chunks_exact(d_in).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                transposed[i * d_out + o] = v;
            }
        }
        Ok(Tensor::from_data(
            TensorData::new(transposed, [d_in, d_out]),
            (device, dtype),
        ))
    }

    /// Errors when tensors were left untaken, except those `ignored` says may be.
    pub fn finish(self, ignored: impl Fn(&str) -> bool) -> Result<(), LlamaError> {
        let mut names: Vec<String> = self
            .location
            .into_keys()
            .filter(|name| !self.taken.contains(name) && !ignored(name))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        names.sort();
        names.truncate(20);
        Err(LlamaError::UnexpectedTensors {
            path: self.path,
            names,
        })
    }
}
