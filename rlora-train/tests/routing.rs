//! The routing analysis: entropy and Jensen–Shannon divergence against hand computations, the
//! gates of a tiny model against a direct computation, a zero router's exact uniform routing,
//! and the per-task merge equal to the routed model when the routing is constant.

use burn::backend::Flex;
use burn::module::Param;
use burn::tensor::{Int, Tensor, TensorData};
use rlora::{Preset, RouterInit};
use rlora_llama::layers::Projection;
use rlora_llama::{AdapterSpec, Llama, Targets};
use rlora_train::base::tiny_config;
use rlora_train::data::TokenizedExample;
use rlora_train::trainer::{entropy, js_divergence, mean_pairwise_js, routing_analysis};

const LN2: f64 = std::f64::consts::LN_2;

#[test]
fn entropy_and_js_divergence_match_hand_computations() {
    assert!((entropy(&[0.5, 0.5]) - LN2).abs() < 1e-12);
    assert_eq!(entropy(&[1.0, 0.0, 0.0]), 0.0);
    // −(0.25 ln 0.25 + 0.75 ln 0.75) = 0.562335…
    assert!((entropy(&[0.25, 0.75]) - 0.562_335_144_618_5).abs() < 1e-12);
    assert!((js_divergence(&[1.0, 0.0], &[0.0, 1.0]) - LN2).abs() < 1e-12);
    assert_eq!(js_divergence(&[0.3, 0.7], &[0.3, 0.7]), 0.0);
    // p = (1, 0), q = (½, ½): m = (¾, ¼); ½ ln(4/3) + ½ (½ ln(2/3) + ½ ln 2) = 0.215762…
    let hand = 0.5 * (4.0f64 / 3.0).ln() + 0.25 * (2.0f64 / 3.0).ln() + 0.25 * LN2;
    assert!((js_divergence(&[1.0, 0.0], &[0.5, 0.5]) - hand).abs() < 1e-12);
    assert!((js_divergence(&[0.5, 0.5], &[1.0, 0.0]) - hand).abs() < 1e-12);
    let three = [vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 0.0]];
    assert!((mean_pairwise_js(&three) - 2.0 * LN2 / 3.0).abs() < 1e-12);
    assert_eq!(mean_pairwise_js(&three[..1]), 0.0);
}

/// A tiny random model with 2-head adapters on `q_proj` (whose input at a position depends on
/// that token only) and the given router init.
/// Flex draws from one generator per process: the tests' models are drawn one at a time, each
/// from the same seed, so that a parallel test cannot interleave its draws.
static ONE_DRAW_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn model(router: RouterInit) -> Llama<Flex> {
    let _one = ONE_DRAW_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    <Flex as burn::tensor::backend::Backend>::seed(&Default::default(), 5);
    let settings = Preset::RLora
        .hyperparameters(2)
        .with_dropout(0.0)
        .with_stable_gamma(None)
        .with_router_init(router);
    let spec = AdapterSpec::new(Targets::parse(&["q_proj"]).unwrap(), &settings);
    Llama::random(tiny_config(), Some(&spec), &Default::default()).unwrap()
}

fn example(tokens: &[u32], prompt_len: usize) -> TokenizedExample {
    TokenizedExample {
        task: 0,
        tokens: tokens.to_vec(),
        prompt_len,
    }
}

/// Two tasks on disjoint tokens, examples of different lengths (so rows are padded).
fn tasks() -> Vec<(String, Vec<TokenizedExample>)> {
    vec![
        (
            "low".into(),
            vec![example(&[3, 4, 5, 6, 7], 2), example(&[8, 9, 10], 1)],
        ),
        (
            "high".into(),
            vec![
                example(&[200, 201, 202, 203], 3),
                example(&[210, 211, 212, 213, 214, 215], 2),
            ],
        ),
    ]
}

/// Layer `layer`'s `q_proj` gates for one example, directly: `softmax(norm(embed(t)) R)`.
fn direct_mean_gates(model: &Llama<Flex>, layer: usize, e: &TokenizedExample) -> Vec<f64> {
    let device = Default::default();
    let ids: Vec<i64> = e.tokens.iter().map(|&t| t as i64).collect();
    let tokens =
        Tensor::<Flex, 2, Int>::from_data(TensorData::new(ids, [1, e.tokens.len()]), &device);
    let x = model.layers[layer]
        .input_layernorm
        .forward(model.embed_tokens.forward(tokens));
    let Projection::Adapted(q) = &model.layers[layer].self_attn.q_proj else {
        panic!("q_proj is adapted");
    };
    let gates: Vec<f32> = q.gates(x).into_data().to_vec().unwrap(); // [1, seq, 2]
    let positions = e.prompt_len - 1..e.tokens.len() - 1;
    let n = positions.len() as f64;
    (0..2)
        .map(|h| {
            positions
                .clone()
                .map(|p| gates[p * 2 + h] as f64)
                .sum::<f64>()
                / n
        })
        .collect()
}

#[test]
fn mean_gates_are_the_routers_softmax_over_the_counted_positions() {
    let model = model(RouterInit::KaimingUniform);
    let tasks = tasks();
    let analysis = routing_analysis(&model, &tasks).unwrap();
    assert_eq!(analysis.tasks, ["low", "high"]);
    assert_eq!(analysis.examples, [2, 2]);
    assert_eq!(analysis.projections.len(), tiny_config().num_hidden_layers);
    let first = &analysis.projections[0];
    assert_eq!(
        (first.layer, first.module.as_str()),
        (0, "self_attn.q_proj")
    );
    for (t, (_, examples)) in tasks.iter().enumerate() {
        let direct: Vec<Vec<f64>> = examples
            .iter()
            .map(|e| direct_mean_gates(&model, 0, e))
            .collect();
        for (h, &got) in first.mean_gates[t].iter().enumerate() {
            let expected = (direct[0][h] + direct[1][h]) / 2.0;
            assert!(
                (got - expected).abs() < 1e-5,
                "task {t} head {h}: {got} vs {expected}"
            );
        }
    }
    // A random router routes disjoint tokens differently: the separation is measurably > 0,
    // and no larger than ln 2.
    assert!(
        first.separation > 1e-6 && first.separation <= LN2,
        "{}",
        first.separation
    );
    assert!(analysis.entropy.iter().all(|&h| h > 0.0 && h < LN2));
}

#[test]
fn a_zero_router_routes_every_task_uniformly() {
    let analysis = routing_analysis(&model(RouterInit::Zeros), &tasks()).unwrap();
    for projection in &analysis.projections {
        for gates in &projection.mean_gates {
            assert!(gates.iter().all(|g| (g - 0.5).abs() < 1e-6), "{gates:?}");
        }
        assert!(projection.separation.abs() < 1e-9);
    }
    assert!(analysis.entropy.iter().all(|h| (h - LN2).abs() < 1e-6));
    assert!(analysis.separation.abs() < 1e-9);
}

/// A model whose adapters moved away from their start (so the adapter's contribution is not
/// zero): `A` doubled.
fn moved(model: Llama<Flex>) -> Llama<Flex> {
    model
        .map_projections(|_, _, projection| {
            Ok::<_, rlora_llama::LlamaError>(match projection {
                Projection::Adapted(mut layer) => {
                    layer.lora_a = Param::from_tensor(layer.lora_a.val().mul_scalar(2.0));
                    Projection::Adapted(layer)
                }
                plain => plain,
            })
        })
        .unwrap()
}

fn logits(model: &Llama<Flex>) -> Vec<f32> {
    let tokens = Tensor::<Flex, 2, Int>::from_data(
        TensorData::new(vec![3i64, 4, 5, 200, 201, 6], [1, 6]),
        &Default::default(),
    );
    model
        .forward(tokens, None, None)
        .into_data()
        .to_vec()
        .unwrap()
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn merging_under_a_tasks_routing_is_exact_when_the_routing_is_constant() {
    let model = moved(model(RouterInit::Zeros));
    let analysis = routing_analysis(&model, &tasks()).unwrap();
    let routed = logits(&model);
    let merged = model
        .clone()
        .merge_adapters_by_path(&analysis.task_routing(1))
        .unwrap();
    let exact = max_difference(&routed, &logits(&merged));
    // The same fold under a wrong routing (all on head 0) is far off: the check can fail.
    let wrong = analysis
        .task_routing(1)
        .into_keys()
        .map(|path| (path, vec![1.0, 0.0]))
        .collect();
    let off = max_difference(
        &routed,
        &logits(&model.merge_adapters_by_path(&wrong).unwrap()),
    );
    assert!(exact < 1e-4, "merged under the uniform routing: {exact}");
    assert!(off > 100.0 * exact.max(1e-4), "a wrong routing: {off}");
}

#[test]
fn a_task_without_counted_positions_is_an_error_naming_it() {
    let tasks = vec![("empty".to_string(), vec![example(&[3, 4], 2)])];
    let error = routing_analysis(&model(RouterInit::Zeros), &tasks).unwrap_err();
    assert!(error.to_string().contains("`empty`"), "{error}");
}
