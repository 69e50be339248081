"""Loading benchmarks: public shapes, file: formats, validation, cache and the hub fallback."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leap.benchmarks import (
    BenchmarkInfo,
    LoadOptions,
    benchmark_names,
    list_benchmarks,
    load_benchmark,
    load_benchmark_with_report,
)
from leap.errors import LeapError

FIXTURES = Path(__file__).parent / "data" / "benchmarks"


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network, no user cache, no user data dir."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("LEAP_HOME", str(tmp_path / "leap-home"))
    monkeypatch.delenv("LEAP_DATA_DIR", raising=False)
    return tmp_path / "leap-home"


def write_json(path: Path, rows: object) -> str:
    path.write_text(json.dumps(rows), encoding="utf-8")
    return str(path)


# --- the public shapes, from the fixture copies -------------------------------------------


@pytest.mark.parametrize(
    ("name", "count", "first_id", "first_answer"),
    [
        ("aime24", 4, "2024-I-1", "12"),
        ("aime25", 3, "I-1", "33"),
        ("aimo25", 3, "a1b2c3", "9"),
        ("gpqa-diamond", 12, "gpqa-1", None),
    ],
)
def test_public_benchmarks_load_from_a_local_folder(name, count, first_id, first_answer):
    problems = load_benchmark(name, LoadOptions(local_path=str(FIXTURES)))
    assert len(problems) == count
    assert problems[0].id == first_id
    if first_answer is not None:
        assert problems[0].answer == first_answer
        assert all(p.kind == "math" and p.choices == () for p in problems)


def test_aime24_ids_come_from_contest_fields_and_answers_are_strings():
    problems = load_benchmark("aime24", LoadOptions(local_path=str(FIXTURES)))
    assert [p.id for p in problems] == ["2024-I-1", "2024-I-2", "2024-II-1", "2024-II-2"]
    assert problems[0].metadata["year"] == 2024
    assert "\\" not in problems[0].answer and "$" in problems[0].question


def test_aimo_integer_answers_become_strings():
    problems = load_benchmark("aimo25", LoadOptions(local_path=str(FIXTURES / "aimo.json")))
    assert [p.answer for p in problems] == ["9", "13", "300"]


def test_gpqa_question_is_the_problem_only_and_domain_is_kept():
    problem = load_benchmark("gpqa-diamond", LoadOptions(local_path=str(FIXTURES)))[0]
    assert problem.question == "What is the chemical symbol for sodium?"
    assert sorted(problem.choices) == sorted(["Na", "So", "Sd", "N"])
    assert problem.choices["ABCD".index(problem.answer)] == "Na"
    assert problem.metadata["domain"] == "Chemistry"


def test_leap_data_dir_supplies_the_reference_file(monkeypatch):
    monkeypatch.setenv("LEAP_DATA_DIR", str(FIXTURES))
    loaded = load_benchmark_with_report("aime25")
    assert len(loaded.problems) == 3
    assert loaded.report.source == str(FIXTURES / "aime_2025.json")


def test_missing_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(LeapError, match="does not exist"):
        load_benchmark("aime24", LoadOptions(local_path=str(tmp_path / "nope.json")))


def test_limit_keeps_the_first_problems():
    problems = load_benchmark("aime24", LoadOptions(local_path=str(FIXTURES), limit=2))
    assert [p.id for p in problems] == ["2024-I-1", "2024-I-2"]


# --- registry -------------------------------------------------------------------------


def test_registry_lists_every_declared_benchmark():
    assert benchmark_names() == ["aime24", "aime25", "aimo25", "gpqa-diamond", "smoke"]
    infos = {info.name: info for info in list_benchmarks()}
    assert all(isinstance(info, BenchmarkInfo) for info in infos.values())
    assert infos["gpqa-diamond"].kind == "choice" and infos["gpqa-diamond"].size == 198
    assert infos["aime24"].size == 30 and "HuggingFaceH4/aime_2024@" in infos["aime24"].source
    assert "Idavidrein/gpqa@" in infos["gpqa-diamond"].source
    assert infos["smoke"].size == 8 and "generated" in infos["smoke"].source


def test_unknown_benchmark_names_the_known_ones():
    with pytest.raises(LeapError) as error:
        load_benchmark("aime23")
    message = str(error.value)
    assert "aime23" in message
    for name in benchmark_names():
        assert name in message


def test_kind_cannot_be_changed_for_a_declared_benchmark():
    with pytest.raises(LeapError, match="file: benchmarks"):
        load_benchmark("aime24", LoadOptions(local_path=str(FIXTURES), kind="choice"))


# --- file: formats and column mapping --------------------------------------------------

MAPPED_ROWS = [
    {"key": "q1", "prompt": "What is $2+2$?", "gold": 4},
    {"key": "q2", "prompt": "What is $3 \\cdot 3$?", "gold": "9"},
]


def _write(fmt: str, path: Path, rows: list[dict]) -> Path:
    if fmt == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif fmt == "json-data":
        path.write_text(json.dumps({"data": rows}), encoding="utf-8")
    elif fmt == "jsonl":
        path.write_text("\n".join(json.dumps(row) for row in rows) + "\n\n", encoding="utf-8")
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist([{**r, "gold": str(r["gold"])} for r in rows]), path)
    return path


@pytest.mark.parametrize(
    ("fmt", "suffix"),
    [("json", ".json"), ("json-data", ".json"), ("jsonl", ".jsonl"), ("parquet", ".parquet")],
)
def test_file_benchmarks_with_a_column_mapping(tmp_path, fmt, suffix):
    path = _write(fmt, tmp_path / f"rows{suffix}", MAPPED_ROWS)
    options = LoadOptions(question_field="prompt", answer_field="gold", id_field="key")
    problems = load_benchmark(f"file:{path}", options)
    assert [(p.id, p.question, p.answer, p.kind) for p in problems] == [
        ("q1", "What is $2+2$?", "4", "math"),
        ("q2", "What is $3 \\cdot 3$?", "9", "math"),
    ]


def test_file_benchmark_csv_with_default_columns(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("question,answer\nWhat is 1+1?,2\nWhat is 5-3?,2\n", encoding="utf-8")
    problems = load_benchmark(f"file:{path}")
    assert [p.id for p in problems] == ["row-1", "row-2"]
    assert problems[1].question == "What is 5-3?"


def test_file_choice_benchmark_accepts_letter_or_option_text(tmp_path):
    rows = [
        {"q": "Pick the even number.", "opts": ["3", "8", "5"], "a": "B"},
        {"q": "Pick the vowel.", "opts": {"A": "k", "B": "e"}, "a": "e"},
    ]
    path = write_json(tmp_path / "mc.json", rows)
    options = LoadOptions(question_field="q", answer_field="a", choices_field="opts")
    problems = load_benchmark(f"file:{path}", options)
    assert [(p.kind, p.answer, p.choices) for p in problems] == [
        ("choice", "B", ("3", "8", "5")),
        ("choice", "B", ("k", "e")),
    ]


def test_file_choice_benchmark_keeps_order_unless_asked_to_shuffle():
    path = FIXTURES / "gpqa_diamond.json"
    kept = load_benchmark(f"file:{path}", LoadOptions(kind="choice"))
    assert {p.answer for p in kept} == {"A"}
    shuffled = load_benchmark(f"file:{path}", LoadOptions(kind="choice", shuffle_choices=True))
    assert {p.answer for p in shuffled} != {"A"}


@pytest.mark.parametrize(
    ("content", "suffix", "match"),
    [
        ("{not json", ".json", "not valid JSON"),
        ('{"rows": []}', ".json", "list of objects"),
        ('{"question": "a", "answer": "1"}\nnot json\n', ".jsonl", "line 2"),
        ("question\tanswer\n", ".tsv", "unsupported type"),
        ("not parquet", ".parquet", "Parquet"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, content, suffix, match):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LeapError, match=match):
        load_benchmark(f"file:{path}")


def test_file_benchmark_needs_an_existing_path(tmp_path):
    with pytest.raises(LeapError, match="does not exist"):
        load_benchmark(f"file:{tmp_path / 'missing.jsonl'}")


# --- validation -------------------------------------------------------------------------

GOOD = {"id": "p1", "question": "What is 1+1?", "answer": "2"}


def pick(**fields: object) -> dict:
    return {"id": "p2", "question": "Pick one.", **fields}


@pytest.mark.parametrize(
    ("bad_row", "kind", "field", "reason"),
    [
        ({"id": "p2", "answer": "3"}, "math", "'question' or 'problem'", "missing"),
        ({"id": "p2", "question": "  ", "answer": "3"}, "math", "'question' or 'problem'", "empty"),
        ({"id": "p2", "question": "What is 1+2?"}, "math", "'answer'", "missing"),
        ({"id": "p2", "question": "Why?", "answer": None}, "math", "'answer'", "missing"),
        ({"id": "p1", "question": "What is 1+2?", "answer": "3"}, "math", "'id'", "repeats"),
        ({"id": "a/b", "question": "What is 1+2?", "answer": "3"}, "math", "'id'", "slashes"),
        ("just a string", "math", "(row)", "not an object"),
        (pick(choices=["x", "y"], answer="C"), "choice", "'answer'", "not among the choices"),
        (pick(choices=["x", "y"], answer="z"), "choice", "'answer'", "not among the choices"),
        (pick(choices=["x"], answer="A"), "choice", "'choices'", "2 to 10 options"),
        (pick(choices="x or y", answer="A"), "choice", "'choices'", "does not look like"),
        (pick(answer="A"), "choice", "'choices' or 'options'", "no choices"),
    ],
)
def test_invalid_rows_name_file_row_and_field(tmp_path, bad_row, kind, field, reason):
    good = dict(GOOD, choices=["x", "y"], answer="A") if kind == "choice" else GOOD
    path = write_json(tmp_path / "problems.json", [good, bad_row])
    with pytest.raises(LeapError) as error:
        load_benchmark(f"file:{path}", LoadOptions(kind=kind))
    message = str(error.value)
    assert message.startswith(f"{path} row 2: field {field} ")
    assert reason in message


def test_duplicate_id_error_names_the_first_row(tmp_path):
    rows = [GOOD, dict(GOOD, id="p2"), dict(GOOD, question="Again?")]
    path = write_json(tmp_path / "dup.json", rows)
    with pytest.raises(LeapError, match=r"row 3: field 'id' repeats id 'p1' already used by row 1"):
        load_benchmark(f"file:{path}")


def test_skip_invalid_skips_and_counts_rows(tmp_path, caplog):
    rows = [
        GOOD,
        {"id": "p2", "question": "No answer"},
        dict(GOOD, question="Dup id"),
        {
            "id": "p3",
            "question": "What is 2+2?",
            "answer": 4,
        },
    ]
    path = write_json(tmp_path / "mixed.json", rows)
    with caplog.at_level(logging.WARNING, logger="leap"):
        loaded = load_benchmark_with_report(f"file:{path}", LoadOptions(skip_invalid=True))
    assert [p.id for p in loaded.problems] == ["p1", "p3"]
    assert loaded.report.skipped == 2 and loaded.report.problems == 2
    assert f"skipped 2 invalid rows of {path}" in caplog.text
    assert "row 2" in caplog.text and "row 3" in caplog.text


def test_gpqa_options_that_are_code_fail_validation(tmp_path):
    rows = json.loads((FIXTURES / "gpqa_diamond.json").read_text(encoding="utf-8"))
    rows[3]["options"] = "__import__('os').system('x')"
    path = write_json(tmp_path / "gpqa_diamond.json", rows)
    with pytest.raises(LeapError, match=r"row 4: field 'options'"):
        load_benchmark("gpqa-diamond", LoadOptions(local_path=str(path)))
    loaded = load_benchmark_with_report(
        "gpqa-diamond", LoadOptions(local_path=str(path), skip_invalid=True)
    )
    assert len(loaded.problems) == 11 and loaded.report.skipped == 1


# --- cache and hub ----------------------------------------------------------------------


def test_second_load_comes_from_the_cache(isolated):
    first = load_benchmark("aime24", LoadOptions(local_path=str(FIXTURES)))
    cached_files = list((isolated / "datasets").glob("aime24@*.json"))
    assert len(cached_files) == 1
    again = load_benchmark_with_report("aime24")  # no local path, hub offline
    assert again.problems == first
    assert again.report.source.startswith("cache ")
    assert not list((isolated / "datasets").glob(".*"))  # no temp files left behind


def test_cache_holds_unshuffled_options_so_every_seed_works(isolated):
    direct = load_benchmark("gpqa-diamond", LoadOptions(local_path=str(FIXTURES), seed=5))
    load_benchmark("gpqa-diamond", LoadOptions(local_path=str(FIXTURES), seed=0))
    from_cache = load_benchmark("gpqa-diamond", LoadOptions(seed=5))
    assert from_cache == direct


def test_unreadable_cache_is_reported_and_not_used(isolated, caplog):
    load_benchmark("aimo25", LoadOptions(local_path=str(FIXTURES)))
    (cache_file,) = (isolated / "datasets").glob("aimo25@*.json")
    cache_file.write_text("{broken", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="leap"), pytest.raises(LeapError):
        load_benchmark("aimo25")
    assert str(cache_file) in caplog.text


@pytest.mark.parametrize(
    ("name", "repo", "local_file"),
    [
        ("aime24", "HuggingFaceH4/aime_2024", "aime.json"),
        ("aime25", "yentinglin/aime_2025", "aime_2025.json"),
        ("aimo25", "PraMamba/AIMO-2_Reference", "aimo.json"),
        ("gpqa-diamond", "Idavidrein/gpqa", "gpqa_diamond.json"),
    ],
)
def test_offline_without_local_copy_names_hub_and_local_option(name, repo, local_file):
    with pytest.raises(LeapError) as error:
        load_benchmark(name)
    message = str(error.value)
    assert repo in message
    assert "--data" in message and "LEAP_DATA_DIR" in message and local_file in message


def test_hub_download_failure_names_both_ways(monkeypatch):
    import huggingface_hub

    def unreachable(**kwargs):
        raise ConnectionError("network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", unreachable)
    with pytest.raises(LeapError) as error:
        load_benchmark("aime25")
    message = str(error.value)
    assert "yentinglin/aime_2025" in message and "network is unreachable" in message
    assert "--data" in message


def test_hub_file_is_read_with_the_hub_column_names_and_cached(monkeypatch, tmp_path, isolated):
    import huggingface_hub

    hub_rows = [
        {
            "id": 60,
            "problem": "Find $x$ if $x + 1 = 3$.",
            "solution": "$x = 2$.",
            "answer": "2",
            "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_II_Problems/Problem_4",
            "year": "2024",
        }
    ]
    parquet = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist(hub_rows), parquet)
    calls = []

    def fake_download(**kwargs):
        calls.append(kwargs)
        return str(parquet)

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    (problem,) = load_benchmark("aime24")
    assert problem.id == "2024-II-4"
    assert calls[0]["repo_id"] == "HuggingFaceH4/aime_2024" and calls[0]["repo_type"] == "dataset"
    assert calls[0]["revision"] and calls[0]["revision"] != "main"
    assert load_benchmark("aime24") == [problem]
    assert len(calls) == 1  # the second load came from the cache


def test_gpqa_hub_csv_columns_build_the_options(monkeypatch, tmp_path):
    import huggingface_hub

    csv_path = tmp_path / "gpqa_diamond.csv"
    csv_path.write_text(
        "Record ID,Question,Correct Answer,Incorrect Answer 1,Incorrect Answer 2,"
        "Incorrect Answer 3,High-level domain\n"
        "rec1,Which gas do plants take in?,Carbon dioxide,Oxygen,Helium,Neon,Biology\n",
        encoding="utf-8",
    )
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lambda **kwargs: str(csv_path))
    (problem,) = load_benchmark("gpqa-diamond")
    assert problem.id == "rec1" and problem.metadata["domain"] == "Biology"
    assert sorted(problem.choices) == ["Carbon dioxide", "Helium", "Neon", "Oxygen"]
    assert problem.choices["ABCD".index(problem.answer)] == "Carbon dioxide"


@pytest.mark.parametrize(
    "options",
    [{"limit": 0}, {"kind": "essay"}, {"seed": "1"}],
)
def test_bad_load_options_are_rejected(options):
    with pytest.raises(LeapError):
        LoadOptions(**options)
