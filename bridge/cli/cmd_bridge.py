"""`fist-and-ball bridge`: run a source through a decoder into the websocket server.

The bridge's composition root: it builds the source, decoder and outputs, the
`BridgeControl` shared by the server (client requests) and the pipeline (its decoder
lock), and wires them; no part reaches for another on its own.

    fist-and-ball bridge --source sim:myo3 --port 8765
    fist-and-ball bridge --source serial:/dev/ttyACM0 --decoder qg:cal.json --record s1.csv

Ctrl-C or SIGTERM shut it down cleanly (clients get close code 1001).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

from bridge.cli.errors import CliError
from bridge.control import BridgeControl
from bridge.decoders.base import Decoder
from bridge.gc_policy import GcPauseMeter, GcPolicy, apply_gc_policy
from bridge.log_throttle import LogThrottle
from bridge.outputs.base import Output
from bridge.pipeline import Pipeline
from bridge.realtime import set_process_realtime_priority
from bridge.server.auth import AuthConfigError, AuthPolicy
from bridge.server.ws_server import ServerConfig, ServerStartError, WebSocketServer
from bridge.sim.url import is_sim_url
from bridge.sources.base import Source

if TYPE_CHECKING:
    from collections.abc import Callable

    from bridge.decoders.qg_calibration import Calibration
    from bridge.outputs.hand_output import HandOutput
    from bridge.outputs.recorder import RecorderOutput

TOKEN_ENV = "FIST_AND_BALL_TOKEN"


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "bridge",
        help="run the bridge: KMG source -> decoder -> websocket server (protocol v1)",
        description=(
            "Read KMG samples from a device or the simulator, decode them into grades and "
            "serve them to websocket clients (protocol v1, docs/bridge.md). "
            "Stops on Ctrl-C, SIGTERM, --duration, or when a finite source ends."
        ),
    )
    p.add_argument(
        "--source",
        required=True,
        metavar="URL",
        help="e.g. sim:myo3, serial:/dev/ttyACM0, tcp://HOST:PORT, udp://:PORT, replay:FILE.csv",
    )
    p.add_argument(
        "--decoder",
        default="qg",
        metavar="SPEC",
        help=(
            "qg:CAL.json | qg (sim sources calibrate themselves) | mcnn:DIR | "
            "linear:MODEL.json | none (default: qg)"
        ),
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1; anything else needs --token)",
    )
    p.add_argument(
        "--port", type=int, default=8765, help="websocket port (default 8765; 0 = any free port)"
    )
    p.add_argument(
        "--token",
        default=None,
        help=(
            "shared secret clients must present (Authorization: Bearer, "
            "X-Fist-And-Ball-Token header or ?token=); "
            f"also read from ${TOKEN_ENV}"
        ),
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="accept browser connections from this exact origin (repeatable); others get HTTP 403",
    )
    p.add_argument(
        "--record", metavar="FILE.csv", help="also record the samples (CSV + JSON sidecar)"
    )
    p.add_argument(
        "--lsl",
        nargs="?",
        const="FistAndBall",
        default=None,
        metavar="NAME",
        help="also publish LSL streams NAME-KMG, NAME-magnitude, NAME-grade "
        "(default NAME FistAndBall; needs the lsl extra; docs/lsl.md)",
    )
    p.add_argument(
        "--lsl-scope",
        choices=("machine", "network"),
        default="machine",
        help="machine (default): LSL on loopback only; network: liblsl's own settings",
    )
    p.add_argument(
        "--hand",
        metavar="URL",
        help="drive a hand through the safety layer (e.g. sim:, serial:PORT)",
    )
    p.add_argument(
        "--hand-enable", action="store_true", help="start with the hand enabled (needs --hand)"
    )
    p.add_argument("--quiet", action="store_true", help="no live terminal view")
    p.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    p.add_argument(
        "--queue-size",
        type=int,
        default=512,
        metavar="N",
        help="messages queued per client before dropping (default 512)",
    )
    p.add_argument(
        "--max-clients",
        type=int,
        default=16,
        metavar="N",
        help="websocket connections served at once; more get HTTP 503 (default 16)",
    )
    p.add_argument(
        "--slow-client-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="disconnect a client whose queue stays full this long (default 5)",
    )
    p.add_argument(
        "--realtime",
        type=int,
        nargs="?",
        const=10,
        default=None,
        metavar="PRIO",
        help=(
            "run every bridge thread with SCHED_FIFO priority PRIO (default 10; "
            "Linux, needs CAP_SYS_NICE or an rtprio limit): other busy processes then "
            "cannot delay samples"
        ),
    )
    p.add_argument(
        "--no-gc-tuning",
        action="store_true",
        help=(
            "keep CPython's garbage-collector defaults (by default the bridge freezes its "
            "startup objects and collects less often: shorter pauses, docs/bridge.md)"
        ),
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log connections and details")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    if not 0 <= args.port <= 65535:
        raise CliError(f"--port {args.port} is not a port number 0..65535")
    if args.duration is not None and not args.duration > 0:
        raise CliError("--duration must be a positive number of seconds")
    if not 1 <= args.max_clients <= 10000:
        raise CliError("--max-clients must be 1..10000")
    if args.queue_size < 16:
        raise CliError("--queue-size must be at least 16")
    if args.realtime is not None and not 1 <= args.realtime <= 99:
        raise CliError("--realtime priority must be 1..99")
    if not args.slow_client_timeout > 0:
        raise CliError("--slow-client-timeout must be positive")
    if args.hand_enable and not args.hand:
        raise CliError("--hand-enable needs --hand URL")
    if args.record:
        from bridge.recording import check_new_recording

        try:  # before any device, decoder or port: a bad path must not cost a session
            check_new_recording(args.record, "--record", exists_hint="choose another name")
        except (ValueError, OSError) as exc:
            raise CliError(f"cannot record to {args.record}: {exc}") from None


def _open_source(url: str) -> Source:
    from bridge.sources import open_source

    try:
        return open_source(url)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None


def _sim_calibration(source: Source) -> Calibration | None:
    """Calibrate QG on the simulator behind a `sim:` source (no calibration file needed)."""
    from bridge.decoders.qg_fit import fit_calibration
    from bridge.sim.calibration_run import record_guided_calibration

    config = getattr(source, "config", None)
    if config is None:
        return None
    print("bridge: calibrating QG on the simulator ...", file=sys.stderr, flush=True)
    return fit_calibration(*record_guided_calibration(config))


def _open_decoder(spec: str, source: Source) -> Decoder | None:
    if spec.strip().lower() == "none":
        return None
    from bridge.decoders import open_decoder

    calibration = None
    if spec.strip().lower() == "qg" and is_sim_url(source.url):
        try:
            calibration = _sim_calibration(source)
        except Exception as exc:
            raise CliError(f"calibrating QG on the simulator failed: {exc}") from None
    try:
        return open_decoder(spec, source.info, calibration=calibration)
    except (ValueError, OSError) as exc:
        raise CliError(str(exc)) from None


def _open_recorder(path: str, source: Source) -> RecorderOutput:
    from bridge.outputs.recorder import RecorderOutput

    try:
        return RecorderOutput(path, source.info)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot record to {path}: {exc}") from None


def _open_lsl(name: str, scope: str, source: Source) -> Output:
    from bridge.lsl_scope import LslUnavailable, parse_scope
    from bridge.outputs.lsl_outlet import LslOutlet, LslOutletConfig

    try:
        return LslOutlet(source.info, LslOutletConfig(name=name, scope=parse_scope(scope)))
    except (LslUnavailable, ValueError) as exc:
        raise CliError(f"--lsl: {exc}") from None


def _open_hand(url: str, enabled: bool) -> HandOutput:
    from bridge.outputs.hand_output import open_hand

    try:
        return open_hand(url, enabled=enabled)
    except (ValueError, OSError) as exc:
        raise CliError(f"cannot open the hand {url}: {exc}") from None


def _hand_keys(hand: HandOutput) -> Callable[[str], tuple[bool, str]]:
    """The live view's hand keys (`r` release, `s` stop: no authorization needed)."""
    return lambda action: hand.command(action, False, "terminal key")


def run(args: argparse.Namespace) -> int:
    """Run the bridge until stopped; returns the exit code."""
    _check_args(args)
    root = logging.getLogger()
    before = set(root.handlers)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # A repeating failure logs a few lines plus a count. Only on the handler made here:
    # a host application's (or pytest's) handlers are not ours to filter.
    for handler in set(root.handlers) - before:
        handler.addFilter(LogThrottle())
    token = args.token or os.environ.get(TOKEN_ENV) or None
    try:  # refuse an unsafe configuration before touching any device
        AuthPolicy.create(args.host, token, args.allow_origin)
    except AuthConfigError as exc:
        raise CliError(str(exc)) from None

    source = _open_source(args.source)
    outputs: list[Output] = []
    try:
        decoder = _open_decoder(args.decoder, source)
        hand = _open_hand(args.hand, args.hand_enable) if args.hand else None
        if hand is not None:
            outputs.append(hand)
        control = BridgeControl(source, decoder, hand)
        outputs.append(control)  # it keeps the latest status for `hello`
        server = WebSocketServer(
            ServerConfig(
                host=args.host,
                port=args.port,
                token=token,
                allowed_origins=tuple(args.allow_origin),
                queue_size=args.queue_size,
                hopeless_after_s=args.slow_client_timeout,
                max_clients=args.max_clients,
                realtime_priority=args.realtime,
            ),
            control,
        )
        outputs.append(server)
        recorder = _open_recorder(args.record, source) if args.record else None
        if recorder is not None:
            outputs.append(recorder)
        if args.lsl is not None:
            outputs.append(_open_lsl(args.lsl, args.lsl_scope, source))
        server.start()
    except ServerStartError as exc:
        _close_all(outputs, source)
        raise CliError(str(exc)) from None
    except BaseException:
        _close_all(outputs, source)
        raise

    if not args.quiet:
        from bridge.outputs.live_view import LiveView

        keys = None if hand is None else _hand_keys(hand)
        outputs.append(LiveView(sys.stderr, server_url=server.url, hand_command=keys))
    pipeline = Pipeline(
        source,
        decoder,
        outputs,
        decoder_lock=control.decoder_lock,
        realtime_priority=args.realtime,
    )
    # last thing before the loop: everything alive now lives as long as the bridge
    gc_policy = GcPolicy.off() if args.no_gc_tuning else GcPolicy()
    gc_setup = apply_gc_policy(gc_policy)
    gc_meter = GcPauseMeter().install()
    if args.realtime is not None:
        # every thread, not only the hot ones: see set_process_realtime_priority
        problem = set_process_realtime_priority(args.realtime)
        if problem:
            logging.getLogger("bridge.cli").warning("%s; running with normal priority", problem)
    print(
        f"bridge: listening on {server.url}  source {args.source}  "
        f"decoder {decoder.name if decoder is not None else 'none'}",
        file=sys.stderr,
        flush=True,
    )
    code = _run_until_stopped(pipeline, args.duration)
    gc_meter.uninstall()
    print(
        f"bridge: gc {'tuned' if gc_policy.freeze else 'defaults'}: frozen {gc_setup.frozen} "
        f"objects, thresholds {gc_setup.thresholds}; {gc_meter.pauses().describe()}",
        file=sys.stderr,
        flush=True,
    )
    recorder_error = recorder.status().error if recorder is not None else None
    if recorder_error:
        # the session went on, but its recording is incomplete: say so in the exit code
        print(f"bridge: {recorder_error}", file=sys.stderr)
        return 1
    return code


def _run_until_stopped(pipeline: Pipeline, duration: float | None) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    deadline = None if duration is None else time.monotonic() + duration
    pipeline.start()
    try:
        while not stop.is_set() and not pipeline.finished:
            if deadline is not None and time.monotonic() >= deadline:
                break
            stop.wait(0.1)
    finally:
        pipeline.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    st = pipeline.last_status
    src = st.source if st is not None else None
    print(
        f"bridge: stopped after {pipeline.samples} samples"
        f" (dropped {src.dropped if src else 0}, bad frames {src.bad_frames if src else 0},"
        f" decode errors {pipeline.decode_errors})",
        file=sys.stderr,
        flush=True,
    )
    if pipeline.source_error:
        print(f"bridge: the source failed: {pipeline.source_error}", file=sys.stderr)
        return 1
    return 0


def _close_all(outputs: list[Output], source: Source) -> None:
    for out in outputs:
        try:
            out.close()
        except Exception:
            logging.getLogger("bridge.cli").exception("closing %s failed", out)
    try:
        source.close()
    except Exception:
        logging.getLogger("bridge.cli").exception("closing the source failed")
