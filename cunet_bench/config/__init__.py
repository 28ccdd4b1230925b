"""Configurations: the presets, resolving a benchmark's configuration from a preset and
overrides (each setting checked once, by the configuration's ``validate()``), the settings that
declare a field's command-line option, and the seeds derived from a run's seed. Torch-free;
imports only ``files`` and ``errors``."""
