"""What ``bench models`` shows: every registered model with its exact parameter count and where it
comes from, then what the registry refused (a name given twice, a plugin that cannot be loaded or
breaks its contract). Models are built on PyTorch's meta device, so counting allocates no weights
and takes a moment."""

from __future__ import annotations

from typing import Any

import torch

from cunet_bench.errors import UserError
from cunet_bench.registry.suite import REGISTRY, ModelSpec, parameter_count


def _on_meta(spec: ModelSpec) -> Any:
    with torch.device("meta"):
        return spec.instantiate()


def model_rows() -> list[dict[str, Any]]:
    rows, refused = [], list(REGISTRY.problems())
    for spec in REGISTRY:
        try:
            REGISTRY.get(spec.name)
        except UserError as error:
            refused.append(str(error))
            continue
        rows.append(
            {
                "name": spec.name,
                "family": spec.family,
                "parameters": parameter_count(_on_meta(spec)),
                "tags": ", ".join(sorted(spec.tags)) or "—",
                "source": spec.row_fields()["source"],
                "description": spec.description,
            }
        )
    return rows + [
        {"name": "refused", "family": "—", "parameters": None, "tags": "—", "source": "—", "description": problem}
        for problem in refused
    ]


def model_detail(name: str) -> dict[str, Any]:
    spec = REGISTRY.get(name)
    model = _on_meta(spec)
    detail = {
        "name": spec.name,
        "paper name": spec.paper_name or "—",
        "family": spec.family,
        "source": str(spec.source),
        "description": spec.description,
        "parameters": parameter_count(model),
        "trainable parameters": parameter_count(model, trainable_only=True),
        "input shape": f"[B, {spec.default_channels}, {spec.default_image_size}, {spec.default_image_size}]",
        "image size divisible by": spec.downsampling_factor,
        "supports": ", ".join(sorted(spec.supports)) or "—",
        "tags": ", ".join(sorted(spec.tags)) or "—",
        "configuration": ", ".join(f"{k}={v}" for k, v in spec.config.items()) or "defaults",
    }
    if spec.notes:
        detail["notes"] = spec.notes
    if "solver" in spec.supports:
        detail["solver"] = model.solver.label
        detail["ODE blocks"] = len(model.ode_blocks)
    return detail
