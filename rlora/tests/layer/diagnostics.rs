//! Head similarity and routing statistics.

use crate::common::{TestBackend, device, tensor};
use burn::tensor::{Distribution, Tensor};
use rlora::io::TensorFile;
use rlora::{RLoraConfig, RLoraLinear, RouterInit};

/// A layer with the given heads `[N·r, d_out]` (`r = 2`, `d_out = 3`).
fn with_heads(heads: Vec<f32>, n: usize) -> RLoraLinear<TestBackend> {
    let config = RLoraConfig::hydra_lora(4, 3, n).with_rank(2);
    let layer = config.init::<TestBackend>(&device()).unwrap();
    let mut file = TensorFile::new("unused");
    layer.write_adapter_tensors("", &mut file);
    file.remove("lora_b");
    file.insert("lora_b", tensor::<TestBackend, 2>(heads, [n * 2, 3]));
    RLoraLinear::read_adapter_tensors(layer.base, &config, "", &mut file, &device()).unwrap()
}

#[test]
fn head_similarity_is_the_cosine_of_the_flattened_heads() {
    let b1 = vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
    let b2 = vec![2.0, 0.0, 0.0, 0.0, 0.0, 0.0]; // parallel to b1
    let b3 = vec![0.0, 0.0, 0.0, 0.0, 0.0, -3.0]; // orthogonal to both
    let b4 = vec![-1.0, 0.0, 0.0, 0.0, 0.0, 1.0]; // cos -1/√2 with b1, -1/√2 with b3
    let layer = with_heads([b1, b2, b3, b4].concat(), 4);
    let s = layer.head_similarity();
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let expected = [
        [1.0, 1.0, 0.0, -h],
        [1.0, 1.0, 0.0, -h],
        [0.0, 0.0, 1.0, -h],
        [-h, -h, -h, 1.0],
    ];
    for (i, (row, expected_row)) in s.matrix.iter().zip(expected).enumerate() {
        for (j, (value, expected)) in row.iter().zip(expected_row).enumerate() {
            assert!((value - expected).abs() < 1e-6, "[{i}][{j}] = {value}");
        }
    }
    let mean = (2.0 * (1.0 + 0.0 + 0.0 - 3.0 * h)) / 12.0;
    assert!((s.mean_off_diagonal.unwrap() - mean).abs() < 1e-6);
}

#[test]
fn zero_heads_have_zero_similarity_and_one_head_has_no_mean() {
    let hydra = RLoraConfig::hydra_lora(8, 8, 3)
        .init::<TestBackend>(&device())
        .unwrap();
    let s = hydra.head_similarity();
    assert!(s.matrix.iter().flatten().all(|&v| v == 0.0));
    assert_eq!(s.mean_off_diagonal, Some(0.0));
    let lora = RLoraConfig::lora(8, 8)
        .init::<TestBackend>(&device())
        .unwrap();
    assert_eq!(lora.head_similarity().mean_off_diagonal, None);
}

#[test]
fn routing_stats_of_uniform_and_learned_routers() {
    let x =
        Tensor::<TestBackend, 3>::random([4, 16, 32], Distribution::Normal(0.0, 1.0), &device());
    let uniform = RLoraConfig::r_lora(32, 8, 5)
        .init::<TestBackend>(&device())
        .unwrap();
    let stats = uniform.routing_stats(x.clone());
    assert!(
        stats.mean_gate.iter().all(|g| (g - 0.2).abs() < 1e-6),
        "{stats:?}"
    );
    assert!((stats.mean_entropy - 5f64.ln()).abs() < 1e-5, "{stats:?}");

    let random = RLoraConfig::r_lora(32, 8, 5)
        .with_router_init(RouterInit::KaimingUniform)
        .init::<TestBackend>(&device())
        .unwrap();
    let stats = random.routing_stats(x.clone());
    assert!((stats.mean_gate.iter().sum::<f64>() - 1.0).abs() < 1e-5);
    assert!(stats.mean_entropy > 0.0 && stats.mean_entropy < 5f64.ln());
    // The entropy is the mean over tokens of −Σ g ln g, computed here by hand.
    let gates = crate::common::values(random.gates(x));
    let by_hand = gates
        .chunks(5)
        .map(|g| -g.iter().map(|&v| v as f64 * (v as f64).ln()).sum::<f64>())
        .sum::<f64>()
        / 64.0;
    assert!((stats.mean_entropy - by_hand).abs() < 1e-5);

    let single = RLoraConfig::lora(32, 8)
        .init::<TestBackend>(&device())
        .unwrap();
    let stats = single.routing_stats(Tensor::<TestBackend, 2>::ones([3, 32], &device()));
    assert_eq!((stats.mean_gate, stats.mean_entropy), (vec![1.0], 0.0));
}
