#!/usr/bin/env python3
"""The GPU check of rlora's GPU bundle (`cargo xtask gpu-bundle`), started by its `run.sh`.

The bundle holds stripped CUDA builds of the `rlora` command, the example, the benchmark and the
test binaries (`bin.tar.xz`, unpacked into `bin/` on first use), the fixtures the tests read
(`repo/`, laid out as in the repository: each test binary runs with `CARGO_MANIFEST_DIR` pointing
at its crate there), the PyTorch twin of the benchmark (`vs_pytorch.py`) and `manifest.json`.

Parts, each step with its own time limit, the whole run within `--budget` seconds:
  tests    the rlora and rlora-llama tests on CUDA, 20 training steps of the embedded default on
           CUDA against the CPU, a group of two processes sharing the GPU against one process
  example  400 updates of the example (the embedded default) on CUDA
  bench    the training step, the frozen forward and decoding at 512 tokens of context, at the
           bench shape (f32) and at Qwen2.5-0.5B's (bf16 base), each beside its PyTorch twin on
           the same GPU: tokens/s and peak GPU memory (nvidia-smi, sampled every 50 ms while the
           case runs, over the memory in use before it)
  kernels  the kernels one R-LoRA update launches on CUDA (CubeCL's launch log)
Prints one table and writes it, with every log, to the results folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

PARTS = ["tests", "example", "bench", "kernels"]

# (shape, dtype) × case, in the order they run: the 0.5B training step first.
BENCH_CASES = [
    ("qwen2.5-0.5b", "bf16", "train-rlora"),
    ("bench", "f32", "train-rlora"),
    ("qwen2.5-0.5b", "bf16", "forward"),
    ("bench", "f32", "forward"),
    ("qwen2.5-0.5b", "bf16", "decode-512"),
    ("bench", "f32", "decode-512"),
]


class Run:
    """The bundle, the results folder, the budget, and what every step did."""

    def __init__(self, bundle: Path, out: Path, budget: float):
        self.bundle, self.out = bundle, out
        self.deadline = time.monotonic() + budget
        self.steps: list[dict] = []
        self.bench: list[dict] = []
        self.kernels: list[dict] = []
        out.mkdir(parents=True, exist_ok=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def step(self, name: str, command: list[str], limit: float, env: dict | None = None,
             cwd: Path | None = None, sample_gpu: bool = False) -> dict:
        """Runs `command` for at most `limit` seconds (less when the budget is shorter), its output
        in `<name>.log`; records and returns its status, time, stdout and peak GPU memory."""
        record = {"step": name, "status": "skipped (budget)", "seconds": 0.0, "stdout": ""}
        limit = min(limit, self.left())
        if limit < 5:
            self.steps.append(record)
            return record
        log = self.out / f"{name}.log"
        sampler = GpuSampler() if sample_gpu else None
        started = time.monotonic()
        print(f"gpu-check: {name} (limit {limit:.0f} s)", flush=True)
        try:
            done = subprocess.run(command, env={**os.environ, **(env or {})}, cwd=cwd,
                                  capture_output=True, text=True, timeout=limit)
            stdout, stderr = done.stdout, done.stderr
            record["status"] = "ok" if done.returncode == 0 else f"failed ({done.returncode})"
        except subprocess.TimeoutExpired as timeout:
            stdout = decode(timeout.stdout)
            stderr = decode(timeout.stderr)
            record["status"] = f"timed out ({limit:.0f} s)"
        except OSError as error:
            stdout, stderr = "", str(error)
            record["status"] = f"cannot start ({error.strerror})"
        record["seconds"] = time.monotonic() - started
        if sampler is not None:
            record["peak_gpu_mib"] = sampler.stop()
        record["stdout"] = stdout
        log.write_text(f"$ {' '.join(command)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n")
        tests = re.findall(r"test result: \w+\. (\d+) passed; (\d+) failed", stdout)
        if tests:
            record["tests"] = (sum(int(p) for p, _ in tests), sum(int(f) for _, f in tests))
        print(f"gpu-check: {name}: {record['status']} in {record['seconds']:.1f} s", flush=True)
        self.steps.append(record)
        return record


def decode(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


class GpuSampler:
    """The GPU's memory in use, sampled by `nvidia-smi` every 50 ms: peak minus the first sample."""

    def __init__(self):
        self.samples: list[int] = []
        self.process = None
        if shutil.which("nvidia-smi") is None:
            return
        self.process = subprocess.Popen(
            ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-lms", "50"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        time.sleep(0.2)

    def _read(self):
        for line in self.process.stdout:
            first = line.strip().split(",")[0]
            if first.isdigit():
                self.samples.append(int(first))

    def stop(self):
        if self.process is None:
            return None
        self.process.terminate()
        self.process.wait()
        self.reader.join(timeout=1)
        if not self.samples:
            return None
        return max(self.samples) - self.samples[0]


def unpack(bundle: Path) -> Path:
    """`bin/`, unpacked from `bin.tar.xz` the first time."""
    bin_dir = bundle / "bin"
    if not (bin_dir / ".complete").exists():
        with tarfile.open(bundle / "bin.tar.xz") as archive:
            archive.extractall(bundle, filter="data") if sys.version_info >= (3, 12) else archive.extractall(bundle)
        for path in bin_dir.iterdir():
            path.chmod(0o755)
        (bin_dir / ".complete").write_text("")
    return bin_dir


def test_env(bundle: Path, crate: str) -> dict:
    """A test binary's environment: its crate's folder in the bundle, the bundle's `rlora`."""
    return {
        "CARGO_MANIFEST_DIR": str(bundle / "repo" / crate),
        "CARGO_BIN_EXE_rlora": str(bundle / "bin" / "rlora"),
        "RUST_BACKTRACE": "1",
    }


def part_tests(run: Run, manifest: dict):
    bin_dir = run.bundle / "bin"
    for test in manifest["tests"]:
        env = test_env(run.bundle, test["crate"])
        args = list(test.get("args", []))
        if test["name"] == "gpu_training":
            env["RLORA_GPU_STEPS"] = "20"
        run.step(f"test-{test['name']}", [str(bin_dir / test["file"]), *args], test["limit"], env,
                 cwd=run.bundle / "repo" / test["crate"])


def part_example(run: Run):
    output = run.out / "example-run"
    shutil.rmtree(output, ignore_errors=True)
    run.step("example-400", [str(run.bundle / "bin" / "train"), "--max-steps", "400",
                             "--output", str(output), "--overwrite"], 300, sample_gpu=True)


def last_json(text: str) -> dict | None:
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def part_bench(run: Run):
    bench = str(run.bundle / "bin" / "bench-llama")
    twin = [sys.executable, str(run.bundle / "vs_pytorch.py"), "--device", "cuda"]
    for shape, dtype, case in BENCH_CASES:
        common = ["--shape", shape, "--case", case, "--dtype", dtype, "--iters", "5"]
        row = {"shape": shape, "case": case, "dtype": dtype}
        for impl, command in [("rlora", [bench, *common]), ("pytorch", [*twin, *common])]:
            record = run.step(f"bench-{impl}-{shape}-{dtype}-{case}", command, 150, sample_gpu=True)
            measured = last_json(record["stdout"]) if record["status"] == "ok" else None
            row[impl] = {
                "status": record["status"],
                "tokens_per_second": measured and measured.get("tokens_per_second"),
                "seconds": measured and measured.get("seconds"),
                "peak_gpu_mib": record.get("peak_gpu_mib"),
                "peak_device_bytes": measured and measured.get("peak_device_bytes"),
            }
        run.bench.append(row)


def part_kernels(run: Run):
    bench = str(run.bundle / "bin" / "bench-llama")
    for shape in ["bench", "qwen2.5-0.5b"]:
        dtype = "f32" if shape == "bench" else "bf16"
        command = [bench, "--shape", shape, "--case", "update-rlora", "--dtype", dtype,
                   "--iters", "3", "--count-kernels"]
        record = run.step(f"kernels-{shape}", command, 150)
        measured = last_json(record["stdout"]) if record["status"] == "ok" else None
        run.kernels.append({"shape": shape, "dtype": dtype, "status": record["status"],
                            "kernels": measured and measured.get("kernels"),
                            "seconds": measured and measured.get("seconds")})


def cpu_smoke(run: Run, manifest: dict):
    """Without a GPU: every executable starts (test binaries list their tests, the commands print
    their help, the benchmark says the CUDA backend cannot start), and the table is drawn."""
    bin_dir = run.bundle / "bin"
    for test in manifest["tests"]:
        record = run.step(f"list-{test['name']}", [str(bin_dir / test["file"]), "--list"], 60,
                          test_env(run.bundle, test["crate"]))
        if record["status"] == "ok" and ": test" not in record["stdout"]:
            record["status"] = "failed (no test listed)"
    for name in ["rlora", "train"]:
        record = run.step(f"help-{name}", [str(bin_dir / name), "--help"], 60)
        if "Usage" not in record["stdout"]:
            record["status"] = f"failed (no usage): {record['status']}"
    record = run.step("bench-without-gpu", [str(bin_dir / "bench-llama"), "--case", "forward"], 60)
    log = (run.out / "bench-without-gpu.log").read_text()
    record["status"] = ("ok" if "backend cannot start on this machine" in log
                        else f"failed (no clear message): {record['status']}")


def gpu_name() -> str:
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU (nvidia-smi not found)"
    done = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader"], capture_output=True, text=True)
    return "; ".join(line.strip() for line in done.stdout.splitlines()) or done.stderr.strip()


def fmt(value, spec: str, missing: str = "—") -> str:
    return missing if value is None else format(value, spec)


def table(run: Run, manifest: dict) -> str:
    lines = [f"# rlora GPU check, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"GPU: {gpu_name()}; bundle: {manifest.get('commit', '?')} built "
             f"{manifest.get('built', '?')}", "",
             "| step | status | seconds | tests passed / failed |", "|---|---|---:|---:|"]
    for step in run.steps:
        tests = step.get("tests")
        lines.append(f"| {step['step']} | {step['status']} | {step['seconds']:.1f} | "
                     f"{f'{tests[0]} / {tests[1]}' if tests else ''} |")
    if run.bench:
        lines += ["", "| shape | case | base | rlora tokens/s | PyTorch tokens/s | speed (rlora / PyTorch) "
                  "| rlora peak GPU MiB | PyTorch peak GPU MiB | memory (rlora / PyTorch) |",
                  "|---|---|---|---:|---:|---:|---:|---:|---:|"]
        for row in run.bench:
            ours, theirs = row["rlora"], row["pytorch"]
            speed = (ours["tokens_per_second"] / theirs["tokens_per_second"]
                     if ours["tokens_per_second"] and theirs["tokens_per_second"] else None)
            memory = (ours["peak_gpu_mib"] / theirs["peak_gpu_mib"]
                      if ours["peak_gpu_mib"] and theirs["peak_gpu_mib"] else None)
            lines.append(
                f"| {row['shape']} | {row['case']} | {row['dtype']} "
                f"| {fmt(ours['tokens_per_second'], '.0f', ours['status'])} "
                f"| {fmt(theirs['tokens_per_second'], '.0f', theirs['status'])} "
                f"| {fmt(speed, '.2f')}× | {fmt(ours['peak_gpu_mib'], 'd')} "
                f"| {fmt(theirs['peak_gpu_mib'], 'd')} | {fmt(memory, '.2f')} |")
    if run.kernels:
        lines += ["", "| shape | base | kernels per R-LoRA update | seconds per update |",
                  "|---|---|---:|---:|"]
        for row in run.kernels:
            lines.append(f"| {row['shape']} | {row['dtype']} | {fmt(row['kernels'], '.0f', row['status'])} "
                         f"| {fmt(row['seconds'], '.4f')} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--cpu-smoke", action="store_true")
    parser.add_argument("--budget", type=float, default=470.0)
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        print(f"gpu-check: unknown part(s) {', '.join(unknown)}; the parts are {', '.join(PARTS)}",
              file=sys.stderr)
        return 2
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else args.bundle / "results"
    run = Run(args.bundle.resolve(), out, args.budget)
    unpack(run.bundle)
    manifest = json.loads((run.bundle / "manifest.json").read_text())
    if args.cpu_smoke:
        cpu_smoke(run, manifest)
    else:
        for part in parts:
            {"tests": lambda: part_tests(run, manifest), "example": lambda: part_example(run),
             "bench": lambda: part_bench(run), "kernels": lambda: part_kernels(run)}[part]()
    summary = table(run, manifest)
    (out / "summary.md").write_text(summary)
    (out / "summary.json").write_text(json.dumps(
        {"steps": [{k: v for k, v in s.items() if k != "stdout"} for s in run.steps],
         "bench": run.bench, "kernels": run.kernels}, indent=1))
    print(summary)
    return 0 if all(s["status"] == "ok" for s in run.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
