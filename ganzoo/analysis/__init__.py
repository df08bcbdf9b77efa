"""Analyses of GAN training dynamics that need no image model (NumPy only): dirac_gan."""
