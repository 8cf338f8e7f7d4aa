//! The data room through its public API: the built-in suite (sizes, seeds, distinct prompts,
//! correct answers), mixing and holding out, prompts, and padded batches.

use std::collections::HashSet;

use burn::backend::Flex;
use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Int, Tensor};
use rlora_train::data::*;

// ---- the built-in suite ----

const MAX_PROMPT_CHARS: usize = 64;
const MAX_COMPLETION_CHARS: usize = 12;

fn suite() -> Vec<TaskData> {
    builtin_suite(17, SplitSizes::default())
}

fn all_examples(task: &TaskData) -> Vec<&TaskExample> {
    let held_out = [&task.validation, &task.test];
    task.train
        .iter()
        .chain(held_out.into_iter().flatten().flatten())
        .collect()
}

fn task<'a>(suite: &'a [TaskData], name: &str) -> &'a TaskData {
    suite
        .iter()
        .find(|task| task.name == name)
        .expect("task in suite")
}

/// The answer without its leading space.
fn answer(example: &TaskExample) -> &str {
    example
        .completion
        .strip_prefix(' ')
        .expect("completion starts with a space")
}

#[test]
fn suite_has_every_task_with_the_requested_sizes() {
    let suite = suite();
    let names: Vec<&str> = suite.iter().map(|task| task.name.as_str()).collect();
    assert_eq!(names, BUILTIN_TASKS);
    for task in &suite {
        assert_eq!(task.train.len(), 400, "{}", task.name);
        assert_eq!(
            task.validation.as_ref().map(Vec::len),
            Some(50),
            "{}",
            task.name
        );
        assert_eq!(task.test.as_ref().map(Vec::len), Some(50), "{}", task.name);
    }
}

#[test]
fn same_seed_same_data_different_seed_different_data() {
    let sizes = SplitSizes {
        train: 40,
        validation: 10,
        test: 10,
    };
    let first = builtin_suite(3, sizes);
    assert_eq!(first, builtin_suite(3, sizes));
    let other = builtin_suite(4, sizes);
    for (a, b) in first.iter().zip(&other) {
        assert_ne!(a.train, b.train, "{}", a.name);
        assert_ne!(a.test, b.test, "{}", a.name);
    }
}

#[test]
fn builtin_task_matches_the_suite() {
    let suite = suite();
    for name in BUILTIN_TASKS {
        let single = builtin_task(name, 17, SplitSizes::default()).expect("builtin");
        assert_eq!(&single, task(&suite, name));
    }
    assert_eq!(builtin_task("nope", 17, SplitSizes::default()), None);
}

#[test]
fn held_out_splits_do_not_depend_on_the_train_size() {
    for name in BUILTIN_TASKS {
        let small = SplitSizes {
            train: 5,
            ..SplitSizes::default()
        };
        let a = builtin_task(name, 9, small).expect("builtin");
        let b = builtin_task(name, 9, SplitSizes::default()).expect("builtin");
        assert_eq!(a.test, b.test, "{name}");
        assert_eq!(a.validation, b.validation, "{name}");
    }
}

#[test]
fn zero_sized_splits_are_absent() {
    let sizes = SplitSizes {
        train: 3,
        validation: 0,
        test: 0,
    };
    for task in builtin_suite(1, sizes) {
        assert_eq!(task.train.len(), 3);
        assert_eq!((task.validation, task.test), (None, None));
    }
}

#[test]
fn prompts_are_distinct_within_and_across_splits() {
    for task in suite().iter().filter(|task| task.name != "facts") {
        let examples = all_examples(task);
        let prompts: HashSet<&str> = examples.iter().map(|e| e.prompt.as_str()).collect();
        assert_eq!(prompts.len(), examples.len(), "{}", task.name);
    }
}

#[test]
fn an_exhausted_task_gives_shorter_disjoint_splits() {
    let sizes = SplitSizes {
        train: 5000,
        validation: 0,
        test: 10,
    };
    let task = builtin_task("arithmetic", 2, sizes).expect("builtin");
    assert_eq!(task.test.as_ref().map(Vec::len), Some(10));
    assert_eq!(task.train.len(), 2500 + 50 * 51 / 2 - 10);
    let examples = all_examples(&task);
    let prompts: HashSet<&str> = examples.iter().map(|e| e.prompt.as_str()).collect();
    assert_eq!(prompts.len(), examples.len());
}

#[test]
fn lengths_are_within_bounds() {
    for task in suite() {
        for example in all_examples(&task) {
            let (prompt, completion) = (&example.prompt, &example.completion);
            assert!(prompt.chars().count() <= MAX_PROMPT_CHARS, "{prompt:?}");
            assert!(
                completion.chars().count() <= MAX_COMPLETION_CHARS,
                "{completion:?}"
            );
            assert!(
                completion.len() >= 2 && completion.starts_with(' '),
                "{completion:?}"
            );
        }
    }
}

#[test]
fn arithmetic_answers_are_correct() {
    for example in all_examples(task(&suite(), "arithmetic")) {
        let expression = example.prompt.strip_suffix('=').expect("ends with =");
        let (a, b, result): (_, _, fn(i64, i64) -> Option<i64>) = match expression.split_once('+') {
            Some((a, b)) => (a, b, i64::checked_add),
            None => {
                let (a, b) = expression.split_once('-').expect("+ or -");
                (a, b, i64::checked_sub)
            }
        };
        let (a, b): (i64, i64) = (a.parse().expect("number"), b.parse().expect("number"));
        assert!((0..50).contains(&a) && (0..50).contains(&b), "{expression}");
        let expected = result(a, b).expect("small");
        assert!(expected >= 0, "{expression}");
        assert_eq!(answer(example), expected.to_string(), "{expression}");
    }
}

#[test]
fn lookup_answers_are_correct() {
    for example in all_examples(task(&suite(), "lookup")) {
        let (context, asked) = example.prompt.split_once(". ").expect("context. key?");
        let asked = asked.strip_suffix('?').expect("ends with ?");
        let pairs: Vec<(&str, &str)> = context
            .split(' ')
            .map(|pair| pair.split_once('=').expect("key=value"))
            .collect();
        assert!((3..=5).contains(&pairs.len()), "{context}");
        let keys: HashSet<&str> = pairs.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys.len(), pairs.len(), "duplicate key in {context}");
        let value = pairs
            .iter()
            .find(|(key, _)| *key == asked)
            .expect("asked key");
        assert_eq!(answer(example), value.1);
    }
}

#[test]
fn reverse_and_sort_answers_are_correct() {
    let suite = suite();
    for example in all_examples(task(&suite, "reverse")) {
        let word = example.prompt.strip_prefix("reverse ").expect("prefix");
        let word = word.strip_suffix(':').expect("suffix");
        assert!((3..=6).contains(&word.len()) && word.chars().all(|c| c.is_ascii_lowercase()));
        assert_eq!(answer(example), word.chars().rev().collect::<String>());
    }
    for example in all_examples(task(&suite, "sort")) {
        let letters = example.prompt.strip_prefix("sort ").expect("prefix");
        let letters = letters.strip_suffix(':').expect("suffix");
        assert_eq!(letters.len(), 4);
        let mut sorted: Vec<char> = letters.chars().collect();
        sorted.sort_unstable();
        assert_eq!(answer(example), sorted.into_iter().collect::<String>());
    }
}

#[test]
fn other_tasks_are_not_multiple_choice() {
    for task in suite().iter().filter(|task| task.name != "sentiment") {
        assert!(
            all_examples(task).iter().all(|e| e.choices.is_none()),
            "{}",
            task.name
        );
    }
}

// ---- mixing ----
fn drawn_fractions(stream: &[(usize, usize)], tasks: usize) -> Vec<f64> {
    let mut counts = vec![0usize; tasks];
    for &(task, _) in stream {
        counts[task] += 1;
    }
    counts
        .iter()
        .map(|&c| c as f64 / stream.len() as f64)
        .collect()
}

#[test]
fn each_mixing_meets_its_proportions_within_two_percent() {
    let sizes = [6000, 3000, 800, 200]; // 10k draws
    let cases = [
        (Mixing::Proportional, vec![0.6, 0.3, 0.08, 0.02]),
        (Mixing::Uniform, vec![0.25; 4]),
        (
            Mixing::Weights(vec![1.0, 1.0, 2.0, 0.0]),
            vec![0.25, 0.25, 0.5, 0.0],
        ),
    ];
    for (mixing, target) in cases {
        let stream = mix(&sizes, &mixing, 3).unwrap();
        assert_eq!(stream.len(), 10_000);
        for (got, want) in drawn_fractions(&stream, 4).iter().zip(&target) {
            assert!((got - want).abs() <= 0.02, "{mixing:?}: {got} vs {want}");
        }
    }
    let t = 2.0;
    let raw: Vec<f64> = sizes.iter().map(|&n| (n as f64).powf(1.0 / t)).collect();
    let sum: f64 = raw.iter().sum();
    let stream = mix(&sizes, &Mixing::Temperature(t), 3).unwrap();
    for (got, r) in drawn_fractions(&stream, 4).iter().zip(&raw) {
        assert!((got - r / sum).abs() <= 0.02);
    }
}

#[test]
fn proportional_draws_every_example_once_and_seeds_fix_the_order() {
    let stream = mix(&[5, 3], &Mixing::Proportional, 1).unwrap();
    let mut sorted = stream.clone();
    sorted.sort();
    let all: Vec<(usize, usize)> = (0..5)
        .map(|i| (0, i))
        .chain((0..3).map(|i| (1, i)))
        .collect();
    assert_eq!(sorted, all);
    assert_eq!(stream, mix(&[5, 3], &Mixing::Proportional, 1).unwrap());
    assert_ne!(stream, mix(&[5, 3], &Mixing::Proportional, 2).unwrap());
}

#[test]
fn bad_mixings_are_rejected() {
    assert!(Mixing::Weights(vec![1.0]).shares(&[1, 2]).is_err());
    assert!(Mixing::Weights(vec![-1.0, 2.0]).shares(&[1, 2]).is_err());
    assert!(Mixing::Temperature(0.0).shares(&[1, 2]).is_err());
    assert!(Mixing::Weights(vec![0.0, 0.0]).shares(&[1, 2]).is_err());
}

#[test]
fn hold_out_is_disjoint_seeded_and_never_empties_the_train_split() {
    let (train, held) = hold_out(100, 0.1, 5);
    assert_eq!((train.len(), held.len()), (90, 10));
    assert!(held.iter().all(|i| !train.contains(i)));
    assert_eq!(hold_out(100, 0.1, 5), (train, held));
    assert_eq!(hold_out(2, 0.9, 0).0.len(), 1);
}

// ---- prompts ----
fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

#[test]
fn alpaca_with_input() {
    assert_eq!(
        alpaca_prompt("Add.", Some("2 and 3")),
        "Below is an instruction that describes a task, paired with an input that provides \
         further context. Write a response that appropriately completes the request.\n\n\
         ### Instruction:\nAdd.\n\n### Input:\n2 and 3\n\n### Response:\n"
    );
}

#[test]
fn alpaca_without_input_for_absent_empty_or_blank_input() {
    let expected = "Below is an instruction that describes a task. Write a response that \
                    appropriately completes the request.\n\n### Instruction:\nSay hi.\n\n\
                    ### Response:\n";
    for input in [None, Some(""), Some("  \n")] {
        assert_eq!(alpaca_prompt("Say hi.", input), expected);
    }
}

#[test]
fn multiple_choice_prompt_and_example() {
    let choices = strings(&["3", "4", "5"]);
    let prompt = multiple_choice_prompt("2+2?", &choices);
    assert_eq!(
        prompt,
        "### Question:\n2+2?\n\n### Choices:\nA. 3\nB. 4\nC. 5\n\nAnswer:"
    );
    let example = multiple_choice_example(prompt, choices.len(), 1);
    assert_eq!(example.completion, " B");
    let choices = example.choices.expect("multiple choice");
    assert_eq!(choices.options, strings(&[" A", " B", " C"]));
    assert_eq!(choices.correct, 1);
}

#[test]
fn choice_labels() {
    assert_eq!(choice_label(0), Some('A'));
    assert_eq!(choice_label(25), Some('Z'));
    assert_eq!(choice_label(26), None);
    assert_eq!(choice_label(usize::MAX), None);
    assert_eq!(choice_completions(3), strings(&[" A", " B", " C"]));
}

// ---- batches ----
#[test]
fn targets_are_shifted_and_only_the_completion_counts() {
    let items = vec![
        TokenizedExample {
            task: 0,
            tokens: vec![10, 11, 12, 13, 2],
            prompt_len: 3,
        },
        TokenizedExample {
            task: 1,
            tokens: vec![20, 21, 2],
            prompt_len: 1,
        },
    ];
    let batch: LmBatch<Flex> = LmBatcher.batch(items, &Default::default());
    let ints = |t: Tensor<Flex, 2, Int>| t.into_data().convert::<i64>().to_vec::<i64>().unwrap();
    let flat = |t: Tensor<Flex, 1, Int>| t.into_data().convert::<i64>().to_vec::<i64>().unwrap();
    assert_eq!(
        ints(batch.tokens.clone()),
        [10, 11, 12, 13, 2, 20, 21, 2, 0, 0]
    );
    assert_eq!(batch.targets, [11, 12, 13, 2, 0, 21, 2, 0, 0, 0]);
    // Prompt of 3: positions 2 and 3 predict 13 and EOS; prompt of 1: positions 0 and 1.
    assert_eq!(
        batch.counted,
        [
            false, false, true, true, false, true, true, false, false, false
        ]
    );
    assert_eq!(flat(batch.loss.positions.clone()), [2, 3, 5, 6]);
    assert_eq!(flat(batch.loss.targets.clone()), [13, 2, 21, 2]);
    assert_eq!(flat(batch.loss.rows.clone()), [0, 0, 1, 1]);
    assert_eq!(batch.loss.counts, [2, 2]);
    // Shards are consecutive rows with their own targets.
    let shards = batch.shards(2);
    assert_eq!(shards.len(), 2);
    assert_eq!(ints(shards[1].tokens.clone()), [20, 21, 2, 0, 0]);
    assert_eq!(flat(shards[1].loss.positions.clone()), [0, 1]);
    assert_eq!(flat(shards[1].loss.targets.clone()), [21, 2]);
    assert_eq!(shards[1].tasks, [1]);
    assert_eq!(batch.tasks, [0, 1]);
}
