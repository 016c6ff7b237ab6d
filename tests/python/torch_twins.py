"""torch.nn twins of four avc architectures, for the export test (tests/export.rs).

Each class is written the way a PyTorch user would write the architecture by hand: one
module attribute per avc node that has weights, named after the node (block instances are
sub-modules), so `load_state_dict(strict=True)` takes `avc export`'s file unchanged.

    python torch_twins.py MODEL WEIGHTS.safetensors SAMPLE.safetensors

loads the weights into MODEL, runs it on the sample's inputs in eval mode, and compares
with the outputs avc computed (`output.<name>`). Prints the largest difference; exits 1
if it is 1e-5 or more, or if the comparison is blind: with every weight nudged by 0.05 the
outputs must move.
"""

import sys

import torch
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F


def over_time(module, x):
    """Applies a channels-first 1-d module to a [B, T, F] sequence."""
    return module(x.transpose(1, 2)).transpose(1, 2)


class ResLstm(nn.Module):
    def __init__(self, features, hidden, p=0.5):
        super().__init__()
        self.rnn = nn.LSTM(features, hidden, batch_first=True)
        self.drop = nn.Dropout(p)
        self.branch = nn.LSTM(hidden, hidden, batch_first=True)

    def forward(self, x):
        rnn, _ = self.rnn(x)
        branch, _ = self.branch(self.drop(rnn))
        return rnn + branch


class ResConv(nn.Module):
    """A residual conv over time; the seed's form has a batch norm (no affine) after the conv."""

    def __init__(self, channels, norm=False):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.norm = nn.BatchNorm1d(channels, affine=False) if norm else nn.Identity()

    def forward(self, x):
        y = over_time(lambda t: F.leaky_relu(self.norm(self.conv(t)), 0.01), x)
        return x + y


class Final(nn.Module):
    """architectures/final.yaml (norm=False) and synthetic-only/final_seed.yaml (norm=True)"""

    def __init__(self, h=64, norm=False):
        super().__init__()
        self.vproj = nn.Linear(1024, h)
        self.vrnn = ResLstm(h, h)
        self.aproj = nn.Linear(128, h)
        self.arnn = ResLstm(h, h)
        self.orn = ResLstm(2 * h, h)
        self.c1, self.c2, self.c3 = (ResConv(h, norm) for _ in range(3))
        self.fc1 = nn.Linear(h, h)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(h, 1)

    def forward(self, video, audio):
        joint = torch.cat([self.vrnn(self.vproj(video)), self.arnn(self.aproj(audio))], dim=-1)
        x = self.c1(self.orn(joint))
        x = self.c2(over_time(nn.MaxPool1d(4), x))
        x = self.c3(over_time(nn.MaxPool1d(3), x))
        pooled = x.amax(dim=1)
        return self.head(self.drop(F.leaky_relu(self.fc1(pooled), 0.01)))


class ConvBlock(nn.Module):
    def __init__(self, channels_in, channels, shrink):
        super().__init__()
        self.conv = nn.Conv2d(channels_in, channels, 3, padding=1)
        self.norm = nn.BatchNorm2d(channels)
        self.pool = nn.MaxPool2d(shrink)

    def forward(self, x):
        return self.pool(F.relu(self.norm(self.conv(x))))


class DualCnn(nn.Module):
    """architectures/synthetic-only/dual_cnn.avc (`vimg_linear` is the name avc gives the nested call)."""

    def __init__(self, h=64):
        super().__init__()
        self.vimg_linear = nn.Linear(1024, h)
        self.v1, self.v2, self.v3 = ConvBlock(1, 8, 2), ConvBlock(8, 16, 2), ConvBlock(16, 16, 4)
        self.vvec = nn.Linear(16 * 7 * 4, h)
        self.aimg_linear = nn.Linear(128, h)
        self.a1, self.a2, self.a3 = ConvBlock(1, 8, 2), ConvBlock(8, 16, 2), ConvBlock(16, 16, 4)
        self.avec = nn.Linear(16 * 7 * 4, h)
        self.vnorm = nn.BatchNorm1d(h, affine=False)
        self.anorm = nn.BatchNorm1d(h, affine=False)
        self.fc1 = nn.Linear(2 * h, h)
        self.drop = nn.Dropout(0.5)
        self.head = nn.Linear(h, 1)

    def forward(self, video, audio):
        v = self.vvec(self.v3(self.v2(self.v1(self.vimg_linear(video).unsqueeze(1)))).flatten(1))
        a = self.avec(self.a3(self.a2(self.a1(self.aimg_linear(audio).unsqueeze(1)))).flatten(1))
        joint = torch.cat([self.vnorm(v), self.anorm(a)], dim=-1)
        return self.head(self.drop(F.relu(self.fc1(joint))))


class TaLstmMetric(nn.Module):
    """architectures/synthetic-only/ta_lstm_metric.avc: one linear layer applied to both towers."""

    def __init__(self):
        super().__init__()
        self.vrnn = nn.LSTM(1024, 128, num_layers=2, batch_first=True)
        self.arnn = nn.LSTM(128, 128, num_layers=2, batch_first=True)
        self.vfc = nn.Linear(128, 64)

    def forward(self, video, audio):
        v = self.vfc(self.vrnn(video)[0][:, -1])
        a = self.vfc(self.arnn(audio)[0][:, -1])
        return ((v - a) ** 2).sum(dim=-1, keepdim=True).add(1e-12).sqrt()


TWINS = {
    "final": Final,
    "final_seed": lambda: Final(norm=True),
    "dual_cnn": DualCnn,
    "ta_lstm_metric": TaLstmMetric,
}


def max_difference(name, state, data):
    model = TWINS[name]()
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        ours = model(data["video"], data["audio"])
    theirs = data["output.match"]
    return (ours.reshape(theirs.shape) - theirs).abs().max().item(), theirs.numel()


def main():
    name, weights, sample = sys.argv[1:4]
    state, data = load_file(weights), load_file(sample)
    diff, count = max_difference(name, state, data)
    nudged = {k: v + 0.05 if v.is_floating_point() else v for k, v in state.items()}
    moved, _ = max_difference(name, nudged, data)
    print(f"{name}: max abs difference {diff:.3e} over {count} outputs ({moved:.3e} with nudged weights)")
    sys.exit(0 if diff < 1e-5 and moved > 1e-3 else 1)


if __name__ == "__main__":
    main()
