"""Experiments over runs (DESIGN.md, "Experiments and comparison").

- `declaration`: experiment files, a base run spec and axes -> cells (ordinary runs);
- `compare`: runs of one benchmark side by side, paired by problem id (`compare_runs`,
  `write_comparison`), what an experiment ends with and what `leap compare` shows.
"""
