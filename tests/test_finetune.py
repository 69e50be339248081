"""`leap finetune`: fine-tuning the default model on a tiny SFT data set (float32, CPU).

The data set is real: `leap sft-data` on a stored run of the default model
(`tests/sft_fixture.py`). The model tests train 4 steps of 2 examples of at most 128
tokens. A full fine-tuning runs in this process; a LoRA one runs uninterrupted in this
process (the reference) and as `leap finetune` subprocesses on an S3 store, killed with
SIGKILL once their first checkpoint is in the store and run again: every step's loss
must equal the reference's, the steps after the resume included. Full and LoRA resume
through the same Trainer mechanism; full checkpoints (weights and AdamW state, 1.6 GB)
would make a second full training the slowest test of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import TINY_LEAP
from sft_fixture import build_sft_fixture

from leap.store import LocalStore
from leap.training.checkpoints import MARKER, TrainingStore, download_folder, upload_folder
from leap.training.finetune_config import parse_finetune_config
from leap.training.train_set import IGNORED, Example, PadAndMask, load_train_set

ROOT = Path(__file__).resolve().parents[1]
# 4 steps of 2 examples, a checkpoint every 2 steps.
TINY = {
    "max_steps": 4,
    "batch_size": 2,
    "save_steps": 2,
    "learning_rate": 1e-4,
    "max_length": 128,
    "dtype": "float32",
    "seed": 0,
}
LORA = {"lora": {"r": 4, "alpha": 8, "dropout": 0.1}, "learning_rate": 1e-3}
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("problem_id", pa.string()),
        ("path", pa.int32()),
        ("model", pa.string()),
        ("input_ids", pa.list_(pa.int32())),
        ("loss_mask", pa.list_(pa.int8())),
        ("text", pa.string()),
        (
            "spans",
            pa.list_(
                pa.struct([("start", pa.int32()), ("end", pa.int32()), ("trained", pa.bool_())])
            ),
        ),
    ]
)


def write_data(folder: Path, encode, n: int = 4, model: str = "smollm2-135m") -> Path:
    """An SFT data set of `n` examples: a prompt (no loss), then what the path wrote."""
    rows = []
    for i in range(n):
        a, b = i + 2, 3 * i + 5
        prompt = f"Question: what is {a} + {b}? Think step by step.\n"
        own = (
            f"{a} plus {b} makes {a + b}. <summarize>The sum is {a + b}.</summarize> "
            f"So the answer is \\boxed{{{a + b}}}."
        )
        head, tail = encode(prompt), encode(own)
        rows.append(
            {
                "run_id": "src",
                "problem_id": f"p{i}",
                "path": 0,
                "model": model,
                "input_ids": head + tail,
                "loss_mask": [0] * len(head) + [1] * len(tail),
                "text": prompt + own,
                "spans": [
                    {"start": 0, "end": len(prompt), "trained": False},
                    {"start": len(prompt), "end": len(prompt + own), "trained": True},
                ],
            }
        )
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), folder / "data.parquet")
    (folder / "card.json").write_text("{}")
    return folder


def fake_encode(text: str) -> list[int]:
    return [ord(c) % 500 for c in text]


@pytest.fixture(scope="module")
def tokenizer(model_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model_folder)


@pytest.fixture(scope="module")
def data(tmp_path_factory, engine) -> Path:
    """A real SFT data set: `leap sft-data` on a stored run of the default model."""
    return build_sft_fixture(tmp_path_factory.mktemp("sft"), engine)


@pytest.fixture(scope="module")
def fast(tmp_path_factory):
    """A folder for stores and scratch: on tmpfs when it has room (checkpoints are large)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and shutil.disk_usage(shm).free > 10 << 30:
        folder = Path(tempfile.mkdtemp(prefix="leap-finetune-test-", dir=shm))
    else:
        folder = tmp_path_factory.mktemp("fast")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def train_here(fast: Path, data: Path, name: str, **settings):
    """An uninterrupted training in this process: its result."""
    from leap.training.finetune import prepare_finetune, train

    config = parse_finetune_config(
        {"name": name, "data": [str(data)], "store": str(fast / name), **TINY, **settings}
    )
    previous = tempfile.tempdir
    tempfile.tempdir = str(fast)  # the Trainer's scratch folder
    try:
        return train(prepare_finetune(config))
    finally:
        tempfile.tempdir = previous


@pytest.fixture(scope="module")
def full_reference(fast, data):
    # Full checkpoints are 1.6 GB: this one training stores only its last step's.
    return train_here(fast, data, "reference", save_steps=4)


def losses(rows: list[dict]) -> dict[int, float]:
    return {row["step"]: row["loss"] for row in rows}


# -- the training itself ------------------------------------------------------------------


@pytest.mark.slow
def test_the_loss_goes_down_and_the_store_holds_everything(full_reference, fast):
    rows = full_reference.metrics
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    loss = [r["loss"] for r in rows]
    assert loss[2] + loss[3] < loss[0] + loss[1] and loss[3] < loss[0], loss
    assert all(0 < r["trained_tokens"] < r["tokens"] and r["tokens_per_second"] > 0 for r in rows)
    store = TrainingStore(LocalStore(fast / "reference"), "reference")
    assert store.checkpoint_steps() == [4]
    assert store.model_complete() and store.read_metrics() == rows
    # The default output folder of a local store is the store's own copy of the model.
    assert full_reference.out == fast / "reference" / "finetune" / "reference" / "model"
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= {
        p.name for p in full_reference.out.iterdir()
    }
    page = (fast / "reference" / "finetune" / "reference" / "report.html").read_text()
    assert page.count("<svg") == 2 and "Loss per step" in page and "http" not in page


def finetune_args(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "leap.console.cli", "finetune", str(config), *extra]


def start(args: list[str], env: dict) -> subprocess.Popen:
    log = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False)
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
    )
    process.log_path = log.name  # type: ignore[attr-defined]
    return process


def output(process: subprocess.Popen) -> str:
    return Path(process.log_path).read_text()  # type: ignore[attr-defined]


def kill_when(process: subprocess.Popen, stored) -> None:
    """SIGKILL the process group as soon as `stored()` is true."""
    deadline = time.monotonic() + 600
    while not stored():
        assert process.poll() is None, output(process)[-4000:]
        assert time.monotonic() < deadline, "no checkpoint was stored in time"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # like a lost machine
    process.wait()


def finish(process: subprocess.Popen) -> str:
    process.wait(timeout=900)
    assert process.returncode == 0, output(process)[-4000:]
    return output(process)


def write_config(folder: Path, name: str, data: Path, store: str, **settings) -> Path:
    path = folder / f"{name}.yaml"
    config = {"name": name, "data": [str(data)], "store": store, **TINY, **settings}
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_a_killed_lora_training_on_s3_resumes_and_stores_the_merged_model(
    fast, data, s3_bucket, prefect_server
):
    reference = train_here(fast, data, "lora-reference", **LORA)
    prefix = "runs/finetune/lora/"
    config = write_config(fast, "lora", data, s3_bucket.url("runs"), **LORA)
    out = fast / "lora-out"
    env = prefect_server.env(
        TMPDIR=str(fast),
        AWS_ENDPOINT_URL=s3_bucket.endpoint,
        AWS_ACCESS_KEY_ID="leap-test-key",
        AWS_SECRET_ACCESS_KEY="leap-test-secret",
        AWS_REGION="us-east-1",
    )
    client = s3_bucket.client()

    def keys() -> set[str]:
        listed = client.list_objects_v2(Bucket=s3_bucket.name, Prefix=prefix)
        return {item["Key"][len(prefix) :] for item in listed.get("Contents", [])}

    process = start(finetune_args(config, "--out", str(out)), env)
    kill_when(process, lambda: f"checkpoints/checkpoint-2/{MARKER}" in keys())
    finish(start(finetune_args(config, "--out", str(out)), env))
    body = client.get_object(Bucket=s3_bucket.name, Key=prefix + "metrics.jsonl")["Body"].read()
    rows = [json.loads(line) for line in body.decode().splitlines()]
    # Steps 3 and 4 ran after the resume: the Trainer restored the weights, AdamW, the
    # schedule, the random state and the data position, so no loss differs.
    assert losses(rows) == losses(reference.metrics)
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    # The dashboard has the loss curve as a table artifact.
    query = {"artifacts": {"key": {"any_": ["finetune-lora-steps"]}}}
    [table] = prefect_server.post("/artifacts/filter", query)
    assert [row["step"] for row in json.loads(table["data"])] == [1, 2, 3, 4]
    stored = keys()
    assert {f"checkpoints/checkpoint-{s}/adapter_model.safetensors" for s in (2, 4)} <= stored
    assert {"model/model.safetensors", f"model/{MARKER}", "report.html", "config.json"} <= stored
    # The adapters are merged: the model folder is a plain model, here and in --out.
    assert not any(k.startswith("model/adapter") for k in stored)
    assert {"config.json", "model.safetensors", MARKER} <= {p.name for p in out.iterdir()}


@pytest.mark.slow
def test_the_fine_tuned_model_runs_leap_t_in_the_transformers_engine(
    full_reference, tmp_path, prefect_server
):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**TINY_LEAP, "method": "leap-t"}))
    store = tmp_path / "runs"
    args = [sys.executable, "-m", "leap.console.cli", "run", "--model", str(full_reference.out)]
    args += ["--benchmark", "smoke", "--limit", "1", "--store", str(store), "--run-id", "t"]
    args += ["--config", str(config), "--dtype", "float32"]
    finish(start(args, prefect_server.env()))
    summary = json.loads((store / "t" / "results" / "summary.json").read_text())
    assert summary["model"] == str(full_reference.out) and summary["method"] == "leap-t"
    assert summary["n_scored"] == 1


# -- bad input: one sentence, exit 2, nothing written --------------------------------------


def leap_finetune(monkeypatch, capsys, config: Path) -> tuple[int, str]:
    """`leap finetune CONFIG` in this process: its exit code and error output."""
    from leap.console.cli import main

    monkeypatch.setattr(sys, "argv", ["leap", "finetune", str(config)])
    with pytest.raises(SystemExit) as stopped:
        main()
    return stopped.value.code, capsys.readouterr().err


def broken_model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    return folder


@pytest.mark.parametrize(
    ("change", "sentence"),
    [
        ({"lr": 0.1}, "unknown key 'lr': the keys are name, data"),
        ({"max_steps": 3, "epochs": 2}, "give max_steps or epochs, not both"),
        ({"data": ["no-such-folder"]}, "data folder no-such-folder does not exist"),
        ({"data": ["EMPTY"]}, "holds no examples"),
        ({"model": "BROKEN"}, "could not load model"),
        ({"lora": {"target_modules": ["no_such_proj"]}}, "LoRA cannot be set up"),
        ({"learning_rate": 0.5}, "was started with another config (changed: learning_rate)"),
    ],
    ids=["unknown-key", "both", "no-data", "empty-data", "broken-model", "lora", "other"],
)
def test_bad_input_is_one_sentence_and_writes_nothing(
    change, sentence, tmp_path, monkeypatch, capsys
):
    data = write_data(tmp_path / "data", fake_encode)
    empty = write_data(tmp_path / "empty", fake_encode, n=0)
    store = tmp_path / "store"
    if "learning_rate" in change:  # a training of this name was started with other settings
        first = parse_finetune_config({"name": "bad", "data": [str(data)], "store": str(store)})
        TrainingStore.open(str(store), "bad").create_or_check(first)
    text = json.dumps(change).replace("EMPTY", str(empty))
    change = json.loads(text.replace("BROKEN", str(broken_model(tmp_path / "broken"))))
    out = tmp_path / "out"
    settings = {"name": "bad", "data": [str(data)], "store": str(store), "out": str(out), **change}
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(settings))
    before = sorted(LocalStore(store).list("")) if store.exists() else []

    code, err = leap_finetune(monkeypatch, capsys, config)
    assert code == 2
    [line] = [ln for ln in err.splitlines() if ln.strip()]
    assert line.startswith("error: ") and sentence in line and "Traceback" not in err
    assert (sorted(LocalStore(store).list("")) if store.exists() else []) == before
    assert not out.exists()


# -- pieces -------------------------------------------------------------------------------


def test_folders_are_stored_in_parts_and_come_back_whole(tmp_path, monkeypatch):
    import leap.training.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints, "PART_BYTES", 10)
    folder = tmp_path / "checkpoint-3"
    (folder / "sub").mkdir(parents=True)
    (folder / "optimizer.pt").write_bytes(bytes(range(25)))  # three parts
    (folder / "sub" / "small.json").write_text("{}")
    store = LocalStore(tmp_path / "store")
    training = TrainingStore(store, "t")
    training.upload_checkpoint(folder, 3)
    keys = store.list("finetune/t/checkpoints/checkpoint-3/")
    assert [k.rsplit("/", 1)[-1] for k in keys] == [
        MARKER,
        "optimizer.pt.part-00000",
        "optimizer.pt.part-00001",
        "optimizer.pt.part-00002",
        "small.json",
    ]
    assert training.checkpoint_steps() == [3]
    back = training.download_checkpoint(3, tmp_path / "scratch")
    assert (back / "optimizer.pt").read_bytes() == bytes(range(25))
    assert (back / "sub" / "small.json").read_text() == "{}"
    # A folder without its marker (a crash during the upload) is not a checkpoint, and
    # is set aside before the training writes it again.
    upload_folder(store, folder, "finetune/t/checkpoints/checkpoint-5")
    store.move_aside(f"finetune/t/checkpoints/checkpoint-5/{MARKER}", "test: lost")
    assert training.checkpoint_steps() == [3]
    assert training.set_aside_incomplete() == ["checkpoints/checkpoint-5"]
    assert not store.exists("finetune/t/checkpoints/checkpoint-5/sub/small.json")
    upload_folder(store, folder, "finetune/t/checkpoints/checkpoint-5")
    assert training.checkpoint_steps() == [3, 5]
    # A download never lands over an existing folder.
    with pytest.raises(OSError):
        download_folder(store, "finetune/t/checkpoints/checkpoint-5", back)


def test_the_collator_pads_and_masks_padding_out_of_attention_and_loss():
    batch = PadAndMask(pad_id=0)([Example([5, 6, 7], [IGNORED, 6, 7]), Example([8], [8])])
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORED, 6, 7], [8, IGNORED, IGNORED]]


def test_examples_of_another_tokenizer_are_tokenized_again_span_by_span(tokenizer, tmp_path):
    # The data's ids come from a made-up tokenizer: only the text and spans are usable.
    folder = write_data(tmp_path / "other", fake_encode, n=2, model="some-other-model")
    train_set = load_train_set([str(folder)], tokenizer, "smollm2-135m", max_length=128)
    assert train_set.retokenized == 2
    table = pq.read_table(folder / "data.parquet").to_pylist()
    for example, row in zip(train_set.examples, table, strict=True):
        prompt, own = (row["text"][s["start"] : s["end"]] for s in row["spans"])
        assert tokenizer.decode(example.input_ids) == prompt + own
        pairs = zip(example.input_ids, example.labels, strict=True)
        trained = [token for token, label in pairs if label != IGNORED]
        assert tokenizer.decode(trained) == own
    # Data of the model's own tokenizer is used as stored.
    encode = lambda text: tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    same = write_data(tmp_path / "same", encode, n=2)
    kept = load_train_set([str(same)], tokenizer, "smollm2-135m", max_length=20)
    assert kept.retokenized == 0 and kept.truncated == 2
    assert all(len(e.input_ids) == 20 for e in kept.examples)
