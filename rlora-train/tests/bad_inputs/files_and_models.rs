//! Model folders, tokenizers, config files, and the inputs and outputs of `generate`, `eval` and
//! `heads`.

use super::*;

#[test]
fn model_folders_and_config_files_are_named() {
    let out = at("never-written-either");
    let base = tiny_base().display().to_string();
    let model_cases: &[(&str, &str, &[&str])] = &[
        (
            "no model",
            "/nonexistent-model",
            &["/nonexistent-model/config.json"],
        ),
        (
            "unsupported model",
            &at("gpt2"),
            &["config.json", "model_type", "gpt2"],
        ),
        (
            "tokenizer beyond vocab",
            &at("extra-token"),
            &["tokenizer.json", "<extra>", "id 259", "vocab_size 259"],
        ),
    ];
    for &(label, model, culprits) in model_cases {
        rejects(label, &train_args(model, &out, &["--builtin"]), culprits);
    }
    let extra_token = at("extra-token");
    let generate = |extra: &[&str]| {
        let mut args = strings(&["generate", "--model", &base, "--prompt", "Q:"]);
        args.extend(strings(extra));
        args
    };
    rejects(
        "generate, tokenizer beyond vocab",
        &strings(&["generate", "--model", &extra_token, "--prompt", "<extra>"]),
        &["tokenizer.json", "id 259"],
    );
    rejects(
        "negative temperature",
        &generate(&["--temperature", "-1"]),
        &["--temperature"],
    );
    rejects("top-p 0", &generate(&["--top-p", "0"]), &["--top-p"]);
    rejects(
        "no new tokens",
        &generate(&["--max-new-tokens", "0"]),
        &["--max-new-tokens"],
    );
    rejects(
        "no adapter",
        &generate(&["--adapter", "/nonexistent-adapter"]),
        &["/nonexistent-adapter"],
    );
    let config_cases: &[(&str, &[&str])] = &[
        ("nan.toml", &["nan.toml", "`lr`", "NaN"]),
        ("inf.toml", &["inf.toml", "`warmup-ratio`", "inf"]),
        ("list.toml", &["list.toml", "`lr` takes one value"]),
        ("negative.toml", &["negative.toml", "`lr`", "≥ 0"]),
        (
            "negative.json",
            &["negative.json", "`weight_decay`", "-0.1"],
        ),
        ("unknown.toml", &["unknown.toml", "`lrr` is not a flag"]),
        ("missing.toml", &["missing.toml"]),
    ];
    for &(file, culprits) in config_cases {
        let args = train_args(&base, &out, &["--builtin", "--config", &at(file)]);
        rejects(file, &args, culprits);
    }
    assert!(!Path::new(&out).exists());
}

#[test]
fn eval_and_heads_name_their_inputs_and_write_errors_their_path() {
    let base = tiny_base().display().to_string();
    let eval = |extra: &[&str]| {
        let mut args = strings(&[
            "eval",
            "--model",
            &base,
            "--eval-examples",
            "1",
            "--max-new-tokens",
            "1",
        ]);
        args.extend(strings(extra));
        args
    };
    rejects("eval without tasks", &eval(&[]), &["no tasks"]);
    rejects(
        "eval long line",
        &eval(&[
            "--task",
            &format!("x={}", at("long.jsonl")),
            "--max-line-bytes",
            "64",
        ]),
        &["long.jsonl:13:"],
    );
    let good = format!("x={}", at("good.jsonl"));
    rejects(
        "eval two tasks of one name",
        &eval(&["--task", &good, "--task", &good]),
        &["two tasks are named `x`"],
    );
    rejects(
        "eval no adapter",
        &eval(&["--builtin", "--adapter", "/nonexistent-adapter"]),
        &["/nonexistent-adapter"],
    );
    let under_a_file = format!("{}/eval", at("a-file"));
    rejects(
        "eval output under a file",
        &eval(&["--task", &good, "--output", &under_a_file]),
        &["a-file", "is a file, not a folder"],
    );
    rejects(
        "heads without an adapter",
        &strings(&[
            "heads",
            "--model",
            &base,
            "--adapter",
            "/nonexistent-adapter",
            "--output",
            &at("heads"),
        ]),
        &["/nonexistent-adapter"],
    );
}

/// The tensor names of a safetensors file, and where its data starts.
fn header(file: &Path) -> (serde_json::Value, usize) {
    let bytes = std::fs::read(file).unwrap();
    let length = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + length]).unwrap();
    (header, 8 + length)
}

fn tensor_names(file: &Path) -> Vec<String> {
    let (header, _) = header(file);
    header
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "__metadata__")
        .cloned()
        .collect()
}

#[test]
fn shards_stay_inside_the_model_folder() {
    let generate = |model: &Path| {
        strings(&[
            "generate",
            "--model",
            &model.display().to_string(),
            "--prompt",
            "Q:",
            "--max-new-tokens",
            "2",
        ])
    };
    let dir = scratch().join("shards");
    std::fs::create_dir_all(&dir).unwrap();
    // A real safetensors file outside the model folder, which a link points to.
    let outside = dir.join("outside.safetensors");
    std::fs::copy(tiny_base().join("model.safetensors"), &outside).unwrap();
    let cases: [(&str, &str, &str); 3] = [
        ("parent", "../../../../../etc/passwd", "leaves the folder"),
        ("absolute", "/etc/passwd", "is not a relative path"),
        ("link", "weights.safetensors", "is a link to"),
    ];
    for (label, shard, culprit) in cases {
        let name = format!("index-{label}");
        model_copy(&dir, &name, |m| {
            std::fs::remove_file(m.join("model.safetensors")).unwrap();
            sharded_from(m, &tiny_base().join("model.safetensors"), shard);
        });
        if label == "link" {
            std::os::unix::fs::symlink(&outside, dir.join(&name).join(shard)).unwrap();
        }
        rejects(
            label,
            &generate(&dir.join(&name)),
            &["model.safetensors.index.json", "weight_map", shard, culprit],
        );
    }
    // A shard inside the folder loads; so does a Hugging Face cache snapshot, whose files link
    // to the cache's blobs.
    model_copy(&dir, "index-inside", |m| {
        std::fs::rename(m.join("model.safetensors"), m.join("shard-1.safetensors")).unwrap();
        sharded_from(m, &m.join("shard-1.safetensors"), "shard-1.safetensors");
    });
    let cache = dir.join("hub/models--tiny/snapshots/abc123");
    model_copy(&dir, "hub/models--tiny/blobs-staging", |_| {});
    std::fs::create_dir_all(dir.join("hub/models--tiny/blobs")).unwrap();
    std::fs::create_dir_all(&cache).unwrap();
    for entry in std::fs::read_dir(dir.join("hub/models--tiny/blobs-staging")).unwrap() {
        let entry = entry.unwrap();
        let blob = dir
            .join("hub/models--tiny/blobs")
            .join(format!("blob-{}", entry.file_name().to_string_lossy()));
        std::fs::rename(entry.path(), &blob).unwrap();
        let name = entry
            .file_name()
            .to_string_lossy()
            .replace("model.", "shard.");
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(blob.file_name().unwrap()),
            cache.join(&name),
        )
        .unwrap();
    }
    sharded_from(
        &cache,
        &cache.join("shard.safetensors"),
        "shard.safetensors",
    );
    for model in [dir.join("index-inside"), cache] {
        let output = rlora(&generate(&model));
        assert!(
            output.status.success(),
            "{}: {}",
            model.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Writes `model/model.safetensors.index.json` listing the tensors of `weights` in shard
/// `shard`.
fn sharded_from(model: &Path, weights: &Path, shard: &str) {
    let names = tensor_names(weights);
    let map: serde_json::Map<String, serde_json::Value> = names
        .into_iter()
        .map(|tensor| (tensor, serde_json::Value::from(shard)))
        .collect();
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        model.join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
}

#[test]
fn broken_weights_tokenizers_and_outputs_are_named_before_the_work() {
    let dir = scratch().join("broken");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("never-written").display().to_string();
    // One NaN in a projection of the base.
    model_copy(&dir, "nan-weight", |m| {
        let file = m.join("model.safetensors");
        let (header, start) = header(&file);
        let offset = header["model.layers.1.mlp.up_proj.weight"]["data_offsets"][0]
            .as_u64()
            .unwrap() as usize;
        let mut bytes = std::fs::read(&file).unwrap();
        let at = start + offset + 5 * 4;
        bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        std::fs::write(&file, bytes).unwrap();
    });
    // The weights file a folder.
    model_copy(&dir, "weights-folder", |m| {
        std::fs::remove_file(m.join("model.safetensors")).unwrap();
        std::fs::create_dir_all(m.join("model.safetensors")).unwrap();
    });
    // No end-of-sequence token anywhere.
    model_copy(&dir, "no-eos", |m| {
        std::fs::write(m.join("generation_config.json"), "{\"bos_token_id\": 0}").unwrap();
        edit_json(&m.join("tokenizer_config.json"), |c| {
            c.as_object_mut().unwrap().remove("eos_token");
        });
    });
    let model = |name: &str| dir.join(name).display().to_string();
    let nan = model("nan-weight");
    let output = rlora(&train_args(&nan, &out, &["--builtin"]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    for part in [
        "nan-weight/model.safetensors",
        "model.layers.1.mlp.up_proj.weight",
        "not finite at 1 of its values",
        "flat index 5",
    ] {
        assert!(stderr.contains(part), "`{part}` not in {stderr}");
    }
    assert!(!stderr.contains("--lr"), "{stderr}");
    rejects(
        "weights a folder",
        &train_args(&model("weights-folder"), &out, &["--builtin"]),
        &["weights-folder/model.safetensors", "is a folder"],
    );
    rejects(
        "no EOS",
        &train_args(&model("no-eos"), &out, &["--builtin"]),
        &[
            "no-eos/tokenizer.json",
            "no end-of-sequence token",
            "generation_config.json",
            "tokenizer_config.json",
        ],
    );
    assert!(!Path::new(&out).join("run_config.json").exists());
    // An --output that is, or lies below, a file is refused at the start (the garbage weights
    // would fail the command after it otherwise).
    let garbage = at("garbage-weights");
    for output in [at("a-file"), format!("{}/eval", at("a-file"))] {
        rejects(
            "eval into a file",
            &strings(&[
                "eval",
                "--model",
                &garbage,
                "--builtin",
                "--output",
                &output,
            ]),
            &[&output, "a-file is a file, not a folder"],
        );
        rejects(
            "heads into a file",
            &strings(&[
                "heads",
                "--model",
                &garbage,
                "--adapter",
                "/nonexistent-adapter",
                "--output",
                &output,
            ]),
            &[&output, "a-file is a file, not a folder"],
        );
    }
    assert_eq!(std::fs::read(at("a-file")).unwrap(), b"not a folder");
    rejects(
        "empty stop",
        &strings(&[
            "generate", "--model", &garbage, "--prompt", "Q:", "--stop", "",
        ]),
        &["--stop", "empty"],
    );
}

#[test]
fn config_files_set_each_flag_once() {
    let dir = scratch().join("configs");
    std::fs::create_dir_all(&dir).unwrap();
    let base = tiny_base().display().to_string();
    let out = dir.join("never-written").display().to_string();
    let files = [
        (
            "self.toml",
            format!("config = \"{}\"\n", dir.join("self.toml").display()),
        ),
        ("dup.json", "{\"lr\": 1e-3,\n \"lr\": 2e-3}".to_string()),
        (
            "spellings.toml",
            "batch-size = 2\nbatch_size = 4\n".to_string(),
        ),
        (
            "spellings.json",
            "{\"task\": [], \"tasks\": []}".to_string(),
        ),
        ("a.toml", "lr = 1e-3\n".to_string()),
        ("b.toml", "lr = 2e-3\n".to_string()),
    ];
    for (name, text) in &files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let file = |name: &str| dir.join(name).display().to_string();
    let [own, dup, spellings, a, b] = [
        "self.toml",
        "dup.json",
        "spellings.toml",
        "a.toml",
        "b.toml",
    ]
    .map(file);
    let cases: [(&str, Vec<&str>, Vec<&str>); 4] = [
        (
            "a config naming itself",
            vec!["--config", &own],
            vec!["self.toml", "`config`", "do not nest"],
        ),
        (
            "a key twice",
            vec!["--config", &dup],
            vec!["dup.json", "`lr` is set twice", "line 2"],
        ),
        (
            "two spellings",
            vec!["--config", &spellings],
            vec![
                "spellings.toml",
                "`batch-size` and `batch_size` both set --batch-size",
            ],
        ),
        (
            "two files",
            vec!["--config", &a, "--config", &b],
            vec!["--config is given 2 times", "a.toml", "b.toml"],
        ),
    ];
    for (label, extra, culprits) in cases {
        let mut extra = extra;
        extra.push("--builtin");
        rejects(label, &train_args(&base, &out, &extra), &culprits);
    }
    rejects(
        "task and tasks",
        &train_args(&base, &out, &["--config", &file("spellings.json")]),
        &["spellings.json", "both set --task"],
    );
    assert!(!Path::new(&out).exists());
}
