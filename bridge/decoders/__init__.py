"""Decoders of the bridge: QG (quantized grade) bank, and the factory for all kinds."""

from bridge.decoders.base import Decoder
from bridge.decoders.factory import open_decoder
from bridge.decoders.qg import QG, QGParams
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.shipped import shipped_model_dir

__all__ = [
    "QG",
    "Decoder",
    "QGBank",
    "QGParams",
    "open_decoder",
    "shipped_model_dir",
]
