//! `rlora export` never writes into its inputs or a full folder, and a failed export leaves nothing.

use super::*;

#[test]
fn export_never_writes_into_its_inputs_or_a_full_folder() {
    let run = trained_run();
    let adapter = run.join("adapter").display().to_string();
    let model = at("copy");
    let weights = std::fs::read(scratch().join("copy/model.safetensors")).unwrap();
    let export = |output: &str, extra: &[&str]| {
        let mut args = strings(&[
            "export",
            "--model",
            &model,
            "--adapter",
            &adapter,
            "--output",
            output,
            "--merge",
        ]);
        args.extend(strings(extra));
        args
    };
    let full = scratch().join("full");
    std::fs::create_dir_all(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    // Refused with or without --overwrite.
    let cases: &[(&str, String, &str)] = &[
        ("into the model", model.clone(), "is the --model folder"),
        (
            "into the model, spelled otherwise",
            format!("{model}/../copy/."),
            "is the --model folder",
        ),
        (
            "into the adapter",
            adapter.clone(),
            "is the --adapter folder",
        ),
        (
            "inside the adapter",
            format!("{adapter}/merged"),
            "lies inside the --adapter folder",
        ),
        (
            "around the adapter",
            run.display().to_string(),
            "holds the --adapter folder",
        ),
        ("a file", at("a-file"), "is a file"),
    ];
    for (label, output, culprit) in cases {
        rejects(label, &export(output, &[]), &[output, culprit]);
        rejects(
            &format!("{label}, --overwrite"),
            &export(output, &["--overwrite"]),
            &[culprit],
        );
    }
    let full_folder = full.display().to_string();
    rejects(
        "a full folder",
        &export(&full_folder, &[]),
        &["is not empty (keep.txt)", "--overwrite"],
    );
    assert_eq!(
        std::fs::read(scratch().join("copy/model.safetensors")).unwrap(),
        weights
    );
    assert_eq!(std::fs::read(full.join("keep.txt")).unwrap(), b"mine");
    // Asked to, it replaces the full folder.
    let replaced = rlora(&export(&full_folder, &["--overwrite"]));
    assert!(
        replaced.status.success(),
        "{}",
        String::from_utf8_lossy(&replaced.stderr)
    );
    assert!(full.join("config.json").exists() && !full.join("keep.txt").exists());
    // A failed export (three heads do not fit PEFT's format) leaves no folder behind, not even
    // its temporary one.
    let peft = scratch().join("peft");
    let mut args = export(&peft.display().to_string(), &[]);
    args.retain(|a| a != "--merge");
    rejects("three heads as PEFT", &args, &["3 heads"]);
    let leftovers: Vec<_> = std::fs::read_dir(scratch())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("peft"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
