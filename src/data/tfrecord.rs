//! TFRecord framing, the container of YouTube-8M's shards and of TensorBoard's event files.
//!
//! ```text
//! u64 length (LE) | u32 masked crc32c(length bytes) | payload | u32 masked crc32c(payload)
//! ```
//!
//! Readers check both CRCs, so a flipped byte anywhere is an error rather than a silently
//! wrong feature. The CRC itself comes from the `crc32c` crate (SSE 4.2 / ARMv8 CRC
//! instructions, with a software fallback): at disk speed it costs nothing measurable.

use std::fs::File;
use std::io::{self, Read, Write};

/// Bytes of framing around a payload: the length, its CRC, and the payload's CRC.
pub const FRAMING: u64 = 16;
/// Offset of the payload within a record.
pub const HEADER: u64 = 12;

/// The largest record payload read or written: 1 GiB. A YouTube-8M record of 300 seconds
/// is about 350 KB; the limit refuses a damaged or hostile length header before its
/// payload is allocated, and matches the largest `.npy` clip avc reads.
pub const MAX_RECORD_BYTES: u64 = 1 << 30;

/// CRC-32C (Castagnoli), as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// TFRecord's masked CRC: rotated right by 15 bits plus a constant, so a CRC stored inside
/// CRC'd data does not weaken the check.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    crc32c(data).rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Frames one payload as a TFRecord.
pub fn write_record(out: &mut impl Write, payload: &[u8]) -> io::Result<()> {
    if payload.len() as u64 > MAX_RECORD_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a record of {} bytes, more than the {MAX_RECORD_BYTES} avc reads back", payload.len()),
        ));
    }
    let len = (payload.len() as u64).to_le_bytes();
    out.write_all(&len)?;
    out.write_all(&masked_crc32c(&len).to_le_bytes())?;
    out.write_all(payload)?;
    out.write_all(&masked_crc32c(payload).to_le_bytes())
}

/// What is wrong with a record's framing. The record is named by the caller (shard and
/// index), which is what a user needs to find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The file ends inside a record's 12-byte header.
    TruncatedHeader { offset: u64, available: u64 },
    /// The length's CRC does not match: the framing itself is damaged, so the records after
    /// this one cannot be found either.
    LengthCrc { offset: u64 },
    /// The header promises more bytes than the file holds.
    TruncatedPayload { offset: u64, length: u64, available: u64 },
    /// The payload's CRC does not match: some byte of it changed.
    PayloadCrc { offset: u64, length: u64 },
    /// The header declares more than [`MAX_RECORD_BYTES`] (which the file holds: it was
    /// skipped unread).
    TooLarge { offset: u64, length: u64 },
}

impl FrameError {
    /// Whether the records after this one can still be found (the length was trustworthy).
    pub fn recoverable(&self) -> bool {
        matches!(self, FrameError::PayloadCrc { .. } | FrameError::TooLarge { .. })
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TruncatedHeader { offset, available } => {
                write!(f, "truncated: at byte {offset} the file ends {available} bytes into a 12-byte record header")
            }
            FrameError::LengthCrc { offset } => {
                write!(f, "CRC mismatch in the length header at byte {offset} (the framing is damaged)")
            }
            FrameError::TruncatedPayload { offset, length, available } => write!(
                f,
                "truncated: the record at byte {offset} declares {length} bytes but the file holds {available} after its header"
            ),
            FrameError::PayloadCrc { offset, length } => {
                write!(f, "CRC mismatch in the {length}-byte payload of the record at byte {offset}")
            }
            FrameError::TooLarge { offset, length } => write!(
                f,
                "the record at byte {offset} declares {length} bytes, more than the limit of {MAX_RECORD_BYTES} \
                 a record may hold"
            ),
        }
    }
}

/// Where a record's payload lies in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the record (its length header) in the file.
    pub offset: u64,
    /// Payload bytes.
    pub length: u64,
    /// The payload's stored masked CRC (a cheap fingerprint of its content).
    pub crc: u32,
}

/// Reads the records of a file one after the other, checking both CRCs.
pub struct Scanner<R> {
    input: R,
    offset: u64,
    size: u64,
    /// Set after an unrecoverable error: the rest of the file cannot be framed.
    broken: bool,
}

impl<R: Read> Scanner<R> {
    /// Scans `input`, which holds `size` bytes.
    pub fn new(input: R, size: u64) -> Self {
        Scanner { input, offset: 0, size, broken: false }
    }

    /// The next record's frame and payload; `None` at the end of the file. After an error
    /// that is not [`FrameError::recoverable`], the scan ends.
    pub fn next_record(&mut self, payload: &mut Vec<u8>) -> Option<io::Result<Result<Frame, FrameError>>> {
        if self.broken || self.offset >= self.size {
            return None;
        }
        let result = self.read_one(payload);
        if let Ok(Err(e)) = &result
            && !e.recoverable()
        {
            self.broken = true;
        }
        if result.is_err() {
            self.broken = true;
        }
        Some(result)
    }

    fn read_one(&mut self, payload: &mut Vec<u8>) -> io::Result<Result<Frame, FrameError>> {
        let offset = self.offset;
        let available = self.size - offset;
        if available < HEADER {
            return Ok(Err(FrameError::TruncatedHeader { offset, available }));
        }
        let mut header = [0u8; HEADER as usize];
        self.input.read_exact(&mut header)?;
        let len_bytes: [u8; 8] = header[..8].try_into().unwrap_or_default();
        let stored = u32::from_le_bytes(header[8..12].try_into().unwrap_or_default());
        if stored != masked_crc32c(&len_bytes) {
            return Ok(Err(FrameError::LengthCrc { offset }));
        }
        let length = u64::from_le_bytes(len_bytes);
        let after_header = available - HEADER;
        if length.saturating_add(4) > after_header {
            return Ok(Err(FrameError::TruncatedPayload { offset, length, available: after_header }));
        }
        if length > MAX_RECORD_BYTES {
            // The length is trustworthy (its CRC matched): skip the record unread.
            io::copy(&mut (&mut self.input).take(length + 4), &mut io::sink())?;
            self.offset += HEADER + length + 4;
            return Ok(Err(FrameError::TooLarge { offset, length }));
        }
        payload.clear();
        payload.resize(length as usize, 0);
        self.input.read_exact(payload)?;
        let mut crc = [0u8; 4];
        self.input.read_exact(&mut crc)?;
        let crc = u32::from_le_bytes(crc);
        self.offset += HEADER + length + 4;
        if crc != masked_crc32c(payload) {
            return Ok(Err(FrameError::PayloadCrc { offset, length }));
        }
        Ok(Ok(Frame { offset, length, crc }))
    }
}

/// Reads the payload of the record framed at `frame` (as an index recorded it) from an
/// open file, checking the payload's CRC against the file (so a file that changed after
/// indexing is an error, not wrong data).
pub fn read_at(file: &File, frame: Frame, payload: &mut Vec<u8>) -> io::Result<Result<(), FrameError>> {
    use std::os::unix::fs::FileExt;
    // The frame may come from a cached index file, which is input like the shard.
    if frame.length > MAX_RECORD_BYTES {
        return Ok(Err(FrameError::TooLarge { offset: frame.offset, length: frame.length }));
    }
    payload.clear();
    payload.resize(frame.length as usize + 4, 0);
    file.read_exact_at(payload, frame.offset + HEADER)?;
    let crc = u32::from_le_bytes(payload[frame.length as usize..].try_into().unwrap_or_default());
    payload.truncate(frame.length as usize);
    if crc != masked_crc32c(payload) || crc != frame.crc {
        return Ok(Err(FrameError::PayloadCrc { offset: frame.offset, length: frame.length }));
    }
    Ok(Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_test_vectors() {
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(masked_crc32c(b"123456789"), 0xC78A_B0E5);
    }

    fn scan(bytes: &[u8]) -> Vec<Result<(Frame, Vec<u8>), FrameError>> {
        let mut s = Scanner::new(bytes, bytes.len() as u64);
        let mut out = Vec::new();
        let mut payload = Vec::new();
        while let Some(r) = s.next_record(&mut payload) {
            match r {
                Ok(Ok(f)) => out.push(Ok((f, payload.clone()))),
                Ok(Err(e)) => out.push(Err(e)),
                Err(e) => panic!("{e}"),
            }
        }
        out
    }

    #[test]
    fn framing_round_trips_and_detects_damage() {
        let mut bytes = Vec::new();
        for p in [&b"first"[..], b"", b"third record"] {
            write_record(&mut bytes, p).unwrap_or_default();
        }
        let ok = scan(&bytes);
        assert_eq!(ok.len(), 3);
        assert_eq!(ok[2].as_ref().map(|(_, p)| p.as_slice()), Ok(&b"third record"[..]));
        assert_eq!(ok[1].as_ref().map(|(f, _)| f.offset), Ok(21));
        // A flipped payload byte: that record fails, the next one is still found.
        let mut flipped = bytes.clone();
        flipped[13] ^= 1;
        let r = scan(&flipped);
        assert!(matches!(r[0], Err(FrameError::PayloadCrc { offset: 0, length: 5 })), "{r:?}");
        assert!(r[1].is_ok() && r[2].is_ok());
        // A flipped length byte ends the scan.
        let mut flipped = bytes.clone();
        flipped[21] ^= 4;
        let r = scan(&flipped);
        assert_eq!(r.len(), 2);
        assert!(matches!(r[1], Err(FrameError::LengthCrc { offset: 21 })), "{r:?}");
        // Truncations.
        let r = scan(&bytes[..bytes.len() - 3]);
        assert!(matches!(r[2], Err(FrameError::TruncatedPayload { length: 12, .. })), "{r:?}");
        let r = scan(&bytes[..5]);
        assert!(matches!(r[..], [Err(FrameError::TruncatedHeader { offset: 0, available: 5 })]), "{r:?}");
    }
}
