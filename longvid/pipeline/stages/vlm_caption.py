"""`vlm_caption`: a caption of each sample from a vision-language model behind an OpenAI-compatible
chat endpoint (vLLM, SGLang, ...): the sampled frames as images (longvid.enrich.vlm_caption), sent
with batching, retries, the corpus's request cache and budget (longvid.enrich.vlm_client). Added to
the sample's captions (kind `generated`, origin `vlm:<model>`); a sample the endpoint could not
answer is an `errors` row (stage vlm_caption, cause vlm_failed) and keeps its other captions.

    - name: vlm_caption
      endpoint: http://gpu-node:8000/v1
      model: Qwen2-VL-7B-Instruct
      concurrency: 8
      budget: 100000                 # requests this corpus may send in all (CORPUS/cache/chat/spent)
      images: 8                      # frames sent per sample
"""

from __future__ import annotations

from longvid.pipeline.enriching import CHAT_PARAMS, FRAME_STAGES, add_caption, chat_client, frames_of
from longvid.pipeline.stage import Stage, VideoWork


def caption(work: VideoWork) -> None:
    from longvid.enrich.vlm_caption import PROMPT, caption_request, caption_text
    from longvid.enrich.vlm_client import ChatFailure

    p = work.params.get("vlm_caption", {})
    client = chat_client(work, p)
    requests = [caption_request(frames_of(work, s), str(p.get("prompt", PROMPT)), int(p.get("images", 8)))
                for s in work.samples]
    for sample, reply in zip(work.samples, client.ask_many(requests)):
        if isinstance(reply, ChatFailure):
            work.error("vlm_caption", "vlm_failed", f"{reply.reason}: {reply.detail}", locator=sample["key"])
            continue
        text = caption_text(reply.text)
        if text:
            add_caption(sample, text, f"vlm:{client.config.model}")


STAGE = Stage("vlm_caption", caption, "video", needs=("samples", "frames"), gives=("captions.generated",),
              resources=FRAME_STAGES, doc="captions from an OpenAI-compatible VLM endpoint",
              params=(*CHAT_PARAMS, "prompt", "images"))
