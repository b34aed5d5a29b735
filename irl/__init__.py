"""internal-rl: hierarchical RL inside the residual stream of autoregressive models.

The library layer: environments, experts, datasets, models, RL and evaluation.
It imports no Prefect, FastAPI or DVC; `flows/` and `serving/` are thin shells over it.
"""

__version__ = "0.1.0"
