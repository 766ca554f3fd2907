"""Regression models of a survey design: spec, fit (design sandwich), ordinal model, results."""
