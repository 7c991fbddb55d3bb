//! The data plane's wire format. Every frame is a 4-byte little-endian length (of what follows),
//! a kind byte and the kind's fields; integers are little-endian, strings a 4-byte length and
//! UTF-8 bytes.
//!
//! | kind | direction | fields |
//! | --- | --- | --- |
//! | 1 HELLO | sender → receiver, first | version, job id, attempt (u64) |
//! | 2 OPEN | sender → receiver | channel number (u32), stream edge, from subtask, to subtask (u32 each) |
//! | 3 CREDIT | receiver → sender | channel number, credits (u32 each), elements received (u64), reset (u8: 1 for the grant answering an OPEN, whose credits replace the sender's) |
//! | 4 DATA | sender → receiver | channel number, element tag (u8), element |
//! | 5 ERROR | either | message |
//!
//! Elements: tag 0 batch (the records' codec bytes, see [`ferroflink_core::codec`]), 1 watermark
//! (i64), 2 idleness (u8), 3 barrier (id u64, timestamp i64, format u8 — 0 canonical, 1
//! incremental — and base u64), 4 end of input, 5 LZ4-compressed batch (uncompressed length u32,
//! then an LZ4 block of tag 0's bytes; sent instead of 0 when compression is on and saves space).
//! Frames larger than [`MAX_FRAME`] are refused.

use ferroflink_core::element::{BatchDecoder, CheckpointBarrier, Element, SnapshotFormat};
use ferroflink_core::error::{Error, Result};
use std::io::{Read, Write};

/// The largest frame accepted: larger ones mean a corrupt or hostile stream.
pub const MAX_FRAME: usize = 256 << 20;

const HELLO: u8 = 1;
const OPEN: u8 = 2;
const CREDIT: u8 = 3;
const DATA: u8 = 4;
const ERROR: u8 = 5;

/// A decoded frame (a DATA frame's element still in bytes, decoded by [`decode_element`]).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Opens a connection.
    Hello {
        /// Engine version.
        version: String,
        /// Job.
        job_id: String,
        /// Attempt.
        attempt: u64,
    },
    /// Announces a channel.
    Open {
        /// Number of the channel on this connection.
        channel: u32,
        /// Stream edge.
        edge: u32,
        /// Producer subtask.
        from: u32,
        /// Consumer subtask.
        to: u32,
    },
    /// Grants credits.
    Credit {
        /// Channel number.
        channel: u32,
        /// Credits granted.
        credits: u32,
        /// Elements of the channel the receiver has (the sender may forget them).
        received: u64,
        /// The grant answering an OPEN: the credits replace the sender's, and it sends again from
        /// element `received`.
        reset: bool,
    },
    /// One element.
    Data {
        /// Channel number.
        channel: u32,
        /// The element's tag and bytes.
        element: Vec<u8>,
    },
    /// The peer gives up, with the reason.
    Error {
        /// Why.
        message: String,
    },
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Starts a frame of `kind` in `buf` (cleared); [`finish`] fills in its length.
fn start(buf: &mut Vec<u8>, kind: u8) {
    buf.clear();
    buf.extend_from_slice(&[0; 4]);
    buf.push(kind);
}

fn finish(buf: &mut [u8]) -> Result<()> {
    let len = buf.len() - 4;
    if len > MAX_FRAME {
        return Err(Error::Cluster(format!("a frame of {len} bytes is larger than the limit of {MAX_FRAME}")));
    }
    buf[..4].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(())
}

/// Encodes a non-DATA frame into `buf`.
pub fn encode(frame: &Frame, buf: &mut Vec<u8>) -> Result<()> {
    match frame {
        Frame::Hello { version, job_id, attempt } => {
            start(buf, HELLO);
            put_str(buf, version);
            put_str(buf, job_id);
            buf.extend_from_slice(&attempt.to_le_bytes());
        }
        Frame::Open { channel, edge, from, to } => {
            start(buf, OPEN);
            for v in [channel, edge, from, to] {
                buf.extend_from_slice(&v.to_le_bytes());
            }
        }
        Frame::Credit { channel, credits, received, reset } => {
            start(buf, CREDIT);
            buf.extend_from_slice(&channel.to_le_bytes());
            buf.extend_from_slice(&credits.to_le_bytes());
            buf.extend_from_slice(&received.to_le_bytes());
            buf.push(u8::from(*reset));
        }
        Frame::Data { channel, element } => {
            start(buf, DATA);
            buf.extend_from_slice(&channel.to_le_bytes());
            buf.extend_from_slice(element);
        }
        Frame::Error { message } => {
            start(buf, ERROR);
            put_str(buf, message);
        }
    }
    finish(buf)
}

/// Batches smaller than this are sent uncompressed: LZ4 cannot win much on them.
const COMPRESS_FROM: usize = 256;

/// Encodes a DATA frame of `element` on `channel` into `buf`, without an intermediate copy; with
/// `compress`, a batch goes LZ4-compressed when that makes it smaller.
pub fn encode_data(channel: u32, element: &Element, compress: bool, buf: &mut Vec<u8>) -> Result<()> {
    start(buf, DATA);
    buf.extend_from_slice(&channel.to_le_bytes());
    match element {
        Element::Batch(b) => {
            let tag = buf.len();
            buf.push(0);
            b.encode(buf)?;
            let raw = &buf[tag + 1..];
            if compress && raw.len() >= COMPRESS_FROM {
                let packed = lz4_flex::block::compress(raw);
                if packed.len() + 4 < raw.len() {
                    let len = raw.len() as u32;
                    buf.truncate(tag);
                    buf.push(5);
                    buf.extend_from_slice(&len.to_le_bytes());
                    buf.extend_from_slice(&packed);
                }
            }
        }
        Element::Watermark(w) => {
            buf.push(1);
            buf.extend_from_slice(&w.to_le_bytes());
        }
        Element::Idle(i) => {
            buf.push(2);
            buf.push(u8::from(*i));
        }
        Element::Barrier(b) => {
            buf.push(3);
            buf.extend_from_slice(&b.id.to_le_bytes());
            buf.extend_from_slice(&b.timestamp.to_le_bytes());
            let (format, base) = match b.format {
                SnapshotFormat::Canonical => (0u8, 0u64),
                SnapshotFormat::Incremental { base } => (1, base),
            };
            buf.push(format);
            buf.extend_from_slice(&base.to_le_bytes());
        }
        Element::EndOfInput => buf.push(4),
    }
    finish(buf)
}

/// Reads fields off a frame, refusing to read past its end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(malformed("a field runs past the end of its frame"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }

    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }

    fn string(&mut self) -> Result<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| malformed("a string is not UTF-8"))
    }

    fn end(&self) -> Result<()> {
        if self.0.is_empty() { Ok(()) } else { Err(malformed("trailing bytes after the frame's fields")) }
    }
}

fn malformed(why: &str) -> Error {
    Error::Cluster(format!("malformed data-plane frame: {why}"))
}

/// Decodes one frame body (kind byte and fields).
pub fn decode(body: &[u8]) -> Result<Frame> {
    let mut c = Cursor(body);
    let frame = match c.u8()? {
        HELLO => Frame::Hello { version: c.string()?, job_id: c.string()?, attempt: c.u64()? },
        OPEN => Frame::Open { channel: c.u32()?, edge: c.u32()?, from: c.u32()?, to: c.u32()? },
        CREDIT => Frame::Credit { channel: c.u32()?, credits: c.u32()?, received: c.u64()?, reset: c.u8()? != 0 },
        DATA => {
            let channel = c.u32()?;
            let element = c.0.to_vec();
            c.0 = &[];
            Frame::Data { channel, element }
        }
        ERROR => Frame::Error { message: c.string()? },
        other => return Err(malformed(&format!("unknown frame kind {other}"))),
    };
    c.end()?;
    Ok(frame)
}

/// Decodes a DATA frame's element; batches with the edge's `decoder`.
pub fn decode_element(bytes: &[u8], decoder: BatchDecoder) -> Result<Element> {
    let mut c = Cursor(bytes);
    let element = match c.u8()? {
        0 => {
            let batch = decoder(c.0).map_err(|e| malformed(&format!("a batch does not decode: {e}")))?;
            c.0 = &[];
            Element::Batch(batch)
        }
        1 => Element::Watermark(c.i64()?),
        2 => Element::Idle(c.u8()? != 0),
        3 => {
            let (id, timestamp) = (c.u64()?, c.i64()?);
            let format = match (c.u8()?, c.u64()?) {
                (0, _) => SnapshotFormat::Canonical,
                (1, base) => SnapshotFormat::Incremental { base },
                (f, _) => return Err(malformed(&format!("unknown snapshot format {f}"))),
            };
            Element::Barrier(CheckpointBarrier { id, timestamp, format })
        }
        4 => Element::EndOfInput,
        5 => {
            let len = c.u32()? as usize;
            // LZ4 expands at most 255-fold: a larger claim is a lie that would cost memory.
            if len > MAX_FRAME || len > c.0.len().saturating_mul(255) + 16 {
                return Err(malformed(&format!("a compressed batch of {} bytes announces {len}", c.0.len())));
            }
            let raw = lz4_flex::block::decompress(c.0, len)
                .map_err(|e| malformed(&format!("a compressed batch does not decompress: {e}")))?;
            c.0 = &[];
            Element::Batch(decoder(&raw).map_err(|e| malformed(&format!("a batch does not decode: {e}")))?)
        }
        other => return Err(malformed(&format!("unknown element tag {other}"))),
    };
    c.end()?;
    Ok(element)
}

/// Reads the next frame; `None` at a clean end of stream (between frames).
pub fn read(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<Option<Frame>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(Error::io("reading from a data connection", e)),
    }
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(malformed(&format!("a frame announces {len} bytes")));
    }
    // Grown as bytes arrive, not to the announced length: a corrupt length costs no memory.
    buf.clear();
    let got = r.take(len as u64).read_to_end(buf).map_err(|e| Error::io("reading from a data connection", e))?;
    if got < len {
        return Err(malformed(&format!("the stream ended {} bytes into a frame of {len}", got)));
    }
    decode(buf).map(Some)
}

/// Writes an encoded frame.
pub fn write(w: &mut impl Write, encoded: &[u8]) -> Result<()> {
    w.write_all(encoded).map_err(|e| Error::io("writing to a data connection", e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflink_core::element::AnyBatch;
    use ferroflink_core::record::Record;

    fn round_trip(frame: Frame) {
        let mut buf = Vec::new();
        encode(&frame, &mut buf).unwrap();
        assert_eq!(read(&mut buf.as_slice(), &mut Vec::new()).unwrap(), Some(frame));
    }

    #[test]
    fn frames_and_elements_round_trip() {
        round_trip(Frame::Hello { version: "0.1.0".into(), job_id: "abc".into(), attempt: 3 });
        round_trip(Frame::Open { channel: 1, edge: 2, from: 3, to: 4 });
        round_trip(Frame::Credit { channel: 7, credits: 4, received: 1 << 40, reset: true });
        round_trip(Frame::Error { message: "no such channel".into() });
        let decoder = AnyBatch::decoder::<(u64, String)>();
        let elements = [
            Element::Batch(AnyBatch::new(vec![
                Record::new((7u64, "x".to_string()), 42),
                Record::untimed((8, "y".into())),
            ])),
            Element::Watermark(-5),
            Element::Idle(true),
            Element::Barrier(CheckpointBarrier {
                id: 9,
                timestamp: 10,
                format: SnapshotFormat::Incremental { base: 8 },
            }),
            Element::Barrier(CheckpointBarrier { id: 9, timestamp: 10, format: SnapshotFormat::Canonical }),
            Element::EndOfInput,
            // Large and repetitive: compressed when compression is on.
            Element::Batch(AnyBatch::new(
                (0..2000u64).map(|i| Record::new((i % 7, "auction-bid ".repeat(4)), i as i64)).collect(),
            )),
        ];
        for compress in [false, true] {
            for e in &elements {
                let mut buf = Vec::new();
                encode_data(5, e, compress, &mut buf).unwrap();
                let Some(Frame::Data { channel: 5, element }) = read(&mut buf.as_slice(), &mut Vec::new()).unwrap()
                else {
                    panic!("not a data frame")
                };
                let large = matches!(e, Element::Batch(b) if b.len() == 2000);
                assert_eq!(element[0] == 5, compress && large, "compressed exactly when asked and worth it");
                let back = decode_element(&element, decoder).unwrap();
                match (e, back) {
                    (Element::Batch(a), Element::Batch(b)) => {
                        assert_eq!(a.duplicate().into_records::<(u64, String)>(), b.into_records::<(u64, String)>())
                    }
                    (a, b) => assert_eq!(format!("{a:?}"), format!("{b:?}")),
                }
            }
        }
    }

    #[test]
    fn malformed_input_is_an_error_never_a_panic() {
        // xorshift-generated garbage, truncations and bit flips of valid frames.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (mut plain, mut packed) = (Vec::new(), Vec::new());
        encode_data(1, &Element::Batch(AnyBatch::new(vec![Record::untimed(5u64)])), false, &mut plain).unwrap();
        let many = Element::Batch(AnyBatch::new((0..500u64).map(|i| Record::untimed(i % 3)).collect()));
        encode_data(1, &many, true, &mut packed).unwrap();
        assert_eq!(packed[9], 5, "the fuzzed input includes a compressed batch");
        let decoder = AnyBatch::decoder::<u64>();
        for i in 0..20_000 {
            let valid = if i % 2 == 0 { &plain } else { &packed };
            let mut bytes: Vec<u8> = match i % 3 {
                0 => (0..(next() % 64)).map(|_| next() as u8).collect(),
                1 => valid[..(next() as usize) % valid.len()].to_vec(),
                _ => {
                    let mut v = valid.clone();
                    let at = (next() as usize) % v.len();
                    v[at] ^= (next() as u8) | 1;
                    v
                }
            };
            if let Ok(Some(Frame::Data { element, .. })) = read(&mut bytes.as_slice(), &mut Vec::new()) {
                let _ = decode_element(&element, decoder);
            }
            bytes.clear();
        }
        let huge = (MAX_FRAME as u32 + 1).to_le_bytes();
        assert!(read(&mut huge.as_slice(), &mut Vec::new()).unwrap_err().to_string().contains("announces"));
        assert!(decode(&[9]).unwrap_err().to_string().contains("unknown frame kind 9"));
    }
}
