"""Pipeline recipes (YAML), shipped in the wheel as longvid.pipelines; `longvid.yaml` is the default."""
