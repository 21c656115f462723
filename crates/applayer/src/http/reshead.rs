//! Response head framing as libhtp 0.5 does it, fed incrementally: where the status line and
//! each header line end (a bare CR ends a line, LF-CR counts as one line ending, a line of
//! one space or tab before more data ends the head), which header lines continue the previous
//! one (a line starting with a space, tab or NUL), and how a header line splits into name and
//! value. Lines are decided with the bytes buffered so far, as libhtp decides them with the
//! bytes of the current chunk: a byte not yet seen counts as absent.

use super::libhtp::{chomp, is_lws, is_space};

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// libhtp's cap on a folded header's length (`HTP_MAX_HEADER_FOLDED`).
const MAX_FOLDED: usize = 102_400;

/// What [`ResScan::step`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResStep {
    /// More bytes are needed.
    NeedMore,
    /// `buf[start..end]` is a first line that is body, not a status line (libhtp's
    /// "treat response line as body").
    BodyLine { start: usize, end: usize },
    /// The head is complete; the body starts at `end`.
    Done { end: usize },
}

/// Incremental scanner over a buffered response head (the buffer only grows while scanning).
#[derive(Debug, Default, Clone)]
pub(crate) struct ResScan {
    /// Start of the line being read.
    pos: usize,
    /// Where reading resumes inside that line.
    cursor: usize,
    /// The previous line ended with LF CR.
    lfcr: bool,
    /// The status line (without its line ending) once read: (start, end).
    pub(crate) status: Option<(usize, usize)>,
    /// Where the header lines start.
    pub(crate) headers_start: usize,
    /// A header line waiting for possible continuation lines.
    pending: Option<Vec<u8>>,
    /// Header lines as processed: (name, value), before combining.
    pub(crate) fields: Vec<(Vec<u8>, Vec<u8>)>,
    /// Fields dropped over `max`.
    pub(crate) dropped: usize,
    /// The status line's protocol is exactly `HTTP/1.1` (folding rule).
    http11: bool,
    /// Times the partial head was published (bounded by the caller).
    pub(crate) published: u8,
}

fn is_folding(c: u8) -> bool {
    is_lws(c) || c == 0
}

/// libhtp's `htp_is_line_empty`.
fn line_empty(l: &[u8]) -> bool {
    matches!(l, [CR] | [LF] | [CR, LF])
}

impl ResScan {
    /// Start of the line being read.
    pub(crate) fn line_start(&self) -> usize {
        self.pos
    }

    /// Reads the lines complete in `buf` (the same buffer as before, grown), keeping at most
    /// `max` header fields.
    pub(crate) fn step(&mut self, buf: &[u8], max: usize) -> ResStep {
        loop {
            if self.status.is_none() {
                let Some(end) = self.status_line_end(buf) else {
                    return ResStep::NeedMore;
                };
                let line = &buf[self.pos..end];
                if line_empty(line) {
                    self.pos = end;
                    self.cursor = end;
                    continue;
                }
                let mut len = line.len();
                chomp(line, &mut len);
                if super::response_line_is_body(&line[..len]) {
                    // libhtp skips such a line when a line starting with `H` follows (or the
                    // line is tiny), if at least two more bytes are there.
                    if end + 1 < buf.len() && (buf[end] == b'H' || len <= 2) {
                        self.pos = end;
                        self.cursor = end;
                        continue;
                    }
                    let start = self.pos;
                    self.pos = end;
                    self.cursor = end;
                    return ResStep::BodyLine { start, end };
                }
                self.status = Some((self.pos, self.pos + len));
                let proto_end = line[..len]
                    .iter()
                    .position(|&b| !is_space(b))
                    .map_or(len, |s| {
                        s + line[s..len]
                            .iter()
                            .position(|&b| is_space(b))
                            .unwrap_or(len - s)
                    });
                let first = line[..proto_end]
                    .iter()
                    .position(|&b| !is_space(b))
                    .unwrap_or(proto_end);
                self.http11 = &line[first..proto_end] == b"HTTP/1.1";
                self.pos = end;
                self.cursor = end;
                self.headers_start = end;
                continue;
            }
            let Some(end) = self.header_line_end(buf) else {
                return ResStep::NeedMore;
            };
            let start = self.pos;
            self.pos = end;
            self.cursor = end;
            let line = &buf[start..end];
            let next = buf.get(end).copied();
            let next_no_lf = next.is_some_and(|b| b != LF);
            let terminator = line_empty(line)
                || (line.len() == 2 && is_lws(line[0]) && line[1] == LF && next_no_lf);
            if terminator {
                if let Some(p) = self.pending.take() {
                    self.process(&p, max);
                }
                return ResStep::Done { end };
            }
            let mut len = line.len();
            chomp(line, &mut len);
            let line = &line[..len];
            let folded = line.first().is_none_or(|&c| is_folding(c));
            if !folded {
                if let Some(p) = self.pending.take() {
                    self.process(&p, max);
                }
                if next.is_some_and(is_folding) {
                    self.pending = Some(line.to_vec());
                } else {
                    self.process(line, max);
                }
            } else {
                match self.pending.take() {
                    None => {
                        let trim = line
                            .iter()
                            .position(|&c| !is_folding(c))
                            .unwrap_or(line.len());
                        self.pending = Some(line[trim..].to_vec());
                    }
                    Some(mut p) => {
                        if line.contains(&b':') && p.contains(&b':') && self.http11 {
                            self.process(&p, max);
                            self.pending = Some(line.get(1..).unwrap_or_default().to_vec());
                        } else {
                            if p.len() < MAX_FOLDED {
                                p.extend_from_slice(line);
                            }
                            self.pending = Some(p);
                        }
                    }
                }
            }
        }
    }

    /// libhtp's `RES_LINE`: a line ends at LF, or at a CR not followed by LF.
    fn status_line_end(&mut self, buf: &[u8]) -> Option<usize> {
        let mut i = self.cursor.max(self.pos);
        loop {
            let &c = buf.get(i)?;
            i += 1;
            if c == CR {
                let Some(&n) = buf.get(i) else {
                    self.cursor = i - 1;
                    return None;
                };
                if n == LF {
                    continue;
                }
                return Some(i);
            }
            if c == LF {
                return Some(i);
            }
            self.cursor = i;
        }
    }

    /// libhtp's `RES_HEADERS` line endings.
    fn header_line_end(&mut self, buf: &[u8]) -> Option<usize> {
        let mut i = self.cursor.max(self.pos);
        loop {
            let Some(&c) = buf.get(i) else {
                self.cursor = i;
                return None;
            };
            i += 1;
            if c != LF && c != CR {
                self.lfcr = false;
                continue;
            }
            if c == CR {
                let Some(&n) = buf.get(i) else {
                    self.cursor = i - 1;
                    return None;
                };
                if n == LF {
                    i += 1;
                    if self.lfcr && buf.get(i) == Some(&CR) {
                        // LF CR CR LF CR LF: two line endings, not three.
                        i += 1;
                        self.pos += 1;
                        if buf.get(i) == Some(&LF) {
                            i += 1;
                            self.pos += 1;
                        }
                    }
                } else if n == CR {
                    continue;
                }
                self.lfcr = false;
                // A lone CR at the start of a line is not a line.
                if i - self.pos < 2 {
                    continue;
                }
                return Some(i);
            }
            self.lfcr = false;
            if buf.get(i) == Some(&CR) {
                i += 1;
                self.lfcr = true;
            }
            return Some(i);
        }
    }

    fn process(&mut self, line: &[u8], max: usize) {
        if self.fields.len() >= max {
            self.dropped += 1;
            return;
        }
        let (n, v) = split_response_field(line);
        self.fields.push((n.to_vec(), v.to_vec()));
    }

    /// Heap bytes held (a folded header being assembled, the fields read).
    pub(crate) fn mem(&self) -> usize {
        self.pending.as_ref().map_or(0, Vec::capacity)
            + self
                .fields
                .iter()
                .map(|(n, v)| n.capacity() + v.capacity() + 48)
                .sum::<usize>()
    }
}

/// libhtp's `htp_parse_response_header_generic`: the name runs to the first colon, without
/// trailing white space (`\t\n\v\f\r` and space); no colon: an empty name and the whole line as
/// value. The value is trimmed of spaces and tabs around it.
pub(crate) fn split_response_field(line: &[u8]) -> (&[u8], &[u8]) {
    let mut len = line.len();
    chomp(line, &mut len);
    let data = &line[..len];
    let (name, mut vs) = match data.iter().position(|&b| b == b':') {
        None => (&data[..0], 0),
        Some(colon) => {
            let mut ne = colon;
            while ne > 0 && is_space(data[ne - 1]) {
                ne -= 1;
            }
            (&data[..ne], colon + 1)
        }
    };
    while vs < len && is_lws(data[vs]) {
        vs += 1;
    }
    let mut ve = len;
    while ve > vs + 1 && is_lws(data[ve - 1]) {
        ve -= 1;
    }
    (name, &data[vs..ve.max(vs)])
}
