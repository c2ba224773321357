"""The model: VideoChat-Flash's projector in front of a Hugging Face causal LM.

`Projector` is `mlp = Sequential(Linear(C, d), GELU, Linear(d, d))` (the MLP of `tome16_mlp_hd64`;
the HiCo merge already happened in the cache). `VideoLLM.forward(batch)` projects the cached
tokens, puts them where the batch's input ids hold IMAGE_INDEX, runs the LM's decoder, and applies
the LM head and the cross-entropy only at supervised positions, so a 32k-token sample never makes
full-vocabulary logits for every position. A micro-batch without video still runs the projector
on a zero-length slice, so every parameter stays in the graph (DDP/FSDP do not wait on it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from longvid_trainer.conversation import IGNORE_INDEX, IMAGE_INDEX

TINY = "tiny"


class Projector(nn.Module):
    """Linear(C -> d) -> GELU -> Linear(d -> d), under VideoChat-Flash's names (`mlp.0`, `mlp.2`)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.mlp(tokens)


@dataclass
class Batch:
    """One micro-batch, right-padded: ids [B, L] (IMAGE_INDEX at visual positions, pad 0), labels
    [B, L], attention mask [B, L], and the visual tokens of every sample in order [N, C] (only the
    rows that survived truncation: N equals the number of IMAGE_INDEX positions)."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    attention_mask: torch.Tensor
    visual: torch.Tensor

    def to(self, device: torch.device | str) -> "Batch":
        return Batch(*(t.to(device, non_blocking=True) for t in (self.input_ids, self.labels, self.attention_mask, self.visual)))


def base_lm(llm: Any) -> Any:
    """The plain *ForCausalLM under a PEFT wrapper (or the model itself)."""
    return llm.get_base_model() if hasattr(llm, "get_base_model") else llm


class VideoLLM(nn.Module):
    """Projector + causal LM; forward returns the token-mean loss and the supervised token count."""

    def __init__(self, llm: Any, feature_dim: int):
        super().__init__()
        self.llm = llm
        self.projector = Projector(feature_dim, base_lm(llm).config.hidden_size)

    @property
    def decoder(self) -> Any:
        return base_lm(self.llm).model

    def embed(self, batch: Batch) -> torch.Tensor:
        """Token embeddings with the projected visual tokens spliced in at IMAGE_INDEX positions."""
        decoder = self.decoder
        is_visual = batch.input_ids == IMAGE_INDEX
        embeds = decoder.embed_tokens(batch.input_ids.masked_fill(is_visual, 0))
        projected = self.projector(batch.visual.to(embeds.dtype))
        if not bool(is_visual.any()):  # text only: keep the projector in the graph (zero-length slice)
            return embeds + projected[:0].sum() * 0
        n = int(is_visual.sum())
        if n != projected.shape[0]:
            raise ValueError(f"{n} visual positions but {projected.shape[0]} visual tokens")
        return embeds.masked_scatter(is_visual.unsqueeze(-1), projected.to(embeds.dtype))

    def hidden(self, batch: Batch) -> torch.Tensor:
        embeds = self.embed(batch)
        positions = (batch.attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        out = self.decoder(inputs_embeds=embeds, attention_mask=batch.attention_mask, position_ids=positions,
                           use_cache=False)
        return out.last_hidden_state

    def forward(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.hidden(batch)[:, :-1]
        targets = batch.labels[:, 1:]
        supervised = targets != IGNORE_INDEX
        count = supervised.sum()
        if int(count) == 0:  # everything cut by truncation: a zero loss that still reaches every parameter
            return hidden.sum() * 0.0, count
        logits = base_lm(self.llm).lm_head(hidden[supervised])
        loss = nn.functional.cross_entropy(logits.float(), targets[supervised], reduction="mean")
        return loss, count


def tiny_qwen2_config(vocab_size: int, *, hidden: int = 64, layers: int = 4, heads: int = 4, kv_heads: int = 2) -> Any:
    """A tiny random Qwen2-style configuration (for tests and the demo)."""
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                       num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=32768,
                       tie_word_embeddings=False, attention_dropout=0.0, use_cache=False)


def make_tiny_llm(out: Path, seed: int = 0) -> Path:
    """Write a tiny random Qwen2 and its tokenizer (built in code) to `out`; returns `out`."""
    from transformers import Qwen2ForCausalLM
    from transformers.utils import logging

    from longvid_trainer.tokenizer import build_tiny_tokenizer

    logging.disable_progress_bar()
    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(tiny_qwen2_config(len(tokenizer)))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def load_llm(path: Path, *, dtype: torch.dtype = torch.float32, attn: str = "sdpa") -> tuple[Any, Any]:
    """A causal LM and its tokenizer from a local folder (nothing is downloaded)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    from longvid_trainer.tokenizer import ensure_special_tokens

    logging.disable_progress_bar()

    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json)")
    tokenizer = ensure_special_tokens(AutoTokenizer.from_pretrained(path, local_files_only=True))
    llm = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=dtype, attn_implementation=attn)
    return llm, tokenizer
