"""longvid-trainer: train VideoChat-Flash's projector and LLM from longvid's cached HiCo features.

It reads feature shards only through `longvid.hico.dataset` and never decodes video. Modules:

- `config`: the run's settings and the stage presets 1..4;
- `tokenizer`: the tiny tokenizer built in code, the special tokens every tokenizer needs;
- `conversation`: the token sequence and labels (qwen_2 and plain templates, time message, splice);
- `model`: the projector and the causal LM (loss only at supervised positions), the tiny Qwen2;
- `projector_io`: mm_projector.bin under VideoChat-Flash's key names;
- `cache_index`: what the feature cache holds (shard stats + catalog), annotation matching;
- `items`, `annotations`: conversations from the corpus's captions and from a data-mix YAML;
- `sampler`, `batches`, `features`: length-grouped order, step plan, collation, features by key;
- `setup`, `loop`, `checkpoint`, `export`: building the run, the training loop, resume, RUN/final;
- `distributed`, `launch`, `worker`, `ray_train`: DDP/FSDP2, torchrun and Ray Train launching;
- `infer`: answers about a cached sample, with progressive visual dropout.
"""
