//! Evaluation of a model on task examples: mean completion-token loss, and per-task accuracy —
//! exact match of the greedy answer for generation tasks, the most likely option for
//! multiple-choice tasks — with macro and micro averages.

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::ElementConversion;
use rlora_llama::{GenerationConfig, Llama, LlamaError, TextTokenizer};
use serde::{Deserialize, Serialize};

use crate::data::{LmBatch, LmBatcher, TaskExample, Tokenize, TokenizedExample};
use rlora_llama::LlamaBackend;

/// The mean cross-entropy per completion token of `model` over `examples`.
pub fn mean_token_loss<B: LlamaBackend>(
    model: &Llama<B>,
    examples: &[TokenizedExample],
    batch_size: usize,
) -> f64 {
    let (nll, count) = examples
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let (nll, count) = row_nll(model, chunk);
            (nll.iter().sum::<f64>(), count.iter().sum::<f64>())
        })
        .fold((0.0, 0.0), |(a, b), (n, c)| (a + n, b + c));
    nll / count.max(1.0)
}

/// Σ −log p over each example's completion tokens, and their counts.
fn row_nll<B: LlamaBackend>(
    model: &Llama<B>,
    examples: &[TokenizedExample],
) -> (Vec<f64>, Vec<f64>) {
    let device = model.embed_tokens.weight.device();
    let batch: LmBatch<B> = LmBatcher.batch(examples.to_vec(), &device);
    let hidden = model.hidden_states(batch.tokens, None, None);
    let nll = model
        .token_nll(hidden, &batch.loss)
        .into_data()
        .iter::<f32>()
        .map(|v| v.elem::<f64>())
        .collect();
    (nll, batch.loss.counts.iter().map(|&c| c as f64).collect())
}

/// One task's accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskScore {
    /// The task.
    pub task: String,
    /// `exact_match` or `log_likelihood`.
    pub metric: String,
    /// Examples scored.
    pub examples: usize,
    /// Examples answered correctly.
    pub correct: usize,
    /// `correct / examples`.
    pub accuracy: f64,
}

/// Accuracy per task with the macro average (mean over tasks) and the micro average (over all
/// examples).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Per task, in the order given.
    pub tasks: Vec<TaskScore>,
    /// The mean of the tasks' accuracies.
    pub macro_average: f64,
    /// All correct answers over all examples.
    pub micro_average: f64,
}

impl EvalReport {
    /// The report of `tasks`, with their averages.
    pub fn new(tasks: Vec<TaskScore>) -> Self {
        let macro_average =
            tasks.iter().map(|t| t.accuracy).sum::<f64>() / tasks.len().max(1) as f64;
        let (correct, total) = tasks
            .iter()
            .fold((0, 0), |(c, n), t| (c + t.correct, n + t.examples));
        Self {
            tasks,
            macro_average,
            micro_average: correct as f64 / total.max(1) as f64,
        }
    }
}

/// The answer in a generated text: what follows the last `Answer:` if there is one, up to the
/// first line break, trimmed.
pub fn extract_answer(text: &str) -> &str {
    let after = text
        .rsplit_once("Answer:")
        .map_or(text, |(_, answer)| answer);
    after.trim_start().lines().next().unwrap_or("").trim()
}

/// Scores every task: multiple-choice examples by the log-likelihood of each option, the others
/// by exact match of the greedy continuation (at most `max_new_tokens`).
pub fn evaluate<B: LlamaBackend>(
    model: &Llama<B>,
    tokenizer: &TextTokenizer,
    tasks: &[(String, Vec<TaskExample>)],
    max_new_tokens: usize,
) -> Result<EvalReport, LlamaError> {
    let mut scores = Vec::with_capacity(tasks.len());
    for (name, examples) in tasks {
        let mut correct = 0;
        let multiple_choice = examples.iter().any(|e| e.choices.is_some());
        for example in examples {
            let right = match &example.choices {
                Some(choices) => {
                    best_option(model, tokenizer, &example.prompt, &choices.options)?
                        == choices.correct
                }
                None => {
                    let config = GenerationConfig {
                        max_new_tokens,
                        stop_tokens: tokenizer.eos_ids().to_vec(),
                        ..GenerationConfig::default()
                    };
                    let ids =
                        model.generate(&tokenizer.encode(&example.prompt)?, &config, |ids| {
                            tokenizer
                                .decode(ids)
                                .is_ok_and(|t| t.trim_start().contains('\n'))
                        })?;
                    extract_answer(&tokenizer.decode(&ids)?) == example.completion.trim()
                }
            };
            correct += usize::from(right);
        }
        scores.push(TaskScore {
            task: name.clone(),
            metric: if multiple_choice {
                "log_likelihood"
            } else {
                "exact_match"
            }
            .into(),
            examples: examples.len(),
            correct,
            accuracy: correct as f64 / examples.len().max(1) as f64,
        });
    }
    Ok(EvalReport::new(scores))
}

/// The option with the highest total log-probability after `prompt`.
fn best_option<B: LlamaBackend>(
    model: &Llama<B>,
    tokenizer: &TextTokenizer,
    prompt: &str,
    options: &[String],
) -> Result<usize, LlamaError> {
    let prompt_ids = tokenizer.encode_prompt(prompt)?;
    let rows = options
        .iter()
        .map(|option| {
            let mut tokens = prompt_ids.clone();
            tokens.extend(tokenizer.encode_continuation(option)?);
            Ok(TokenizedExample {
                task: 0,
                tokens,
                prompt_len: prompt_ids.len(),
            })
        })
        .collect::<Result<Vec<_>, LlamaError>>()?;
    let (nll, _) = row_nll(model, &rows);
    Ok(nll
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |best, (i, &v)| if v < best.1 { (i, v) } else { best },
        )
        .0)
}
