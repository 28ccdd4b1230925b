"""Configurations: the presets, resolving a benchmark's configuration from a preset and overrides
(each setting checked once, where it enters), and the seeds derived from a run's seed. Torch-free;
imports only ``errors``."""
