"""The package's types: the stub of the native module (``_native.pyi``) against the module
itself (``mypy.stubtest``), the package's hints under mypy, and the public API as a user's
strictly checked code sees it (``examples/typed_api.py``), including what it refuses."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

import intake_pcap
from intake_pcap.__main__ import sample_path

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "typed_api.py"

if importlib.util.find_spec("mypy") is None:
    pytest.fail("mypy is missing: install the test extras (pip install '.[test]', or bash scripts/setup.sh --test)",
                pytrace=False)


@pytest.fixture(scope="module")
def mypy_cache(tmp_path_factory) -> Path:
    """One cache for the module's runs: the first reads numpy, dask and polars' types."""
    return tmp_path_factory.mktemp("mypy_cache")


def _env() -> dict[str, str]:
    # MYPYPATH would put other stubs before the installed package's.
    return {k: v for k, v in os.environ.items() if k != "MYPYPATH"}


def _mypy(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """mypy with the project's settings (pyproject.toml [tool.mypy]: strict)."""
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), "--cache-dir", str(cache),
         "--no-error-summary", *args],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600,
    )


def test_the_installed_package_ships_its_types():
    package = files("intake_pcap")
    assert (package / "py.typed").is_file(), "py.typed is missing from the installed package (PEP 561)"
    assert (package / "_native.pyi").is_file(), "_native.pyi is missing from the installed package"


def test_the_stub_matches_the_native_module(tmp_path):
    # Run where no source tree shadows the installed module, which stubtest imports.
    result = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "intake_pcap._native", "--mypy-config-file",
         str(REPO / "pyproject.toml")],
        cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, f"stubtest found differences:\n{result.stdout}{result.stderr}"
    assert "Success: no issues found in 1 module" in result.stdout


def test_the_package_type_checks(mypy_cache):
    result = _mypy(mypy_cache, str(REPO / "python" / "intake_pcap"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_type_checks_strictly_and_runs(mypy_cache, tmp_path):
    result = _mypy(mypy_cache, "--strict", str(EXAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr

    ran = subprocess.run([sys.executable, str(EXAMPLE)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    frame = intake_pcap.PCAPSource(sample_path()).read()
    udp = intake_pcap.PCAPSource(sample_path(), protocol="udp").read()
    assert f"{len(frame)} IP rows, {len(udp)} UDP rows" in ran.stdout
    assert "first sources: " + ", ".join(str(h) for h in frame["src_host"][:3]) in ran.stdout


def test_the_types_refuse_wrong_options(mypy_cache, tmp_path):
    """A value outside a ``Literal`` and a read option passed by position are errors for a
    type checker (at run time too: ValueError, TypeError)."""
    code = tmp_path / "wrong_options.py"
    code.write_text(
        "from intake_pcap import PCAPSource\n"
        "from intake_pcap._native import CaptureReader, read_capture\n"
        "from intake_pcap.stream import OfflineStream\n"
        'PCAPSource("x.pcap", errors="loud")\n'
        'read_capture("x.pcap", "tcp")\n'
        'read_capture("x.pcap", hosts="text")\n'
        'CaptureReader("x.pcap", columns=["time"], batch_rows="many")\n'
        'OfflineStream("x.pcap", compression="rar")\n'
        'PCAPSource("x.pcap").to_file("out.parquet", format="xlsx")\n'
    )
    result = _mypy(mypy_cache, str(code))
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    expected = {
        4: 'Argument "errors" to "PCAPSource"',
        5: 'Too many positional arguments for "read_capture"',
        6: 'Argument "hosts" to "read_capture"',
        7: 'Argument "batch_rows" to "CaptureReader"',
        8: 'Argument "compression" to "OfflineStream"',
        9: 'Argument "format" to "to_file" of "PCAPSource"',
    }
    assert len(errors) == len(expected), "\n".join(errors)
    for line, message in expected.items():
        assert any(f"wrong_options.py:{line}: error: {message}" in e for e in errors), "\n".join(errors)


@pytest.mark.parametrize(
    "call",
    [
        lambda n: n.read_capture(sample_path(), None, False),
        lambda n: n.CaptureReader(sample_path(), "udp"),
        lambda n: n.LiveReader("lo", "udp"),  # refused before any interface is opened
        lambda n: n.capture_schema(True),
        lambda n: n.write_table(None, "out.parquet", "parquet"),
    ],
    ids=["read_capture", "CaptureReader", "LiveReader", "capture_schema", "write_table"],
)
def test_read_options_are_keyword_only_at_run_time(call):
    from intake_pcap import _native

    with pytest.raises(TypeError, match="positional argument"):
        call(_native)
