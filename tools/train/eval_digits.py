"""Held-out accuracy of fastvim-digits, measured by PyTorch on the held-out PNG tree.

Reads an ImageFolder tree (<data>/<label>/<name>.png), the model config JSON (labels file,
image size, mean/std) and the plain state dict, and applies exactly the serving pipeline:
PIL open -> convert("RGB") -> resize((32, 32), BICUBIC) -> CenterCrop(32) (no-op) -> /255
-> Normalize(mean, std). Prints top-1 / top-5 and per-class top-1 (optionally as JSON).

  /tmp/torchenv/bin/python tools/train/eval_digits.py --model-dir models/fastvim-digits
"""
import argparse
import json
import os
import sys

import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fastvim_torch import FastVim, config_from_state_dict  # noqa: E402


def center_crop(img, ch, cw):
    w, h = img.size
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return img.crop((left, top, left + cw, top + ch))


def load_image(path, pp):
    """Serving preprocessing for a square target: shorter side -> resize, centre crop."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    r = pp["resize"]
    size = (r, int(r * h / w)) if w <= h else (int(r * w / h), r)  # torchvision Resize(int)
    img = img.resize(size, Image.BICUBIC)
    img = center_crop(img, *pp["crop_size"])
    x = torch.frombuffer(bytearray(img.tobytes()), dtype=torch.uint8).float().div(255.0)
    x = x.view(img.size[1], img.size[0], 3).permute(2, 0, 1)
    m = torch.tensor(pp["mean"]).view(3, 1, 1)
    s = torch.tensor(pp["std"]).view(3, 1, 1)
    return (x - m) / s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", default="models/fastvim-digits")
    ap.add_argument("--data", default=None, help="default: <model-dir>/heldout")
    ap.add_argument("--json", default=None, help="write the results here as JSON")
    ap.add_argument("--logits-json", default=None,
                    help="write {relative png path: logits} here (for cross-checking another engine)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cfg = json.load(open(os.path.join(args.model_dir, "fastvim_digits.json")))
    labels = open(os.path.join(args.model_dir, cfg["labels_file"])).read().split()
    sd = torch.load(os.path.join(args.model_dir, "fastvim_digits.pth"), map_location="cpu", weights_only=True)
    model = FastVim(**config_from_state_dict(sd, img_size=cfg["image_size"]))
    model.load_state_dict(sd, strict=True)
    model.eval()
    data = args.data or os.path.join(args.model_dir, "heldout")
    xs, ys, paths = [], [], []
    for ci, lab in enumerate(labels):
        d = os.path.join(data, lab)
        for name in sorted(os.listdir(d)):
            if name.lower().endswith(".png"):
                xs.append(load_image(os.path.join(d, name), cfg["preprocessing"]))
                ys.append(ci)
                paths.append(f"{lab}/{name}")
    x, y = torch.stack(xs), torch.tensor(ys)
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 256]) for i in range(0, len(x), 256)])
    top5 = logits.topk(5, dim=-1).indices
    top1_ok = top5[:, 0] == y
    top5_ok = (top5 == y[:, None]).any(-1)
    res = {"images": len(y), "top1": top1_ok.float().mean().item(), "top5": top5_ok.float().mean().item(),
           "top1_correct": int(top1_ok.sum()), "top5_correct": int(top5_ok.sum()),
           "per_class_top1": {labels[c]: top1_ok[y == c].float().mean().item() for c in range(len(labels))}}
    print(f"{data}: {res['images']} images  top-1 {100 * res['top1']:.2f}% ({res['top1_correct']}/{res['images']})"
          f"  top-5 {100 * res['top5']:.2f}% ({res['top5_correct']}/{res['images']})")
    print("per-class top-1: " + ", ".join(f"{k}: {100 * v:.1f}%" for k, v in res["per_class_top1"].items()))
    if args.logits_json:
        with open(args.logits_json, "w") as f:
            json.dump({p: l.tolist() for p, l in zip(paths, logits)}, f, indent=1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
