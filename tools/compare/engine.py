"""The engine side of scripts/compare-pytorch: the `fastvim` binary run as a user runs it.

Logits go through `fastvim logits` on the very tensor the PyTorch sides saw (a safetensors
file written here, so no safetensors package is needed); throughput is `fastvim bench` on
the same checkpoint, batch and thread count, which times the forward pass alone, as
the PyTorch sides are timed.
"""
import json
import os
import struct
import subprocess
import tempfile

import torch


def _write_safetensors(path, name, x):
    data = x.contiguous().numpy().astype("<f4").tobytes()
    header = json.dumps({name: {"dtype": "F32", "shape": list(x.shape), "data_offsets": [0, len(data)]}}).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header + data)


def logits(binary, checkpoint, x):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.safetensors")
        _write_safetensors(path, "x", x)
        out = subprocess.run([binary, "logits", "--checkpoint", checkpoint, "--input", path, "--tensor", "x"],
                             capture_output=True, text=True, check=True).stdout
    return torch.tensor(json.loads(out)["logits"])


def images_per_second(binary, checkpoint, size, batch, iterations, threads):
    """`fastvim bench` takes square sizes only: the caller skips non-square models."""
    out = subprocess.run([binary, "bench", "--models", checkpoint, "--resolutions", str(size), "--batch", str(batch),
                          "--iterations", str(iterations), "--warmup", "1", "--threads", str(threads)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)["results"][0]["images_per_second"]
