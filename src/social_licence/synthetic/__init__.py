"""Generators of example surveys with their known truth."""
