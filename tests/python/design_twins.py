"""torch.nn twins of the five current designs of architectures/ (issue: the language
researchers write today), written as a PyTorch user would write them by hand.

Two uses:

    python design_twins.py check MODEL WEIGHTS.safetensors SAMPLE.safetensors

loads `avc export`'s weights into MODEL with `strict=True`, runs it on the sample's clips in
eval mode and compares with avc's outputs (as torch_twins.py does): exits 1 unless the
largest difference is under 1e-4 times the outputs' scale (their largest magnitude, at
least 1) and nudged weights move the outputs. The twins are not bit-equal: avc convolves
through oneDNN's channels-last conv2d (src/lower/ops/conv.rs), nn.Conv1d sums in another
order, and float32 roundings that differ by about 1e-7 relative grow with the outputs (a
first `bilinear`, without its batch norms, scored about 50 and differed by 2.3e-5, avc and
the twin both that close to a float64 run).

    python design_twins.py lines

prints each twin's length in lines of code (no blank lines, comments or docstrings; the
classes the design uses, its own helpers included), for docs/language.md's comparison
with the .avc files.
"""

import inspect
import io
import sys
import tokenize

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F


def over_time(module, x):
    """Applies a channels-first 1-d module to a [B, T, F] sequence."""
    return module(x.transpose(1, 2)).transpose(1, 2)


def sinusoidal(x, base=10000.0):
    t, f = x.shape[1], x.shape[2]
    pos = torch.arange(t, dtype=x.dtype).unsqueeze(1)
    freq = base ** (torch.arange(0, f, 2, dtype=x.dtype) / f)
    pe = torch.zeros(t, f, dtype=x.dtype)
    pe[:, 0::2] = torch.sin(pos / freq)
    pe[:, 1::2] = torch.cos(pos / freq)
    return x + pe


class GatedFusion(nn.Module):
    """architectures/gated_fusion.avc"""

    def __init__(self, h=64):
        super().__init__()
        self.hv_linear = nn.Linear(1024, h)
        self.ha_linear = nn.Linear(128, h)
        self.z_linear = nn.Linear(1024 + 128, h)
        self.conv_conv1d = nn.Conv1d(h, h, 5, padding="same")
        self.fc_linear = nn.Linear(h, h)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(h, 1)

    def forward(self, video, audio):
        hv = torch.tanh(self.hv_linear(video))
        ha = torch.tanh(self.ha_linear(audio))
        z = torch.sigmoid(self.z_linear(torch.cat([video, audio], dim=-1)))
        fused = z * hv + (1 - z) * ha
        conv = F.relu(over_time(self.conv_conv1d, fused))
        fc = self.drop(F.relu(self.fc_linear(conv.amax(dim=1))))
        return self.head(fc)


class Bilinear(nn.Module):
    """architectures/synthetic-only/bilinear.avc"""

    def __init__(self, h=64):
        super().__init__()
        self.u_linear = nn.Linear(1024, h)
        self.u_conv1d = nn.Conv1d(h, h, 3, padding="same")
        self.u = nn.BatchNorm1d(h, affine=False)
        self.v_linear = nn.Linear(128, h)
        self.v_conv1d = nn.Conv1d(h, h, 3, padding="same")
        self.v = nn.BatchNorm1d(h, affine=False)
        self.W = nn.Parameter(torch.randn(h, h) * 0.02)
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, video, audio):
        u = self.u(F.relu(over_time(self.u_conv1d, self.u_linear(video))).amax(dim=1))
        v = self.v(F.relu(over_time(self.v_conv1d, self.v_linear(audio))).amax(dim=1))
        return ((u @ self.W) * v).sum(dim=-1) + self.b


class TcnLayer(nn.Module):
    def __init__(self, width, dilation):
        super().__init__()
        self.conv = nn.Conv1d(width, width, 3, dilation=dilation, padding="same")
        self.act_layernorm = nn.LayerNorm(width)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        conv = over_time(self.conv, x)
        return x + self.drop(F.relu(self.act_layernorm(conv)))


class XattnTcn(nn.Module):
    """architectures/synthetic-only/xattn_tcn.avc"""

    def __init__(self, h=64):
        super().__init__()
        self.vpos_linear = nn.Linear(1024, h)
        self.apos_linear = nn.Linear(128, h)
        self.att = nn.MultiheadAttention(h, 4, batch_first=True)
        self.fused = nn.LayerNorm(h)
        self.t1 = TcnLayer(h, 1)
        self.t2 = TcnLayer(h, 2)
        self.t3 = TcnLayer(h, 4)
        self.fc_linear = nn.Linear(h, h)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(h, 1)

    def forward(self, video, audio):
        vpos = sinusoidal(self.vpos_linear(video))
        apos = sinusoidal(self.apos_linear(audio))
        att = self.att(vpos, apos, apos)[0]
        fused = self.fused(vpos + att)
        t3 = self.t3(self.t2(self.t1(fused)))
        fc = self.drop(F.relu(self.fc_linear(t3.amax(dim=1))))
        return self.head(fc)


class FeedForward(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.up_rmsnorm = nn.RMSNorm(width, eps=1e-6)
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        up = self.up(self.up_rmsnorm(x))
        return x + 0.5 * self.drop(self.down(F.silu(up)))


class ConvModule(nn.Module):
    def __init__(self, width, k=7):
        super().__init__()
        self.k = k
        self.pointwise_rmsnorm = nn.RMSNorm(width, eps=1e-6)
        self.pointwise = nn.Conv1d(width, 2 * width, 1)
        self.depthwise = nn.Conv1d(width, width, k, groups=width)
        self.mix = nn.Conv1d(width, width, 1)
        self.drop = nn.Dropout(0.1)

    def forward(self, x):
        t = self.pointwise(self.pointwise_rmsnorm(x).transpose(1, 2))
        t = self.depthwise(F.pad(F.glu(t, dim=1), (self.k - 1, 0)))
        mix = self.mix(F.silu(t)).transpose(1, 2)
        return x + self.drop(mix)


class Conformer(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.ff1 = FeedForward(width)
        self.attn_rmsnorm = nn.RMSNorm(width, eps=1e-6)
        self.attn_self_attention = nn.MultiheadAttention(width, 4, batch_first=True)
        self.conv = ConvModule(width)
        self.ff2 = FeedForward(width)
        self.out = nn.RMSNorm(width, eps=1e-6)

    def forward(self, x):
        ff1 = self.ff1(x)
        normed = self.attn_rmsnorm(ff1)
        attn = ff1 + self.attn_self_attention(normed, normed, normed)[0]
        return self.out(self.ff2(self.conv(attn)))


class ConformerTwoTower(nn.Module):
    """architectures/synthetic-only/conformer_two_tower.avc"""

    def __init__(self, h=64):
        super().__init__()
        self.venc_linear = nn.Linear(1024, h)
        self.aenc_linear = nn.Linear(128, h)
        self.venc = Conformer(h)
        self.aenc = Conformer(h)
        self.vemb = nn.Linear(h, h)
        self.aemb = nn.Linear(h, h)

    def forward(self, video, audio):
        venc = self.venc(sinusoidal(self.venc_linear(video)))
        aenc = self.aenc(sinusoidal(self.aenc_linear(audio)))
        return self.vemb(venc.mean(dim=1)), self.aemb(aenc.mean(dim=1))


class Audio2x(nn.Module):
    """architectures/synthetic-only/audio_2x.avc"""

    def __init__(self, h=64):
        super().__init__()
        self.vproj = nn.Linear(1024, h)
        self.aproj = nn.Linear(128, h)
        self.vnorm = nn.BatchNorm1d(h, affine=False)
        self.anorm = nn.BatchNorm1d(h, affine=False)
        self.fc = nn.Linear(2 * h, h)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(h, 1)

    def forward(self, video, audio):
        vpool = F.leaky_relu(self.vproj(video), 0.01).amax(dim=1)
        apool = F.leaky_relu(self.aproj(audio), 0.01).amax(dim=1)
        joint = torch.cat([self.vnorm(vpool), self.anorm(apool)], dim=-1)
        return self.head(self.drop(F.leaky_relu(self.fc(joint), 0.01)))


# Each design's module and the helpers it uses (for `lines`).
TWINS = {
    "gated_fusion": (GatedFusion, [over_time]),
    "bilinear": (Bilinear, [over_time]),
    "xattn_tcn": (XattnTcn, [TcnLayer, over_time, sinusoidal]),
    "conformer_two_tower": (ConformerTwoTower, [Conformer, FeedForward, ConvModule, sinusoidal]),
    "audio_2x": (Audio2x, []),
}


def code_lines(obj):
    """Lines of code of a class or function: no blank lines, comments or docstrings."""
    source = inspect.getsource(obj)
    skip = set()
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    for i, tok in enumerate(tokens):
        # A string that is a statement of its own (after a newline or an indent) is a docstring.
        if tok.type == tokenize.STRING and tokens[i - 1].type in (tokenize.INDENT, tokenize.NEWLINE, tokenize.DEDENT):
            skip.update(range(tok.start[0], tok.end[0] + 1))
    count = 0
    for number, line in enumerate(source.splitlines(), start=1):
        text = line.strip()
        if text and not text.startswith("#") and number not in skip:
            count += 1
    return count


def outputs(name, state, data):
    model = TWINS[name][0]()
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        ours = model(data["video"], data["audio"])
    if isinstance(ours, tuple):
        pairs = [(ours[0], data["output.towers.video"]), (ours[1], data["output.towers.audio"])]
    else:
        pairs = [(ours, data["output.match"])]
    diff = max((o.reshape(t.shape) - t).abs().max().item() for o, t in pairs)
    scale = max([1.0] + [t.abs().max().item() for _, t in pairs])
    return diff, scale, sum(t.numel() for _, t in pairs)


def main():
    if sys.argv[1] == "lines":
        for name, (model, helpers) in TWINS.items():
            print(name, sum(code_lines(o) for o in [model, *helpers]))
        return
    name, weights, sample = sys.argv[2:5]
    state, data = load_file(weights), load_file(sample)
    diff, scale, count = outputs(name, state, data)
    nudged = {k: v + 0.05 if v.is_floating_point() else v for k, v in state.items()}
    moved, _, _ = outputs(name, nudged, data)
    print(
        f"{name}: max abs difference {diff:.3e} over {count} outputs of scale {scale:.3g}"
        f" ({moved:.3e} with nudged weights)"
    )
    sys.exit(0 if diff < 1e-4 * scale and moved > 1e-2 * scale else 1)


if __name__ == "__main__":
    main()
