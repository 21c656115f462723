//! Content-Encoding decoding (gzip, deflate with or without the zlib wrapper) with a bound on the
//! bytes produced, streaming: bytes go in as they arrive, decoded bytes come out.

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

/// A writer that accepts at most `room` bytes in total and then refuses (stopping the decoder).
#[derive(Debug, Default)]
pub(crate) struct Sink {
    pub(crate) out: Vec<u8>,
    pub(crate) room: usize,
    pub(crate) full: bool,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.room == 0 {
            self.full = true;
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "decompression limit",
            ));
        }
        let n = buf.len().min(self.room);
        self.out.extend_from_slice(&buf[..n]);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[derive(Debug)]
enum Kind {
    Gzip(Box<GzDecoder<Sink>>),
    Zlib(Box<ZlibDecoder<Sink>>),
    Raw(Box<DeflateDecoder<Sink>>),
    /// zlib's automatic header detection (libhtp's `gzip`: a gzip or a zlib header) before its
    /// first two bytes are there.
    AutoUndecided(Vec<u8>),
    /// Decoding failed before producing anything: bytes pass through unchanged (as libhtp does).
    Passthrough,
    /// Stopped (error after output, or limit reached): further input is dropped.
    Done,
}

/// How a response body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Deflate,
}

/// Decoders chained at most (libhtp's `response_decompression_layer_limit`): 3 is what
/// Suricata 7.0.10 decodes on http-evader-150 (`deflate,gzip,deflate`); more layers change
/// no suricata-verify case.
pub const LAYER_LIMIT: usize = 3;

impl Encoding {
    /// The decoding chain for a `Content-Encoding` value as libhtp builds it: a plain `gzip` /
    /// `x-gzip` / `deflate` / `x-deflate` is one layer; otherwise every token containing `gzip`
    /// or `deflate` adds a layer, in the order listed (libhtp decodes in that order), other
    /// tokens (`identity`, empty ones) are skipped, and at most [`LAYER_LIMIT`] layers are kept.
    pub fn chain_from_header(v: &[u8]) -> Vec<Encoding> {
        use super::libhtp::eq_nocase_norzero as eq;
        // The plain values, compared ignoring case and NUL bytes.
        if eq(v, b"gzip") || eq(v, b"x-gzip") {
            return vec![Encoding::Gzip];
        }
        if eq(v, b"deflate") || eq(v, b"x-deflate") {
            return vec![Encoding::Deflate];
        }
        if eq(v, b"lzma") || eq(v, b"inflate") {
            return Vec::new();
        }
        // Otherwise a list split at commas and spaces; every token counts as a layer.
        let has = |tok: &[u8], w: &[u8]| tok.windows(w.len()).any(|x| x.eq_ignore_ascii_case(w));
        v.split(|&b| matches!(b, b',' | b' '))
            .filter(|tok| !tok.is_empty())
            .take(LAYER_LIMIT)
            .filter_map(|tok| {
                if has(tok, b"gzip") {
                    Some(Encoding::Gzip)
                } else if has(tok, b"deflate") {
                    Some(Encoding::Deflate)
                } else {
                    None
                }
            })
            .collect()
    }

    /// From a `Content-Encoding` value (the last coding listed wins; unknown codings: none).
    /// Like libhtp, tokens other than compressions (`identity`, empty ones from a trailing
    /// comma, unknown words) are ignored: the last compression listed is the one applied.
    pub fn from_header(v: &[u8]) -> Option<Encoding> {
        v.split(|&b| matches!(b, b',' | b' ' | b'\t'))
            .rev()
            .find_map(|t| {
                if t.eq_ignore_ascii_case(b"gzip") || t.eq_ignore_ascii_case(b"x-gzip") {
                    Some(Encoding::Gzip)
                } else if t.eq_ignore_ascii_case(b"deflate") || t.eq_ignore_ascii_case(b"x-deflate")
                {
                    Some(Encoding::Deflate)
                } else {
                    None
                }
            })
    }
}

/// Result of one [`Decoder::push`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PushOutcome {
    pub(crate) failed: bool,
    pub(crate) limited: bool,
}

/// Streaming decoder with an output bound.
#[derive(Debug)]
pub(crate) struct Decoder {
    kind: Kind,
    produced: usize,
    limit: usize,
    /// Raw bytes seen while nothing was produced yet (for passthrough), bounded.
    raw_prefix: Vec<u8>,
    /// The next layer of a chain (its input is this layer's output).
    next: Option<Box<Decoder>>,
    /// The layer's coding as announced.
    enc: Encoding,
    /// Restarts done (libhtp retries a failing stream up to 3 times, see [`Self::restart`]).
    restarts: u8,
    /// `raw_prefix` is being decoded again after a restart (it is not collected again).
    replaying: bool,
}

const RAW_PREFIX_MAX: usize = 4096;

impl Decoder {
    pub(crate) fn new(enc: Encoding, limit: usize) -> Self {
        Decoder {
            kind: start_kind(enc),
            produced: 0,
            limit,
            raw_prefix: Vec::new(),
            next: None,
            enc,
            restarts: 0,
            replaying: false,
        }
    }

    /// libhtp's restart of a stream that failed before producing anything: the first retry
    /// uses the same coding after the gzip header `probe` finds, the second the other coding
    /// (gzip's automatic header detection <-> raw deflate), the third the first again; then
    /// the bytes pass through as they are. Returns the decoder to feed `prefix[skip..]` to.
    fn restart(&mut self) -> Option<usize> {
        if self.restarts >= 3 {
            return None;
        }
        self.restarts += 1;
        let other = match self.enc {
            Encoding::Gzip => Encoding::Deflate,
            Encoding::Deflate => Encoding::Gzip,
        };
        let enc = if self.restarts == 2 { other } else { self.enc };
        self.kind = start_kind(enc);
        Some(gzip_probe(&self.raw_prefix))
    }

    /// A chain of decoders, `encs[0]` first (`None` when empty).
    pub(crate) fn chain(encs: &[Encoding], limit: usize) -> Option<Self> {
        let (first, rest) = encs.split_first()?;
        let mut d = Decoder::new(*first, limit);
        d.next = Decoder::chain(rest, limit).map(Box::new);
        Some(d)
    }

    pub(crate) fn mem(&self) -> usize {
        // flate2's inflate state is about 40 KiB (window + tables), boxed.
        let state = match &self.kind {
            Kind::Gzip(_) | Kind::Zlib(_) | Kind::Raw(_) => INFLATE_STATE,
            Kind::AutoUndecided(v) => v.capacity(),
            Kind::Passthrough | Kind::Done => 0,
        };
        std::mem::size_of::<Self>()
            + state
            + self.raw_prefix.capacity()
            + self.next.as_ref().map_or(0, |n| n.mem())
    }

    /// Decode `data`, appending at most `room` output bytes to `out`.
    pub(crate) fn push(&mut self, data: &[u8], out: &mut Vec<u8>, room: usize) -> PushOutcome {
        if let Some(mut next) = self.next.take() {
            let mut mid = Vec::new();
            let a = self.push(data, &mut mid, self.limit);
            let b = next.push(&mid, out, room);
            self.next = Some(next);
            return PushOutcome {
                failed: a.failed || b.failed,
                limited: a.limited || b.limited,
            };
        }
        self.push_one(data, out, room)
    }

    fn push_one(&mut self, data: &[u8], out: &mut Vec<u8>, room: usize) -> PushOutcome {
        let mut res = PushOutcome::default();
        if let Kind::AutoUndecided(buf) = &mut self.kind {
            buf.extend_from_slice(data);
            if buf.len() < 2 {
                return res;
            }
            let (cmf, flg) = (buf[0], buf[1]);
            let pending = std::mem::take(buf);
            if cmf == 0x1f && flg == 0x8b {
                self.kind = Kind::Gzip(Box::new(GzDecoder::new(Sink::default())));
            } else if cmf & 0x0f == 8
                && cmf >> 4 <= 7
                && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0
            {
                self.kind = Kind::Zlib(Box::new(ZlibDecoder::new(Sink::default())));
            } else {
                // zlib: "incorrect header check".
                if self.produced == 0 && !self.replaying {
                    let n = pending
                        .len()
                        .min(RAW_PREFIX_MAX - self.raw_prefix.len().min(RAW_PREFIX_MAX));
                    self.raw_prefix.extend_from_slice(&pending[..n]);
                }
                return self.fail(out, room);
            }
            return self.push_one(&pending, out, room);
        }
        if matches!(self.kind, Kind::Done) {
            return res;
        }
        if matches!(self.kind, Kind::Passthrough) {
            let n = data.len().min(room);
            out.extend_from_slice(&data[..n]);
            return res;
        }
        let budget = room.min(self.limit.saturating_sub(self.produced));
        if self.produced == 0 && !self.replaying {
            let n = data
                .len()
                .min(RAW_PREFIX_MAX - self.raw_prefix.len().min(RAW_PREFIX_MAX));
            self.raw_prefix.extend_from_slice(&data[..n]);
        }
        let (written, sink_full, output) = match &mut self.kind {
            Kind::Gzip(d) => drive(d.as_mut(), data, budget),
            Kind::Zlib(d) => drive(d.as_mut(), data, budget),
            Kind::Raw(d) => drive(d.as_mut(), data, budget),
            _ => (Ok(()), false, Vec::new()),
        };
        self.produced += output.len();
        out.extend_from_slice(&output);
        if !output.is_empty() {
            self.raw_prefix = Vec::new();
        }
        if sink_full {
            res.limited = true;
            self.kind = Kind::Done;
        } else if written.is_err() {
            return self.fail(out, room);
        }
        res
    }

    /// The stream failed: restart it (libhtp) while nothing was produced, else stop.
    fn fail(&mut self, out: &mut Vec<u8>, room: usize) -> PushOutcome {
        let failed = PushOutcome {
            failed: true,
            limited: false,
        };
        if self.produced > 0 {
            self.kind = Kind::Done;
            return failed;
        }
        match self.restart() {
            Some(skip) => {
                let replay = self.raw_prefix.get(skip..).unwrap_or_default().to_vec();
                let was = std::mem::replace(&mut self.replaying, true);
                let r = self.push_one(&replay, out, room);
                self.replaying = was;
                PushOutcome {
                    failed: true,
                    limited: r.limited,
                }
            }
            None => {
                // Nothing worked: the bytes pass through unchanged.
                let prefix = std::mem::take(&mut self.raw_prefix);
                let n = prefix.len().min(room);
                out.extend_from_slice(&prefix[..n]);
                self.kind = Kind::Passthrough;
                failed
            }
        }
    }

    /// End of body: flush what the decoder still holds.
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, room: usize) {
        if let Some(mut next) = self.next.take() {
            let mut mid = Vec::new();
            self.finish(&mut mid, self.limit);
            next.push(&mid, out, room);
            next.finish(out, room);
            return;
        }
        let budget = room.min(self.limit.saturating_sub(self.produced));
        let output = match &mut self.kind {
            Kind::Gzip(d) => finish_one(d.as_mut(), budget),
            Kind::Zlib(d) => finish_one(d.as_mut(), budget),
            Kind::Raw(d) => finish_one(d.as_mut(), budget),
            _ => Vec::new(),
        };
        self.produced += output.len();
        out.extend_from_slice(&output);
        self.kind = Kind::Done;
    }
}

/// The decoder a coding starts with: libhtp inflates `gzip` with zlib's automatic header
/// detection (gzip or zlib wrapper) and `deflate` raw.
fn start_kind(enc: Encoding) -> Kind {
    match enc {
        Encoding::Gzip => Kind::AutoUndecided(Vec::new()),
        Encoding::Deflate => Kind::Raw(Box::new(DeflateDecoder::new(Sink::default()))),
    }
}

/// libhtp's `htp_gzip_decompressor_probe`: the length of a gzip header with flags at the start
/// of `data` (through the NUL ending a file name or comment; 12 with a header CRC; else 10),
/// 0 when there is none or it runs past `data`.
fn gzip_probe(data: &[u8]) -> usize {
    if data.len() < 10 || data[0] != 0x1f || data[1] != 0x8b || data[3] == 0 {
        return 0;
    }
    let flags = data[3];
    let n = if flags & (1 << 3) != 0 || flags & (1 << 4) != 0 {
        data[10..]
            .iter()
            .position(|&b| b == 0)
            .map_or(data.len(), |p| 10 + p)
            + 1
    } else if flags & (1 << 1) != 0 {
        12
    } else {
        10
    };
    if n > data.len() {
        0
    } else {
        n
    }
}

/// Approximate size of a boxed flate2 (miniz_oxide) inflate state.
pub(crate) const INFLATE_STATE: usize = 48 * 1024;

trait SinkWriter: Write {
    fn sink(&mut self) -> &mut Sink;
    fn finish_sink(&mut self) -> io::Result<()>;
}

impl SinkWriter for GzDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
    fn finish_sink(&mut self) -> io::Result<()> {
        self.try_finish()
    }
}
impl SinkWriter for ZlibDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
    fn finish_sink(&mut self) -> io::Result<()> {
        self.try_finish()
    }
}
impl SinkWriter for DeflateDecoder<Sink> {
    fn sink(&mut self) -> &mut Sink {
        self.get_mut()
    }
    fn finish_sink(&mut self) -> io::Result<()> {
        self.try_finish()
    }
}

fn drive<W: SinkWriter>(
    d: &mut W,
    mut data: &[u8],
    budget: usize,
) -> (io::Result<()>, bool, Vec<u8>) {
    d.sink().room = budget;
    d.sink().full = false;
    let mut res = Ok(());
    while !data.is_empty() {
        match d.write(data) {
            Ok(0) => break,
            Ok(n) => data = &data[n..],
            Err(e) => {
                res = Err(e);
                break;
            }
        }
    }
    let _ = d.flush();
    let full = d.sink().full;
    let out = std::mem::take(&mut d.sink().out);
    (res, full, out)
}

fn finish_one<W: SinkWriter>(d: &mut W, budget: usize) -> Vec<u8> {
    d.sink().room = budget;
    let _ = d.finish_sink();
    std::mem::take(&mut d.sink().out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use flate2::Compression;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).expect("write");
        e.finish().expect("finish")
    }

    #[test]
    fn gzip_in_small_chunks() {
        let plain: Vec<u8> = (0..5000u32).flat_map(|i| i.to_le_bytes()).collect();
        let z = gz(&plain);
        let mut d = Decoder::new(Encoding::Gzip, 1 << 20);
        let mut out = Vec::new();
        for c in z.chunks(7) {
            let r = d.push(c, &mut out, usize::MAX);
            assert!(!r.failed && !r.limited);
        }
        d.finish(&mut out, usize::MAX);
        assert_eq!(out, plain);
    }

    #[test]
    fn deflate_zlib_and_raw_and_limit() {
        let plain = vec![b'a'; 100_000];
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(&plain).expect("write");
        let z = e.finish().expect("finish");
        let mut d = Decoder::new(Encoding::Deflate, 1000);
        let mut out = Vec::new();
        let r = d.push(&z, &mut out, usize::MAX);
        assert!(r.limited);
        assert_eq!(out.len(), 1000);
        // Not compressed at all: passthrough.
        let mut d = Decoder::new(Encoding::Gzip, 1000);
        let mut out = Vec::new();
        let r = d.push(b"plain text body", &mut out, usize::MAX);
        assert!(r.failed);
        assert_eq!(out, b"plain text body");
        d.push(b" more", &mut out, usize::MAX);
        assert_eq!(out, b"plain text body more");
    }

    #[test]
    fn encoding_header() {
        assert_eq!(Encoding::from_header(b" GZIP "), Some(Encoding::Gzip));
        assert_eq!(
            Encoding::from_header(b"identity, deflate"),
            Some(Encoding::Deflate)
        );
        assert_eq!(Encoding::from_header(b"br"), None);
        // libhtp's lenient list (http-evader 122, 141): empty and identity tokens ignored.
        assert_eq!(Encoding::from_header(b"deflate,"), Some(Encoding::Deflate));
        assert_eq!(
            Encoding::from_header(b"gzip,identity"),
            Some(Encoding::Gzip)
        );
        assert_eq!(Encoding::from_header(b"identity"), None);
        use Encoding::{Deflate, Gzip};
        assert_eq!(Encoding::chain_from_header(b"x-gzip"), [Gzip]);
        assert_eq!(Encoding::chain_from_header(b"gzip, gzip"), [Gzip, Gzip]);
        assert_eq!(
            Encoding::chain_from_header(b"deflate,gzip,deflate,gzip"),
            [Deflate, Gzip, Deflate]
        );
        assert_eq!(
            Encoding::chain_from_header(b"identity, x-gzipped ,"),
            [Gzip]
        );
    }

    /// A gzip header with reserved flag bits: zlib refuses it, libhtp restarts as raw deflate
    /// after the 10-byte header (http-evader 200, 231).
    #[test]
    fn gzip_with_reserved_flags_restarts_as_raw_deflate() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"EICAR behind odd flags").expect("gzip");
        let mut body = gz.finish().expect("gzip");
        body[3] |= 0x20;
        let mut d = Decoder::new(Encoding::Gzip, 1 << 20);
        let mut out = Vec::new();
        d.push(&body, &mut out, usize::MAX);
        d.finish(&mut out, usize::MAX);
        assert_eq!(out, b"EICAR behind odd flags");
    }

    #[test]
    fn chained_layers_decode_in_listed_order() {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b"EICAR in two layers").expect("gzip");
        let inner = gz.finish().expect("gzip");
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(&inner).expect("zlib");
        let outer = z.finish().expect("zlib");
        // libhtp decodes in the listed order: `deflate, gzip` undoes deflate first.
        let mut d = Decoder::chain(&[Encoding::Deflate, Encoding::Gzip], 1 << 20).expect("chain");
        let mut out = Vec::new();
        for c in outer.chunks(3) {
            d.push(c, &mut out, usize::MAX);
        }
        d.finish(&mut out, usize::MAX);
        assert_eq!(out, b"EICAR in two layers");
    }
}
