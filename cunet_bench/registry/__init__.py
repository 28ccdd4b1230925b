"""The one suite of models: each model's spec (family, tags, scales, supported options), the
catalogue of built-in models and plugins, the two model contracts and ``bench models``'s listing.
The only part that names models; may import ``models``, ``baselines`` and ``errors``."""
