"""The DDPM process (schedules, forward noising, ancestral and DDIM steps), training a backbone or a
denoiser, and loading trained models from checkpoints. May import ``registry``, ``measure``,
``records``, ``host``, ``config``, ``data``, ``files`` and ``errors``."""
