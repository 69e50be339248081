"""Prefill time of one sequence by dtype and thread count (diagnoses CPU contention).

.venv/bin/python bench/prefill_threads.py --tokens 290
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
from harness import add_quiet_options, load_average, machine_info, median, quiet_policy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=290)
    parser.add_argument("--repeats", type=int, default=3)
    add_quiet_options(parser)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from leap.engines.transformers.engine import TransformersEngine

    quiet_policy(args).wait()
    print(f"machine: {json.dumps(machine_info())}")
    print(f"load average before: {load_average()}")
    for dtype in ("bfloat16", "float32"):
        for threads in (os.cpu_count() or 1, 1):
            engine = TransformersEngine(dtype=dtype, threads=threads)
            decoder = engine.model.get_decoder()
            ids = torch.randint(100, 1000, (1, args.tokens))
            times = []
            with torch.inference_mode():
                decoder(ids)  # first call of a shape sets its kernels up
                for _ in range(args.repeats):
                    started = time.perf_counter()
                    decoder(ids)
                    times.append(time.perf_counter() - started)
            print(f"{dtype:9s} threads={threads}: median {median(times):.3f} s")
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
