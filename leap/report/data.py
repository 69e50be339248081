"""From stored rows to per-problem results: paths, votes and agreement over rounds.

Score rows (one per problem x path) and agreement rows (one per problem x round, holding
every path's answer at that point) are gathered into `ProblemResult`s, in the order the
problems first appear. Answers are grouped into votes with an `Equivalence`; the default,
`same_text`, compares answers as text with runs of whitespace collapsed. Pass e.g.
``lambda a, b: answers_equivalent(a, b, kind)`` from `leap.scoring.answers` to vote the way Cons@N
is scored. Voting follows `leap.scoring.metrics.majority_answer`: the largest group wins, a tie
goes to the group seen first, and a None answer never votes. `pass_at_k_items` orders the
summary's Pass@k table.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from leap.report.format import text_or_dash
from leap.scoring.metrics import TokenTotals
from leap.scoring.summary import RunSummary, ScoreRow

Equivalence = Callable[[str, str], bool]

# What a path's tokens are made of (the bars of the tokens chart); the run's table shows
# every TokenTotals field.
TOKEN_KINDS: tuple[str, ...] = ("reasoning", "summary", "injected", "answer")
RUN_TOKEN_KINDS: tuple[str, ...] = tuple(f.name for f in fields(TokenTotals))


def same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def vote(answers: Sequence[str | None], equivalent: Equivalence) -> tuple[int | None, int]:
    """(index of the first member of the winning group, size of that group)."""
    groups: list[list[int]] = []  # [index of first member, size]
    for index, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            first = answers[group[0]]
            if first is not None and equivalent(first, answer):
                group[1] += 1
                break
        else:
            groups.append([index, 1])
    if not groups:
        return None, 0
    best = max(groups, key=lambda group: group[1])  # max keeps the earliest of equal sizes
    return best[0], best[1]


def answer_text(value: object) -> str | None:
    return None if value is None else str(value)


@dataclass
class PathResult:
    index: int
    answer: str | None
    correct: bool
    finish_reason: str
    tokens: dict[str, int]  # TOKEN_KINDS -> count
    rounds: int

    @property
    def total(self) -> int:
        return sum(self.tokens.values())


@dataclass
class ProblemResult:
    pid: str
    gold: str | None = None
    paths: list[PathResult] = field(default_factory=list)
    rounds: dict[int, list[str | None]] = field(default_factory=dict)
    failed: bool = False
    majority: str | None = None
    majority_votes: int = 0
    majority_correct: bool | None = None

    @property
    def n_correct(self) -> int:
        return sum(path.correct for path in self.paths)

    @property
    def accuracy(self) -> float | None:
        return self.n_correct / len(self.paths) if self.paths else None

    def final_reference(self, equivalent: Equivalence) -> str | None:
        """The answer round cells are compared with: the final majority, else the last one."""
        if self.majority is not None or not self.rounds:
            return self.majority
        return self.round_majority(max(self.rounds), equivalent)[0]

    def round_majority(self, round_index: int, equivalent: Equivalence) -> tuple[str | None, int]:
        answers = self.rounds[round_index]
        winner, votes = vote(answers, equivalent)
        return (answers[winner] if winner is not None else None), votes


def _problem_id(row: Mapping[str, Any]) -> str:
    return text_or_dash(row.get("problem_id"))


def collect_problems(
    scores: Sequence[ScoreRow],
    agreement: Sequence[Mapping[str, Any]],
    equivalent: Equivalence,
    failed: Collection[str] = (),
) -> list[ProblemResult]:
    """Problems in order of first appearance (scores first, then agreement rows)."""
    problems: dict[str, ProblemResult] = {}
    for row in scores:
        problem = problems.setdefault(row.problem_id, ProblemResult(row.problem_id))
        if problem.gold is None:
            problem.gold = row.gold
        totals = row.tokens
        problem.paths.append(
            PathResult(
                index=row.path,
                answer=row.answer,
                correct=row.correct,
                finish_reason=row.finish_reason,
                tokens={kind: getattr(totals, kind) for kind in TOKEN_KINDS},
                rounds=row.rounds,
            )
        )
    for row in agreement:
        problem = problems.setdefault(_problem_id(row), ProblemResult(_problem_id(row)))
        round_index = row.get("round")
        raw = row.get("answers")
        if not isinstance(round_index, int) or not isinstance(raw, list | tuple):
            continue
        problem.rounds[round_index] = [answer_text(answer) for answer in raw]
    for problem in problems.values():
        problem.paths.sort(key=lambda path: path.index)
        problem.failed = problem.pid in failed
        winner, votes = vote([path.answer for path in problem.paths], equivalent)
        if winner is not None:
            problem.majority = problem.paths[winner].answer
            problem.majority_votes = votes
            problem.majority_correct = problem.paths[winner].correct
    return list(problems.values())


def agreement_curve(
    agreement: Sequence[Mapping[str, Any]], equivalent: Equivalence | None = None
) -> list[dict[str, float | int]]:
    """How far the paths agree after each round, averaged over problems.

    For each problem and round: `agree` is the share of its paths whose answer is in the
    majority group (paths without an answer count as not agreeing) and `answered` is the
    share of paths that have an answer at all. A problem that stopped before a later round
    keeps its last answers (they are final), so every round averages over the same
    problems once they have started. Returns one dict per round, in round order:
    ``{"round", "agree", "answered", "problems"}``.
    """
    same = equivalent or same_text
    return curve_from_problems(collect_problems([], agreement, same), same)


def curve_from_problems(
    problems: Sequence[ProblemResult], equivalent: Equivalence
) -> list[dict[str, float | int]]:
    all_rounds = sorted({r for problem in problems for r in problem.rounds})
    shares: dict[str, dict[int, tuple[float, float]]] = {}
    for problem in problems:
        per_round: dict[int, tuple[float, float]] = {}
        for r, answers in problem.rounds.items():
            if answers:
                votes = problem.round_majority(r, equivalent)[1]
                answered = sum(answer is not None for answer in answers)
                per_round[r] = (votes / len(answers), answered / len(answers))
        shares[problem.pid] = per_round
    curve: list[dict[str, float | int]] = []
    for r in all_rounds:
        values = []
        for per_round in shares.values():
            started = [known for known in per_round if known <= r]
            if started:
                values.append(per_round[max(started)])
        if values:
            curve.append(
                {
                    "round": r,
                    "agree": sum(v[0] for v in values) / len(values),
                    "answered": sum(v[1] for v in values) / len(values),
                    "problems": len(values),
                }
            )
    return curve


@dataclass(frozen=True)
class ProblemGroup:
    """Problems a run did not get right, for one reason; `ids` is None when the summary
    predates the split (it was not recorded)."""

    label: str
    meaning: str
    ids: list[str] | None

    @property
    def count(self) -> int | None:
        return None if self.ids is None else len(self.ids)


def problem_groups(summary: RunSummary) -> list[ProblemGroup]:
    """Errored, wrong and unanswered problems, in that order."""
    return [
        ProblemGroup(
            "errored", "no final answers: the solve failed or never ran", summary.failed_problems
        ),
        ProblemGroup(
            "wrong", "the paths answered, but the majority answer is wrong", summary.wrong_problems
        ),
        ProblemGroup(
            "unanswered",
            "final answers exist, but none holds an answer that could be extracted",
            summary.unanswered_problems,
        ),
    ]


def pass_at_k_items(summary: RunSummary) -> list[tuple[str, float]]:
    """The summary's Pass@k values as (k, value), k ascending; none before any is scored."""
    return sorted((summary.pass_at_k or {}).items(), key=lambda item: int(item[0]))
