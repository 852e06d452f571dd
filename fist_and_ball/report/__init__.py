"""Therapist review: session history, control metrics and the HTML progress report.

No bpy and no matplotlib anywhere in this package (numpy only), so the add-on can call
`recent_sessions` and `build_report` inside Blender's own Python.
"""

from .history import recent_sessions
from .html_report import ReportError, build_report

__all__ = ["ReportError", "build_report", "recent_sessions"]
