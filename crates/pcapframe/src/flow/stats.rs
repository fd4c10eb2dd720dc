//! A flow's counters in one direction: packets, bytes, TCP flags, sizes and gaps.

use super::observe::Observation;

/// Count, minimum, maximum, mean and spread of a series of whole numbers (IP lengths,
/// nanosecond gaps), kept as exact sums: no sample is stored, no rounding builds up, and
/// adding a value divides nothing (Welford's update divided twice a packet). The sums
/// cannot overflow: an IP length is below 2^17, so a direction's
/// lengths add up to less than its `bytes`; a direction's gaps add up to its last time
/// less its first (each gap is measured from the latest time before it), below 2^64; and
/// a sum of squares of numbers is at most the square of their sum.
///
/// The values are `T` (`u32` IP lengths, `u64` gaps) and the sum of squares two `u64`
/// halves, so that a direction's two series take 88 bytes, not 96 (u128's 16-byte
/// alignment): the flows alive at once are the memory of a read.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments<T> {
    pub count: u64,
    pub min: T,
    pub max: T,
    sum: u64,
    sum_sq_low: u64,
    sum_sq_high: u64,
}

impl<T: Copy + Ord + Into<u64>> Moments<T> {
    #[inline]
    pub fn add(&mut self, value: T) {
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        let x: u64 = value.into();
        self.count += 1;
        self.sum += x;
        let square = x as u128 * x as u128;
        let (low, carry) = self.sum_sq_low.overflowing_add(square as u64);
        self.sum_sq_low = low;
        self.sum_sq_high += (square >> 64) as u64 + carry as u64;
    }

    fn sum_sq(&self) -> u128 {
        (self.sum_sq_high as u128) << 64 | self.sum_sq_low as u128
    }

    /// The mean; `None` for no value.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// The sample standard deviation (n - 1 in the denominator, as pandas' `std` and
    /// nfstream's); `None` below two values.
    pub fn std(&self) -> Option<f64> {
        if self.count < 2 {
            return None;
        }
        // The squares about the mean's whole part q, exactly: sum((x - q)^2) is at most
        // the sum of squares, so the u128 arithmetic that reaches it modulo 2^128 reaches
        // it exactly. The mean's fraction r/n then takes r^2/n off.
        let n = self.count as u128;
        let (sum, q) = (self.sum as u128, self.sum as u128 / n);
        let r = (sum % n) as f64;
        let about_q = self
            .sum_sq()
            .wrapping_sub(2u128.wrapping_mul(q).wrapping_mul(sum))
            .wrapping_add(n.wrapping_mul(q).wrapping_mul(q));
        let m2 = (about_q as f64 - r * r / self.count as f64).max(0.0);
        Some((m2 / (self.count - 1) as f64).sqrt())
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
    pub sizes: Moments<u32>,
    /// Nanoseconds between consecutive packets of the direction (that have a time).
    pub gaps: Moments<u64>,
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
        self.sizes.add(obs.ip_len);
        let Some(time) = time else {
            return;
        };
        if let Some(last) = self.last_time {
            // A packet stamped before the one before it counts a gap of 0. (`last` is the
            // latest time so far; the difference may pass i64::MAX, not u64::MAX.)
            self.gaps
                .add(if time > last { time.abs_diff(last) } else { 0 });
        }
        self.last_time = Some(self.last_time.map_or(time, |l| l.max(time)));
    }

    /// A later piece of a datagram already counted: its data grows the datagram.
    pub fn add_fragment(&mut self, grown: u32) {
        self.bytes += grown as u64;
        self.payload_bytes += grown as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::Moments;

    fn of(values: &[u64]) -> Moments<u64> {
        let mut m = Moments::default();
        values.iter().for_each(|&v| m.add(v));
        m
    }

    #[test]
    fn a_series_has_pandas_mean_and_sample_deviation() {
        let m = of(&[3, 1, 4, 1, 5, 9, 2, 6]);
        assert_eq!((m.count, m.min, m.max), (8, 1, 9));
        assert_eq!(m.mean(), Some(31.0 / 8.0));
        // pandas.Series([3, 1, 4, 1, 5, 9, 2, 6]).std()
        assert!((m.std().unwrap() - 2.748376143).abs() < 1e-9);
        assert_eq!(of(&[7; 5]).std(), Some(0.0));
        assert_eq!(of(&[7]).std(), None);
        assert_eq!(of(&[]).mean(), None);
    }

    #[test]
    fn gaps_summing_to_two_to_the_64_stay_exact() {
        // The widest gaps a direction can have: from i64::MIN to i64::MAX in two steps.
        let (a, b) = (1u64 << 63, (1u64 << 63) - 1);
        let m = of(&[a, b]);
        assert_eq!((m.min, m.max), (b, a));
        assert_eq!(m.mean(), Some(9_223_372_036_854_775_807.5));
        assert!((m.std().unwrap() - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-9);
        // Large values close together: a sum of squares in floats would lose the spread.
        let m = of(&[1_000_000_000_000_000_001, 1_000_000_000_000_000_003]);
        assert!((m.std().unwrap() - std::f64::consts::SQRT_2).abs() < 1e-9);
    }
}
