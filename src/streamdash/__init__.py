"""streamdash: event streams in, live analytics dashboards out."""

__version__ = "0.1.0"
