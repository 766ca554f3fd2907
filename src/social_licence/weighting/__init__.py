"""Weights: targets, the raking solver (bounds, trimming), calibration information and diagnostics."""
