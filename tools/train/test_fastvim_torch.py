"""Golden-logit test: our pure-PyTorch FastVim reproduces the reference fixtures.

Run:  /tmp/torchenv/bin/python tools/train/test_fastvim_torch.py   (or pytest)
Fixtures dir: $FASTVIM_FIXTURES, default Tests/Fixtures of this repository.
Passes when max|ours - expected| <= 1e-4 * max(1, max|expected|) for each fixture.
"""
import json
import os
import sys

import numpy as np
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastvim_torch import FastVim, config_from_state_dict  # noqa: E402

FIXTURES = os.environ.get(
    "FASTVIM_FIXTURES", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures"))


class _AttributeDictStandIn:
    """Inert stand-in for lightning's AttributeDict (a dict subclass): unpickles as a plain dict."""

    def __new__(cls, *args, **kwargs):
        return dict()


def safe_load(path):
    """torch.load with weights_only=True; allow-lists only numpy array reconstruction and a
    plain-dict stand-in for Lightning's AttributeDict (no pickled code is executed)."""
    allowed = [np.ndarray, np.dtype, (_AttributeDictStandIn, "lightning.fabric.utilities.data.AttributeDict")]
    try:
        allowed.append(np._core.multiarray._reconstruct)
    except AttributeError:  # numpy < 2
        allowed.append(np.core.multiarray._reconstruct)
    allowed += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool")]
    with torch.serialization.safe_globals(allowed):
        return torch.load(path, map_location="cpu", weights_only=True)


def _check(name, pick):
    torch.set_num_threads(2)
    exp = json.load(open(os.path.join(FIXTURES, "expected_a.json")))[name]
    obj = safe_load(os.path.join(FIXTURES, exp["checkpoint"]))
    sd = pick(obj)
    model = FastVim(**config_from_state_dict(sd, img_size=exp["image_size"]))
    missing, unexpected = model.load_state_dict(sd, strict=True), None
    model.eval()
    x = load_file(os.path.join(FIXTURES, "inputs_a.safetensors"))[exp["input"]]
    with torch.no_grad():
        got = model(x)
    want = torch.tensor(exp["logits"], dtype=torch.float32)
    diff = (got - want).abs().max().item()
    tol = 1e-4 * max(1.0, want.abs().max().item())
    print(f"{name}: input {tuple(x.shape)} max|diff| = {diff:.3e} (tol {tol:.1e})")
    assert got.shape == want.shape
    assert diff <= tol, f"{name}: max|diff| {diff} > {tol}"
    return diff


def test_fastvim_t():
    _check("fastvim_t", lambda o: o)


def test_fastvim_small_ema():
    _check("fastvim_small", lambda o: o["state_dict_ema"])


if __name__ == "__main__":
    test_fastvim_small_ema()
    test_fastvim_t()
    print("OK")
