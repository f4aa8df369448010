"""Compact pure-PyTorch FastVim (Vision Mamba with pooled scans), CPU friendly.

Follows the official insitro/FastVim architecture (models/fastvim.py and
mamba-1p1p1/mamba_ssm/modules/mamba_simple_faster.py, non-fused path) and uses its
exact state-dict key names, so checkpoints are interchangeable with the reference
and with the FastVim Serve engine. The CUDA kernels are replaced by plain PyTorch:
the depthwise causal conv is F.conv1d(padding=K-1) truncated to L, and the
selective scan is a Python loop over the G pooled tokens.

Forward pass (see shared/docs/model-spec.md, "FastVim mixer" and "Backbone"):
patch embed (zero-pad to a multiple of the patch) -> + pos_embed (bicubic resize if
the grid differs) -> blocks [residual add, RMSNorm, (transpose grid on odd blocks),
mixer, (transpose back)] -> RMSNorm_f(residual + hidden) -> mean over tokens -> head.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class PatchEmbed(nn.Module):
    def __init__(self, patch, in_chans, dim):
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        _, _, H, W = x.shape
        p = self.patch
        pad_h, pad_w = (p - H % p) % p, (p - W % p) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))  # right and bottom
        x = self.proj(x)  # (B, D, rows, cols)
        rows, cols = x.shape[-2:]
        return x.flatten(2).transpose(1, 2), (rows, cols)  # row-major tokens


def causal_conv(u, weight, bias):
    """Depthwise causal conv over L. u: (B, E, L); weight: (E, 1, K)."""
    K = weight.shape[-1]
    y = F.conv1d(u, weight, bias, padding=K - 1, groups=u.shape[1])
    return y[..., : u.shape[-1]]


def selective_scan(p, delta, A, Bm, Cm):
    """p, delta: (B, E, G); A: (E, N); Bm, Cm: (B, N, G). Returns y (B, E, G).

    s_g = exp(delta_g * A) * s_{g-1} + delta_g * Bm_g * p_g ;  y_g = sum_n s_g[:, n] * Cm_g[n]
    """
    d = delta.permute(2, 0, 1)  # (G, B, E)
    dA = torch.exp(d.unsqueeze(-1) * A)  # (G, B, E, N)
    dBu = (d * p.permute(2, 0, 1)).unsqueeze(-1) * Bm.permute(2, 0, 1).unsqueeze(2)  # (G, B, E, N)
    s = torch.zeros_like(dA[0])
    states = []
    for a_g, b_g in zip(dA.unbind(0), dBu.unbind(0)):
        s = a_g * s + b_g
        states.append(s)
    S = torch.stack(states, 0)  # (G, B, E, N)
    y = (S * Cm.permute(2, 0, 1).unsqueeze(2)).sum(-1)  # (G, B, E)
    return y.permute(1, 2, 0)


class FastVimMixer(nn.Module):
    def __init__(self, d_model, d_state=16, d_conv=4, expand=2, dt_rank="auto",
                 dt_min=1e-3, dt_max=1e-1, dt_init_floor=1e-4, dt_scale=1.0,
                 collapse="mean", scaling_factor=1.0):
        super().__init__()
        E = int(expand * d_model)
        R = math.ceil(d_model / 16) if dt_rank == "auto" else dt_rank
        self.d_inner, self.d_state, self.dt_rank = E, d_state, R
        self.collapse, self.scaling_factor = collapse, scaling_factor
        self.in_proj = nn.Linear(d_model, 2 * E, bias=False)
        self.layernorm = nn.LayerNorm(E)  # post-SSM LayerNorm, eps 1e-5, with bias
        # Forward direction then backward (_b) direction, as registered by the reference.
        self.conv1d = nn.Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(E, R + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(R, E, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(E, 1)))
        self.D = nn.Parameter(torch.ones(E))
        self.A_b_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32).repeat(E, 1)))
        self.conv1d_b = nn.Conv1d(E, E, d_conv, groups=E, padding=d_conv - 1, bias=True)
        self.x_proj_b = nn.Linear(E, R + 2 * d_state, bias=False)
        self.dt_proj_b = nn.Linear(R, E, bias=True)
        self.D_b = nn.Parameter(torch.ones(E))
        self.out_proj = nn.Linear(E, d_model, bias=False)
        for proj in (self.dt_proj, self.dt_proj_b):  # Mamba dt_init="random"
            std = R ** -0.5 * dt_scale
            nn.init.uniform_(proj.weight, -std, std)
            dt = torch.exp(torch.rand(E) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
            dt = dt.clamp(min=dt_init_floor)
            with torch.no_grad():
                proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus
            proj.bias._no_reinit = True
        for p in (self.A_log, self.A_b_log, self.D, self.D_b):
            p._no_weight_decay = True

    def _direction(self, x, conv, x_proj, dt_proj, A_log, Dskip, G, W):
        # x: (B, E, L) in this direction's order
        xc = F.silu(causal_conv(x, conv.weight, conv.bias))
        Bsz, E, L = xc.shape
        grouped = xc.reshape(Bsz, E, G, W)
        if self.collapse == "max":
            p = grouped.max(dim=3).values
        else:
            p = grouped.mean(dim=3)
            if self.scaling_factor != 1:
                p = p * self.scaling_factor
        dbc = F.linear(p.transpose(1, 2), x_proj.weight)  # (B, G, R + 2N)
        dt, Bm, Cm = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(F.linear(dt, dt_proj.weight, dt_proj.bias)).transpose(1, 2)  # (B, E, G)
        A = -torch.exp(A_log.float())
        y = selective_scan(p, delta, A, Bm.transpose(1, 2), Cm.transpose(1, 2))  # (B, E, G)
        y = y.repeat_interleave(W, dim=2)  # each pooled output over its W tokens
        return y + Dskip[None, :, None] * xc  # skip on full-resolution conv output

    def forward(self, h, grid):
        """h: (B, L, D); grid = (G, W) as the mixer sees it (G groups of W tokens)."""
        G, W = grid
        xz = self.in_proj(h).transpose(1, 2)  # (B, 2E, L)
        x, z = xz.chunk(2, dim=1)
        y_f = self._direction(x, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D, G, W)
        y_b = self._direction(x.flip(-1), self.conv1d_b, self.x_proj_b, self.dt_proj_b,
                              self.A_b_log, self.D_b, G, W)
        v = ((y_f + y_b.flip(-1)) / 2).transpose(1, 2)  # (B, L, E)
        return self.out_proj(self.layernorm(v) * F.silu(z.transpose(1, 2)))


class DropPath(nn.Module):
    def __init__(self, p=0.0):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Block(nn.Module):
    def __init__(self, dim, layer_idx, drop_path=0.0, **mixer_kw):
        super().__init__()
        self.layer_idx = layer_idx
        self.mixer = FastVimMixer(dim, **mixer_kw)
        self.norm = RMSNorm(dim, eps=1e-5)
        self.drop_path = DropPath(drop_path)

    def forward(self, hidden, residual, grid):
        residual = hidden if residual is None else residual + self.drop_path(hidden)
        h = self.norm(residual)
        rows, cols = grid
        B, L, Dm = h.shape
        if self.layer_idx % 2 == 1:  # odd block: mixer sees the column-major grid (cols, rows)
            h = h.reshape(B, rows, cols, Dm).transpose(1, 2).reshape(B, L, Dm)
            out = self.mixer(h, (cols, rows))
            out = out.reshape(B, cols, rows, Dm).transpose(1, 2).reshape(B, L, Dm)
        else:
            out = self.mixer(h, (rows, cols))
        return out, residual


class FastVim(nn.Module):
    def __init__(self, img_size=(224, 224), patch_size=16, in_chans=3, embed_dim=192,
                 depth=24, num_classes=1000, d_state=16, d_conv=4, expand=2,
                 drop_path_rate=0.0, collapse="mean", scaling_factor=1.0):
        super().__init__()
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.patch_size = patch_size
        self.grid = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.grid[0] * self.grid[1], embed_dim))
        self.head = nn.Linear(embed_dim, num_classes)
        dpr = [0.0] + [v.item() for v in torch.linspace(0, drop_path_rate, depth)]
        self.layers = nn.ModuleList([
            Block(embed_dim, i, drop_path=dpr[i], d_state=d_state, d_conv=d_conv,
                  expand=expand, collapse=collapse, scaling_factor=scaling_factor)
            for i in range(depth)])
        self.norm_f = RMSNorm(embed_dim, eps=1e-5)
        self.drop_path = DropPath(drop_path_rate)
        self._init_weights(depth)

    def _init_weights(self, depth):
        # segm_init_weights on patch_embed and head, trunc_normal pos_embed, then Mamba's
        # _init_weights (zero Linear biases except dt_proj, rescale out_proj by 1/sqrt(depth)).
        w = self.patch_embed.proj.weight
        fan_in = w.shape[1] * w.shape[2] * w.shape[3]
        nn.init.trunc_normal_(w, std=math.sqrt(1.0 / fan_in) / 0.87962566103423978)  # lecun_normal_
        nn.init.zeros_(self.patch_embed.proj.bias)
        nn.init.trunc_normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear) and m.bias is not None and not getattr(m.bias, "_no_reinit", False):
                nn.init.zeros_(m.bias)
            if isinstance(m, FastVimMixer):
                nn.init.kaiming_uniform_(m.out_proj.weight, a=math.sqrt(5))
                with torch.no_grad():
                    m.out_proj.weight /= math.sqrt(depth)

    def no_weight_decay(self):
        names = {"pos_embed"}
        for n, p in self.named_parameters():
            if getattr(p, "_no_weight_decay", False):
                names.add(n)
        return names

    def pos_embed_for(self, rows, cols):
        if (rows, cols) == self.grid:
            return self.pos_embed
        D = self.pos_embed.shape[-1]
        pe = self.pos_embed.reshape(1, self.grid[0], self.grid[1], D).permute(0, 3, 1, 2)
        pe = F.interpolate(pe, size=(rows, cols), mode="bicubic", align_corners=False)
        return pe.permute(0, 2, 3, 1).reshape(1, rows * cols, D)

    def forward_features(self, x):
        x, (rows, cols) = self.patch_embed(x)
        x = x + self.pos_embed_for(rows, cols)
        residual, hidden = None, x
        for layer in self.layers:
            hidden, residual = layer(hidden, residual, (rows, cols))
        residual = residual + self.drop_path(hidden)
        return self.norm_f(residual).mean(dim=1)

    def forward(self, x):
        return self.head(self.forward_features(x))


def config_from_state_dict(sd, img_size=None):
    """Infer FastVim hyper-parameters from a state dict (img_size defaults to a square grid)."""
    D, _, p, _ = sd["patch_embed.proj.weight"].shape
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("layers."))
    E = sd["layers.0.mixer.D"].shape[0]
    N = sd["layers.0.mixer.A_log"].shape[1]
    K = sd["layers.0.mixer.conv1d.weight"].shape[-1]
    L = sd["pos_embed"].shape[1]
    if img_size is None:
        r = int(round(math.sqrt(L)))
        img_size = (r * p, r * p)
    return dict(img_size=tuple(img_size), patch_size=p, in_chans=sd["patch_embed.proj.weight"].shape[1],
                embed_dim=D, depth=depth, num_classes=sd["head.weight"].shape[0],
                d_state=N, d_conv=K, expand=E // D)
