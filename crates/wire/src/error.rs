//! The one error type of the crate: every malformed-input class of DESIGN.md section 7 that the wire
//! layer can detect, as a `Copy` value with a stable metric label.

/// A malformed GENEVE datagram or inner packet.
///
/// Each variant is one class of bad input. [`Error::reason`] gives its stable snake_case label (a
/// Prometheus `reason="..."` value) and [`Error::ALL`] lists one value per variant, so counters can be
/// created up front. Errors are `Copy` and never allocate: they are made on the hot path for every
/// dropped packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The GENEVE header is shorter than 8 bytes, or than 8 + 4 * opt_len bytes.
    #[error("geneve header truncated")]
    Truncated,
    /// The GENEVE version is not 0.
    #[error("geneve version is not 0")]
    BadVersion,
    /// A GENEVE option's length runs past the end of the option area.
    #[error("geneve option runs past the option area")]
    OptionOverrun,
    /// An AWS option (class 0x0108) of this type (1, 2 or 3) is absent or has the wrong length.
    #[error("aws geneve option type {0} missing or of wrong length")]
    MissingGwlbOption(u8),
    /// An option we do not understand has the critical bit (type & 0x80) set.
    #[error("unknown critical geneve option")]
    CriticalOption,
    /// The GENEVE protocol type is neither 0x0800 (IPv4) nor 0x86DD (IPv6).
    #[error("geneve protocol type is not ipv4 or ipv6")]
    BadProtocol,
    /// The inner IP version does not match the GENEVE protocol type (or is neither 4 nor 6).
    #[error("inner ip version does not match the geneve protocol type")]
    InnerVersion,
    /// The inner packet is shorter than the fixed IPv4 (20 bytes) or IPv6 (40 bytes) header.
    #[error("inner ip header truncated")]
    InnerTruncated,
    /// The IPv4 IHL is below 5 or claims more than the packet's total length.
    #[error("inner ipv4 header length is invalid")]
    BadIhl,
    /// The IPv4 total length or IPv6 payload length is inconsistent with the header or the bytes received.
    #[error("inner ip total length or payload length is invalid")]
    BadTotalLength,
    /// The IPv6 extension header chain is truncated, misordered (hop-by-hop not first) or invalid.
    #[error("inner ipv6 extension header chain is invalid")]
    BadIpv6ExtHeader,
    /// A fragment is invalid: it extends past 65535 bytes, or an IPv6 packet has two fragment headers.
    #[error("inner ip fragment is invalid")]
    BadFragment,
    /// The TCP, UDP or ICMP header is cut short.
    #[error("inner transport header truncated")]
    TransportTruncated,
    /// The TCP data offset is below 5 or runs past the segment.
    #[error("inner tcp data offset is invalid")]
    BadTcpOffset,
    /// The UDP length field is below 8 or runs past the IP payload.
    #[error("inner udp length is invalid")]
    BadUdpLength,
}

impl Error {
    /// One value of every variant, in declaration order (`MissingGwlbOption` appears once, with type 1;
    /// its label does not depend on the type).
    pub const ALL: &'static [Error] = &[
        Error::Truncated,
        Error::BadVersion,
        Error::OptionOverrun,
        Error::MissingGwlbOption(crate::GWLB_OPT_ENDPOINT),
        Error::CriticalOption,
        Error::BadProtocol,
        Error::InnerVersion,
        Error::InnerTruncated,
        Error::BadIhl,
        Error::BadTotalLength,
        Error::BadIpv6ExtHeader,
        Error::BadFragment,
        Error::TransportTruncated,
        Error::BadTcpOffset,
        Error::BadUdpLength,
    ];

    /// The stable snake_case label of this error class, used as the metric label `reason="..."`.
    /// Labels never change once released; one label per variant.
    pub const fn reason(self) -> &'static str {
        match self {
            Error::Truncated => "geneve_truncated",
            Error::BadVersion => "geneve_bad_version",
            Error::OptionOverrun => "geneve_option_overrun",
            Error::MissingGwlbOption(_) => "geneve_missing_aws_option",
            Error::CriticalOption => "geneve_critical_option",
            Error::BadProtocol => "geneve_bad_protocol",
            Error::InnerVersion => "inner_version_mismatch",
            Error::InnerTruncated => "inner_truncated",
            Error::BadIhl => "inner_bad_ihl",
            Error::BadTotalLength => "inner_bad_total_length",
            Error::BadIpv6ExtHeader => "inner_bad_ipv6_ext_header",
            Error::BadFragment => "inner_bad_fragment",
            Error::TransportTruncated => "inner_transport_truncated",
            Error::BadTcpOffset => "inner_bad_tcp_offset",
            Error::BadUdpLength => "inner_bad_udp_length",
        }
    }

    /// True for errors in the GENEVE encapsulation (the outer layer), false for errors in the inner packet.
    pub const fn is_geneve(self) -> bool {
        matches!(
            self,
            Error::Truncated
                | Error::BadVersion
                | Error::OptionOverrun
                | Error::MissingGwlbOption(_)
                | Error::CriticalOption
                | Error::BadProtocol
        )
    }
}

/// The crate's result type.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_all_lists_every_variant_once_with_distinct_labels() {
        // A match without a wildcard: adding a variant without listing it here fails to compile,
        // and the index check fails until ALL is updated too.
        fn index(e: Error) -> usize {
            match e {
                Error::Truncated => 0,
                Error::BadVersion => 1,
                Error::OptionOverrun => 2,
                Error::MissingGwlbOption(_) => 3,
                Error::CriticalOption => 4,
                Error::BadProtocol => 5,
                Error::InnerVersion => 6,
                Error::InnerTruncated => 7,
                Error::BadIhl => 8,
                Error::BadTotalLength => 9,
                Error::BadIpv6ExtHeader => 10,
                Error::BadFragment => 11,
                Error::TransportTruncated => 12,
                Error::BadTcpOffset => 13,
                Error::BadUdpLength => 14,
            }
        }
        assert_eq!(Error::ALL.len(), 15);
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(index(*e), i, "{e:?} out of place in Error::ALL");
        }
        for (i, a) in Error::ALL.iter().enumerate() {
            for b in &Error::ALL[i + 1..] {
                assert_ne!(a.reason(), b.reason());
            }
        }
    }

    #[test]
    fn test_reason_labels_are_snake_case_and_prefixed() {
        for e in Error::ALL {
            let r = e.reason();
            assert!(
                r.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{r}"
            );
            let prefix = if e.is_geneve() { "geneve_" } else { "inner_" };
            assert!(r.starts_with(prefix), "{r}");
        }
    }

    #[test]
    fn test_missing_option_label_ignores_type() {
        assert_eq!(
            Error::MissingGwlbOption(2).reason(),
            Error::MissingGwlbOption(3).reason()
        );
        assert_eq!(
            Error::MissingGwlbOption(3).to_string(),
            "aws geneve option type 3 missing or of wrong length"
        );
    }

    #[test]
    fn test_messages_are_lowercase_without_period() {
        for e in Error::ALL {
            let m = e.to_string();
            assert!(!m.ends_with('.'), "{m}");
            assert_eq!(m, m.to_lowercase(), "{m}");
        }
    }
}
