"""Audit: point-in-time replay, hash chains, checkpoints, history export, verify --projections."""
