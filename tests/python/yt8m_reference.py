"""Writes the reference YouTube-8M shards in tests/fixtures/yt8m/ with TensorFlow itself.

The shards are what avc's tests read (tests/yt8m.rs), so the tests and CI need no
TensorFlow; this script documents and reproduces them. Run it with a Python that has
`tensorflow-cpu` and numpy (kept apart from the torch venv):

    python3 -m venv ~/.cache/avc/tf
    ~/.cache/avc/tf/bin/pip install tensorflow-cpu numpy
    ~/.cache/avc/tf/bin/python tests/python/yt8m_reference.py tests/fixtures/yt8m

What it writes (`tf.io.TFRecordWriter`, `tf.train.SequenceExample` as YouTube-8M's
frame-level files: context `id` (bytes) and `labels` (int64), feature lists `rgb`
(1024 bytes per second) and `audio` (128 bytes per second)):

    ref-00000.tfrecord, ref-00001.tfrecord   good shards, 4 and 3 videos of 2 to 9 seconds,
                                             ids that start with '-' and contain '_'
    expected.json, expected/*.npy            every record's id, length and exact bytes
    corrupt/flipped.tfrecord                 record 1's payload has one bit flipped
    corrupt/truncated.tfrecord               the last record (2) is cut short
    corrupt/no_audio.tfrecord                record 1 has no `audio` feature list
    corrupt/wide.tfrecord                    record 2's `rgb` frames have 1000 bytes
    corrupt/empty.tfrecord                   no records at all

The corrupt shards are made from TensorFlow-written ones (the flip and the cut by editing
the bytes afterwards). The script reads the good shards back with TensorFlow's parser and
checks that TensorFlow itself rejects the flipped one.
"""

import json
import os
import sys

import numpy as np
import tensorflow as tf

RNG = np.random.default_rng(20261129)


def bytes_feature(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def example(vid, frames, rgb_width=1024, audio_width=128, audio=True):
    """A SequenceExample like YouTube-8M's, and its rgb and audio arrays."""
    rgb = RNG.integers(0, 256, size=(frames, rgb_width), dtype=np.uint8)
    aud = RNG.integers(0, 256, size=(frames, audio_width), dtype=np.uint8)
    context = tf.train.Features(
        feature={
            "id": bytes_feature([vid.encode()]),
            "labels": tf.train.Feature(int64_list=tf.train.Int64List(value=[3, 17])),
        }
    )
    lists = {"rgb": tf.train.FeatureList(feature=[bytes_feature([r.tobytes()]) for r in rgb])}
    if audio:
        lists["audio"] = tf.train.FeatureList(feature=[bytes_feature([a.tobytes()]) for a in aud])
    ex = tf.train.SequenceExample(context=context, feature_lists=tf.train.FeatureLists(feature_list=lists))
    return ex.SerializeToString(), rgb, aud


def write(path, payloads):
    with tf.io.TFRecordWriter(path) as w:
        for p in payloads:
            w.write(p)


def record_offsets(data):
    """Byte offset of every record in a TFRecord file."""
    offsets, at = [], 0
    while at < len(data):
        offsets.append(at)
        length = int.from_bytes(data[at : at + 8], "little")
        at += 16 + length
    return offsets


def main(out):
    os.makedirs(os.path.join(out, "expected"), exist_ok=True)
    os.makedirs(os.path.join(out, "corrupt"), exist_ok=True)
    good = {
        "ref-00000.tfrecord": [("-Ab_c1xYz09", 9), ("zz_9-Q", 2), ("_under_score", 6), ("-", 5)],
        "ref-00001.tfrecord": [("a1B2c3D4e5F", 7), ("--double-dash", 3), ("Z_-_Z", 8)],
    }
    expected = []
    for shard, videos in good.items():
        payloads = []
        for index, (vid, frames) in enumerate(videos):
            payload, rgb, aud = example(vid, frames)
            payloads.append(payload)
            stem = f"{shard.split('.')[0]}-{index}"
            np.save(os.path.join(out, "expected", f"{stem}-rgb.npy"), rgb)
            np.save(os.path.join(out, "expected", f"{stem}-audio.npy"), aud)
            expected.append(
                {
                    "shard": shard,
                    "index": index,
                    "id": vid,
                    "frames": frames,
                    "rgb": f"expected/{stem}-rgb.npy",
                    "audio": f"expected/{stem}-audio.npy",
                }
            )
        write(os.path.join(out, shard), payloads)
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")

    # Read the good shards back with TensorFlow's own parser: the expected bytes are what it sees.
    for e in expected:
        ds = tf.data.TFRecordDataset(os.path.join(out, e["shard"]))
        raw = list(ds.as_numpy_iterator())[e["index"]]
        ctx, seq = tf.io.parse_single_sequence_example(
            raw,
            context_features={"id": tf.io.FixedLenFeature([], tf.string)},
            sequence_features={
                "rgb": tf.io.FixedLenSequenceFeature([], tf.string),
                "audio": tf.io.FixedLenSequenceFeature([], tf.string),
            },
        )
        assert ctx["id"].numpy().decode() == e["id"]
        rgb = tf.io.decode_raw(seq["rgb"], tf.uint8).numpy()
        assert (rgb == np.load(os.path.join(out, e["rgb"]))).all()

    corrupt = os.path.join(out, "corrupt")
    three = [example(f"c{i}_-x", 4)[0] for i in range(3)]
    # One flipped bit inside record 1's payload.
    write(os.path.join(corrupt, "flipped.tfrecord"), three)
    data = bytearray(open(os.path.join(corrupt, "flipped.tfrecord"), "rb").read())
    data[record_offsets(data)[1] + 12 + 40] ^= 0x10
    open(os.path.join(corrupt, "flipped.tfrecord"), "wb").write(data)
    try:
        list(tf.data.TFRecordDataset(os.path.join(corrupt, "flipped.tfrecord"), buffer_size=0).as_numpy_iterator())
        raise SystemExit("TensorFlow read the flipped shard without an error")
    except tf.errors.DataLossError:
        pass
    # The last record cut short.
    write(os.path.join(corrupt, "truncated.tfrecord"), three)
    data = open(os.path.join(corrupt, "truncated.tfrecord"), "rb").read()
    open(os.path.join(corrupt, "truncated.tfrecord"), "wb").write(data[: record_offsets(data)[2] + 100])
    # Record 1 without audio; record 2 with 1000-byte rgb frames.
    write(os.path.join(corrupt, "no_audio.tfrecord"), [three[0], example("noaud", 4, audio=False)[0], three[2]])
    write(os.path.join(corrupt, "wide.tfrecord"), [three[0], three[1], example("wide", 4, rgb_width=1000)[0]])
    write(os.path.join(corrupt, "empty.tfrecord"), [])
    print(f"wrote {len(expected)} reference records and 5 corrupt shards to {out} with TensorFlow {tf.__version__}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/yt8m")
