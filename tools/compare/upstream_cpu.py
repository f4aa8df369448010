"""Build the upstream model code (insitro/FastVim, hustvl/Vim) on a CPU, unmodified.

Both repositories vendor a modified mamba_ssm 1.1.1 that imports CUDA extensions
(`selective_scan_cuda`, `causal_conv1d_cuda`), Triton kernels and, in their model files,
detection/segmentation registries and Hugging Face helpers. None of that can run without an
NVIDIA GPU, so a CPU user gets the model only by doing what this file does:

- the CUDA extension modules become stubs that raise if called, so a path that would
  need a GPU fails loudly instead of silently running something else;
- the kernels actually called are replaced by the upstream pure-PyTorch references:
  mamba_ssm's `selective_scan_ref` (and `mamba_inner_ref` / `bimamba_inner_ref`),
  causal-conv1d's `causal_conv1d_ref` (hustvl/Vim vendors causal-conv1d; a FastVim-only
  run uses the verbatim copy below), and the RMSNorm's `rms_norm_ref` from mamba_ssm's
  Triton norm file (where Triton is not installed that file cannot be imported at all,
  so the same class and a verbatim `rms_norm_ref` stand in for it);
- flags select the non-fused paths: `fused_add_norm=False` (the fused add+norm is Triton
  only), `use_fast_path=False` for FastVim and Vim-with-LayerNorm (their non-fused mixers
  are complete). hustvl's Mamba has no non-fused bidirectional path (`use_fast_path=False`
  runs the forward direction only), so it keeps the fast path and its
  `mamba_inner_fn_no_out_proj` becomes `mamba_inner_no_out_proj_ref` below;
- `mmdet`/`mmseg` (registry decorators) and `transformers` (language-model generation
  helpers imported by mamba_ssm's package) are stubbed when absent: the classifier's
  forward pass never touches them.

One family per process: both repositories call their package `mamba_ssm`.
"""
import importlib
import importlib.util
import os
import subprocess
import sys
import types
import warnings

import torch
import torch.nn.functional as F
from einops import rearrange  # the upstream code depends on einops too

# family -> (repository, model file inside it, class name)
FAMILIES = {
    "fastvim": ("insitro/FastVim", "models/fastvim.py", "VisionMamba"),
    "vim_ln": ("insitro/FastVim", "models/vim.py", "VisionMamba"),
    "vim": ("hustvl/Vim", "vim/models_mamba.py", "VisionMamba"),
}


class _CudaOnly(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)

        def unavailable(*args, **kwargs):
            raise RuntimeError(f"{self.__name__}.{attr} is a CUDA kernel: the CPU reference path must not reach it")
        return unavailable


def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _absent(name):
    return name not in sys.modules and importlib.util.find_spec(name) is None


class _Registry:
    def register_module(self, *args, **kwargs):
        return lambda cls: cls


def causal_conv1d_ref(x, weight, bias=None, initial_states=None, return_final_states=False,
                      final_states_out=None, activation=None):
    """Verbatim causal-conv1d 1.4.0 `causal_conv1d_ref` (hustvl/Vim causal-conv1d/), for runs
    without a Vim checkout; only the path the models call (no initial states) is kept."""
    if activation not in [None, "silu", "swish"]:
        raise NotImplementedError("activation must be None, silu, or swish")
    assert initial_states is None and not return_final_states
    dtype_in = x.dtype
    x = x.to(weight.dtype)
    seqlen = x.shape[-1]
    dim, width = weight.shape
    out = F.conv1d(x, weight.unsqueeze(1), bias, padding=width - 1, groups=dim)
    out = out[..., :seqlen]
    return (out if activation is None else F.silu(out)).to(dtype=dtype_in)


def rms_norm_ref(x, weight, bias, residual=None, eps=1e-6, prenorm=False, upcast=False):
    """Verbatim mamba_ssm 1.1.1 `rms_norm_ref` (ops/triton/layernorm.py), for runs without Triton."""
    dtype = x.dtype
    if upcast:
        weight = weight.float()
        bias = bias.float() if bias is not None else None
    if upcast:
        x = x.float()
        residual = residual.float() if residual is not None else residual
    if residual is not None:
        x = (x + residual).to(x.dtype)
    rstd = 1 / torch.sqrt((x.square()).mean(dim=-1, keepdim=True) + eps)
    out = (x * rstd * weight) + bias if bias is not None else (x * rstd * weight)
    out = out.to(dtype)
    return out if not prenorm else (out, x)


class RMSNorm(torch.nn.Module):
    """mamba_ssm's Triton-module RMSNorm (same parameters, so the same state-dict keys), for runs
    without Triton; its forward is replaced by the reference in _use_references either way."""

    def __init__(self, hidden_size, eps=1e-5, dropout_p=0.0, device=None, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(hidden_size, device=device, dtype=dtype))
        self.register_parameter("bias", None)


def _triton_only(*args, **kwargs):
    raise RuntimeError("a Triton kernel: the CPU reference path must not reach it")


def _install_stubs(vim_repo):
    for name in ("selective_scan_cuda", "causal_conv1d_cuda"):
        sys.modules[name] = _CudaOnly(name)
    conv_dir = os.path.join(vim_repo, "causal-conv1d") if vim_repo else None
    if conv_dir and os.path.isdir(os.path.join(conv_dir, "causal_conv1d")):
        sys.path.insert(0, conv_dir)
        interface = importlib.import_module("causal_conv1d.causal_conv1d_interface")
        conv_ref = interface.causal_conv1d_ref
        conv_source = os.path.join(conv_dir, "causal_conv1d")
    else:
        def unavailable(*args, **kwargs):
            raise RuntimeError("causal_conv1d_update is a CUDA kernel")
        _stub("causal_conv1d", causal_conv1d_fn=causal_conv1d_ref, causal_conv1d_update=unavailable)
        conv_ref, conv_source = causal_conv1d_ref, "tools/compare/upstream_cpu.py (verbatim copy)"
    if _absent("triton"):
        # Where PyTorch comes without Triton (macOS, ARM), the Triton norm files cannot even be
        # imported (module-level Triton calls): stand in for them with the same class and refs.
        for name in ("mamba_ssm.ops.triton.layernorm", "mamba_ssm.ops.triton.layer_norm"):
            _stub(name, RMSNorm=RMSNorm, rms_norm_ref=rms_norm_ref, rms_norm_fn=_triton_only,
                  layer_norm_fn=_triton_only)
    if _absent("mmdet"):
        _stub("mmdet")
        _stub("mmdet.registry", MODELS=_Registry())
    if _absent("mmseg"):
        _stub("mmseg")
        _stub("mmseg.models")
        _stub("mmseg.models.builder", BACKBONES=_Registry())
    if _absent("transformers"):
        unused = type("UnusedByVision", (), {})
        _stub("transformers")
        _stub("transformers.utils", WEIGHTS_NAME="pytorch_model.bin", CONFIG_NAME="config.json")
        _stub("transformers.utils.hub", cached_file=None)
        _stub("transformers.generation", GreedySearchDecoderOnlyOutput=unused,
              SampleDecoderOnlyOutput=unused, TextStreamer=unused)
    return conv_ref, conv_source


def _mamba_inner_no_out_proj_ref(selective_scan_ref, conv_ref):
    def mamba_inner_no_out_proj_ref(xz, conv1d_weight, conv1d_bias, x_proj_weight, delta_proj_weight,
                                    A, B=None, C=None, D=None, delta_bias=None, B_proj_bias=None,
                                    C_proj_bias=None, delta_softplus=True):
        """mamba_ssm's `mamba_inner_ref` up to, not including, its out_proj: what the CUDA
        `MambaInnerFnNoOutProj` computes (out_z = (scan + D x) * silu(z), (b, d, l)).
        mamba_ssm ships no reference for this function; hustvl Vim calls it per direction."""
        assert B is None and C is None and not A.is_complex()  # how Vim calls it
        L = xz.shape[-1]
        delta_rank = delta_proj_weight.shape[1]
        d_state = A.shape[-1]
        x, z = xz.chunk(2, dim=1)
        x = conv_ref(x, rearrange(conv1d_weight, "d 1 w -> d w"), conv1d_bias, activation="silu")
        x_dbl = F.linear(rearrange(x, "b d l -> (b l) d"), x_proj_weight)  # (bl d)
        delta = rearrange(delta_proj_weight @ x_dbl[:, :delta_rank].t(), "d (b l) -> b d l", l=L)
        B = x_dbl[:, delta_rank:delta_rank + d_state]  # (bl dstate)
        if B_proj_bias is not None:
            B = B + B_proj_bias.to(dtype=B.dtype)
        B = rearrange(B, "(b l) dstate -> b dstate l", l=L).contiguous()
        C = x_dbl[:, -d_state:]
        if C_proj_bias is not None:
            C = C + C_proj_bias.to(dtype=C.dtype)
        C = rearrange(C, "(b l) dstate -> b dstate l", l=L).contiguous()
        return selective_scan_ref(x, delta, A, B, C, D, z=z, delta_bias=delta_bias, delta_softplus=True)
    return mamba_inner_no_out_proj_ref


def _use_references(vim_repo_family, conv_ref):
    interface = importlib.import_module("mamba_ssm.ops.selective_scan_interface")
    norm_name = "mamba_ssm.ops.triton.layer_norm" if vim_repo_family else "mamba_ssm.ops.triton.layernorm"
    norm = importlib.import_module(norm_name)
    replacements = {
        "selective_scan_fn": interface.selective_scan_ref,
        "causal_conv1d_fn": conv_ref,
        "mamba_inner_fn": interface.mamba_inner_ref,
    }
    if hasattr(interface, "bimamba_inner_ref"):
        replacements["bimamba_inner_fn"] = interface.bimamba_inner_ref
    if vim_repo_family:
        replacements["mamba_inner_fn_no_out_proj"] = _mamba_inner_no_out_proj_ref(interface.selective_scan_ref, conv_ref)
    # Modules bind these names at import (`from ... import selective_scan_fn`), and
    # mamba_simple_faster re-imports selective_scan_fn inside forward: rebind everywhere.
    for name, module in list(sys.modules.items()):
        if module is not None and name.split(".")[0] in ("mamba_ssm", "causal_conv1d"):
            for attr, ref in replacements.items():
                if hasattr(module, attr):
                    setattr(module, attr, ref)

    rms_norm_ref = norm.rms_norm_ref

    def forward(self, x, residual=None, prenorm=False, residual_in_fp32=False):
        return rms_norm_ref(x, self.weight, self.bias, residual=residual, eps=self.eps, prenorm=prenorm)
    norm.RMSNorm.forward = forward


def _import_file(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def commit_of(repo):
    # Only the repository's own checkout counts, not a repository it happens to sit inside.
    def git(*args):
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, check=True).stdout.strip()
    try:
        if os.path.realpath(git("rev-parse", "--show-toplevel")) != os.path.realpath(repo):
            return "not a git checkout"
        return git("rev-parse", "--short", "HEAD")
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"


def build(cfg, fastvim_repo=None, vim_repo=None):
    """An upstream model for describe()'s cfg, randomly initialised by its own constructor,
    with reference ops. Returns (model, notes)."""
    family = cfg["family"]
    repo_name, model_file, class_name = FAMILIES[family]
    repo = vim_repo if family == "vim" else fastvim_repo
    if not repo:
        flag = "--upstream-vim" if family == "vim" else "--upstream-fastvim"
        raise SystemExit(f"a {family} checkpoint needs {repo_name}: pass {flag} PATH")
    if "mamba_ssm" in sys.modules:
        raise RuntimeError("upstream_cpu.build runs once per process (both repositories name their package mamba_ssm)")
    conv_ref, conv_source = _install_stubs(vim_repo)
    mamba_dir = os.path.join(repo, "mamba-1p1p1")
    sys.path.insert(0, mamba_dir)
    if family == "vim":
        sys.path.insert(0, os.path.join(repo, "vim"))  # models_mamba.py does `from rope import *`
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecations in decorators of the never-run Triton kernels
        mamba_ssm = importlib.import_module("mamba_ssm")
        if not os.path.abspath(mamba_ssm.__file__).startswith(os.path.abspath(mamba_dir)):
            raise SystemExit(f"imported mamba_ssm from {mamba_ssm.__file__}, not from {mamba_dir}: "
                             "an installed mamba_ssm shadows the repository's copy")
        module = _import_file(f"upstream_{family}_model", os.path.join(repo, model_file))
    _use_references(family == "vim", conv_ref)

    common = dict(img_size=cfg["img_size"], patch_size=cfg["patch_size"], stride=cfg["stride"],
                  depth=cfg["depth"], embed_dim=cfg["embed_dim"], channels=cfg["channels"],
                  num_classes=cfg["num_classes"], drop_path_rate=0.0, rms_norm=True,
                  residual_in_fp32=True, fused_add_norm=False, final_pool_type="mean",
                  if_abs_pos_embed=True)
    ssm = dict(d_conv=cfg["d_conv"], expand=cfg["expand"], dt_rank=cfg["dt_rank"])
    if family == "fastvim":
        # As models/fastvim.py's vim_*_noclstok_div2 builders, minus the fused (Triton) add+norm.
        kwargs = dict(ssm_cfg=dict(ssm, d_state=cfg["d_state"], use_fast_path=False), scanpath_type="rowwise",
                      use_norm_after_ssm=True, rotate_every_block=True, collapse_method=cfg["collapse"],
                      use_our_selective_scan=False, scaling_factor=cfg["scaling_factor"])
    elif family == "vim_ln":
        # As models/vim.py's vim_*_midclstok_div2 builders, minus the fused add+norm.
        kwargs = dict(ssm_cfg=dict(ssm, d_state=cfg["d_state"], use_fast_path=False), if_cls_token=True,
                      use_middle_cls_token=True, use_norm_after_ssm=True)
    else:
        # As vim/models_mamba.py's vim_*_bimambav2_..._midclstok_div2 builders, minus the fused add+norm.
        kwargs = dict(d_state=cfg["d_state"], ssm_cfg=ssm, if_rope=False, if_rope_residual=False,
                      bimamba_type="v2", if_cls_token=True, if_divide_out=True, use_middle_cls_token=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = getattr(module, class_name)(**common, **kwargs).eval()
    notes = dict(repository=repo_name, path=repo, commit=commit_of(repo), model_file=model_file,
                 mamba_ssm=mamba_dir, causal_conv1d_ref=conv_source)
    return model, notes
