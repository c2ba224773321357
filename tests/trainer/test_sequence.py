"""The token sequence and labels, token by token, against the rule of vcf-training.md §3, for both
templates; splicing of the 16·T visual tokens, truncation, the model's splice and supervised-only loss."""

from __future__ import annotations

import pytest
import torch

from longvid_trainer.conversation import IGNORE_INDEX, IMAGE_INDEX, encode, splice
from longvid_trainer.tokenizer import IM_END, IM_START, build_tiny_tokenizer, newline_id

TIME = "\nThe video lasts for 21.70 seconds, and 8 frames are uniformly sampled from it. "
TWO_TURNS = [
    {"from": "human", "value": "What does C do first?\n<image>"},  # <image> not first: it moves to the front
    {"from": "gpt", "value": "C looks at the car bonnet.\nThen C picks up the cloth."},
    {"from": "human", "value": "Look again.\nAnd then?"},
    {"from": "gpt", "value": "C drops the knife."},
]


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer()


def test_qwen2_two_turns_token_by_token(tok) -> None:
    enc = encode(TWO_TURNS, tok, "qwen_2", TIME)
    ids, labels = enc.input_ids, enc.labels
    assert len(ids) == len(labels) and ids.count(IMAGE_INDEX) == 1
    # the text the LLM sees: system turn, <image> moved to the front + time message, the turns
    image_id = tok.convert_tokens_to_ids("<image>")
    text = tok.decode([image_id if t == IMAGE_INDEX else t for t in ids])
    assert text == (
        f"{IM_START}system\nYou are a helpful assistant.{IM_END}\n"
        f"{IM_START}user\n<image>\nThe video lasts for 21.70 seconds, and 8 frames are uniformly sampled from it. "
        f"\nWhat does C do first?{IM_END}\n"
        f"{IM_START}assistant\nC looks at the car bonnet.\nThen C picks up the cloth.{IM_END}\n"
        f"{IM_START}user\nLook again.\nAnd then?{IM_END}\n"
        f"{IM_START}assistant\nC drops the knife.{IM_END}\n")
    # walk the turns (each starts at <|im_start|>) and check every label against the rule
    start, end, nl = tok.convert_tokens_to_ids(IM_START), tok.convert_tokens_to_ids(IM_END), newline_id(tok)
    starts = [i for i, t in enumerate(ids) if t == start] + [len(ids)]
    roles = []
    for a, b in zip(starts, starts[1:]):
        role = tok.decode(ids[a + 1:a + 2])
        roles.append(role)
        for i in range(a, b):
            if role == "assistant":
                assert labels[i] == ids[i], f"assistant token {i} ({tok.decode([ids[i]])!r}) is masked"
            elif ids[i] in (nl, start, end):
                assert labels[i] == ids[i], f"{role} token {i} ({tok.decode([ids[i]])!r}) must stay unmasked"
            else:
                assert labels[i] == IGNORE_INDEX, f"{role} token {i} ({tok.decode([ids[i]])!r}) must be masked"
    assert roles == ["system", "user", "assistant", "user", "assistant"]
    # the header <|im_start|>assistant\n is supervised; a merged ".\n" token in a user turn is not "\n"
    first_answer = starts[2]
    assert labels[first_answer:first_answer + 3] == ids[first_answer:first_answer + 3]
    merged = [i for i in range(starts[3], starts[4]) if "\n" in tok.decode([ids[i]]) and ids[i] != nl]
    assert merged and all(labels[i] == IGNORE_INDEX for i in merged)
    assert labels[ids.index(IMAGE_INDEX)] == IGNORE_INDEX


def test_plain_template_supervises_only_the_answer(tok) -> None:
    conversation = TWO_TURNS[:2]
    enc = encode(conversation, tok, "plain", TIME)
    answer = tok(conversation[1]["value"] + "\n", add_special_tokens=False).input_ids
    assert enc.input_ids == [IMAGE_INDEX] + answer  # the human turn is the bare <image>: no time message
    assert enc.labels == [IGNORE_INDEX] + answer
    with pytest.raises(ValueError, match="plain template"):
        encode(TWO_TURNS, tok, "plain", TIME)


def test_text_only_has_no_image_and_no_time_message(tok) -> None:
    enc = encode([{"from": "human", "value": "Hi?"}, {"from": "gpt", "value": "Hello."}], tok, "qwen_2", None)
    assert IMAGE_INDEX not in enc.input_ids and "video lasts" not in tok.decode(enc.input_ids)


def test_splice_and_truncation(tok) -> None:
    enc = encode(TWO_TURNS, tok, "qwen_2", TIME)
    at = enc.input_ids.index(IMAGE_INDEX)
    full, cut = splice(enc, 16 * 8, 10_000)
    assert not cut and len(full.input_ids) == len(enc.input_ids) - 1 + 128
    assert full.input_ids[at:at + 128] == [IMAGE_INDEX] * 128 and full.labels[at:at + 128] == [IGNORE_INDEX] * 128
    assert full.input_ids[at + 128:] == enc.input_ids[at + 1:] and full.labels[at + 128:] == enc.labels[at + 1:]
    short, cut = splice(enc, 128, at + 50)
    assert cut and len(short.input_ids) == at + 50 and short.input_ids.count(IMAGE_INDEX) == 50


def test_model_splices_features_and_scores_only_supervised_positions(tok) -> None:
    """The loss equals a full-logits cross-entropy over the same labels; a text-only batch still gives
    the projector a (zero) gradient."""
    from transformers import Qwen2ForCausalLM

    from longvid_trainer.batches import collate
    from longvid_trainer.items import Item
    from longvid_trainer.model import VideoLLM, tiny_qwen2_config

    torch.manual_seed(0)
    model = VideoLLM(Qwen2ForCausalLM(tiny_qwen2_config(len(tok))), 16)

    class Store:
        def get(self, key):
            return {"tokens": torch.randn(2, 64, 16).to(torch.bfloat16), "time_prompt": TIME}

    items = [Item(tuple((t["from"], t["value"]) for t in TWO_TURNS), "k", "t"),
             Item((("human", "<image>\nDescribe."), ("gpt", "A car.")), "k", "t")]
    batch, stats = collate(items, Store(), tok, template="qwen_2", max_length=4096, feature_dim=16)
    assert stats.visual_tokens == 2 * 128 and batch.visual.shape == (256, 16)
    loss, count = model(batch)
    out = model.llm(inputs_embeds=model.embed(batch), attention_mask=batch.attention_mask)
    reference = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, out.logits.shape[-1]),
                                                  batch.labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
    assert torch.allclose(loss, reference, atol=1e-5) and int(count) == int((batch.labels[:, 1:] != IGNORE_INDEX).sum())
    cut, cut_stats = collate(items, Store(), tok, template="qwen_2", max_length=100, feature_dim=16)
    assert cut_stats.truncated == 2 and cut.input_ids.shape[1] == 100
    assert cut.visual.shape[0] == int((cut.input_ids == IMAGE_INDEX).sum()) < 256  # only the rows kept
    assert torch.isfinite(model(cut)[0])
    text_only, _ = collate([Item((("human", "Hi?"), ("gpt", "Hello.")), None, "t")], Store(), tok,
                           template="qwen_2", max_length=4096, feature_dim=16)
    model.zero_grad()
    model(text_only)[0].backward()
    assert all(p.grad is not None and not p.grad.any() for p in model.projector.parameters())
