"""Train the default FastVim Serve model, fastvim-digits, on scikit-learn's digits.

Data: sklearn.datasets.load_digits (1,797 8x8 grayscale scans, values 0..16, 10 classes),
shipped with scikit-learn (BSD-3-Clause); originally the UCI ML "Optical Recognition of
Handwritten Digits" data set (CC BY 4.0).

The held-out split (stratified 20%, fixed random_state=0) is written as PNGs and is never
used for training or model selection; a validation split carved out of the training part
is only monitored (the final-epoch weights are saved, no early stopping).

Example:
  /tmp/torchenv/bin/python tools/train/train_digits.py --epochs 100 --seed 0 --out models/fastvim-digits
"""
import argparse
import json
import math
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from digits_data import (IMAGE_SIZE, LABELS, RandomAffine, digits_uint8, heldout_split,  # noqa: E402
                         normalize, pil_to_unnormalized, to_pil)
from fastvim_torch import FastVim  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="models/fastvim-digits")
    ap.add_argument("--log", default="tools/train/logs/train_log.json")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-5)
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--warmup-epochs", type=int, default=5)
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--depth", type=int, default=6)
    ap.add_argument("--patch", type=int, default=4)
    ap.add_argument("--drop-path", type=float, default=0.0)
    ap.add_argument("--val-frac", type=float, default=0.1, help="of the training part, monitored only")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    return ap.parse_args()


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def write_pngs(out, imgs, labels, heldout_idx):
    """heldout/<label>/<index>.png (the whole split) and samples/<label>/<index>.png (3 per class)."""
    for sub in ("heldout", "samples"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    per_class = {c: 0 for c in range(10)}
    for i in heldout_idx:
        c = int(labels[i])
        d = os.path.join(out, "heldout", LABELS[c])
        os.makedirs(d, exist_ok=True)
        to_pil(imgs[i]).save(os.path.join(d, f"{i}.png"))
        if per_class[c] < 3:
            d = os.path.join(out, "samples", LABELS[c])
            os.makedirs(d, exist_ok=True)
            to_pil(imgs[i]).save(os.path.join(d, f"{i}.png"))
            per_class[c] += 1


def batch_tensor(imgs, mean, std, aug=None):
    xs = []
    for a in imgs:
        img = to_pil(a)
        if aug is not None:
            img = aug(img)
        xs.append(pil_to_unnormalized(img))
    return normalize(torch.stack(xs), mean, std)


@torch.no_grad()
def evaluate(model, x, y, bs=256):
    model.eval()
    correct = 0
    for i in range(0, len(x), bs):
        correct += (model(x[i:i + bs]).argmax(-1) == y[i:i + bs]).sum().item()
    return correct / max(1, len(x))


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    t_start = time.time()

    imgs, labels = digits_uint8()
    train_idx, heldout_idx = heldout_split(labels)
    os.makedirs(args.out, exist_ok=True)
    write_pngs(args.out, imgs, labels, heldout_idx)

    # Normalisation statistics from the (non-held-out) training images after resize + ToTensor.
    # Grayscale -> RGB gives identical channels, so one value per statistic.
    base = torch.stack([pil_to_unnormalized(to_pil(imgs[i])) for i in train_idx])
    m = round(base.mean().item(), 4)
    s = round(base.std().item(), 4)
    mean, std = [m, m, m], [s, s, s]
    print(f"train part {len(train_idx)}, held-out {len(heldout_idx)}; mean {m}, std {s}")

    fit_idx, val_idx = train_test_split(train_idx, test_size=args.val_frac,
                                        stratify=labels[train_idx], random_state=args.seed)
    y_fit = torch.from_numpy(labels[fit_idx])
    x_val = batch_tensor(imgs[val_idx], mean, std)
    y_val = torch.from_numpy(labels[val_idx])

    model = FastVim(img_size=(IMAGE_SIZE, IMAGE_SIZE), patch_size=args.patch, in_chans=3,
                    embed_dim=args.dim, depth=args.depth, num_classes=len(LABELS),
                    drop_path_rate=args.drop_path)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"FastVim D={args.dim} depth={args.depth} patch={args.patch}: {n_params:,} parameters")

    skip = model.no_weight_decay()
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if (p.ndim <= 1 or n.endswith(".bias") or n in skip or n.split(".")[-1] in skip)
         else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr)
    steps_per_epoch = math.ceil(len(fit_idx) / args.batch_size)
    total, warm = args.epochs * steps_per_epoch, args.warmup_epochs * steps_per_epoch

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        t = (step - warm) / max(1, total - warm)
        return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * t))

    aug = None if args.no_augment else RandomAffine(10.0, (0.1, 0.1), (0.9, 1.1),
                                                   rng=np.random.default_rng(args.seed))
    gen = torch.Generator().manual_seed(args.seed)
    history, step = [], 0
    for epoch in range(args.epochs):
        model.train()
        t0 = time.time()
        perm = torch.randperm(len(fit_idx), generator=gen).numpy()
        tot_loss, tot_correct = 0.0, 0
        for b in range(steps_per_epoch):
            sel = perm[b * args.batch_size:(b + 1) * args.batch_size]
            x = batch_tensor(imgs[fit_idx[sel]], mean, std, aug)
            y = y_fit[sel]
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            logits = model(x)
            loss = F.cross_entropy(logits, y, label_smoothing=args.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            tot_loss += loss.item() * len(sel)
            tot_correct += (logits.argmax(-1) == y).sum().item()
        val_acc = evaluate(model, x_val, y_val)
        rec = dict(epoch=epoch + 1, loss=tot_loss / len(fit_idx), train_acc=tot_correct / len(fit_idx),
                   val_acc=val_acc, lr=lr_at(step - 1), seconds=time.time() - t0)
        history.append(rec)
        print(f"epoch {epoch + 1:3d} loss {rec['loss']:.4f} train {rec['train_acc']:.4f} "
              f"val {val_acc:.4f} lr {rec['lr']:.2e} {rec['seconds']:.1f}s", flush=True)

    model.eval()
    sd = {k: v.detach().to(torch.float32).contiguous().clone() for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(args.out, "fastvim_digits.pth"))
    cfg = {"name": "fastvim-digits", "image_size": [IMAGE_SIZE, IMAGE_SIZE], "labels_file": "labels.txt",
           "preprocessing": {"resize": IMAGE_SIZE, "crop_size": [IMAGE_SIZE, IMAGE_SIZE],
                             "interpolation": "bicubic", "mean": mean, "std": std}}
    with open(os.path.join(args.out, "fastvim_digits.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(args.out, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    os.makedirs(os.path.dirname(args.log) or ".", exist_ok=True)
    with open(args.log, "w") as f:
        json.dump({"args": vars(args), "parameters": n_params, "mean": mean, "std": std,
                   "n_fit": len(fit_idx), "n_val": len(val_idx), "n_heldout": len(heldout_idx),
                   "total_seconds": time.time() - t_start, "history": history}, f, indent=1)
    print(f"saved {args.out}/fastvim_digits.pth ({n_params:,} params) in {time.time() - t_start:.0f}s; "
          f"final val acc {history[-1]['val_acc']:.4f}")


if __name__ == "__main__":
    main()
