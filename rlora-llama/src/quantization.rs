//! [`QuantizedMatrix`]: a frozen matrix held block-wise quantized (QLoRA's frozen base), in one of
//! the two formats of [`Quantization`].
//!
//! A matrix `W [d_out, d_in]` (PyTorch's layout: one row per output) is cut into blocks of
//! [`BLOCK`] consecutive inputs (the last block of a row padded with zeros when `d_in` is not a
//! multiple of it). Each block `w` gets one scale `s = max|w| / q_max` and each of
//! its values the integer `q = round(w / s)` in `[−q_max, q_max]` (`q_max` = 127 with 8 bits, 7
//! with 4 bits): `dequantize(W) = s · q`, exact at each block's largest magnitude, off by at most
//! `s / 2` elsewhere.
//!
//! The integers are stored as `q + q_max` (never negative: fields read the same from a backend
//! whose integers are 64-bit) and packed into 32-bit words, 4 per word with 8 bits and 8 per word
//! with 4 bits; the scales are f32. That is 1.125 bytes per parameter with 8 bits
//! and 0.625 with 4 (a 16-bit base holds 2). Every backend stores and shifts 32-bit integers, so
//! the one packing serves the CPU and the GPUs. A row's `n` words hold its values in slabs: word
//! `j`'s field `k` is the value at input `j + k·n`, so that unpacking field `k` of every word
//! gives `n` consecutive inputs, and the row is the fields' slabs side by side (one
//! concatenation, no interleaving).
//!
//! burn's own quantized tensors do not serve here: burn-autodiff 0.21 implements none of their
//! operations (each panics), burn's optimizer reads a gradient for every float parameter (which
//! dequantizes a quantized one on the autodiff backend), and the Flex backend keeps 4-bit values
//! one per byte.

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{ElementConversion, FloatDType, Int, IntDType, Tensor, TensorData};

use crate::error::LlamaError;

/// The number of consecutive inputs that share a scale.
pub const BLOCK: usize = 32;

/// How a frozen matrix is quantized: block-wise, symmetric, with [`BLOCK`] inputs per f32 scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    /// 8-bit integers in `[−127, 127]`: 1.125 bytes per parameter.
    Q8,
    /// 4-bit integers in `[−7, 7]`: 0.625 bytes per parameter.
    Q4,
}

impl Quantization {
    /// Bits per value.
    pub const fn bits(self) -> usize {
        match self {
            Self::Q8 => 8,
            Self::Q4 => 4,
        }
    }

    /// The largest integer, `q_max`.
    pub const fn max_level(self) -> u32 {
        match self {
            Self::Q8 => 127,
            Self::Q4 => 7,
        }
    }

    /// Values per 32-bit word.
    pub const fn per_word(self) -> usize {
        32 / self.bits()
    }
}

/// A frozen matrix `W [d_out, d_in]`, block-wise quantized (see the module documentation). Its
/// tensors are constants of the module, never parameters: nothing trains them or asks for their
/// gradient.
#[derive(Module, Debug)]
pub struct QuantizedMatrix<B: Backend> {
    /// The packed integers, `[d_out, blocks · BLOCK / per_word]` 32-bit words.
    pub words: Tensor<B, 2, Int>,
    /// One scale per block, `[d_out, blocks]` with `blocks = ⌈d_in / BLOCK⌉`.
    pub scales: Tensor<B, 2>,
    /// `d_in`: the inputs of a row, padding left out.
    #[module(skip)]
    pub inputs: usize,
    /// The format of `words`.
    #[module(skip)]
    pub quantization: Quantization,
}

impl<B: Backend> QuantizedMatrix<B> {
    /// Quantizes the frozen `weight` of the tensor `name` (burn's layout, `[d_in, d_out]`, any
    /// float type), on `weight`'s device. Errors naming `name` when a value is not finite.
    pub fn quantize(
        weight: Tensor<B, 2>,
        quantization: Quantization,
        name: &str,
    ) -> Result<Self, LlamaError> {
        let [d_in, d_out] = weight.dims();
        let invalid = |message: String| {
            LlamaError::InvalidArgument(format!(
                "cannot quantize {name} ({d_out}×{d_in}): {message}"
            ))
        };
        let device = weight.device();
        let values = weight
            .transpose()
            .into_data()
            .convert::<f32>()
            .into_vec::<f32>()
            .map_err(|e| invalid(format!("{e:?}")))?;
        let (words, scales) = pack(&values, d_in, quantization).map_err(invalid)?;
        let blocks = d_in.div_ceil(BLOCK);
        Ok(Self {
            words: Tensor::from_data(
                TensorData::new(words, [d_out, blocks * BLOCK / quantization.per_word()]),
                (&device, IntDType::I32.into()),
            ),
            scales: Tensor::from_data(TensorData::new(scales, [d_out, blocks]), &device),
            inputs: d_in,
            quantization,
        })
    }

    /// `[d_out, d_in]`.
    pub fn dims(&self) -> [usize; 2] {
        [self.words.dims()[0], self.inputs]
    }

    /// `dequantize(W) [d_out, d_in]` in `dtype`: each value `s · q` of its block's scale.
    pub fn dequantize(&self, dtype: FloatDType) -> Tensor<B, 2> {
        let [d_out, blocks] = self.scales.dims();
        let padded = blocks * BLOCK;
        let bits = self.quantization.bits();
        let mask = ((1_u32 << bits) - 1).elem::<B::IntElem>();
        let slabs: Vec<Tensor<B, 2, Int>> = (0..self.quantization.per_word())
            .map(|k| {
                self.words
                    .clone()
                    .bitwise_right_shift_scalar(((bits * k) as u32).elem::<B::IntElem>())
                    .bitwise_and_scalar(mask)
            })
            .collect();
        let values = Tensor::cat(slabs, 1) // [d_out, padded]
            .reshape([d_out, blocks, BLOCK])
            .float()
            .sub_scalar(self.quantization.max_level());
        let scales = self.scales.clone().unsqueeze_dim::<3>(2); // [d_out, blocks, 1]
        let dequantized = (values * scales).reshape([d_out, padded]).cast(dtype);
        if padded == self.inputs {
            dequantized
        } else {
            dequantized.narrow(1, 0, self.inputs)
        }
    }
}

/// The packed words and the scales of `values` (`[d_out, d_in]` row-major), each row's last
/// block padded with zeros.
fn pack(
    values: &[f32],
    d_in: usize,
    quantization: Quantization,
) -> Result<(Vec<i32>, Vec<f32>), String> {
    if values.iter().any(|v| !v.is_finite()) {
        return Err("it holds a value that is not finite".into());
    }
    let (bits, per_word) = (quantization.bits(), quantization.per_word());
    let q_max = quantization.max_level() as f32;
    let mask = (1_u32 << bits) - 1;
    let padded = d_in.div_ceil(BLOCK) * BLOCK;
    let rows = values.len() / d_in.max(1);
    let mut scales = Vec::with_capacity(rows * padded / BLOCK);
    let mut words = Vec::with_capacity(rows * padded / per_word);
    let mut row_levels = vec![0_u32; padded];
    for row in values.chunks(d_in.max(1)) {
        row_levels.fill(quantization.max_level()); // the padding: zeros
        for (block, levels) in row.chunks(BLOCK).zip(row_levels.chunks_mut(BLOCK)) {
            let largest = block.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
            let scale = if largest > 0.0 { largest / q_max } else { 1.0 };
            scales.push(scale);
            for (level, &v) in levels.iter_mut().zip(block) {
                *level = ((v / scale).round().clamp(-q_max, q_max) + q_max) as u32;
            }
        }
        let n = padded / per_word;
        for j in 0..n {
            let word = (0..per_word).fold(0_u32, |word, k| {
                word | ((row_levels[j + k * n] & mask) << (bits * k))
            });
            words.push(word as i32);
        }
    }
    Ok((words, scales))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unpacks `pack`'s words on the host: each row's `padded` levels, in input order.
    fn unpack(words: &[i32], padded: usize, quantization: Quantization) -> Vec<i32> {
        let (bits, per_word) = (quantization.bits(), quantization.per_word());
        let (mask, q_max) = ((1_u32 << bits) - 1, quantization.max_level() as i32);
        let n = padded / per_word;
        words
            .chunks(n)
            .flat_map(|row| {
                (0..padded).map(move |i| {
                    let (j, k) = (i % n, i / n);
                    ((row[j] as u32 >> (bits * k)) & mask) as i32 - q_max
                })
            })
            .collect()
    }

    #[test]
    fn a_block_keeps_its_largest_magnitude_exactly_and_the_rest_within_half_a_step() {
        for quantization in [Quantization::Q8, Quantization::Q4] {
            // Three rows of 40 inputs: two blocks per row, the second padded with 24 zeros.
            let (rows, d_in) = (3, 40);
            let values: Vec<f32> = (0..rows * d_in).map(|i| (i as f32 * 0.37).sin()).collect();
            let (words, scales) = pack(&values, d_in, quantization).unwrap();
            assert_eq!(scales.len(), rows * 2);
            assert_eq!(words.len(), rows * 2 * BLOCK / quantization.per_word());
            let levels = unpack(&words, 2 * BLOCK, quantization);
            let blocks = values.chunks(d_in).flat_map(|row| row.chunks(BLOCK));
            for (b, (block, scale)) in blocks.zip(&scales).enumerate() {
                let largest = block.iter().fold(0.0_f32, |m, v| m.max(v.abs()));
                assert_eq!(*scale, largest / quantization.max_level() as f32);
                for (j, &v) in block.iter().enumerate() {
                    let q = levels[b * BLOCK + j];
                    assert!(q.unsigned_abs() <= quantization.max_level());
                    assert!(
                        (q as f32 * scale - v).abs() <= scale / 2.0 + 1e-6,
                        "{v} → {q}"
                    );
                }
                // The padding quantizes to zero.
                assert!(
                    levels[b * BLOCK + block.len()..(b + 1) * BLOCK]
                        .iter()
                        .all(|&q| q == 0)
                );
            }
        }
    }

    #[test]
    fn a_zero_block_and_a_value_that_is_not_finite() {
        let (words, scales) = pack(&[0.0; BLOCK], BLOCK, Quantization::Q4).unwrap();
        assert_eq!(scales, vec![1.0]);
        assert!(
            unpack(&words, BLOCK, Quantization::Q4)
                .iter()
                .all(|&q| q == 0)
        );
        let mut values = [0.5; BLOCK];
        values[3] = f32::NAN;
        assert!(pack(&values, BLOCK, Quantization::Q8).is_err());
    }
}
