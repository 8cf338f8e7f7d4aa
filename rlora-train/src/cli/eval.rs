//! `rlora eval`: per-task accuracy of a model, with or without an adapter.

use std::path::PathBuf;

use clap::Args;
use rlora_llama::{AttentionKernel, Llama, TextTokenizer};

use super::CliError;
use super::output_folder::check_output_folder;
use crate::base::model_or_tiny_base;
use crate::data::{DEFAULT_MAX_LINE_BYTES, SplitSizes, evaluation_examples};
use crate::report::{markdown_table, write_json};
use crate::run::load_flagged_tasks;
use crate::trainer::{EvalReport, evaluate};
use rlora_llama::LlamaBackend;

/// Arguments of `rlora eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A Hugging Face model folder (default: the embedded tiny base).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// An adapter folder (this project's or PEFT's).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// A task: NAME=FILE.jsonl (its examples are evaluated), or NAME=TRAIN,VALID or
    /// NAME=TRAIN,VALID,TEST (the test file, else the validation file). Repeatable.
    #[arg(long = "task", value_name = "NAME=FILES")]
    pub tasks: Vec<String>,
    /// Evaluate the built-in suite's test splits.
    #[arg(long)]
    pub builtin: bool,
    /// At most this many examples per task.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub eval_examples: u32,
    /// New tokens for exact-match answers.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_new_tokens: u32,
    /// Write `eval.json` and `eval.md` here.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// The longest line of a task file, in bytes (a longer one is an error naming the file and
    /// the line).
    #[arg(long, default_value_t = DEFAULT_MAX_LINE_BYTES as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_line_bytes: u64,
    /// The built-in suite's seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Test examples per task of the built-in suite.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub builtin_test_examples: u32,
}

/// Evaluates and prints the per-task table.
pub fn run_eval<B: LlamaBackend>(
    args: &EvalArgs,
    device: &B::Device,
) -> Result<EvalReport, CliError> {
    if let Some(dir) = &args.output {
        check_output_folder(dir)?;
    }
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let sizes = SplitSizes {
        test: args.builtin_test_examples as usize,
        ..SplitSizes::default()
    };
    let builtin = args.builtin.then_some((args.seed, sizes));
    let tasks = load_flagged_tasks(&args.tasks, builtin, args.max_line_bytes)?;
    let tasks = evaluation_examples(tasks, args.eval_examples as usize);
    let tokenizer = TextTokenizer::from_model_dir(&model_dir)?;
    let mut model = Llama::<B>::from_pretrained(&model_dir, None, device)?;
    if let Some(adapter) = &args.adapter {
        model = model.load_any_adapter(adapter, device)?;
    }
    let model = model.with_attention(AttentionKernel::for_backend::<B>());
    let report = evaluate(&model, &tokenizer, &tasks, args.max_new_tokens as usize)?;
    let column = if args.adapter.is_some() {
        "adapted"
    } else {
        "base"
    };
    let table = markdown_table(&[(column, &report)]);
    println!("{table}");
    if let Some(dir) = &args.output {
        write_json(&dir.join("eval.json"), &report)?;
        rlora::io::write_atomically(&dir.join("eval.md"), table.as_bytes())?;
    }
    Ok(report)
}
