//! Dropout: R-LoRA's masks are independent per head and keep ≈ 1 − p; HydraLoRA's single mask on
//! the input is shared by all heads; inference is deterministic.
//!
//! The probe layer makes every head's dropped input visible: `A = I` (`d_in = r`), head `i` copies
//! its `r` inputs to output block `i` (`d_out = N·r`), the router is zero (gates `1/N`), the base is
//! zero. For `x = 1`, output block `i` is `s/N · mask_i / (1 − p)`.

use crate::common::{TestAutodiff, TestBackend, device, linear, values};
use burn::module::AutodiffModule;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rlora::io::TensorFile;
use rlora::{DropoutPlacement, RLoraConfig, RLoraLinear};

const RANK: usize = 8;
const HEADS: usize = 4;
const P: f64 = 0.3;
const TOKENS: usize = 4000;

fn probe<B: Backend>(placement: DropoutPlacement) -> RLoraLinear<B> {
    let config = RLoraConfig::new(RANK, HEADS * RANK)
        .with_rank(RANK)
        .with_heads(HEADS)
        .with_dropout(P)
        .with_dropout_placement(placement)
        .with_bias(false);
    let device = Default::default();
    let eye = Tensor::<B, 2>::eye(RANK, &device);
    let mut file = TensorFile::new("probe.safetensors");
    file.insert("lora_a", eye.clone());
    // Head i: [r, N·r] with the identity in column block i.
    let heads: Vec<Tensor<B, 2>> = (0..HEADS)
        .map(|i| {
            let blocks = (0..HEADS)
                .map(|j| {
                    if i == j {
                        eye.clone()
                    } else {
                        Tensor::zeros([RANK, RANK], &device)
                    }
                })
                .collect();
            Tensor::cat(blocks, 1)
        })
        .collect();
    file.insert("lora_b", Tensor::cat(heads, 0));
    file.insert("router", Tensor::<B, 2>::zeros([RANK, HEADS], &device));
    let base: Linear<B> = linear(Tensor::zeros([RANK, HEADS * RANK], &device), None);
    RLoraLinear::read_adapter_tensors(base, &config, "", &mut file, &device).unwrap()
}

/// The keep masks `[TOKENS][HEADS][RANK]` of one training forward.
fn masks(layer: &RLoraLinear<TestAutodiff>) -> Vec<Vec<Vec<bool>>> {
    let x = Tensor::<TestAutodiff, 2>::ones([TOKENS, RANK], &device());
    let y = values(layer.forward(x));
    y.chunks(HEADS * RANK)
        .map(|row| {
            row.chunks(RANK)
                .map(|block| block.iter().map(|&v| v != 0.0).collect())
                .collect()
        })
        .collect()
}

#[test]
fn multi_head_dropout_draws_an_independent_mask_per_head() {
    let masks = masks(&probe::<TestAutodiff>(DropoutPlacement::PerHead));
    let n = (TOKENS * RANK) as f64;
    for h in 0..HEADS {
        let kept = masks.iter().flat_map(|t| &t[h]).filter(|&&k| k).count() as f64 / n;
        assert!(
            (kept - (1.0 - P)).abs() < 0.015,
            "head {h} keeps {kept}, expected {}",
            1.0 - P
        );
        for g in (h + 1)..HEADS {
            let differ = masks
                .iter()
                .flat_map(|t| t[h].iter().zip(&t[g]))
                .filter(|(a, b)| a != b)
                .count() as f64
                / n;
            // Independent masks differ with probability 2p(1 − p) = 0.42.
            assert!(
                (differ - 2.0 * P * (1.0 - P)).abs() < 0.02,
                "heads {h}, {g} differ on {differ}"
            );
        }
    }
}

#[test]
fn input_dropout_is_one_mask_shared_by_all_heads() {
    let masks = masks(&probe::<TestAutodiff>(DropoutPlacement::Input));
    let kept =
        masks.iter().flat_map(|t| &t[0]).filter(|&&k| k).count() as f64 / (TOKENS * RANK) as f64;
    assert!((kept - (1.0 - P)).abs() < 0.015, "keeps {kept}");
    for token in &masks {
        assert!(
            token.iter().all(|head| head == &token[0]),
            "heads saw different inputs"
        );
    }
}

#[test]
fn kept_values_are_rescaled_by_one_over_keep_probability() {
    let layer = probe::<TestAutodiff>(DropoutPlacement::PerHead);
    let s = layer.config.scaling();
    let y = values(layer.forward(Tensor::<TestAutodiff, 2>::ones([64, RANK], &device())));
    let expected = (s / HEADS as f64 / (1.0 - P)) as f32;
    assert!(
        y.iter()
            .all(|&v| v == 0.0 || (v - expected).abs() < 1e-5 * expected)
    );
}

#[test]
fn inference_is_deterministic_and_undropped() {
    for placement in [DropoutPlacement::PerHead, DropoutPlacement::Input] {
        let layer = probe::<TestAutodiff>(placement).valid();
        let x = Tensor::<TestBackend, 3>::from_data(
            TensorData::new(
                (0..2 * 50 * RANK)
                    .map(|i| (i % 7) as f32 - 3.0)
                    .collect::<Vec<_>>(),
                [2, 50, RANK],
            ),
            &device(),
        );
        let first = values(layer.forward(x.clone()));
        let second = values(layer.forward(x.clone()));
        assert_eq!(first, second);
        // Undropped: block i of the output is s/N · x.
        let s = (layer.config.scaling() / HEADS as f64) as f32;
        let x = values(x);
        for (t, row) in first.chunks(HEADS * RANK).enumerate() {
            for (k, v) in row.iter().enumerate() {
                assert!((v - s * x[t * RANK + k % RANK]).abs() < 1e-5);
            }
        }
    }
}
