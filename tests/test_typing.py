"""Type checkers see the truth: ``stream=`` picks the return type, and mistakes are errors."""

from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

SAMPLE = Path(__file__).parent / "typing" / "overloads.py"


def test_overloads_and_parameters_type_check(tmp_path: Path) -> None:
    out, err, status = mypy_api.run(
        ["--strict", "--no-incremental", "--cache-dir", str(tmp_path), str(SAMPLE)]
    )
    assert status == 0, out + err
    assert "Success" in out
