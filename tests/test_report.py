"""Tests for leap.report: the self-contained HTML report and the markdown summary."""

from __future__ import annotations

import html
import random
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any

import pytest

from leap.report import agreement_curve, render_report, write_markdown_summary
from leap.report.charts import TOKEN_COLORS
from leap.scoring.influence import InfluenceRow
from leap.scoring.metrics import TokenTotals, majority_answer
from leap.scoring.summary import RunOrigin, RunSummary, ScoreRow

VOID = {"meta", "br", "hr", "img", "input", "link", "col", "wbr", "area", "base", "source"}
ORIGIN = RunOrigin(
    flow_run_id="8d1c2a4e-0000-4000-8000-000000000001",
    flow_run_name="run-1 · smollm2-135m",
    dashboard_url="http://127.0.0.1:4200/runs/flow-run/8d1c2a4e-0000-4000-8000-000000000001",
)
HOSTILE = '</table></td><script>alert("x")</script><img src=x onerror=alert(1)> & "q"'


class TagChecker(HTMLParser):
    """Records every tag and fails on an end tag that does not close the innermost open tag."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> while open: {self.stack[-3:]}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.texts.append(data)


def check_html(page: str) -> TagChecker:
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.errors == []
    assert checker.stack == []
    tags = [tag for tag, _ in checker.starts]
    for required in ("html", "head", "style", "body", "header", "main"):
        assert tags.count(required) == 1, required
    assert re.match(
        r"<!DOCTYPE html>\s*<html[^>]*><head>.*<title>[^<]*</title>.*</head><body>", page, re.S
    )
    return checker


def blank_summary(**values: Any) -> RunSummary:
    """A summary of a run that scored nothing (4 paths), with `values` set."""
    blank: dict[str, Any] = {
        "run_id": "",
        "benchmark": "",
        "method": "",
        "model": "",
        "engine": "",
        "config": {},
        "n_problems": 0,
        "n_scored": 0,
        "n_paths": 4,
        "failed_problems": [],
        "wrong_problems": [],
        "unanswered_problems": [],
        "solve_seconds": 0.0,
        "created_at": "",
        "tokens": TokenTotals(),
    }
    return RunSummary(**(blank | values))


def score(problem_id: str, path: int = 0, **values: Any) -> ScoreRow:
    """A score row with no answer, no tokens and nothing right, except `values`."""
    blank: dict[str, Any] = {
        "answer": None,
        "gold": "",
        "correct": False,
        "finish_reason": "",
        "forced_answer": False,
        "rounds": 0,
        **ScoreRow.token_fields(TokenTotals()),
        "sequence_tokens": 0,
        "sequence_sha256": "",
    }
    return ScoreRow(problem_id=problem_id, path=path, **(blank | values))


def make_run(n_problems: int, n_paths: int, seed: int = 0) -> tuple[RunSummary, list, list]:
    rng = random.Random(seed)
    scores, agreement = [], []
    for p in range(n_problems):
        pid = f"prob-{p:02d}"
        gold = str(p)
        for i in range(n_paths):
            ok = rng.random() < 0.5
            scores.append(
                score(
                    pid,
                    i,
                    answer=gold if ok else rng.choice([None, "7", "8"]),
                    gold=gold,
                    correct=ok,
                    finish_reason="think_end",
                    reasoning_tokens=rng.randint(100, 900),
                    summary_tokens=20,
                    injected_tokens=30,
                    answer_tokens=5,
                    rounds=3,
                )
            )
        for r in range(1, 4):
            answers = [rng.choice([None, gold, "7"]) for _ in range(n_paths)]
            agreement.append({"problem_id": pid, "round": r, "answers": answers})
    summary = blank_summary(
        run_id="run-1",
        benchmark="aime24",
        method="leap",
        model="smollm2-135m",
        config={"n_paths": n_paths, "sampling": {"temperature": 0.6}},
        n_problems=n_problems,
        n_scored=n_problems,
        n_paths=n_paths,
        pass_at_1=0.53333,
        cons_at_n=0.6,
        pass_at_k={"1": 0.53333, "2": 0.7, "4": 0.875},
        tokens=TokenTotals(
            reasoning=123456,
            summary=2000,
            injected=3000,
            answer=400,
            prompt_computed=1000,
            prompt_reused=3000,
        ),
        solve_seconds=3725,
        elapsed_seconds=1805,
        created_at="2026-01-03T10:00:00Z",
    )
    return summary, scores, agreement


def visible_text(page: str) -> str:
    return " ".join(check_html(page).texts)


def chart(page: str, label: str) -> str:
    """The one inline SVG chart named `label` (its aria-label)."""
    found = re.findall(rf'<svg [^>]*aria-label="{re.escape(label)}".*?</svg>', page, re.S)
    assert len(found) == 1, label
    return found[0]


def tooltips(svg: str) -> list[str]:
    """The hover texts of a chart's items (bars, stacks, points), in drawing order."""
    return [html.unescape(text) for text in re.findall(r"<title>(.*?)</title>", svg, re.S)]


def labels(svg: str) -> list[str]:
    """The text drawn in a chart (tick labels, axis names)."""
    return [html.unescape(text) for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def fills(svg: str, color: str) -> int:
    return len(re.findall(rf"fill: {color}\b", svg))


# --------------------------------------------------------------------------- HTML


def test_full_report_is_balanced_and_has_three_charts():
    summary, scores, agreement = make_run(5, 4)
    page = render_report(summary, scores, agreement)
    checker = check_html(page)
    tags = [tag for tag, _ in checker.starts]
    assert tags.count("svg") == 3
    # One accuracy bar per problem and one token stack per path, each with its numbers.
    pids = [f"prob-{p:02d}" for p in range(5)]
    accuracy = chart(page, "Accuracy per problem")
    right = {pid: sum(r.correct for r in scores if r.problem_id == pid) for pid in pids}
    assert tooltips(accuracy) == [
        f"{pid}: {right[pid]}/4 paths correct ({right[pid] / 4 * 100:.1f}%)" for pid in pids
    ]
    assert [text for text in labels(accuracy) if text.startswith("prob-")] == pids
    assert "100%" in labels(accuracy) and "0%" in labels(accuracy)
    tokens = chart(page, "Tokens per path, grouped by problem")
    assert tooltips(tokens) == [
        f"{r.problem_id} · path {r.path}: reasoning {r.reasoning_tokens:,}, summary 20, "
        f"injected 30, answer 5 (total {r.reasoning_tokens + 55:,})"
        for r in scores
    ]
    assert [text for text in labels(tokens) if text.startswith("prob-")] == pids
    assert all(fills(tokens, color) for color in TOKEN_COLORS.values())
    assert page.startswith("<!DOCTYPE html>")


def test_headline_numbers_are_shown():
    summary, scores, agreement = make_run(3, 4)
    text = visible_text(render_report(summary, scores, agreement))
    assert "53.3%" in text  # Pass@1
    assert "60.0%" in text  # Cons@N
    assert "70.0%" in text and "87.5%" in text  # Pass@k table
    assert "Cons@4" in text
    assert "1h 02m 05s" in text  # solve time, summed over problems
    assert "30m 05s" in text  # elapsed
    assert "123,456" in text
    assert "75.0%" in text  # prompt cache reuse 3000 / 4000
    assert "aime24" in text and "smollm2-135m" in text and "run-1" in text
    assert "sampling.temperature" in text  # nested config is flattened


def test_per_problem_table_counts_correct_paths_and_majority():
    scores = [
        score("p1", i, answer=a, gold="42", correct=a == "42")
        for i, a in enumerate(["42", "41", "42", None])
    ]
    page = render_report(blank_summary(), scores, [])
    text = visible_text(page)
    assert "2/4" in text  # correct paths
    assert "(2/4)" in text  # votes for the majority answer "42"
    row = re.search(r'<td class="pid">p1</td>.*?</tr>', page, re.S).group(0)
    assert "<code>42</code>" in row
    assert '<span class="ok">✓</span>' in row


def test_majority_follows_metrics_tie_rule():
    # Tie between "5" and "9": the group that appeared first wins, as in leap.scoring.metrics.
    answers = [None, "9", "5", "5", "9"]
    expected = majority_answer(answers, lambda a, b: a == b)
    assert expected == "9"
    scores = [score("t", i, answer=a, gold="5", correct=a == "5") for i, a in enumerate(answers)]
    page = render_report(blank_summary(), scores, [])
    row = re.search(r'<td class="pid">t</td>.*?</tr>', page, re.S).group(0)
    assert "<code>9</code>" in row
    assert '<span class="bad">✗</span>' in row


def test_custom_equivalence_is_used_for_voting():
    answers = ["0.5", "1/2", "3"]
    scores = [score("q", i, answer=a, gold="1/2", correct=a != "3") for i, a in enumerate(answers)]
    plain = render_report(blank_summary(), scores, [])
    assert "(1/3)" in visible_text(plain)
    halves = {"0.5", "1/2"}
    page = render_report(
        blank_summary(), scores, [], equivalent=lambda a, b: a == b or {a, b} <= halves
    )
    assert "(2/3)" in visible_text(page)


def test_hostile_strings_are_escaped_everywhere():
    summary, scores, agreement = make_run(2, 3)
    summary = summary.model_copy(
        update={
            "run_id": HOSTILE,
            "benchmark": HOSTILE,
            "model": "</title><script>evil()</script>",
            "config": {HOSTILE: HOSTILE},
            "failed_problems": [HOSTILE],
            "wrong_problems": [HOSTILE],
            "dtype": HOSTILE,
            "spec_hash": HOSTILE,
            "versions": {HOSTILE: HOSTILE},
            "origin": RunOrigin(
                flow_run_id=HOSTILE,
                flow_run_name=HOSTILE,
                dashboard_url='http://127.0.0.1/"><script>alert(1)</script>',
            ),
        }
    )
    scores = [replace(row, answer=HOSTILE, gold=HOSTILE, finish_reason=HOSTILE) for row in scores]
    scores[0] = replace(scores[0], problem_id=HOSTILE)
    agreement[0]["answers"][0] = HOSTILE
    agreement[1]["problem_id"] = '"><svg onload=alert(1)>'
    page = render_report(summary, scores, agreement)
    checker = check_html(page)
    tags = {tag for tag, _ in checker.starts}
    assert "script" not in tags and "img" not in tags
    assert "<script" not in page.lower()
    assert "</table></td>" not in page
    assert all("onerror" not in attrs and "onload" not in attrs for _, attrs in checker.starts)
    # The text survives, escaped, and reads back intact.
    assert "&lt;/table&gt;&lt;/td&gt;&lt;script&gt;" in page
    assert HOSTILE in " ".join(checker.texts)
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "&lt;" in title or "&amp;" in title


def test_no_external_references():
    summary, scores, agreement = make_run(4, 3)
    summary = summary.model_copy(update={"model": "https://example.org/model"})  # text only
    page = render_report(summary, scores, agreement)
    checker = check_html(page)
    for tag, attrs in checker.starts:
        assert tag not in {"link", "script", "iframe", "img", "object", "embed", "use", "image"}
        for name in ("src", "href", "xlink:href", "action"):
            assert name not in attrs, (tag, attrs)
    style = re.search(r"<style>(.*?)</style>", page, re.S).group(1)
    assert "url(" not in style and "@import" not in style and "http" not in style
    assert re.findall(r"url\((?!#)", page) == []  # the charts' clip paths are in the page
    assert "xmlns" not in page and "<?xml" not in page
    assert page.count("https://") == 1  # only the escaped model name
    # The one link a page may hold leads to the flow run's dashboard page; nothing loads.
    page = render_report(summary.model_copy(update={"origin": ORIGIN}), scores, agreement)
    links = [(tag, attrs) for tag, attrs in check_html(page).starts if "href" in attrs]
    assert links == [("a", {"href": ORIGIN.dashboard_url})]


def test_the_charts_on_one_page_share_no_id():
    summary, scores, agreement = make_run(4, 3)
    influence = [
        InfluenceRow("prob-00", r, 0, 100 * r, "7", "summary", "0", False, [1], ["0"], False,
                     category, 0)
        for r, category in ((1, "adopted"), (2, "kept"), (3, "moved"))
    ]  # fmt: skip
    page = render_report(summary, scores, agreement, influence=influence)
    checker = check_html(page)
    assert [a["aria-label"] for t, a in checker.starts if t == "svg"] == [
        "Accuracy per problem",
        "Tokens per path, grouped by problem",
        "Agreement among paths by round",
        "Peer influence by token position",
    ]
    ids = [attrs["id"] for _, attrs in checker.starts if "id" in attrs]
    assert len(ids) > 20 and len(ids) == len(set(ids))
    # Every reference a chart makes points at an id of the page.
    assert set(re.findall(r"url\(#([^)]+)\)", page)) <= set(ids)


def test_chart_labels_are_plain_text():
    # A problem id is text: "$" is no mathtext, "<" no markup.
    scores = [score("$x^2$ <b>", 0, correct=True), score("p&q", 0)]
    page = render_report(blank_summary(), scores, [])
    accuracy = chart(page, "Accuracy per problem")
    assert [t for t in labels(accuracy) if "x" in t or "q" in t] == ["$x^2$ <b>", "p&q"]
    assert tooltips(accuracy) == [
        "$x^2$ <b>: 1/1 paths correct (100.0%)",
        "p&q: 0/1 paths correct (0.0%)",
    ]
    assert "$x^2$ <b>" not in page and "$x^2$ &lt;b&gt;" in page


def test_the_report_says_where_the_results_came_from():
    summary, scores, agreement = make_run(2, 4)
    summary = summary.model_copy(
        update={
            "engine": "transformers",
            "dtype": "float32",
            "spec_hash": "0123456789abcdef",
            "versions": {"leap-pipeline": "0.1.0", "torch": "2.13.0", "math-verify": "0.9.0"},
            "origin": ORIGIN,
            "preset": "release",
        }
    )
    page = render_report(summary, scores, agreement)
    text = " ".join(visible_text(page).split())
    assert "Engine: transformers" in text and "dtype: float32" in text
    assert "Preset: release" in text
    assert "preset: **release**" in write_markdown_summary(summary)
    assert "Spec hash: 0123456789abcdef" in text
    assert "versions: leap-pipeline 0.1.0 · torch 2.13.0 · math-verify 0.9.0" in text
    assert f"flow run {ORIGIN.flow_run_name} {ORIGIN.flow_run_id}" in text
    assert f'<a href="{ORIGIN.dashboard_url}">{ORIGIN.flow_run_name}</a>' in page
    # Without a dashboard address the flow run is named, not linked; outside a flow run
    # (`leap report`) there is none.
    bare = ORIGIN.model_copy(update={"dashboard_url": None})
    page = render_report(summary.model_copy(update={"origin": bare}), scores, agreement)
    assert "<a " not in page and ORIGIN.flow_run_id in page
    page = render_report(summary.model_copy(update={"origin": None}), scores, agreement)
    assert "flow run —" in " ".join(visible_text(page).split())


def card(page: str, label: str) -> str:
    found = re.search(
        rf'<div class="label">{re.escape(label)}</div><div class="value">([^<]*)</div>', page
    )
    assert found, label
    return found.group(1)


def test_the_report_splits_problems_not_solved_and_shows_the_answered_rate():
    summary, scores, agreement = make_run(6, 4)
    summary = summary.model_copy(
        update={
            "answered_rate": 0.625,
            "failed_problems": ["prob-99"],
            "wrong_problems": ["prob-01", "prob-03"],
            "unanswered_problems": ["prob-05"],
        }
    )
    page = render_report(summary, scores, agreement)
    assert card(page, "Answered") == "62.5%"
    assert [card(page, label) for label in ("Errored", "Wrong", "Unanswered")] == ["1", "2", "1"]
    assert re.search(r'<div class="card alert"><div class="label">Errored</div>', page)
    section = re.search(r'<section class="failures">(.*?)</section>', page, re.S).group(1)
    assert "Problems not solved (4)" in section
    groups = re.findall(r"<h3>(\w+) \((\d+)\)</h3>.*?<ul>(.*?)</ul>", section, re.S)
    assert [(label, n, re.findall(r"<code>(.*?)</code>", ids)) for label, n, ids in groups] == [
        ("Errored", "1", ["prob-99"]),
        ("Wrong", "2", ["prob-01", "prob-03"]),
        ("Unanswered", "1", ["prob-05"]),
    ]


def test_a_summary_from_before_the_split_shows_unknowns_as_dashes():
    summary, scores, agreement = make_run(2, 2)
    summary = summary.model_copy(
        update={"wrong_problems": None, "unanswered_problems": None, "elapsed_seconds": None}
    )
    page = render_report(summary, scores, agreement)
    assert [card(page, label) for label in ("Errored", "Wrong", "Unanswered")] == ["0", "—", "—"]
    assert card(page, "Elapsed") == "—" and card(page, "Solve time") == "1h 02m 05s"
    assert card(page, "Errored") == "0"
    assert 'class="failures"' not in page


def test_empty_inputs_render():
    page = render_report(blank_summary(), [], [])
    checker = check_html(page)
    text = " ".join(checker.texts)
    assert "—" in text
    assert "No per-path scores" in text
    assert "No per-round answers" in text
    assert "No configuration" in text
    assert "svg" not in {tag for tag, _ in checker.starts}


def test_missing_and_malformed_values_show_a_dash():
    summary = blank_summary(pass_at_1=None, cons_at_n=None, pass_at_k={"2": 0.5})
    scores = [score("only")]  # no answer, not correct, no tokens
    agreement = [{"problem_id": "only", "round": "x", "answers": None}]
    page = render_report(summary, scores, agreement)
    text = visible_text(page)
    assert "Pass@1 —" in " ".join(text.split())
    assert "50.0%" in text
    assert "0/1" in text


def test_single_path_and_none_answers():
    scores = [score("a", gold="1")]
    agreement = [{"problem_id": "a", "round": 0, "answers": [None]}]
    page = render_report(blank_summary(n_paths=1), scores, agreement)
    text = visible_text(page)
    assert "Cons@1" in text
    assert "0/1" in text
    assert "no answer yet" in page


def test_large_run_30_by_8():
    summary, scores, agreement = make_run(30, 8, seed=3)
    summary = summary.model_copy(update={"failed_problems": ["prob-29", "never-scored"]})
    page = render_report(summary, scores, agreement)
    checker = check_html(page)
    assert len(tooltips(chart(page, "Tokens per path, grouped by problem"))) == 240
    assert sum(1 for t, _ in checker.starts if t == "details") == 30
    # One bar per scored problem; only the errored one that was scored is red.
    accuracy = chart(page, "Accuracy per problem")
    bars = tooltips(accuracy)
    assert len(bars) == 30
    assert [bar for bar in bars if "errored" in bar] == [bars[29]]
    assert bars[29].startswith("prob-29: ")
    assert fills(accuracy, "#c53030") == 1
    section = re.search(r'<section class="failures">(.*?)</section>', page, re.S).group(1)
    assert "Problems not solved (2)" in section and "Errored (2)" in section
    assert "never-scored" in section and "prob-29" in section
    assert len(page) < 2_000_000


# --------------------------------------------------------------------------- agreement


def test_agreement_curve_averages_and_carries_final_answers_forward():
    agreement = [
        {"problem_id": "a", "round": 1, "answers": ["1", None, None, None]},
        {"problem_id": "a", "round": 2, "answers": ["1", "1", "2", None]},
        {"problem_id": "a", "round": 3, "answers": ["1", "1", "1", "2"]},
        # Problem b stops after round 1: its answers count again in rounds 2 and 3.
        {"problem_id": "b", "round": 1, "answers": ["5", "5", "5", "5"]},
    ]
    curve = agreement_curve(agreement)
    assert [point["round"] for point in curve] == [1, 2, 3]
    assert [point["problems"] for point in curve] == [2, 2, 2]
    assert curve[0]["agree"] == pytest.approx((0.25 + 1.0) / 2)
    assert curve[0]["answered"] == pytest.approx((0.25 + 1.0) / 2)
    assert curve[1]["agree"] == pytest.approx((0.5 + 1.0) / 2)
    assert curve[1]["answered"] == pytest.approx((0.75 + 1.0) / 2)
    assert curve[2]["agree"] == pytest.approx((0.75 + 1.0) / 2)


def test_agreement_chart_and_heatmap_show_values():
    agreement = [
        {"problem_id": "a", "round": 1, "answers": ["1", None]},
        {"problem_id": "a", "round": 2, "answers": ["1", "1"]},
    ]
    page = render_report(blank_summary(), [], agreement)
    checker = check_html(page)
    assert sum(1 for t, _ in checker.starts if t == "svg") == 1
    svg = chart(page, "Agreement among paths by round")
    # Two lines (agreeing, answered), each through one point per round.
    for line in ("agree", "answered"):
        drawn = re.search(rf'<g id="agr-{line}">\s*<path d="([^"]*)"', svg).group(1)
        assert drawn.count("M") == 1 and drawn.count("L") == 1, line
    assert tooltips(svg) == [
        "round 1: 50.0% agree with the majority, 50.0% have an answer (1 problems)",
        "round 2: 100.0% agree with the majority, 100.0% have an answer (1 problems)",
    ]
    assert {"1", "2", "round", "0%", "100%"} <= set(labels(svg))
    heat = re.search(r'<table class="heatmap">.*?</table>', page, re.S).group(0)
    assert ">1/2</td>" in heat and ">2/2</td>" in heat


def test_empty_agreement_curve():
    assert agreement_curve([]) == []


# --------------------------------------------------------------------------- markdown


def test_markdown_without_previous_has_no_delta_column():
    summary, _, _ = make_run(1, 4)
    text = write_markdown_summary(summary)
    assert "| Pass@1 | 53.3% |" in text
    assert "| Cons@4 | 60.0% |" in text
    assert "| Pass@2 | 70.0% |" in text
    assert "| Pass@1 | 53.3% |" in text and text.count("Pass@1") == 1
    assert "Δ" not in text and "pts" not in text
    assert "| reasoning | 123,456 |" in text
    assert (
        "**Elapsed:** 30m 05s · **solve time** (each problem's own, added up): 1h 02m 05s" in text
    )
    assert "**Problems not solved:** 0 errored · 0 wrong · 0 unanswered" in text


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (0.531, 0.5, "+3.1 pts"),
        (0.5, 0.531, "-3.1 pts"),
        (0.5, 0.5, "0.0 pts"),
        (0.50049, 0.5, "0.0 pts"),
        (0.4996, 0.5, "0.0 pts"),
        (0.55, 0.5, "+5.0 pts"),
        (0.12345, 0.1, "+2.3 pts"),
        (0.12355, 0.1, "+2.4 pts"),  # half rounds away from zero
        (0.1, 0.12355, "-2.4 pts"),
        (1.0, 0.0, "+100.0 pts"),
    ],
)
def test_markdown_deltas(current, previous, expected):
    text = write_markdown_summary(
        blank_summary(pass_at_1=current, cons_at_n=current, n_paths=8),
        blank_summary(run_id="old-run", pass_at_1=previous, cons_at_n=previous),
    )
    lines = text.splitlines()
    pass_row = next(line for line in lines if line.startswith("| Pass@1 |"))
    cons_row = next(line for line in lines if line.startswith("| Cons@8 |"))
    assert pass_row.endswith(f"| {expected} |")
    assert cons_row.endswith(f"| {expected} |")
    assert "Δ vs old-run" in text


def test_markdown_delta_missing_side_is_a_dash():
    text = write_markdown_summary(blank_summary(pass_at_1=0.5), blank_summary(cons_at_n=0.4))
    lines = text.splitlines()
    assert next(line for line in lines if line.startswith("| Pass@1 |")).endswith("| — |")
    assert next(line for line in lines if line.startswith("| Cons@4 |")) == "| Cons@4 | — | — |"


def test_markdown_lists_failures_and_escapes_markup():
    summary = blank_summary(
        run_id="a|b<script>",
        failed_problems=["p_1", "p|2"],
        unanswered_problems=["p*3"],
        solve_seconds=42.0,
    )
    text = write_markdown_summary(summary)
    assert "**Problems not solved:** 2 errored · 0 wrong · 1 unanswered" in text
    assert "- Errored (no final answers: the solve failed or never ran): p\\_1, p\\|2" in text
    assert "extracted): p\\*3" in text
    assert "a\\|b\\<script\\>" in text
    assert "<script>" not in text
    assert "solve time** (each problem's own, added up): 42.0 s" in text
    # Every table row still has the same number of cells.
    for line in text.splitlines():
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 3


def test_markdown_of_empty_summary():
    text = write_markdown_summary(blank_summary())
    assert "| Pass@1 | — |" in text
    assert "| Cons@4 | — |" in text
    assert "**Elapsed:** — · **solve time** (each problem's own, added up): 0.0 s" in text


@pytest.mark.slow  # headless Chromium
def test_the_report_renders_in_chromium_without_a_network(tmp_path):
    from helpers import chromium_dom

    summary, scores, agreement = make_run(4, 3)
    influence = [
        InfluenceRow("prob-00", r, 0, 100 * r, "7", "summary", "0", False, [1], ["0"], False,
                     category, 0)
        for r, category in ((1, "adopted"), (2, "kept"), (3, "moved"))
    ]  # fmt: skip
    page = tmp_path / "report.html"
    page.write_text(render_report(summary, scores, agreement, influence=influence))
    dom = chromium_dom(page, tmp_path / "profile")
    assert dom.count("<svg") == 4  # the four charts were parsed and kept
    assert "Peer influence by token position" in dom and "prob-03" in dom
