//! The embedded default of `cargo run --release --example train`: with no `--model`, the shipped
//! tiny base and the built-in suite with settings sized for a laptop CPU
//! ([`RunSpec::tiny_base`]); with `--model`, the flags' defaults (the paper's settings) for a
//! real checkpoint. Flags given by the user override either. The example's own output folder is
//! replaced by each run (`--overwrite`) unless the user gives `--output`, `--resume` or
//! `--overwrite`.

use clap::FromArgMatches;
use clap::parser::ValueSource;

use super::TrainArgs;
use super::config_file::with_config_file;
use crate::run::RunSpec;

/// The example's run: `user`'s `rlora train` flags (and the `--config` file's settings they
/// name) over the example's defaults, writing into `output` unless the user names a folder.
///
/// # Errors
/// A flag or the `--config` file does not parse; the error is clap's, naming it.
pub fn example_spec(user: &[String], output: &str) -> Result<RunSpec, clap::Error> {
    let command = TrainArgs::command().mut_arg("output", |arg| {
        arg.required(false).default_value(output.to_string())
    });
    let argv: Vec<String> = std::iter::once("rlora train".to_string())
        .chain(user.iter().cloned())
        .collect();
    let (mut command, from_file) = with_config_file(command, &argv)?;
    let matches = command.try_get_matches_from_mut(argv)?;
    let given = |id: &str| {
        matches.value_source(id) == Some(ValueSource::CommandLine)
            || from_file.iter().any(|set| set == id)
    };
    let mut spec = TrainArgs::from_arg_matches(&matches)?.run;
    if !given("model") {
        spec.use_tiny_base(given);
    }
    // The example's own folder is scratch: each run replaces the last, unless the user names
    // the folder or resumes.
    if !given("output") && !given("resume") && !given("overwrite") {
        spec.output.overwrite = true;
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(flags: &[&str]) -> RunSpec {
        let user: Vec<String> = flags.iter().map(|f| f.to_string()).collect();
        example_spec(&user, "example-out").unwrap()
    }

    #[test]
    fn the_tiny_base_defaults_give_way_to_the_users_flags() {
        let tiny = RunSpec::tiny_base("example-out");
        let plain = spec(&[]);
        assert_eq!(
            serde_json::to_value(&plain).unwrap(),
            serde_json::to_value(&tiny).unwrap()
        );
        assert!(plain.output.overwrite && !tiny.output.overwrite);
        let changed = spec(&["--lr", "1e-3", "--max-steps", "7"]);
        assert_eq!(
            (changed.schedule.lr, changed.schedule.max_steps),
            (1e-3, Some(7))
        );
        assert_eq!(changed.batches.batch_size, tiny.batches.batch_size);
        assert_ne!(
            tiny.batches.batch_size,
            RunSpec::new("o").batches.batch_size
        );
    }

    #[test]
    fn a_model_of_the_user_takes_the_flags_defaults_and_a_named_folder_is_kept() {
        let spec = spec(&["--model", "m", "--output", "mine"]);
        let defaults = RunSpec::new("mine");
        assert_eq!(spec.model.model.as_deref(), Some(std::path::Path::new("m")));
        assert_eq!(spec.schedule.lr, defaults.schedule.lr);
        assert!(!spec.data.builtin && !spec.output.overwrite);
        assert_eq!(spec.output.output, std::path::Path::new("mine"));
    }
}
