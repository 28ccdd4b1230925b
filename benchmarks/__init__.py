"""The benchmark contract, below both the benchmarks and whatever runs them (the runner, ``bench
all``, the command line): a benchmark is a name, a ``run(config, progress)`` that yields rows of
the declared schema, a ``summary`` for people, the files it reads, and — where it has one — its own
test of finished work. Torch-free; a benchmark never prints and never imports what runs it: the
progress display is handed in (docs/architecture.md, "The flow of data")."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol

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
class Benchmark:
    """One measurement. ``run(config, progress)`` yields rows (building and loading first, then
    measuring); ``summary(rows)`` gives the titled tables printed for people; ``inputs(config)``
    names the files the run reads (checkpoints), whose contents are part of its identity;
    ``finished(config)``, where given, says whether the work is already done by the benchmark's
    own test (training: the checkpoint holds the configured steps) instead of a recorded run;
    ``workload(rows)`` what the rows of a run processed."""

    name: str
    run: Callable[[Any, Progress], Iterator[Row]]
    summary: Callable[[list[Row]], list[tuple[str, list[Row]]]]
    inputs: Callable[[Any], list[Path]] = no_inputs
    finished: Callable[[Any], bool] | None = None
    workload: Callable[[list[Row]], Workload] | None = None
