"""The shipped MCNN-TG bundle is package data named by `mcnn:default` from any folder, and
commands whose extra is missing say which one in a CliError (one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

import bridge.models
from bridge.cli.errors import CliError
from bridge.cli.extras import require_extra
from bridge.decoders import shipped_model_dir
from bridge.decoders.factory import open_decoder
from bridge.values.source_info import SourceInfo

SOCKET16 = SourceInfo(n_sensors=16, rate_hz=42.7, layout="socket16")


def test_the_bundle_is_found_through_the_package_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = shipped_model_dir()
    assert folder.is_absolute() and (folder / "model.onnx").is_file()
    assert folder.parent == Path(bridge.models.__file__).parent


@pytest.mark.parametrize("spec", ["mcnn:default", "mcnn", "MCNN:Default"])
def test_default_names_the_shipped_bundle_from_anywhere(
    spec: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty folder: nothing relative can be found
    dec = open_decoder(spec, SOCKET16)
    assert dec.name == "mcnn" and dec.ready


def test_a_folder_called_default_is_still_reachable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        open_decoder(f"mcnn:{tmp_path / 'default'}", SOCKET16)


def test_the_shipped_bundle_refuses_another_layout() -> None:
    with pytest.raises(ValueError, match="socket16"):
        open_decoder("mcnn:default", SourceInfo(n_sensors=3, rate_hz=50.0, layout="myo3"))


def test_a_missing_extra_is_named_in_one_line() -> None:
    with pytest.raises(CliError) as err:
        require_extra("blender", ("json", "no_such_module_p16a"), "the scene", "or pass --x")
    msg = str(err.value)
    assert "\n" not in msg
    assert 'pip install "fist-and-ball[blender]"' in msg and "no_such_module_p16a" in msg
    assert msg.startswith("the scene needs no_such_module_p16a, which is not")  # only it
    assert msg.endswith("(or pass --x)")
    require_extra("train", ("json",), "nothing")  # all present: no error
