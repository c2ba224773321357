"""Model-based enrichment of samples: the library the scorer, captioner and filter stages call.

| module | its one job |
|---|---|
| `frames` | frames sampled from a sample, decoded once and shared by every scorer (`SharedFrames`) |
| `clip_score` | open_clip text-video similarity from local weights; image and text embeddings kept |
| `motion` | motion from next-frame luma differences |
| `scenes` | scene cuts from FFmpeg's scene score, and the scenes they bound |
| `near_dup` | near-duplicate samples by embedding, within and across sources |
| `coca` | open_clip CoCa captions from local weights |
| `vlm_client` | an OpenAI-compatible chat client: batching, concurrency, retries, budget, disk cache |
| `vlm_caption` | the chat request asking a vision-language model for a caption of sampled frames |
| `longvid_qa` | LongVid question-answer pairs from a long sample's timeline, generated and checked |

Heavy imports (torch, open_clip) stay inside the functions that need them.
"""
