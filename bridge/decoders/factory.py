"""`open_decoder(spec, info)`: decoder specs of the command line -> Decoder objects.

Forms: `qg:CAL.json`, `qg` (needs a Calibration passed in: the bridge calibrates a
simulated source itself), `mcnn:MODEL_DIR`, `mcnn:default` or `mcnn` (the bundle shipped in
the package, socket16 layout), `linear:MODEL.json`, `track:TWIN.json` (magnet tracking
with a patient twin). The ML decoders are imported lazily so the QG path never loads
onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

from bridge.decoders.base import Decoder
from bridge.decoders.field_reference import FieldReference, reference_for
from bridge.decoders.linear import LinearDecoder
from bridge.decoders.mcnn import McnnDecoder
from bridge.decoders.qg_bank import QGBank
from bridge.decoders.qg_calibration import Calibration, CalibrationError
from bridge.decoders.shipped import is_shipped_alias, shipped_model_dir
from bridge.values.source_info import SourceInfo

SPEC_FORMS = (
    "qg:CAL.json (QG bank from a calibration file; ?reference=off turns the environment "
    "rejection off)",
    "qg (with a simulated source: calibrated automatically)",
    "mcnn:MODEL_DIR (MCNN-TG model directory)",
    "mcnn:default or mcnn (the MCNN-TG bundle shipped in the package, socket16 layout); "
    "?reference=CAL.json adds the environment report from a QG calibration of the socket",
    "linear:MODEL.json (linear baseline model)",
    "track:TWIN.json (magnet tracking with a patient twin from fist-and-ball twin fit)",
)


def _forms() -> str:
    return "; ".join(SPEC_FORMS)


def _reference_option(arg: str) -> tuple[str, bool]:
    """Split `?reference=on|off` (environment rejection, docs/environment_rejection.md)."""
    base, sep, query = arg.rpartition("?")
    if not sep or not query.startswith("reference="):
        return arg, True
    value = query.removeprefix("reference=").lower()
    if value not in ("on", "off"):
        raise ValueError(f"decoder option reference={value!r}: use reference=on or reference=off")
    return base, value == "on"


def _reference_from(path: str, info: SourceInfo, n_sensors: int) -> FieldReference:
    """The environment report for MCNN-TG from a QG calibration file of the same socket."""
    cal = Calibration.load(path, info)
    ref = reference_for(cal.field_reference, cal.n_sensors)
    if ref is None or cal.n_sensors != n_sensors:
        raise ValueError(
            f"reference={path}: the calibration holds no field reference for "
            f"{n_sensors} sensors (a band, or made before it was recorded): calibrate the "
            "socket again (fist-and-ball calibrate)"
        )
    ref.set_rate(info.rate_hz)
    return ref


def _at_rate(bank: QGBank, info: SourceInfo) -> QGBank:
    if bank.reference is not None:
        bank.reference.set_rate(info.rate_hz)
    return bank


def open_decoder(spec: str, info: SourceInfo, *, calibration: Calibration | None = None) -> Decoder:
    """Build the decoder named by `spec` for a source described by `info`.

    Raises ValueError (unknown or incomplete spec, file problems, a calibration or
    model made for another layout; the message names the file or the accepted forms).
    """
    kind, _, arg = spec.strip().partition(":")
    kind = kind.lower()
    if kind == "qg":
        arg, reference = _reference_option(arg)
        if arg:
            return _at_rate(QGBank.load(arg, info, reference=reference), info)
        if calibration is None:
            raise ValueError(
                "decoder 'qg' needs a calibration: use qg:CAL.json (make one with "
                "fist-and-ball calibrate); only a sim: source is calibrated automatically"
            )
        try:
            calibration.check_source(info)
        except CalibrationError as exc:
            raise ValueError(str(exc)) from None
        return _at_rate(QGBank(calibration, reference=reference), info)
    if kind == "mcnn" and "?reference=" in arg:
        model, _, ref_path = arg.partition("?reference=")
        decoder = open_decoder(f"mcnn:{model}", info)
        if isinstance(decoder, McnnDecoder):
            decoder.reference = _reference_from(ref_path, info, decoder.n_sensors)
        return decoder
    if kind == "mcnn" and is_shipped_alias(arg):
        try:
            return McnnDecoder.load(str(shipped_model_dir()), info)
        except FileNotFoundError as exc:
            raise ValueError(str(exc)) from None
    if kind in ("mcnn", "linear"):
        if not arg:
            raise ValueError("decoder 'linear' needs a model: linear:MODEL.json")
        if not Path(arg).exists():
            raise ValueError(f"decoder {kind}: model {arg} does not exist")
        if kind == "mcnn":
            return McnnDecoder.load(arg, info)
        return LinearDecoder.load(arg, info)
    if kind == "track":
        if not arg:
            raise ValueError(
                "decoder 'track' needs a twin: track:TWIN.json (fist-and-ball twin fit)"
            )
        # lazy: the tracker pulls in scipy, needed only for track:
        from bridge.decoders.track import TrackDecoder

        return TrackDecoder.load(arg, info)
    raise ValueError(f"unknown decoder {spec!r}; use one of: {_forms()}")
