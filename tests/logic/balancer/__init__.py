"""Tests of the per-cell balancer logic: safe sequence, relay wear, manual advice."""
