"""`leap deploy`: register the deployments of deployments/prefect.yaml on the server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from deployments.pool import require_pools
from deployments.server import api_url
from leap.errors import LeapError

PROJECT_DIR = Path(__file__).resolve().parents[1]
PREFECT_FILE = PROJECT_DIR / "deployments" / "prefect.yaml"


def declared_deployments(prefect_file: Path = PREFECT_FILE) -> list[dict]:
    try:
        document = yaml.safe_load(prefect_file.read_text()) or {}
    except OSError as exc:
        raise LeapError(f"cannot read deployments file {prefect_file}: {exc.strerror}.") from None
    except yaml.YAMLError:
        raise LeapError(f"deployments file {prefect_file} is not valid YAML: fix it.") from None
    deployments = document.get("deployments") if isinstance(document, dict) else None
    if not deployments:
        raise LeapError(f"deployments file {prefect_file} declares no deployments.")
    return list(deployments)


def deploy_all(prefect_file: Path = PREFECT_FILE, project_dir: Path = PROJECT_DIR) -> list[str]:
    """Register every deployment of `prefect_file`; returns their names.

    Runs `prefect deploy --all` in the project folder with LEAP_PROJECT_DIR set, so the
    pull step of every deployment points workers at this folder.
    """
    url = api_url()
    declared = declared_deployments(prefect_file)
    pools = sorted({d.get("work_pool", {}).get("name") for d in declared} - {None})
    require_pools(pools)
    command = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]
    command += ["--prefect-file", str(prefect_file)]
    env = {**os.environ, "LEAP_PROJECT_DIR": str(project_dir), "PREFECT_API_URL": url}
    done = subprocess.run(command, cwd=project_dir, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        raise LeapError(f"prefect deploy failed for {prefect_file}: {last}")
    return [d["name"] for d in declared]
