"""Run metrics: Pass@k, Pass@1, Cons@N (majority vote) and token accounting."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields

from leap.algorithm.records import PathAnswer, PathRound

Equivalence = Callable[[str, str], bool]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased Pass@k for one problem with `n` sampled paths of which `c` are correct.

    Equals ``1 - C(n - c, k) / C(n, k)``: the chance that k paths drawn without replacement
    include at least one correct one. The ratio of binomials is evaluated as the product
    ``prod_{i = n - c + 1}^{n} (1 - k / i)``, which never forms huge integers.
    """
    if n < 1:
        raise ValueError(f"pass@k needs at least one path, got n={n}")
    if not 0 <= c <= n:
        raise ValueError(f"the number of correct paths must be within 0..{n}, got c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be within 1..n={n}, got k={k}")
    if n - c < k:
        return 1.0  # every draw of k paths contains a correct one
    all_wrong = 1.0
    for i in range(n - c + 1, n + 1):
        all_wrong *= 1.0 - k / i
    return 1.0 - all_wrong


def _require_problems(correct: Sequence[Sequence[bool]]) -> None:
    if not correct:
        raise ValueError("cannot average a metric over zero problems")


def mean_pass_at_k(correct: Sequence[Sequence[bool]], k: int) -> float:
    """Mean Pass@k over problems; `correct[p][i]` says whether path i of problem p is right."""
    _require_problems(correct)
    total = sum(pass_at_k(len(paths), sum(map(bool, paths)), k) for paths in correct)
    return total / len(correct)


def pass_at_1(correct: Sequence[Sequence[bool]]) -> float:
    """Mean over problems of the fraction of correct paths."""
    _require_problems(correct)
    if any(len(paths) == 0 for paths in correct):
        raise ValueError("pass@1 needs at least one path per problem")
    return sum(sum(map(bool, paths)) / len(paths) for paths in correct) / len(correct)


def majority_answer(answers: Sequence[str | None], equivalent: Equivalence) -> str | None:
    """The answer given by the largest group of equivalent answers, or None if none.

    Paths are visited in index order; each answer joins the first group whose first member
    it is equivalent to (``equivalent(first_member, answer)``), otherwise it opens a new
    group. None answers are ignored. The largest group wins; between groups of equal size,
    the one whose first member has the lowest path index wins. The winning group's first
    member is returned.
    """
    groups: list[tuple[str, int]] = []  # (first member, size), in order of first appearance
    for answer in answers:
        if answer is None:
            continue
        for position, (first, size) in enumerate(groups):
            if equivalent(first, answer):
                groups[position] = (first, size + 1)
                break
        else:
            groups.append((answer, 1))
    if not groups:
        return None
    # max() keeps the first of equal maxima, i.e. the earliest group.
    return max(groups, key=lambda group: group[1])[0]


def cons_correct(
    answers: Sequence[str | None], is_correct: Callable[[str], bool], equivalent: Equivalence
) -> bool:
    """True when the majority answer of one problem's paths exists and is correct."""
    winner = majority_answer(answers, equivalent)
    return winner is not None and is_correct(winner)


def cons_at_n(
    problems: Sequence[tuple[Sequence[str | None], Callable[[str], bool]]],
    equivalent: Equivalence,
) -> float:
    """Cons@N: fraction of problems whose majority answer is correct.

    Each item is ``(answers of the N paths, check for one answer)``.
    """
    if not problems:
        raise ValueError("cannot average a metric over zero problems")
    hits = sum(cons_correct(answers, check, equivalent) for answers, check in problems)
    return hits / len(problems)


@dataclass
class TokenTotals:
    """Token counts of a path, a problem or a run; add them up with ``+`` or ``sum()``.

    - reasoning: tokens the model generated while reasoning;
    - summary: tokens the model generated inside summaries;
    - injected: tokens the system appended (cues, peer blocks);
    - answer: tokens generated for the final answer;
    - inherited: tokens of a beginning taken from another run's path (not generated here);
    - prompt_computed: prompt/context tokens the engine had to prefill;
    - prompt_reused: prompt/context tokens served from a cache instead.
    """

    reasoning: int = 0
    summary: int = 0
    injected: int = 0
    answer: int = 0
    prompt_computed: int = 0
    prompt_reused: int = 0
    inherited: int = 0

    @classmethod
    def of_path(cls, rounds: Sequence[PathRound], answer: PathAnswer | None = None) -> TokenTotals:
        """One path's totals from its stored rows: its `PathRound` of every round so far, in
        round order, and its final answer if it has one.

        Reasoning, summary and injected counts are cumulative in each row, so the last row
        holds them; the prompt figures are per round (and per answer) and add up.
        """
        last = rounds[-1] if rounds else None
        totals = cls(
            reasoning=last.reasoning_tokens if last else 0,
            summary=last.summary_tokens if last else 0,
            injected=last.injected_tokens if last else 0,
            inherited=sum(
                len(s.token_ids) for row in rounds for s in row.segments if s.kind == "beginning"
            ),
            prompt_computed=sum(row.prompt_computed for row in rounds),
            prompt_reused=sum(row.prompt_reused for row in rounds),
        )
        if answer is None:  # a path that answers inside its rounds (moa's earlier layers)
            written = [s for row in rounds for s in row.segments if s.kind == "answer"]
            totals += cls(answer=sum(len(s.token_ids) for s in written))
        if answer is not None:
            totals += cls(
                answer=answer.answer_tokens,
                prompt_computed=answer.prompt_computed,
                prompt_reused=answer.prompt_reused,
            )
        return totals

    def __add__(self, other: object) -> TokenTotals:
        if not isinstance(other, TokenTotals):
            return NotImplemented
        return TokenTotals(
            **{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)}
        )

    def __radd__(self, other: object) -> TokenTotals:
        if other == 0:  # lets sum() start from its default 0
            return TokenTotals(**asdict(self))
        return NotImplemented

    @property
    def generated(self) -> int:
        """All tokens the model wrote: reasoning, summaries and answers."""
        return self.reasoning + self.summary + self.answer

    def to_dict(self) -> dict[str, int]:
        """Plain field -> count mapping (for Parquet rows and JSON reports)."""
        return asdict(self)
