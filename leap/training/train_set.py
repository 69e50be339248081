"""The SFT data sets as training examples, and the collator that batches them.

A data set is a folder holding `data.parquet` (one row per example: `input_ids`,
`loss_mask` with 1 where the token carries loss, `text`, `spans` = char spans of `text`
with a `trained` flag, and `model`, whose tokenizer made `input_ids`). When the model
being trained has another tokenizer, each example is tokenized again span by span from
`text`, so what carries loss stays exactly what the path wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leap.errors import LeapError

log = logging.getLogger("leap")

IGNORED = -100  # the label of a token that carries no loss (PyTorch's ignore_index)
DATA_FILE = "data.parquet"
_COLUMNS = ("input_ids", "loss_mask", "text", "spans", "model")


@dataclass(frozen=True)
class Example:
    input_ids: list[int]
    labels: list[int]  # IGNORED where the token carries no loss

    @property
    def trained_tokens(self) -> int:
        """Tokens whose prediction carries loss (the first token is never predicted)."""
        return sum(label != IGNORED for label in self.labels[1:])


@dataclass(frozen=True)
class TrainSet:
    examples: list[Example]
    retokenized: int  # examples tokenized again with the trained model's tokenizer
    truncated: int  # examples cut to max_length
    dropped: int  # examples left with no trained token

    @property
    def tokens(self) -> int:
        return sum(len(e.input_ids) for e in self.examples)

    @property
    def trained_tokens(self) -> int:
        return sum(e.trained_tokens for e in self.examples)


def check_data_folders(folders: Sequence[str]) -> list[Path]:
    """The data set files, or one sentence naming the first folder that is not a data set
    or holds no example (read from the Parquet footer: cheap, before any model loads)."""
    paths = []
    for folder in folders:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise LeapError(
                f"data folder {folder} does not exist: build one with `leap sft-data` or "
                "fix the path in the config's data list."
            )
        if not (path / DATA_FILE).is_file():
            raise LeapError(
                f"data folder {folder} has no {DATA_FILE}, so it is not an SFT data set: "
                "point data at the folder `leap sft-data` wrote."
            )
        if _rows(path / DATA_FILE) == 0:
            raise LeapError(
                f"data folder {folder} holds no examples: build it from finished runs whose "
                "paths pass the filters of `leap sft-data`."
            )
        paths.append(path / DATA_FILE)
    return paths


def _rows(path: Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException) as exc:
        reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise LeapError(
            f"{path} cannot be read as Parquet ({reason}): rebuild the data set."
        ) from None


def load_train_set(
    folders: Sequence[str], tokenizer: Any, model_name: str, max_length: int
) -> TrainSet:
    """Every example of the data sets in `folders`, as token ids and labels for `tokenizer`
    (the tokenizer of `model_name`), cut to `max_length` tokens."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    examples: list[Example] = []
    retokenized = truncated = dropped = 0
    same: dict[str, bool] = {}
    for path in check_data_folders(folders):
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            reason = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
            raise LeapError(
                f"{path} cannot be read as Parquet ({reason}): rebuild the data set."
            ) from None
        missing = [c for c in _COLUMNS if c not in table.column_names]
        if missing:
            raise LeapError(
                f"{path} lacks the column(s) {', '.join(missing)}: it is not an SFT data set "
                "of this version; rebuild it with `leap sft-data`."
            )
        for row in table.select(list(_COLUMNS)).to_pylist():
            source = row["model"]
            if source not in same:
                same[source] = same_tokenizer(source, model_name, tokenizer)
            if same[source]:
                ids = list(row["input_ids"])
                labels = [t if m else IGNORED for t, m in zip(ids, row["loss_mask"], strict=True)]
            else:
                ids, labels = tokenize_spans(row["text"], row["spans"], tokenizer)
                retokenized += 1
            if len(ids) > max_length:
                ids, labels = ids[:max_length], labels[:max_length]
                truncated += 1
            example = Example(ids, labels)
            if example.trained_tokens == 0:
                dropped += 1
                continue
            examples.append(example)
    if not examples:
        raise LeapError(
            f"the data in {', '.join(folders)} holds no example with a trained token within "
            f"max_length {max_length}: raise max_length or build the data from other runs."
        )
    return TrainSet(examples, retokenized, truncated, dropped)


def tokenize_spans(
    text: str, spans: Sequence[dict[str, Any]], tokenizer: Any
) -> tuple[list[int], list[int]]:
    """`text` tokenized span by span; tokens of trained spans are their own labels.

    Text between or after the spans (there should be none) is kept, without loss.
    """
    ids: list[int] = []
    labels: list[int] = []

    def add(piece: str, trained: bool) -> None:
        if not piece:
            return
        tokens = tokenizer.encode(piece, add_special_tokens=False)
        ids.extend(tokens)
        labels.extend(tokens if trained else [IGNORED] * len(tokens))

    position = 0
    for span in sorted(spans, key=lambda s: s["start"]):
        start, end = max(span["start"], position), span["end"]
        add(text[position:start], False)
        add(text[start:end], bool(span["trained"]))
        position = max(position, end)
    add(text[position:], False)
    return ids, labels


def same_tokenizer(source: str, model_name: str, tokenizer: Any) -> bool:
    """Whether the data's model `source` tokenizes as `tokenizer` does (same vocabulary and
    special tokens). A source that cannot be loaded here counts as different: its
    examples are tokenized again, which is always correct."""
    if source == model_name:
        return True
    from transformers import AutoTokenizer

    from leap.engines.models import resolve_model

    try:
        other = AutoTokenizer.from_pretrained(resolve_model(source))
    except Exception:  # noqa: BLE001 - any failure: tokenize again instead
        log.info("the tokenizer of %s cannot be loaded here; its examples are re-tokenized", source)
        return False
    return _fingerprint(other) == _fingerprint(tokenizer)


def _fingerprint(tokenizer: Any) -> tuple:
    vocab = tokenizer.get_vocab()
    return (
        tuple(sorted(vocab.items())),
        tuple(sorted(str(t) for t in tokenizer.all_special_tokens)),
    )


class PadAndMask:
    """Batches examples: right-padded to the longest, padding masked out of attention and loss."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, batch: Sequence[Example]) -> dict[str, Any]:
        import torch

        width = max(len(e.input_ids) for e in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        labels = torch.full((len(batch), width), IGNORED, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, example in enumerate(batch):
            n = len(example.input_ids)
            ids[row, :n] = torch.tensor(example.input_ids)
            labels[row, :n] = torch.tensor(example.labels)
            mask[row, :n] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def pad_id_of(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0
