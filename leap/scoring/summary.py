"""What scoring a run produces: one `ScoreRow` per path, one `RunSummary` per run.

Score rows are the rows of `results/scores.parquet` (their fields are its columns); the
summary is `results/summary.json` (its fields are the JSON keys, unchanged since the
first runs, so every stored summary stays readable).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from leap.scoring.metrics import TokenTotals

# TokenTotals field -> ScoreRow field (the column names of scores.parquet).
TOKEN_COLUMNS: dict[str, str] = {
    "reasoning": "reasoning_tokens",
    "summary": "summary_tokens",
    "injected": "injected_tokens",
    "answer": "answer_tokens",
    "prompt_computed": "prompt_computed",
    "prompt_reused": "prompt_reused",
}


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One path of one problem: its answer, whether it is right, and what it cost.

    `sequence_sha256` is the SHA-256 of the path's whole token sequence (4-byte
    little-endian ids), so two runs can be checked for identical outputs.
    """

    problem_id: str
    path: int
    answer: str | None
    gold: str
    correct: bool
    finish_reason: str
    forced_answer: bool
    rounds: int
    reasoning_tokens: int
    summary_tokens: int
    injected_tokens: int
    answer_tokens: int
    prompt_computed: int
    prompt_reused: int
    sequence_tokens: int
    sequence_sha256: str
    # How the answer was found (boxed, answer-line, phrase, none, timeout) and what that
    # makes the path: correct, wrong, unanswered (no answer found) or timeout.
    answer_method: str = "boxed"
    verdict: str = "wrong"

    @staticmethod
    def token_fields(tokens: TokenTotals) -> dict[str, int]:
        """The token fields of a row whose path has `tokens`, as keyword arguments."""
        return {column: getattr(tokens, name) for name, column in TOKEN_COLUMNS.items()}

    @property
    def tokens(self) -> TokenTotals:
        return TokenTotals(**{name: getattr(self, col) for name, col in TOKEN_COLUMNS.items()})


# Metrics that exist only once at least one problem is scored; absent from the JSON otherwise.
_SCORED_ONLY = ("pass_at_1", "pass_at_k", "cons_at_n", "answered_rate")


class RunSummary(BaseModel):
    """The headline of a run: what ran, its metrics, its token totals and wall time.

    `pass_at_k` maps k (as text, "1".."N") to the mean Pass@k. The three metrics are None
    when no problem has final answers. `config` is the run's `LeapConfig` as JSON.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    benchmark: str
    method: str
    model: str
    engine: str
    config: dict[str, Any]
    n_problems: int
    n_scored: int
    n_paths: int
    failed_problems: list[str]
    wall_seconds: float
    created_at: str
    tokens: TokenTotals
    pass_at_1: float | None = None
    pass_at_k: dict[str, float] | None = None
    cons_at_n: float | None = None
    # Paths by verdict (correct, wrong, unanswered, timeout), the share of scored paths
    # that gave an answer, and paths that reached the reasoning budget (finish "budget").
    # Summaries written before these existed read as empty.
    verdicts: dict[str, int] = {}
    answered_rate: float | None = None
    truncated_paths: int = 0

    def to_json(self) -> str:
        data = self.model_dump(mode="json")
        for key in _SCORED_ONLY:
            if data[key] is None:
                del data[key]
        return json.dumps(data, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, data: str | bytes) -> RunSummary:
        """Parse a stored summary; pydantic's ValidationError if it is not one."""
        return cls.model_validate_json(data)
