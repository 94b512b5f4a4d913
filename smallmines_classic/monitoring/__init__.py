"""Monitoring: yearly mapping of regions (``smallmines monitor``) and its report (``smallmines report``)."""

from .._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "monitor": ["monitor"],
    "report": ["MAX_ALERTS", "PREVIEW_PIXELS", "write_report"],
    "results": ["MonitorFolderError", "MonitorResults", "read_monitor"],
})
