"""Read a released FastVim / Vim checkpoint the way the engine does, for scripts/compare-pytorch.

The engine picks the weights, the family and the image size on its own; the PyTorch sides
must make the same choices or the comparison would run two different models. What the
weights cannot tell (image size, stride, collapse, scaling factor) comes, as for the engine,
from the config JSON beside the checkpoint (docs/QUICKSTART-MODELS.md).
"""
import argparse
import json
import math
import os

import numpy as np
import torch


class _AttributeDictStandIn:
    """Lightning's AttributeDict is a dict subclass; unpickle it as a plain dict so that
    torch.load(weights_only=True) accepts the checkpoint without importing Lightning."""

    def __new__(cls, *args, **kwargs):
        return dict()


def _allowed_globals():
    # Only inert containers: numpy arrays (Lightning hyper-parameters) and argparse.Namespace
    # (DeiT-style `args`). Nothing in the pickle gets to run code.
    allowed = [np.ndarray, np.dtype, argparse.Namespace,
               (_AttributeDictStandIn, "lightning.fabric.utilities.data.AttributeDict"),
               (_AttributeDictStandIn, "pytorch_lightning.utilities.parsing.AttributeDict")]
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed np.core
    allowed.append(core.multiarray._reconstruct)
    allowed += [type(np.dtype(t)) for t in ("float32", "float64", "int64", "int32", "bool")]
    return allowed


def load_state_dict(path):
    """The weights the engine's `--weights auto` evaluates: EMA for Lightning, `model` for DeiT."""
    with torch.serialization.safe_globals(_allowed_globals()):
        obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict_ema", "model"):
        if isinstance(obj, dict) and key in obj:
            return obj[key]
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj
    raise SystemExit(f"{path}: neither a plain state dict nor a Lightning/DeiT checkpoint")


def _config_json(path):
    stem = os.path.splitext(path)[0]
    for candidate in (stem + ".json", path + ".json"):
        if os.path.exists(candidate):
            with open(candidate) as f:
                return json.load(f)
    return {}


def _pair(v):
    return (int(v), int(v)) if isinstance(v, (int, float)) else (int(v[0]), int(v[1]))


def describe(sd, path, image_size=None):
    """Family and hyper-parameters, keyed as the upstream constructors want them."""
    if any(k.startswith("patch_embed.channel_embed") for k in sd) or "head.weight" not in sd:
        raise SystemExit("compare-pytorch covers the ImageNet-style classifiers (FastVim, Vim), "
                         "not the channel-wise or masked-encoder variants")
    has_ln = "layers.0.mixer.layernorm.weight" in sd
    if "cls_token" not in sd:
        family = "fastvim"
    else:
        family = "vim_ln" if has_ln else "vim"
    D, in_chans, p, _ = sd["patch_embed.proj.weight"].shape
    E, N = sd["layers.0.mixer.A_log"].shape
    rows = sd["pos_embed"].shape[1] - (1 if family != "fastvim" else 0)
    cfg = _config_json(path)
    stride = int(cfg.get("stride", p))
    if image_size is None and "image_size" in cfg:
        image_size = _pair(cfg["image_size"])
    if image_size is None:
        side = int(round(math.sqrt(rows)))
        if side * side != rows:
            raise SystemExit(f"pos_embed has {rows} patch rows, not a square grid: pass --image-size HxW")
        image_size = ((side - 1) * stride + p, (side - 1) * stride + p)
    return dict(
        family=family,
        img_size=tuple(image_size),
        patch_size=p,
        stride=stride,
        channels=in_chans,
        embed_dim=D,
        depth=1 + max(int(k.split(".")[1]) for k in sd if k.startswith("layers.")),
        num_classes=sd["head.weight"].shape[0],
        d_state=N,
        d_conv=sd["layers.0.mixer.conv1d.weight"].shape[-1],
        expand=E // D,
        dt_rank=sd["layers.0.mixer.dt_proj.weight"].shape[1],
        collapse=cfg.get("collapse", "mean"),
        scaling_factor=float(cfg.get("scaling_factor", 1)),
    )


# The Tiny configurations the paper compares (shared/docs/model-spec.md, "Configurations").
TINY = dict(img_size=(224, 224), patch_size=16, stride=16, channels=3, embed_dim=192, depth=24,
            num_classes=1000, d_state=16, d_conv=4, expand=2, dt_rank=12, collapse="mean",
            scaling_factor=1.0)
