"""Tokenizers: the tiny one built in code (for `--llm tiny`), and the special tokens every one needs.

The tiny tokenizer is a byte-level BPE like Qwen2's (same pre-tokenizer split pattern, byte-level
alphabet, so any text encodes without an unknown token), trained in code on a fixed text, with
Qwen2's special tokens `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` and the `<image>` placeholder.
Nothing is downloaded.
"""

from __future__ import annotations

from typing import Any

IMAGE_TOKEN = "<image>"
IM_START, IM_END, END_OF_TEXT = "<|im_start|>", "<|im_end|>", "<|endoftext|>"

# Qwen2's pre-tokenizer split pattern (contractions, letters, single digits, punctuation runs that
# take trailing newlines, newline runs with the blanks before them, blanks).
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

_TRAINING_TEXT = """system
You are a helpful assistant.
user
assistant
The video lasts for 12.50 seconds, and 8 frames are uniformly sampled from it.
Describe the video briefly. Describe the video in detail. Summarize the video.
Describe the events of the video in order, with their start and end times in seconds.
A person walks into the kitchen, picks up a knife and cuts the onion on the table.
The man holds the tap, washes the cloth and looks at the car bonnet in the garage.
A woman is talking to the camera about how to cook pasta with tomato sauce and cheese.
The camera moves slowly over a green forest with a river and mountains in the background.
First, second, third: the steps of the recipe are shown one after another, then the dish is served.
What happens in the video? What does the person do after that? How many times does it happen?
"""


def build_tiny_tokenizer(vocab_size: int = 1024) -> Any:
    """A small byte-level BPE tokenizer with Qwen2's special tokens, as a PreTrainedTokenizerFast."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    core.decoder = decoders.ByteLevel()
    specials = [END_OF_TEXT, IM_START, IM_END, IMAGE_TOKEN]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    core.train_from_iterator(_TRAINING_TEXT.splitlines(keepends=True) * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, eos_token=IM_END, pad_token=END_OF_TEXT,
        additional_special_tokens=[IM_START, IM_END, IMAGE_TOKEN], clean_up_tokenization_spaces=False)


def ensure_special_tokens(tokenizer: Any) -> Any:
    """Add `<image>` (as VideoChat-Flash's preprocess_qwen does) and check the chat tokens exist."""
    vocab = tokenizer.get_vocab()
    missing = [t for t in (IM_START, IM_END) if t not in vocab]
    if missing:
        raise ValueError(f"the tokenizer lacks {', '.join(missing)}: a Qwen2-family tokenizer is needed")
    if IMAGE_TOKEN not in vocab:
        tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = END_OF_TEXT if END_OF_TEXT in vocab else IM_END
    return tokenizer


def newline_id(tokenizer: Any) -> int:
    """The id of the token that is exactly "\\n" (198 in Qwen2's vocabulary)."""
    ids = tokenizer("\n", add_special_tokens=False).input_ids
    if len(ids) != 1:
        raise ValueError(f"the tokenizer has no single token for a newline (got {ids})")
    return ids[0]
