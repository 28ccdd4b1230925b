"""One module per measurement; each exposes ``run(config) -> list[dict]`` and never prints or writes."""
