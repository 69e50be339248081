"""Read the rows of a benchmark file: JSON, JSON Lines, Parquet or CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from leap.errors import LeapError

SUPPORTED_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv")

Row = dict[str, Any]


def read_rows(path: Path) -> list[Any]:
    """Return the records of `path` in file order.

    JSON may be a list of objects or an object with a "data" list. Records are returned
    as found (not checked to be objects) so the caller can name the bad row.
    """
    if not path.is_file():
        raise LeapError(f"benchmark file {path} does not exist; check the path.")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            return _read_json(path)
        if suffix == ".jsonl":
            return _read_jsonl(path)
        if suffix == ".parquet":
            return _read_parquet(path)
        if suffix == ".csv":
            return _read_csv(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise LeapError(f"benchmark file {path} could not be read ({exc}).") from exc
    raise LeapError(
        f"benchmark file {path} has an unsupported type; use one of "
        f"{', '.join(SUPPORTED_SUFFIXES)}."
    )


def _read_json(path: Path) -> list[Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise LeapError(f"benchmark file {path} is not valid JSON ({exc}).") from exc
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return data["data"]
    if isinstance(data, list):
        return data
    raise LeapError(
        f"benchmark file {path} must hold a list of objects or an object with a 'data' list."
    )


def _read_jsonl(path: Path) -> list[Any]:
    rows = []
    with path.open(encoding="utf-8") as lines:
        for line_number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LeapError(
                    f"benchmark file {path} line {line_number} is not valid JSON ({exc})."
                ) from exc
    return rows


def _read_parquet(path: Path) -> list[Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, ValueError) as exc:
        raise LeapError(f"benchmark file {path} is not a readable Parquet file ({exc}).") from exc


def _read_csv(path: Path) -> list[Any]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))
