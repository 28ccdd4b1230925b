"""cunet-bench: a benchmarking and reproduction harness for the continuous U-Net (cU-Net)
of "The Missing U for Efficient Diffusion Models" (arXiv 2310.20092)."""

__version__ = "0.1.0"
