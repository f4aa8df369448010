"""Data and the exact inference preprocessing for the fastvim-digits model.

The serving engine sees an image file; so the model is trained and evaluated on the
same pixels it will get:
  digit (8x8, values 0..16) -> uint8 grayscale = np.round(v * 255 / 16)   (this is what the PNGs hold)
  PIL convert("RGB") -> resize((32, 32), Image.BICUBIC) -> CenterCrop(32) (no-op)
  -> ToTensor (/255) -> Normalize(mean, std)
"""
import numpy as np
import torch
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

IMAGE_SIZE = 32
LABELS = [str(i) for i in range(10)]
SPLIT_SEED = 0       # fixed: the held-out split never depends on the training seed
HELDOUT_FRAC = 0.2


def digits_uint8():
    """All 1,797 scans as uint8 (N, 8, 8) arrays, labels (N,), in load_digits order."""
    d = load_digits()
    imgs = np.round(d.images * 255.0 / 16.0).clip(0, 255).astype(np.uint8)  # v=8 -> 127.5 -> 128
    return imgs, d.target.astype(np.int64)


def heldout_split(labels):
    """Stratified 80/20 split of dataset indices: (train_idx, heldout_idx), each sorted."""
    idx = np.arange(len(labels))
    tr, ho = train_test_split(idx, test_size=HELDOUT_FRAC, stratify=labels, random_state=SPLIT_SEED)
    return np.sort(tr), np.sort(ho)


def to_pil(arr_u8):
    return Image.fromarray(arr_u8, mode="L")


def pil_to_unnormalized(img):
    """convert("RGB"), bicubic resize to 32x32, CenterCrop(32) (no-op), ToTensor -> (3,32,32) in [0,1]."""
    img = img.convert("RGB").resize((IMAGE_SIZE, IMAGE_SIZE), Image.BICUBIC)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(a.transpose(2, 0, 1).copy())


def normalize(t, mean, std):
    m = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
    return (t - m) / s


def preprocess(img, mean, std):
    return normalize(pil_to_unnormalized(img), mean, std)


class RandomAffine:
    """Small random affine on the PIL image BEFORE the resize (like torchvision RandomAffine:
    rotation about the centre, translation as a fraction of the size, isotropic scale)."""

    def __init__(self, degrees=10.0, translate=(0.1, 0.1), scale=(0.9, 1.1), rng=None):
        self.degrees, self.translate, self.scale = degrees, translate, scale
        self.rng = rng or np.random.default_rng()

    def __call__(self, img):
        w, h = img.size
        ang = np.deg2rad(self.rng.uniform(-self.degrees, self.degrees))
        tx = self.rng.uniform(-self.translate[0], self.translate[0]) * w
        ty = self.rng.uniform(-self.translate[1], self.translate[1]) * h
        sc = self.rng.uniform(*self.scale)
        cx, cy = w * 0.5, h * 0.5
        # forward map: p' = R*s*(p - c) + c + t; PIL wants the inverse (output -> input)
        c, s = np.cos(ang), np.sin(ang)
        ia, ib, ic, idd = c / sc, s / sc, -s / sc, c / sc
        ox, oy = cx + tx, cy + ty
        coeffs = (ia, ib, cx - ia * ox - ib * oy, ic, idd, cy - ic * ox - idd * oy)
        return img.transform((w, h), Image.AFFINE, coeffs, resample=Image.BILINEAR, fillcolor=0)
