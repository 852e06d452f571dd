"""Decoders of the bridge: QG (quantized grade) bank, and the factory for all kinds."""

from bridge.decoders.base import Decoder
from bridge.decoders.calibration import Calibration, CalibrationError, CalibrationRefused
from bridge.decoders.factory import open_decoder
from bridge.decoders.qg import QG, QGParams
from bridge.decoders.qg_bank import QGBank

__all__ = [
    "QG",
    "Calibration",
    "CalibrationError",
    "CalibrationRefused",
    "Decoder",
    "QGBank",
    "QGParams",
    "open_decoder",
]
