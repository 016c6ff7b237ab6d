//! YouTube-8M frame-level records: one `tf.train.SequenceExample` per video.
//!
//! ```text
//! context:       id     bytes_list [b"<video id>"]     (and labels, which avc ignores)
//! feature_lists: rgb    one bytes_list [1024 bytes] per second (uint8, quantized)
//!                audio  one bytes_list [128 bytes] per second
//! ```
//!
//! The features are quantized exactly like the course's (`q * 4/255 + 4/512 - 2`), so they
//! feed a model unchanged. avc writes one context feature of its own, `audio_id`, only for a
//! test pair whose audio comes from another clip than its video (the course's test lists
//! allow that); YouTube-8M's records never have it. A second one, `audio_frames` (an
//! int64), is written only for a record whose audio has another frame count than its video
//! (audio at another frame rate, e.g. `avc data synth --synth audio_steps=240`): it declares
//! that count, so that a record whose streams differ without it is still refused as damaged
//! (YouTube-8M's streams are one frame per second each).
//!
//! The messages are TensorFlow's (`tensorflow/core/example/{example,feature}.proto`),
//! declared here with `prost`'s derive: field numbers and types are the wire format.

use std::collections::BTreeMap;

use prost::Message;
use prost::bytes::Bytes;

/// `tf.train.BytesList`. Decoded from a [`Bytes`] buffer (as [`decode`] is when reading
/// clips), its values are slices of that buffer: a record's hundreds of frames cost no
/// allocation and no copy each. From a plain `&[u8]`, each value is copied.
#[derive(Clone, PartialEq, Message)]
pub struct BytesList {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    pub value: Vec<Bytes>,
}

/// `tf.train.FloatList` (packed).
#[derive(Clone, PartialEq, Message)]
pub struct FloatList {
    #[prost(float, repeated, tag = "1")]
    pub value: Vec<f32>,
}

/// `tf.train.Int64List` (packed).
#[derive(Clone, PartialEq, Message)]
pub struct Int64List {
    #[prost(int64, repeated, tag = "1")]
    pub value: Vec<i64>,
}

/// `tf.train.Feature`: one of three lists.
#[derive(Clone, PartialEq, Message)]
pub struct Feature {
    #[prost(oneof = "Kind", tags = "1, 2, 3")]
    pub kind: Option<Kind>,
}

/// The `kind` of a [`Feature`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Kind {
    #[prost(message, tag = "1")]
    BytesList(BytesList),
    #[prost(message, tag = "2")]
    FloatList(FloatList),
    #[prost(message, tag = "3")]
    Int64List(Int64List),
}

/// `tf.train.Features`: named features (a BTreeMap, so encoding is deterministic).
#[derive(Clone, PartialEq, Message)]
pub struct Features {
    #[prost(btree_map = "string, message", tag = "1")]
    pub feature: BTreeMap<String, Feature>,
}

/// `tf.train.FeatureList`: one feature per time step.
#[derive(Clone, PartialEq, Message)]
pub struct FeatureList {
    #[prost(message, repeated, tag = "1")]
    pub feature: Vec<Feature>,
}

/// `tf.train.FeatureLists`.
#[derive(Clone, PartialEq, Message)]
pub struct FeatureLists {
    #[prost(btree_map = "string, message", tag = "1")]
    pub feature_list: BTreeMap<String, FeatureList>,
}

/// `tf.train.SequenceExample`.
#[derive(Clone, PartialEq, Message)]
pub struct SequenceExample {
    #[prost(message, optional, tag = "1")]
    pub context: Option<Features>,
    #[prost(message, optional, tag = "2")]
    pub feature_lists: Option<FeatureLists>,
}

/// The video stream's feature list.
pub const RGB: &str = "rgb";
/// The audio stream's feature list.
pub const AUDIO: &str = "audio";
/// The context feature holding the video id.
pub const ID: &str = "id";
/// avc's context feature for a test pair's audio id, when it differs from `id`.
pub const AUDIO_ID: &str = "audio_id";
/// avc's context feature declaring the audio's frame count, when it differs from the video's.
pub const AUDIO_FRAMES: &str = "audio_frames";
/// YouTube-8M's widths: 1024 visual values and 128 audio values per second.
pub const WIDTHS: [usize; 2] = [1024, 128];

/// One decoded record: both streams, row-major `[frames, width]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: String,
    /// The pair's audio id when it is not `id` (avc's test pairs only).
    pub audio_id: Option<String>,
    /// Frames of `rgb` (and of `audio`, unless `audio_frames` says otherwise).
    pub frames: usize,
    pub rgb: Vec<u8>,
    pub rgb_width: usize,
    pub audio: Vec<u8>,
    pub audio_width: usize,
}

impl Record {
    /// The audio's id: `audio_id` if the record has one, else `id`.
    pub fn audio_id(&self) -> &str {
        self.audio_id.as_deref().unwrap_or(&self.id)
    }

    /// Frames of the audio stream.
    pub fn audio_frames(&self) -> usize {
        self.audio.len() / self.audio_width.max(1)
    }
}

/// Decodes and checks a record: an `id`, the `rgb` and `audio` lists with the same number
/// (at least one) of frames, every frame one byte string and every frame of a stream of one
/// width. The error says what was expected and found; the caller names the shard and record.
///
/// `payload` is any buffer; a [`Bytes`] (e.g. `Bytes::from(vec)`, no copy) is decoded
/// without an allocation and a copy per frame, which a `&[u8]` costs.
pub fn decode(payload: impl prost::bytes::Buf) -> Result<Record, String> {
    let example = SequenceExample::decode(payload).map_err(|e| format!("not a tf.train.SequenceExample ({e})"))?;
    let context = example.context.unwrap_or_default();
    let id = single_bytes(&context, ID)?.ok_or("no context feature `id` (expected the video id as bytes)")?;
    let audio_id = single_bytes(&context, AUDIO_ID)?;
    let lists = example.feature_lists.unwrap_or_default();
    let (rgb, rgb_frames, rgb_width) = frames(&lists, RGB)?;
    let (audio, audio_frames, audio_width) = frames(&lists, AUDIO)?;
    let declared = single_int(&context, AUDIO_FRAMES)?;
    if rgb_frames != audio_frames && declared != Some(audio_frames as i64) {
        return Err(match declared {
            None => format!(
                "`rgb` has {rgb_frames} frames but `audio` has {audio_frames}; expected the same count (or an \
                 `{AUDIO_FRAMES}` context feature declaring the audio's)"
            ),
            Some(n) => format!("`audio` has {audio_frames} frames but the context feature `{AUDIO_FRAMES}` says {n}"),
        });
    }
    Ok(Record { id, audio_id, frames: rgb_frames, rgb, rgb_width, audio, audio_width })
}

/// A context feature that must be one byte string (UTF-8), or absent.
fn single_bytes(context: &Features, name: &str) -> Result<Option<String>, String> {
    let Some(feature) = context.feature.get(name) else { return Ok(None) };
    match &feature.kind {
        Some(Kind::BytesList(list)) if list.value.len() == 1 => String::from_utf8(list.value[0].to_vec())
            .map(Some)
            .map_err(|_| format!("context feature `{name}` is not UTF-8 text")),
        Some(Kind::BytesList(list)) => {
            Err(format!("context feature `{name}` holds {} byte strings, expected 1", list.value.len()))
        }
        _ => Err(format!("context feature `{name}` is not a bytes_list")),
    }
}

/// A context feature that must be one int64, or absent.
fn single_int(context: &Features, name: &str) -> Result<Option<i64>, String> {
    let Some(feature) = context.feature.get(name) else { return Ok(None) };
    match &feature.kind {
        Some(Kind::Int64List(list)) if list.value.len() == 1 => Ok(Some(list.value[0])),
        _ => Err(format!("context feature `{name}` is not one int64")),
    }
}

/// A feature list's frames, concatenated: (bytes, frames, width).
fn frames(lists: &FeatureLists, name: &str) -> Result<(Vec<u8>, usize, usize), String> {
    let list = lists
        .feature_list
        .get(name)
        .ok_or_else(|| format!("no feature list `{name}` (expected one uint8 byte string per second)"))?;
    if list.feature.is_empty() {
        return Err(format!("feature list `{name}` has no frames"));
    }
    // Every frame's width is checked before the stream is allocated: the first frame's
    // width times the frame count is only the stream's size once the others agree (a
    // damaged record can pair one long frame with many empty ones).
    let mut width = None;
    for (t, feature) in list.feature.iter().enumerate() {
        let bytes = match &feature.kind {
            Some(Kind::BytesList(b)) if b.value.len() == 1 => &b.value[0],
            _ => return Err(format!("frame {t} of `{name}` is not a single byte string (quantized uint8 features)")),
        };
        match width {
            None => width = Some(bytes.len()),
            Some(w) if w != bytes.len() => {
                return Err(format!("frame {t} of `{name}` has {} values, frame 0 has {w}", bytes.len()));
            }
            Some(_) => {}
        }
    }
    let width = width.unwrap_or(0);
    let mut out = Vec::with_capacity(width * list.feature.len());
    for feature in &list.feature {
        if let Some(Kind::BytesList(b)) = &feature.kind {
            out.extend_from_slice(&b.value[0]);
        }
    }
    Ok((out, list.feature.len(), width))
}

/// Encodes one clip as a SequenceExample: `id` (and `audio_id` when given) in the context,
/// one byte string per frame in `rgb` and `audio`.
pub fn encode(
    id: &str,
    audio_id: Option<&str>,
    rgb: &[u8],
    rgb_width: usize,
    audio: &[u8],
    audio_width: usize,
) -> Vec<u8> {
    let bytes =
        |v: &[u8]| Feature { kind: Some(Kind::BytesList(BytesList { value: vec![Bytes::copy_from_slice(v)] })) };
    let mut context = Features::default();
    context.feature.insert(ID.into(), bytes(id.as_bytes()));
    if let Some(a) = audio_id {
        context.feature.insert(AUDIO_ID.into(), bytes(a.as_bytes()));
    }
    let audio_frames = audio.len() / audio_width.max(1);
    if audio_frames != rgb.len() / rgb_width.max(1) {
        let count = Int64List { value: vec![audio_frames as i64] };
        context.feature.insert(AUDIO_FRAMES.into(), Feature { kind: Some(Kind::Int64List(count)) });
    }
    let list =
        |data: &[u8], width: usize| FeatureList { feature: data.chunks_exact(width.max(1)).map(bytes).collect() };
    let mut lists = FeatureLists::default();
    lists.feature_list.insert(RGB.into(), list(rgb, rgb_width));
    lists.feature_list.insert(AUDIO.into(), list(audio, audio_width));
    SequenceExample { context: Some(context), feature_lists: Some(lists) }.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip() {
        let rgb: Vec<u8> = (0..3 * 4).map(|v| v as u8).collect();
        let audio: Vec<u8> = (0..3 * 2).map(|v| 200 + v as u8).collect();
        let bytes = encode("-a_B9", None, &rgb, 4, &audio, 2);
        let r = decode(&bytes[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.id.as_str(), r.frames, r.rgb_width, r.audio_width), ("-a_B9", 3, 4, 2));
        assert_eq!((&r.rgb, &r.audio), (&rgb, &audio));
        assert_eq!(r.audio_id(), "-a_B9");
        let r = decode(&encode("v", Some("a"), &rgb, 4, &audio, 2)[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.audio_id(), "a");
    }

    #[test]
    fn malformed_records_say_what_is_wrong() {
        let err = |example: SequenceExample| decode(&example.encode_to_vec()[..]).err().unwrap_or_default();
        let good = SequenceExample::decode(&encode("x", None, &[1; 8], 4, &[2; 4], 2)[..]).unwrap_or_default();
        let mut no_audio = good.clone();
        no_audio.feature_lists.as_mut().map(|l| l.feature_list.remove(AUDIO));
        assert!(err(no_audio).contains("no feature list `audio`"));
        let mut no_id = good.clone();
        no_id.context = None;
        assert!(err(no_id).contains("no context feature `id`"));
        let mut ragged = good.clone();
        if let Some(l) = ragged.feature_lists.as_mut().and_then(|l| l.feature_list.get_mut(RGB)) {
            l.feature[1] =
                Feature { kind: Some(Kind::BytesList(BytesList { value: vec![Bytes::from(vec![0u8; 5])] })) };
        }
        assert!(err(ragged).contains("frame 1 of `rgb` has 5 values, frame 0 has 4"));
        let mut uneven = good;
        if let Some(l) = uneven.feature_lists.as_mut().and_then(|l| l.feature_list.get_mut(AUDIO)) {
            l.feature.pop();
        }
        assert!(err(uneven).contains("`rgb` has 2 frames but `audio` has 1"));
        assert!(decode(&b"\xff\xff\xff"[..]).is_err_and(|e| e.contains("not a tf.train.SequenceExample")));
    }

    #[test]
    fn audio_at_another_rate_is_declared_in_the_context() {
        // 3 video frames, 6 audio frames: the record says so, and reads back whole.
        let rgb = [7u8; 3 * 4];
        let audio: Vec<u8> = (0..6 * 2).collect();
        let bytes = encode("x", None, &rgb, 4, &audio, 2);
        let r = decode(&bytes[..]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.frames, r.audio_frames(), &r.audio), (3, 6, &audio));
        let example = SequenceExample::decode(&bytes[..]).unwrap_or_default();
        assert!(example.context.as_ref().is_some_and(|c| c.feature.contains_key(AUDIO_FRAMES)));
        // Equal streams carry no such feature (YouTube-8M's records are unchanged).
        let equal = SequenceExample::decode(&encode("x", None, &rgb, 4, &audio[..6], 2)[..]).unwrap_or_default();
        assert!(equal.context.as_ref().is_some_and(|c| !c.feature.contains_key(AUDIO_FRAMES)));
        // A count that does not match the list is damage, named.
        let mut lying = example;
        if let Some(l) = lying.feature_lists.as_mut().and_then(|l| l.feature_list.get_mut(AUDIO)) {
            l.feature.pop();
        }
        let err = decode(&lying.encode_to_vec()[..]).err().unwrap_or_default();
        assert!(err.contains("`audio` has 5 frames but the context feature `audio_frames` says 6"), "{err}");
    }
}
