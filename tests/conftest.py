import os
import sysconfig
import tempfile
from pathlib import Path

import pytest

# Indexes of large captures are saved for the next read that seeks (README: time ranges):
# the tests keep theirs apart from the user's cache.
os.environ.setdefault("INTAKE_PCAP_INDEX_DIR", tempfile.mkdtemp(prefix="intake-pcap-index-"))

# The `pcapframe` the tests run is the installed package's command (issue 14: the wheel
# carries it), found first on PATH for every subprocess and `shutil.which`.
SCRIPTS = Path(sysconfig.get_path("scripts"))
os.environ["PATH"] = f"{SCRIPTS}{os.pathsep}{os.environ.get('PATH', '')}"
assert (SCRIPTS / "pcapframe").is_file(), f"the package's pcapframe command is not in {SCRIPTS}: install the package"

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("INTAKE_PCAP_CORPUS", REPO.parent / "shared" / "corpus"))
# 116 more public captures with oracles of the same kind (../shared/corpus2/SOURCES.md).
CORPUS2 = Path(os.environ.get("INTAKE_PCAP_CORPUS2", REPO.parent / "shared" / "corpus2"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    assert CORPUS.is_dir(), f"the shared capture corpus is missing at {CORPUS}"
    return CORPUS


def oracle_files(directory=CORPUS):
    """Every capture that has a tshark oracle beside it."""
    return sorted(p.name[: -len(".expected.csv")] for p in directory.glob("*.expected.csv"))


def as_in_dask(df):
    """``read()``'s frame with the dtypes ``to_dask()`` gives (README: ``to_dask``): its
    categoricals as ``string[pyarrow]``, missing values as ``<NA>``."""
    import pandas as pd

    from intake_pcap._read import ADDRESS_STRING_DTYPE

    text = {c: ADDRESS_STRING_DTYPE for c, t in df.dtypes.items() if isinstance(t, pd.CategoricalDtype)}
    return df.astype(text) if text else df
