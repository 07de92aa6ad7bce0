"""Seeded offline datasets for the training checks, generated in milliseconds.

Everything is numpy in the canonical channels-first layout; the same seed gives
the same arrays on every machine. Nothing is downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np


def _remembered(make: Callable[..., tuple[np.ndarray, np.ndarray]]):
    """`make` computed once per arguments in a process; each caller gets its own copies
    (a check may hand the arrays to code that changes them in place)."""
    cached = functools.lru_cache(maxsize=16)(make)

    @functools.wraps(make)
    def fresh(*args, **kwargs) -> tuple[np.ndarray, np.ndarray]:
        x, y = cached(*args, **kwargs)
        return x.copy(), y.copy()

    fresh.cache_clear = cached.cache_clear
    return fresh

PATTERN_CLASSES = ("horizontal stripes", "vertical stripes", "diagonal stripes", "blob")


@_remembered
def patterns(
    n: int, size: int = 16, channels: int = 3, seed: int = 0, noise: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """Images of four classes: horizontal, vertical or diagonal stripes, or a blob.

    Stripe frequency, phase, colour and the blob's place vary per image and
    noise is added, so a linear model on raw pixels stays near chance while a
    small convnet that really trains separates them. Returns (x (n, C, size,
    size) float32, y (n,) int64); classes are balanced.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(PATTERN_CLASSES)
    rng.shuffle(y)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = np.empty((n, channels, size, size), np.float32)
    for i, label in enumerate(y):
        freq = rng.uniform(2.0, 4.0)
        phase = rng.uniform(0, 2 * np.pi)
        if label == 0:
            base = np.sin(2 * np.pi * freq * yy + phase)
        elif label == 1:
            base = np.sin(2 * np.pi * freq * xx + phase)
        elif label == 2:
            sign = rng.choice([-1.0, 1.0])
            base = np.sin(2 * np.pi * freq * (xx + sign * yy) / np.sqrt(2) + phase)
        else:
            cy, cx = rng.uniform(0.25, 0.75, 2)
            r = rng.uniform(0.12, 0.22)
            base = 2.0 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r * r)) - 0.5
        colour = rng.uniform(0.5, 1.0, channels) * rng.choice([-1.0, 1.0], channels)
        images[i] = colour[:, None, None] * base[None] + rng.normal(0, noise, (channels, size, size))
    return images, y.astype(np.int64)


def split(
    x: np.ndarray, y: np.ndarray, val_fraction: float = 0.25
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cut = int(len(x) * (1 - val_fraction))
    return x[:cut], y[:cut], x[cut:], y[cut:]


AUDIO_CLASSES = ("low tone", "high tone", "rising chirp", "falling chirp", "noise")


@_remembered
def audio(
    n: int, length: int = 256, channels: int = 1, seed: int = 0, noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic clips of five classes: a low or a high tone, a rising or a falling chirp, noise.

    Frequencies (in cycles per sample), phase and loudness vary per clip and
    Gaussian noise is added, so the raw samples are useless to a linear model;
    telling a rising from a falling chirp takes a receptive field that sees the
    frequency change over time. Returns (x (n, C, length) float32, y (n,) int64);
    classes are balanced.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % len(AUDIO_CLASSES)
    rng.shuffle(y)
    t = np.arange(length, dtype=np.float64)
    clips = np.empty((n, channels, length), np.float32)
    for i, label in enumerate(y):
        loudness = rng.uniform(0.6, 1.2)
        phase = rng.uniform(0, 2 * np.pi)
        if label == 0:
            wave = np.sin(2 * np.pi * rng.uniform(0.02, 0.05) * t + phase)
        elif label == 1:
            wave = np.sin(2 * np.pi * rng.uniform(0.15, 0.3) * t + phase)
        elif label in (2, 3):
            f0, f1 = rng.uniform(0.01, 0.04), rng.uniform(0.2, 0.3)
            if label == 3:
                f0, f1 = f1, f0
            # the frequency moves linearly from f0 to f1 over the clip
            wave = np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * length)) + phase)
        else:
            wave = rng.normal(0.0, 1.0, length)
        clips[i] = loudness * wave[None] + rng.normal(0, noise, (channels, length))
    return clips, y.astype(np.int64)
