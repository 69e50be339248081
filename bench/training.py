"""Training throughput of the default model on this machine: full fine-tuning and LoRA.

.venv/bin/python bench/training.py --wait-quiet 600 --json /tmp/training.json

Each measurement is a short training through `leap.training` (the Trainer, the collator,
the per-step metrics `leap finetune` stores) on synthetic SFT examples of `--length`
tokens, half of them trained: `--steps` optimizer steps of `--batch` examples, with no
checkpoint. The first step is left out (it allocates the optimizer state); the figure is
the median over the other steps of tokens per second (what the model read) and trained
tokens per second (what carried loss). Full and LoRA alternate, their order flipping every
repeat, and each measurement records how much CPU other processes used meanwhile.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import (
    add_quiet_options,
    cpu_mark,
    foreign_cores,
    load_average,
    machine_info,
    median,
    quiet_policy,
    write_json,
)

VARIANTS: dict[str, dict[str, Any]] = {
    "full": {"learning_rate": 1e-5},
    "lora": {"learning_rate": 2e-4, "lora": {"r": 16, "alpha": 32, "dropout": 0.05}},
}


def write_examples(folder: Path, tokenizer: Any, length: int, count: int) -> Path:
    """`count` examples of `length` tokens: the first half a prompt, the rest trained."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    sentence = "We add the two numbers, check the carry, and compare with the peers' sums. "
    ids = tokenizer.encode(sentence * (length // 8 + 1), add_special_tokens=False)[:length]
    half = length // 2
    text = tokenizer.decode(ids)
    rows = [
        {
            "model": "smollm2-135m",
            "input_ids": ids,
            "loss_mask": [0] * half + [1] * (length - half),
            "text": text,
            "spans": [{"start": 0, "end": len(text), "trained": True}],
        }
        for _ in range(count)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "data.parquet")
    return folder


def measure(variant: str, data: Path, store: Path, args: argparse.Namespace, index: int) -> dict:
    from leap.training.finetune import prepare_finetune
    from leap.training.finetune_config import parse_finetune_config
    from leap.training.trainer import run_trainer

    config = parse_finetune_config(
        {
            "name": f"bench-{variant}-{index}",
            "data": [str(data)],
            "store": str(store),
            "max_steps": args.steps,
            "batch_size": args.batch,
            "max_length": args.length,
            "save_steps": 10**6,
            "dtype": args.dtype,
            **VARIANTS[variant],
        }
    )
    prepared = prepare_finetune(config)
    scratch = Path(tempfile.mkdtemp(prefix="bench-training-"))
    mark = cpu_mark()
    try:
        _, rows = run_trainer(prepared, scratch, None, [], None)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    other = foreign_cores(mark, cpu_mark())
    steady = rows[1:] or rows
    return {
        "variant": variant,
        "precision": prepared.precision,
        "tokens_per_second": round(median([r["tokens_per_second"] for r in steady]), 1),
        "trained_tokens_per_second": round(
            median([r["trained_tokens_per_second"] for r in steady]), 1
        ),
        "step_seconds": [r["seconds"] for r in rows],
        "other_cores": round(other, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--length", type=int, default=512, help="tokens per example")
    parser.add_argument("--batch", type=int, default=4, help="examples per step")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per measurement")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="float32", help="auto, float32 or bfloat16")
    parser.add_argument("--json", type=Path, default=None)
    add_quiet_options(parser)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoTokenizer

    from leap.engines.models import default_model_folder

    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    tokenizer = AutoTokenizer.from_pretrained(default_model_folder())
    data = write_examples(work / "data", tokenizer, args.length, args.batch * args.steps)
    waited = quiet_policy(args).wait()
    began = time.time()
    results = []
    try:
        for repeat in range(args.repeats):
            order = list(VARIANTS) if repeat % 2 == 0 else list(reversed(VARIANTS))
            for variant in order:
                result = measure(variant, data, work / "store", args, repeat)
                results.append({"repeat": repeat, **result})
                print(json.dumps(results[-1]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        variant: {
            key: median([r[key] for r in results if r["variant"] == variant])
            for key in ("tokens_per_second", "trained_tokens_per_second")
        }
        for variant in VARIANTS
    }
    import torch

    report = {
        "machine": machine_info(),
        "torch_threads": torch.get_num_threads(),
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "quiet_wait": waited.__dict__,
        "load_average_after": load_average(),
        "seconds": round(time.time() - began, 1),
        "results": results,
        "median": summary,
    }
    print(json.dumps(summary, indent=2))
    if args.json is not None:
        write_json(args.json, report)


if __name__ == "__main__":
    main()
