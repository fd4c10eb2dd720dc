//! The flow table split across workers (dask), exactly. Two steps:
//!
//! 1. Each partition of the read (a byte range of a file, or a whole input) is decoded into
//!    the observations of its packets, independently (`parallel::observe_partition`).
//! 2. Each of `shards` workers runs a flow table over the observations of every partition,
//!    in read order, keeping only the packets of its shard: flows are split by their
//!    addresses (either order), protocol, VLAN and tunnel id, which every packet of a flow
//!    shares, fragments included (a later fragment has no ports).
//!
//! A flow's packets, counters and state depend on no other flow's, except through the
//! capture's clock (the latest time seen, which ends idle flows and cuts active ones). Each
//! worker computes the clock over every packet, its shard's or not, and gives it to its
//! table at each of its packets (`FlowTable::add_at`), and at the end ends as idle what the
//! last clock made idle (`finish_at`). So each shard's flows are exactly those of the
//! sequential table, whichever partitions and shards: `tests` hold this on the corpus.

use super::observe::{Observation, Observations};
use super::reader::OpenInput;
use super::table::{clock_after, Flow, FlowTable, Timeouts};
use crate::error::Result;
use crate::format::Record;
use crate::ip::Addr;
use crate::options::ReadOptions;
use crate::parallel::{FileRead, RangeRows};
use crate::reader::{pump, PumpEnd, RecordSink};

/// Which of `shards` the flow of `obs` falls in.
pub fn shard_of(obs: &Observation, shards: u32) -> u32 {
    // A multiply-xorshift mix of what every packet of a flow shares, the two addresses
    // taken in either order: each shard's worker computes it for every packet of the
    // read, so it is a few multiplications rather than a byte-wise hash. Not keyed: a
    // crafted capture can put every flow in one shard, which makes the work uneven, never
    // the answer wrong.
    fn fold(addr: &Addr) -> u64 {
        match addr {
            Addr::V4(b) => u32::from_be_bytes(*b) as u64,
            Addr::V6(b) => {
                let (hi, lo) = b.split_at(8);
                let hi = u64::from_be_bytes(hi.try_into().expect("8 bytes"));
                let lo = u64::from_be_bytes(lo.try_into().expect("8 bytes"));
                (hi ^ lo.rotate_left(32)).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1 << 63
            }
        }
    }
    let (a, b) = (fold(&obs.src), fold(&obs.dst));
    let (low, high) = (a.min(b), a.max(b));
    let mut h = low.wrapping_mul(0xff51_afd7_ed55_8ccd)
        ^ high.rotate_left(31).wrapping_mul(0xc4ce_b9fe_1a85_ec53)
        ^ (obs.protocol as u64) << 48
        ^ obs.vlan.map_or(1 << 40, |v| (v as u64) << 24)
        ^ obs
            .tunnel_id
            .map_or(1 << 63, |t| (t as u64).wrapping_mul(0x9e37_79b9));
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 29;
    (h % shards.max(1) as u64) as u32
}

/// The observations of a whole input, read sequentially (a compressed file, a remote one,
/// or one whose byte ranges cannot be read on their own): step 1 for it.
pub fn observe_input(input: &OpenInput, options: &ReadOptions) -> Result<FileRead<Observation>> {
    struct Sink<'a>(&'a mut Observations);
    impl RecordSink for Sink<'_> {
        #[inline]
        fn record(&mut self, record: &Record<'_>) -> Result<()> {
            self.0.push(record)
        }
        #[inline]
        fn go_on(&mut self, _: u64) -> Result<bool> {
            Ok(true)
        }
        fn skipped_outside_time_range(&mut self, packets: u64) {
            self.0.skip_outside_time_range(packets)
        }
    }
    let mut records = input.open(options)?;
    let mut rows = Observations::new(options)?;
    let end = pump(
        &mut records,
        u64::MAX,
        options.errors,
        &options.cancel,
        &mut Sink(&mut rows),
    );
    let truncated = match end {
        Ok(PumpEnd::Truncated(e)) => Some(e.to_string()),
        Ok(_) => None,
        Err(e) => {
            return Err(match records.path() {
                Some(p) => e.in_file(p),
                None => e,
            })
        }
    };
    let mut stats = std::mem::take(rows.stats_mut());
    stats.truncated = truncated;
    Ok(FileRead {
        batches: rows.take_piece(),
        stats,
    })
}

/// The flows of shard `shard` of `shards`, from the observations of every partition of a
/// read, in read order; sorted by `flow_id`.
pub fn shard_flows<'a>(
    partitions: impl IntoIterator<Item = &'a [Observation]>,
    shard: u32,
    shards: u32,
    timeouts: Timeouts,
) -> Vec<Flow> {
    let mut table = FlowTable::new(timeouts);
    let mut clock = None;
    let mut flows = Vec::new();
    for observations in partitions {
        for obs in observations {
            let now = clock_after(clock, obs);
            clock = Some(now);
            if shard_of(obs, shards) == shard {
                let _ = table.add_at(obs, now);
                if table.ended_len() > 0 {
                    table.with_ended(usize::MAX, |ended| {
                        flows.extend(ended.iter().map(|&f| f.clone()))
                    });
                }
            }
        }
    }
    table.finish_at(clock);
    table.with_ended(usize::MAX, |ended| {
        flows.extend(ended.iter().map(|&f| f.clone()))
    });
    flows.sort_by_key(|f| f.id);
    flows
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::reader::FlowReader;
    use crate::flow::{flows_batch, path_input};
    use crate::index::plan_partitions;
    use crate::options::{Cancel, ReadOptions, TruncationPolicy};
    use crate::parallel::observe_partition;

    /// Every pcap and pcapng capture of the corpus.
    fn corpus_captures() -> Vec<std::path::PathBuf> {
        let corpus = match std::env::var_os("INTAKE_PCAP_CORPUS") {
            Some(dir) => std::path::PathBuf::from(dir),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
        };
        std::fs::read_dir(&corpus)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| {
                matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("pcap" | "pcapng")
                )
            })
            .collect()
    }

    /// Every corpus capture, cut into partitions and shards of several sizes, with timeouts
    /// short enough to end flows all along: the shards' flows together are the sequential
    /// table's.
    #[test]
    fn shards_of_partitions_give_the_sequential_flows() {
        let options = ReadOptions {
            errors: TruncationPolicy::Ignore,
            ..ReadOptions::default()
        };
        let timeouts = Timeouts {
            idle_ns: Some(2_000_000_000),
            active_ns: Some(60_000_000_000),
        };
        let mut checked = 0;
        let mut sharded_flows = 0;
        for path in corpus_captures() {
            let mut reader =
                FlowReader::new(vec![path_input(path.clone())], options.clone(), timeouts).unwrap();
            let mut want = Vec::new();
            while let Some(more) = reader.next_flows().unwrap() {
                want.extend(more);
            }
            want.sort_by_key(|f| f.id);
            let want = flows_batch(&want);
            for block in [500u64, 20_000] {
                let (stamp, plan) = plan_partitions(&path, block, &Cancel::new()).unwrap();
                let observed: Vec<Vec<Observation>> = match &plan {
                    Ok(partitions) => partitions
                        .iter()
                        .map(|p| {
                            observe_partition(&path, &options, &stamp, p)
                                .unwrap()
                                .batches
                        })
                        .collect(),
                    // Not splittable: the whole file, sequentially.
                    Err(_) => vec![
                        observe_input(&path_input(path.clone()), &options)
                            .unwrap()
                            .batches,
                    ],
                };
                let partitions = observed.len();
                // As a dask worker hands them to another: through bytes.
                for o in &observed {
                    assert_eq!(
                        &crate::flow::observe::decode(&crate::flow::observe::encode(o)).unwrap(),
                        o
                    );
                }
                for shards in [1u32, 2, 5] {
                    let mut got: Vec<Flow> = (0..shards)
                        .flat_map(|k| {
                            shard_flows(observed.iter().map(|o| o.as_slice()), k, shards, timeouts)
                        })
                        .collect();
                    got.sort_by_key(|f| f.id);
                    sharded_flows += got.len();
                    assert!(
                        flows_batch(&got) == want,
                        "{}: {} partitions of {block} bytes, {shards} shards",
                        path.display(),
                        partitions
                    );
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 40 && sharded_flows > 5_000,
            "{checked} files, {sharded_flows} flows"
        );
    }

    /// With the application columns, each file is observed whole (a partition in its
    /// middle is refused: its TCP streams began before it); through bytes and shards, the
    /// flows and their application columns are the sequential table's.
    #[test]
    fn shards_with_application_columns_give_the_sequential_flows() {
        use crate::flow::{flow_columns, FlowColumns};
        let names: Vec<&str> = flow_columns().iter().map(|d| d.name).collect();
        let columns = FlowColumns::named(Some(&names)).unwrap();
        let options = ReadOptions {
            errors: TruncationPolicy::Ignore,
            flow_app: true,
            ..ReadOptions::default()
        };
        let timeouts = Timeouts::default();
        let (mut checked, mut with_app, mut refused) = (0, 0, 0);
        for path in corpus_captures() {
            let mut reader =
                FlowReader::new(vec![path_input(path.clone())], options.clone(), timeouts)
                    .unwrap()
                    .with_columns(columns.clone())
                    .unwrap();
            let mut want = Vec::new();
            while let Some(more) = reader.next_flows().unwrap() {
                want.extend(more);
            }
            want.sort_by_key(|f| f.id);
            with_app += want.iter().filter(|f| f.app.is_some()).count();
            let observed = observe_input(&path_input(path.clone()), &options)
                .unwrap()
                .batches;
            let observed =
                crate::flow::observe::decode(&crate::flow::observe::encode(&observed)).unwrap();
            for shards in [1u32, 3] {
                let mut got: Vec<Flow> = (0..shards)
                    .flat_map(|k| shard_flows([observed.as_slice()], k, shards, timeouts))
                    .collect();
                got.sort_by_key(|f| f.id);
                assert!(
                    columns.batch(&got) == columns.batch(&want),
                    "{}: {shards} shards",
                    path.display()
                );
            }
            let (stamp, plan) = plan_partitions(&path, 500, &Cancel::new()).unwrap();
            if let Ok(partitions) = plan {
                for p in partitions.iter().skip(1) {
                    let e = observe_partition(&path, &options, &stamp, p).err().unwrap();
                    assert!(e.to_string().contains("read it as one partition"), "{e}");
                    refused += 1;
                }
            }
            checked += 1;
        }
        assert!(
            checked >= 40 && with_app >= 20 && refused > 100,
            "{checked} files, {with_app} flows with application facts, {refused} refused"
        );
    }
}
