//! The routing analysis on the command line: the task flags of `rlora heads` and
//! `rlora export --routing task:NAME`, its printed tables, `routing.json` and heat maps, and the
//! per-task merged model's accuracy beside the routed adapter's (`rlora train --eval-merged`).

use std::path::{Path, PathBuf};

use clap::Args;
use rlora_llama::{Llama, TextTokenizer};
use serde::{Deserialize, Serialize};

use super::{Failure, load_flagged_tasks};
use crate::data::{
    DEFAULT_MAX_LINE_BYTES, SplitSizes, TaskExample, TokenizedExample, evaluation_examples,
    tokenize_examples,
};
use crate::report::{routing_heat_maps, write_json};
use crate::trainer::{RoutingAnalysis, evaluate, routing_analysis};
use rlora_llama::LlamaBackend;

/// The file the routing analysis is written to.
pub const ROUTING_FILE: &str = "routing.json";

/// The file of the per-task merged models' accuracies.
pub const MERGED_FILE: &str = "merged.json";

/// The tasks whose routing is analysed.
#[derive(Debug, Args, Clone, Default)]
pub struct RoutingTasks {
    /// A task to analyse the routing on: NAME=FILE.jsonl, or NAME=TRAIN,VALID or
    /// NAME=TRAIN,VALID,TEST (the test file, else the validation file). Repeatable.
    #[arg(long = "task", value_name = "NAME=FILES")]
    pub tasks: Vec<String>,
    /// The built-in suite's test splits.
    #[arg(long)]
    pub builtin: bool,
    /// The built-in suite's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// At most this many examples per task.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub routing_examples: u32,
    /// Examples are cut to this many tokens.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_seq_len: u32,
    /// The longest line of a task file, in bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: u64,
}

impl RoutingTasks {
    /// Whether any task was given.
    pub fn any(&self) -> bool {
        self.builtin || !self.tasks.is_empty()
    }

    /// The tasks' examples (test split, else validation, else train), at most
    /// `--routing-examples` each.
    pub fn load(&self) -> Result<Vec<(String, Vec<TaskExample>)>, Failure> {
        let builtin = self.builtin.then_some((self.seed, SplitSizes::default()));
        let tasks = load_flagged_tasks(&self.tasks, builtin, self.max_line_bytes)?;
        Ok(evaluation_examples(tasks, self.routing_examples as usize))
    }
}

/// Tokenizes `tasks` to at most `max_len` tokens per example.
pub fn tokenize_tasks(
    tasks: &[(String, Vec<TaskExample>)],
    tokenizer: &TextTokenizer,
    max_len: usize,
) -> Result<Vec<(String, Vec<TokenizedExample>)>, Failure> {
    tasks
        .iter()
        .enumerate()
        .map(|(i, (name, examples))| {
            let (rows, _) = tokenize_examples(i, examples, tokenizer, max_len)?;
            Ok((name.clone(), rows))
        })
        .collect()
}

/// Prints the analysis: separation per layer, entropy per task, and per projection type the
/// tasks × heads mean gates (mean over layers).
pub fn print_routing(analysis: &RoutingAnalysis) {
    println!(
        "routing: task separation (mean pairwise Jensen–Shannon divergence, nats, ≤ ln 2 = 0.693) {:.4}",
        analysis.separation
    );
    println!("| layer | separation |\n|---:|---:|");
    for (layer, separation) in &analysis.separation_by_layer {
        println!("| {layer} | {separation:.4} |");
    }
    println!("\n| task | examples | routing entropy (nats) |\n|---|---:|---:|");
    for ((task, n), h) in analysis
        .tasks
        .iter()
        .zip(&analysis.examples)
        .zip(&analysis.entropy)
    {
        println!("| {task} | {n} | {h:.4} |");
    }
    for (module, matrix) in analysis.by_module() {
        println!("\n{module}: mean gate per head, mean over layers");
        for (task, row) in analysis.tasks.iter().zip(&matrix) {
            let row: Vec<String> = row.iter().map(|g| format!("{g:.3}")).collect();
            println!("  {task:<12} {}", row.join(" "));
        }
    }
}

/// Writes `routing.json` and the heat maps (`routing_<module>.png`, and per layer with
/// `per_layer`) into `dir`; returns the files written.
pub fn write_routing(
    analysis: &RoutingAnalysis,
    dir: &Path,
    per_layer: bool,
) -> Result<Vec<PathBuf>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let json = dir.join(ROUTING_FILE);
    write_json(&json, analysis)?;
    let mut written = vec![json];
    written.extend(routing_heat_maps(analysis, dir, per_layer)?);
    Ok(written)
}

/// One task's accuracy with the routed adapter and with the model merged under the task's own
/// mean routing per projection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MergedScore {
    /// The task.
    pub task: String,
    /// The examples scored.
    pub examples: usize,
    /// The routed adapter's accuracy.
    pub routed: f64,
    /// The merged model's accuracy.
    pub merged: f64,
}

/// For each task of `eval_sets`: the model merged under that task's routing (from `analysis`,
/// whose tasks are in the same order), scored on that task, beside `routed` (the adapter's
/// scores, same order).
pub fn merged_scores<B: LlamaBackend>(
    model: &Llama<B>,
    tokenizer: &TextTokenizer,
    analysis: &RoutingAnalysis,
    eval_sets: &[(String, Vec<TaskExample>)],
    routed: &crate::trainer::EvalReport,
    max_new_tokens: usize,
) -> Result<Vec<MergedScore>, Failure> {
    let mut scores = Vec::with_capacity(eval_sets.len());
    for (t, task) in eval_sets.iter().enumerate() {
        let merged = model
            .clone()
            .merge_adapters_by_path(&analysis.task_routing(t))?;
        let report = evaluate(
            &merged,
            tokenizer,
            std::slice::from_ref(task),
            max_new_tokens,
        )?;
        let routed = routed
            .tasks
            .iter()
            .find(|s| s.task == task.0)
            .map_or(f64::NAN, |s| s.accuracy);
        scores.push(MergedScore {
            task: task.0.clone(),
            examples: task.1.len(),
            routed,
            merged: report.tasks[0].accuracy,
        });
    }
    Ok(scores)
}

/// Prints the routed and merged accuracies as a table.
pub fn print_merged(scores: &[MergedScore]) {
    println!(
        "\n| task | examples | routed adapter | merged under the task's routing |\n|---|---:|---:|---:|"
    );
    for s in scores {
        println!(
            "| {} | {} | {:.2} | {:.2} |",
            s.task,
            s.examples,
            100.0 * s.routed,
            100.0 * s.merged
        );
    }
}

/// The analysis over `tasks` of `model`, for `rlora heads` and `rlora export`.
pub fn analyse<B: LlamaBackend>(
    model: &Llama<B>,
    tokenizer: &TextTokenizer,
    tasks: &RoutingTasks,
) -> Result<RoutingAnalysis, Failure> {
    let examples = tasks.load()?;
    let rows = tokenize_tasks(&examples, tokenizer, tasks.max_seq_len as usize)?;
    Ok(routing_analysis(model, &rows)?)
}
