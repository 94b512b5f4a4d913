"""Monitoring: every region, every year, in one resumable run (``smallmines monitor``)."""

from .monitor import monitor

__all__ = ["monitor"]
