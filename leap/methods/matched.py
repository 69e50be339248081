"""Compute-matched sampling: `independent` or `self-correct` paths added in waves until the
problem's generated tokens reach a target (another run's, `match_tokens: RUN_ID`).

LeaP spends tokens on summaries and on more rounds, so comparing it with N independent
paths compares unequal compute. This policy answers that: it samples independent paths
(with the method's prompt) until the tokens it generated for a problem (reasoning and
answers) reach `target`, the tokens the source run generated for that problem.

- Wave 0 starts `n_paths` paths, each with a reasoning budget of
  min(`max_tokens`, target / n_paths − `answer_max_tokens`).
- Rounds are T reasoning tokens for every active path, as for `independent`. A path
  writes its final answer in the round it finishes (a `cue` and `answer` segments in its
  row), so what a problem has spent is known exactly after every round.
- When every path has finished and more than 2% of the target is left, the next wave
  starts k = ceil(left / (`max_tokens` + `answer_max_tokens`)) paths (at most `n_paths`),
  each with budget left / k − `answer_max_tokens`, on the next path indices. Paths that
  end early leave tokens unspent, so a later wave adds paths: a problem ends with
  N' >= N paths (at most 16 N).
- A wave is decided from the state alone, so a policy rebuilt from stored rounds starts
  the same waves (`_apply`) and continues exactly; `finish()` generates nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, PathAnswer, PathRound, RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.methods.base import PathState, own_text
from leap.methods.peers import PeerGroup

# A problem within this share of its target gets no further wave.
TOLERANCE = 0.02
# At most this many times `n_paths` paths per problem (paths that all end at once would
# otherwise start wave after wave of one-token paths).
MAX_WIDTH = 16
_ANSWER_KINDS = ("cue", "answer")


class MatchedSampling(PeerGroup):
    """Independent (or self-correct) sampling that stops at `target` generated tokens."""

    def __init__(
        self,
        engine: Engine,
        config: LeapConfig,
        problem: Problem,
        *,
        target: int,
        cache_prefix: str | None = None,
        records: Sequence[RoundRecord] = (),
    ) -> None:
        if config.method not in ("independent", "self-correct"):
            raise ValueError(f"method {config.method!r} cannot be compute-matched")
        self.target = target
        self.final_answers: dict[int, PathAnswer] = {}  # set before the base replays
        super().__init__(engine, config, problem, cache_prefix=cache_prefix)
        first = target // config.n_paths - config.answer_max_tokens
        for path in self.paths:
            path.budget = max(1, min(config.max_tokens, first))
        for record in records:
            self._apply(record)

    # -- accounting ---------------------------------------------------------------------

    def spent(self) -> int:
        """Tokens generated so far: reasoning and the answers written."""
        answers = sum(a.answer_tokens for a in self.final_answers.values())
        return sum(p.reasoning_tokens for p in self.paths) + answers

    def _wave_size(self) -> int:
        left = self.target - self.spent()
        full = len(self.paths) >= MAX_WIDTH * self.config.n_paths
        if full or left <= max(TOLERANCE * self.target, 1):
            return 0
        per_path = self.config.max_tokens + self.config.answer_max_tokens
        return min(self.config.n_paths, math.ceil(left / per_path))

    def _start_wave(self) -> set[int]:
        """New paths, when every path has finished and tokens remain to be spent; returns
        their indices."""
        if not all(p.finished for p in self.paths):
            return set()
        count = self._wave_size()
        if not count:
            return set()
        budget = (self.target - self.spent()) // count - self.config.answer_max_tokens
        start = len(self.paths)
        for index in range(start, start + count):
            path = PathState(index, list(self.prompt_ids))
            path.budget = max(1, min(self.config.max_tokens, budget))
            self.paths.append(path)
        return set(range(start, start + count))

    # -- the round contract -------------------------------------------------------------

    @property
    def done(self) -> bool:
        return all(p.finished for p in self.paths) and not self._wave_size()

    def step(self) -> RoundRecord:
        """Start a wave if one is due, run a round, and write the answers of the paths
        that finished in it."""
        started = self._start_wave()
        record = super().step()
        rows = {row.path: row for row in record.paths}
        for path in started:  # a path of a later wave starts with its prompt, too
            rows[path].segments.insert(0, self.segment("prompt", self.prompt_ids))
        ended = [p for p in self.paths if p.index in rows and p.finished]
        for answer in self.answers(ended, record.round):
            row = rows[answer.path]
            row.segments.extend(answer.segments)
            row.prompt_computed += answer.prompt_computed
            row.prompt_reused += answer.prompt_reused
            self.final_answers[answer.path] = self._answer_from(row, record.round)
        return record

    def finish(self) -> FinalRecord:
        """Every path's answer, as written in the round it finished (nothing generated)."""
        answers = [self.final_answers[p.index] for p in self.paths]
        return FinalRecord(self.problem.id, answers)

    def _apply(self, record: RoundRecord) -> None:
        self._start_wave()
        super()._apply(record)
        for row in record.paths:
            if row.finished:
                self.final_answers[row.path] = self._answer_from(row, record.round)

    def _answer_from(self, row: PathRound, r: int) -> PathAnswer:
        """The final answer a path wrote at the end of its last round's row."""
        path = self.paths[row.path]
        segments = [s for s in row.segments if s.kind in _ANSWER_KINDS]
        written = [s for s in segments if s.kind == "answer"]
        answer = PathAnswer(
            path=row.path,
            segments=segments,
            forced=path.finish_reason == "budget",
            finish_reason=path.finish_reason or "budget",
            own_text="",
            answer_tokens=sum(len(s.token_ids) for s in written),
            seed=None if path.finish_reason == "eos" else self.seed(path, r, "answer"),
        )
        answer.own_text = own_text(path.own, answer)
        return answer
