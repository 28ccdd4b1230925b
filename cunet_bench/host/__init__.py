"""The machine the harness runs on: its fingerprint (CPU, ISA flags, memory), usable cores and the
threads chosen, contention from other processes, the C allocator's settings, stop signals and the
compile cache folder. Imports only ``files`` and ``errors``."""
