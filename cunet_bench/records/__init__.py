"""What the harness writes and reads back: the row schema, runs (rows with their provenance, written
atomically and checked as produced), provenance, and checkpoints in safetensors. Everything read
back is validated. May import ``host``, ``config``, ``data``, ``files`` and ``errors``."""
