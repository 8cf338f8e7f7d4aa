//! `rlora train`: fine-tune a Hugging Face model's adapters on a task mixture, then evaluate the
//! base and the adapted model per task.

use std::path::Path;

use rlora_llama::{Llama, TextTokenizer};

use super::base_check::{check_same_base, record_base};
use super::coordinator_child::Coordinator;
use super::group::{group_settings, mark_run_started, worker_folder};
use super::group_identity::run_identity;
use super::routing::{
    MERGED_FILE, merged_scores, print_merged, print_routing, tokenize_tasks, write_routing,
};
use super::run_folder::{RUN_CONFIG_FILE, claim};
use super::train_args::splits;
use super::train_checks::{CheckedModel, check_data, check_model};
use super::{CliError, TrainArgs};
use crate::backend::ATTENTION;
use crate::base::model_or_tiny_base;
use crate::data::{TaskExample, TokenizedExample, tokenize_examples};
use crate::report::{head_heat_maps, markdown_table, training_curves, write_json};
use crate::trainer::{
    DataParallel, EvalReport, GRADIENT_NORM, GroupMember, LogLayout, RunResources, TrainError,
    TrainOutcome, Trained, TrainingConfig, TrainingData, evaluate, head_summary, last_logged_step,
    latest_checkpoint, mean_off_diagonal, non_finite_step, peak_memory_bytes, routing_analysis,
    train_data_parallel, train_in_group,
};
use rlora_llama::{LlamaAutodiffBackend, LlamaBackend};

/// Each task's name and the examples it is evaluated on.
type EvalSets = Vec<(String, Vec<TaskExample>)>;

/// Each task's name and its tokenized examples.
type TaskRows = Vec<(String, Vec<TokenizedExample>)>;

/// Runs `rlora train` on backend `B`, printing progress; returns the evaluation. The model lives
/// on the first of `devices`; with more than one, training is data-parallel over them, their
/// gradients summed as `parallel` says (the `rlora` command passes [`crate::backend::devices`] of
/// `--devices` and their [`data_parallel`]).
///
/// Every flag, the model's config and tokenizer, the tasks' files and `--output` are checked
/// before the model's weights load and before anything is written (see `train_checks` and
/// `run_folder`); the folder stays locked for this run until it returns.
///
/// With `--nodes N`, this is rank 0 of the group: it starts the group's coordinator (a child
/// `rlora coordinator` of the running executable) and trains with the others; ranks 1.. run
/// [`run_train_worker`].
pub fn run_train<B: LlamaAutodiffBackend>(
    args: &TrainArgs,
    devices: &[B::Device],
    parallel: DataParallel,
) -> Result<TrainOutcome, CliError> {
    let device = devices.first().ok_or("no device to train on")?;
    check_no_config_file(args)?;
    let group = group_settings(args)?;
    if args.node_rank != 0 {
        return Err("rank 0 runs `run_train`; the other ranks run `run_train_worker`".into());
    }
    if let Some(settings) = &group {
        Coordinator::check_ports(settings)?;
    }
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let CheckedModel { tokenizer, spec } = check_model(args, &model_dir)?;
    let (data, eval_sets) = prepare_data(args, &tokenizer)?;
    check_data(args, &data, devices.len() * args.nodes as usize)?;
    let mut folder = claim(args)?;
    let coordinator = match &group {
        Some(settings) => Some(Coordinator::start(&std::env::current_exe()?, settings)?),
        None => None,
    };
    check_same_base(args, &model_dir)?;

    B::seed(device, args.seed);
    let model =
        Llama::<B>::from_pretrained_with_base(&model_dir, Some(&spec), args.base_dtype, device)?;
    // Every check has passed: only now is anything in --output deleted or written.
    folder.prepare()?;
    write_json(&args.output.join(RUN_CONFIG_FILE), args)?;
    record_base(args, &model_dir)?;
    if group.is_some() {
        mark_run_started(&args.output)?;
    }
    let member = match group {
        Some(settings) => Some(GroupMember {
            settings,
            identity: run_identity(args, &data, &model_dir)?,
            watch: coordinator.as_ref().map(Coordinator::watch),
        }),
        None => None,
    };
    let adapters = model.adapters();
    let trainable: usize = adapters.iter().map(|(_, a)| a.num_trainable_params()).sum();
    // A group's processes sum their devices' gradients with the multi-device strategy.
    let parallel = match member {
        Some(_) => DataParallel::Gather,
        None => parallel,
    };
    println!(
        "{} adapters, {trainable} trainable parameters; training on {}",
        adapters.len(),
        placement(args, devices.len(), &parallel)
    );
    let config = args.training_config();
    let trained = fit(
        model,
        &data,
        &config,
        &args.output,
        args,
        devices,
        parallel,
        member,
    )
    .map_err(|error| explain_stop(error, args, devices.len()))?;
    let adapter_dir = args.output.join("adapter");
    trained.model.save_adapter(&adapter_dir)?;
    println!("evaluating the base and the adapted model …");
    let (base, adapted) = evaluate_both(args, &model_dir, &tokenizer, &trained.model, &eval_sets)?;
    let outcome = TrainOutcome {
        base,
        adapted,
        adapter_dir,
        resources: RunResources {
            trainable_params: trainable,
            steps: trained.steps,
            train_seconds: trained.seconds,
            peak_memory_bytes: peak_memory_bytes(),
        },
    };
    write_report(args, &trained.model, &outcome, devices.len())?;
    write_routing_report(
        args,
        &tokenizer,
        &trained.model,
        &eval_sets,
        &outcome.adapted,
    )?;
    Ok(outcome)
}

/// Ranks 1.. of a group run (`--nodes N --node-rank I`, I ≥ 1): the same checks as
/// [`run_train`], then training with the group in a private folder (with `--resume`, from a copy
/// of `--output`'s checkpoints); nothing is written into `--output`, and rank 0 evaluates.
pub fn run_train_worker<B: LlamaAutodiffBackend>(
    args: &TrainArgs,
    devices: &[B::Device],
) -> Result<(), CliError> {
    let device = devices.first().ok_or("no device to train on")?;
    check_no_config_file(args)?;
    let settings = group_settings(args)?.ok_or("run_train_worker trains ranks 1.. of a group")?;
    let model_dir = model_or_tiny_base(args.model.as_deref())?;
    let CheckedModel { tokenizer, spec } = check_model(args, &model_dir)?;
    let (mut data, _) = prepare_data(args, &tokenizer)?;
    check_data(args, &data, devices.len() * args.nodes as usize)?;
    // Rank 0 validates; this rank's validation pass would repeat it.
    data.validation.clear();
    let folder = worker_folder(args)?;
    B::seed(device, args.seed);
    let model =
        Llama::<B>::from_pretrained_with_base(&model_dir, Some(&spec), args.base_dtype, device)?;
    let member = GroupMember {
        settings,
        identity: run_identity(args, &data, &model_dir)?,
        watch: None,
    };
    let parallel = DataParallel::Gather;
    println!("training on {}", placement(args, devices.len(), &parallel));
    // Rank 0 prints the group's progress; this rank's lines would repeat it.
    let config = args.training_config().with_log_every(usize::MAX);
    let trained = fit(
        model,
        &data,
        &config,
        folder.path(),
        args,
        devices,
        parallel,
        Some(member),
    )
    .map_err(|error| explain_stop(error, args, devices.len()))?;
    println!("rank {}: {} steps done", args.node_rank, trained.steps);
    Ok(())
}

/// `--config` must have been expanded into the flags.
fn check_no_config_file(args: &TrainArgs) -> Result<(), CliError> {
    match &args.config {
        Some(file) => Err(format!(
            "--config {}: expand the file with cli::expand_config_file before parsing",
            file.display()
        )
        .into()),
        None => Ok(()),
    }
}

/// How the `rlora` command's `devices` sum their gradients: burn's DDP strategy in a build with
/// the `ddp` feature, its multi-device strategy otherwise.
#[cfg_attr(not(feature = "ddp"), allow(unused_variables))]
pub fn data_parallel(devices: &[burn::tensor::Device<crate::backend::Backend>]) -> DataParallel {
    #[cfg(feature = "ddp")]
    if devices.len() > 1 {
        return DataParallel::AllReduce(crate::backend::all_reduce_runtime(devices));
    }
    DataParallel::Gather
}

/// `flex (1 device)`, `cuda (2 devices, all-reduce)`, or `flex (1 device), rank 0 of 2
/// processes`.
fn placement(args: &TrainArgs, devices: usize, parallel: &DataParallel) -> String {
    let mut text = format!(
        "{} ({devices} device{}{})",
        crate::backend::BACKEND_NAME,
        if devices == 1 { "" } else { "s" },
        match parallel {
            DataParallel::Gather => "",
            #[cfg(feature = "ddp")]
            DataParallel::AllReduce(_) => ", all-reduce",
        }
    );
    if args.nodes > 1 {
        text.push_str(&format!(
            ", rank {} of {} processes",
            args.node_rank, args.nodes
        ));
    }
    text
}

/// Trains in `dir`: alone, or as `member` of its group.
#[allow(clippy::too_many_arguments)]
fn fit<B: LlamaAutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    config: &TrainingConfig,
    dir: &Path,
    args: &TrainArgs,
    devices: &[B::Device],
    parallel: DataParallel,
    member: Option<GroupMember>,
) -> Result<Trained<B::InnerBackend>, TrainError> {
    let (devices, resume) = (devices.to_vec(), args.resume);
    match member {
        None => train_data_parallel(model, data, config, dir, resume, devices, parallel),
        Some(member) => train_in_group(model, data, config, dir, resume, devices, member),
    }
}

/// `error`, and when the run stopped (a loss or gradients that are not finite), the step it
/// stopped at (the first logged loss or gradient norm that is not finite, else the last step
/// logged) and the checkpoint that holds the last good state, to resume from (no checkpoint is
/// written after an update that was not finite).
fn explain_stop(error: TrainError, args: &TrainArgs, devices: usize) -> CliError {
    let message = match error {
        TrainError::Stopped(message) => message,
        TrainError::Group(message) => return explain_group_failure(&message, args),
        TrainError::Interrupted(message) => return explain_interruption(&message, args),
        error => return error.into(),
    };
    let every = args.checkpoint_every as usize;
    let layout = LogLayout::new(every, devices);
    let at = non_finite_step(&args.output, "Loss", layout)
        .into_iter()
        .chain(non_finite_step(&args.output, GRADIENT_NORM, layout))
        .min()
        .or_else(|| last_logged_step(&args.output, "Loss", layout))
        .map(|step| format!(" at step {step}"))
        .unwrap_or_default();
    let checkpoint = args.output.join("checkpoint");
    let advice = match latest_checkpoint(&args.output) {
        Some(epoch) => format!(
            "the last good state is the checkpoint of step {} in {}: continue from it with the \
             same flags, --resume and a lower --lr",
            epoch * every,
            checkpoint.display()
        ),
        None => format!(
            "no checkpoint was written before it (one comes every --checkpoint-every {every} \
             steps): start again with a lower --lr and --overwrite"
        ),
    };
    format!("{message}{at}; {advice}").into()
}

/// A run stopped for another reason than its values (see [`TrainError::Interrupted`]), and the
/// checkpoint to continue from: its learning rate is not the cause, so no lower one is advised.
fn explain_interruption(message: &str, args: &TrainArgs) -> CliError {
    let every = args.checkpoint_every as usize;
    let advice = match latest_checkpoint(&args.output) {
        Some(epoch) => format!(
            "the last checkpoint is that of step {} in {}: continue from it with the same flags \
             and --resume",
            epoch * every,
            args.output.join("checkpoint").display()
        ),
        None => "no checkpoint was written before it: start again with --overwrite".to_string(),
    };
    format!("training stopped: {message}; {advice}").into()
}

/// A group's failure, and the checkpoint the whole group can resume from.
fn explain_group_failure(message: &str, args: &TrainArgs) -> CliError {
    let every = args.checkpoint_every as usize;
    let advice = match latest_checkpoint(&args.output) {
        Some(epoch) => format!(
            "the last checkpoint is that of step {} in {}: start every process again with the \
             same flags and --resume",
            epoch * every,
            args.output.join("checkpoint").display()
        ),
        None => "no checkpoint was written yet".to_string(),
    };
    format!("{message}; {advice}").into()
}

/// The training and validation examples of every task, tokenized, and the examples each task is
/// evaluated on; prints a line per task.
fn prepare_data(
    args: &TrainArgs,
    tokenizer: &TextTokenizer,
) -> Result<(TrainingData, EvalSets), CliError> {
    let tasks = args.tasks()?;
    let mut data = TrainingData {
        task_names: tasks.iter().map(|t| t.name.clone()).collect(),
        train: Vec::new(),
        validation: Vec::new(),
    };
    let mut eval_sets = Vec::new();
    let max_len = args.max_seq_len as usize;
    for (i, task) in tasks.iter().enumerate() {
        let (train, validation, eval) = splits(task, args, args.data_seed().wrapping_add(i as u64));
        let (train, report) = tokenize_examples(i, &train, tokenizer, max_len)?;
        let (validation, _) = tokenize_examples(i, &validation, tokenizer, max_len)?;
        println!(
            "task {:<12} train {:>6}  validation {:>5}  evaluation {:>5}  truncated {}  skipped (prompt > {max_len} tokens) {}",
            task.name,
            train.len(),
            validation.len(),
            eval.len(),
            report.truncated,
            report.skipped_too_long
        );
        if train.is_empty() {
            return Err(format!("task `{}` has no usable training examples", task.name).into());
        }
        if eval.is_empty() {
            println!(
                "task {}: the evaluation set is empty (no test file, and no validation example: \
                 give a validation or test file, or more examples for --holdout {} to hold out)",
                task.name, args.holdout
            );
        }
        data.train.extend(train);
        data.validation.extend(validation);
        eval_sets.push((task.name.clone(), eval));
    }
    Ok((data, eval_sets))
}

/// The scores of the base model (unless `--skip-base-eval`) and of the adapted one.
fn evaluate_both<B: LlamaBackend>(
    args: &TrainArgs,
    model_dir: &Path,
    tokenizer: &TextTokenizer,
    trained: &Llama<B>,
    eval_sets: &EvalSets,
) -> Result<(Option<EvalReport>, EvalReport), CliError> {
    let max_new = args.eval_max_new_tokens as usize;
    let base = if args.skip_base_eval {
        None
    } else {
        let device = trained.embed_tokens.weight.device();
        let base =
            Llama::<B>::from_pretrained_with_base(model_dir, None, args.base_dtype, &device)?
                .with_attention(ATTENTION);
        Some(evaluate(&base, tokenizer, eval_sets, max_new)?)
    };
    let trained = trained.clone().with_attention(ATTENTION);
    Ok((base, evaluate(&trained, tokenizer, eval_sets, max_new)?))
}

/// Prints the head similarities and the per-task table, draws the pictures, and writes
/// `eval.json` and `eval.md`.
fn write_report<B: LlamaBackend>(
    args: &TrainArgs,
    trained: &Llama<B>,
    outcome: &TrainOutcome,
    devices: usize,
) -> Result<(), CliError> {
    let mut columns = Vec::new();
    if let Some(base) = &outcome.base {
        columns.push(("base", base));
    }
    columns.push(("adapted", &outcome.adapted));
    let table = markdown_table(&columns);
    let heads = head_summary(trained);
    for (module, matrix) in &heads.by_module {
        println!(
            "{module}: mean head cosine similarity {:.3} (off-diagonal, mean over layers)",
            mean_off_diagonal(matrix)
        );
    }
    let layout = LogLayout::new(args.checkpoint_every as usize, devices);
    let mut pictures = training_curves(&args.output, layout)?;
    pictures.extend(head_heat_maps(&heads, &args.output)?);
    println!("\n{table}");
    write_json(&args.output.join("eval.json"), outcome)?;
    rlora::io::write_atomically(&args.output.join("eval.md"), table.as_bytes())?;
    println!(
        "adapter: {}\nevaluation: {}",
        outcome.adapter_dir.display(),
        args.output.join("eval.md").display()
    );
    for picture in pictures {
        println!("picture: {}", picture.display());
    }
    Ok(())
}

/// The routing analysis over the evaluation sets (`routing.json`, `routing_<module>.png`) and,
/// with `--eval-merged`, each task's merged model scored beside the routed adapter
/// (`merged.json`).
fn write_routing_report<B: LlamaBackend>(
    args: &TrainArgs,
    tokenizer: &TextTokenizer,
    trained: &Llama<B>,
    eval_sets: &EvalSets,
    adapted: &EvalReport,
) -> Result<(), CliError> {
    let Some((eval_sets, rows)) = routed_tasks(eval_sets, tokenizer, args)? else {
        return Ok(());
    };
    let analysis = routing_analysis(trained, &rows)?;
    print_routing(&analysis);
    for file in write_routing(&analysis, &args.output, false)? {
        println!("written: {}", file.display());
    }
    if args.eval_merged {
        let max_new = args.eval_max_new_tokens as usize;
        let scores = merged_scores(trained, tokenizer, &analysis, &eval_sets, adapted, max_new)?;
        print_merged(&scores);
        write_json(&args.output.join(MERGED_FILE), &scores)?;
    }
    Ok(())
}

/// The tasks of `eval_sets` that the routing analysis can use (with an example left after
/// tokenization) and their tokenized examples; those without are left out, and said. `None`, and
/// said, when no task has one: the evaluation set is empty and there is no routing to analyse.
fn routed_tasks(
    eval_sets: &EvalSets,
    tokenizer: &TextTokenizer,
    args: &TrainArgs,
) -> Result<Option<(EvalSets, TaskRows)>, CliError> {
    let rows = tokenize_tasks(eval_sets, tokenizer, args.max_seq_len as usize)?;
    let (kept, empty): (Vec<_>, Vec<_>) = eval_sets
        .iter()
        .cloned()
        .zip(rows)
        .partition(|(_, (_, rows))| !rows.is_empty());
    let empty: Vec<String> = empty.into_iter().map(|((name, _), _)| name).collect();
    if kept.is_empty() {
        println!(
            "routing: not analysed, the evaluation set is empty ({}: no evaluation example \
             within --max-seq-len {})",
            empty.join(", "),
            args.max_seq_len
        );
        return Ok(None);
    }
    if !empty.is_empty() {
        println!(
            "routing: left out {}, whose evaluation set is empty",
            empty.join(", ")
        );
    }
    Ok(Some(kept.into_iter().unzip()))
}
