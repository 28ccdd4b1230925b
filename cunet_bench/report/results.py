"""The recorded results the report reads: every run of a results folder, loaded once per benchmark
through the declared row schema (``cunet_bench.records.schema``) and with its provenance checked. A run
whose files do not fit — unreadable, foreign, cut short (fewer rows than its provenance records),
values of the wrong type — is left out with one warning naming it, and the report lists what it
left out. Models are found by the registry tags recorded in the rows, so the report never imports
the registry (or torch)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cunet_bench.errors import UserError
from cunet_bench.records import runs, schema
from cunet_bench.records.runs import Skipped
from cunet_bench.registry.spec import PAPER_TAGS
from cunet_bench.report.markdown import code, plain

SMOKE = "smoke"
MODEL_COLUMNS = (
    ("efficiency", "model"),
    ("training", "model"),
    ("denoise", "method"),
    ("fid", "model"),
    ("sample", "model"),
)
"""Where each benchmark's rows name the model they are about."""


@dataclass
class Results:
    """The recorded runs under a results folder, loaded once per benchmark."""

    folder: Path
    quiet: bool = False
    """Collect the runs left out without a warning each (the caller reports them)."""
    baseline: str | None = None
    """The model the tables outside the paper's claims divide by or subtract (None: the paper's U-Net)."""
    skipped: list[Skipped] = field(default_factory=list)
    """The runs left out, each with why (the report lists them)."""
    _loaded: dict[str, tuple[pd.DataFrame, dict[str, dict[str, Any]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)

    def _load(self, bench: str) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
        if bench in self._loaded:
            return self._loaded[bench]
        loaded = runs.load_results(bench, self.folder, self.quiet)
        self.skipped += loaded.skipped
        self._loaded[bench] = loaded.frame, loaded.provenance
        return self._loaded[bench]

    def load_all(self) -> "Results":
        """Read every benchmark's runs now (so that :attr:`skipped` is complete)."""
        for bench in schema.BENCHES:
            self._load(bench)
        return self

    def is_empty(self) -> bool:
        return all(self.runs(bench).empty for bench in schema.BENCHES)

    def runs(self, bench: str) -> pd.DataFrame:
        return self._load(bench)[0]

    def provenance(self, bench: str) -> dict[str, dict[str, Any]]:
        return self._load(bench)[1]

    def meta(self, bench: str, run_id: str) -> dict[str, Any]:
        return self.provenance(bench).get(run_id, {})

    def latest_run(self, bench: str, accept=lambda frame: True) -> pd.DataFrame:
        """The rows of the newest run of ``bench`` that ``accept`` takes; empty when none."""
        frame = self.runs(bench)
        for run_id in sorted(frame.run_id.unique(), reverse=True):
            rows = frame[frame.run_id == run_id]
            if accept(rows):
                return rows
        return frame.iloc[0:0]

    def preset_of(self, run_id: str) -> str | None:
        """The preset a run was made with, whichever benchmark it belongs to."""
        for bench in schema.BENCHES:
            if run_id in self.provenance(bench):
                return self.meta(bench, run_id).get("preset")
        return None

    def only_smoke(self) -> bool:
        """Whether every run of the folder comes from the smoke preset (or there is none)."""
        presets = {meta.get("preset") for bench in schema.BENCHES for meta in self.provenance(bench).values()}
        return presets <= {SMOKE}

    def measured_models(self) -> list[str]:
        """Every model (or denoising method) any benchmark's rows name, in the order first seen."""
        found: list[str] = []
        for bench, column in MODEL_COLUMNS:
            frame = self.runs(bench)
            if column in frame:
                found += list(frame[column].dropna().astype(str))
        return list(dict.fromkeys(found))

    def model_tags(self) -> pd.DataFrame:
        """Every model (or denoising method) of the folder with its recorded tags (``model``,
        ``tags``), in the order first seen: what gives each model one colour in every figure."""
        frames = [
            frame[[column, "tags"]].rename(columns={column: "model"})
            for bench, column in MODEL_COLUMNS
            if column in (frame := self.runs(bench)) and "tags" in frame
        ]
        if not frames:
            return pd.DataFrame(columns=["model", "tags"])
        every = pd.concat(frames).dropna(subset=["model"])
        return every.assign(model=every.model.astype(str)).drop_duplicates("model")

    def check_baseline(self) -> None:
        """A ``--baseline`` that the results never measured is one line, before any work."""
        if self.baseline is not None and self.baseline not in self.measured_models():
            raise UserError(
                f"--baseline {self.baseline} is not a model of the results in {self.folder}; measured: "
                f"{', '.join(self.measured_models()) or 'nothing yet'}"
            )

    def baseline_of(self, rows: pd.DataFrame, column: str = "model") -> str | None:
        """What a table of ``rows`` takes ratios against: the chosen baseline when the rows hold it,
        else the paper's U-Net, else None."""
        if self.baseline is not None and self.baseline in set(rows[column]):
            return self.baseline
        unet = tagged(rows, "paper-unet", column)
        return unet[0] if unet else None

    def is_backbone(self, model: str) -> bool:
        """Whether ``model`` is a diffusion backbone, by the family its rows record (rows recorded
        before families were: by its training loss, or the tags of the paper's backbones)."""
        families: set[str] = set()
        for bench, column in MODEL_COLUMNS:
            frame = self.runs(bench)
            if "family" in frame and column in frame:
                families |= set(frame[frame[column] == model].family.dropna().astype(str))
        if families:
            return "denoiser" not in families
        training = self.runs("training")
        losses = training[training.model == model].loss_type.dropna() if "loss_type" in training else []
        return any(str(loss).startswith("diffusion") for loss in losses) or bool(
            self.tags(model) & {"quality", "table5"}
        )

    def tags(self, model: str) -> set[str]:
        """The registry tags recorded for ``model`` by any benchmark's rows."""
        found: set[str] = set()
        for bench, column in MODEL_COLUMNS:
            frame = self.runs(bench)
            for tags in frame[frame[column] == model].tags.dropna().unique():
                found |= set(str(tags).split(";"))
        return found

    def fingerprints(self) -> dict[str, dict[str, Any]]:
        """Every machine fingerprint the folder's runs were taken on, with one run's description of it."""
        machines: dict[str, dict[str, Any]] = {}
        for bench in schema.BENCHES:
            for meta in self.provenance(bench).values():
                if meta.get("machine_fingerprint"):
                    machines.setdefault(meta["machine_fingerprint"], meta)
        return machines

    def provenance_line(self, bench: str, run_id: str) -> str:
        meta = self.meta(bench, run_id)
        commit = plain(str(meta.get("git_commit") or "unknown")[:10]) + (" (dirty)" if meta.get("git_dirty") else "")
        preset = f", preset {plain(meta['preset'])}" if meta.get("preset") else ""
        machine = meta.get("machine") or {}
        cpu = ", ".join(plain(part) for part in (meta.get("device_name", "?"), machine.get("cpu_id")) if part)
        fingerprint = f"machine {code(meta['machine_fingerprint'])}: " if meta.get("machine_fingerprint") else ""
        return (
            f"{code(run_id)} ({code(meta.get('command', '?'))}; commit {commit}; {fingerprint}{cpu}, "
            f"{meta.get('cpu_threads', '?')} threads{preset}; seed {meta.get('seed', '?')})"
        )


def tagged(rows: pd.DataFrame, tag: str, column: str = "model") -> list[str]:
    """The models (or methods) of ``rows`` whose recorded tags include ``tag``, in row order."""
    if rows.empty:
        return []
    found = rows[rows.tags.fillna("").astype(str).str.split(";").apply(lambda tags: tag in tags)]
    return list(dict.fromkeys(found[column]))


def role(rows: pd.DataFrame, model: str, column: str = "model") -> str:
    """Whose model it is, from what its rows record: the paper's (it carries a tag of the paper's
    models), the harness's own (another built-in) or yours (a plugin, named by its package)."""
    match = rows[rows[column] == model]
    sources = match.source.dropna() if "source" in match else pd.Series(dtype=object)
    source = str(sources.iloc[0]) if len(sources) else "built-in"
    if source != "built-in":
        return f"yours ({source})"
    tags = {tag for value in match.tags.dropna() for tag in str(value).split(";")} if "tags" in match else set()
    return "paper" if tags & PAPER_TAGS else "built-in"


def paper_name(rows: pd.DataFrame, model: str, column: str = "model") -> str:
    """What the paper calls ``model``, as recorded with the rows (the name itself otherwise)."""
    names = rows[(rows[column] == model) & rows.paper_name.notna()].paper_name
    return str(names.iloc[0]) if len(names) else model


def value(rows: pd.DataFrame, model: str, metric: str, **where: Any) -> float | None:
    """The value of ``metric`` for ``model`` in tidy efficiency-style rows, or None."""
    match = rows[(rows.model == model) & (rows.metric == metric)]
    for column, wanted in where.items():
        match = match[match[column] == wanted]
    return float(match.value.iloc[0]) if len(match) and not math.isnan(match.value.iloc[0]) else None
