"""Every text the system writes into a path, in this project's own words.

No worked example here comes from a benchmark (AIME, AIMO, GPQA): a test problem inside a
prompt would leak into the evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

from leap.benchmarks.problem import CHOICE_LETTERS, Problem

SUMMARY_OPEN = "<summarize>"
SUMMARY_CLOSE = "</summarize>"
# How a LeaP-T path opens a summary by itself (in SFT examples, in place of SUMMARY_CUE).
SUMMARY_SELF_OPEN = "\n\n" + SUMMARY_OPEN
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
# The release's wording puts the peers' summaries inside <comment> tags: the format its
# LeaP-T models were trained on (`peer_format: release`). The sentences are ours.
COMMENT_OPEN = "<comment>"
COMMENT_CLOSE = "</comment>"
RELEASE_PEER_INTRO = "\n\nHere is what other solvers of this problem have found so far:\n"
RELEASE_PEER_OUTRO = "\nLet me weigh these against my own work before I continue.\n\n"
SELF_CORRECT_NOTE = (
    "\n\nIf at some point you believe your reasoning so far has gone wrong, say so, set it "
    "aside, and start over from the beginning with a fresh approach."
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


def peer_block(summaries: Sequence[str], style: str = "ours") -> str:
    """The text injected after a summary: the chosen peers' summaries, numbered, in our
    format or (`style="release"`) in the release's <comment> format."""
    if not summaries:
        return NO_PEERS_CUE
    body = "".join(f"Peer {i}: {s.strip()}\n" for i, s in enumerate(summaries, start=1))
    if style == "release":
        return f"{RELEASE_PEER_INTRO}{COMMENT_OPEN}\n{body}{COMMENT_CLOSE}{RELEASE_PEER_OUTRO}"
    return f"{PEER_INTRO}{PEERS_OPEN}\n{body}{PEERS_CLOSE}{PEER_OUTRO}"


def forced_answer_cue(think_end: str) -> str:
    """Closes the thinking of a path that ran out of budget and opens its answer box."""
    return (
        "\n\nMy reasoning budget is spent, so I have to commit to an answer now.\n"
        f"{think_end}\n\nFinal answer: {FORCED_ANSWER_OPENER}"
    )


# Mixture of agents (`moa`): every layer after the first reads the final answers of the
# layer before it inside its own prompt; the last layer's one agent settles the answer.
MOA_NO_ANSWER = "(no answer)"
_MOA_INTRO = (
    "\n\nOther solvers have already tried this problem on their own. Below is the final "
    "answer each of them wrote. Some of them may well be wrong.\n\n"
)
_MOA_AGENT_ASK = (
    "\n\nDo not take any of these on trust, and do not just side with the majority: check "
    "the claims yourself, work out where and why they disagree, then solve the problem "
    "and give your own final answer inside \\boxed{}."
)
_MOA_AGGREGATOR_ASK = (
    "\n\nYours is the answer that will be kept. Weigh each of these critically, redo any "
    "step they disagree on, and give the one final answer you judge correct inside "
    "\\boxed{}, even if none of them reached it."
)


def moa_answers_block(answers: Sequence[str]) -> str:
    """The previous layer's answers, numbered as solvers, each on its own paragraph."""
    return "\n\n".join(
        f"Solver {i}: {a.strip() or MOA_NO_ANSWER}" for i, a in enumerate(answers, start=1)
    )


def moa_task_text(problem: Problem, previous_answers: Sequence[str]) -> str:
    """The user message of a `moa` agent after the first layer."""
    block = moa_answers_block(previous_answers)
    return task_text(problem, mention_peers=False) + _MOA_INTRO + block + _MOA_AGENT_ASK


def moa_aggregator_text(problem: Problem, previous_answers: Sequence[str]) -> str:
    """The user message of the `moa` aggregator, the one agent of the last layer."""
    block = moa_answers_block(previous_answers)
    return task_text(problem, mention_peers=False) + _MOA_INTRO + block + _MOA_AGGREGATOR_ASK
