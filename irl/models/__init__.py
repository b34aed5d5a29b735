"""Sequence models over pinpad trajectories and the controllers that edit their residual stream."""
