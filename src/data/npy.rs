//! Opening a `.npy` file's header with limits, before npyz sees it.
//!
//! npyz allocates the header length a file declares (up to 4 GiB in format 2 and 3) and
//! parses the header's Python literal recursively, so a damaged or hostile file could ask
//! for gigabytes or overflow the stack. The header is read here first: its length capped
//! at [`MAX_HEADER_BYTES`], its brackets nested at most [`MAX_NESTING`] deep, and only then
//! handed to npyz. The data a header declares is capped by [`MAX_DATA_BYTES`] (and by the
//! file's length) by the caller, before it allocates.

use std::io::{self, Cursor, Read};
use std::path::Path;

use npyz::NpyFile;

use super::DataError;

/// The largest header read: what a format-1 header can hold (its length is a u16). numpy
/// writes about 128 bytes, and itself refuses more than 10,000 by default.
pub const MAX_HEADER_BYTES: usize = 65_535;
/// The deepest nesting of brackets in a header (numpy writes 2: the dict and the shape).
pub const MAX_NESTING: usize = 16;
/// The largest array data read from one `.npy` file: 1 GiB, some 290 hours of 1024-wide
/// features at one step per second, where the course's clips are 120 KiB.
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// An opened `.npy` stream: npyz's reader over the checked header and the rest of `input`.
pub type Opened<R> = NpyFile<io::Chain<Cursor<Vec<u8>>, R>>;

/// Reads and checks the magic, version and header of a `.npy` stream whose total length is
/// `len` bytes (u64::MAX when unknown), then parses the header with npyz. Errors name `path`.
pub fn open<R: Read>(mut input: R, len: u64, path: &Path) -> Result<Opened<R>, DataError> {
    let bad = |reason: String| DataError::Npy { path: path.to_path_buf(), reason };
    let mut prefix = vec![0u8; 10];
    read_fully(&mut input, &mut prefix)
        .map_err(|e| bad(format!("{e}; expected a .npy file (it starts with \\x93NUMPY, a version and a header)")))?;
    if &prefix[..6] != b"\x93NUMPY" {
        return Err(bad("no .npy magic (\\x93NUMPY) at its start".into()));
    }
    let header_len = match (prefix[6], prefix[7]) {
        (1, 0) => u64::from(u16::from_le_bytes([prefix[8], prefix[9]])),
        (2 | 3, 0) => {
            let mut more = [0u8; 2];
            read_fully(&mut input, &mut more).map_err(|e| bad(format!("{e} in the header length")))?;
            prefix.extend_from_slice(&more);
            u64::from(u32::from_le_bytes([prefix[8], prefix[9], more[0], more[1]]))
        }
        (major, minor) => return Err(bad(format!("format version {major}.{minor}; expected 1.0, 2.0 or 3.0"))),
    };
    if header_len > MAX_HEADER_BYTES as u64 {
        return Err(bad(format!(
            "its header declares {header_len} bytes, more than the limit of {MAX_HEADER_BYTES} (numpy writes about 128)"
        )));
    }
    if header_len > len.saturating_sub(prefix.len() as u64) {
        return Err(bad(format!("truncated: its header declares {header_len} bytes but the file ends before")));
    }
    let start = prefix.len();
    prefix.resize(start + header_len as usize, 0);
    read_fully(&mut input, &mut prefix[start..]).map_err(|e| bad(format!("{e} in the header")))?;
    let depth = nesting(&prefix[start..]);
    if depth > MAX_NESTING {
        return Err(bad(format!("its header nests brackets {depth} deep; expected a dict with a shape tuple")));
    }
    if let Some(reason) = shape_overflow(&prefix[start..]) {
        return Err(bad(reason));
    }
    NpyFile::new(Cursor::new(prefix).chain(input)).map_err(|e| bad(e.to_string()))
}

/// Why the header's `shape` tuple cannot be used, if it cannot: npyz multiplies its entries
/// unchecked (an overflow panics in a debug build), so a shape whose product overflows, or
/// whose entries are not plain whole numbers, is refused here. A header without a readable
/// `shape` is left to npyz, which reports it.
fn shape_overflow(header: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(header).ok()?;
    let at = text.find("'shape'").or_else(|| text.find("\"shape\""))?;
    let rest = &text[at..];
    let open = rest.find('(')?;
    let close = open + rest[open..].find(')')?;
    let mut product: u64 = 1;
    for entry in rest[open + 1..close].split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let Ok(n) = entry.parse::<u64>() else {
            return Some(format!("its shape has the entry `{entry}`; expected whole numbers"));
        };
        product = match product.checked_mul(n) {
            Some(p) => p,
            None => return Some(format!("its shape {} has more elements than fit in 64 bits", &rest[open..=close])),
        };
    }
    None
}

/// `read_exact` with a message that says "truncated" rather than "failed to fill buffer".
fn read_fully(input: &mut impl Read, buf: &mut [u8]) -> Result<(), String> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => "truncated".to_string(),
        _ => e.to_string(),
    })
}

/// The deepest nesting of `(`, `[` and `{` in a header (quotes are not tracked: a bracket
/// inside a string only makes the count larger, and real headers have none).
fn nesting(header: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for &b in header {
        match b {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u8, text: &str) -> Vec<u8> {
        let mut out = b"\x93NUMPY".to_vec();
        out.push(version);
        out.push(0);
        if version == 1 {
            out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        } else {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
        }
        out.extend_from_slice(text.as_bytes());
        out
    }

    fn err(bytes: &[u8]) -> String {
        match open(bytes, bytes.len() as u64, Path::new("x.npy")) {
            Ok(_) => "opened".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn good_headers_open() {
        let text = "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }\n";
        for v in [1, 2, 3] {
            let mut bytes = header(v, text);
            bytes.extend_from_slice(&[1, 2, 3, 4, 5, 6]);
            let npy = open(&bytes[..], bytes.len() as u64, Path::new("x.npy"));
            assert!(npy.as_ref().is_ok_and(|n| n.shape() == [2, 3]), "{:?}", npy.err());
        }
    }

    #[test]
    fn hostile_headers_are_refused_before_allocating() {
        // A format-2 header declaring 4 GiB.
        let mut huge = b"\x93NUMPY\x02\x00".to_vec();
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = err(&huge);
        assert!(e.contains("x.npy") && e.contains("4294967295 bytes") && e.contains("65535"), "{e}");
        let deep =
            format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {}2{}, }}", "(".repeat(5000), ")".repeat(5000));
        let e = err(&header(1, &deep));
        assert!(e.contains("x.npy") && e.contains("5001 deep"), "{e}");
        assert!(err(b"\x93NUMPY\x01\x00\x40\x00{'descr'").contains("truncated"));
        assert!(err(b"\x93NUMPY\x07\x00\x00\x00").contains("version 7.0"));
        assert!(err(b"PK\x03\x04 a zip").contains("magic"));
        assert!(err(b"\x93NU").contains("truncated"));
        let e = err(&header(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }"));
        assert!(e.contains("64 bits"), "{e}");
        let e = err(&header(1, "{'descr': '|u1', 'fortran_order': False, 'shape': (0x10, 2), }"));
        assert!(e.contains("`0x10`"), "{e}");
    }
}
