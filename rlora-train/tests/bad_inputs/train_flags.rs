//! `rlora train`'s flags and task files, each refused before the weights load, with nothing written.

use super::*;

#[test]
fn train_flags_are_checked_before_the_weights_load_and_nothing_is_written() {
    let model = at("garbage-weights");
    let output = scratch().join("never-written");
    let out = output.display().to_string();
    let cases: &[(&str, &[&str], &[&str])] = &[
        (
            "negative lr",
            &["--builtin", "--lr", "-1e-3"],
            &["--lr", "-1e-3", "≥ 0"],
        ),
        ("lr nan", &["--builtin", "--lr", "nan"], &["--lr", "finite"]),
        ("lr inf", &["--builtin", "--lr=inf"], &["--lr", "finite"]),
        (
            "dropout 1",
            &["--builtin", "--dropout", "1.0"],
            &["--dropout"],
        ),
        (
            "negative alpha",
            &["--builtin", "--alpha", "-2"],
            &["--alpha"],
        ),
        ("zero heads", &["--builtin", "--heads", "0"], &["--heads"]),
        (
            "huge rank",
            &["--builtin", "--rank", "100000"],
            &["--rank 100000", "at most 128"],
        ),
        (
            "huge heads",
            &["--builtin", "--heads", "100000"],
            &["--heads 100000", "at most"],
        ),
        (
            "huge batch",
            &["--builtin", "--batch-size", "100000"],
            &["--batch-size 100000"],
        ),
        (
            "unknown target",
            &["--builtin", "--targets", "qkv"],
            &["--targets", "qkv"],
        ),
        (
            "weights per task",
            &["--builtin", "--mixing", "weights:1,2"],
            &["--mixing", "2 mixing weights for 6 tasks"],
        ),
        (
            "negative weight",
            &["--builtin", "--mixing", "weights:1,-2"],
            &["--mixing"],
        ),
        (
            "unknown mixing",
            &["--builtin", "--mixing", "zipf"],
            &["--mixing", "zipf"],
        ),
        (
            "warmup 1.5",
            &["--builtin", "--warmup-ratio", "1.5"],
            &["--warmup-ratio"],
        ),
        (
            "seq len 1",
            &["--builtin", "--max-seq-len", "1"],
            &["--max-seq-len"],
        ),
        ("negative seed", &["--builtin", "--seed", "-1"], &["--seed"]),
        (
            "both flags",
            &["--builtin", "--resume", "--overwrite"],
            &["--resume", "--overwrite"],
        ),
        ("no tasks", &[], &["no tasks"]),
        ("task spec", &["--task", "bad"], &["task spec `bad`"]),
        (
            "two names",
            &["--builtin", "--task", "facts=GOOD"],
            &["two tasks are named `facts`"],
        ),
        (
            "missing file",
            &["--task", "x=/nonexistent.jsonl"],
            &["/nonexistent.jsonl"],
        ),
        (
            "malformed",
            &["--task", "x=MALFORMED"],
            &["malformed.jsonl:2:", "malformed JSON"],
        ),
        (
            "missing field",
            &["--task", "x=MISSING"],
            &["missing.jsonl:1:", "missing field `completion`"],
        ),
        (
            "not utf-8",
            &["--task", "x=LATIN1"],
            &["latin1.jsonl:1:", "UTF-8"],
        ),
        (
            "empty file",
            &["--task", "x=EMPTY"],
            &["empty.jsonl: no records"],
        ),
        (
            "long line",
            &["--task", "x=LONG", "--max-line-bytes", "64"],
            &["long.jsonl:13:", "--max-line-bytes"],
        ),
        (
            "empty validation",
            &["--task", "x=GOOD,EMPTY"],
            &["empty.jsonl: no records"],
        ),
    ];
    for &(label, extra, culprits) in cases {
        let extra: Vec<String> = extra
            .iter()
            .map(|a| {
                ["GOOD", "MALFORMED", "MISSING", "LATIN1", "EMPTY", "LONG"]
                    .iter()
                    .fold(a.to_string(), |a, key| {
                        a.replace(key, &at(&format!("{}.jsonl", key.to_lowercase())))
                    })
            })
            .collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        rejects(label, &train_args(&model, &out, &extra), culprits);
        assert!(!output.exists(), "{label}: {out} was created");
    }
}
