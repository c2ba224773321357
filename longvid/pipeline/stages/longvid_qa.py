"""`longvid_qa`: LongVid question-answer pairs for each long sample, from its timeline, through an
OpenAI-compatible chat endpoint (longvid.enrich.longvid_qa), checked before they are kept; kept
pairs go into the sample's .json (`qa`: kind, question, answer, start, end, origin) and the clips
table, rejected ones are `errors` rows (stage longvid_qa, cause qa_rejected, the reason first in
the detail).

    - name: longvid_qa
      endpoint: http://gpu-node:8000/v1
      model: Qwen2.5-72B-Instruct
      kinds: [captioning, temporal_grounding, event_relationship, scene_relationship, counting]
      pairs: 2                       # pairs asked per kind
      sample_kinds: [long]           # which samples (kind column) get QA
"""

from __future__ import annotations

from longvid.pipeline.enriching import CHAT_PARAMS, chat_client
from longvid.pipeline.stage import Stage, VideoWork
from longvid.run.resources import Resources


def generate(work: VideoWork) -> None:
    from longvid.enrich.longvid_qa import KINDS, generate_qa

    p = work.params.get("longvid_qa", {})
    wanted = set(p.get("sample_kinds", ["long"]))
    docs = [s["json"] for s in work.samples if s["json"]["kind"] in wanted]
    if not docs:
        return
    result = generate_qa(chat_client(work, p), docs, tuple(p.get("kinds", KINDS)), int(p.get("pairs", 2)))
    for sample in work.samples:
        if sample["key"] in result.kept:
            sample["json"]["qa"] = result.kept[sample["key"]]
    for r in result.rejected:
        work.error("longvid_qa", "qa_rejected", f"{r['reason']} ({r['kind']}): {r['detail']}", locator=r["key"])


STAGE = Stage("longvid_qa", generate, "video", needs=("samples",), gives=("qa",), resources=Resources(cpus=0.25),
              doc="LongVid QA pairs from the timeline, checked", params=(*CHAT_PARAMS, "kinds", "pairs", "sample_kinds"))
