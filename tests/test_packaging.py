"""The package a user installs: its license file and the metadata ``pip show`` reads.

The test builds the wheel the way a release does (the build backend from pyproject.toml, here
without a network) and reads its ``METADATA`` and files back.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.message import Message
from email.parser import Parser
from pathlib import Path

import pytest

import chatsdk

ROOT = Path(__file__).resolve().parents[1]
# The project's own pages all live under this address.
PROJECT = "https://github.com/chatsdk/chatsdk"
BUILD_TIMEOUT = 60.0  # seconds; the build itself takes about one


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        timeout=BUILD_TIMEOUT,
    )
    (built,) = out.glob("chatsdk-*.whl")
    return built


def read_metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def test_license_file_is_the_mit_license() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) the chatsdk authors" in text
    assert "Permission is hereby granted, free of charge, to any person" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text


def test_wheel_declares_the_license_and_ships_its_text(wheel: Path) -> None:
    metadata = read_metadata(wheel)
    assert metadata["Name"] == "chatsdk"
    assert metadata["Version"] == chatsdk.__version__
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    # The classifier says the same as the expression.
    licenses = [c for c in metadata.get_all("Classifier", []) if c.startswith("License ::")]
    assert licenses == ["License :: OSI Approved :: MIT License"]
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert archive.read(name) == (ROOT / "LICENSE").read_bytes()


def test_wheel_links_the_project_pages(wheel: Path) -> None:
    urls: dict[str, str] = {}
    for entry in read_metadata(wheel).get_all("Project-URL", []):
        label, _, url = entry.partition(", ")
        urls[label.lower()] = url
    assert urls["homepage"] == PROJECT
    assert urls["documentation"].startswith(f"{PROJECT}/")
    assert urls["changelog"] == f"{PROJECT}/blob/main/CHANGELOG.md"
    assert urls["issues"] == f"{PROJECT}/issues"
    assert all(url.startswith(PROJECT) for url in urls.values()), urls


def test_wheel_has_keywords_and_a_development_status(wheel: Path) -> None:
    metadata = read_metadata(wheel)
    keywords = metadata["Keywords"].split(",")
    assert {"openai", "llm", "async", "streaming"} <= set(keywords)
    classifiers = metadata.get_all("Classifier", [])
    statuses = [c for c in classifiers if c.startswith("Development Status ::")]
    assert len(statuses) == 1, classifiers
    assert metadata["Summary"] and metadata["Requires-Python"] == ">=3.10"
