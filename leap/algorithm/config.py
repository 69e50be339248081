"""Run configuration: pydantic models that reject bad values before any model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from leap.algorithm.routing import Router, Similarity
from leap.engines.base import SamplingParams
from leap.errors import LeapError, describe_validation_error, load_yaml_mapping

Method = Literal["leap", "leap-t", "independent", "single"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LeapConfig(_Strict):
    """How one problem is solved by a peer group.

    `method`: `leap` (communicate after every round), `single` (communicate only at the
    reasoning-token positions in `communicate_at`), `independent` (never), `leap-t` (for
    models fine-tuned to summarize: plain prompt, and a round also ends when the model
    opens `<summarize>` itself).
    """

    method: Method = "leap"
    n_paths: int = Field(4, ge=1, description="N, parallel reasoning paths per problem")
    tokens_per_round: int = Field(4096, gt=0, description="T, reasoning tokens per round")
    top_k: int = Field(4, ge=0, description="peer summaries each path receives")
    router: Router = "dispersed"
    similarity: Similarity = "levenshtein"
    summary_max_tokens: int = Field(256, gt=0)
    max_tokens: int = Field(16384, gt=0, description="total reasoning budget per path")
    answer_max_tokens: int = Field(1024, gt=0, description="budget of the final answer")
    communicate_at: tuple[int, ...] = Field(
        (), description="reasoning-token positions at which `single` communicates"
    )
    trim_unfinished_paragraph: bool = Field(
        True, description="drop the trailing unfinished paragraph before a summary"
    )
    think_end: str = Field("</think>", min_length=1, description="end-of-thinking marker")
    sampling: SamplingParams = SamplingParams()
    seed: int = 0

    @model_validator(mode="after")
    def _check_schedule(self) -> LeapConfig:
        if self.method == "single" and not self.communicate_at:
            raise ValueError("method 'single' needs communicate_at, e.g. [4096]")
        if any(p <= 0 for p in self.communicate_at):
            raise ValueError("communicate_at positions must be positive token counts")
        return self

    def communicates_after(self, round_index: int) -> bool:
        """Whether a LeaP block follows round `round_index` (0-based)."""
        if self.method in ("leap", "leap-t"):
            return True
        if self.method == "single":
            start, end = (
                round_index * self.tokens_per_round,
                (round_index + 1) * self.tokens_per_round,
            )
            return any(start < p <= end for p in self.communicate_at)
        return False


def parse_config(data: dict[str, Any], source: str = "config") -> LeapConfig:
    """Validate a config dict; a bad value becomes one LeapError sentence naming the field."""
    try:
        return LeapConfig.model_validate(data)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, source)) from None


def load_config(path: str | Path) -> LeapConfig:
    """Read a LeapConfig from a YAML file."""
    return parse_config(load_yaml_mapping(path, "config file"), source=str(path))
