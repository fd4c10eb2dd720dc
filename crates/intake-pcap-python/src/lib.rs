//! `intake_pcap._native`: the Rust reader as Python objects, a thin layer over the
//! `pcapframe` core split by topic. Every entry point runs inside `errors::guard`, so a
//! Rust panic becomes a Python exception instead of crossing the boundary; readers take
//! their options by keyword only (`options::ReadArgs`). `python/intake_pcap/_native.pyi`
//! describes this module for type checkers; `tests/test_typing.py` holds the two together.

mod arrow;
mod cli;
mod errors;
mod files;
mod flows;
mod gil;
mod live;
mod options;
mod packet;
mod read;
mod write;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add(
        "TEXT_AFTER_DISTINCT_HOSTS",
        pcapframe::batch::TEXT_AFTER_DISTINCT_HOSTS,
    )?;
    errors::register(m)?;
    m.add_class::<arrow::ArrowBatch>()?;
    m.add_class::<arrow::ArrowSchema>()?;
    m.add_class::<read::CaptureReader>()?;
    m.add_class::<live::LiveReader>()?;
    m.add_class::<flows::FlowTableReader>()?;
    m.add_class::<flows::LabeledCaptureReader>()?;
    m.add_class::<flows::ObservedPartition>()?;
    m.add_function(wrap_pyfunction!(flows::observe_partition, m)?)?;
    m.add_function(wrap_pyfunction!(flows::shard_flows, m)?)?;
    m.add_function(wrap_pyfunction!(flows::flow_table_schema, m)?)?;
    m.add_function(wrap_pyfunction!(read::read_capture, m)?)?;
    m.add_function(wrap_pyfunction!(cli::pcapframe_main, m)?)?;
    m.add_function(wrap_pyfunction!(read::plan_partitions, m)?)?;
    m.add_function(wrap_pyfunction!(read::capture_schema, m)?)?;
    m.add_function(wrap_pyfunction!(read::column_names, m)?)?;
    m.add_function(wrap_pyfunction!(read::column_docs, m)?)?;
    m.add_function(wrap_pyfunction!(flows::flow_column_docs, m)?)?;
    m.add_function(wrap_pyfunction!(read::stream_column_names, m)?)?;
    m.add_function(wrap_pyfunction!(read::protocol_names, m)?)?;
    m.add_function(wrap_pyfunction!(read::check_filter, m)?)?;
    m.add_function(wrap_pyfunction!(read::check_protocol, m)?)?;
    m.add_function(wrap_pyfunction!(write::write_table, m)?)?;
    m.add_function(wrap_pyfunction!(write::extract_capture, m)?)?;
    m.add_function(wrap_pyfunction!(write::packet_at, m)?)?;
    m.add_function(wrap_pyfunction!(packet::decode_packet, m)?)?;
    Ok(())
}
