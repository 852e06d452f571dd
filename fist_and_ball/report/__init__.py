"""Therapist review: session history, control metrics and the HTML progress report.

No bpy and no matplotlib anywhere in this package (numpy only), so the add-on can call
`recent_sessions` and `build_report` inside Blender's own Python.
"""

from fist_and_ball.report.history import recent_sessions
from fist_and_ball.report.html_report import ReportError, build_report

__all__ = ["ReportError", "build_report", "recent_sessions"]
