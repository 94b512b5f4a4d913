"""smallmines_deep: deep segmenters (U-Net, Prithvi-EO-2.0, SAM-2) behind the smallmines estimator API.

Needs the ``deep`` extra: ``pip install 'smallmines[deep]'``.
"""

try:
    import torch  # noqa: F401
except ImportError as error:  # pragma: no cover - exercised only without torch
    raise ImportError("smallmines_deep needs PyTorch: install the deep extra with pip install 'smallmines[deep]'") from error
