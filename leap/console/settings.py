"""From command-line options to settings: the LeaP config, a run spec, engine options.

Every function here raises LeapError for a user mistake, so the CLI prints one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leap.defaults import leap_defaults_for
from leap.errors import LeapError


def config_overrides(**values: Any) -> dict[str, Any]:
    """The CLI options the user actually gave, under their config names."""
    out: dict[str, Any] = {}
    sampling = {k: values.pop(k) for k in ("temperature", "top_p") if k in values}
    for key, value in values.items():
        if value is not None:
            out[key] = value
    sampling = {k: v for k, v in sampling.items() if v is not None}
    if sampling:
        out["sampling"] = sampling
    return out


def build_config(config_file: Path | None, overrides: dict[str, Any]):
    from leap.algorithm.config import load_config, parse_config

    base: dict[str, Any] = {}
    source = "options"
    if config_file is not None:
        base = load_config(config_file).model_dump(exclude_defaults=True)
        source = f"{config_file} with options"
    if "sampling" in overrides and "sampling" in base:
        overrides["sampling"] = {**base["sampling"], **overrides["sampling"]}
    return parse_config({**base, **overrides}, source=source)


def leap_settings(model: str, config_file: Path | None = None, **options: Any):
    """LeapConfig from an optional YAML file, the given options, and the CPU preset."""
    overrides = config_overrides(**options)
    if config_file is None:
        overrides = {**leap_defaults_for(model), **overrides}
    return build_config(config_file, overrides)


def load_spec_file(path: Path, run_id: str | None = None, overrides: dict[str, Any] | None = None):
    """A RunSpec from a YAML file (the fields of `leap.runs.RunSpec`); `--run-id` and the
    other options typed beside `--spec` (`overrides`: model, engine, store, ...) win.

    LeaP settings the file leaves out take the model's defaults, as options do.
    """
    from leap.errors import load_yaml_mapping
    from leap.runs import spec_with_defaults

    data = load_yaml_mapping(path, "spec file")
    data.update(overrides or {})
    if run_id is not None:
        data["run_id"] = run_id
    return spec_with_defaults(data, source=str(path))


def typed_options(ctx: Any) -> set[str]:
    """The names of the options typed on the command line (not defaults or environment)."""
    return {
        param.name
        for param in ctx.command.params
        if getattr(ctx.get_parameter_source(param.name), "name", None) == "COMMANDLINE"
    }


def refuse_options_beside_spec(ctx: Any, spec_file: Path, allowed: set[str]) -> None:
    """A spec file holds the whole run: refuse options typed beside it (they would be ignored).

    `ctx` is the command's click context; options that only hold defaults or come from
    the environment are fine.
    """
    # By name: typer carries its own copy of click, whose enum is not click's.
    typed = typed_options(ctx)
    given = [param.opts[0] for param in ctx.command.params if param.name in typed - allowed]
    if given:
        raise LeapError(
            f"--spec {spec_file} holds the whole run, so {', '.join(given)} would be ignored: "
            "put those settings in the spec file, or leave out --spec."
        )


def parse_columns(pairs: list[str]) -> dict[str, str]:
    """`question=problem` pairs as a mapping; a malformed pair is a user error."""
    return parse_pairs(pairs, "--column", "question=problem")


def parse_pairs(pairs: list[str], flag: str, example: str) -> dict[str, str]:
    """`NAME=VALUE` pairs as a mapping; a malformed pair is a user error."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise LeapError(f"{flag} {pair!r} is not NAME=VALUE, e.g. {flag} {example}.")
        out[name.strip()] = value.strip()
    return out


def parse_engine_options(engine: str, pairs: list[str], base: Any = None):
    """--engine-option pairs of `engine` over `base` (options it already has), checked.

    A bad value, or an option `engine` does not have, is one clear error.
    """
    from pydantic import ValidationError

    from leap.engines.options import options_for
    from leap.errors import describe_validation_error

    values = base.model_dump(exclude_defaults=True) if base is not None else {}
    values.update(parse_pairs(pairs, "--engine-option", "base_url=URL"))
    try:
        return options_for(engine, values)
    except ValidationError as exc:
        raise LeapError(describe_validation_error(exc, "--engine-option")) from None
