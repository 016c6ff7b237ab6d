//! Clip ids as the course layout writes them: in list files (one per line) and as directory
//! names (`DIR/<id>/`).
//!
//! Ids are opaque strings: YouTube-8M's are bytes in a record, and nothing stops one from
//! starting with `#` (a comment in a list), carrying spaces at its ends (trimmed from a
//! line), a line break, a `/` (a nested directory) or being `.` or `..`. So that every id
//! survives a round trip, the writer percent-encodes exactly the characters that would be
//! misread, as `%XX` per UTF-8 byte, and the reader percent-decodes every line:
//!
//! * `%` itself, `/` and `\`, and every control character (tab, CR, LF, NUL, ...);
//! * a first character that is `#`, whitespace or a byte-order mark, and a last character
//!   that is whitespace (a line is trimmed);
//! * every `.` of an id that is `.` or `..`, or the name of one of the layout's list files
//!   (`train.txt`, ...: its directory would take the list's place).
//!
//! Anything else is written as it is, so ordinary ids (`-Ab_c1xYz09`, `synth-train-0001`)
//! and hand-written lists look as they always did. The encoded id is also the clip's
//! directory name, which therefore is one path component that the file system can hold.
//! An empty id, or one whose encoding is longer than [`MAX_NAME_BYTES`], has no such
//! name and is refused.

use std::fmt::Write as _;

/// The longest file name most file systems hold (ext4, XFS, tmpfs, APFS: 255 bytes).
pub const MAX_NAME_BYTES: usize = 255;

/// Ids whose directory would be a list file of the layout, or climb out of it: their dots
/// are escaped.
const DOTTED: [&str; 5] =
    [".", "..", super::course::TRAIN_LIST, super::course::TEST_VIDEO_LIST, super::course::TEST_AUDIO_LIST];

/// Whether character `c` at char position `i` of an id of `n` chars must be escaped.
fn unsafe_at(c: char, i: usize, n: usize, dots: bool) -> bool {
    matches!(c, '%' | '/' | '\\' | '\u{feff}')
        || c.is_control()
        || (i == 0 && (c == '#' || c.is_whitespace()))
        || (i + 1 == n && c.is_whitespace())
        || (dots && c == '.')
}

/// The id as a list line and directory name: the unsafe characters percent-encoded, the
/// others as they are. `decode(&encode(id)) == Ok(id)` for every id.
pub fn encode(id: &str) -> String {
    let n = id.chars().count();
    let dots = DOTTED.contains(&id);
    let mut out = String::with_capacity(id.len());
    for (i, c) in id.chars().enumerate() {
        if unsafe_at(c, i, n, dots) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The directory name of a clip: its encoding, or why it has none (empty, too long).
pub fn dir_name(id: &str) -> Result<String, String> {
    if id.is_empty() {
        return Err("an empty id names no directory".into());
    }
    let name = encode(id);
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "its directory name would be {} bytes once encoded, more than the {MAX_NAME_BYTES} a file name may hold",
            name.len()
        ));
    }
    Ok(name)
}

/// Decodes a list line (already trimmed): every `%XX` becomes byte `XX`, the rest is kept;
/// the bytes must be UTF-8. A `%` not followed by two hex digits is an error (a literal `%`
/// is written `%25`).
pub fn decode(text: &str) -> Result<String, String> {
    if !text.contains('%') {
        return Ok(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok().filter(|_| h.bytes().all(|b| b.is_ascii_hexdigit()))) {
            Some(b) => out.push(b),
            None => {
                return Err(format!(
                    "'%' at byte {i} is not followed by two hex digits (ids are percent-encoded: a literal '%' is %25)"
                ));
            }
        }
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "its %-escapes decode to bytes that are not UTF-8 text".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_are_unchanged() {
        for id in ["-Ab_c1xYz09", "synth-train-0001", "a b", "x#y", "日本語", "a.b", "...", "--double-dash"] {
            assert_eq!(encode(id), id);
            assert_eq!(decode(id).as_deref(), Ok(id));
        }
    }

    #[test]
    fn unsafe_characters_are_escaped_and_decoded_back() {
        let cases = [
            ("#tag", "%23tag"),
            (" lead", "%20lead"),
            ("trail ", "trail%20"),
            ("  two", "%20 two"),
            ("a/b", "a%2Fb"),
            ("a\\b", "a%5Cb"),
            ("a\tb\rc\nd", "a%09b%0Dc%0Ad"),
            ("50%", "50%25"),
            (".", "%2E"),
            ("train.txt", "train%2Etxt"),
            ("..", "%2E%2E"),
            ("\u{feff}x", "%EF%BB%BFx"),
            ("\u{3000}x", "%E3%80%80x"),
            ("nul\0", "nul%00"),
        ];
        for (id, enc) in cases {
            assert_eq!(encode(id), enc, "{id:?}");
            assert_eq!(decode(enc).as_deref(), Ok(id), "{enc}");
            // What the reader does to a line: trim it, and it must not change.
            assert_eq!(enc.trim(), enc);
            assert!(!enc.starts_with('#') && !enc.contains(['/', '\n', '\r']));
        }
    }

    #[test]
    fn decoding_refuses_what_no_writer_writes() {
        assert!(decode("50%").is_err_and(|e| e.contains("%25")));
        assert!(decode("a%zzb").is_err());
        assert!(decode("a%+1b").is_err());
        assert!(decode("%FF").is_err_and(|e| e.contains("UTF-8")));
        // Lower-case and needless escapes are read.
        assert_eq!(decode("%2f%61").as_deref(), Ok("/a"));
    }

    #[test]
    fn directory_names_exist_for_every_nonempty_short_id() {
        assert!(dir_name("").is_err_and(|e| e.contains("empty")));
        assert_eq!(dir_name("..").as_deref(), Ok("%2E%2E"));
        assert!(dir_name(&"x".repeat(255)).is_ok());
        assert!(dir_name(&"x".repeat(256)).is_err_and(|e| e.contains("256 bytes")));
        assert!(dir_name(&"/".repeat(90)).is_err_and(|e| e.contains("270 bytes")));
    }
}
