"""Decode-step time against context length: transformers' defaults versus the engine's cache.

Two ways to run one batched decode step on the default model, side by side at each
context length:
- `default`: eager attention, transformers' `DynamicCache` (appends with `torch.cat`), a
  2-D padding mask;
- `engine`: SDPA attention, `leap.engines.transformers.kv_cache.RaggedCache` (each row
  writes in place at its own end) and the engine's 4-D boolean mask (SDPA's packed
  grouped-query path for one query token).

    .venv/bin/python bench/decode_step.py --threads 2 --lengths 256 1024 2048 4096

Prints milliseconds per step for both and their ratio, interleaving the two variants so
a noisy machine hits both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from harness import add_quiet_options, machine_info, median, quiet_policy
from transformers import AutoModelForCausalLM, DynamicCache

from leap.engines.models import DEFAULT_MODEL, resolve_model
from leap.engines.transformers.kv_cache import RaggedCache, attention_mask


def load(attention: str, dtype: torch.dtype):
    folder = resolve_model(DEFAULT_MODEL)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, attn_implementation=attention)
    return model.eval().get_decoder()


def step_time(decoder, variant: str, rows: int, length: int, steps: int) -> float:
    """Seconds per decode step after a prefill of `length` tokens per row."""
    ids = torch.randint(100, 20000, (rows, length))
    mask = torch.ones((rows, length), dtype=torch.long)
    mask[:, 0] = 0  # one padding slot per row, as a batch of paths of unequal length has
    layers = decoder.config.num_hidden_layers
    cache = RaggedCache(layers, rows) if variant == "engine" else DynamicCache()
    positions = torch.arange(length).expand(rows, length)

    def forward(chunk: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> None:
        given = mask
        if variant == "engine":
            cache.starts = positions[:, 0].clone()
            given = attention_mask(cache.starts, chunk.shape[1])
        decoder(
            input_ids=chunk,
            attention_mask=given,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
        )

    with torch.inference_mode():
        forward(ids, mask, positions)
        started = time.perf_counter()
        for step in range(steps):
            mask = torch.cat([mask, torch.ones((rows, 1), dtype=torch.long)], dim=1)
            forward(ids[:, -1:], mask, torch.full((rows, 1), length + step))
        return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rows", type=int, default=4, help="batch rows (paths), default 4")
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 2048, 4096])
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", choices=["bfloat16", "float32"], default="bfloat16")
    add_quiet_options(parser)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    decoders = {"default": load("eager", dtype), "engine": load("sdpa", dtype)}
    quiet_policy(args).wait()
    print(f"machine: {json.dumps(machine_info())}")
    print(f"threads={args.threads} rows={args.rows} dtype={args.dtype} torch={torch.__version__}")
    print("| context | default ms/step | engine ms/step | engine / default |")
    print("|---|---|---|---|")
    for length in args.lengths:
        times: dict[str, list[float]] = {name: [] for name in decoders}
        for _ in range(args.repeats):
            for name, decoder in decoders.items():
                times[name].append(step_time(decoder, name, args.rows, length, args.steps))
        default, engine = (median(times[n]) * 1000 for n in ("default", "engine"))
        print(f"| {length} | {default:.1f} | {engine:.1f} | {engine / default:.2f} |", flush=True)


if __name__ == "__main__":
    main()
