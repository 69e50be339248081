"""A peer group: N reasoning paths of one problem that learn from each other (LeaP).

Round r: every active path reasons for up to T more tokens (one engine call for all of
them). Then, when the schedule says so, each still-active path summarizes its progress,
a router picks for it the top-k summaries of its active peers, and those are injected
into its context. Finished paths leave the pool. When no path is active, paths that ended
their thinking write a final answer, and paths that ran out of budget are made to commit
to one.

One class serves five methods, which differ only in prompt and schedule: `leap`
(communicate after every round), `single` (only at listed token positions), `leap-t`
(plain prompt; a round also ends when the model opens `<summarize>` itself),
`independent` (never) and `self-correct` (never, with a prompt that invites the model to
start over when it believes its reasoning went wrong).
"""

from __future__ import annotations

from leap.algorithm import prompts
from leap.algorithm.records import FinalRecord, RoundRecord
from leap.methods.base import RoundPolicy, own_text

__all__ = ["PeerGroup", "own_text"]


class PeerGroup(RoundPolicy):
    """Solves one problem with `config.n_paths` paths on `engine`."""

    def task_text(self) -> str:
        method = self.config.method
        text = prompts.task_text(self.problem, mention_peers=method in ("leap", "single"))
        return text + (prompts.SELF_CORRECT_NOTE if method == "self-correct" else "")

    def communicates_after(self, round_index: int) -> bool:
        return self.config.communicates_after(round_index)

    def reasoning_stops(self) -> tuple[str, ...]:
        if self.config.method == "leap-t":
            return (self.config.think_end, prompts.SUMMARY_OPEN)
        return (self.config.think_end,)

    def step(self) -> RoundRecord:
        """Run one round: generate, then (if scheduled) summarize, route and inject."""
        r = self.next_round
        started = self.clock()
        active = [p for p in self.paths if not p.finished]
        rows = self.new_rows(active)
        opened = self.reason(active, r, rows)
        generated_at = self.clock()
        still = [p for p in active if not p.finished]
        if still and self.config.top_k > 0 and self.communicates_after(r):
            self.communicate(still, r, rows, opened)
        record = self.round_record(r, active, rows, (started, generated_at, self.clock()))
        self.next_round += 1
        return record

    def finish(self) -> FinalRecord:
        """Final answers: after the thinking marker, or forced for paths out of budget."""
        started = self.clock()
        answers = self.answers(self.paths, self.next_round)
        return FinalRecord(self.problem.id, answers, wall_seconds=self.clock() - started)
