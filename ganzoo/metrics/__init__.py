"""Evaluation: the FID Inception network and the metrics of the paper (FID, KID, IS, MS-SSIM,
sliced Wasserstein distance, precision/recall), with one evaluator streaming samples once.

Submodules load on first use (the network pulls in Keras).
"""
