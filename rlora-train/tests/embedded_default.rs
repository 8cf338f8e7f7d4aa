//! The embedded default (`cargo run --release --example train`) at a reduced step count: the
//! shipped tiny base fine-tuned on the built-in suite gets above chance where the base is at or
//! below it, prints and writes the per-task table, and its adapter reloads to the same scores.

use burn::backend::{Autodiff, Flex};
use rlora_llama::{Llama, TextTokenizer};
use rlora_train::cli::{example_spec, tiny_base_dir};
use rlora_train::data::{BUILTIN_TASKS, SplitSizes, builtin_suite};
use rlora_train::run::train;
use rlora_train::trainer::{DataParallel, EvalReport, evaluate};

#[test]
fn the_embedded_default_learns_the_easy_tasks_and_its_adapter_reloads() {
    let output = std::env::temp_dir().join(format!("rlora-embedded-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&output);
    let user: Vec<String> = [
        "--max-steps",
        "150",
        "--lr",
        "3e-3",
        "--checkpoint-every",
        "50",
        "--eval-examples",
        "20",
        "--eval-max-new-tokens",
        "8",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let spec = example_spec(&user, &output.to_string_lossy()).unwrap();
    assert_eq!(spec.model.model, Some(tiny_base_dir()));
    let outcome = train::<Autodiff<Flex>>(&spec, &[Default::default()], DataParallel::Gather)
        .unwrap()
        .evaluated()
        .expect("a run alone evaluates");
    let base = outcome.base.as_ref().expect("the base is evaluated");
    assert_eq!(outcome.resources.steps, 150);
    assert!(outcome.resources.trainable_params > 0 && outcome.resources.train_seconds > 0.0);

    let table = std::fs::read_to_string(output.join("eval.md")).unwrap();
    for task in BUILTIN_TASKS {
        assert!(
            table.contains(&format!("| {task} |")),
            "{task} missing from\n{table}"
        );
    }
    let score = |report: &EvalReport, task: &str| {
        report
            .tasks
            .iter()
            .find(|t| t.task == task)
            .map(|t| t.accuracy)
            .unwrap()
    };
    // After 150 steps: the sentiment choice above chance (50%) and above the base, reading a value
    // from the context and recalling facts better than the base, and the average well above it.
    assert!(score(&outcome.adapted, "sentiment") > 0.5, "{table}");
    assert!(
        score(&outcome.adapted, "sentiment") > score(base, "sentiment"),
        "{table}"
    );
    for task in ["lookup", "facts"] {
        assert!(
            score(&outcome.adapted, task) > score(base, task),
            "{task}\n{table}"
        );
    }
    assert!(
        outcome.adapted.macro_average > base.macro_average + 0.05,
        "{table}"
    );

    // The saved adapter on a fresh base scores the same.
    let device = Default::default();
    let model = Llama::<Flex>::from_pretrained(tiny_base_dir(), None, &device)
        .unwrap()
        .load_adapter(&outcome.adapter_dir, &device)
        .unwrap();
    let tokenizer = TextTokenizer::from_dir(tiny_base_dir()).unwrap();
    let sizes = SplitSizes::default();
    let tasks: Vec<_> = builtin_suite(spec.batches.seed, sizes)
        .into_iter()
        .map(|t| {
            let mut examples = t.test.unwrap();
            examples.truncate(20);
            (t.name, examples)
        })
        .collect();
    let again = evaluate(&model, &tokenizer, &tasks, 8).unwrap();
    assert_eq!(again, outcome.adapted);
}
