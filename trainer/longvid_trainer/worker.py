"""The entry point of each process torchrun starts: `python -m longvid_trainer.worker CONFIG.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from longvid_trainer.config import TrainConfig


def main(argv: list[str]) -> int:
    from longvid_trainer.distributed import teardown
    from longvid_trainer.loop import run

    if len(argv) != 1:
        print("usage: python -m longvid_trainer.worker CONFIG.json", file=sys.stderr)
        return 2
    try:
        run(TrainConfig.from_json(json.loads(Path(argv[0]).read_text())),
            log=lambda m: print(m, file=sys.stderr, flush=True))
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 2
    finally:
        teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
