//! The packet table's flow columns (`flow_id`, `direction`): every packet of a read, in
//! order, placed in its flow by the same flow table (`FlowTable`) that the flow read runs
//! with the same files, options and timeouts, so the ids join.
//!
//! A flow's orientation can change after its first packets: a connection first seen by its
//! SYN-ACK turns at the first ACK or data packet (`Conn::should_flip`), and `direction` is
//! against the flow's final originator. So a read with `direction` first runs the flow
//! table over the whole capture to find where flows turned (a map of those flows only), and
//! places the packets in a second pass: memory stays bounded by the flows alive at once.

use std::collections::HashMap;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use super::conn::Role;
use super::observe::{Frame, Observation};
use super::reader::{FlowReader, FrameSink, Inputs, OpenInput};
use super::table::{FlowTable, Timeouts};
use crate::column::Column;
use crate::dissect::Dissection;
use crate::error::Result;
use crate::format::Record;
use crate::options::ReadOptions;
use crate::reader::RowBuilder;
use crate::stats::ReadStats;

/// Places packets, one after another in read order, in their flows.
pub struct FlowPlacer {
    table: FlowTable,
    decapsulate: bool,
    /// Flows that turned after their first packet, with the packet at which each turned
    /// (the packets before it went the other way round).
    turns: HashMap<u64, Frame>,
}

impl FlowPlacer {
    pub fn new(timeouts: Timeouts, decapsulate: bool, turns: HashMap<u64, Frame>) -> Self {
        FlowPlacer {
            table: FlowTable::new(timeouts),
            decapsulate,
            turns,
        }
    }

    /// The packet's flow id, and whether it goes from the flow's (final) originator.
    #[inline]
    pub fn place(
        &mut self,
        record: &Record<'_>,
        dissection: &Dissection,
        frame: Frame,
    ) -> (u64, bool) {
        let obs = Observation::of(
            record.data,
            dissection,
            record.timestamp_ns,
            frame,
            self.decapsulate,
            false,
            None,
        );
        let placed = self
            .table
            .add(&obs)
            .expect("without verifying checksums, every packet is placed");
        if self.table.ended_len() > 0 {
            self.table.discard_ended();
        }
        let before_turn = self
            .turns
            .get(&placed.flow_id)
            .is_some_and(|&at| frame < at);
        (placed.flow_id, (placed.role == Role::Orig) != before_turn)
    }
}

/// The packet rows of every file of a read, in order, with the flow columns.
pub struct LabeledPacketReader {
    inputs: Inputs,
    rows: RowBuilder,
    batch_rows: usize,
}

impl LabeledPacketReader {
    /// A reader of `inputs` (in time order: one traffic) with `options`' columns, placing
    /// packets in flows cut by `timeouts`. With `direction` among the columns, the inputs
    /// are read twice (each `OpenInput` is opened twice), the first time on `threads`
    /// threads (as `FlowReader::with_threads`).
    pub fn new(
        inputs: Vec<OpenInput>,
        options: ReadOptions,
        timeouts: Timeouts,
        threads: usize,
    ) -> Result<Self> {
        let turns = if options.selected_columns().contains(&Column::Direction) {
            let mut first = FlowReader::new(inputs.clone(), options.clone(), timeouts)?
                .with_threads(threads, None)
                .with_late_turns();
            while first.next_with(|_| ())?.is_some() {}
            first.take_late_turns()
        } else {
            HashMap::new()
        };
        let placer = FlowPlacer::new(timeouts, options.decapsulate, turns);
        // The flow columns are the flow table's without verifying checksums (every packet
        // is a row, so every packet has a flow).
        let options = ReadOptions {
            verify_checksums: false,
            ..options
        };
        Ok(LabeledPacketReader {
            inputs: Inputs::new(inputs, &options)?,
            rows: RowBuilder::with_flows(&options, placer)?,
            batch_rows: options.batch_rows.max(1),
        })
    }

    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }

    pub fn stats(&self) -> ReadStats {
        let mut stats = self.rows.stats().clone();
        stats.truncated = self.inputs.truncated();
        stats
    }

    /// The next batch of at most `batch_rows` rows; `None` once every file is read.
    pub fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        struct Rows<'a> {
            rows: &'a mut RowBuilder,
            limit: usize,
        }
        impl FrameSink for Rows<'_> {
            #[inline]
            fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()> {
                self.rows.push_framed(record, frame)
            }
            #[inline]
            fn go_on(&self) -> bool {
                self.rows.len() < self.limit && !self.rows.is_full()
            }
            fn skipped_outside_time_range(&mut self, packets: u64) {
                self.rows.count_outside_time_range(packets)
            }
        }
        while !self.inputs.done() && self.rows.len() < self.batch_rows && !self.rows.is_full() {
            self.inputs.pump(&mut Rows {
                rows: &mut self.rows,
                limit: self.batch_rows,
            })?;
        }
        Ok(self.rows.finish())
    }
}

impl Iterator for LabeledPacketReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch().transpose()
    }
}

/// The packet numbers (`frame`), one sorted list per input, of every packet of the flows
/// whose `flow_id` is in `ids`: the flow table of `inputs` (in time order, one traffic)
/// read with `options` and `timeouts`, as `open_pcap_flows` and `pcapframe flows` give it.
pub fn frames_of_flows(
    inputs: Vec<OpenInput>,
    options: &ReadOptions,
    timeouts: Timeouts,
    ids: &[u64],
) -> Result<Vec<Vec<u64>>> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::UInt64Type;
    use arrow_array::Array;
    /// Rows read between two looks at their flow ids.
    const ROWS: usize = 1 << 16;
    let ids: std::collections::HashSet<u64> = ids.iter().copied().collect();
    let count = inputs.len();
    let options = ReadOptions {
        columns: Some(vec![Column::Frame, Column::FlowId]),
        payload: false,
        verify_checksums: false,
        batch_rows: ROWS,
        ..options.clone()
    };
    let placer = FlowPlacer::new(timeouts, options.decapsulate, HashMap::new());
    let mut inputs = Inputs::new(inputs, &options)?;
    let mut rows = RowBuilder::with_flows(&options, placer)?;
    /// Rows, and the input of each (a flow goes on from one file into the next).
    struct Rows<'a> {
        rows: &'a mut RowBuilder,
        files: &'a mut Vec<u32>,
    }
    impl FrameSink for Rows<'_> {
        #[inline]
        fn record(&mut self, record: &Record<'_>, frame: Frame) -> Result<()> {
            let before = self.rows.len();
            self.rows.push_framed(record, frame)?;
            if self.rows.len() > before {
                self.files.push(frame.file);
            }
            Ok(())
        }
        fn go_on(&self) -> bool {
            self.rows.len() < ROWS
        }
        fn skipped_outside_time_range(&mut self, packets: u64) {
            self.rows.count_outside_time_range(packets)
        }
    }
    let mut files = Vec::new();
    let mut out = vec![Vec::new(); count];
    loop {
        while !inputs.done() && rows.len() < ROWS {
            inputs.pump(&mut Rows {
                rows: &mut rows,
                files: &mut files,
            })?;
        }
        if let Some(batch) = rows.finish() {
            let frame = batch.column(0).as_primitive::<UInt64Type>();
            let flow = batch.column(1).as_primitive::<UInt64Type>();
            for (i, &file) in files.iter().enumerate() {
                if flow.is_valid(i) && ids.contains(&flow.value(i)) {
                    out[file as usize].push(frame.value(i));
                }
            }
        }
        files.clear();
        if inputs.done() {
            break;
        }
    }
    for frames in &mut out {
        frames.sort_unstable();
        frames.dedup();
    }
    Ok(out)
}
