"""Every text the system writes into a path, in this project's own words.

No worked example here comes from a benchmark (AIME, AIMO, GPQA): a test problem inside a
prompt would leak into the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

from leap.benchmarks.problem import CHOICE_LETTERS, Problem

SUMMARY_OPEN = "<summarize>"
SUMMARY_CLOSE = "</summarize>"
PEERS_OPEN = "<peer_summaries>"
PEERS_CLOSE = "</peer_summaries>"
# The forced answer cue ends by opening the box, so the answer the model writes next
# completes it; scoring puts this opener back in front of the model's answer text.
FORCED_ANSWER_OPENER = "\\boxed{"

_MATH_TASK = (
    "Solve the following problem. Reason step by step, and give your final answer "
    "inside \\boxed{{}}.\n\n{question}"
)
_CHOICE_TASK = (
    "Answer the following multiple-choice question. Reason step by step, then give the "
    "letter of the correct option inside \\boxed{{}}, for example \\boxed{{B}}.\n\n"
    "{question}\n\n{options}"
)
_PEER_NOTE = (
    "\n\nOther solvers are working on the same problem in parallel. From time to time you "
    f"will be asked to sum up your progress inside {SUMMARY_OPEN} {SUMMARY_CLOSE}, and you "
    "will be shown their summaries. Use them to catch your own mistakes, but check their "
    "claims before you adopt them."
)

SUMMARY_CUE = (
    "\n\nI will pause here and sum up where my reasoning stands: the approach, the key "
    f"intermediate results, and my current answer if I have one.\n{SUMMARY_OPEN}"
)
PEER_INTRO = "\n\nSummaries from other solvers working on this same problem:\n"
PEER_OUTRO = (
    "\nI will compare their conclusions with mine. Where we disagree, I will recheck the "
    "step where we part ways before I go on.\n\n"
)
NO_PEERS_CUE = (
    "\n\nNo other solver has a summary to share right now, so I will carry on by myself "
    "and double-check my last steps.\n\n"
)


def task_text(problem: Problem, *, mention_peers: bool) -> str:
    """The user message that poses `problem`."""
    if problem.kind == "choice":
        text = _CHOICE_TASK.format(
            question=problem.question, options=format_choices(problem.choices)
        )
    else:
        text = _MATH_TASK.format(question=problem.question)
    return text + (_PEER_NOTE if mention_peers else "")


def format_choices(choices: Sequence[str]) -> str:
    return "\n".join(f"({CHOICE_LETTERS[i]}) {choice}" for i, choice in enumerate(choices))


def peer_block(summaries: Sequence[str]) -> str:
    """The text injected after a summary: the chosen peers' summaries, numbered."""
    if not summaries:
        return NO_PEERS_CUE
    body = "".join(f"Peer {i}: {s.strip()}\n" for i, s in enumerate(summaries, start=1))
    return f"{PEER_INTRO}{PEERS_OPEN}\n{body}{PEERS_CLOSE}{PEER_OUTRO}"


def forced_answer_cue(think_end: str) -> str:
    """Closes the thinking of a path that ran out of budget and opens its answer box."""
    return (
        "\n\nMy reasoning budget is spent, so I have to commit to an answer now.\n"
        f"{think_end}\n\nFinal answer: {FORCED_ANSWER_OPENER}"
    )
