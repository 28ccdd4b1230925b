"""Diffusion backbones: the discrete U-Nets and the continuous U-Net family."""
