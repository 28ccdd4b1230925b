"""The ``bench`` command line: the commands generated from the benchmark registry, option parsing,
the entry point that words every user error as one line, the progress display and tables. The only
part that prints; it may import every other part, lazily, so that ``bench --help`` loads no torch."""
