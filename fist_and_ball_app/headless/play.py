"""`fist-and-ball play`: a whole session in background Blender (bpy as a module).

Two feeds:
- a virtual patient (default): it watches the ball and drives the simulator, whose
  frames go through a real bridge subprocess and come back as grades over the
  websocket. Game time follows the simulated device clock, so a session runs faster
  than real time and replays deterministically for a seed;
- a running bridge (`--bridge ws://...`): grades from a real or simulated device in
  real time.
Timers never fire in background mode, so the runner calls the scene update itself
for every sample, exactly what the live timer does.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bridge.sim.config import SimConfig
from bridge.sim.simulator import SimFrame
from fist_and_ball.core.autopilot import Autopilot, resolve_skill
from fist_and_ball.core.game import Game
from fist_and_ball.core.levels import check_minutes, get_level
from fist_and_ball.core.score_log import ScoreLog
from fist_and_ball.core.view import GameView
from fist_and_ball.live.client import BridgeClient, check_url, is_loopback_url
from fist_and_ball.live.mailbox import Mailbox
from fist_and_ball.live.quiet_threads import Pausable, quiet
from fist_and_ball.live.session_controller import SessionController, SessionError
from fist_and_ball_app.headless.sim_chain import SimulatedChain
from fist_and_ball_app.headless.video import check_video_path, write_animation

IN_FLIGHT = 3
Progress = Callable[[float, GameView, dict[str, Any]], None]


@dataclass(slots=True)
class PlayOptions:
    """Everything a headless session needs; defaults match the demo."""

    level: str = "easy"
    minutes: int = 2
    seed: int = 0
    patient: str | None = "average"
    patient_name: str = "virtual-patient"
    bridge_url: str | None = None
    intent_port: int | None = None
    layout: str = "myo3"
    decoder: str = "qg"
    log_dir: Path = Path("fist-and-ball-sessions")
    render_dir: Path | None = None
    render_fps: float = 2.0
    video: Path | None = None
    """Animated .webp/.gif of the rendered frames (frames go to a temp dir if no render_dir)."""
    resolution: tuple[int, int] = (640, 360)
    scene_updates: bool = True


@dataclass(slots=True)
class PlayResult:
    """Where the session's outputs went and how it went."""

    summary: dict[str, Any]
    log_json: Path
    log_timeline: Path
    frames_dir: Path | None
    frames: int
    wall_s: float
    samples: int
    video: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class SceneDriver:
    """Builds the scene once and applies every view; renders frames at a fixed game fps."""

    def __init__(self, opts: PlayOptions) -> None:
        import bpy  # must come first: it provides mathutils to the scene code

        from fist_and_ball.scene.apply import apply_view
        from fist_and_ball.scene.build import build_scene

        self._apply = apply_view
        # start from an empty file: no default cube, light or world in the frames
        bpy.ops.wm.read_factory_settings(use_empty=True)
        self.refs = build_scene()
        self._dir = opts.render_dir
        self._period = 1.0 / opts.render_fps if opts.render_fps > 0 else float("inf")
        self._resolution = opts.resolution
        self._next_t: float | None = None
        self.frames = 0
        self.threads: list[Pausable] = []
        """Holders of Python threads that must stand still while a frame renders."""
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)

    def show(self, t: float, view: GameView) -> None:
        self._apply(self.refs, view)
        if self._dir is None:
            return
        if self._next_t is None:
            self._next_t = t
        if t + 1e-9 >= self._next_t:
            from fist_and_ball.scene.render import render_png

            # Blender prints a line per saved render on fd 1; the render is an operator
            # under an override, so the network thread must stand still (quiet_threads.py)
            with _quiet_stdout(), quiet(self.threads):
                render_png(self._dir / f"frame_{self.frames:05d}.png", self._resolution)
            self.frames += 1
            self._next_t += self._period


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def run_play(opts: PlayOptions, progress: Progress | None = None) -> PlayResult:
    """Play one session headless and return where its log, frames and video are."""
    check_options(opts)
    video = opts.video
    if video is None:
        return _run(opts, progress)
    with tempfile.TemporaryDirectory(prefix="fistball-frames-") as tmp:
        if opts.render_dir is None:
            opts = replace(opts, render_dir=Path(tmp))
        result = _run(opts, progress)
        assert result.frames_dir is not None
        frames = sorted(result.frames_dir.glob("frame_*.png"))
        result.video = write_animation(frames, video, opts.render_fps)
        if result.frames_dir == Path(tmp):
            result.frames_dir = None
    return result


def check_options(opts: PlayOptions) -> None:
    """Refuse bad options before the scene is built and the bridge started (ValueError),
    and create the output folders so an unwritable one fails now, not after the session."""
    check_minutes(opts.minutes)
    get_level(opts.level)
    if opts.bridge_url is None and opts.patient is None:
        raise ValueError("give a virtual patient skill or a bridge URL to play against")
    if opts.patient is not None:
        resolve_skill(opts.patient)
    if not (math.isfinite(opts.render_fps) and opts.render_fps > 0):
        raise ValueError(f"the render rate must be > 0 frames per second; got {opts.render_fps}")
    if opts.bridge_url is not None:
        problem = check_url(opts.bridge_url, allow_remote=True)
        if problem:
            raise ValueError(problem)
        if not is_loopback_url(opts.bridge_url):
            # the headless client has no token (contract 3: remote listeners need one)
            raise ValueError(
                f"{opts.bridge_url}: play connects only to a bridge on this machine "
                "(ws://127.0.0.1:PORT); forward the port to reach a remote one"
            )
    if opts.intent_port is not None and opts.bridge_url is None:
        raise ValueError("the intent port drives a separate simulator: use it with a bridge URL")
    if opts.intent_port is not None and not 1 <= opts.intent_port <= 65535:
        raise ValueError(f"the intent port must be 1..65535; got {opts.intent_port}")
    if not opts.scene_updates and (opts.render_dir is not None or opts.video is not None):
        raise ValueError("rendering frames or a video needs the scene: drop --no-scene")
    if opts.video is not None:
        check_video_path(opts.video)
    folders = [("score log", opts.log_dir), ("frames", opts.render_dir)]
    if opts.video is not None:
        folders.append(("video", opts.video.parent))
    for what, folder in folders:
        if folder is None:
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"cannot create the {what} folder {folder}: {exc}") from None


def _run(opts: PlayOptions, progress: Progress | None) -> PlayResult:
    scene = SceneDriver(opts) if opts.scene_updates else None
    if opts.bridge_url:
        return _play_from_bridge(opts, scene, progress)
    return _play_virtual_patient(opts, scene, progress)


def _open_log(opts: PlayOptions, decoder: str, source: str) -> ScoreLog:
    return ScoreLog.open(
        opts.log_dir,
        patient=opts.patient_name,
        level=opts.level,
        minutes=opts.minutes,
        decoder=decoder,
        source=source,
        seed=opts.seed,
    )


def _play_virtual_patient(
    opts: PlayOptions, scene: SceneDriver | None, progress: Progress | None
) -> PlayResult:
    assert opts.patient is not None
    config = SimConfig(layout=opts.layout, seed=opts.seed)
    # the simulator's patient adds its own reaction delay: the policy must not add another
    pilot = Autopilot(opts.patient, opts.seed, reaction_s=0.0)
    game = Game(opts.level, opts.minutes, opts.seed)
    t_wall = time.perf_counter()
    samples = 0
    with SimulatedChain(config, decoder=opts.decoder) as chain:
        source = f"{chain.hello.get('source')} <- sim:{opts.layout} (patient {opts.patient})"
        log = _open_log(opts, str(chain.hello.get("decoder", opts.decoder)), source)
        try:
            t0 = chain.sim.t_next_s
            view = game.start(t0)
            # A few frames in flight hide the round trip; the patient then sees the game
            # IN_FLIGHT samples late, a fixed and deterministic extra delay (~70 ms).
            in_flight: deque[SimFrame] = deque()
            while not game.finished:
                while len(in_flight) < IN_FLIGHT:
                    gesture, closure = pilot.intent(chain.sim.t_next_s, view)
                    in_flight.append(chain.send(gesture, closure))
                got = chain.receive(in_flight.popleft())
                samples += 1
                t = got.frame.t_s
                view = game.step(t, got.grade, got.closure, got.gesture)
                log.append(t, game.row())
                if scene is not None:
                    scene.show(t, view)
                if progress is not None:
                    progress(t - t0, view, {"samples": samples})
        except BaseException:
            log.close(game.summary(), completed=False, end_reason="interrupted")
            raise
        summary = log.close(game.summary(), completed=game.completed)
    return _result(opts, scene, log, summary, time.perf_counter() - t_wall, samples)


def _play_from_bridge(
    opts: PlayOptions, scene: SceneDriver | None, progress: Progress | None
) -> PlayResult:
    """Real time against a running bridge, through the add-on's own live controller
    (grades stepped at their arrival time, pause on a lost link or a silent bridge)."""
    assert opts.bridge_url is not None
    mailbox = Mailbox()
    client = BridgeClient(opts.bridge_url, mailbox)
    controller = SessionController()
    intent: _IntentSender | None = None
    t_wall = time.perf_counter()
    samples = 0
    if scene is not None:
        scene.threads.append(client)
    try:
        client.start()
        _wait_for_hello(controller, mailbox, opts.bridge_url)
        if opts.intent_port:
            intent = _IntentSender(opts.intent_port)
        pilot = (
            Autopilot(opts.patient, opts.seed, reaction_s=0.0) if intent and opts.patient else None
        )
        try:
            game = controller.start(
                time.monotonic(),
                level=opts.level,
                minutes=opts.minutes,
                seed=opts.seed,
                patient=opts.patient_name,
                log_folder=opts.log_dir,
                require_signal=False,  # until grades flow the game waits, paused "no signal"
            )
        except SessionError as exc:
            raise ValueError(str(exc)) from None
        log = controller.score_log
        assert log is not None
        while not game.finished:
            time.sleep(1.0 / 60.0)
            now = time.monotonic()
            got = mailbox.drain()
            samples += len(got.grades)
            view = controller.update(got, now)
            if pilot is not None and intent is not None:
                intent.send(*pilot.intent(now, view))
            if scene is not None:
                scene.show(now, view)
            if progress is not None:
                progress(game.played_s, view, {"samples": samples, "connected": got.connected})
    except BaseException:
        controller.close(time.monotonic(), "interrupted")
        raise
    finally:
        client.stop()
        if intent is not None:
            intent.close()
    summary = controller.last_summary
    return _result(opts, scene, log, summary, time.perf_counter() - t_wall, samples)


def _result(
    opts: PlayOptions,
    scene: SceneDriver | None,
    log: ScoreLog,
    summary: dict[str, Any],
    wall_s: float,
    samples: int,
) -> PlayResult:
    return PlayResult(
        summary=summary,
        log_json=log.json_path,
        log_timeline=log.timeline_path,
        frames_dir=opts.render_dir,
        frames=scene.frames if scene else 0,
        wall_s=wall_s,
        samples=samples,
    )


def _wait_for_hello(
    controller: SessionController, mailbox: Mailbox, url: str, timeout_s: float = 10.0
) -> None:
    """Feed the controller until the bridge's hello arrives (ConnectionError after timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = mailbox.drain()
        controller.update(got, time.monotonic())
        if got.hello is not None:
            return
        if time.monotonic() >= deadline:
            raise ConnectionError(
                f"no bridge answered at {url} within {timeout_s:.0f} s "
                f"({got.connection_detail or 'no reply'})"
            )
        time.sleep(0.05)


class _IntentSender:
    """Sends the autopilot's intent to `fist-and-ball simulate --intent-port P` over UDP."""

    def __init__(self, port: int) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._addr = ("127.0.0.1", port)

    def send(self, gesture: str, closure: float) -> None:
        # the simulator's intent datagram names the closure `level` (its own format)
        payload = json.dumps({"gesture": gesture, "level": round(closure, 4)}).encode()
        self._sock.sendto(payload, self._addr)

    def close(self) -> None:
        self._sock.close()


def print_progress(minutes: int) -> Progress:
    """A progress line on stderr, updated a few times per second of wall time."""
    total = minutes * 60.0
    last = [0.0]

    def show(t: float, view: GameView, info: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - last[0] < 0.25 and t < total:
            return
        last[0] = now
        done = min(max(t / total, 0.0), 1.0)
        bar = "#" * int(done * 30)
        state = " PAUSED" if view.paused else ""
        sys.stderr.write(
            f"\r[{bar:<30}] {t:6.1f}/{total:.0f} s  score {view.score:7.1f}  "
            f"grade {view.grade}  {'holding' if view.holding else '       '}{state}  "
        )
        sys.stderr.flush()

    return show
