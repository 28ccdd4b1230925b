"""Measuring instruments: the timing engine, image metrics (SSIM, PSNR, LPIPS), feature spaces and
distribution distances (FD, KD), reference statistics, pretrained weights and image grids. May
import ``records``, ``host``, ``config``, ``data``, ``files`` and ``errors``."""
