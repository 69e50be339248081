"""The independent-sampling baseline that the overhead benchmarks compare LeaP with."""

from __future__ import annotations

from collections.abc import Sequence

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.seeds import derive_seed
from leap.benchmarks import Problem
from leap.engines.base import Engine, GenerationRequest


def independent_requests(
    engine: Engine, problem: Problem, config: LeapConfig, budgets: Sequence[int], key: str
) -> list[GenerationRequest]:
    """One request per path: the plain task prompt, exactly `budgets[path]` new tokens (EOS
    ignored, so each path generates what it generated under LeaP), and no peers."""
    text = prompts.task_text(problem, mention_peers=False)
    prompt = engine.chat_prompt([{"role": "user", "content": text}])
    return [
        GenerationRequest(
            prompt_ids=prompt,
            max_new_tokens=budget,
            seed=derive_seed(config.seed, problem.id, path, 0, "independent"),
            sampling=config.sampling,
            cache_key=f"{key}/path-{path}",
            ignore_eos=True,
        )
        for path, budget in enumerate(budgets)
    ]
