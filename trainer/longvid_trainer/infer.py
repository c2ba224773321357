"""Answer a question about a cached sample, greedily, with VideoChat-Flash's progressive visual dropout
as an option (hico-spec.md §4).

The prompt is the qwen_2 turn `<image>` + time message + question, then `<|im_start|>assistant\\n`.
Prefill runs the decoder layer by layer; after each layer named in `VisualDropout.layers` the
visual tokens shrink from ⌊N·ρ_i⌋ to ⌊N·ρ_{i+1}⌋: uniformly (`linspace` indices), or by attention
(the next layer's input-normed, RoPE'd query of the last prompt token against every key, softmax,
mean over heads, restricted to the visual span, top-k re-sorted into temporal order). Positions are
re-compacted after a drop; while decoding, each layer's position is the full position less the
tokens dropped before it, and each layer attends over its own (shorter) cache, as theirs does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from longvid_trainer.conversation import IGNORE_INDEX, IMAGE_INDEX, Encoded, encode, splice
from longvid_trainer.model import Batch, VideoLLM, base_lm

KINDS = ("uniform", "attention", "uniform0_attention")


@dataclass(frozen=True)
class VisualDropout:
    layers: tuple[int, ...] = (4, 18)  # drop after this many decoder layers (the model card's recipe)
    ratios: tuple[float, ...] = (1.0, 0.75, 0.25)  # kept share before the first drop, after each drop
    kind: str = "uniform0_attention"  # uniform at the first drop, attention at the later ones

    def check(self, num_layers: int) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown dropout kind {self.kind!r}; known: {', '.join(KINDS)}")
        if len(self.ratios) != len(self.layers) + 1:
            raise ValueError("give one ratio more than layers (the share before the first drop)")
        if not all(0 < a < b < num_layers for a, b in zip(self.layers, self.layers[1:])) or not 0 < self.layers[0] < num_layers:
            raise ValueError(f"dropout layers must increase within 1..{num_layers - 1}")

    def kind_at(self, stage: int) -> str:
        if self.kind == "uniform0_attention":
            return "uniform" if stage == 0 else "attention"
        return self.kind


@dataclass
class Answer:
    text: str
    token_ids: list[int]
    visual_tokens: list[int] = field(default_factory=list)  # kept visual tokens: at the start, after each drop


def _attention_keep(layer: Any, hidden: torch.Tensor, positions: torch.Tensor, rotary: Any, query_at: int,
                    span: tuple[int, int], keep: int) -> torch.Tensor:
    """Indices (within the visual span) of the `keep` tokens the last prompt token attends to most."""
    from transformers.models.qwen2.modeling_qwen2 import apply_rotary_pos_emb

    attn = layer.self_attn
    normed = layer.input_layernorm(hidden)
    head = attn.head_dim
    q = attn.q_proj(normed[:, query_at:query_at + 1]).view(1, 1, -1, head).transpose(1, 2)
    k = attn.k_proj(normed).view(1, normed.shape[1], -1, head).transpose(1, 2)
    cos, sin = rotary(normed, positions[None])
    q, _ = apply_rotary_pos_emb(q, q, cos[:, query_at:query_at + 1], sin[:, query_at:query_at + 1])
    _, k = apply_rotary_pos_emb(k, k, cos, sin)
    k = k.repeat_interleave(attn.num_key_value_groups, dim=1)
    scores = (q @ k.transpose(-1, -2)) * attn.scaling  # [1, heads, 1, L]; the query is last: nothing to mask
    weights = torch.softmax(scores[..., :query_at + 1].float(), dim=-1).mean(dim=1)[0, 0]
    return weights[span[0]:span[1]].topk(keep).indices.sort().values


@torch.no_grad()
def answer(model: VideoLLM, tokenizer: Any, tokens: torch.Tensor, time_prompt: str, question: str, *,
           max_new_tokens: int = 32, dropout: VisualDropout | None = None) -> Answer:
    """Greedy answer to `question` about one sample's cached tokens [T/4, 64, C]."""
    from transformers import DynamicCache

    from longvid_trainer.tokenizer import IM_END, IM_START

    model.eval()
    lm = base_lm(model.llm)
    decoder = model.decoder
    layers = decoder.layers
    if dropout is not None:
        dropout.check(len(layers))
    prompt = encode([{"from": "human", "value": f"<image>\n{question}"}], tokenizer, "qwen_2", time_prompt)
    ids = prompt.input_ids + tokenizer(f"{IM_START}assistant\n", add_special_tokens=False).input_ids
    visual = tokens.reshape(-1, tokens.shape[-1]).float()
    spliced, _ = splice(Encoded(ids, [IGNORE_INDEX] * len(ids)), visual.shape[0], 10 ** 9)
    device = next(model.parameters()).device
    input_ids = torch.tensor([spliced.input_ids], device=device)
    batch = Batch(input_ids, input_ids, torch.ones_like(input_ids), visual.to(device))
    hidden = model.embed(batch)
    first = spliced.input_ids.index(IMAGE_INDEX)
    n_visual = visual.shape[0]
    cache = DynamicCache(config=lm.config)
    positions = torch.arange(hidden.shape[1], device=device)
    dropped_before = [0] * len(layers)  # tokens dropped before layer i (for decoding positions)
    kept = [n_visual]
    for i, layer in enumerate(layers):
        hidden = layer(hidden, attention_mask=None, position_ids=positions[None], cache=cache, use_cache=True,
                       position_embeddings=decoder.rotary_emb(hidden, positions[None]))
        if dropout is not None and i + 1 in dropout.layers:
            stage = dropout.layers.index(i + 1)
            current, keep = int(n_visual * dropout.ratios[stage]), int(n_visual * dropout.ratios[stage + 1])
            if dropout.kind_at(stage) == "uniform":
                chosen = torch.linspace(0, current - 1, keep, device=device).long()
            else:
                chosen = _attention_keep(layers[i + 1], hidden, positions, decoder.rotary_emb, hidden.shape[1] - 1,
                                         (first, first + current), keep)
            hidden = torch.cat([hidden[:, :first], hidden[:, first + chosen], hidden[:, first + current:]], dim=1)
            positions = torch.arange(hidden.shape[1], device=device)
            for j in range(i + 1, len(layers)):
                dropped_before[j] += current - keep
            kept.append(keep)
    next_id = int(lm.lm_head(decoder.norm(hidden[:, -1])).argmax(-1))
    out, length = [next_id], input_ids.shape[1]
    end = tokenizer.convert_tokens_to_ids(IM_END)
    while next_id != end and len(out) < max_new_tokens:
        h = decoder.embed_tokens(torch.tensor([[next_id]], device=device))
        for i, layer in enumerate(layers):
            pos = torch.tensor([[length - dropped_before[i]]], device=device)
            h = layer(h, attention_mask=None, position_ids=pos, cache=cache, use_cache=True,
                      position_embeddings=decoder.rotary_emb(h, pos))
        length += 1
        next_id = int(lm.lm_head(decoder.norm(h[:, -1])).argmax(-1))
        out.append(next_id)
    return Answer(tokenizer.decode(out, skip_special_tokens=True), out, kept)


def load_trained(run: Path) -> tuple[VideoLLM, Any]:
    """The model a finished `longvid train` run left in RUN/final (projector + LLM or LoRA)."""
    from longvid_trainer.model import load_llm
    from longvid_trainer.projector_io import import_projector

    run = Path(run)
    config = json.loads((run / "config.json").read_text())
    final = run / "final"
    if (final / "llm").is_dir():
        llm, tokenizer = load_llm(final / "llm")
    else:
        llm, tokenizer = load_llm(run / "base-llm" if config["llm"] == "tiny" else Path(config["llm"]))
        if (final / "lora").is_dir():
            from peft import PeftModel

            llm = PeftModel.from_pretrained(llm, final / "lora")
    weights = torch.load(final / "mm_projector.bin", weights_only=True)
    model = VideoLLM(llm, weights["model.mm_projector.mlp.0.weight"].shape[1])
    import_projector(model.projector, final / "mm_projector.bin")
    return model, tokenizer


def answer_cached(run: Path, corpus: Path, key: str, question: str, *, tag: str | None = None,
                  dropout: VisualDropout | None = None, max_new_tokens: int = 32) -> Answer:
    """Answer `question` about the cached sample `key` with the model of a finished run."""
    from longvid.hico.dataset import FeatureDataset, feature_shards

    sample = next((s for s in FeatureDataset(feature_shards(Path(corpus), tag), rank=0, world_size=1) if s["key"] == key), None)
    if sample is None:
        raise KeyError(f"no cached features for sample {key} in {corpus}")
    model, tokenizer = load_trained(run)
    return answer(model, tokenizer, sample["tokens"], sample["time_prompt"], question,
                  max_new_tokens=max_new_tokens, dropout=dropout)
