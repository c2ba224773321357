"""Stage presets, the batch split, what a resume may change, and the torchrun command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from longvid_trainer.config import TrainConfig
from longvid_trainer.launch import torchrun_command


def test_stage_presets() -> None:
    one = TrainConfig(corpus=Path("c"), out=Path("o"), stage=1).resolved()
    assert (one.trainable, one.lr, one.template, one.max_length, one.global_batch, one.batch_size) == \
        (("projector",), 1e-3, "plain", 8192, 512, 16)
    three = TrainConfig(corpus=Path("c"), out=Path("o"), stage=3, llm="/m").resolved()
    assert (three.trainable, three.lr, three.template, three.max_length, three.global_batch) == \
        (("projector", "llm"), 1e-5, "qwen_2", 32768, 256)
    four = TrainConfig(corpus=Path("c"), out=Path("o"), stage=4).resolved()
    assert four.trainable == ("projector",) and four.preset.resolution == 448 and four.preset.frames == (64, 512)
    custom = TrainConfig(corpus=Path("c"), out=Path("o")).resolved()
    assert custom.lr == 1e-3 and custom.template == "qwen_2"  # tiny LLM
    assert TrainConfig(corpus=Path("c"), out=Path("o"), stage=2, lr=5e-6).resolved().lr == 5e-6


def test_batch_split_and_resume_rules() -> None:
    config = TrainConfig(corpus=Path("c"), out=Path("o"), global_batch=8, batch_size=2).resolved()
    assert config.accumulation(1) == 4 and config.accumulation(2) == 2 and config.accumulation(4) == 1
    with pytest.raises(ValueError, match="not a multiple"):
        config.accumulation(3)
    assert TrainConfig.from_json(config.to_json()) == config
    moved = TrainConfig.from_json({**config.to_json(), "gpus": 8, "fsdp": True, "save_every": 5, "resume": True})
    assert moved.fingerprint() == config.fingerprint()  # where it runs may change on resume
    assert TrainConfig.from_json({**config.to_json(), "lr": 0.5}).fingerprint() != config.fingerprint()
    with pytest.raises(ValueError, match="lora"):
        TrainConfig(corpus=Path("c"), out=Path("o"), lora=8, trainable=("projector",)).resolved()


def test_torchrun_command(tmp_path: Path) -> None:
    one_node = torchrun_command(TrainConfig(corpus=Path("c"), out=Path("o"), gpus=8), tmp_path / "launch.json")
    assert one_node[1:5] == ["-m", "torch.distributed.run", "--nproc-per-node=8", "--standalone"]
    assert one_node[-3:] == ["-m", "longvid_trainer.worker", str(tmp_path / "launch.json")]
    nodes = torchrun_command(TrainConfig(corpus=Path("c"), out=Path("o"), gpus=8, nnodes=4, rdzv_endpoint="n0:29400",
                                         rdzv_id="s3"), tmp_path / "l.json")
    assert {"--nnodes=4", "--rdzv-backend=c10d", "--rdzv-endpoint=n0:29400", "--rdzv-id=s3"} <= set(nodes)
    with pytest.raises(ValueError, match="rdzv-endpoint"):
        torchrun_command(TrainConfig(corpus=Path("c"), out=Path("o"), gpus=8, nnodes=2), tmp_path / "l.json")
