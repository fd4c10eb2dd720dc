"""The wheel (issue 14). `scripts/build_wheel.sh` (which `scripts/setup.sh` runs) builds it;
here it is installed into a fresh virtual environment whose PATH has no Rust, from binary
wheels only, and the README's examples and the `pcapframe` command run there. Answers are
compared with this environment's installed package and with tshark's count."""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO

SAMPLE = REPO / "python" / "intake_pcap" / "data" / "sample.pcap"
NO_LIBPCAP = {"INTAKE_PCAP_LIBPCAP": "/nonexistent/libpcap.so.0.8"}


def built_wheel() -> Path:
    wheels = sorted((REPO / "target" / "wheels").glob("intake_pcap-*-manylinux_*.whl"), key=lambda p: p.stat().st_mtime)
    assert wheels, "no wheel in target/wheels: run `bash scripts/build_wheel.sh` (scripts/setup.sh does)"
    return wheels[-1]


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    root = tmp_path_factory.mktemp("wheel") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CARGO", "RUST", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{root / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin"
    for tool in ("cargo", "rustc", "maturin"):
        assert shutil.which(tool, path=env["PATH"]) is None, f"{tool} is on the fresh environment's PATH"
    # Binary wheels only: nothing may be compiled to install the package or its dependencies.
    subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--only-binary", ":all:", str(built_wheel())], check=True, env=env, cwd=root)
    return root, env


def run(venv, *args, extra_env=None, check=True):
    root, env = venv
    return subprocess.run(list(args), capture_output=True, text=True, cwd=root, check=check,
                          env={**env, **(extra_env or {})}, timeout=300)


def python(venv, code, extra_env=None, check=True):
    return run(venv, str(venv[0] / "bin" / "python"), "-c", code, extra_env=extra_env, check=check)


def test_the_wheel_is_manylinux_and_needs_only_the_system_libraries_of_the_policy(tmp_path):
    wheel = built_wheel()
    assert "-cp311-abi3-manylinux_" in wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert "intake_pcap-" + wheel.name.split("-")[1] + ".dist-info/licenses/LICENSE" in names
        so = next(n for n in names if n.endswith(".so"))
        (tmp_path / "native.so").write_bytes(z.read(so))
        metadata = z.read(next(n for n in names if n.endswith("dist-info/METADATA"))).decode()
        entry_points = z.read(next(n for n in names if n.endswith("dist-info/entry_points.txt"))).decode()
    needed = [line.split()[-1] for line in subprocess.run(["objdump", "-p", str(tmp_path / "native.so")],
              capture_output=True, text=True, check=True).stdout.splitlines() if line.strip().startswith("NEEDED")]
    assert needed and not [n for n in needed if "pcap" in n], needed
    assert set(needed) <= {"libc.so.6", "libm.so.6", "libgcc_s.so.1", "ld-linux-x86-64.so.2", "libpthread.so.0", "libdl.so.2"}
    assert "License-Expression: BSD-2-Clause" in metadata and "Project-URL:" in metadata
    assert "Classifier: Operating System :: POSIX :: Linux" in metadata
    assert "pcapframe = intake_pcap._cli:main" in entry_points.replace("=", " = ").replace("  ", " ")


def test_the_readme_examples_run_in_a_fresh_environment(venv):
    import intake

    ours = intake.open_pcap(str(SAMPLE)).read()
    # README "Use": open, read, head; with the same rows as this environment's package.
    out = python(venv, f"""
import json, intake
ds = intake.open_pcap({str(SAMPLE)!r})
df = ds.read()
print(json.dumps([len(df), list(df.columns), [str(t) for t in df.dtypes], df.head().astype(str).values.tolist()]))
""").stdout
    n, columns, dtypes, head = json.loads(out)
    assert n == len(ours) > 0
    assert columns == list(ours.columns)
    assert dtypes == [str(t) for t in ours.dtypes]
    assert head == ours.head().astype(str).values.tolist()
    # README set-up: `python -m intake_pcap` prints the bundled sample's DataFrame.
    main = run(venv, str(venv[0] / "bin" / "python"), "-m", "intake_pcap").stdout
    assert f"[{len(ours)} rows x 6 columns]" in main
    # Filters (libpcap, loaded at run time), flows, dask.
    counts = json.loads(python(venv, f"""
import json, intake
path = {str(SAMPLE)!r}
print(json.dumps([len(intake.open_pcap(path, filter="udp").read()), len(intake.open_pcap_flows(path).read()),
                  len(intake.open_pcap(path).to_dask().compute())]))
""").stdout)
    assert counts == [len(intake.open_pcap(str(SAMPLE), filter="udp").read()),
                      len(intake.open_pcap_flows(str(SAMPLE)).read()), len(ours)]
    assert 0 < counts[0] < len(ours)


def test_the_pcapframe_command_is_in_the_wheel_and_starts_without_pandas(venv):
    command = venv[0] / "bin" / "pcapframe"
    assert command.is_file()
    shown = run(venv, str(command), "show", str(SAMPLE)).stdout
    here = subprocess.run(["pcapframe", "show", str(SAMPLE)], capture_output=True, text=True, check=True).stdout
    assert shown == here and shown.count("\n") > 0
    # tcpdump's habits and a pipe work in the wheel's command too.
    with open(SAMPLE, "rb") as f:
        piped = subprocess.run([str(command), "show", "-r", "-", "-n", "udp"], stdin=f, capture_output=True,
                               text=True, cwd=venv[0], env=venv[1], check=True).stdout
    assert piped and all("UDP" in line for line in piped.splitlines())
    imports = run(venv, str(command), "columns", extra_env={"PYTHONPROFILEIMPORTTIME": "1"}).stderr
    imported = {line.split("|")[-1].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert "intake_pcap._native" in imported
    assert not {m for m in imported if m.split(".")[0] in {"pandas", "intake", "dask", "pyarrow", "numpy"}}
    failed = run(venv, str(command), "show", "/nonexistent.pcap", check=False)
    assert failed.returncode == 1 and "pcapframe:" in failed.stderr and "Traceback" not in failed.stderr


def test_without_libpcap_files_read_and_filters_say_what_to_install(venv):
    import intake

    n = len(intake.open_pcap(str(SAMPLE)).read())
    assert python(venv, f"import intake; print(len(intake.open_pcap({str(SAMPLE)!r}).read()))",
                  extra_env=NO_LIBPCAP).stdout.strip() == str(n)
    failed = python(venv, f"import intake; intake.open_pcap({str(SAMPLE)!r}, filter='udp').read()",
                    extra_env=NO_LIBPCAP, check=False)
    assert failed.returncode == 1
    assert "ImportError: libpcap could not be loaded" in failed.stderr
    assert "apt install libpcap0.8" in failed.stderr and "reading files does not" in failed.stderr
    command = str(venv[0] / "bin" / "pcapframe")
    shown = run(venv, command, "show", str(SAMPLE), extra_env=NO_LIBPCAP)
    assert shown.stdout.count("\n") == n
    refused = run(venv, command, "show", "--filter", "udp", str(SAMPLE), extra_env=NO_LIBPCAP, check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.startswith("pcapframe: libpcap could not be loaded") and "libpcap0.8" in refused.stderr
    live = run(venv, command, "live", "-i", "lo", "-c", "1", extra_env=NO_LIBPCAP, check=False)
    assert live.returncode == 1 and "libpcap could not be loaded" in live.stderr
