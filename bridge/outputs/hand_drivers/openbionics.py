"""A driver in the style of the open Open Bionics hand firmware's serial commands.

Written from the public description of the command forms only (no firmware code):

- per-finger mode (protocol `openbionics`): one line per finger,
  ``F<finger> P<position> S<speed>\\n`` with finger 0..4 (0 thumb .. 4 little),
  position 0..100 (integer percent, 0 = open) and speed 0..255 (motor speed setting);
  e.g. ``F1 P75 S200``.
- CSV mode (protocol `openbionics-csv`): one line of five comma-separated integer
  positions, thumb first, e.g. ``50,50,50,50,50\\n``. The firmware must already be in
  its CSV position mode; the driver sends no mode-switch line.

These hands have no powered wrist and no stop line: an emergency stop simply stops
sending (the host-side slew limit keeps the last setpoint within one tick of the
commanded trajectory, and worm gears hold without power). Lines the hand prints are
read and discarded (that also notices an unplugged port).
"""

from __future__ import annotations

from bridge.outputs.hand_drivers.base import SerialLineDriver
from bridge.outputs.pose_map import Pose


def _pct(v: float) -> int:
    return int(min(max(round(v), 0), 100))


def format_finger_lines(positions: Pose, speed: int) -> list[str]:
    """The per-finger lines for `positions` (motor coordinates)."""
    return [f"F{i} P{_pct(v)} S{speed}" for i, v in enumerate(positions.fingers)]


def format_csv_line(positions: Pose) -> str:
    """The CSV-mode line for `positions` (motor coordinates)."""
    return ",".join(str(_pct(v)) for v in positions.fingers)


class OpenBionicsDriver(SerialLineDriver):
    """`F<n> P<pos> S<speed>` for all five fingers, or one CSV line per pose (`csv=True`)."""

    has_wrist = False

    def __init__(
        self, port: str, baud: int = 115200, *, csv: bool = False, speed: int = 255
    ) -> None:
        super().__init__(port, baud)
        if not 0 <= speed <= 255:
            raise ValueError(f"openbionics speed must be 0..255, got {speed}")
        self.csv = csv
        self.speed = speed
        self.name = "openbionics-csv" if csv else "openbionics"

    def send(self, positions: Pose) -> None:
        if self.csv:
            self.write_line(format_csv_line(positions))
        else:
            for line in format_finger_lines(positions, self.speed):
                self.write_line(line)

    def feedback(self) -> Pose | None:
        self.read_lines()  # discarded: this protocol reports no positions
        return None
