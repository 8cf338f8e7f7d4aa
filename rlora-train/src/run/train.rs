//! [`train`]: a whole run of a [`RunSpec`] (the checks, the output folder, the data, the model,
//! training through burn's `Learner`, the evaluation and the reports), the library call under
//! `rlora train`, the other ranks of a group and the example.

use std::path::Path;

use burn::tensor::backend::Backend;
use rlora_llama::{
    AdapterSpec, AttentionKernel, Llama, LlamaAutodiffBackend, LlamaBackend, TextTokenizer,
};

use super::base_check::{check_same_base, record_base};
use super::checks::{CheckedModel, check_data, check_model};
use super::coordinator_child::Coordinator;
use super::folder::{RUN_CONFIG_FILE, claim};
use super::group::{group_settings, mark_run_started, worker_folder};
use super::group_identity::run_identity;
use super::routing::{
    MERGED_FILE, merged_scores, print_merged, print_routing, tokenize_tasks, write_routing,
};
use super::{Failure, RunError, RunOutcome, RunSpec};
use crate::base::model_or_tiny_base;
use crate::data::{TaskExample, TokenizedExample, tokenize_examples};
use crate::report::{head_heat_maps, markdown_table, training_curves, write_json};
use crate::trainer::{
    DataParallel, EngineErrorKind, EvalReport, GRADIENT_NORM, GroupError, GroupFault, GroupMember,
    LogLayout, Placement, RunResources, TrainError, TrainOutcome, Trained, TrainingData,
    batch_shards, evaluate, head_summary, last_logged_step, latest_checkpoint, mean_off_diagonal,
    non_finite_step, peak_memory_bytes, routing_analysis, train_on,
};

/// Each task's name and the examples it is evaluated on.
type EvalSets = Vec<(String, Vec<TaskExample>)>;

/// Each task's name and its tokenized examples.
type TaskRows = Vec<(String, Vec<TokenizedExample>)>;

/// Runs `spec` on backend `B`, printing progress. The model lives on the first of `devices`;
/// with more than one, training is data-parallel over them, their gradients summed as
/// `parallel` says.
///
/// Every setting, the model's config and tokenizer, the tasks' files and the output folder are
/// checked before the model's weights load and before anything is written; the folder stays
/// locked for this run until it returns.
///
/// With `spec.placement.nodes` N > 1, this process is rank `node_rank` of a group: rank 0
/// starts the group's coordinator (a child `coordinator` process of the running executable,
/// which must be the `rlora` command), trains with the others, evaluates and writes the reports;
/// ranks 1.. train in a private folder (with `--resume`, from a copy of the output's
/// checkpoints) and write nothing into the output folder. Such a program sets
/// [`ENGINE_THREADS_VARIABLE`](crate::trainer::ENGINE_THREADS_VARIABLE) to 1 first thing in
/// `main`, as `rlora` does: burn's collective engine can stall on more threads.
///
/// # Errors
/// [`RunError::Refused`] when a check fails (nothing of a run in the output folder was touched),
/// [`RunError::Stopped`] when training stopped (the message names the step and the checkpoint to
/// continue from), [`RunError::Failed`] otherwise.
pub fn train<B: LlamaAutodiffBackend>(
    spec: &RunSpec,
    devices: &[B::Device],
    parallel: DataParallel,
) -> Result<RunOutcome, RunError> {
    spec.check().map_err(RunError::Refused)?;
    if spec.placement.node_rank > 0 {
        let steps = train_other_rank::<B>(spec, devices)?;
        return Ok(RunOutcome::Rank {
            rank: spec.placement.node_rank,
            steps,
        });
    }
    let device = devices
        .first()
        .ok_or(RunError::refused("no device to train on"))?;
    let group = group_settings(spec).map_err(RunError::Refused)?;
    if let Some(settings) = &group {
        Coordinator::check_ports(settings).map_err(RunError::Refused)?;
    }
    let (model_dir, checked, data, eval_sets) =
        prepare(spec, devices.len()).map_err(RunError::Refused)?;
    let CheckedModel {
        tokenizer,
        adapters,
    } = checked;
    let mut folder = claim(spec).map_err(RunError::Refused)?;
    let coordinator = match &group {
        Some(settings) => Some(
            Coordinator::start(&std::env::current_exe().map_err(failed)?, settings)
                .map_err(RunError::Refused)?,
        ),
        None => None,
    };
    check_same_base(spec, &model_dir).map_err(RunError::Refused)?;

    let model = load_model::<B>(spec, &model_dir, &adapters, device)?;
    // Every check has passed: only now is anything in the output folder deleted or written.
    folder.prepare().map_err(failed)?;
    let output = &spec.output.output;
    write_json(&output.join(RUN_CONFIG_FILE), spec).map_err(failed)?;
    record_base(spec, &model_dir).map_err(failed)?;
    if group.is_some() {
        mark_run_started(output).map_err(failed)?;
    }
    let member = match group {
        Some(settings) => Some(GroupMember {
            settings,
            identity: run_identity(spec, &data, &model_dir).map_err(failed)?,
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
        placement::<B>(spec, devices, &parallel)
    );
    let trained = fit(model, &data, spec, output, devices, parallel, member)?;
    let done = Finished {
        model_dir: &model_dir,
        tokenizer: &tokenizer,
        eval_sets: &eval_sets,
        trainable,
        devices: devices.len(),
    };
    done.report(spec, trained).map(RunOutcome::Evaluated)
}

/// What rank 0 needs after training to save, evaluate and report.
struct Finished<'a> {
    model_dir: &'a Path,
    tokenizer: &'a TextTokenizer,
    eval_sets: &'a EvalSets,
    trainable: usize,
    devices: usize,
}

impl Finished<'_> {
    /// Saves the adapter, evaluates the base and the adapted model, and writes the reports.
    fn report(
        &self,
        spec: &RunSpec,
        trained: Trained<impl LlamaBackend>,
    ) -> Result<TrainOutcome, RunError> {
        let adapter_dir = spec.output.output.join("adapter");
        trained.model.save_adapter(&adapter_dir).map_err(failed)?;
        println!("evaluating the base and the adapted model …");
        let (base, adapted) = evaluate_both(
            spec,
            self.model_dir,
            self.tokenizer,
            &trained.model,
            self.eval_sets,
        )
        .map_err(RunError::Failed)?;
        let outcome = TrainOutcome {
            base,
            adapted,
            adapter_dir,
            resources: RunResources {
                trainable_params: self.trainable,
                steps: trained.steps,
                train_seconds: trained.seconds,
                peak_memory_bytes: peak_memory_bytes(),
            },
        };
        write_report(spec, &trained.model, &outcome, self.devices).map_err(RunError::Failed)?;
        let adapted = &outcome.adapted;
        write_routing_report(
            spec,
            self.tokenizer,
            &trained.model,
            self.eval_sets,
            adapted,
        )
        .map_err(RunError::Failed)?;
        Ok(outcome)
    }
}

/// Ranks 1.. of a group: the same checks as rank 0, then training with the group in a private
/// folder; returns the steps trained.
fn train_other_rank<B: LlamaAutodiffBackend>(
    spec: &RunSpec,
    devices: &[B::Device],
) -> Result<usize, RunError> {
    let device = devices
        .first()
        .ok_or(RunError::refused("no device to train on"))?;
    let settings = group_settings(spec)
        .map_err(RunError::Refused)?
        .ok_or(RunError::refused(
            "--node-rank above 0 needs --nodes above 1",
        ))?;
    let (model_dir, checked, mut data, _) =
        prepare(spec, devices.len()).map_err(RunError::Refused)?;
    // Rank 0 validates; this rank's validation pass would repeat it.
    data.validation.clear();
    let folder = worker_folder(spec).map_err(RunError::Refused)?;
    let model = load_model::<B>(spec, &model_dir, &checked.adapters, device)?;
    let member = GroupMember {
        settings,
        identity: run_identity(spec, &data, &model_dir).map_err(failed)?,
        watch: None,
    };
    let parallel = DataParallel::Gather;
    println!("training on {}", placement::<B>(spec, devices, &parallel));
    let trained = fit(
        model,
        &data,
        spec,
        folder.path(),
        devices,
        parallel,
        Some(member),
    )?;
    println!(
        "rank {}: {} steps done",
        spec.placement.node_rank, trained.steps
    );
    Ok(trained.steps)
}

/// The checks and data every rank prepares before its weights load: the model folder (or the
/// tiny base), the model's config and tokenizer against the adapters, and the tasks (read,
/// split, tokenized) against the schedule on `devices` devices of every process.
fn prepare(
    spec: &RunSpec,
    devices: usize,
) -> Result<(std::path::PathBuf, CheckedModel, TrainingData, EvalSets), Failure> {
    let model_dir = model_or_tiny_base(spec.model.model.as_deref())?;
    let checked = check_model(spec, &model_dir)?;
    let (data, eval_sets) = prepare_data(spec, &checked.tokenizer)?;
    check_data(spec, &data, devices * spec.placement.nodes as usize)?;
    Ok((model_dir, checked, data, eval_sets))
}

/// The model of `model_dir` with `adapters` on `device`, seeded by the run's seed (which the
/// adapters' random start draws from).
fn load_model<B: LlamaAutodiffBackend>(
    spec: &RunSpec,
    model_dir: &Path,
    adapters: &AdapterSpec,
    device: &B::Device,
) -> Result<Llama<B>, RunError> {
    B::seed(device, spec.batches.seed);
    Llama::from_pretrained_with_base(model_dir, Some(adapters), spec.model.base_dtype, device)
        .map_err(|e| RunError::Refused(e.into()))
}

/// A failure once the run has started.
fn failed(error: impl Into<Failure>) -> RunError {
    RunError::Failed(error.into())
}

/// `flex (1 device)`, `fusion<cubecl<cuda>> (2 devices, all-reduce)`, or `flex (1 device), rank
/// 0 of 2 processes`: burn's name of the backend under autodiff, and where it trains.
fn placement<B: LlamaAutodiffBackend>(
    spec: &RunSpec,
    devices: &[B::Device],
    parallel: &DataParallel,
) -> String {
    let backend = devices.first().map(<B::InnerBackend as Backend>::name);
    let count = devices.len();
    let mut text = format!(
        "{} ({count} device{}{})",
        backend.unwrap_or_default(),
        if count == 1 { "" } else { "s" },
        match parallel {
            DataParallel::Gather => "",
            #[cfg(feature = "ddp")]
            DataParallel::AllReduce(_) => ", all-reduce",
        }
    );
    let group = &spec.placement;
    if group.nodes > 1 {
        text.push_str(&format!(
            ", rank {} of {} processes",
            group.node_rank, group.nodes
        ));
    }
    text
}

/// Trains in `dir`: alone, or as `member` of its group (whose other ranks log nothing: rank 0
/// prints the group's progress).
fn fit<B: LlamaAutodiffBackend>(
    model: Llama<B>,
    data: &TrainingData,
    spec: &RunSpec,
    dir: &Path,
    devices: &[B::Device],
    parallel: DataParallel,
    member: Option<GroupMember>,
) -> Result<Trained<B::InnerBackend>, RunError> {
    let mut config = spec
        .training_config()
        .with_batch_shards(batch_shards::<B>());
    if spec.placement.node_rank > 0 {
        config = config.with_log_every(usize::MAX);
    }
    let count = devices.len();
    let placement = match member {
        None => Placement::devices(devices.to_vec(), parallel),
        Some(member) => Placement::in_group(devices.to_vec(), member),
    };
    train_on(model, data, &config, dir, spec.output.resume, placement)
        .map_err(|error| explain_stop(error, spec, count))
}

/// `error`, and when the run stopped (a loss or gradients that are not finite), the step it
/// stopped at (the first logged loss or gradient norm that is not finite, else the last step
/// logged) and the checkpoint that holds the last good state, to resume from (no checkpoint is
/// written after an update that was not finite).
fn explain_stop(error: TrainError, spec: &RunSpec, devices: usize) -> RunError {
    let message = match error {
        TrainError::Stopped(message) => message,
        TrainError::Group(error) => return explain_group_failure(&error, spec),
        TrainError::Interrupted(message) => return explain_interruption(&message, spec),
        error @ TrainError::NoIntactCheckpoint { .. } => {
            return failed(format!("{error} with --overwrite"));
        }
        error => return failed(error),
    };
    let (output, every) = (&spec.output.output, spec.batches.checkpoint_every as usize);
    let layout = LogLayout::new(every, devices);
    let at = non_finite_step(output, "Loss", layout)
        .into_iter()
        .chain(non_finite_step(output, GRADIENT_NORM, layout))
        .min()
        .or_else(|| last_logged_step(output, "Loss", layout))
        .map(|step| format!(" at step {step}"))
        .unwrap_or_default();
    let advice = match last_checkpoint(spec) {
        Some(checkpoint) => format!(
            "the last good state is {checkpoint}: continue from it with the same flags, --resume \
             and a lower --lr"
        ),
        None => format!(
            "no checkpoint was written before it (one comes every --checkpoint-every {every} \
             steps): start again with a lower --lr and --overwrite"
        ),
    };
    RunError::NotFinite(format!("{message}{at}; {advice}"))
}

/// A run stopped for another reason than its values (see [`TrainError::Interrupted`]), and the
/// checkpoint to continue from: its learning rate is not the cause, so no lower one is advised.
fn explain_interruption(message: &str, spec: &RunSpec) -> RunError {
    let advice = match last_checkpoint(spec) {
        Some(checkpoint) => format!("continue from {checkpoint} with the same flags and --resume"),
        None => "no checkpoint was written before it: start again with --overwrite".to_string(),
    };
    RunError::Stopped(format!("training stopped: {message}; {advice}"))
}

/// A group's failure, the flags that set what failed, and the checkpoint the whole group can
/// resume from.
fn explain_group_failure(error: &GroupError, spec: &RunSpec) -> RunError {
    let flags = group_flags(&error.fault)
        .map(|flags| format!(" ({flags})"))
        .unwrap_or_default();
    let advice = match last_checkpoint(spec) {
        Some(checkpoint) => {
            format!("start every process again with the same flags and --resume, from {checkpoint}")
        }
        None => "no checkpoint was written yet".to_string(),
    };
    RunError::Stopped(format!("{error}{flags}; {advice}"))
}

/// The flags of `rlora train` that set what `fault` is about, as advice.
fn group_flags(fault: &GroupFault) -> Option<&'static str> {
    Some(match fault {
        GroupFault::CoordinatorUnreachable { .. } => {
            "the address is --coordinator's; raise --group-timeout to wait longer"
        }
        GroupFault::PortTaken { .. } => {
            "give --node-address HOST:PORT with two free ports, or another --coordinator port"
        }
        GroupFault::NoAnswer { .. } => {
            "every rank with the same --nodes and --coordinator; raise --group-timeout to wait \
             longer"
        }
        GroupFault::Engine { cause } => match cause.kind? {
            EngineErrorKind::GroupSize => "--nodes",
            EngineErrorKind::SameAddress => "--node-address",
            EngineErrorKind::PeerLost | EngineErrorKind::CoordinatorUnreachable => return None,
        },
        GroupFault::HostUnresolved { .. } => "--node-address",
        GroupFault::RankMissing { .. } | GroupFault::RankTaken { .. } => "--node-rank",
        GroupFault::Differs { .. } => "the same flags, --model and --task files",
        GroupFault::EngineFailed
        | GroupFault::Ended(_)
        | GroupFault::OutOfStep { .. }
        | GroupFault::Handshake(_) => return None,
    })
}

/// `the checkpoint of step S in OUTPUT/checkpoint`, the run's latest, if any.
fn last_checkpoint(spec: &RunSpec) -> Option<String> {
    let output = &spec.output.output;
    latest_checkpoint(output).map(|epoch| {
        format!(
            "the checkpoint of step {} in {}",
            epoch * spec.batches.checkpoint_every as usize,
            output.join("checkpoint").display()
        )
    })
}

/// The training and validation examples of every task, tokenized, and the examples each task is
/// evaluated on; prints a line per task.
fn prepare_data(
    spec: &RunSpec,
    tokenizer: &TextTokenizer,
) -> Result<(TrainingData, EvalSets), Failure> {
    let tasks = spec.tasks()?;
    let mut data = TrainingData {
        task_names: tasks.iter().map(|t| t.name.clone()).collect(),
        train: Vec::new(),
        validation: Vec::new(),
    };
    let mut eval_sets = Vec::new();
    let max_len = spec.data.max_seq_len as usize;
    for (i, task) in tasks.iter().enumerate() {
        let (train, validation, eval) = spec.splits(task, i);
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
                task.name, spec.data.holdout
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
    spec: &RunSpec,
    model_dir: &Path,
    tokenizer: &TextTokenizer,
    trained: &Llama<B>,
    eval_sets: &EvalSets,
) -> Result<(Option<EvalReport>, EvalReport), Failure> {
    let max_new = spec.evaluation.eval_max_new_tokens as usize;
    let base = if spec.evaluation.skip_base_eval {
        None
    } else {
        let device = trained.embed_tokens.weight.device();
        let base =
            Llama::<B>::from_pretrained_with_base(model_dir, None, spec.model.base_dtype, &device)?
                .with_attention(AttentionKernel::for_backend::<B>());
        Some(evaluate(&base, tokenizer, eval_sets, max_new)?)
    };
    let trained = trained
        .clone()
        .with_attention(AttentionKernel::for_backend::<B>());
    Ok((base, evaluate(&trained, tokenizer, eval_sets, max_new)?))
}

/// Prints the head similarities and the per-task table, draws the pictures, and writes
/// `eval.json` and `eval.md`.
fn write_report<B: LlamaBackend>(
    spec: &RunSpec,
    trained: &Llama<B>,
    outcome: &TrainOutcome,
    devices: usize,
) -> Result<(), Failure> {
    let output = &spec.output.output;
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
    let layout = LogLayout::new(spec.batches.checkpoint_every as usize, devices);
    let mut pictures = training_curves(output, layout)?;
    pictures.extend(head_heat_maps(&heads, output)?);
    println!("\n{table}");
    write_json(&output.join("eval.json"), outcome)?;
    rlora::io::write_atomically(&output.join("eval.md"), table.as_bytes())?;
    println!(
        "adapter: {}\nevaluation: {}",
        outcome.adapter_dir.display(),
        output.join("eval.md").display()
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
    spec: &RunSpec,
    tokenizer: &TextTokenizer,
    trained: &Llama<B>,
    eval_sets: &EvalSets,
    adapted: &EvalReport,
) -> Result<(), Failure> {
    let output = &spec.output.output;
    let Some((eval_sets, rows)) = routed_tasks(eval_sets, tokenizer, spec)? else {
        return Ok(());
    };
    let analysis = routing_analysis(trained, &rows)?;
    print_routing(&analysis);
    for file in write_routing(&analysis, output, false)? {
        println!("written: {}", file.display());
    }
    if spec.evaluation.eval_merged {
        let max_new = spec.evaluation.eval_max_new_tokens as usize;
        let scores = merged_scores(trained, tokenizer, &analysis, &eval_sets, adapted, max_new)?;
        print_merged(&scores);
        write_json(&output.join(MERGED_FILE), &scores)?;
    }
    Ok(())
}

/// The tasks of `eval_sets` that the routing analysis can use (with an example left after
/// tokenization) and their tokenized examples; those without are left out, and said. `None`, and
/// said, when no task has one: the evaluation set is empty and there is no routing to analyse.
fn routed_tasks(
    eval_sets: &EvalSets,
    tokenizer: &TextTokenizer,
    spec: &RunSpec,
) -> Result<Option<(EvalSets, TaskRows)>, Failure> {
    let max_seq_len = spec.data.max_seq_len;
    let rows = tokenize_tasks(eval_sets, tokenizer, max_seq_len as usize)?;
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
            max_seq_len
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::EngineError;

    #[test]
    fn a_group_failure_names_the_flags_that_answer_it() {
        let dir = std::env::temp_dir().join(format!("rlora-group-flags-{}", std::process::id()));
        let spec = RunSpec::parse_flags(&["--output", &dir.display().to_string()]);
        let error = |fault| GroupError {
            rank: 1,
            nodes: 2,
            during: Some("the handshake".into()),
            fault,
        };
        let message = |fault| explain_group_failure(&error(fault), &spec).to_string();
        let timed_out = message(GroupFault::NoAnswer {
            seconds: 5,
            last_rank: 1,
        });
        assert!(
            timed_out
                .starts_with("rank 1 of 2: the handshake: no answer from the group within 5 s"),
            "{timed_out}"
        );
        assert!(
            timed_out.ends_with(
                "(every rank with the same --nodes and --coordinator; raise --group-timeout to \
                 wait longer); no checkpoint was written yet"
            ),
            "{timed_out}"
        );
        let taken = message(GroupFault::RankTaken { rank: 0, count: 2 });
        assert!(
            taken.ends_with(
                "2 processes were started as rank 0 (--node-rank); no checkpoint was written yet"
            ),
            "{taken}"
        );
        let unresolved = message(GroupFault::HostUnresolved {
            host: "nowhere.invalid".into(),
        });
        assert!(
            unresolved.ends_with(
                "this process's host nowhere.invalid does not resolve (--node-address); no \
                 checkpoint was written yet"
            ),
            "{unresolved}"
        );
        let lost = message(GroupFault::Engine {
            cause: EngineError::from_debug("PeerLost".into()),
        });
        assert!(!lost.contains("--"), "{lost}");
    }
}
