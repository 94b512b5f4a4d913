"""Monitoring: yearly mapping of regions (``smallmines monitor``) and its report (``smallmines report``)."""

from .monitor import monitor
from .report import MAX_ALERTS, PREVIEW_PIXELS, write_report
from .results import MonitorFolderError, MonitorResults, read_monitor

__all__ = ["MAX_ALERTS", "PREVIEW_PIXELS", "MonitorFolderError", "MonitorResults", "monitor", "read_monitor",
           "write_report"]
