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
//! `sentiment` is rendered by [`PromptTemplate::multiple_choice_example`] with the form
//! `{question}\n{choices}\nAnswer:`, so its examples carry [`Choices`](super::Choices)
//! `[" A", " B"]`.
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

use std::collections::HashSet;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{PromptTemplate, TaskData, TaskExample};

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
        "sentiment" => {
            let template = sentiment_template();
            distinct_splits(&mut rng, sizes, |rng| sentiment_example(rng, &template))
        }
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

// ---- facts -------------------------------------------------------------------------------

/// One made-up country: its name, capital and flag color.
struct Fact {
    country: &'static str,
    capital: &'static str,
    flag: &'static str,
}

const fn fact(country: &'static str, capital: &'static str, flag: &'static str) -> Fact {
    Fact {
        country,
        capital,
        flag,
    }
}

/// The fixed fact table (the same for every seed).
const FACTS: [Fact; 40] = [
    fact("Zorvania", "Quell", "red"),
    fact("Brastoria", "Vemb", "blue"),
    fact("Quilmark", "Osk", "green"),
    fact("Tevandor", "Rilth", "gold"),
    fact("Mornesh", "Pyle", "white"),
    fact("Galdavia", "Sunmere", "black"),
    fact("Ostrelia", "Dask", "purple"),
    fact("Vintara", "Holm", "orange"),
    fact("Kelbrith", "Aurn", "green"),
    fact("Plovenia", "Trisk", "silver"),
    fact("Drumelia", "Cobb", "gray"),
    fact("Yarrowind", "Fesk", "red"),
    fact("Hessaly", "Marrow", "white"),
    fact("Juntavar", "Pell", "blue"),
    fact("Corvenia", "Imber", "gold"),
    fact("Lusmark", "Tolk", "orange"),
    fact("Sarnavia", "Quibb", "black"),
    fact("Elderon", "Vosk", "silver"),
    fact("Nimbria", "Gale", "purple"),
    fact("Ravonia", "Brisk", "gray"),
    fact("Tallusk", "Ember", "blue"),
    fact("Wendaria", "Lorn", "gold"),
    fact("Ixtovia", "Zell", "red"),
    fact("Umbrosa", "Nook", "green"),
    fact("Pardelia", "Vask", "black"),
    fact("Glimmora", "Drun", "white"),
    fact("Hollivar", "Sprue", "gray"),
    fact("Kastovel", "Brann", "purple"),
    fact("Merrowan", "Fitch", "silver"),
    fact("Obrellia", "Tarn", "orange"),
    fact("Skelvania", "Rook", "gold"),
    fact("Trivonia", "Whist", "green"),
    fact("Vardemar", "Olm", "blue"),
    fact("Xenobar", "Pliv", "red"),
    fact("Astravia", "Kell", "gray"),
    fact("Bremoria", "Jast", "orange"),
    fact("Cindrel", "Mopp", "white"),
    fact("Duvania", "Sorrel", "purple"),
    fact("Fallowen", "Grint", "black"),
    fact("Gorvald", "Yew", "silver"),
];

/// Every question the fact table answers (two per country).
fn fact_questions() -> Vec<TaskExample> {
    FACTS
        .iter()
        .flat_map(|fact| {
            [
                short_answer(format!("Q: capital of {}?\nA:", fact.country), fact.capital),
                short_answer(format!("Q: flag color of {}?\nA:", fact.country), fact.flag),
            ]
        })
        .collect()
}

/// Each split cycles through all fact questions, reshuffled on every pass.
fn facts_splits(rng: &mut StdRng, sizes: SplitSizes) -> Splits {
    let questions = fact_questions();
    let test = cycle_shuffled(rng, &questions, sizes.test);
    let validation = cycle_shuffled(rng, &questions, sizes.validation);
    let train = cycle_shuffled(rng, &questions, sizes.train);
    Splits {
        train,
        validation,
        test,
    }
}

fn cycle_shuffled(rng: &mut StdRng, pool: &[TaskExample], count: usize) -> Vec<TaskExample> {
    let mut examples = Vec::with_capacity(count);
    while examples.len() < count {
        let mut pass = pool.to_vec();
        pass.shuffle(rng);
        pass.truncate(count - examples.len());
        examples.extend(pass);
    }
    examples
}

// ---- lookup, arithmetic, reverse, sort ---------------------------------------------------

/// `k3=7 k1=4 k9=2. k1?` → ` 4`: 3 to 5 distinct keys, one asked.
fn lookup_example(rng: &mut StdRng) -> TaskExample {
    let count = rng.random_range(3..=5);
    let keys = rand::seq::index::sample(rng, 10, count).into_vec();
    let pairs: Vec<(usize, u32)> = keys
        .into_iter()
        .map(|key| (key, rng.random_range(0..10)))
        .collect();
    let (asked, value) = pairs[rng.random_range(0..pairs.len())];
    let context: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("k{key}={value}"))
        .collect();
    short_answer(
        format!("{}. k{asked}?", context.join(" ")),
        &value.to_string(),
    )
}

/// `12+7=` → ` 19` or `12-7=` → ` 5`, operands 0..=49, never negative.
fn arithmetic_example(rng: &mut StdRng) -> TaskExample {
    let a: u32 = rng.random_range(0..50);
    let b: u32 = rng.random_range(0..50);
    if rng.random_bool(0.5) {
        short_answer(format!("{a}+{b}="), &(a + b).to_string())
    } else {
        let (high, low) = (a.max(b), a.min(b));
        short_answer(format!("{high}-{low}="), &(high - low).to_string())
    }
}

/// `reverse plonk:` → ` knolp`, 3 to 6 letters.
fn reverse_example(rng: &mut StdRng) -> TaskExample {
    let length = rng.random_range(3..=6);
    let word = random_letters(rng, length);
    let reversed: String = word.chars().rev().collect();
    short_answer(format!("reverse {word}:"), &reversed)
}

/// `sort dbca:` → ` abcd`, 4 letters (repeats allowed).
fn sort_example(rng: &mut StdRng) -> TaskExample {
    let letters = random_letters(rng, 4);
    let mut sorted: Vec<char> = letters.chars().collect();
    sorted.sort_unstable();
    short_answer(
        format!("sort {letters}:"),
        &sorted.iter().collect::<String>(),
    )
}

fn random_letters(rng: &mut StdRng, length: usize) -> String {
    (0..length)
        .map(|_| char::from(rng.random_range(b'a'..=b'z')))
        .collect()
}

// ---- sentiment ---------------------------------------------------------------------------

const SUBJECTS: [&str; 12] = [
    "the hotel",
    "the film",
    "the food",
    "the staff",
    "the book",
    "the song",
    "the game",
    "the room",
    "the trip",
    "the show",
    "my phone",
    "the cake",
];
const VERBS: [&str; 3] = ["was", "is", "felt"];
const INTENSIFIERS: [&str; 4] = ["", "very ", "so ", "quite "];
const POSITIVE: [&str; 10] = [
    "great", "lovely", "superb", "fun", "nice", "good", "amazing", "fine", "cool", "neat",
];
const NEGATIVE: [&str; 10] = [
    "awful", "boring", "bad", "dull", "poor", "nasty", "horrid", "bland", "sad", "weak",
];
/// The options, in order: A is positive, B negative.
const SENTIMENT_OPTIONS: [&str; 2] = ["positive", "negative"];
/// The multiple-choice form of `sentiment` (the default one is too long for a tiny model).
const SENTIMENT_FORM: &str = "{question}\n{choices}\nAnswer:";

fn sentiment_template() -> PromptTemplate {
    match PromptTemplate::alpaca().with_multiple_choice(SENTIMENT_FORM) {
        Ok(template) => template,
        Err(error) => panic!("built-in sentiment template is invalid: {error}"),
    }
}

/// `the film was so dull.` → ` B`; a quarter of the sentences are negated (`was not dull`,
/// positive) instead of intensified.
fn sentiment_example(rng: &mut StdRng, template: &PromptTemplate) -> TaskExample {
    let subject = pick(rng, &SUBJECTS);
    let verb = pick(rng, &VERBS);
    let adjective_positive = rng.random_bool(0.5);
    let adjective = pick(
        rng,
        if adjective_positive {
            &POSITIVE
        } else {
            &NEGATIVE
        },
    );
    let negated = rng.random_bool(0.25);
    let modifier = if negated {
        "not "
    } else {
        pick(rng, &INTENSIFIERS)
    };
    let sentence = format!("{subject} {verb} {modifier}{adjective}.");
    let positive = adjective_positive != negated;
    let options = SENTIMENT_OPTIONS.map(str::to_owned);
    template.multiple_choice_example(&sentence, &options, usize::from(!positive))
}

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn facts_answers_come_from_the_table_and_train_covers_it() {
        let suite = suite();
        let facts = task(&suite, "facts");
        let table: Vec<TaskExample> = fact_questions();
        assert_eq!(table.len(), 80);
        for example in all_examples(facts) {
            assert!(table.contains(example), "{example:?}");
        }
        for question in &table {
            assert!(facts.train.contains(question), "{question:?} not trained");
        }
        let zorvania = TaskExample {
            prompt: "Q: capital of Zorvania?\nA:".into(),
            completion: " Quell".into(),
            choices: None,
        };
        assert!(table.contains(&zorvania));
    }

    #[test]
    fn fact_table_is_unambiguous() {
        let countries: HashSet<&str> = FACTS.iter().map(|fact| fact.country).collect();
        let capitals: HashSet<&str> = FACTS.iter().map(|fact| fact.capital).collect();
        assert_eq!(countries.len(), FACTS.len());
        assert_eq!(capitals.len(), FACTS.len());
    }

    #[test]
    fn arithmetic_answers_are_correct() {
        for example in all_examples(task(&suite(), "arithmetic")) {
            let expression = example.prompt.strip_suffix('=').expect("ends with =");
            let (a, b, result): (_, _, fn(i64, i64) -> Option<i64>) =
                match expression.split_once('+') {
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
    fn sentiment_examples_are_well_formed_multiple_choice() {
        let suite = suite();
        let sentiment = task(&suite, "sentiment");
        let mut labels = [0; 2];
        for example in all_examples(sentiment) {
            let choices = example.choices.as_ref().expect("multiple choice");
            assert_eq!(choices.options, [" A", " B"]);
            assert_eq!(example.completion, choices.options[choices.correct]);
            let sentence = example
                .prompt
                .strip_suffix("\nA. positive\nB. negative\nAnswer:")
                .expect("choices and cue");
            assert_eq!(
                choices.correct,
                usize::from(!is_positive(sentence)),
                "{sentence}"
            );
            labels[choices.correct] += 1;
        }
        assert!(
            labels.iter().all(|&count| count > 100),
            "unbalanced: {labels:?}"
        );
    }

    /// Recomputes a sentence's polarity from the word lists.
    fn is_positive(sentence: &str) -> bool {
        let words: Vec<&str> = sentence.trim_end_matches('.').split(' ').collect();
        let adjective = words.last().expect("words");
        let positive = POSITIVE.contains(adjective);
        assert!(positive || NEGATIVE.contains(adjective), "{sentence}");
        positive != words.contains(&"not")
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
}
