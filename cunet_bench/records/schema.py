"""The declared row schema: every kind of row a benchmark writes, with its columns, their types
and units, declared once. Benchmarks write through it (:func:`check_row`, called for every row
recorded), and the report and ``bench compare`` read through it (:func:`conform`): a column the
schema does not declare cannot be written, and a reader sees exactly the declared columns, so a
column renamed on one side fails loudly instead of turning into a silent "not measured".

Every row carries ``kind``; tidy kinds (one value per row, ``metric`` / ``value`` / ``unit``)
also declare their metrics with the unit each must be recorded in. Torch-free.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

TYPES = {
    "int": (int, np.integer),
    "float": (int, float, np.integer, np.floating),
    "str": (str,),
    "name": (str,),
    "bool": (bool, np.bool_),
}
TEXT_LIMIT = 1000
"""The longest text a cell may hold, in characters."""
NAME = re.compile(r"[\w .:;=,()\[\]/×&+%'-]*")
"""What a ``name`` column (a model, method, metric, unit, solver …) may hold: words and plain
punctuation (a solver sweep names a method ``cunet-release[rk4:steps=2]``), nothing that
Markdown or HTML would read as markup (``<``, `````, ``|``, ``@``, ``*``, or ``](`` that opens
a link)."""


def text_problem(value: str, declared_type: str) -> str | None:
    """Why a text cell cannot be recorded or read back, or None: a cell longer than
    :data:`TEXT_LIMIT`, a control or invisible formatting character (NUL, newline, ANSI escapes,
    bidirectional overrides), or markup in a ``name`` column."""
    if len(value) > TEXT_LIMIT:
        return f"a text of {len(value):,} characters, more than {TEXT_LIMIT:,}"
    if any(unicodedata.category(character).startswith("C") for character in value):
        return f"a control character in {value[:40]!r}"
    if declared_type == "name" and (not NAME.fullmatch(value) or "](" in value):
        return f"markup in the name {value[:40]!r}"
    return None


class SchemaError(ValueError):
    """A row that does not match its declaration: a bug in the code that wrote it."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    unit: str = ""
    """The unit of the column's values ("" for names, labels and counts without a unit)."""


@dataclass(frozen=True)
class RowKind:
    bench: str
    name: str
    description: str
    columns: tuple[Column, ...]
    required: tuple[str, ...] = ()
    metrics: Mapping[str, str] = field(default_factory=dict)
    """Tidy kinds: metric name → the unit its ``value`` is recorded in."""
    key: tuple[str, ...] = ()
    """The columns that name one row of this kind within a run: two rows with the same key are
    damage (a duplicated row would count twice). Empty: rows of this kind are not keyed."""

    @property
    def names(self) -> tuple[str, ...]:
        return ("run_id", "kind", *(column.name for column in self.columns))


def _columns(text: str) -> tuple[Column, ...]:
    """``"name:type[:unit] …"`` → columns (a compact notation for the declarations below)."""
    columns = []
    for item in text.split():
        name, kind, *unit = item.split(":")
        if kind not in TYPES:
            raise ValueError(f"unknown column type {kind!r} of {name}")
        columns.append(Column(name, kind, unit[0] if unit else ""))
    return tuple(columns)


MODEL = "model:name paper_name:name tags:name source:name family:name"
"""Which model a row is about: its registry name, the paper's name for it, its registry tags
(the report finds the paper's pair by tag, never by name), where it comes from ("built-in", or a
plugin's package and version) and its family (a diffusion backbone's or a denoiser's)."""
CONDITIONS = (
    "clock:str threads:int rounds:int stopped_by:str load_before:float load_after:float other_cores:float:cores "
    "contended:bool"
)
"""How a timing went (``cunet_bench.measure.timing.Measurement.conditions``)."""
CONTENTION = "load_before:float load_after:float other_cores:float:cores contended:bool"
"""Whether other processes used the CPU while a phase ran (``cunet_bench.measure.timing.Contention``)."""
TIDY = (
    f"{MODEL} variant:name resolution:int:px batch:int sampling_steps:int solver:name device:name threads:int "
    "metric:name value:float unit:name"
)
EFFICIENCY_COUNTS = {
    "parameters": "count",
    "trainable_parameters": "count",
    "static_training_mib": "MiB",
    "gmacs_fvcore_total": "GMAC",
    "gmacs_conv_linear": "GMAC",
    "gflops_executed": "GFLOP",
    "nfe": "count",
    "gmacs_per_function_evaluation": "GMAC",
    "ode_share_of_macs": "fraction",
}
DENOISE = "method:name noise_step:int pixel_noise:float target:str"
FID_POINT = (
    f"{MODEL} train_seed:int parameters:int sampling_steps:int sampler:name samples:int features:name "
    "distance_name:name kernel_name:name reference_count:int batch:int distance:float distance_ci_low:float "
    "distance_ci_high:float bootstrap_bias:float bootstrap_replicates:int kid_mean:float kid_std:float "
    "confident_fraction:float:fraction confident_classes:int classifier_score:float class_entropy:float "
    "seconds_per_sample:float:s generation_device:str shards_generated:int sampling_evaluations_per_s:float "
    f"raw_evaluations_per_s:float throughput_ratio:float {CONTENTION}"
)
RUNG = "rung_step:int images_seen:int train_cpu_seconds:float:s"
"""Where on its learning curve a measured checkpoint lies (``bench train --rungs``)."""
TRAINING = f"{MODEL} train_seed:int data:name loss_type:str processes:int device:name checkpoint:str step:int"

KINDS: tuple[RowKind, ...] = (
    RowKind(
        "efficiency",
        "machine",
        "the machine's measured peak throughput",
        _columns("metric:name value:float unit:name device:name threads:int"),
        ("metric", "value", "unit"),
        {"peak_gflops_matmul": "GFLOP/s", "peak_gflops_conv3x3": "GFLOP/s"},
    ),
    RowKind(
        "efficiency",
        "count",
        "exact counts of one model at one resolution",
        _columns(TIDY),
        ("model", "metric", "value", "unit", "resolution"),
        EFFICIENCY_COUNTS,
    ),
    RowKind(
        "efficiency",
        "memory",
        "peak memory of one inference call or training step in a fresh process, and "
        "the training peak split into optimiser state and activations",
        _columns(TIDY + " method:name"),
        ("model", "metric", "value", "unit", "batch"),
        {"peak_inference_mib": "MiB", "peak_train_mib": "MiB", "train_state_mib": "MiB", "train_activation_mib": "MiB"},
    ),
    RowKind(
        "efficiency",
        "timing",
        "one round of an interleaved timing",
        _columns(f"{TIDY} round:int measurement:str warmup_calls:int {CONDITIONS}"),
        ("model", "variant", "metric", "value", "unit", "round", "measurement"),
        {"latency_s": "s", "cpu_time_1thread_s": "s", "sample_time_s": "s"},
    ),
    RowKind(
        "efficiency",
        "variant",
        "a speed variant of the paper's pair (compiled, frozen, channels-last, "
        "release-layers): its first call, its largest output deviation from eager execution, or why it failed",
        _columns(TIDY + " status:str reason:str"),
        ("model", "variant", "metric", "status"),
        {"first_call_s": "s", "max_abs_difference_from_eager": "output units", "failed": "count"},
    ),
    RowKind(
        "efficiency",
        "throughput",
        "per model, variant and batch: the median latency and what it achieves",
        _columns(TIDY),
        ("model", "variant", "metric", "value", "unit", "batch"),
        {
            "latency_median_s": "s",
            "throughput_images_per_s": "images/s",
            "achieved_gflops": "GFLOP/s",
            "fraction_of_peak": "fraction",
        },
    ),
    RowKind(
        "efficiency",
        "profile",
        "self CPU time of one forward pass, grouped by kind of work",
        _columns(TIDY + " group:str share:float:fraction"),
        ("model", "metric", "value", "group", "batch"),
        {"profile_s": "s"},
    ),
    RowKind(
        "solvers",
        "solver",
        "what the ODE solver itself costs, per solver and batch",
        _columns(
            f"model:name resolution:int:px batch:int solver:name metric:name value:float unit:name device:name "
            f"ci_low:float ci_high:float {CONDITIONS}"
        ),
        ("solver", "batch", "metric", "value", "unit"),
        {
            "ode_blocks_s": "s",
            "bare_field_evaluations_s": "s",
            "solver_loop_overhead": "fraction",
            "forward_harness_s": "s",
            "forward_torchdiffeq_s": "s",
            "torchdiffeq_over_harness": "ratio",
            "forward_compiled_s": "s",
            "compile_speedup": "ratio",
        },
    ),
    RowKind(
        "training",
        "log",
        "the loss and throughput logged during training",
        _columns(TRAINING + " loss:float images_per_s:float:images/s"),
        ("model", "step", "loss"),
    ),
    RowKind(
        "training",
        "final",
        "a finished (or stopped) training run: where it resumed, its whole time and "
        "throughput, and whether the trained model denoises",
        _columns(
            f"{TRAINING} resumed_from:int images_per_s:float:images/s seconds:float:s cpu_seconds:float:s "
            f"threads:int stopped:bool gflop:float:GFLOP psnr_noisy_db:float:dB psnr_model_db:float:dB "
            f"{CONTENTION}"
        ),
        ("model", "step", "seconds"),
    ),
    RowKind(
        "sample",
        "samples",
        "a grid of samples from one checkpoint",
        _columns(
            f"{MODEL} checkpoint:str trained_steps:int sampler:name sampling_steps:int samples:int "
            f"seconds_per_sample:float:s png:str npz:str {CONTENTION}"
        ),
        ("model", "png", "samples", "sampler", "sampling_steps", "seconds_per_sample"),
    ),
    RowKind(
        "denoise",
        "method",
        "one compared method: its paper name, tags, size and training",
        _columns(
            "method:name paper_name:name tags:name source:name family:name parameters:int train_seed:int "
            "solver:name sigma:str options:str"
        ),
        ("method",),
    ),
    RowKind(
        "denoise",
        "input",
        "the noisy input at one noise level",
        _columns(
            f"{DENOISE} metric:name mean:float std:float images:int sigma01:float sigma01_ho_linear:float schedule:str"
        ),
        ("method", "noise_step", "sigma01"),
    ),
    RowKind(
        "denoise",
        "summary",
        "per method, level, target and metric: the mean over test images of the best "
        "value over the chain, of its step and of the time to it",
        _columns(
            f"{DENOISE} metric:name mean:float std:float best_step_mean:float time_to_best_s_mean:float:s "
            "images:int train_seed:int status:str"
        ),
        ("method", "noise_step", "target", "metric"),
        key=("method", "train_seed", "noise_step", "target", "metric"),
    ),
    RowKind(
        "denoise",
        "rung",
        "a summary row of one rung of a trained method's ladder (the learning curve)",
        _columns(
            f"{DENOISE} metric:name mean:float std:float best_step_mean:float time_to_best_s_mean:float:s "
            f"images:int train_seed:int status:str {RUNG}"
        ),
        ("method", "rung_step", "images_seen", "noise_step", "target", "metric"),
        key=("method", "train_seed", "noise_step", "target", "metric", "rung_step"),
    ),
    RowKind(
        "denoise",
        "image",
        "one test image's best value, its step and the time to it",
        _columns(f"{DENOISE} metric:name image:int mean:float best_step:float time_to_best_s:float:s train_seed:int"),
        ("method", "noise_step", "target", "metric", "image"),
        key=("method", "train_seed", "noise_step", "target", "metric", "image"),
    ),
    RowKind(
        "denoise",
        "curve",
        "the mean over test images after every reverse step",
        _columns(f"{DENOISE} metric:name step:int mean:float std:float images:int train_seed:int"),
        ("method", "noise_step", "target", "metric", "step"),
        key=("method", "train_seed", "noise_step", "target", "metric", "step"),
    ),
    RowKind(
        "denoise",
        "chain",
        "the wall time of one reverse chain over the whole batch, and its conditions",
        _columns(
            f"{DENOISE} train_seed:int steps:int seconds:float:s seconds_per_step:float:s images:int {CONTENTION}"
        ),
        ("method", "noise_step", "seconds"),
    ),
    RowKind(
        "denoise",
        "perception",
        "one perception–distortion point: the distribution distance of a set of "
        "final outputs to clean images they did not come from, and their distortion",
        _columns(
            f"{DENOISE} images:int train_seed:int ssim_final:float psnr_final:float:dB mse_final:float "
            "lpips_final:float metric:name mean:float kid_name:str kid_mean:float kid_std:float features:name "
            "reference:str reference_count:int status:str"
        ),
        ("method", "noise_step", "ssim_final"),
    ),
    RowKind(
        "denoise",
        "speedup",
        "BM3D's process pool against one process",
        _columns(
            "method:name train_seed:int metric:name mean:float workers:int seconds_per_image_one_process:float:s "
            "seconds_per_image_pool:float:s images:int"
        ),
        ("method", "mean"),
    ),
    RowKind(
        "denoise",
        "meta",
        "how the run's time split between denoising and metrics",
        _columns(
            "metric:name mean:float:s lpips_status:str total_seconds:float:s metric_fraction:float "
            "perception_seconds:float:s features:name"
        ),
        ("metric",),
    ),
    RowKind("denoise", "grid", "an image grid written beside the results", _columns("file:str columns:str"), ("file",)),
    RowKind(
        "fid",
        "point",
        "the distance of N samples at one step count to the training split",
        _columns(FID_POINT),
        ("model", "sampling_steps", "distance", "samples"),
        key=("model", "train_seed", "sampling_steps"),
    ),
    RowKind(
        "fid",
        "best",
        "the best point of one model and training seed (Table 1's columns)",
        _columns(FID_POINT),
        ("model", "sampling_steps", "distance", "samples"),
        key=("model", "train_seed"),
    ),
    RowKind(
        "fid",
        "rung",
        "the distance of N samples of one rung of a checkpoint's ladder at the sweep's most steps (learning curve)",
        _columns(f"{FID_POINT} {RUNG}"),
        ("model", "rung_step", "images_seen", "distance", "samples"),
        key=("model", "train_seed", "sampling_steps", "rung_step"),
    ),
    RowKind(
        "fid",
        "best_replicate",
        "one bootstrap replicate of a best distance",
        _columns("model:name train_seed:int sampling_steps:int replicate:int distance:float"),
        ("model", "replicate", "distance"),
        key=("model", "train_seed", "replicate"),
    ),
    RowKind(
        "fid",
        "sample_time",
        "one round of the interleaved time per sample at each model's best step count",
        _columns(
            f"{MODEL} train_seed:int parameters:int sampling_steps:int sampler:name round:int "
            f"seconds_per_sample:float:s warmup_calls:int {CONDITIONS}"
        ),
        ("model", "sampling_steps", "round", "seconds_per_sample"),
    ),
    RowKind(
        "fid",
        "real",
        "the recognisability check on real images of the test split (the ceiling of the samples')",
        _columns(
            "features:name images:int confident_fraction:float:fraction confident_classes:int classifier_score:float "
            "class_entropy:float"
        ),
        ("confident_fraction",),
    ),
    RowKind(
        "all",
        "phase",
        "where the time of one bench all step went",
        _columns(
            "step:str bench:str status:str wall_s:float:s cpu_s:float:s threads:int processes:int items:int "
            "item:str "
            f"items_per_s:float gflop:float:GFLOP gflops:float:GFLOP/s fraction_of_peak:float {CONTENTION}"
        ),
        ("step", "status", "wall_s"),
    ),
)
"""Every kind of row."""

BENCHES = tuple(dict.fromkeys(kind.bench for kind in KINDS))


def kinds(bench: str) -> dict[str, RowKind]:
    """The row kinds of one benchmark, by name."""
    return {kind.name: kind for kind in KINDS if kind.bench == bench}


def columns(bench: str) -> tuple[str, ...]:
    """Every column any row of ``bench`` may have, in declaration order."""
    names: dict[str, None] = {}
    for kind in kinds(bench).values():
        names.update(dict.fromkeys(kind.names))
    return tuple(names)


def column_types(bench: str) -> dict[str, str]:
    types = {"run_id": "str", "kind": "str"}
    for kind in kinds(bench).values():
        for column in kind.columns:
            declared = types.setdefault(column.name, column.type)
            if declared != column.type:
                raise SchemaError(f"{bench}: column {column.name} is declared as {declared} and {column.type}")
    return types


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def check_row(bench: str, row: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaError` unless ``row`` is a declared kind of ``bench`` with declared
    columns of the declared types, its required columns filled and, for a tidy kind, a declared
    metric in its declared unit."""
    declared = kinds(bench)
    kind = declared.get(row.get("kind"))
    if kind is None:
        raise SchemaError(f"{bench} rows of kind {row.get('kind')!r} are not declared; kinds: {', '.join(declared)}")
    allowed = {column.name: column for column in kind.columns}
    unknown = sorted(set(row) - set(allowed) - {"kind", "run_id"})
    if unknown:
        raise SchemaError(f"{bench} {kind.name} rows declare no column {', '.join(unknown)}")
    absent = [name for name in kind.required if _is_missing(row.get(name))]
    if absent:
        raise SchemaError(f"{bench} {kind.name} row lacks {', '.join(absent)}")
    for name, value in row.items():
        column = allowed.get(name)
        if column is None or _is_missing(value):
            continue
        if not isinstance(value, TYPES[column.type]) or (column.type != "bool" and isinstance(value, (bool, np.bool_))):
            raise SchemaError(
                f"{bench} {kind.name} column {name} must be {column.type}, got {type(value).__name__} "
                f"{str(value)[:40]!r}"
            )
        problem = text_problem(value, column.type) if isinstance(value, str) else None
        if problem:
            raise SchemaError(f"{bench} {kind.name} column {name}: {problem}")
    if kind.metrics:
        unit = kind.metrics.get(row.get("metric"))
        if unit is None:
            raise SchemaError(f"{bench} {kind.name} metric {row.get('metric')!r} is not declared")
        if row.get("unit") != unit:
            raise SchemaError(
                f"{bench} {kind.name} metric {row['metric']} is recorded in {unit}, not {row.get('unit')!r}"
            )


def check_rows(bench: str, rows: Iterable[Mapping[str, Any]]) -> None:
    for row in rows:
        check_row(bench, row)


def conform(bench: str, frame: pd.DataFrame) -> tuple[pd.DataFrame | None, str | None]:
    """A run's rows as the report may read them: exactly the declared columns of ``bench`` (an
    absent optional column is added empty), numeric and boolean columns of their declared types.
    Returns (frame, None), or (None, the reason) when the rows do not fit the schema: an
    undeclared kind or column, a required value missing, a value of the wrong type."""
    declared = kinds(bench)
    if "kind" not in frame:
        return None, "it has no kind column"
    unknown_kinds = sorted(set(frame["kind"].astype(str)) - set(declared))
    if unknown_kinds:
        return None, f"kinds {', '.join(unknown_kinds)[:80]} are not declared"
    names = columns(bench)
    unknown = sorted(set(frame.columns) - set(names))
    if unknown:
        return None, f"columns {', '.join(unknown)[:80]} are not declared"
    frame = frame.copy()
    for name in names:
        if name not in frame:
            frame[name] = None
    frame = frame[list(names)]
    units = column_units(bench)
    for name, declared_type in column_types(bench).items():
        fixed, problem = _typed(frame[name], declared_type)
        if problem is None and declared_type in ("int", "float"):
            problem = _impossible(
                fixed, name in NON_NEGATIVE_COLUMNS or units.get(name) in NON_NEGATIVE_UNITS, units.get(name) == "s"
            )
        if problem:
            return None, f"column {name}: {problem}"
        frame[name] = fixed
    if "unit" in frame and "value" in frame:
        measured = frame[frame.unit.isin(list(NON_NEGATIVE_UNITS))]
        problem = _impossible(measured.value, True) or _impossible(frame[frame.unit == "s"].value, True, True)
        if problem:
            return None, f"column value: {problem}"
    for kind_name, rows in frame.groupby("kind", sort=False):
        problem = _kind_problem(declared[kind_name], rows, units)
        if problem:
            return None, problem
    return frame, None


def _kind_problem(kind: RowKind, rows: pd.DataFrame, units: Mapping[str, str]) -> str | None:
    """Why the rows of one kind cannot be read: a required value missing, an undeclared metric, a
    value out of its bounds, a duplicated row, a broken ladder."""
    for required in kind.required:
        if rows[required].isna().any():
            return f"{kind.name} rows lack {required}"
    if kind.metrics:
        bad = rows[~rows.metric.isin(list(kind.metrics))]
        if len(bad):
            return f"{kind.name} metric {str(bad.metric.iloc[0])[:40]!r} is not declared"
    problem = _out_of_bounds(rows, units) or _duplicated(kind, rows) or _broken_ladder(kind, rows)
    return f"{kind.name} rows: {problem}" if problem else None


METRIC_BOUNDS = {"ssim": (-1.0, 1.0), "lpips": (0.0, math.inf), "feature_distance": (0.0, math.inf)}
"""What a denoising metric can be: SSIM lies in [−1, 1], a perceptual or feature distance is not
negative (``mean`` and ``best`` values of rows that name the metric)."""
BOUNDED_COLUMNS = {"ssim_final": (-1.0, 1.0)}


def _out_of_bounds(rows: pd.DataFrame, units: Mapping[str, str]) -> str | None:
    """A value outside what its quantity can be: a fraction outside [0, 1], an SSIM outside
    [−1, 1], a negative distance."""
    bounds = [(name, (0.0, 1.0)) for name, unit in units.items() if unit == "fraction" and name in rows]
    bounds += [(name, limits) for name, limits in BOUNDED_COLUMNS.items() if name in rows]
    checks = [(name, rows[name], limits) for name, limits in bounds]
    if "unit" in rows and "value" in rows:
        checks.append(("value", rows.loc[rows.unit == "fraction", "value"], (0.0, 1.0)))
    if "metric" in rows and "mean" in rows:
        for metric, limits in METRIC_BOUNDS.items():
            checks.append((f"mean of {metric}", rows.loc[rows.metric == metric, "mean"], limits))
    for name, values, (low, high) in checks:
        present = pd.to_numeric(values, errors="coerce").dropna()
        outside = present[(present < low) | (present > high)]
        if len(outside):
            return f"{name} {outside.iloc[0]:g} lies outside [{low:g}, {high:g}]"
    return None


def _duplicated(kind: RowKind, rows: pd.DataFrame) -> str | None:
    if not kind.key:
        return None
    repeated = rows[rows.duplicated(subset=["run_id", *kind.key], keep=False)]
    if len(repeated):
        first = repeated.iloc[0]
        return "two rows for " + ", ".join(f"{name} {first[name]}" for name in kind.key)[:160]
    return None


def _broken_ladder(kind: RowKind, rows: pd.DataFrame) -> str | None:
    """A learning curve that cannot be one run's ladder: images per step that differ along it
    (a step beyond what its images say), CPU-seconds that fall as the steps grow or are missing at
    some rungs only."""
    if "rung_step" not in kind.key:
        return None
    impossible = rows[(rows.rung_step < 1) | (rows.images_seen < rows.rung_step)]
    if len(impossible):
        first = impossible.iloc[0]
        return f"rung step {first.rung_step:g} is not a step of a run that saw {first.images_seen:g} images"
    ladder = ["run_id", *(name for name in kind.key if name != "rung_step")]
    for _, curve in rows.sort_values("rung_step").groupby(ladder, dropna=False, sort=False):
        per_step = curve.images_seen / curve.rung_step
        if (per_step != per_step.round()).any() or per_step.nunique() > 1:
            return f"rung steps {', '.join(f'{s:g}' for s in curve.rung_step)} do not match the images seen at them"
        seconds = curve.train_cpu_seconds
        if seconds.isna().any() and seconds.notna().any():
            return "training CPU-seconds are missing at some rungs of a ladder only"
        if (seconds.dropna().diff().dropna() < 0).any():
            return "training CPU-seconds fall as the rung steps grow"
    return None


NON_NEGATIVE_UNITS = frozenset({"s", "MiB", "GMAC", "GFLOP", "GFLOP/s", "images/s", "count", "cores", "px"})
"""Units of quantities that cannot be negative: a negative time or size read back is damage."""
NON_NEGATIVE_COLUMNS = frozenset({"distance"})
"""Unitless columns that cannot be negative (a Fréchet distance is a squared distance)."""


def column_units(bench: str) -> dict[str, str]:
    """Every column of ``bench`` with a declared unit, and that unit."""
    return {column.name: column.unit for kind in kinds(bench).values() for column in kind.columns if column.unit}


MAX_SECONDS = 1e7
"""More seconds than any measurement of the harness takes (about four months)."""


def _impossible(numbers: pd.Series, non_negative: bool, seconds: bool = False) -> str | None:
    """Why numbers read back are impossible: an infinity, a negative where none can be, a time
    of more than :data:`MAX_SECONDS`."""
    present = numbers.dropna().astype(float)
    if np.isinf(present).any():
        return "a value is infinite"
    if non_negative and (present < 0).any():
        return f"a value is negative ({present[present < 0].iloc[0]:g})"
    if seconds and (present > MAX_SECONDS).any():
        return f"a time of {present.max():g} s, more than {MAX_SECONDS:g}"
    return None


def _typed(values: pd.Series, declared_type: str) -> tuple[pd.Series, str | None]:
    if declared_type in ("int", "float"):
        present = values.notna()
        numbers = pd.to_numeric(values.where(present), errors="coerce")
        if (numbers.isna() & present).any():
            return values, f"{str(values[numbers.isna() & present].iloc[0])[:40]!r} is not a number"
        if declared_type == "int":
            whole = numbers.dropna()
            if (~np.isfinite(whole) | (whole != whole.round())).any():
                return values, "a value is not an integer"
        return numbers.astype(float), None
    if declared_type == "bool":
        text = values.where(values.notna()).map(
            lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).lower()
        )
        if (~text.dropna().isin(["true", "false"])).any():
            return values, "a value is not true or false"
        return text.map({"true": True, "false": False}).astype(object), None
    text = values.where(values.isna(), values.astype(str))
    for value in text.dropna().unique():
        problem = text_problem(value, declared_type)
        if problem:
            return values, problem
    return text, None
