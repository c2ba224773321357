"""Near-duplicate samples by embedding, within one source and across sources.

`find_duplicates(items, threshold)` takes samples in a fixed order (`DupItem`: key, source,
video_uid, an L2-normalised embedding such as the CLIP image embedding of longvid.enrich.clip_score)
and marks each sample whose cosine similarity to an earlier kept sample is at least `threshold`
as a duplicate of the most similar such sample. The first of a group is the one kept, so the
result depends only on the order given (the pipeline gives key order) and a rerun gives the same
pointers. A duplicate never points at another duplicate. Samples of the same video are compared
too (`same_video` says so), unless `skip_same_video`: overlapping windows of one video are
expected to be close, and are then never compared.

Exact all-pairs search in blocks of `block` rows (matrix products with numpy), O(N²·D) time and
O(block·N) memory: fine for the hundreds of thousands of samples one build holds; beyond that an
approximate index would be the next step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DupItem", "Duplicate", "find_duplicates"]


@dataclass(frozen=True)
class DupItem:
    key: str
    source: str
    video_uid: str
    embedding: np.ndarray  # [D], L2-normalised


@dataclass(frozen=True)
class Duplicate:
    key: str
    duplicate_of: str
    similarity: float
    same_source: bool
    same_video: bool


def _matrix(items: list[DupItem]) -> np.ndarray:
    if not items:
        return np.zeros((0, 0), np.float32)
    dims = {int(i.embedding.shape[-1]) for i in items}
    if len(dims) != 1:
        raise ValueError(f"embeddings of different sizes: {sorted(dims)}")
    m = np.stack([np.asarray(i.embedding, np.float32).reshape(-1) for i in items])
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    if np.any(norms == 0) or not np.all(np.isfinite(m)):
        raise ValueError("an embedding is zero or not finite")
    return m / norms


def find_duplicates(items: list[DupItem], threshold: float = 0.95, *, block: int = 1024,
                    skip_same_video: bool = False) -> list[Duplicate]:
    """Duplicates among `items` (in their order), each pointing at an earlier kept sample."""
    if not -1.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine in [-1, 1], got {threshold}")
    m = _matrix(items)
    n = len(items)
    kept = np.ones(n, dtype=bool)
    videos = np.array([i.video_uid for i in items], dtype=object)
    out: list[Duplicate] = []
    for lo in range(0, n, block):
        hi = min(n, lo + block)
        sims = m[lo:hi] @ m[:hi].T  # this block against everything up to its end
        for r in range(hi - lo):
            i = lo + r
            row = sims[r, :i].copy()
            row[~kept[:i]] = -np.inf  # only kept samples are originals
            if skip_same_video:
                row[videos[:i] == videos[i]] = -np.inf
            if i == 0 or not np.isfinite(row).any():
                continue
            j = int(np.argmax(row))
            if row[j] >= threshold:
                kept[i] = False
                a, b = items[i], items[j]
                out.append(Duplicate(a.key, b.key, float(row[j]), a.source == b.source, a.video_uid == b.video_uid))
    return out
