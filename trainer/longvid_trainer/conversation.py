"""The token sequence and its labels, as VideoChat-Flash builds them (vcf-training.md §3).

`encode(conversation, tokenizer, template, time_prompt)` gives token ids with one IMAGE_INDEX
placeholder where the 16·T visual tokens go, and labels (IGNORE_INDEX where not supervised);
`splice(encoded, n_visual, max_length)` expands the placeholder and cuts to the maximum length.

- qwen_2: `<|im_start|>{role}\\n{content}<|im_end|>\\n` per turn after the fixed system turn;
  assistant turns are supervised whole (header included); in every turn the tokens `\\n`,
  `<|im_start|>` and `<|im_end|>` stay unmasked.
- plain: the human turn becomes the bare `<image>`; only `answer + "\\n"` is supervised.
- Video prompt: `<image>` moves to the front of the first human turn and is followed by the
  time message (`preprocess_multimodal`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from longvid_trainer.tokenizer import IM_END, IM_START, IMAGE_TOKEN, newline_id

IGNORE_INDEX = -100
IMAGE_INDEX = -200  # the placeholder id in input_ids, as LLaVA's IMAGE_TOKEN_INDEX
SYSTEM_MESSAGE = "You are a helpful assistant."
TEMPLATES = ("qwen_2", "plain")
ROLES = {"human": "user", "gpt": "assistant", "user": "user", "assistant": "assistant", "system": "system"}


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]

    @property
    def has_image(self) -> bool:
        return IMAGE_INDEX in self.input_ids


def video_prompt(conversation: list[dict[str, str]], time_prompt: str) -> list[dict[str, str]]:
    """`<image>` to the front of its turn, followed by the time message (a copy; others untouched)."""
    out = []
    for turn in conversation:
        value = turn["value"]
        if value.count(IMAGE_TOKEN) == 1 and not value.startswith(IMAGE_TOKEN):
            value = (IMAGE_TOKEN + "\n" + value.replace(IMAGE_TOKEN, "").strip()).strip()
        if time_prompt.rstrip():
            value = value.replace(IMAGE_TOKEN, IMAGE_TOKEN + time_prompt.rstrip() + " ")
        out.append({**turn, "value": value})
    return out


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False).input_ids


def encode_qwen2(conversation: list[dict[str, str]], tokenizer: Any) -> Encoded:
    """preprocess_qwen: system turn, then each turn; assistant turns supervised, then the unmask rule."""
    turns = conversation[1:] if ROLES.get(conversation[0]["from"]) != "user" else conversation
    input_ids = _ids(tokenizer, f"{IM_START}system\n{SYSTEM_MESSAGE}{IM_END}\n")
    labels = [IGNORE_INDEX] * len(input_ids)
    for turn in turns:
        role = ROLES.get(turn["from"], turn["from"])
        ids = _ids(tokenizer, f"{IM_START}{role}\n{turn['value']}{IM_END}\n")
        input_ids += ids
        labels += [IGNORE_INDEX] * len(ids) if role in ("user", "system") else ids
    unmasked = {newline_id(tokenizer), tokenizer.convert_tokens_to_ids(IM_START), tokenizer.convert_tokens_to_ids(IM_END)}
    image_id = tokenizer.convert_tokens_to_ids(IMAGE_TOKEN)
    for i, token in enumerate(input_ids):
        if token in unmasked:
            labels[i] = token
        if token == image_id:
            input_ids[i] = IMAGE_INDEX
    return Encoded(input_ids, labels)


def encode_plain(conversation: list[dict[str, str]], tokenizer: Any) -> Encoded:
    """preprocess_plain: `<image>` + answer + "\\n"; the image position is masked, the rest supervised."""
    if len(conversation) != 2 or IMAGE_TOKEN not in conversation[0]["value"]:
        raise ValueError("the plain template takes exactly one human turn with <image> and one answer")
    ids = _ids(tokenizer, conversation[1]["value"] + "\n")
    return Encoded([IMAGE_INDEX] + ids, [IGNORE_INDEX] + ids)


def encode(conversation: list[dict[str, str]], tokenizer: Any, template: str, time_prompt: str | None) -> Encoded:
    """One sample's ids and labels; `time_prompt` is None for a sample without video."""
    if not conversation:
        raise ValueError("empty conversation")
    if time_prompt is not None:
        conversation = video_prompt(conversation, time_prompt)
    if template == "qwen_2":
        return encode_qwen2(conversation, tokenizer)
    if template == "plain":
        return encode_plain(conversation, tokenizer)
    raise ValueError(f"unknown template {template!r}; known: {', '.join(TEMPLATES)}")


def splice(encoded: Encoded, n_visual: int, max_length: int) -> tuple[Encoded, bool]:
    """Expand the placeholder into `n_visual` masked positions, cut to `max_length`; (result, truncated).

    The returned input_ids keep the placeholder as IMAGE_INDEX repeated n_visual times (the model
    puts the projected features there)."""
    ids, labels = [], []
    for token, label in zip(encoded.input_ids, encoded.labels):
        if token == IMAGE_INDEX:
            ids += [IMAGE_INDEX] * n_visual
            labels += [IGNORE_INDEX] * n_visual
        else:
            ids.append(token)
            labels.append(label)
    truncated = len(ids) > max_length
    return Encoded(ids[:max_length], labels[:max_length]), truncated
