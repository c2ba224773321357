"""`longvid train` end to end on the CPU with the tiny LLM: from a corpus whose video shards are gone,
with every video decoder unimportable; the loss falls; SIGKILL at step 30 and --resume give the
same losses as the run that never stopped; errors are one line."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from tests.trainer.conftest import REPO, child_env, read_metrics, run_train, train_args

pytestmark = pytest.mark.slow
STEPS = 50


@pytest.fixture(scope="module")
def reference(bare_corpus: Path, no_decoders: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The acceptance command, uninterrupted: `longvid train CORPUS --llm tiny --steps 50 --gpus 0 --out RUN`."""
    run = tmp_path_factory.mktemp("reference") / "run"
    summary = run_train(train_args(bare_corpus, run, "--steps", str(STEPS)), env=no_decoders)
    assert summary["steps"] == STEPS and summary["resumed_from"] == 0
    return run


def test_trains_from_features_alone_and_the_loss_falls(reference: Path, bare_corpus: Path) -> None:
    assert not (bare_corpus / "shards").exists()
    metrics = read_metrics(reference)
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))
    losses = [m["loss"] for m in metrics]
    assert all(isinstance(x, float) and x == x for x in losses)
    first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert last < first - 0.5, f"loss did not fall: {first:.3f} -> {last:.3f}"
    # what the run leaves: the projector under VideoChat-Flash's names, the trained LLM, the data report
    projector = torch.load(reference / "final" / "mm_projector.bin", weights_only=True)
    assert set(projector) == {f"model.mm_projector.mlp.{i}.{w}" for i in (0, 2) for w in ("weight", "bias")}
    assert (reference / "final" / "llm" / "config.json").is_file()
    data = (reference / "data.json").read_text()
    assert '"no_text"' in data and (reference / "unmatched.jsonl").read_text().count("no_text") >= 1


def test_sigkill_then_resume_gives_the_same_losses(reference: Path, bare_corpus: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = train_args(bare_corpus, run, "--steps", str(STEPS), "--save-every", "7")
    env = child_env()
    err = open(tmp_path / "killed.err", "wb")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
    started = time.monotonic()
    try:
        while proc.poll() is None:
            assert time.monotonic() - started < 300, "the run never reached step 30"
            metrics = run / "metrics.jsonl"
            if metrics.is_file() and len(metrics.read_text().splitlines()) >= 30:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.002)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rc == -signal.SIGKILL, f"the run ended by itself ({rc}) before it could be killed at step 30"
    killed_at = len(read_metrics(run))
    assert 30 <= killed_at < STEPS
    summary = run_train(args + ["--resume"])
    resumed = summary["resumed_from"]  # the last checkpoint before the kill (every 7 steps): 28 when killed at 30
    assert resumed % 7 == 0 and 28 <= resumed <= killed_at
    expected = [(m["step"], m["loss"]) for m in read_metrics(reference)]
    assert [(m["step"], m["loss"]) for m in read_metrics(run)] == expected  # exactly, every step


def test_errors_are_one_line(reference: Path, bare_corpus: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from longvid.cli.main import app

    cases = [
        (["--stage", "3"], "needs 64-512 frames"),
        (["--stage", "9"], "unknown stage"),
        (["--template", "chatml"], "unknown template"),
        (["--global-batch", "3", "--batch-size", "2"], "not a multiple"),
        (["--llm", str(tmp_path)], "not a Hugging Face model folder"),
        (["--data", str(tmp_path / "none.yaml")], "not found"),
        (["--resume"], "holds no run"),
        (["--out", str(reference)], "already holds a run"),
    ]
    for extra, message in cases:
        result = CliRunner().invoke(app, train_args(bare_corpus, tmp_path / "r", *extra)[3:], env={"RAY_ADDRESS": None})
        assert result.exit_code == 2, (extra, result.output)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (extra, result.stderr)


def test_answer_about_a_cached_sample_with_progressive_dropout(reference: Path, bare_corpus: Path) -> None:
    """The inference helper on the trained tiny model: without dropout it equals Hugging Face's own greedy
    generate; dropout keeping every token changes nothing; the card's recipe (uniform, then attention)
    scaled to 4 layers keeps 100% -> 75% -> 25% of the 128 visual tokens."""
    from longvid.hico.dataset import FeatureDataset, feature_shards
    from longvid_trainer.conversation import IGNORE_INDEX, Encoded, encode, splice
    from longvid_trainer.infer import VisualDropout, answer, answer_cached, load_trained
    from longvid_trainer.model import Batch

    sample = next(s for s in FeatureDataset(feature_shards(bare_corpus)) if s["tokens"].shape[0] == 2)
    question = "Describe the events of the video in order, with their start and end times in seconds."
    plain = answer_cached(reference, bare_corpus, sample["key"], question, max_new_tokens=12)
    assert isinstance(plain.text, str) and plain.visual_tokens == [128] and len(plain.token_ids) <= 12

    model, tok = load_trained(reference)
    prompt = encode([{"from": "human", "value": f"<image>\n{question}"}], tok, "qwen_2", sample["time_prompt"])
    ids = prompt.input_ids + tok("<|im_start|>assistant\n", add_special_tokens=False).input_ids
    spliced, _ = splice(Encoded(ids, [IGNORE_INDEX] * len(ids)), 128, 10 ** 6)
    input_ids = torch.tensor([spliced.input_ids])
    embeds = model.embed(Batch(input_ids, input_ids, torch.ones_like(input_ids), sample["tokens"].reshape(-1, 64).float()))
    hf = model.llm.generate(inputs_embeds=embeds, attention_mask=torch.ones_like(input_ids), max_new_tokens=12,
                            do_sample=False, eos_token_id=tok.convert_tokens_to_ids("<|im_end|>"), pad_token_id=0)
    assert plain.token_ids == hf[0].tolist()

    keep_all = answer(model, tok, sample["tokens"], sample["time_prompt"], question, max_new_tokens=12,
                      dropout=VisualDropout(layers=(1, 2), ratios=(1.0, 1.0, 1.0)))
    assert keep_all.token_ids == plain.token_ids
    dropped = answer(model, tok, sample["tokens"], sample["time_prompt"], question, max_new_tokens=12,
                     dropout=VisualDropout(layers=(1, 2), ratios=(1.0, 0.75, 0.25), kind="uniform0_attention"))
    assert dropped.visual_tokens == [128, 96, 32] and isinstance(dropped.text, str)
    with pytest.raises(ValueError, match="layers"):
        answer(model, tok, sample["tokens"], sample["time_prompt"], question, dropout=VisualDropout(layers=(4, 18)))


def test_lora_and_projector_only_with_the_plain_template(reference: Path, bare_corpus: Path, tmp_path: Path) -> None:
    from longvid_trainer.checkpoint import latest_checkpoint
    from longvid_trainer.infer import answer_cached

    lora = tmp_path / "lora"
    run_train(train_args(bare_corpus, lora, "--steps", "3", "--lora", "4"))
    assert (lora / "final" / "lora" / "adapter_config.json").is_file() and not (lora / "final" / "llm").exists()
    saved = torch.load(latest_checkpoint(lora) / "trainable.pt", weights_only=True)
    assert saved and all(k.startswith("projector.") or "lora_" in k for k in saved)
    from longvid.hico.dataset import FeatureDataset, feature_shards

    key = next(iter(FeatureDataset(feature_shards(bare_corpus))))["key"]
    assert isinstance(answer_cached(lora, bare_corpus, key, "What happens?", max_new_tokens=4).text, str)

    plain = tmp_path / "plain"
    start = reference / "final" / "mm_projector.bin"
    run_train(train_args(bare_corpus, plain, "--steps", "3", "--template", "plain", "--trainable", "projector",
                         "--projector", str(start)))
    saved = torch.load(latest_checkpoint(plain) / "trainable.pt", weights_only=True)
    assert set(saved) == {f"projector.mlp.{i}.{w}" for i in (0, 2) for w in ("weight", "bias")}
    before = torch.load(start, weights_only=True)
    drift = max(float((saved[f"projector.mlp.{k}"] - before[f"model.mm_projector.mlp.{k}"]).abs().max())
                for k in ("0.weight", "2.weight"))
    assert 0 < drift < 0.01  # started from the imported projector, moved by three small steps
    assert not (plain / "final" / "llm").exists()
