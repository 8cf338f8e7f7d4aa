//! `lookup`, `arithmetic`, `reverse` and `sort`: short answers computed from the prompt.

use rand::Rng;
use rand::rngs::StdRng;

use super::short_answer;
use crate::data::TaskExample;

/// `k3=7 k1=4 k9=2. k1?` → ` 4`: 3 to 5 distinct keys, one asked.
pub(super) fn lookup_example(rng: &mut StdRng) -> TaskExample {
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
pub(super) fn arithmetic_example(rng: &mut StdRng) -> TaskExample {
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
pub(super) fn reverse_example(rng: &mut StdRng) -> TaskExample {
    let length = rng.random_range(3..=6);
    let word = random_letters(rng, length);
    let reversed: String = word.chars().rev().collect();
    short_answer(format!("reverse {word}:"), &reversed)
}

/// `sort dbca:` → ` abcd`, 4 letters (repeats allowed).
pub(super) fn sort_example(rng: &mut StdRng) -> TaskExample {
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
