"""LeaP-S, the original release's single-communication design: N groups of M paths talk
once, then one path per group goes on alone.

`config.n_paths` (N) groups of `config.group_size` (M) paths start; group g holds paths
g*M .. g*M+M-1, all on the same prompt (which tells them peers exist) with their own seeds.

- Round 0: every path reasons up to `config.communication_tokens` tokens (one engine call
  for all of them), its unfinished last paragraph trimmed as before any LeaP block. Then
  ONE LeaP block inside each group: the group's unfinished members summarize, and each is
  shown up to `top_k` summaries of the others of its group (never of another group; the
  router draws with the group's own seed).
- Then one path per group is kept and continues alone, without communication, in rounds
  of `tokens_per_round` tokens up to `max_tokens`. The others are dropped: they appear in
  no later round and in no final answer, and keep the state they had after round 0. So
  the N final answers are independent samples that each learnt from M-1 peers once.

Which path is kept (`kept_paths`): in each group, the first member still unfinished after
round 0, or the first member when all of them finished. Members are exchangeable (same
prompt, independent seeds), so taking them by index adds no preference of its own; what
the rule does look at is the finished flag, because a member that ended its thinking
before the communication never read a peer, and keeping it would make that output an
independent sample instead of a LeaP-S one. It never looks at the text, a summary or a
length, which would select paths by their content. The cost: a path that finishes within
`communication_tokens` is kept only when its whole group did, so when early finishers
are more (or less) often right, the kept outputs differ from "always the first member"
(the release's choice). With `communication_tokens` far below the usual length of a
solution this rarely happens; the round-0 record shows every case.

What it stores, in the shared schema: round 0 has a row for each of the N*M paths
(prompt, beginning, reasoning, discarded paragraph, cue, summary, peers; `peers` are path
indices of the same group); each later round has a row for each kept path still
reasoning; the FinalRecord has the N kept paths' answers. The kept set is recomputed from
the round-0 record alone (its finished flags), so a resumed run knows it.
"""

from __future__ import annotations

from collections.abc import Sequence

from leap.algorithm import prompts
from leap.algorithm.config import LeapConfig
from leap.algorithm.records import FinalRecord, RoundRecord
from leap.benchmarks.problem import Problem
from leap.engines.base import Engine
from leap.methods.base import Beginnings, PathState, RoundPolicy

__all__ = ["LeapS", "kept_paths"]


def kept_paths(first_round: RoundRecord, groups: int, group_size: int) -> list[int]:
    """The path kept in each group, read off the round-0 record: the first member still
    unfinished after round 0, else the group's first member."""
    finished = {row.path: row.finished for row in first_round.paths}
    kept = []
    for g in range(groups):
        members = range(g * group_size, (g + 1) * group_size)
        kept.append(next((i for i in members if not finished[i]), members[0]))
    return kept


class LeapS(RoundPolicy):
    """Solves one problem with `config.n_paths` groups of `config.group_size` paths."""

    def __init__(
        self,
        engine: Engine,
        config: LeapConfig,
        problem: Problem,
        *,
        cache_prefix: str | None = None,
        records: Sequence[RoundRecord] = (),
        beginnings: Beginnings | None = None,
    ) -> None:
        # The path kept in each group, once round 0 is over (set before the base replays
        # `records`).
        self.kept: list[int] | None = None
        super().__init__(
            engine,
            config,
            problem,
            cache_prefix=cache_prefix,
            records=records,
            beginnings=beginnings,
        )

    def starting_paths(self) -> int:
        return self.config.n_paths * self.config.group_size

    def task_text(self) -> str:
        return prompts.task_text(self.problem, mention_peers=True)

    def communicates_after(self, round_index: int) -> bool:
        return round_index == 0

    def group(self, g: int) -> list[PathState]:
        """The M paths of group `g`."""
        m = self.config.group_size
        return self.paths[g * m : (g + 1) * m]

    @property
    def done(self) -> bool:
        return self.kept is not None and all(self.paths[i].finished for i in self.kept)

    def step(self) -> RoundRecord:
        """Round 0: reason, then one LeaP block per group. Later: the kept paths reason."""
        r = self.next_round
        started = self.clock()
        if self.kept is None:
            active = list(self.paths)
        else:
            active = [self.paths[i] for i in self.kept if not self.paths[i].finished]
        rows = self.new_rows(active)
        opened = self.reason(active, r, rows)
        generated_at = self.clock()
        if self.communicates_after(r) and self.config.top_k > 0:
            for g in range(self.config.n_paths):
                still = [p for p in self.group(g) if not p.finished]
                if still:
                    self.communicate(still, r, rows, opened, group=g)
        record = self.round_record(r, active, rows, (started, generated_at, self.clock()))
        self.next_round += 1
        if r == 0:
            self.kept = kept_paths(record, self.config.n_paths, self.config.group_size)
        return record

    def finish(self) -> FinalRecord:
        """The kept paths' final answers, one per group."""
        if self.kept is None:
            raise RuntimeError("leap-s has no final answers before its round 0 has run")
        started = self.clock()
        answers = self.answers([self.paths[i] for i in self.kept], self.next_round)
        return FinalRecord(self.problem.id, answers, wall_seconds=self.clock() - started)

    def round_tokens(self, round_index: int) -> int:
        if round_index == 0:
            return self.config.communication_tokens
        return self.config.tokens_per_round

    def _apply(self, record: RoundRecord) -> None:
        super()._apply(record)
        if record.round == 0:
            self.kept = kept_paths(record, self.config.n_paths, self.config.group_size)
