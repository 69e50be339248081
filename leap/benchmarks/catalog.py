"""The declared benchmarks, by name.

Hub revisions are pins, but they were written down without hub access: before relying
on a run's provenance, confirm each `revision` (and `filename`) on the hub and replace
any that is not a full 40-hex commit. `leap benchmarks` flags the unpinned ones.
Each field map lists the hub copy's column names and the reference JSON copy's
(aime.json, aime_2025.json, aimo.json, gpqa_diamond.json) side by side.
"""

from __future__ import annotations

from leap.benchmarks.declarations import Benchmark, FieldMap, HubDataset
from leap.benchmarks.smoke import DEFAULT_COUNT, generate_smoke

AIME24 = Benchmark(
    name="aime24",
    kind="math",
    description="AIME 2024, contests I and II",
    size=30,
    hub=HubDataset(
        repo_id="HuggingFaceH4/aime_2024",
        revision="2fe88a2",
        filename="data/train-00000-of-00001.parquet",
        split="train",
    ),
    local_filename="aime.json",
    fields=FieldMap(
        question=("problem",),
        answer=("answer",),
        aime_ids=True,
        id_prefix="aime24",
        metadata=(("year", ("year",)), ("url", ("url",))),
    ),
)

AIME25 = Benchmark(
    name="aime25",
    kind="math",
    description="AIME 2025, contests I and II",
    size=30,
    hub=HubDataset(
        repo_id="yentinglin/aime_2025",
        revision="1bdb867fb342dc8d521bb4b03f3d96478bb9a550",
        filename="data/train-00000-of-00001.parquet",
        split="train",
    ),
    local_filename="aime_2025.json",
    fields=FieldMap(
        question=("problem",),
        answer=("answer",),
        id_prefix="aime25",
        metadata=(("url", ("url",)),),
    ),
)

AIMO25 = Benchmark(
    name="aimo25",
    kind="math",
    description="AIMO Progress Prize 2 reference problems",
    size=10,
    hub=HubDataset(
        repo_id="PraMamba/AIMO-2_Reference",
        # No commit of this repository was known when declared: pin it on first use.
        revision="main",
        filename="reference.csv",
        split="train",
    ),
    local_filename="aimo.json",
    fields=FieldMap(question=("problem",), answer=("answer",), id_prefix="aimo25"),
)

GPQA_DIAMOND = Benchmark(
    name="gpqa-diamond",
    kind="choice",
    description="GPQA Diamond, four-option science questions (gated on the hub: needs a token)",
    size=198,
    hub=HubDataset(
        repo_id="Idavidrein/gpqa",
        revision="633f5ee89ab8ad4522a9f850766b73f62147ffdd",
        filename="gpqa_diamond.csv",
        split="train",
        config="gpqa_diamond",
    ),
    local_filename="gpqa_diamond.json",
    fields=FieldMap(
        question=("problem", "Question"),
        answer=("answer",),
        id=("id", "Record ID"),
        choices=("options",),
        option_columns=(
            "Correct Answer",
            "Incorrect Answer 1",
            "Incorrect Answer 2",
            "Incorrect Answer 3",
        ),
        id_prefix="gpqa",
        metadata=(("domain", ("domain", "High-level domain")),),
    ),
    shuffle_choices=True,
    option_count=4,
)

SMOKE = Benchmark(
    name="smoke",
    kind="math",
    description="easy arithmetic and word problems generated from the seed",
    size=DEFAULT_COUNT,
    generator=generate_smoke,
)

BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark for benchmark in (AIME24, AIME25, AIMO25, GPQA_DIAMOND, SMOKE)
}
