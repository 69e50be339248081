"""The installed versions of leap and of the libraries that decide a run's results."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version

# leap itself, the engines that generate the paths and the checker that scores them.
RESULT_LIBRARIES: tuple[str, ...] = (
    "leap-pipeline",
    "torch",
    "transformers",
    "vllm",
    "math-verify",
)


def library_versions(names: tuple[str, ...] = RESULT_LIBRARIES) -> dict[str, str]:
    """Distribution name -> installed version, for those of `names` that are installed.

    The lookups run once per process and set of names; each caller gets its own dict.
    """
    return dict(_installed(names))


@cache
def _installed(names: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    found = []
    for name in names:
        try:
            found.append((name, version(name)))
        except PackageNotFoundError:
            continue
    return tuple(found)
