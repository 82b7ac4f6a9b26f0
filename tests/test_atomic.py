"""Atomic report files (projcomp.atomic): whole files under the mode a plain ``open()``
gives, and nothing left behind by a failed write."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from projcomp.atomic import save_figure, write_bytes, write_json, write_text


def _opened_mode(tmp_path: Path) -> int:
    probe = tmp_path / "probe"
    probe.write_text("")
    return stat.S_IMODE(probe.stat().st_mode)


def test_reports_get_the_mode_of_an_opened_file(tmp_path: Path) -> None:
    """``mkstemp`` makes private files; a report must be readable as any file the user
    writes (0o644 under the usual umask 022)."""
    write_text(tmp_path / "index.md", "# report\n")
    write_json(tmp_path / "results.json", {"a": 1})
    figure = plt.figure()
    save_figure(tmp_path / "plot.png", figure)
    expected = _opened_mode(tmp_path)
    for name in ("index.md", "results.json", "plot.png"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected, name
    assert (tmp_path / "index.md").read_text() == "# report\n"


def test_a_failed_write_leaves_the_old_report_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    write_json(path, {"old": True})
    with pytest.raises(TypeError):
        write_bytes(path, "text, not bytes")  # fails inside the temporary file's write
    assert path.read_text() == '{\n  "old": true\n}\n'
    assert sorted(os.listdir(tmp_path)) == ["results.json"]
