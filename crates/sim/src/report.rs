//! The run summary.

use std::fmt;

use serde::Serialize;

/// Latency from send to receive of returned datagrams, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Number of samples (returned datagrams matched to a send).
    pub samples: u64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
    /// Largest sample.
    pub max_us: f64,
    /// Mean.
    pub mean_us: f64,
}

/// What a simulator run (or [`crate::exchange()`]) did and saw.
///
/// Invariant: `sent == returned + missing`. `corrupt`, `duplicate`, `misdirected` and `unexpected`
/// count received datagrams that matched no outstanding send.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SimReport {
    /// Where datagrams were sent.
    pub target: String,
    /// Capture frames read (0 when datagrams were supplied directly).
    pub frames: u64,
    /// Capture frames skipped: no IP packet, or IP header cut short.
    pub skipped_frames: u64,
    /// IP packets larger than the GWLB MTU, which a GWLB cannot carry: not sent.
    pub over_mtu: u64,
    /// Distinct inner tuples (symmetric 5-tuples).
    pub flows: u64,
    /// GWLB flows, i.e. flow cookies issued (a tuple reused after idle gets a new one).
    pub flow_cookies: u64,
    /// Outer sockets (source ports) used.
    pub sockets: usize,
    /// Datagrams sent.
    pub sent: u64,
    /// Sent datagrams that came back byte-identical on the socket they left from.
    pub returned: u64,
    /// Sent datagrams that did not come back before the timeout after the last send.
    pub missing: u64,
    /// Received datagrams whose bytes match nothing sent (from the target).
    pub corrupt: u64,
    /// Received datagrams identical to one sent on the same socket, beyond the number of times
    /// it was sent.
    pub duplicate: u64,
    /// Received datagrams identical to one sent, but on another socket (wrong outer port).
    pub misdirected: u64,
    /// Received datagrams from an address other than the target.
    pub unexpected: u64,
    /// Sends the kernel refused (counted, not retried, not in `sent`).
    pub send_errors: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes of matched returns.
    pub bytes_returned: u64,
    /// Seconds from the first to the last send.
    pub send_seconds: f64,
    /// Seconds from the first send to the end of the run (last return or timeout).
    pub total_seconds: f64,
    /// Sent datagrams per second (over `send_seconds`).
    pub sent_pps: f64,
    /// Returned datagrams per second (first send to last matched return).
    pub returned_pps: f64,
    /// Send-to-receive latency of matched returns.
    pub latency: LatencySummary,
}

impl SimReport {
    /// True when every datagram sent came back intact and nothing else arrived.
    pub fn is_clean(&self) -> bool {
        self.missing == 0
            && self.corrupt == 0
            && self.duplicate == 0
            && self.misdirected == 0
            && self.unexpected == 0
            && self.send_errors == 0
    }

    /// Percentage of sent datagrams returned (100 when nothing was sent).
    pub fn returned_percent(&self) -> f64 {
        if self.sent == 0 {
            100.0
        } else {
            self.returned as f64 * 100.0 / self.sent as f64
        }
    }
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "gwlb simulator → {}", self.target)?;
        if self.frames > 0 {
            writeln!(
                f,
                "  capture   {} frames, {} skipped, {} flows, {} flow cookies, {} sockets",
                self.frames, self.skipped_frames, self.flows, self.flow_cookies, self.sockets
            )?;
            if self.over_mtu > 0 {
                writeln!(
                    f,
                    "  over mtu  {} packets larger than the GWLB MTU were not sent",
                    self.over_mtu
                )?;
            }
        }
        writeln!(
            f,
            "  sent      {} datagrams ({} bytes) in {:.3} s, {:.0} pps",
            self.sent, self.bytes_sent, self.send_seconds, self.sent_pps
        )?;
        writeln!(
            f,
            "  returned  {} ({:.2} %), {:.0} pps",
            self.returned,
            self.returned_percent(),
            self.returned_pps
        )?;
        writeln!(
            f,
            "  missing   {}   corrupt {}   duplicate {}   misdirected {}   unexpected {}   send errors {}",
            self.missing,
            self.corrupt,
            self.duplicate,
            self.misdirected,
            self.unexpected,
            self.send_errors
        )?;
        let l = &self.latency;
        if l.samples > 0 {
            writeln!(
                f,
                "  latency   p50 {:.1} µs   p99 {:.1} µs   p99.9 {:.1} µs   max {:.1} µs   mean {:.1} µs",
                l.p50_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
            )?;
        }
        write!(
            f,
            "  result    {}",
            if self.is_clean() {
                "ok: every datagram came back byte-identical"
            } else {
                "FAILED"
            }
        )
    }
}
