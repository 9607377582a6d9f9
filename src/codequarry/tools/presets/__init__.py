"""Presets: ready-made settings for known tools (``preset = "tamarin"``, ``preset = "lean"``)."""

PRESETS = ("tamarin", "lean")
ONLY = {  # keys that mean something only under one preset
    "theories": "tamarin",
    "lemmas": "tamarin",
    "defines": "tamarin",
    "extra_args": "tamarin",
    "extractor": "lean",
    "imports": "lean",
    "read": "lean",
}
