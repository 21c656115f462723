//! How far libhtp 0.5 has read a request head that is still arriving, fed incrementally.
//!
//! libhtp reads the request line at its LF and then moves the transaction's progress to
//! `HTP_REQUEST_HEADERS` (unless the line has no protocol: HTTP/0.9 reads no headers), so
//! Suricata inspects the request-line buffers and the buffers read from the header table while
//! the head is still arriving. A header line is added to that table when libhtp knows it is not
//! continued: at its LF when the byte after it is in the same chunk and is not a folding byte
//! (space, tab, NUL), else when the next line that is not a continuation ends. This scanner
//! decides each line once, with the bytes buffered when its LF arrived, as libhtp decides it with
//! the bytes of the current chunk: a byte not yet seen counts as absent.

use super::libhtp::{chomp, is_lws};

const LF: u8 = b'\n';

fn is_folding(c: u8) -> bool {
    is_lws(c) || c == 0
}

/// Incremental reader of a buffered request head (the buffer only grows while scanning).
#[derive(Debug, Default, Clone)]
pub(crate) struct ReqScan {
    /// Where the header lines start (past the request line's LF); 0 before it is read.
    headers_start: usize,
    /// Start of the next line to read.
    pos: usize,
    /// End of the header lines added to the table.
    cut: usize,
    /// A header line (with its continuations) waits to be added.
    pending: bool,
    /// `cut` when the head was last published (0: never).
    pub(crate) published_cut: usize,
    /// Times the partial head was published (bounded by the caller).
    pub(crate) published: u8,
}

impl ReqScan {
    /// Reads the lines complete in `buf` (the same buffer as before, grown). Returns the end of
    /// the request line (past its LF) and the end of the header lines read, once the request
    /// line is complete.
    pub(crate) fn step(&mut self, buf: &[u8]) -> Option<(usize, usize)> {
        if self.headers_start == 0 {
            let nl = buf.iter().position(|&b| b == LF)?;
            self.headers_start = nl + 1;
            self.pos = nl + 1;
            self.cut = nl + 1;
        }
        while let Some(p) = buf
            .get(self.pos..)
            .and_then(|s| s.iter().position(|&b| b == LF))
        {
            let end = self.pos + p + 1;
            let line = &buf[self.pos..end];
            if matches!(line, [LF] | [b'\r', LF]) {
                // The terminator: the caller has the whole head.
                break;
            }
            let mut len = line.len();
            chomp(line, &mut len);
            let folded = line[..len].first().is_none_or(|&c| is_folding(c));
            if folded {
                self.pending = true;
            } else {
                if self.pending {
                    self.cut = self.pos;
                    self.pending = false;
                }
                match buf.get(end) {
                    Some(&c) if !is_folding(c) => self.cut = end,
                    _ => self.pending = true,
                }
            }
            self.pos = end;
        }
        Some((self.headers_start, self.cut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// tcp-fastopen-08: the request as delivered (SYN data, then the next segment); the last
    /// line is cut.
    const SYN: &[u8] = b"GET //a1a2a3a4a5a6a7a8a9a0b1b2b3b4b5b6b7b8b9b0c1c2c3c4c5c6c7c8c9c0d1d2";
    const SEG: &[u8] = b"d3d4d5d6d7d8d9d0 HTTP/1.1\r\nUser-Agent: czxt2s\r\nAccept: */*\r\n\
Host: 10.0.0.61\r\nConnection: Keep-Aliv";

    #[test]
    fn header_lines_read_before_the_head_completes() {
        let mut s = ReqScan::default();
        let mut buf = SYN.to_vec();
        assert_eq!(s.step(&buf), None);
        buf.extend_from_slice(SEG);
        let (start, cut) = s.step(&buf).expect("request line");
        assert_eq!(&buf[..start], &[SYN, &SEG[..27]].concat()[..]);
        assert_eq!(
            &buf[start..cut],
            b"User-Agent: czxt2s\r\nAccept: */*\r\nHost: 10.0.0.61\r\n"
        );
    }

    #[test]
    fn a_line_at_the_chunk_end_waits_for_the_next_line() {
        let mut s = ReqScan::default();
        let mut buf = b"GET / HTTP/1.1\r\nA: 1\r\n".to_vec();
        assert_eq!(s.step(&buf), Some((16, 16)));
        // The next byte arrives: libhtp decided at the LF, the line waits.
        buf.extend_from_slice(b"B: 2");
        assert_eq!(s.step(&buf), Some((16, 16)));
        // The next line ends: the waiting one is added, then this one (its next byte is there).
        buf.extend_from_slice(b"\r\nC");
        assert_eq!(s.step(&buf), Some((16, 28)));
    }

    #[test]
    fn continuation_lines_join_the_waiting_header() {
        let mut s = ReqScan::default();
        let mut buf = b"GET / HTTP/1.1\r\nA: 1\r\n  more\r\nB".to_vec();
        assert_eq!(s.step(&buf), Some((16, 16)));
        buf.extend_from_slice(b": 2\r\n\r");
        assert_eq!(s.step(&buf), Some((16, 36)));
    }
}
