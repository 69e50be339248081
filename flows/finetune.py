"""The fine-tuning flow: one training (LeaP-T) from a config, checkpoints in the store.

A training is prepared once (`leap.training.finetune.prepare_finetune`): by `leap
finetune` before Prefect starts, which hands it to this flow (`prepared`), or here, for a
deployment's flow run, which only has the config. On the `gpu` pool the training holds
the GPU limits of its devices like a benchmark run, so the two never share a GPU.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import deployment as this_deployment
from prefect.runtime import flow_run
from prefect.states import Completed, Failed

from leap.errors import LeapError
from leap.training.finetune import PreparedFinetune, prepare_finetune
from leap.training.finetune_config import parse_finetune_config
from tasks.finetune import train_model
from tasks.gpu import gpu_slot


def _flow_run_name() -> str:
    config = flow_run.parameters.get("config") or {}
    name = config.get("name") if isinstance(config, dict) else None
    return f"finetune-{name}" if name else "finetune"


@flow(name="leap-finetune", flow_run_name=_flow_run_name, validate_parameters=False)
def finetune(config: dict[str, Any], prepared: Any = None) -> Any:
    """Train (or continue) the training `config` describes (a FinetuneConfig as a dict:
    name, data, model, store, ...; docs/training.md). `prepared` is the same training
    already prepared in this process (by `leap finetune`); deployments leave it out."""
    logger = get_run_logger()
    try:
        ready: PreparedFinetune = prepared or prepare_finetune(
            parse_finetune_config(config, source="finetune config")
        )
        with gpu_slot(strict=this_deployment.get_id() is not None):
            result = train_model(ready)
    except LeapError as exc:
        logger.error("%s", exc)
        return Failed(message=str(exc))
    last = result.metrics[-1] if result.metrics else None
    done = f"after step {last['step']}, loss {last['loss']:.4f}" if last else "with no step"
    return Completed(
        message=f"training {result.name} finished {done}; model in {result.out}", data=result
    )
