"""Build-time tools, not used at run time: the JSON Schema generator (`make schemas`)."""
