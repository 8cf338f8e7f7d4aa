//! `facts`: closed-book recall of a fixed table of 40 made-up countries.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{SplitSizes, Splits, short_answer};
use crate::data::TaskExample;

/// One made-up country: its name, capital and flag color.
pub(super) struct Fact {
    pub(super) country: &'static str,
    pub(super) capital: &'static str,
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
pub(super) const FACTS: [Fact; 40] = [
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
pub(super) fn fact_questions() -> Vec<TaskExample> {
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
pub(super) fn facts_splits(rng: &mut StdRng, sizes: SplitSizes) -> Splits {
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::data::{SplitSizes, builtin_task};
    #[test]
    fn facts_answers_come_from_the_table_and_train_covers_it() {
        let facts = builtin_task("facts", 17, SplitSizes::default()).expect("built in");
        let table: Vec<TaskExample> = fact_questions();
        assert_eq!(table.len(), 80);
        for example in facts.train.iter().chain(facts.test.iter().flatten()) {
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
}
