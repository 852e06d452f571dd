"""The MCNN-TG bundle that ships inside the package, and the spec names that mean it.

The bundle is package data (bridge/models/mcnn_socket16/), found with importlib.resources,
so `--decoder mcnn:default` works from any folder and from an installed wheel, never
relative to the working directory.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

SHIPPED_MODELS_PACKAGE = "bridge.models"
SHIPPED_MCNN_DIR = "mcnn_socket16"
SHIPPED_MCNN_LAYOUT = "socket16"
SHIPPED_ALIASES = ("", "default")
"""`mcnn` and `mcnn:default` name the shipped bundle; `mcnn:./default` is a folder."""


def shipped_model_dir() -> Path:
    """The folder of the shipped MCNN-TG bundle (socket16 layout).

    Raises FileNotFoundError when the package was installed without its data, or from a
    zip (onnxruntime needs a real file).
    """
    root = importlib.resources.files(SHIPPED_MODELS_PACKAGE) / SHIPPED_MCNN_DIR
    if not isinstance(root, Path) or not (root / "model.json").is_file():
        raise FileNotFoundError(
            f"the shipped MCNN-TG bundle is missing from this installation ({root}): "
            "reinstall fist-and-ball"
        )
    return root


def is_shipped_alias(arg: str) -> bool:
    """True when the argument of `mcnn:ARG` names the shipped bundle."""
    return arg.strip().lower() in SHIPPED_ALIASES
