"""``python -m cunet_bench.cli`` (and ``torchrun -m cunet_bench.cli``) runs the ``bench`` command line."""

from cunet_bench.cli.app import main

main()
