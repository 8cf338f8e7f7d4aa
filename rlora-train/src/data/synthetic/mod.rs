//! The built-in synthetic multi-task suite: six small tasks generated from a seed, no files.
//!
//! Made for fine-tuning a tiny byte-level model on the CPU: prompts are at most about 60
//! characters, answers at most 12, and each task needs its own knowledge or skill. Every
//! completion starts with a space. The exact forms:
//!
//! | task | skill | prompt | completion |
//! |---|---|---|---|
//! | `facts` | closed-book recall of a fixed table of 40 made-up countries | `Q: capital of Zorvania?\nA:` or `Q: flag color of Zorvania?\nA:` | ` Quell`, ` red` |
//! | `lookup` | reading a value from the context (3 to 5 pairs, keys `k0`..`k9`, digits) | `k3=7 k1=4 k9=2. k1?` | ` 4` |
//! | `arithmetic` | addition or subtraction of numbers 0..=49 (never negative) | `12+7=` | ` 19` |
//! | `reverse` | reversing 3 to 6 random lowercase letters | `reverse plonk:` | ` knolp` |
//! | `sort` | sorting 4 random lowercase letters | `sort dbca:` | ` abcd` |
//! | `sentiment` | multiple choice, A = positive, B = negative, over templated sentences (`not` flips) | `the film was so dull.\nA. positive\nB. negative\nAnswer:` | ` B` |
//!
//! `sentiment` is a multiple-choice example (the sentence, the lettered options, `Answer:`), so its
//! examples carry [`Choices`](super::Choices) `[" A", " B"]`.
//!
//! Splits: every task but `facts` has distinct prompts across and within its splits; the test
//! split is drawn first, then validation, then train, so the held-out splits of a seed do not
//! depend on the train size. If a task has fewer distinct prompts than requested (only
//! `arithmetic`, with 3 775, can run out at practical sizes), the splits come out shorter, train
//! first. `facts` is closed-book memorization: every split asks questions about the same 80 facts
//! (each split cycles through them in its own shuffled order), so validation and test measure
//! how well the table was memorized.
//!
//! The data depend only on the seed and the task name (and on `rand`'s `StdRng`, pinned in
//! `Cargo.lock`); the fact table is the same for every seed.

mod facts;
mod sentiment;
mod skills;

use std::collections::HashSet;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{TaskData, TaskExample};
use facts::facts_splits;
use sentiment::sentiment_example;
use skills::{arithmetic_example, lookup_example, reverse_example, sort_example};

/// The names of the built-in tasks, in suite order.
pub const BUILTIN_TASKS: [&str; 6] = [
    "facts",
    "lookup",
    "arithmetic",
    "reverse",
    "sort",
    "sentiment",
];

/// How many examples each split of a built-in task gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplitSizes {
    /// Training examples (default 400).
    pub train: usize,
    /// Validation examples (default 50; 0 means no validation split).
    pub validation: usize,
    /// Test examples (default 50; 0 means no test split).
    pub test: usize,
}

impl Default for SplitSizes {
    fn default() -> Self {
        Self {
            train: 400,
            validation: 50,
            test: 50,
        }
    }
}

/// Every built-in task, in [`BUILTIN_TASKS`] order.
pub fn builtin_suite(seed: u64, per_task: SplitSizes) -> Vec<TaskData> {
    BUILTIN_TASKS
        .iter()
        .filter_map(|name| builtin_task(name, seed, per_task))
        .collect()
}

/// One built-in task by name (the same data as its entry in [`builtin_suite`]), or `None` for
/// a name not in [`BUILTIN_TASKS`].
pub fn builtin_task(name: &str, seed: u64, sizes: SplitSizes) -> Option<TaskData> {
    let mut rng = StdRng::seed_from_u64(task_seed(seed, name));
    let splits = match name {
        "facts" => facts_splits(&mut rng, sizes),
        "lookup" => distinct_splits(&mut rng, sizes, lookup_example),
        "arithmetic" => distinct_splits(&mut rng, sizes, arithmetic_example),
        "reverse" => distinct_splits(&mut rng, sizes, reverse_example),
        "sort" => distinct_splits(&mut rng, sizes, sort_example),
        "sentiment" => distinct_splits(&mut rng, sizes, sentiment_example),
        _ => return None,
    };
    Some(splits.into_task(name, sizes))
}

/// Mixes the task's name into the seed (FNV-1a), so tasks draw independent streams.
fn task_seed(seed: u64, name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    seed ^ hash
}

/// A task's three splits before they become a [`TaskData`].
struct Splits {
    train: Vec<TaskExample>,
    validation: Vec<TaskExample>,
    test: Vec<TaskExample>,
}

impl Splits {
    fn into_task(self, name: &str, sizes: SplitSizes) -> TaskData {
        TaskData {
            name: name.to_owned(),
            train: self.train,
            validation: (sizes.validation > 0).then_some(self.validation),
            test: (sizes.test > 0).then_some(self.test),
        }
    }
}

/// After this many draws in a row that repeat a prompt, a task is taken as exhausted.
const MAX_REPEATS: usize = 100_000;

/// Splits with distinct prompts, drawn test first, then validation, then train.
fn distinct_splits(
    rng: &mut StdRng,
    sizes: SplitSizes,
    mut make: impl FnMut(&mut StdRng) -> TaskExample,
) -> Splits {
    let mut seen = HashSet::new();
    let test = draw_distinct(rng, sizes.test, &mut seen, &mut make);
    let validation = draw_distinct(rng, sizes.validation, &mut seen, &mut make);
    let train = draw_distinct(rng, sizes.train, &mut seen, &mut make);
    Splits {
        train,
        validation,
        test,
    }
}

/// Up to `count` examples whose prompts are not in `seen` (which gains them).
fn draw_distinct(
    rng: &mut StdRng,
    count: usize,
    seen: &mut HashSet<String>,
    make: &mut impl FnMut(&mut StdRng) -> TaskExample,
) -> Vec<TaskExample> {
    let mut examples = Vec::with_capacity(count);
    let mut repeats = 0;
    while examples.len() < count && repeats < MAX_REPEATS {
        let example = make(rng);
        if seen.insert(example.prompt.clone()) {
            examples.push(example);
            repeats = 0;
        } else {
            repeats += 1;
        }
    }
    examples
}

/// A short-answer example: `prompt` and `" answer"`.
fn short_answer(prompt: String, answer: &str) -> TaskExample {
    TaskExample {
        prompt,
        completion: format!(" {answer}"),
        choices: None,
    }
}
