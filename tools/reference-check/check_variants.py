#!/usr/bin/env python3
"""Check the FastVim Serve engine against the upstream PyTorch modules (insitro/FastVim)
for model variants the golden fixtures do not cover.

For every variant: build the *upstream* model (the file in the FastVim repository, not a
port) with D=64, depth 4, a fixed seed and every parameter perturbed; save its plain state
dict (torch.save) and a JSON model config for the engine; write a random input (B=2) as
safetensors; run the reference forward (CPU, eval mode) and
`fastvim logits --checkpoint P --config C --input X --tensor x`; compare
max|diff| <= 1e-4 * max(1, max|ref|).

The upstream code imports CUDA/Triton-only modules. They are replaced, without editing any
upstream file, by stubs put first on sys.path / into sys.modules:
  causal_conv1d          reference causal_conv1d_fn (depthwise conv1d, left pad K-1, SiLU)
  causal_conv1d_cuda, selective_scan_cuda   empty modules (only imported, never called)
  mamba_ssm.ops.triton.layernorm            RMSNorm, rms_norm_fn, layer_norm_fn (fused add+norm)
  mamba_ssm.ops.triton.selective_state_update   stub (decoding only)
  mmdet.registry / mmseg.models.builder     registries whose register_module() is identity
and mamba_ssm.ops.selective_scan_interface.selective_scan_fn (plus every module-level copy)
is replaced by selective_scan_ref; every mixer gets use_fast_path = False.

Usage:
    /tmp/torchenv/bin/python tools/reference-check/check_variants.py \
        [--upstream /tmp/fvref] [--binary .build/release/fastvim] [--work DIR] [--only 1,2]
--upstream is a checkout/export of insitro/FastVim (models/ and mamba-1p1p1/); when absent
it is exported from the bare mirror given by --mirror (git archive HEAD).
Exit status 0 when every variant is within tolerance, 1 otherwise.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import types

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --------------------------------------------------------------------------- stubs
def install_stubs(upstream):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    def causal_conv1d_fn(x, weight, bias=None, activation=None, **_):
        L, K = x.shape[-1], weight.shape[-1]
        out = F.conv1d(x, weight.unsqueeze(1), bias, padding=K - 1, groups=weight.shape[0])[..., :L]
        if activation in ("silu", "swish"):
            out = F.silu(out)
        return out

    def causal_conv1d_update(*a, **k):
        raise RuntimeError("causal_conv1d_update stub: decoding is not used")

    m = types.ModuleType("causal_conv1d")
    m.causal_conv1d_fn = causal_conv1d_fn
    m.causal_conv1d_update = causal_conv1d_update
    sys.modules["causal_conv1d"] = m
    sys.modules["causal_conv1d_cuda"] = types.ModuleType("causal_conv1d_cuda")
    sys.modules["selective_scan_cuda"] = types.ModuleType("selective_scan_cuda")

    class RMSNorm(nn.Module):
        def __init__(self, hidden_size, eps=1e-5, device=None, dtype=None):
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))
            self.register_parameter("bias", None)

        def forward(self, x, residual=None, prenorm=False, residual_in_fp32=False):
            return rms_norm_fn(x, self.weight, self.bias, residual=residual, prenorm=prenorm,
                               residual_in_fp32=residual_in_fp32, eps=self.eps)

    def _fused(norm, x, weight, bias, residual, prenorm, residual_in_fp32, eps):
        residual = x if residual is None else residual + x
        if residual_in_fp32:
            residual = residual.float()
        out = norm(residual.to(weight.dtype), weight, bias, eps)
        return (out, residual) if prenorm else out

    def _rms(x, weight, bias, eps):
        out = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps) * weight
        return out + bias if bias is not None else out

    def _ln(x, weight, bias, eps):
        return F.layer_norm(x, (x.shape[-1],), weight, bias, eps)

    def rms_norm_fn(x, weight, bias, residual=None, prenorm=False, residual_in_fp32=False, eps=1e-6, **_):
        return _fused(_rms, x, weight, bias, residual, prenorm, residual_in_fp32, eps)

    def layer_norm_fn(x, weight, bias, residual=None, prenorm=False, residual_in_fp32=False, eps=1e-6, **_):
        return _fused(_ln, x, weight, bias, residual, prenorm, residual_in_fp32, eps)

    # mamba_ssm itself comes from the upstream tree; only its triton subpackage is stubbed.
    sys.path.insert(0, os.path.join(upstream, "mamba-1p1p1"))
    sys.path.insert(0, upstream)
    tri = types.ModuleType("mamba_ssm.ops.triton")
    tri.__path__ = []
    ln = types.ModuleType("mamba_ssm.ops.triton.layernorm")
    ln.RMSNorm, ln.rms_norm_fn, ln.layer_norm_fn = RMSNorm, rms_norm_fn, layer_norm_fn
    ssu = types.ModuleType("mamba_ssm.ops.triton.selective_state_update")

    def selective_state_update(*a, **k):
        raise RuntimeError("selective_state_update stub: decoding is not used")

    ssu.selective_state_update = selective_state_update
    tri.layernorm, tri.selective_state_update = ln, ssu
    sys.modules["mamba_ssm.ops.triton"] = tri
    sys.modules["mamba_ssm.ops.triton.layernorm"] = ln
    sys.modules["mamba_ssm.ops.triton.selective_state_update"] = ssu

    class _Registry:
        def register_module(self, *a, **k):
            return lambda obj: obj

    for name in ("mmdet", "mmdet.registry", "mmseg", "mmseg.models", "mmseg.models.builder"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["mmdet.registry"].MODELS = _Registry()
    sys.modules["mmseg.models.builder"].BACKBONES = _Registry()

    import mamba_ssm.ops.selective_scan_interface as ssi
    ssi.selective_scan_fn = ssi.selective_scan_ref
    return ssi


def patch_scan_everywhere(ssi):
    for name, mod in list(sys.modules.items()):
        if name.startswith("mamba_ssm") and getattr(mod, "selective_scan_fn", None) is not None:
            mod.selective_scan_fn = ssi.selective_scan_ref


# --------------------------------------------------------------------------- variants
D, DEPTH, NCLS, B = 64, 4, 10, 2

VARIANTS = [
    # id, name, family, size (H, W), channels, upstream kwargs, extra engine config,
    # negative control (a wrong engine config that must FAIL: shows the check can see the option)
    ("1", "FastChannelVim CF mean 8ch 64x64", "fastchannel", (64, 64), 8,
     dict(scan_order="Channel-First", collapse_method="mean"), {}, {"collapse": "max"}),
    ("2", "FastChannelVim SF mean 8ch 64x64", "fastchannel", (64, 64), 8,
     dict(scan_order="Spatial-First", collapse_method="mean"), {}, {"scan_order": "Channel-First"}),
    ("3", "FastChannelVim SF max 8ch 64x64", "fastchannel", (64, 64), 8,
     dict(scan_order="Spatial-First", collapse_method="max"), {}, {"collapse": "mean"}),
    ("4", "FastChannelVim CF mean 3ch 64x96", "fastchannel", (64, 96), 3,
     dict(scan_order="Channel-First", collapse_method="mean"), {}, {"scan_order": "Spatial-First"}),
    ("4b", "FastChannelVim CF max 8ch 64x64", "fastchannel", (64, 64), 8,
     dict(scan_order="Channel-First", collapse_method="max"), {}, {"collapse": "mean"}),
    ("5", "ChannelVim (cls) CF 8ch 64x64", "channelvim", (64, 64), 8,
     dict(scan_order="Channel-First"), {}, {"scan_order": "Spatial-First"}),
    ("5b", "ChannelVim (cls) SF 8ch 64x64", "channelvim", (64, 64), 8,
     dict(scan_order="Spatial-First"), {}, {"scan_order": "Channel-First"}),
    ("6a", "FastVim max 64x96", "fastvim", (64, 96), 3,
     dict(collapse_method="max"), {}, {"collapse": "mean"}),
    ("6b", "FastVim mean sf=0.25 64x96", "fastvim", (64, 96), 3,
     dict(collapse_method="mean", scaling_factor=0.25), {}, {"scaling_factor": 1}),
    # upstream applies scaling_factor only to mean pooling (mamba_simple_faster.py, "if
    # self.scaling_factor != 1" inside the mean branch): with max it must change nothing.
    ("6c", "FastVim max sf=0.25 64x96", "fastvim", (64, 96), 3,
     dict(collapse_method="max", scaling_factor=0.25), {}, {"collapse": "mean"}),
]


def build(family, size, channels, kw):
    """The upstream constructor with the flags of the registered model function the paper's
    configs name (cell_imaging/config/*.yaml, imagenet_classification/config/*.yaml)."""
    common = dict(patch_size=16, stride=16, embed_dim=D, depth=DEPTH, num_classes=NCLS,
                  rms_norm=True, residual_in_fp32=True, fused_add_norm=True,
                  if_abs_pos_embed=True, drop_path_rate=0.0)
    if family == "fastchannel":
        # channelvim_small_patch16_224_final_pool_mean_abs_pos_embed_with_noclstok_div2
        from models.channel_wise_tokenization import models_channel_mamba_faster as mod
        return mod.VisionMamba(img_size=list(size), channels=channels, hcs=True, sort_channels=True,
                               scanpath_type="rowwise", rotate_every_block=True,
                               use_norm_after_ssm=True, final_pool_type="mean", **common, **kw)
    if family == "channelvim":
        # channelvim_small_patch16_224_final_pool_mean_abs_pos_embed_with_midclstok_div2
        assert size[0] == size[1], "ChannelVim's PatchEmbedPerChannel assumes a square image"
        from models.channel_wise_tokenization import models_channel_mamba as mod
        return mod.VisionMamba(img_size=size[0], channels=channels, hcs=True, sort_channels=True,
                               final_pool_type="mean", if_cls_token=True, **common, **kw)
    if family == "fastvim":
        # vim_*_patch16_224_final_pool_mean_abs_pos_embed_with_noclstok_div2 (+ scaling_factor, MAE finetune)
        from models import fastvim as mod
        return mod.VisionMamba(img_size=list(size), channels=channels, scanpath_type="rowwise",
                               rotate_every_block=True, use_norm_after_ssm=True,
                               final_pool_type="mean", **common, **kw)
    raise ValueError(family)


def perturb(model, gen):
    import torch
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.add_(0.02 * torch.randn(p.shape, generator=gen))
            leaf = name.rsplit(".", 1)[-1]
            if leaf in ("A_log", "A_b_log", "D", "D_b") or ("norm" in name and leaf == "weight"):
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
            if "norm" in name and leaf == "bias":
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
            if name.startswith("head."):
                # logits of order 1, so that the 1e-4 tolerance is not loose relative to them
                p.add_(0.5 * torch.randn(p.shape, generator=gen))


def engine_config(family, size, kw, extra):
    cfg = {"image_size": list(size)}
    if family != "channelvim":
        cfg["collapse"] = kw.get("collapse_method", "mean")
    if "scan_order" in kw:
        cfg["scan_order"] = kw["scan_order"]
    if "scaling_factor" in kw:
        cfg["scaling_factor"] = kw["scaling_factor"]
    cfg.update(extra)
    return cfg


def run_engine(binary, ckpt, cfg, inp):
    return subprocess.run([binary, "logits", "--checkpoint", ckpt, "--config", cfg, "--input", inp, "--tensor", "x"],
                          capture_output=True, text=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--upstream", default="/tmp/fvref")
    ap.add_argument("--mirror", default="/work/.mirror/insitro+FastVim/repo")
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "fastvim"))
    ap.add_argument("--work", default=None, help="where checkpoints/configs/inputs go (default: a temp dir)")
    ap.add_argument("--only", default=None, help="comma-separated variant ids")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--no-controls", action="store_true",
                    help="skip the negative controls (each variant rerun with a wrong config, expected to differ)")
    args = ap.parse_args()

    if not os.path.isdir(os.path.join(args.upstream, "models")):
        os.makedirs(args.upstream, exist_ok=True)
        subprocess.run(f"git -C {args.mirror} archive HEAD models mamba-1p1p1 | tar -x -C {args.upstream}",
                       shell=True, check=True)
    import torch
    from safetensors.torch import save_file
    torch.set_num_threads(2)
    ssi = install_stubs(args.upstream)
    work = args.work or tempfile.mkdtemp(prefix="fastvim-refcheck-")
    os.makedirs(work, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None

    rows, details, controls = [], [], []
    for vid, name, family, size, channels, kw, extra, wrong in VARIANTS:
        if wanted and vid not in wanted:
            continue
        torch.manual_seed(args.seed)
        gen = torch.Generator().manual_seed(args.seed + 1000)
        model = build(family, size, channels, kw)
        patch_scan_everywhere(ssi)
        for mod in model.modules():
            if hasattr(mod, "use_fast_path"):
                mod.use_fast_path = False
        perturb(model, gen)
        model.eval()
        x = torch.randn(B, channels, *size, generator=gen)
        with torch.no_grad():
            ref = model(x).float()
        base = os.path.join(work, f"v{vid}")
        ckpt, cfgp, inp = base + ".pth", base + ".json", base + ".in.safetensors"
        torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, ckpt)
        with open(cfgp, "w") as f:
            json.dump(engine_config(family, size, kw, extra), f)
        save_file({"x": x.contiguous()}, inp)
        proc = run_engine(args.binary, ckpt, cfgp, inp)
        tol = 1e-4 * max(1.0, ref.abs().max().item())
        if not args.no_controls:
            bad_cfg = dict(engine_config(family, size, kw, extra), **wrong)
            with open(base + ".wrong.json", "w") as f:
                json.dump(bad_cfg, f)
            bp = run_engine(args.binary, ckpt, base + ".wrong.json", inp)
            if bp.returncode != 0:
                cd = float("inf")
            else:
                bo = json.loads(bp.stdout)
                cd = (torch.tensor(bo["logits"]).reshape(bo["shape"]) - ref).abs().max().item()
            controls.append((vid, json.dumps(wrong), cd, tol, "OK (differs)" if cd > tol else "FAIL (no effect)"))
        if proc.returncode != 0:
            rows.append((vid, name, float("nan"), tol, "FAIL"))
            details.append(f"[{vid}] {name}: engine exited {proc.returncode}: {proc.stderr.strip()[-600:]}")
            continue
        out = json.loads(proc.stdout)
        got = torch.tensor(out["logits"], dtype=torch.float32).reshape(out["shape"])
        if tuple(got.shape) != tuple(ref.shape):
            rows.append((vid, name, float("nan"), tol, "FAIL"))
            details.append(f"[{vid}] {name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
            continue
        diff = (got - ref).abs()
        md = diff.max().item()
        ok = md <= tol
        rows.append((vid, name, md, tol, "OK" if ok else "FAIL"))
        if not ok or args.verbose:
            details.append(
                f"[{vid}] {name}: max|ref|={ref.abs().max().item():.4g} max|diff|={md:.4g} "
                f"mean|diff|={diff.mean().item():.4g} rel={md / max(1e-12, ref.abs().max().item()):.3g} "
                f"argmax agree={bool((got.argmax(-1) == ref.argmax(-1)).all())}\n"
                f"    ref[0,:5]={[round(v, 5) for v in ref[0, :5].tolist()]}\n"
                f"    eng[0,:5]={[round(v, 5) for v in got[0, :5].tolist()]}")

    print(f"{'id':<4} {'variant':<36} {'max|diff|':>11} {'tolerance':>11}  result")
    for vid, name, md, tol, res in rows:
        print(f"{vid:<4} {name:<36} {md:>11.3e} {tol:>11.3e}  {res}")
    if controls:
        print("\nnegative controls (engine run with a wrong config; must differ from the reference):")
        for vid, wrong, cd, tol, res in controls:
            print(f"{vid:<4} {wrong:<36} {cd:>11.3e} {tol:>11.3e}  {res}")
    for d in details:
        print(d)
    print(f"(artifacts in {work})")
    ok = all(r[4] == "OK" for r in rows) and all(c[4].startswith("OK") for c in controls)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
