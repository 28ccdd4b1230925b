"""The benchmarks: their contract and their registry, below whatever runs them (the runner,
``bench all``, the command line). A benchmark is a name, a configuration class whose setting
fields become its command's options, a ``run(config, progress)`` that yields rows of the declared
schema, a ``summary`` for people, the files it reads, its steps in ``bench all`` and — where it
has one — its own test of finished work. :data:`BENCHMARKS` registers them; the command line and
``bench all`` are generated from it. This module is torch-free; a benchmark never prints and
never imports what runs it: the progress display is handed in (docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

from cunet_bench.config.settings import plain, setting
from cunet_bench.errors import UserError
from cunet_bench.models.solver import SolverConfig

Row = dict[str, Any]


class Progress(Protocol):
    """Told what a run is doing now and, where it counts something, how far it is (``done`` of
    ``total`` items), so a display can show a rate and an estimate to finish."""

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None: ...


PLAIN_PROGRESS = "CUNET_BENCH_PLAIN_PROGRESS"
"""Set (by ``bench all`` for the processes it runs side by side): plain lines even on a terminal,
where several spinners would overwrite each other."""


def no_progress(message: str, done: int | None = None, total: int | None = None) -> None:
    """A progress receiver that shows nothing (tests, library use)."""


SOLVER_GRAMMAR = "METHOD[:key=value,…]"
SOLVER = setting(
    "ODE solver of the cU-Nets, e.g. rk4:steps=2 or dopri5:rtol=1e-3",
    read=plain(SolverConfig.parse),
    metavar=SOLVER_GRAMMAR,
)
SOLVERS = setting(
    "ODE solver to sweep; repeat for several: --solver rk4 --solver euler:steps=2",
    read=plain(SolverConfig.parse),
    repeat=True,
    metavar=SOLVER_GRAMMAR,
)
"""The settings of the cU-Nets' solver: one (``bench efficiency``), or a sweep."""


def _checked_threads(value: int, option: str) -> int:
    from cunet_bench.host.threads import check_requested

    return check_requested(value, option)


THREADS = setting(
    "threads to compute with (default: the usable cores less those other runs of the harness or other processes "
    "are using)",
    kind=int,
    read=_checked_threads,
)
"""Every configuration's ``threads``: what the run computes with (None: chosen when it starts)."""


def no_inputs(config: Any) -> list[Path]:
    return []


@dataclass(frozen=True)
class Workload:
    """What a run processed, for the phase table of ``bench all``: how many of what (images
    trained on, samples generated, reverse steps over test images), and the floating-point work
    it took (None where it is not counted)."""

    items: int
    item: str
    gflop: float | None = None


@dataclass(frozen=True)
class Plan:
    """What ``bench all`` hands each benchmark's ``plan``: the preset, where results and
    checkpoints go, the measurement seed, the device, the models ``--models +NAME`` adds to
    the preset's and the shipped weights (``--weights``) that stand in for training."""

    preset: Any
    results: Path
    checkpoints: Path
    seed: int
    device: str
    added: tuple[str, ...] = ()
    weights: Path | None = None

    @property
    def train_seeds(self) -> tuple[int, ...]:
        """The training seeds every trained model is trained and measured at: the preset's, or the
        seeds the shipped weights hold — their verdicts need every seed the reference trained, where a
        small preset trains one (and a model they do not ship is trained at those seeds too)."""
        if self.weights is None:
            return tuple(self.preset.train_seeds)
        from cunet_bench.records.shipped import shipped_seeds

        return shipped_seeds(self.weights)

    def shipped(self, model: str, seed: int) -> Path | None:
        """The shipped file of ``model``'s training seed ``seed`` at its highest step, if ``--weights`` ships it."""
        if self.weights is None:
            return None
        from cunet_bench.records.shipped import shipped_steps

        steps = shipped_steps(self.weights, model, seed)
        return steps[max(steps)] if steps else None

    def shipped_models(self) -> tuple[str, ...]:
        """The models the shipped weights hold at every training seed of the plan, in the manifest's order
        (none without ``--weights``)."""
        if self.weights is None:
            return ()
        from cunet_bench.records.shipped import read_manifest

        entries = read_manifest(self.weights)
        seeds = {entry.seed for entry in entries}  # the plan's training seeds: every seed shipped
        names = dict.fromkeys(entry.model for entry in entries)
        return tuple(name for name in names if {e.seed for e in entries if e.model == name} == seeds)

    def models(
        self, defaults: tuple[str, ...], measures: Callable[[Any], bool], shipped: bool = False
    ) -> tuple[str, ...]:
        """A step's models: the preset's, then each added model the step ``measures`` (a test of its
        :class:`~cunet_bench.registry.spec.ModelSpec`), then, when ``shipped``, each model the shipped
        weights hold that it measures."""
        from cunet_bench.registry.suite import get_model

        extra = self.added + (self.shipped_models() if shipped else ())
        return defaults + tuple(
            name for name in dict.fromkeys(extra) if name not in defaults and measures(get_model(name))
        )

    def adding(self, make: Callable[..., Any], measures: Callable[[Any], bool], shipped: bool = False) -> Any:
        """The configuration ``make(**overrides)`` resolves, with the added models it measures (and the
        shipped ones, when ``shipped``)."""
        config = make()
        models = self.models(tuple(config.models), measures, shipped)
        return config if models == tuple(config.models) else make(models=models)


@dataclass(frozen=True)
class Benchmark:
    """One measurement. ``config`` is its configuration class (with ``device`` and ``seed``
    fields): ``from_preset(preset, **overrides)`` resolves it, ``validate()`` checks it, and the
    fields declared with a setting
    (``cunet_bench.config.settings``) become the command's options. ``run(config, progress)``
    yields rows (building and loading first, then measuring); ``summary(rows)`` gives the titled
    tables printed for people; ``help`` is the command's description after its summary line.
    ``inputs(config)`` names the files the run reads (checkpoints), whose contents are part of its
    identity; ``finished(config)``, where given, says whether the work is already done by the
    benchmark's own test (training: the checkpoint holds the configured steps) instead of a
    recorded run; ``workload(rows)`` what the rows of a run processed; ``plan(plan)`` its steps in
    ``bench all`` as (label, configuration) pairs, none where it has no such function;
    ``side_by_side``: ``bench all`` may run consecutive steps of it in processes of their own
    (each configuration then needs ``from_record``)."""

    name: str
    config: Any
    run: Callable[[Any, Progress], Iterator[Row]]
    summary: Callable[[list[Row]], list[tuple[str, list[Row]]]]
    help: str = ""
    inputs: Callable[[Any], list[Path]] = no_inputs
    finished: Callable[[Any], bool] | None = None
    workload: Callable[[list[Row]], Workload] | None = None
    plan: Callable[[Plan], list[tuple[str, Any]]] | None = None
    side_by_side: bool = False


@dataclass(frozen=True)
class Registered:
    """A benchmark as the registry knows it before importing it: its command, the module of this
    folder that defines ``BENCHMARK``, and the summary ``bench --help`` lists."""

    command: str
    module: str
    summary: str


BENCHMARKS = (
    Registered("efficiency", "efficiency", "Parameters, compute, memory and speed of the models (Table 5, Figure 6)."),
    Registered("solvers", "solvers", "What the cU-Net's ODE solver itself costs."),
    Registered("train", "train", "Train a diffusion backbone or a denoising baseline."),
    Registered("sample", "sample", "Sample images from a trained backbone (Figure 3)."),
    Registered(
        "denoise", "denoise", "Denoise test images through the reverse process and with the baselines (Tables 2-4)."
    ),
    Registered("fid", "fid", "FID and KID versus sampling steps for trained backbones (Table 1)."),
)
"""Every benchmark, in the order ``bench all`` runs the steps of those with a plan. A new benchmark
is a module here defining ``BENCHMARK``, a line in this list and its row kinds in
``records/schema.py`` (the one schema the runner checks rows against and the report reads them
with, without importing a benchmark); its command, its options and its place in ``bench all``
follow."""


def load(entry: Registered) -> Benchmark:
    """The benchmark of a registry entry (imports its module)."""
    import importlib

    return importlib.import_module(f"{__name__}.{entry.module}").BENCHMARK


def by_name(name: str) -> Benchmark:
    """The registered benchmark whose results are recorded under ``name`` (e.g. ``training``)."""
    for entry in BENCHMARKS:
        benchmark = load(entry)
        if benchmark.name == name:
            return benchmark
    raise UserError(f"no registered benchmark records {name!r}")
