"""The re-don check: a short guided routine after the band or socket is put back on,
and the verdict whether the current decoder still fits (docs/redon.md)."""
