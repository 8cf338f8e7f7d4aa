#!/usr/bin/env python3
"""Breaks a `perf record --call-graph dwarf` profile of rlora's benchmark down by operation.

    perf record -F 250 -e cpu-clock --call-graph dwarf,32768 -o step.data \
        target/release/deps/llama-<hash> --case train-rlora --iters 5
    perf script -i step.data | python3 xtask/bench/perf_breakdown.py

Every sample is classified three ways, and the shares are printed as Markdown tables (model
construction, `Llama::random`, is left out):

* phase: forward, backward (under burn-autodiff's backward pass), or the loss;
* model part: in the forward, the innermost rlora / rlora-llama function on the stack (RoPE, the
  attention core, the softmax, RMSNorm, SwiGLU, a frozen projection, an adapter, the LM head and
  loss); in the backward, the autodiff operation being differentiated (matmul, exp, …), since the
  backward pass runs from the graph, not from the model's functions;
* kernel: what the CPU was doing at the leaf (matrix multiply, exp, element-wise, strided copy,
  memcpy/memset, page faults, allocation, autodiff bookkeeping).
"""

from __future__ import annotations

import re
import sys
from collections import Counter

MODEL_PARTS = [
    ("rlora_llama::loss", "LM head + cross-entropy"),
    ("rlora_llama::rope", "RoPE"),
    ("rlora_llama::attention::masked_softmax", "attention softmax (scale, mask)"),
    ("rlora::layer::RLoraLinear<B>::delta", "adapters (x A, router, heads)"),
    ("burn_nn::modules::linear::Linear<B>::forward", "frozen projections (x W + b)"),
    ("burn_nn::modules::norm::rms", "RMSNorm"),
    ("burn_nn::modules::embedding", "embedding"),
    ("rlora_llama::mlp::Mlp<B>::forward", "SwiGLU (silu · up)"),
    ("rlora_llama::attention::Attention<B>::forward", "attention core (q kᵀ, p v, layouts)"),
    ("rlora_llama::decoder::DecoderLayer<B>::forward", "residual adds"),
    ("rlora_llama::model::Llama<B>::hidden_states", "masks, tables"),
]

KERNELS = [
    (re.compile(r"gemm"), "matrix multiply (gemm)"),
    (re.compile(r"expf|xflowf|with_errnof|__exp"), "exp (scalar libm)"),
    (re.compile(r"\[kernel|page_fault|clear_page|_raw_spin|handle_mm"), "page faults (kernel)"),
    (re.compile(r"StridedIter|to_contiguous|copy_contiguous"), "strided copies"),
    (re.compile(r"memmove|memcpy|memset"), "memcpy / memset"),
    (re.compile(r"malloc|free|unlink_chunk|_int_|cfree"), "allocation"),
    (re.compile(r"burn_autodiff::runtime|burn_autodiff::graph|burn_autodiff::checkpoint|hashbrown|AutodiffTensor"), "autodiff bookkeeping"),
    (re.compile(r"unary_op|binary_op|scalar_op|macerator|broadcast_pattern|mask_fill|simd"), "element-wise (SIMD / scalar loops)"),
    (re.compile(r"reduce|sum_dim|max_dim|argmax"), "reductions"),
]

BACKWARD_OP = re.compile(r"::(float_[a-z_0-9]+|linear|embedding)::[A-Za-z]+ as burn_autodiff::ops::backward::Backward")


def samples(lines):
    frames = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if frames:
                yield frames
            frames = []
        elif line.startswith("\t") or line.startswith(" "):
            parts = line.strip().split(" ", 1)
            frames.append(parts[1] if len(parts) > 1 else parts[0])
    if frames:
        yield frames


def kernel_of(frames):
    for frame in frames[:4]:
        for pattern, name in KERNELS:
            if pattern.search(frame):
                return name
    return "other"


def classify(frames):
    stack = " | ".join(frames)
    if "Llama<B>::random" in stack or "Llama<B>::build" in stack:
        return None
    kernel = kernel_of(frames)
    backward = next((m.group(1) for f in frames if (m := BACKWARD_OP.search(f))), None)
    if backward is not None or "burn_autodiff::runtime::server" in stack or "Gradients" in stack:
        return "backward", f"{backward or 'graph traversal'} backward", kernel
    for needle, part in MODEL_PARTS:
        if needle in stack:
            return "forward", part, kernel
    return "forward", "other", kernel


def table(title, counter, total):
    print(f"\n| {title} | share of the step |")
    print("|---|---:|")
    for name, count in counter.most_common():
        share = 100.0 * count / total
        if share >= 0.5:
            print(f"| {name} | {share:.1f}% |")


def main() -> int:
    phases, parts, kernels = Counter(), Counter(), Counter()
    total = 0
    for frames in samples(sys.stdin):
        result = classify(frames)
        if result is None:
            continue
        phase, part, kernel = result
        total += 1
        phases[phase] += 1
        parts[f"{phase}: {part}"] += 1
        kernels[kernel] += 1
    if total == 0:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{total} samples outside model construction")
    table("phase", phases, total)
    table("operation", parts, total)
    table("kernel", kernels, total)
    return 0


if __name__ == "__main__":
    sys.exit(main())
