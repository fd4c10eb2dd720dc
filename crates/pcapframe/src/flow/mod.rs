//! Flows: packets grouped into conversations by their bidirectional 5-tuple, with Zeek's
//! originator, `conn_state` and `history`, nfstream's timeouts and per-direction counters,
//! and Community ID. One module per step:
//! [`observe`] (what a packet tells the table) -> [`table`] (keys, timeouts, fragments) ->
//! [`conn`] (Zeek's connection rules), [`stats`] (counters) and [`app`] (application,
//! server name, fingerprints) -> [`batch`] (Arrow) ->
//! [`reader`] (files in order, flows as they end); [`label`] places the packet table's rows
//! in their flows (`flow_id`, `direction`); [`shard`] splits the table across workers.

pub mod app;
pub mod batch;
pub mod conn;
pub mod label;
pub mod observe;
pub mod reader;
pub mod shard;
pub mod stats;
pub mod table;

pub use batch::{flow_columns, flow_markdown_table, flow_schema, flows_batch, FlowColumns};
pub use label::{frames_of_flows, FlowPlacer, LabeledPacketReader};
pub use observe::{Frame, Observation};
pub use reader::{path_input, FlowReader, OpenInput};
pub use table::{flow_id, EndReason, Flow, FlowKey, FlowTable, Placed, Timeouts};

#[cfg(test)]
mod tests;
