"""The data contracts, read at run time: one Arrow schema per catalog table
(`<table>.arrow.json`) and the JSON Schema of every sample's `.json` member
(`sample.schema.json`). Load them through longvid.catalog.schema."""
