#!/usr/bin/env python3
"""Build the speech set: espeak-ng speech and a rendered talking face, in the course layout.

Every clip is 12 s at 10 steps/s (120 steps, the length avc's architectures declare):

- audio: random English-like phrases from a built-in word list, spoken by espeak-ng with a
  random voice, variant, speed, pitch and pauses, mixed with coloured noise and, in some
  clips, non-speech bursts (tones, noise) that have nothing in the picture; per step a
  128-band log-mel spectrum (93 ms window, 100 ms hop, 50 Hz - 8 kHz), standardised with
  fixed per-band constants into about [-2, 2] and quantized as the course's features;
- video: a 32 x 32 grey frame per step (the 1024 values): a face on a random textured
  background whose mouth opens with the speech's loudness envelope (band 300 Hz - 3 kHz of
  the clean speech, before the noise), after a random lag of -1..2 steps, a random
  nonlinearity and a random mouth inertia; eye blinks, head sway, camera jitter, drifting
  light, a distractor blob off the face that wanders or pulses on its own speech-like
  schedule, and pixel noise.

The mouth's drive is standardised per clip (fixed mean and spread), so the time average of
a video (what a mean-pooling model sees) says nothing about how much the clip speaks; the
face, background, voice, noise and distractors are drawn independently of each other.
Only timing links the two streams.

    python scripts/speech-set/build.py --out DIR [--train 3000] [--test 1200] [--seed 0] [--workers 2]

Deterministic: a clip's files depend only on --seed, its split and its index (not on the
worker count). DIR is written whole into a hidden sibling and renamed into place; an
existing DIR is replaced only when it is empty or an earlier output of this builder (its
`speech-set.json` says so). Needs numpy and espeak-ng.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from multiprocessing import Pool

import numpy as np

VERSION = 2
STEPS = 120  # avc's architectures declare [120, 1024] and [120, 128]
RATE = 10  # steps per second
SR = 22050  # espeak-ng's output rate
HOP = SR // RATE  # 2205 samples per step
NFFT = 2048
MELS = 128
SIDE = 32  # 32 x 32 = 1024 video values
MARKER = "speech-set.json"

WORDS = """
time year people way day man thing woman life child world school state family student group
country problem hand part place case week company system program question work government
number night point home water room mother area money story fact month lot right study book
eye job word business issue side kind head house service friend father power hour game line
end member law car city community name president team minute idea kid body information back
parent face others level office door health person art war history party result change
morning reason research girl guy moment air teacher force education foot boy age policy
music market sense nation plan college interest death experience effect class control care
field development role effort rate heart drug show leader light voice wife police mind price
report decision son view relationship town road arm difference value building action model
season society tax director position player record paper space ground form event official
matter center couple site project activity star table need court oil situation cost industry
figure street image phone data picture practice piece land product doctor wall patient worker
news test movie north love support technology step baby computer type attention film tree
source organization hair window evidence population truth song energy machine river garden
apple orange yellow purple silver golden quickly slowly always never maybe often seven eleven
twenty hundred thousand bright dark happy angry quiet loud gentle simple strange famous ready
walk talk run jump sing read write build open close carry follow listen remember forget
believe imagine understand beautiful wonderful important different possible available
""".split()

LANGS = ["en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd"]
VARIANTS = (
    "m1 m2 m3 m4 m5 m6 m7 m8 f1 f2 f3 f4 f5 croak klatt klatt2 klatt3 klatt4 klatt6 "
    "adam Alex Andy Annie aunty belinda benjamin boris caleb david ed edward Gene grandpa "
    "iven iven2 john Lee linda max Michael Mike paul quincy rob robert steph steph2 travis "
    "victor zac norbert shelby"
).split()


# ---------------------------------------------------------------------------- audio


def mel_filterbank():
    hz = lambda m: 700.0 * (10 ** (m / 2595.0) - 1)
    mel = lambda f: 2595.0 * np.log10(1 + f / 700.0)
    edges = hz(np.linspace(mel(50.0), mel(8000.0), MELS + 2))
    freqs = np.fft.rfftfreq(NFFT, 1.0 / SR)
    fb = np.zeros((MELS, len(freqs)), np.float64)
    for b in range(MELS):
        lo, mid, hi = edges[b : b + 3]
        up = (freqs - lo) / (mid - lo)
        down = (hi - freqs) / (hi - mid)
        fb[b] = np.maximum(0, np.minimum(up, down))
        if fb[b].sum() == 0:  # narrower than a bin: take the nearest one
            fb[b, np.argmin(np.abs(freqs - mid))] = 1.0
        fb[b] /= fb[b].sum()
    return fb


FB = mel_filterbank()
WINDOW = np.hanning(NFFT)
FREQS = np.fft.rfftfreq(NFFT, 1.0 / SR)
SPEECH_BAND = (FREQS >= 300) & (FREQS <= 3000)


def power_frames(x):
    """[STEPS, NFFT/2+1] power spectra, one window centred on each step's middle."""
    pad = np.pad(x, (NFFT, NFFT))
    centres = NFFT + np.arange(STEPS) * HOP + HOP // 2
    idx = centres[:, None] - NFFT // 2 + np.arange(NFFT)[None, :]
    return np.abs(np.fft.rfft(pad[idx] * WINDOW, axis=1)) ** 2


def speak(text, voice, speed, pitch, gap):
    cmd = ["espeak-ng", "-m", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap), "--stdout", text]
    raw = subprocess.run(cmd, check=True, capture_output=True).stdout
    # espeak-ng streams a WAV whose header sizes are placeholders: find the data chunk.
    at = raw.find(b"data")
    if at < 0:
        raise RuntimeError(f"espeak-ng gave no audio for voice {voice}")
    return np.frombuffer(raw[at + 8 :][: (len(raw) - at - 8) // 2 * 2], "<i2").astype(np.float64) / 32768.0


def utterance(rng):
    """Random phrases with random pauses, as SSML, aiming at 9-16 s of sound."""
    parts, seconds = [], rng.uniform(0.0, 1.5)
    parts.append(f'<break time="{int(seconds * 1000)}ms"/>')
    target = rng.uniform(9.0, 16.0)
    while seconds < target:
        n = int(rng.integers(1, 8))
        parts.append(" ".join(rng.choice(WORDS, n)))
        seconds += n * 0.45
        pause = rng.choice([0.1, 0.25, 0.5, 0.8, 1.2, 1.8], p=[0.15, 0.2, 0.25, 0.2, 0.12, 0.08])
        pause *= rng.uniform(0.7, 1.3)
        parts.append(f'<break time="{int(pause * 1000)}ms"/>')
        seconds += pause
    return "<speak>" + " ".join(parts) + "</speak>"


def coloured_noise(rng, n):
    tilt = rng.uniform(-1.0, 0.5)  # spectral slope, dB per octave / 3
    spec = np.fft.rfft(rng.normal(size=n))
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec *= np.maximum(f, 20.0) ** (tilt / 2)
    x = np.fft.irfft(spec, n)
    return x / (x.std() + 1e-12)


def bursts(rng, n):
    """Non-speech sound events with nothing in the picture: tones and noise bursts."""
    x = np.zeros(n)
    for _ in range(int(rng.integers(1, 5))):
        dur = int(rng.uniform(0.1, 0.5) * SR)
        start = int(rng.integers(0, n - dur))
        t = np.arange(dur) / SR
        if rng.random() < 0.5:
            s = np.sin(2 * np.pi * rng.uniform(200, 3000) * t)
        else:
            s = coloured_noise(rng, dur)
        s *= np.hanning(dur)
        x[start : start + dur] += s * rng.uniform(0.2, 0.7)
    return x


def make_audio(rng, raw=False):
    """(uint8 [STEPS, 128] log-mel, float [STEPS] speech envelope in [0, 1], info); with
    `raw`, the log-mel in dB before standardising (for calibrate())."""
    n = STEPS * HOP
    for attempt in range(20):
        voice = f"{rng.choice(LANGS)}+{rng.choice(VARIANTS)}"
        speed, pitch, gap = int(rng.integers(120, 230)), int(rng.integers(15, 90)), int(rng.integers(0, 6))
        wav = speak(utterance(rng), voice, speed, pitch, gap)
        # Place 12 s of it: a random window of a longer utterance, or a shorter one padded.
        clip = np.zeros(n)
        if len(wav) >= n:
            start = int(rng.integers(0, len(wav) - n + 1))
            clip[:] = wav[start : start + n]
        else:
            start = int(rng.integers(0, n - len(wav) + 1))
            clip[start : start + len(wav)] = wav
        speech_power = power_frames(clip)
        band = speech_power[:, SPEECH_BAND].sum(axis=1)
        db = 10 * np.log10(band + 1e-10)
        env = np.clip((db - (db.max() - 35.0)) / 35.0, 0.0, 1.0)
        if (env > 0.3).mean() >= 0.3:  # at least a third of the clip is speech
            break
    active = clip[np.abs(clip) > 1e-4]
    clip = clip / (active.std() + 1e-12)
    snr = rng.uniform(5.0, 30.0)
    mix = clip + coloured_noise(rng, n) * 10 ** (-snr / 20)
    if rng.random() < 0.5:
        mix += bursts(rng, n)
    mix *= 10 ** (rng.uniform(-6, 6) / 20)
    mel_db = 10 * np.log10(power_frames(mix) @ FB.T + 1e-10)
    if raw:
        return mel_db
    feats = (mel_db - MEL_MEAN) / MEL_STD * 0.7
    return quantize(feats), env, {"voice": voice, "speed": speed, "pitch": pitch, "snr_db": round(snr, 1)}


# Fixed per-band standardisation (dB): the mean and spread of each band over 64 clips of
# this generator, measured once by `build.py --calibrate` and written here so every build
# maps sound to the same values. Features are (dB - mean) / spread * 0.7: about [-2, 2].
MEL_MEAN = np.array(
    """
    19.0 20.1 21.3 21.8 21.5 21.5 21.3 21.3 21.2 21.5 22.1 22.3 22.0 21.9 22.2 22.3 22.1
    21.7 21.3 21.3 21.6 22.1 22.2 21.9 21.4 20.8 20.5 20.0 19.6 19.2 18.6 18.2 17.6 17.3
    17.1 17.2 17.0 16.7 16.5 16.5 16.4 16.2 16.1 16.0 15.8 15.8 15.7 15.6 15.4 15.4 15.4
    15.4 15.4 15.4 15.4 15.4 15.3 15.1 15.0 14.9 14.9 14.8 14.9 14.8 14.7 14.6 14.4 14.3
    14.3 14.3 14.3 14.5 14.6 14.6 14.8 14.9 15.1 15.2 15.2 15.0 14.7 14.5 14.3 14.1 14.0
    14.2 14.5 14.7 14.9 14.9 14.7 14.7 14.5 14.5 14.5 14.2 13.8 13.5 13.4 13.2 13.1 12.9
    12.8 12.7 12.6 12.6 12.5 12.2 12.0 11.8 11.6 11.5 11.3 11.5 11.6 11.6 11.6 11.6 11.5
    11.6 11.5 11.5 11.4 11.3 11.3 11.3 11.4 11.3
    """.split(),
    float,
)
MEL_STD = np.array(
    """
    9.9 10.8 11.4 11.7 11.5 11.2 11.3 11.3 11.3 11.5 12.1 12.3 12.3 12.1 12.0 12.0 12.1
    12.0 12.0 12.1 12.2 12.2 12.3 12.3 12.3 12.4 12.2 12.0 11.9 11.7 11.5 11.3 11.1 10.9
    10.9 11.0 10.9 10.7 10.7 10.7 10.4 10.2 10.1 10.0 10.0 10.0 9.8 9.7 9.8 9.7 9.6 9.7
    9.6 9.7 9.7 9.7 9.7 9.5 9.3 9.2 9.1 9.0 9.0 9.0 9.0 8.9 8.9 8.8 8.7 8.7 8.7 8.8 8.8
    8.7 8.8 8.8 9.0 9.0 9.0 8.9 8.7 8.6 8.5 8.5 8.4 8.5 8.7 8.8 9.0 9.0 8.9 8.9 8.8 8.7
    8.6 8.4 8.4 8.5 8.7 8.7 8.8 8.7 8.7 8.8 8.7 8.8 8.7 8.6 8.5 8.4 8.4 8.3 8.2 8.3 8.4
    8.4 8.4 8.4 8.4 8.3 8.2 8.2 8.2 8.2 8.3 8.3 8.4 8.4
    """.split(),
    float,
)




def calibrate():
    """Print MEL_MEAN and MEL_STD measured on 64 clips (seed 12345)."""
    rng = np.random.default_rng(12345)
    x = np.concatenate([make_audio(rng, raw=True) for _ in range(64)])
    for name, v in (("MEL_MEAN", x.mean(0)), ("MEL_STD", x.std(0))):
        print(name, " ".join(f"{u:.1f}" for u in v))


def quantize(v):
    """The inverse of the course's dequantize(q) = q * 4/255 + 4/512 - 2."""
    return np.clip(np.round((v + 2.0 - 4.0 / 512.0) * (255.0 / 4.0)), 0, 255).astype(np.uint8)


def dequantize(q):
    return q.astype(np.float32) * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)


# ---------------------------------------------------------------------------- video


def smooth_noise(rng, size, scale):
    """Low-pass random field [size] with the given correlation length in samples."""
    x = rng.normal(size=size)
    k = np.exp(-0.5 * (np.arange(-3 * scale, 3 * scale + 1) / max(scale, 1e-3)) ** 2)
    out = np.convolve(np.pad(x, len(k), mode="wrap"), k / k.sum(), mode="same")[len(k) : -len(k)]
    return out / (out.std() + 1e-12)


def soft_ellipse(yy, xx, cy, cx, ry, rx, edge=0.7):
    """1 inside the ellipse, 0 outside, a soft edge of about `edge` pixels."""
    r = np.sqrt(((yy - cy) / max(ry, 0.2)) ** 2 + ((xx - cx) / max(rx, 0.2)) ** 2)
    scale = edge / max(min(ry, rx), 0.2)
    return np.clip((1.0 - r) / scale + 0.5, 0.0, 1.0)


def mouth_drive(rng, env):
    """The mouth's opening per step: the envelope, lagged, bent, smoothed and standardised."""
    lag = int(rng.integers(-1, 3))  # the mouth leads by a step or lags by up to two
    e = np.roll(env, lag)
    if lag > 0:
        e[:lag] = env[0]
    elif lag < 0:
        e[lag:] = env[-1]
    e = e ** rng.uniform(0.6, 1.8)
    a = rng.uniform(0.0, 0.5)  # inertia: first-order low-pass
    out, prev = np.empty_like(e), e[0]
    for t in range(len(e)):
        prev = a * prev + (1 - a) * e[t]
        out[t] = prev
    out = (out - out.mean()) / (out.std() + 1e-6)
    return np.clip(0.45 + 0.22 * out, 0.0, 1.0), lag


def make_video(rng, env):
    """uint8 [STEPS, 1024] frames of a face whose mouth follows `env`."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    drive, lag = mouth_drive(rng, env)
    # Background: a few random gratings plus a fixed grain, lit by a drifting light.
    bg_base = rng.uniform(0.15, 0.85)
    gratings = []
    for _ in range(int(rng.integers(2, 6))):
        f = rng.uniform(0.05, 0.35)
        th = rng.uniform(0, np.pi)
        gratings.append((f * np.cos(th), f * np.sin(th), rng.uniform(0, 2 * np.pi), rng.uniform(0.02, 0.12)))
    grain = rng.normal(size=(SIDE, SIDE)) * rng.uniform(0.0, 0.06)
    light = 1.0 + 0.08 * smooth_noise(rng, STEPS, 15.0)
    # Camera jitter (a random walk, pulled back to the centre) and head sway (slow).
    jit = np.zeros((STEPS, 2))
    amp = rng.uniform(0.0, 0.35)
    for t in range(1, STEPS):
        jit[t] = 0.8 * jit[t - 1] + rng.normal(size=2) * amp
    sway = np.stack([smooth_noise(rng, STEPS, 12.0), smooth_noise(rng, STEPS, 12.0)], 1) * rng.uniform(0.0, 0.8)
    # The face.
    fy, fx = 15.5 + rng.uniform(-1.5, 1.5), 15.5 + rng.uniform(-1.5, 1.5)
    ry, rx = rng.uniform(10, 12), rng.uniform(8, 10)
    face_b = rng.uniform(0.25, 0.9)
    mouth_c = -rng.uniform(0.35, 0.6)  # a dark mouth on the face
    mouth_w = rx * rng.uniform(0.35, 0.55)
    mouth_h = rng.uniform(3.0, 5.0)  # height of a wide-open mouth, pixels
    eye_c = -rng.uniform(0.2, 0.5)
    blink = np.zeros(STEPS)
    t = int(rng.integers(0, 30))
    while t < STEPS:
        blink[t : t + 2] = 1.0
        t += int(rng.integers(15, 60))
    # A distractor: a blob that wanders, or one that pulses on a speech-like schedule of
    # its own, or none.
    kind = rng.choice(["none", "wander", "pulse"], p=[0.3, 0.4, 0.3])
    # Off the face: near a corner, wandering along the border.
    dy, dx = rng.choice([3.0, 28.0]) + rng.uniform(-1, 1), rng.choice([3.0, 28.0]) + rng.uniform(-1, 1)
    dpath = np.stack([smooth_noise(rng, STEPS, 8.0), smooth_noise(rng, STEPS, 8.0)], 1) * (2.5 if kind == "wander" else 0.0)
    dc = rng.choice([-1, 1]) * rng.uniform(0.2, 0.5)
    dsize = rng.uniform(1.5, 3.5)
    fake = np.clip(smooth_noise(rng, STEPS, 1.5) + rng.uniform(-0.5, 0.5), 0, None)
    dpulse = np.minimum(fake / (fake.max() + 1e-9) * 1.5, 1.0) if kind == "pulse" else np.ones(STEPS)
    pix_noise = rng.uniform(0.01, 0.05)

    frames = np.empty((STEPS, SIDE * SIDE), np.float64)
    for t in range(STEPS):
        oy, ox = jit[t]
        y, x = yy + oy, xx + ox
        img = np.full((SIDE, SIDE), bg_base)
        for gy, gx, ph, a in gratings:
            img += a * np.sin(2 * np.pi * (gy * y + gx * x) + ph)
        img += grain
        cy, cx = fy + sway[t, 0], fx + sway[t, 1]
        face = soft_ellipse(y, x, cy, cx, ry, rx)
        img = img * (1 - face) + face_b * face
        for side in (-1, 1):
            eye = soft_ellipse(y, x, cy - 0.3 * ry, cx + side * 0.4 * rx, 1.2 * (1 - 0.85 * blink[t]), 1.5)
            img += eye_c * eye
        open_h = 0.35 + drive[t] * mouth_h
        img += mouth_c * soft_ellipse(y, x, cy + 0.45 * ry, cx, open_h, mouth_w)
        ddy, ddx = dy + dpath[t, 0], dx + dpath[t, 1]
        img += dc * dpulse[t] * soft_ellipse(y, x, ddy, ddx, dsize * (0.5 + 0.5 * dpulse[t]), dsize * (0.5 + 0.5 * dpulse[t]))
        img = img * light[t] + rng.normal(size=img.shape) * pix_noise
        frames[t] = img.ravel()
    return quantize((frames - 0.5) * 3.2), {"lag": lag, "distractor": str(kind)}


# ---------------------------------------------------------------------------- clips


def clip_rng(seed, split, index):
    return np.random.default_rng([seed, {"train": 1, "test": 2}[split], index])


def build_clip(job):
    root, seed, split, index, cid = job
    rng = clip_rng(seed, split, index)
    afeat, env, ainfo = make_audio(rng)
    vfeat, vinfo = make_video(rng, env)
    d = os.path.join(root, cid)
    os.makedirs(d)
    np.save(os.path.join(d, "vfeat.npy"), vfeat)
    np.save(os.path.join(d, "afeat.npy"), afeat)
    return cid, {**ainfo, **vinfo}


def owned(path):
    try:
        with open(os.path.join(path, MARKER), encoding="utf-8") as f:
            return json.load(f).get("generator") == "avc speech-set"
    except (OSError, ValueError):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out")
    ap.add_argument("--calibrate", action="store_true", help="print the audio standardisation constants and exit")
    ap.add_argument("--train", type=int, default=3000)
    ap.add_argument("--test", type=int, default=1200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    if args.calibrate:
        return calibrate()
    if not args.out:
        ap.error("--out is required")
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed (scripts/speech-set.sh installs it)")
    out = os.path.abspath(args.out)
    if os.path.lexists(out):
        if not os.path.isdir(out) or os.path.islink(out):
            sys.exit(f"{out}: exists and is not a directory; refusing to replace it")
        if os.listdir(out) and not owned(out):
            sys.exit(f"{out}: a non-empty directory this builder did not write (no {MARKER}); refusing to replace it")
    parent, name = os.path.dirname(out), os.path.basename(out)
    os.makedirs(parent, exist_ok=True)
    stage = os.path.join(parent, f".{name}.building-{os.getpid()}")
    os.makedirs(stage)
    started = time.time()
    try:
        jobs = [(stage, args.seed, "train", i, f"sp-train-{i:06d}") for i in range(args.train)]
        jobs += [(stage, args.seed, "test", i, f"sp-test-{i:06d}") for i in range(args.test)]
        info = {}
        with Pool(args.workers) as pool:
            for k, (cid, meta) in enumerate(pool.imap(build_clip, jobs, chunksize=8)):
                info[cid] = meta
                if (k + 1) % 500 == 0 or k + 1 == len(jobs):
                    print(f"{k + 1}/{len(jobs)} clips, {time.time() - started:.0f} s", file=sys.stderr, flush=True)
        write_list = lambda fname, ids: open(os.path.join(stage, fname), "w", encoding="utf-8").write("".join(i + "\n" for i in ids))
        train_ids = [j[4] for j in jobs if j[2] == "train"]
        test_ids = [j[4] for j in jobs if j[2] == "test"]
        write_list("train.txt", train_ids)
        write_list("test_video.txt", test_ids)
        write_list("test_audio.txt", test_ids)
        with open(os.path.join(stage, "clips.jsonl"), "w", encoding="utf-8") as f:
            for cid in train_ids + test_ids:
                f.write(json.dumps({"id": cid, **info[cid]}) + "\n")
        espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True).stdout.strip()
        meta = {
            "generator": "avc speech-set",
            "version": VERSION,
            "seed": args.seed,
            "train": args.train,
            "test": args.test,
            "steps": STEPS,
            "steps_per_second": RATE,
            "video": [STEPS, SIDE * SIDE],
            "audio": [STEPS, MELS],
            "espeak_ng": espeak,
            "numpy": np.__version__,
            "build_seconds": round(time.time() - started, 1),
        }
        with open(os.path.join(stage, MARKER), "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        # avc's own marker for a data set it may replace (docs/safety.md): the set is
        # generated, so `avc data synth|convert --out` onto it is allowed.
        with open(os.path.join(stage, ".avc-output"), "w", encoding="utf-8") as f:
            f.write("course-layout data\n")
        # Re-check just before the swap (another process may have written there meanwhile).
        old = None
        if os.path.lexists(out):
            if os.listdir(out) and not owned(out):
                raise SystemExit(f"{out}: became a directory this builder did not write; left the new set in {stage}")
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.rename(out, old)
        os.rename(stage, out)
        if old:
            shutil.rmtree(old)
    except BaseException:
        if os.path.isdir(stage):
            shutil.rmtree(stage, ignore_errors=True)
        raise
    print(f"{out}: {args.train} training clips, {args.test} test pairs, {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
