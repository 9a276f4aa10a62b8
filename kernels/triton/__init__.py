"""Triton kernel sources and generators."""
