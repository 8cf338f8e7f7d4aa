//! The trainer's parts through their public API: the warmup-cosine schedule, answer extraction,
//! the averages of an evaluation, and its table.

use burn::optim::lr_scheduler::LrScheduler;
use rlora_train::report::markdown_table;
use rlora_train::trainer::{
    EvalReport, TaskScore, WarmupCosine, extract_answer, peak_memory_bytes,
};

#[test]
fn values_at_known_steps() {
    let mut s = WarmupCosine::new(2e-4, 0.0, 0.1, 100); // 10 warmup steps
    let lrs: Vec<f64> = (0..100).map(|_| s.step()).collect();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(lrs[0], 2e-5), "step 1: {}", lrs[0]);
    assert!(close(lrs[9], 2e-4), "end of warmup");
    assert!(
        close(lrs[54], 1e-4),
        "half way through the decay: {}",
        lrs[54]
    );
    assert!(close(lrs[99], 0.0), "end: {}", lrs[99]);
    assert!(
        lrs.windows(2).skip(10).all(|w| w[1] <= w[0]),
        "monotone decay"
    );
    assert!(lrs[0] > 0.0, "warmup starts above zero");
}

/// burn's DDP loop steps the scheduler once per device and update: with 3 calls per step the
/// rate of every call is the rate of its update, and the record counts updates, so a run
/// checkpointed under one strategy resumes under the other at the same rate.
#[test]
fn a_schedule_stepped_once_per_device_gives_each_update_its_rate() {
    let mut once = WarmupCosine::new(2e-4, 1e-5, 0.1, 20);
    let mut thrice = WarmupCosine::new(2e-4, 1e-5, 0.1, 20).with_calls_per_step(3);
    for update in 1..=8 {
        let rate = once.step();
        for call in 0..3 {
            assert_eq!(thrice.step(), rate, "update {update}, call {call}");
        }
    }
    let record = thrice.to_record::<burn::backend::Flex>();
    assert_eq!(record, 8);
    let mut resumed_once =
        WarmupCosine::new(2e-4, 1e-5, 0.1, 20).load_record::<burn::backend::Flex>(record);
    let mut resumed_thrice = WarmupCosine::new(2e-4, 1e-5, 0.1, 20)
        .with_calls_per_step(3)
        .load_record::<burn::backend::Flex>(record);
    let next = once.step();
    assert_eq!(resumed_once.step(), next);
    assert_eq!(resumed_thrice.step(), next);
    assert_ne!(next, thrice.at(8), "update 9 has a rate of its own");
}

#[test]
fn a_restored_schedule_continues_where_it_stopped() {
    let mut a = WarmupCosine::new(1e-3, 1e-5, 0.03, 50);
    for _ in 0..20 {
        a.step();
    }
    let record = LrScheduler::to_record::<burn::backend::Flex>(&a);
    let mut b = WarmupCosine::new(1e-3, 1e-5, 0.03, 50).load_record::<burn::backend::Flex>(record);
    assert_eq!(a.step(), b.step());
}

#[test]
fn answers_are_extracted_after_the_last_answer_marker() {
    assert_eq!(extract_answer(" 23"), "23");
    assert_eq!(extract_answer(" Quell\nQ: more"), "Quell");
    assert_eq!(extract_answer("because Answer: no. Answer:  B \n"), "B");
    assert_eq!(extract_answer(""), "");
}

#[test]
fn macro_and_micro_averages() {
    let report = EvalReport::new(vec![score("a", 10, 10), score("b", 30, 0)]);
    assert_eq!(report.macro_average, 0.5);
    assert_eq!(report.micro_average, 0.25);
}

#[test]
fn a_column_per_report_and_the_averages_in_bold() {
    let report = EvalReport::new(vec![score("a", 10, 10), score("b", 30, 0)]);
    let table = markdown_table(&[("base", &report), ("adapted", &report)]);
    assert!(
        table.contains("| a | exact_match | 10 | 100.0% | 100.0% |"),
        "{table}"
    );
    assert!(
        table.contains("| **macro average** | | | **50.0%** | **50.0%** |"),
        "{table}"
    );
}

fn score(task: &str, examples: usize, correct: usize) -> TaskScore {
    TaskScore {
        task: task.into(),
        metric: "exact_match".into(),
        examples,
        correct,
        accuracy: correct as f64 / examples as f64,
    }
}

#[test]
#[cfg(target_os = "linux")]
fn peak_memory_grows_with_a_large_allocation() {
    let before = peak_memory_bytes().expect("Linux reports VmHWM");
    let block = vec![1u8; 64 << 20];
    let after = peak_memory_bytes().unwrap();
    assert!(
        after >= before && after >= block.len() as u64,
        "{before} → {after}"
    );
    assert_eq!(
        block.iter().map(|&b| b as usize).sum::<usize>(),
        block.len()
    );
}

/// A module of a matrix and a vector (as a model trained whole has: weights, and norms or
/// biases).
#[derive(burn::module::Module, Debug)]
struct MatrixAndVector<B: burn::tensor::backend::Backend> {
    matrix: burn::module::Param<burn::tensor::Tensor<B, 2>>,
    vector: burn::module::Param<burn::tensor::Tensor<B, 1>>,
}

/// Two gradients of norms 5 and 12 (a matrix's and a vector's): the global norm is 13, so
/// clipping to 6.5 halves both (burn's per-tensor clipping would leave the first as it is and
/// cut the second to 6.5). A gradient of a parameter the module does not have is left alone.
#[test]
fn clipping_scales_every_gradient_by_the_global_norm() {
    use burn::module::{Param, ParamId};
    use burn::optim::GradientsParams;
    use burn::tensor::Tensor;
    use rlora_train::trainer::clip_global_norm;
    type B = burn::backend::Flex;
    type AB = burn::backend::Autodiff<B>;
    let device = Default::default();
    let module = MatrixAndVector::<AB> {
        matrix: Param::from_tensor(Tensor::zeros([2, 2], &device)),
        vector: Param::from_tensor(Tensor::zeros([1], &device)),
    };
    let (a, b, other) = (module.matrix.id, module.vector.id, ParamId::new());
    let grads = || {
        let mut grads = GradientsParams::new();
        grads.register(
            a,
            Tensor::<B, 2>::from_floats([[3.0, 0.0], [0.0, 4.0]], &device),
        );
        grads.register(b, Tensor::<B, 1>::from_floats([12.0], &device));
        grads.register(other, Tensor::<B, 1>::from_floats([100.0], &device));
        grads
    };
    let read_matrix = |g: &GradientsParams| g.get::<B, 2>(a).unwrap().into_data().to_vec::<f32>();
    let read_vector =
        |g: &GradientsParams, id| g.get::<B, 1>(id).unwrap().into_data().to_vec::<f32>();

    let mut clipped = grads();
    let norm: f64 = clip_global_norm(&module, &mut clipped, 6.5)
        .unwrap()
        .into_scalar()
        .into();
    assert!((norm - 13.0).abs() < 1e-9, "global norm {norm}");
    let scale = 6.5 / (13.0 + 1e-6);
    let expected_a = [3.0 * scale, 0.0, 0.0, 4.0 * scale];
    for (got, want) in read_matrix(&clipped).unwrap().iter().zip(expected_a) {
        assert!((*got as f64 - want).abs() < 1e-6, "{got} vs {want}");
    }
    assert!((read_vector(&clipped, b).unwrap()[0] as f64 - 12.0 * scale).abs() < 1e-5);
    assert_eq!(read_vector(&clipped, other).unwrap(), vec![100.0]);

    let mut untouched = grads();
    let norm: f64 = clip_global_norm(&module, &mut untouched, 13.5)
        .unwrap()
        .into_scalar()
        .into();
    assert!((norm - 13.0).abs() < 1e-9);
    assert_eq!(
        read_matrix(&untouched).unwrap(),
        vec![3.0, 0.0, 0.0, 4.0],
        "under the limit: unchanged"
    );
    assert_eq!(read_vector(&untouched, b).unwrap(), vec![12.0]);
}
