//! [`Checkpoint`]: the tensors of a Hugging Face checkpoint folder (`model.safetensors`, or shards
//! listed by `model.safetensors.index.json`), memory-mapped and read one tensor at a time, so
//! loading never holds a second copy of the model.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};

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
    ///
    /// # Errors
    /// A shard the index names outside the folder (see `shard_path`), a weights file that is
    /// not a regular file (a folder, a device), or one that cannot be read or parsed; each names
    /// the file.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let index_path = dir.join(WEIGHTS_INDEX_FILE);
        let (path, file_paths): (PathBuf, Vec<PathBuf>) = if index_path.exists() {
            let index: WeightIndex = read_json(&index_path)?;
            let shards: BTreeSet<&String> = index.weight_map.values().collect();
            let paths: Vec<PathBuf> = shards
                .into_iter()
                .map(|name| shard_path(dir, &index_path, name))
                .collect::<Result<_, _>>()?;
            (index_path, paths)
        } else {
            (dir.join(WEIGHTS_FILE), vec![dir.join(WEIGHTS_FILE)])
        };
        let mut files = Vec::new();
        let mut location = HashMap::new();
        for file_path in file_paths {
            let mmap = map_file(&file_path)?;
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
        check_finite(path, name, &values)?;
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

/// The file of the shard `name` that the index at `index_path` lists, checked to lie inside the
/// model folder `dir`: a relative path of plain names (no root, no `..`), which, when it is a
/// link, leads to a file inside `dir` or, for a Hugging Face cache snapshot
/// (`models--…/snapshots/REV/`), inside the cache's `blobs/` folder, where the cache keeps the
/// files its snapshots link to. So an index cannot make the loader open a file elsewhere.
fn shard_path(dir: &Path, index_path: &Path, name: &str) -> Result<PathBuf, LlamaError> {
    let outside = |why: &str| LlamaError::Config {
        path: index_path.to_path_buf(),
        key: "weight_map".into(),
        message: format!(
            "names the shard `{name}`, which {why}: a shard must be a file inside the model \
             folder {}",
            dir.display()
        ),
    };
    let relative = Path::new(name);
    if name.is_empty() || relative.is_absolute() {
        return Err(outside("is not a relative path"));
    }
    if relative
        .components()
        .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
    {
        return Err(outside("leaves the folder (`..`)"));
    }
    let path = dir.join(relative);
    let (Ok(folder), Ok(target)) = (dir.canonicalize(), path.canonicalize()) else {
        // A shard that does not exist is reported, with its path, when it is opened.
        return Ok(path);
    };
    let blobs = folder
        .parent()
        .filter(|snapshots| snapshots.file_name() == Some(OsStr::new("snapshots")))
        .and_then(Path::parent)
        .map(|repository| repository.join("blobs"));
    let inside = target.starts_with(&folder) || blobs.is_some_and(|b| target.starts_with(b));
    if !inside {
        return Err(outside(&format!(
            "is a link to {}, outside the folder",
            target.display()
        )));
    }
    Ok(path)
}

/// Maps the weights file `path` read-only, once it is known to be a regular file (the system
/// maps a folder or a device with a baffling error, or not at all).
fn map_file(path: &Path) -> Result<Mmap, LlamaError> {
    let metadata = std::fs::metadata(path).map_err(|e| LlamaError::io(path, e))?;
    if !metadata.is_file() {
        let what = if metadata.is_dir() {
            "a folder"
        } else {
            "not a regular file"
        };
        return Err(LlamaError::Safetensors {
            path: path.to_path_buf(),
            message: format!("is {what}, not a safetensors weights file"),
        });
    }
    let file = std::fs::File::open(path).map_err(|e| LlamaError::io(path, e))?;
    // SAFETY: the mapping is read-only and lives as long as `Checkpoint`; a checkpoint
    // rewritten while it is being loaded is outside what this loader supports.
    unsafe { Mmap::map(&file) }.map_err(|e| LlamaError::io(path, e))
}

/// Refuses a tensor with a value that is not finite (NaN or infinite), naming the file, the
/// tensor, how many values and the first one's index: a base with one would make every loss
/// NaN, far from its cause.
fn check_finite(path: &Path, name: &str, values: &[f32]) -> Result<(), LlamaError> {
    let Some(first) = values.iter().position(|v| !v.is_finite()) else {
        return Ok(());
    };
    let count = values[first..].iter().filter(|v| !v.is_finite()).count();
    Err(LlamaError::NonFiniteTensor {
        path: path.to_path_buf(),
        name: name.to_string(),
        count,
        index: first,
        value: values[first],
    })
}
