"""Benchmark: the trainer's input from feature shards against a loader that decodes the same samples
from the video shards.

Both produce, for every item of one epoch in the trainer's own order (`DataPlan`, global batch
--global-batch, micro-batches of --batch-size), what a training step consumes:

- features: the trainer's path: `FeatureStore` (feature shards through `FeatureDataset`) +
  `collate` (qwen_2 encoding, time prompt, splice of the 16·T visual tokens, padding);
- video: the same items, each sample's mp4 read from its video shard (seek through the shard's
  Parquet index), decoded at the cache's sampling (video_info -> dynamic_fps1 indices ->
  read_frames), resized and normalised (`preprocess_frames`), and the same text encoding with the
  same number of visual positions: what a trainer that decodes video needs before its encoder.

Prints samples/s of each and their ratio, measured in the same run (median of --repeats passes).
With a GPU (`--gpu-tokens`), also tokens/s of training steps on one GPU with a random ~0.5B Qwen2
configuration (Qwen2-0.5B's shape) fed from the feature cache; without one it says so.

    .venv/bin/python bench/train_input.py --samples 100
    .venv/bin/python bench/train_input.py --corpus demo/corpus --gpu-tokens

The corpus comes from bench/precompress.py's --work (made there when absent) unless --corpus names
one; a missing feature cache is made with --encoder (umt-tiny, t 8..16, on the CPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.dont_write_bytecode = True


def _sibling(name: str) -> Any:
    path = Path(__file__).resolve().with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"_longvid_bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def feature_pass(plan: Any, items: list[Any], index: Any, tokenizer: Any, window: int) -> int:
    """The trainer's input path over one epoch; returns samples produced."""
    from longvid_trainer.batches import collate
    from longvid_trainer.features import FeatureStore

    store = FeatureStore({k: s.shard for k, s in index.by_key.items()}, capacity=window)
    dim = next(iter(index.by_key.values())).dim
    n = 0
    for step in range(plan.steps_per_epoch):
        for micro in plan.step(step):
            batch, stats = collate([items[i] for i in micro], store, tokenizer, template="qwen_2",
                                   max_length=32768, feature_dim=dim)
            n += stats.samples
    return n


def video_pass(plan: Any, items: list[Any], locate: dict[str, tuple[Path, dict]], sampling: Any,
               tokenizer: Any) -> int:
    """The same items decoded from the video shards (everything before an encoder)."""
    from longvid.hico.decode import read_frames, video_info
    from longvid.hico.preprocess import preprocess_frames
    from longvid.hico.sampling import time_prompt
    from longvid.shards.reader import read_sample
    from longvid_trainer.conversation import encode, splice

    n = 0
    for step in range(plan.steps_per_epoch):
        for micro in plan.step(step):
            for i in micro:
                item = items[i]
                tar, row = locate[item.key]
                members = read_sample(tar, row)
                with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
                    f.write(members["mp4"])
                    f.flush()
                    vlen, fps = video_info(f.name)
                    indices = sampling.indices(vlen, fps)
                    frames = read_frames(f.name, indices)
                pixels = preprocess_frames(frames, sampling.resolution)
                encoded = encode(item.conversation(), tokenizer, "qwen_2", time_prompt(vlen / fps, len(indices)))
                splice(encoded, 16 * len(indices), 32768)
                n += pixels.shape[0] > 0
    return n


QWEN2_05B = dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True)  # Qwen2-0.5B's shape


def tokens_per_second(corpus: Path, steps: int, device: str, shape: dict[str, int],
                      log: Callable[[str], None]) -> tuple[float, int]:
    """Tokens/s of training steps (per-device batch 1) of a random Qwen2 of `shape`, fed from the cache."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from longvid_trainer.batches import DataPlan, collate
    from longvid_trainer.cache_index import load_cache_index
    from longvid_trainer.features import FeatureStore
    from longvid_trainer.items import corpus_items
    from longvid_trainer.model import VideoLLM
    from longvid_trainer.tokenizer import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    config = Qwen2Config(**shape, max_position_embeddings=32768, use_cache=False, attn_implementation="sdpa")
    index = load_cache_index(corpus)
    items, _ = corpus_items(index)
    dim = next(iter(index.by_key.values())).dim
    model = VideoLLM(Qwen2ForCausalLM(config), dim).to(device).train()
    model.llm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, weight_decay=0.0)
    plan = DataPlan(items, index, global_batch=1, batch_size=1, window=8, seed=0)
    store = FeatureStore({k: s.shard for k, s in index.by_key.items()})
    batches = [collate([items[i] for i in plan.step(s % plan.steps_per_epoch)[0]], store, tokenizer,
                       template="qwen_2", max_length=32768, feature_dim=dim)[0].to(device) for s in range(steps + 2)]
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else torch.autocast("cpu", enabled=False)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    tokens, seconds = 0, 0.0
    for s, batch in enumerate(batches):
        sync()
        t0 = time.perf_counter()
        with autocast:
            loss, _ = model(batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        if s >= 2:  # two warm-up steps
            seconds += time.perf_counter() - t0
            tokens += int(batch.attention_mask.sum())
    log(f"[bench] {device}: {steps} steps, {tokens} tokens in {seconds:.2f} s, {params / 1e6:.0f}M parameters")
    return tokens / seconds, params


def gpu_tokens_per_second(corpus: Path, steps: int, log: Callable[[str], None]) -> str:
    import torch

    if not torch.cuda.is_available():
        return "tokens/s on a GPU: no GPU here, not measured"
    rate, params = tokens_per_second(corpus, steps, "cuda", QWEN2_05B, log)
    return (f"tokens/s on one GPU ({torch.cuda.get_device_name()}, random Qwen2 of {params / 1e6:.0f}M parameters, "
            f"bf16 autocast, per-device batch 1): {rate:.0f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=100, help="size of the synthetic corpus (corpus-n<N>)")
    parser.add_argument("--work", type=Path, default=None, help="default: bench/precompress.py's default --work")
    parser.add_argument("--corpus", type=Path, default=None, help="an existing corpus with a feature cache instead")
    parser.add_argument("--encoder", default="umt-tiny")
    parser.add_argument("--t-min", type=int, default=8)
    parser.add_argument("--t-max", type=int, default=16)
    parser.add_argument("--global-batch", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--gpu-tokens", action="store_true", help="also tokens/s on one GPU (~0.5B Qwen2)")
    parser.add_argument("--gpu-steps", type=int, default=10)
    args = parser.parse_args(argv)

    import torch

    from longvid.hico.sampling import SamplingConfig
    from longvid.shards.reader import read_index
    from longvid_trainer.batches import DataPlan
    from longvid_trainer.cache_index import load_cache_index
    from longvid_trainer.items import corpus_items
    from longvid_trainer.tokenizer import build_tiny_tokenizer

    log = lambda message: print(message, file=sys.stderr, flush=True)
    torch.set_num_threads(1)  # as the trainer on the CPU (one intra-op thread)
    bp = _sibling("precompress")
    if args.corpus is None:
        work = (args.work or bp.DEFAULT_WORK).resolve()
        work.mkdir(parents=True, exist_ok=True)
        bp.use_work_tmp(work)
        corpus = bp.ensure_corpus(work, args.samples, log=log)
    else:
        corpus = args.corpus.resolve()
    if not _sibling("feature_loading").feature_caches(corpus):
        from longvid.hico.precompress import PrecompressConfig
        from longvid.hico.run import precompress

        log(f"[bench] caching features with {args.encoder} (t {args.t_min}..{args.t_max})")
        precompress(PrecompressConfig(corpus=corpus, encoder=args.encoder, t_min=args.t_min, t_max=args.t_max), log=log)

    index = load_cache_index(corpus)
    items, _ = corpus_items(index)
    tokenizer = build_tiny_tokenizer()
    plan = DataPlan(items, index, global_batch=args.global_batch, batch_size=args.batch_size, window=8, seed=0)
    sampling = SamplingConfig(**index.sampling)
    locate = {}
    for tar in sorted((corpus / "shards").glob("*.tar")):
        for row in read_index(tar.with_suffix(".parquet")):
            locate[row["key"]] = (tar, row)
    n = plan.steps_per_epoch * args.global_batch
    passes = {"features": lambda: feature_pass(plan, items, index, tokenizer, 8),
              "video": lambda: video_pass(plan, items, locate, sampling, tokenizer)}
    seconds: dict[str, list[float]] = {k: [] for k in passes}
    for r in range(args.repeats):
        for name, fn in passes.items():
            t0 = time.perf_counter()
            got = fn()
            seconds[name].append(time.perf_counter() - t0)
            if got != n:
                raise RuntimeError(f"{name}: {got} samples, expected {n}")
        log(f"[bench] pass {r + 1}: " + ", ".join(f"{k} {v[-1]:.3f} s" for k, v in seconds.items()))
    med = {k: statistics.median(v) for k, v in seconds.items()}
    frames = sum(index.by_key[items[i].key].frames for s in range(plan.steps_per_epoch) for m in plan.step(s) for i in m)
    print(f"== training input: feature shards vs decoding the video shards (CPU, 1 torch thread, median of {args.repeats})")
    print(f"corpus {corpus}: cache {index.tag}, {len(index)} cached samples, {len(items)} items; one epoch = "
          f"{n} samples, {frames} frames (t {sampling.t_min}..{sampling.t_max} at {sampling.resolution} px)")
    print(bp.table([[name, f"{s:.3f}", bp.rate(n, s), f"{med['video'] / s:.1f}x"] for name, s in med.items()],
                   ["input", "seconds", "samples/s", "speed vs video"]))
    print(f"ratio (samples/s): features / video = {med['video'] / med['features']:.1f}")
    print("per-pass seconds: " + "; ".join(f"{k} {', '.join(f'{x:.3f}' for x in v)}" for k, v in seconds.items()))
    if args.gpu_tokens:
        print(gpu_tokens_per_second(corpus, args.gpu_steps, log))
    print("json " + json.dumps({"samples": n, "frames": frames, **{f"{k}_samples_per_s": round(n / s, 3) for k, s in med.items()}}))


if __name__ == "__main__":
    main()
