"""A run: its spec, its objects in the store, and solving its problems round by round.

The names most callers need are re-exported here; each is declared in one module below.
"""

from leap.runs.prepared import PreparedRun, prepare_run
from leap.runs.problems import load_run_problems
from leap.runs.spec import EngineName, RunSpec, new_run_id, parse_spec, spec_with_defaults
from leap.runs.store import ProblemProgress, RunStore

__all__ = [
    "EngineName",
    "PreparedRun",
    "ProblemProgress",
    "RunSpec",
    "RunStore",
    "load_run_problems",
    "new_run_id",
    "parse_spec",
    "spec_with_defaults",
    "prepare_run",
]
