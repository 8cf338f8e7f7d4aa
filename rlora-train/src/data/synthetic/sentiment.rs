//! `sentiment`: multiple choice, A = positive, B = negative, over templated sentences.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use crate::data::TaskExample;
use crate::data::prompt::{choice_lines, multiple_choice_example};

#[rustfmt::skip]
const SUBJECTS: [&str; 12] = [
    "the hotel", "the film", "the food", "the staff", "the book", "the song", "the game",
    "the room", "the trip", "the show", "my phone", "the cake",
];
const VERBS: [&str; 3] = ["was", "is", "felt"];
const INTENSIFIERS: [&str; 4] = ["", "very ", "so ", "quite "];
pub(super) const POSITIVE: [&str; 10] = [
    "great", "lovely", "superb", "fun", "nice", "good", "amazing", "fine", "cool", "neat",
];
pub(super) const NEGATIVE: [&str; 10] = [
    "awful", "boring", "bad", "dull", "poor", "nasty", "horrid", "bland", "sad", "weak",
];
/// The options, in order: A is positive, B negative.
const SENTIMENT_OPTIONS: [&str; 2] = ["positive", "negative"];
/// `the film was so dull.` → ` B`; a quarter of the sentences are negated (`was not dull`,
/// positive) instead of intensified.
pub(super) fn sentiment_example(rng: &mut StdRng) -> TaskExample {
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
    // A short form of the multiple-choice prompt: the records' own is too long for a tiny model.
    let prompt = format!("{sentence}\n{}\nAnswer:", choice_lines(&options));
    multiple_choice_example(prompt, options.len(), usize::from(!positive))
}

fn pick<'a>(rng: &mut StdRng, words: &[&'a str]) -> &'a str {
    words.choose(rng).copied().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{SplitSizes, builtin_task};
    #[test]
    fn sentiment_examples_are_well_formed_multiple_choice() {
        let sentiment = builtin_task("sentiment", 17, SplitSizes::default()).expect("built in");
        let mut labels = [0; 2];
        for example in &sentiment.train {
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
}
