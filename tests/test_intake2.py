"""Intake 2's own way (issue 14): the ``PCAP`` data type found by ``recommend`` (by magic
bytes in every byte order, by name ahead of PNG, compressed without Intake's recursion),
its readers to pandas, pyarrow, polars, dask and the flow table, ``reader_from_call``, a
v2 catalog through YAML and back, and Intake's pipelines; each reader's answer equals the
v1 source's."""

import gzip
import shutil

import intake
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from intake.readers import readers

from conftest import CORPUS
from intake_pcap.intake2 import PCAP, PCAPArrow, PCAPDask, PCAPFlows, PCAPPandas, PCAPPolars

HTTP = str(CORPUS / "intake_pcap_tests_http.pcap")
OURS = [PCAPPandas, PCAPArrow, PCAPPolars, PCAPDask, PCAPFlows]


@pytest.mark.parametrize("name", [
    "pcap_be_usec_ether_pptp_gre.pcap", "pcap_le_nsec_ether_http.pcap", "intake_pcap_tests_http.pcap",
    "pcapng_be_3ifaces_ether_null_isb_spb.pcapng", "ether_untagged_vlan_qinq_tcp.pcapng",
])
def test_magic_bytes_find_pcap_whatever_the_name(name, tmp_path):
    renamed = tmp_path / "capture.bin"
    shutil.copy(CORPUS / name, renamed)
    assert intake.datatypes.recommend(str(renamed))[0] is PCAP
    assert intake.datatypes.recommend(str(CORPUS / name))[0] is PCAP


def test_names_find_pcap_ahead_of_png_and_compressed_captures_without_recursion(tmp_path):
    # Not on disk: by name alone.
    assert intake.datatypes.recommend("day.pcapng", head=False)[0] is PCAP
    assert intake.datatypes.recommend("s3://bucket/day.pcap", head=False)[0] is PCAP
    packed = tmp_path / "capture.pcap.gz"
    packed.write_bytes(gzip.compress((CORPUS / "intake_pcap_tests_http.pcap").read_bytes()))
    assert intake.datatypes.recommend(str(packed)) == [PCAP]
    assert len(PCAP(url=str(packed)).to_reader("pandas:DataFrame").read()) == 43


def test_recommend_lists_our_readers_first_packets_before_flows():
    found = intake.recommend(HTTP, reader=True)
    assert list(found)[:5] == OURS
    assert [found[r] for r in OURS] == [
        "pandas:DataFrame", "pyarrow:Table", "polars:DataFrame", "dask.dataframe:DataFrame", "pandas:DataFrame"]
    assert PCAP(url=HTTP).to_reader("pandas:DataFrame").__class__ is PCAPPandas


def test_each_reader_gives_what_the_v1_source_gives():
    data = PCAP(url=HTTP)
    source = intake.open_pcap(HTTP, protocol="tcp")
    want = source.read()
    pd.testing.assert_frame_equal(data.to_reader("pandas:DataFrame", protocol="tcp").read(), want)
    assert data.to_reader("pyarrow:Table", protocol="tcp").read().equals(source.to_arrow())
    polars = data.to_reader("polars:DataFrame", protocol="tcp").read()
    assert isinstance(polars, pl.DataFrame) and polars.height == len(want)
    dask = data.to_reader("dask", protocol="tcp").read()
    assert len(dask.compute()) == len(want)
    flows = data.to_reader(reader="PCAPFlows", idle_timeout=None).read()
    pd.testing.assert_frame_equal(flows, intake.open_pcap_flows(HTTP, idle_timeout=None).read())
    assert data.to_reader("pandas:DataFrame").discover().shape == (43, 6)


def test_reader_from_call_takes_the_v1_calls():
    packets = readers.reader_from_call(f"intake.open_pcap({HTTP!r}, protocol='udp')")
    assert isinstance(packets, PCAPPandas) and len(packets.read()) == 2
    flows = readers.reader_from_call(f"intake.open_pcap_flows({HTTP!r})")
    assert isinstance(flows, PCAPFlows) and len(flows.read()) == len(intake.open_pcap_flows(HTTP).read())


def test_a_v2_catalog_goes_through_yaml_and_back(tmp_path):
    data = PCAP(url=HTTP)
    catalog = intake.entry.Catalog()
    catalog["udp"] = data.to_reader("pandas:DataFrame", protocol="udp")
    catalog["flows"] = data.to_reader(reader="PCAPFlows")
    catalog.to_yaml_file(str(tmp_path / "catalog.yaml"))
    again = intake.entry.Catalog.from_yaml_file(str(tmp_path / "catalog.yaml"))
    pd.testing.assert_frame_equal(again.udp.read(), intake.open_pcap(HTTP, protocol="udp").read())
    assert len(again["flows"].read()) == len(intake.open_pcap_flows(HTTP).read())


def test_intakes_pipelines_are_reachable(tmp_path):
    reader = PCAP(url=HTTP).to_reader("pandas:DataFrame")
    assert {"PandasToParquet", "ToHvPlot"} <= set(dir(reader))
    out = str(tmp_path / "packets.parquet")
    reader.PandasToParquet(url=out).read()
    assert len(pq.read_table(out)) == 43


def test_the_v1_driver_is_unchanged():
    assert intake.open_pcap is not None and len(intake.open_pcap(HTTP).read()) == 43
