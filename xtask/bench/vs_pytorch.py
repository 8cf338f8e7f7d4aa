#!/usr/bin/env python3
"""The PyTorch twin of rlora's benchmark: the same shapes and the same work, one case per process.

`cargo xtask bench --vs-pytorch` runs every case here and in rlora's own benchmark
(`rlora-llama/benches/llama.rs`), each in a fresh process, and prints both with their ratios.

    python3 xtask/bench/vs_pytorch.py --shape bench --case train-rlora --threads 2

prints one JSON line: the case, the median seconds per repetition (per token for decode), tokens
per second and the process's peak resident memory (`ru_maxrss`). `--device cuda` runs on the GPU
(the GPU bundle's twin of rlora's CUDA benchmark) and adds the allocator's peak
(`torch.cuda.max_memory_allocated`).

Shapes (random weights, as in rlora's benchmark):
  bench       a 25.9M-parameter Llama: 6 layers, d 512, d_ff 1408, GQA 8/4 heads, vocab 8000, f32
  qwen2.5-0.5b, qwen2.5-1.5b, qwen2.5-3b
              the exact shapes of those checkpoints (tied embeddings, q/k/v biases)
  llama-2-7b  Llama-2-7B's exact shape: 32 layers, d 4096, d_ff 11008, 32 heads, vocab 32000, untied

Cases:
  train-lora      forward + cross-entropy of every next token + backward (no optimizer), PEFT
                  LoRA (r 8, α 16, dropout 0)
  train-rlora     the same with R-LoRA (5 heads, r 8, α 32, α/√r, per-head dropout 0.1 on x A, the
                  heads in one matmul, the init offset), written below as rlora computes it
  forward         the frozen model's forward without autograd
  prefill-N       N prompt tokens (batch 1) into an empty KV cache, logits of the last one
  decode-N        16 tokens, one at a time, after N tokens of context in the KV cache
The bench shape puts the adapters on all seven projections, batch 4 × 256; the Qwen shapes on
gate/up/down (the paper's targets), batch 2 × 256; Llama-2-7B on gate/up/down, batch 1 × 512.
`--batch N` and `--seq N` change a shape's batch; `--iters 0` times one step without a warm-up (for
shapes whose step takes many minutes on a CPU). `--dtype bf16` builds and keeps the frozen base in
bfloat16 (adapters, loss and optimizer-facing tensors in float32, as PEFT does).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

ALL_SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
DECODED = 16

SHAPES = {
    "bench": dict(
        model_type="llama", vocab_size=8000, hidden_size=512, intermediate_size=1408,
        num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=4, rms_norm_eps=1e-5,
        rope_theta=10_000.0, tie_word_embeddings=False, batch=4, targets=ALL_SEVEN,
    ),
    "qwen2.5-0.5b": dict(
        model_type="qwen2", vocab_size=151936, hidden_size=896, intermediate_size=4864,
        num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_theta=1_000_000.0, tie_word_embeddings=True, batch=2, targets=MLP,
    ),
    "qwen2.5-1.5b": dict(
        model_type="qwen2", vocab_size=151936, hidden_size=1536, intermediate_size=8960,
        num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_theta=1_000_000.0, tie_word_embeddings=True, batch=2, targets=MLP,
    ),
    "qwen2.5-3b": dict(
        model_type="qwen2", vocab_size=151936, hidden_size=2048, intermediate_size=11008,
        num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_theta=1_000_000.0, tie_word_embeddings=True, batch=2, targets=MLP,
    ),
    "llama-2-7b": dict(
        model_type="llama", vocab_size=32000, hidden_size=4096, intermediate_size=11008,
        num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32, rms_norm_eps=1e-5,
        rope_theta=10_000.0, tie_word_embeddings=False, batch=1, seq=512, targets=MLP,
    ),
}
SEQ = 256  # the tokens per row of the shapes that do not say otherwise


class RLoraLinear(nn.Module):
    """`y = x W' + b + s · Σ_i g_i(x) · drop_i(x A) B_i`, `g = softmax(x R)`, as rlora computes it.

    `x [A | R | A⁰]` is one matmul; the heads and the offset are one more:
    `s · [g_1 drop_1(h) … g_N drop_N(h) | −x A⁰] @ [B_1; …; B_N; B̄⁰]`. The adapter computes in
    float32 whatever the base's dtype.
    """

    def __init__(self, base: nn.Linear, heads=5, rank=8, alpha=32.0, dropout=0.1, gamma=64.0):
        super().__init__()
        d_in, d_out = base.in_features, base.out_features
        self.base = base
        self.heads, self.rank, self.dropout = heads, rank, dropout
        self.scaling = alpha / math.sqrt(rank)
        stable = d_out ** 0.25 / math.sqrt(gamma)
        a = torch.randn(d_in, rank) / math.sqrt(d_in) * stable
        b = torch.randn(heads * rank, d_out) / math.sqrt(d_out) * stable
        self.lora_a = nn.Parameter(a)
        self.lora_b = nn.Parameter(b)
        self.router = nn.Parameter(torch.zeros(d_in, heads))
        self.register_buffer("offset_a", a.clone())
        self.register_buffer("offset_b", b.reshape(heads, rank, d_out).mean(0))

    def forward(self, x):
        lead = x.shape[:-1]
        tokens = x.reshape(-1, x.shape[-1]).float()
        down = tokens @ torch.cat([self.lora_a, self.router, self.offset_a], 1)
        h, logits, h0 = down.split([self.rank, self.heads, self.rank], 1)
        gates = torch.softmax(logits, -1)
        per_head = h.unsqueeze(1).expand(-1, self.heads, self.rank)
        per_head = F.dropout(per_head, self.dropout, self.training)  # a mask per head
        mixed = (per_head * gates.unsqueeze(2)).reshape(-1, self.heads * self.rank)
        thin = torch.cat([mixed, -h0], 1) * self.scaling
        delta = thin @ torch.cat([self.lora_b, self.offset_b], 0)
        return self.base(x) + delta.reshape(*lead, -1).to(x.dtype)


def build_model(shape: dict, dtype: torch.dtype):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    keys = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
            "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta",
            "tie_word_embeddings"]
    kwargs = {k: shape[k] for k in keys}
    if shape["model_type"] == "llama":
        config, cls = LlamaConfig(**kwargs, max_position_embeddings=2048), LlamaForCausalLM
    else:
        config, cls = Qwen2Config(**kwargs, max_position_embeddings=32768), Qwen2ForCausalLM
    config.use_cache = True
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # built in its own type: no float32 copy lifts the peak
    model = cls(config)
    torch.set_default_dtype(default)
    model.requires_grad_(False)
    return model.eval()


def with_lora(model, targets):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=targets)
    return get_peft_model(model, config)


def with_rlora(model, targets):
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, RLoraLinear(child))
    return model


DEVICE = torch.device("cpu")


def sync():
    """Waits for the device's queued work (a no-op on the CPU)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()


def random_tokens(vocab: int, shape) -> torch.Tensor:
    return torch.randint(0, vocab, shape).to(DEVICE)


def median_seconds(run, iters: int) -> float:
    if iters == 0:  # one cold step, for shapes whose step takes minutes
        start = time.perf_counter()
        run()
        sync()
        return time.perf_counter() - start
    run()  # warm-up
    sync()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def train_case(model, batch: int, seq: int, vocab: int, iters: int):
    model.train()
    tokens = random_tokens(vocab, (batch, seq))
    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        for p in params:
            p.grad = None
        # transformers' causal-LM loss: every next token (255 per row), in float32.
        model(input_ids=tokens, labels=tokens).loss.backward()

    return median_seconds(step, iters), batch * seq, sum(p.numel() for p in params)


def forward_case(model, batch: int, seq: int, vocab: int, iters: int):
    tokens = random_tokens(vocab, (batch, seq))

    def forward():
        with torch.no_grad():
            model(input_ids=tokens, use_cache=False)

    return median_seconds(forward, iters), batch * seq


def prefill_case(model, context: int, vocab: int, iters: int):
    prompt = random_tokens(vocab, (1, context))

    def prefill():
        with torch.no_grad():
            model(input_ids=prompt, use_cache=True, logits_to_keep=1)

    return median_seconds(prefill, iters), context


def decode_case(model, context: int, vocab: int, iters: int):
    prompt = random_tokens(vocab, (1, context))
    with torch.no_grad():
        cache = model(input_ids=prompt, use_cache=True, logits_to_keep=1).past_key_values
    steps = [random_tokens(vocab, (1, 1)) for _ in range(DECODED)]
    caches = [copy.deepcopy(cache) for _ in range(iters + 1)]

    def decode():
        past = caches.pop()
        with torch.no_grad():
            for token in steps:
                past = model(input_ids=token, past_key_values=past, use_cache=True, logits_to_keep=1).past_key_values

    return median_seconds(decode, iters) / DECODED, 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="bench", choices=sorted(SHAPES))
    parser.add_argument("--case", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, help="rows per batch (default: the shape's)")
    parser.add_argument("--seq", type=int, help="tokens per row (default: the shape's)")
    args = parser.parse_args()

    global DEVICE
    DEVICE = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = SHAPES[args.shape]
    dtype = torch.float32 if args.dtype == "f32" else torch.bfloat16
    model = build_model(shape, dtype)
    vocab = shape["vocab_size"]
    batch = args.batch or shape["batch"]
    seq = args.seq or shape.get("seq", SEQ)

    trainable = 0
    case = args.case
    if case == "train-lora":
        seconds, tokens, trainable = train_case(with_lora(model, shape["targets"]).to(DEVICE), batch, seq, vocab, args.iters)
    elif case == "train-rlora":
        seconds, tokens, trainable = train_case(with_rlora(model, shape["targets"]).to(DEVICE), batch, seq, vocab, args.iters)
    elif case == "forward":
        seconds, tokens = forward_case(model.to(DEVICE), batch, seq, vocab, args.iters)
    elif case.startswith("prefill-"):
        seconds, tokens = prefill_case(model.to(DEVICE), int(case.split("-")[1]), vocab, args.iters)
    elif case.startswith("decode-"):
        seconds, tokens = decode_case(model.to(DEVICE), int(case.split("-")[1]), vocab, args.iters)
    else:
        print(f"unknown case {case!r}", file=sys.stderr)
        return 2

    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({
        "impl": "pytorch",
        "shape": args.shape,
        "case": case,
        "dtype": args.dtype,
        "batch": batch,
        "seq": seq,
        "seconds": seconds,
        "tokens_per_second": tokens / seconds,
        "trainable_params": trainable,
        "peak_rss_bytes": peak_kib * 1024,
        "peak_device_bytes": torch.cuda.max_memory_allocated() if DEVICE.type == "cuda" else None,
        "threads": torch.get_num_threads(),
        "version": f"torch {torch.__version__}",
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
