//! `cargo xtask gpu-bundle [--out DIR]`: everything the GPU check runs, built here for CUDA, in
//! one folder to carry to a machine with an NVIDIA GPU and no Rust toolchain (the `device` tool's
//! machine: `carry` takes at most 64 MiB).
//!
//! One cargo build (profile `gpu-bundle`: release, stripped) of the `rlora` command, the example,
//! the benchmark, and the CUDA builds of the `rlora` and `rlora-llama` tests and of the
//! `gpu_training` and `parallel` tests; the executables packed into one `bin.tar.xz` (one xz
//! stream with a dictionary larger than all of them, so that the code they share is stored once);
//! the fixtures the tests read, laid out as in the repository under `repo/` (each test binary runs
//! with `CARGO_MANIFEST_DIR` pointing at its crate there); `run.sh` and `gpu_check.py` (the
//! runner: bash and python3), the PyTorch twin of the benchmark, and `manifest.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::{cargo, run, workspace_root};

/// The most the bundle may take (the device tool carries 64 MiB with the working tree).
const MAX_BYTES: u64 = 60 << 20;

/// One test binary of the bundle: its crate, its test target, the arguments it runs with and
/// its time limit in seconds on the GPU machine.
struct BundledTest {
    krate: &'static str,
    target: &'static str,
    args: &'static [&'static str],
    limit: u32,
}

/// The test binaries: the `rlora` and `rlora-llama` tests (backend-generic, on CUDA through
/// their `test-cuda` features), the training steps against the CPU and the group of processes
/// on CUDA.
const BUNDLED_TESTS: &[BundledTest] = &[
    BundledTest {
        krate: "rlora",
        target: "layer",
        args: &[],
        limit: 120,
    },
    BundledTest {
        krate: "rlora-llama",
        target: "llama",
        args: &[],
        limit: 180,
    },
    BundledTest {
        krate: "rlora-train",
        target: "gpu_training",
        args: &[],
        limit: 180,
    },
    BundledTest {
        krate: "rlora-train",
        target: "parallel",
        args: &["processes::"],
        limit: 240,
    },
];

/// `cargo xtask gpu-bundle [--out DIR]` (default `gpu-bundle/` in the workspace, which git
/// ignores).
pub fn gpu_bundle(args: &[String]) -> Result<(), String> {
    let root = workspace_root();
    let out = match args {
        [] => root.join("gpu-bundle"),
        [flag, dir] if flag == "--out" => PathBuf::from(dir),
        _ => return Err("usage: cargo xtask gpu-bundle [--out DIR]".into()),
    };
    let artifacts = build(BUNDLED_TESTS)?;
    let staging = out.join("bin");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let mut manifest_tests = Vec::new();
    for (name, source) in executables(&artifacts, BUNDLED_TESTS, &mut manifest_tests)? {
        copy(&source, &staging.join(&name))?;
    }
    pack(&out)?;
    std::fs::remove_dir_all(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    for fixtures in ["rlora/tests/fixtures", "rlora-llama/tests/fixtures"] {
        copy_tree(&root.join(fixtures), &out.join("repo").join(fixtures))?;
    }
    std::fs::create_dir_all(out.join("repo/rlora-train")).map_err(|e| e.to_string())?;
    for (from, to) in [
        ("xtask/gpu-bundle/run.sh", "run.sh"),
        ("xtask/gpu-bundle/gpu_check.py", "gpu_check.py"),
        ("xtask/bench/vs_pytorch.py", "vs_pytorch.py"),
    ] {
        copy(&root.join(from), &out.join(to))?;
    }
    let manifest = json!({
        "commit": commit(&root),
        "built": utc_now(),
        "tests": manifest_tests,
    });
    std::fs::write(out.join("manifest.json"), format!("{manifest:#}\n"))
        .map_err(|e| e.to_string())?;
    let bytes = folder_bytes(&out)?;
    eprintln!(
        "xtask: the GPU bundle is {} ({:.1} MiB of at most {} MiB)",
        out.display(),
        bytes as f64 / (1 << 20) as f64,
        MAX_BYTES >> 20
    );
    if bytes > MAX_BYTES {
        return Err(format!(
            "the bundle takes {bytes} bytes, more than {MAX_BYTES}: the device tool cannot carry it"
        ));
    }
    Ok(())
}

/// Builds every executable in one cargo run, so that burn and its kernels compile once; returns
/// cargo's artifact messages.
fn build(tests: &[BundledTest]) -> Result<Vec<Value>, String> {
    let mut command = cargo();
    command.args([
        "test",
        "--no-run",
        "--profile",
        "gpu-bundle",
        "--message-format",
        "json-render-diagnostics",
        "-p",
        "rlora",
        "-p",
        "rlora-llama",
        "-p",
        "rlora-train",
        "-p",
        "rlora-examples",
        "--features",
        "rlora/test-cuda,rlora-llama/test-cuda,rlora-train/cuda,rlora-examples/cuda",
        "--bench",
        "llama",
        "--example",
        "train",
    ]);
    for test in tests {
        command.args(["--test", test.target]);
    }
    eprintln!("xtask: == building the CUDA executables: {command:?}");
    let started = std::time::Instant::now();
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!("the CUDA build failed ({})", output.status));
    }
    eprintln!(
        "xtask: == the CUDA build took {} s",
        started.elapsed().as_secs()
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["executable"].is_string()
        })
        .collect())
}

/// The bundle's name and the built file of each executable; records each test in `manifest`.
fn executables(
    artifacts: &[Value],
    tests: &[BundledTest],
    manifest: &mut Vec<Value>,
) -> Result<Vec<(String, PathBuf)>, String> {
    let find = |krate: &str, kind: &str, name: &str| -> Result<PathBuf, String> {
        artifacts
            .iter()
            .find(|a| {
                a["target"]["name"] == name
                    && a["target"]["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == kind))
                    && a["package_id"]
                        .as_str()
                        .is_some_and(|id| package_name(id) == Some(krate))
            })
            .and_then(|a| a["executable"].as_str())
            .map(PathBuf::from)
            .ok_or_else(|| format!("cargo built no {kind} `{name}` of {krate}"))
    };
    let mut files = vec![
        ("rlora".to_string(), find("rlora-train", "bin", "rlora")?),
        (
            "train".to_string(),
            find("rlora-examples", "example", "train")?,
        ),
        (
            "bench-llama".to_string(),
            find("rlora-train", "bench", "llama")?,
        ),
    ];
    for test in tests {
        let file = format!("{}-{}", test.krate, test.target);
        files.push((file.clone(), find(test.krate, "test", test.target)?));
        manifest.push(json!({
            "name": test.target,
            "crate": test.krate,
            "file": file,
            "args": test.args,
            "limit": test.limit,
        }));
    }
    Ok(files)
}

/// The package of a cargo package id: `path+file:///…/rlora-llama#0.1.0` (named as its folder)
/// or `path+file:///…/main#rlora-examples@0.1.0`.
fn package_name(id: &str) -> Option<&str> {
    let (path, fragment) = id.split_once('#')?;
    match fragment.split_once('@') {
        Some((name, _)) => Some(name),
        None => path.rsplit('/').next(),
    }
}

/// `bin/` as `bin.tar.xz`: one xz stream (preset 9e, a 256 MiB dictionary), so that the code the
/// executables share is stored once.
fn pack(out: &Path) -> Result<(), String> {
    let archive = out.join("bin.tar.xz");
    let script = format!(
        "tar -C '{}' -cf - bin | xz -z -c -T1 --lzma2=preset=9e,dict=256MiB > '{}'",
        out.display(),
        archive.display()
    );
    run(
        "packing the executables (xz, one stream)",
        Command::new("bash").args(["-c", &script]),
    )
}

fn copy(from: &Path, to: &Path) -> Result<(), String> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::copy(from, to)
        .map(|_| ())
        .map_err(|e| format!("copying {} to {}: {e}", from.display(), to.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    let entries = std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            copy(&entry.path(), &target)?;
        }
    }
    Ok(())
}

fn folder_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let entry = entry.map_err(|e| e.to_string())?;
        total += if entry.path().is_dir() {
            folder_bytes(&entry.path())?
        } else {
            entry.metadata().map_err(|e| e.to_string())?.len()
        };
    }
    Ok(total)
}

/// The checkout's commit, with `-dirty` when it has uncommitted changes.
fn commit(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = git(&["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    if dirty { format!("{head}-dirty") } else { head }
}

/// The time now, as `date -u` prints it.
fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
