//! Adapter files on disk: [`TensorFile`] (named tensors in a safetensors file, errors naming the
//! file and the key), [`decode_f32`] (F32/F16/BF16 bytes as f32), [`write_atomically`] (a
//! temporary file, then a rename) and [`write_adapter_dir`] (an adapter folder: tensors first,
//! then the config), with the folder's file names.

mod adapter_dir;
mod atomic;
mod tensor_file;

pub use adapter_dir::{
    ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE, LAYER_ADAPTER_FORMAT, write_adapter_dir,
};
pub use atomic::write_atomically;
pub use tensor_file::{TensorFile, decode_f32};
