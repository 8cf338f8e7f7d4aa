//! [`pretraining_corpus`]: the generated text the tiny base is pretrained on.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

/// `lines` lines of generated English-like text: sentences, questions about them, word, letter
/// and number lists, and `key=value` strings. It teaches the surface the tasks use, not their
/// answers.
pub fn pretraining_corpus(seed: u64, lines: usize) -> Vec<String> {
    #[rustfmt::skip]
    const SUBJECTS: &[&str] = &[
        "the old sailor", "a small cat", "my friend", "the teacher", "a tall tree", "the red car",
        "our neighbor", "the quiet river", "a young girl", "the baker", "an old dog",
        "the farmer", "a busy bee", "the king",
    ];
    #[rustfmt::skip]
    const VERBS: &[&str] = &[
        "sees", "likes", "finds", "paints", "carries", "follows", "remembers", "builds", "hears",
        "wants", "loves", "hates", "sells", "keeps",
    ];
    #[rustfmt::skip]
    const OBJECTS: &[&str] = &[
        "a blue boat", "the green hill", "an apple", "the long road", "a warm coat",
        "the bright moon", "a loud song", "the small house", "a heavy stone", "the cold water",
        "a new book", "the dark forest", "a sweet cake",
    ];
    #[rustfmt::skip]
    const WHEN: &[&str] = &[
        "in the morning", "near the sea", "after lunch", "every day", "at night", "in winter",
        "today",
    ];
    const ADJECTIVES: &[&str] = &[
        "good", "bad", "great", "awful", "lovely", "boring", "fine", "nice", "dull", "bright",
        "happy", "sad",
    ];
    let mut rng = StdRng::seed_from_u64(seed);
    let letters = |rng: &mut StdRng, n: usize| -> String {
        (0..n)
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect()
    };
    (0..lines)
        .map(|_| {
            let subject = *SUBJECTS.choose(&mut rng).expect("non-empty");
            let verb = *VERBS.choose(&mut rng).expect("non-empty");
            let object = *OBJECTS.choose(&mut rng).expect("non-empty");
            match rng.random_range(0..7) {
                0 | 1 => format!(
                    "{subject} {verb} {object} {}.",
                    WHEN.choose(&mut rng).expect("non-empty")
                ),
                2 => {
                    format!("{subject} {verb} {object}.\nQ: what does {subject} see?\nA: {object}")
                }
                3 => {
                    let n = rng.random_range(3..7);
                    let numbers: Vec<String> = (0..n)
                        .map(|_| rng.random_range(0..100).to_string())
                        .collect();
                    format!("numbers: {}", numbers.join(" "))
                }
                4 => {
                    let n = rng.random_range(2..6);
                    let words: Vec<String> = (0..n)
                        .map(|_| {
                            let len = rng.random_range(3..7);
                            letters(&mut rng, len)
                        })
                        .collect();
                    format!("words: {}", words.join(" "))
                }
                5 => {
                    let n = rng.random_range(2..6);
                    let pairs: Vec<String> = (0..n)
                        .map(|_| {
                            format!(
                                "{}{}={}",
                                letters(&mut rng, 1),
                                rng.random_range(0..10),
                                rng.random_range(0..10)
                            )
                        })
                        .collect();
                    format!("{}.", pairs.join(" "))
                }
                _ => format!(
                    "the day was {}. {subject} felt {}.",
                    ADJECTIVES.choose(&mut rng).expect("non-empty"),
                    ADJECTIVES.choose(&mut rng).expect("non-empty")
                ),
            }
        })
        .collect()
}
