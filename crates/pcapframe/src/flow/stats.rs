//! A flow's counters in one direction: packets, bytes, TCP flags, sizes and gaps.

use super::observe::Observation;

/// Count, minimum, maximum, mean and spread of a series, kept as it grows (Welford's
/// algorithm: no sample is stored, and the mean does not drift as a running sum of squares
/// would).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    pub count: u64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    m2: f64,
}

impl Moments {
    pub fn add(&mut self, x: f64) {
        self.count += 1;
        if self.count == 1 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The sample standard deviation (n - 1 in the denominator, as pandas' `std`); `None`
    /// below two values.
    pub fn std(&self) -> Option<f64> {
        (self.count >= 2).then(|| (self.m2 / (self.count - 1) as f64).sqrt())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Direction {
    /// IP packets, a fragmented datagram once.
    pub packets: u64,
    /// IP lengths as the headers write them (a datagram at its reassembled length).
    pub bytes: u64,
    /// Transport payload by the headers' lengths.
    pub payload_bytes: u64,
    /// TCP flags ORed over the direction's packets.
    pub tcp_flags: u8,
    /// The window field of the direction's first TCP packet.
    pub init_window: Option<u16>,
    /// IP lengths of the packets (a datagram: its first piece's).
    pub sizes: Moments,
    /// Nanoseconds between consecutive packets of the direction (that have a time).
    pub gaps: Moments,
    last_time: Option<i64>,
}

impl Direction {
    pub fn add_packet(&mut self, obs: &Observation, time: Option<i64>) {
        self.packets += 1;
        self.bytes += obs.ip_len as u64;
        self.payload_bytes += obs.payload_len as u64;
        if let Some(tcp) = &obs.tcp {
            self.tcp_flags |= tcp.flags;
            self.init_window.get_or_insert(tcp.window);
        }
        self.sizes.add(obs.ip_len as f64);
        let Some(time) = time else {
            return;
        };
        if let Some(last) = self.last_time {
            // A packet stamped before the one before it counts a gap of 0.
            self.gaps.add((time - last).max(0) as f64);
        }
        self.last_time = Some(self.last_time.map_or(time, |l| l.max(time)));
    }

    /// A later piece of a datagram already counted: its data grows the datagram.
    pub fn add_fragment(&mut self, grown: u32) {
        self.bytes += grown as u64;
        self.payload_bytes += grown as u64;
    }
}
