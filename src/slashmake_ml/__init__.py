"""The Moola reference ML pipeline that slashmake's seed workflows run.

Importing this package is cheap: no torch, pandera or dvc is loaded until a submodule
that needs it is imported (validate/drift/notify stay light).
"""

__all__ = ["FEATURE_VERSION"]

# Bumped whenever features.compute_features changes meaning; stored in checkpoints.
FEATURE_VERSION = 1
