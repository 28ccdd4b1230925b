"""What runs a benchmark: the runner (seeding, provenance, rows written as they come, atomically),
``bench all``'s pipeline and its side-by-side training processes. It receives a benchmark and its
resolved configuration and never names a benchmark's internals; it may import ``benchmarks`` (the
contract and registry), ``registry``, ``measure``, ``records``, ``host``, ``config``, ``files``
and ``errors``, never ``cli`` or ``report``."""
