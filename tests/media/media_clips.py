"""Encoder settings and sizes shared by the media tests and their fixtures."""

# B-frames (decode order differs from display order) and short GOPs (so that sparse targets make
# the planner seek).
BFRAMES = {"preset": "veryfast", "bf": "3", "g": "12", "crf": "18"}
NO_BFRAMES = {"preset": "ultrafast", "g": "12", "crf": "18"}

INDEXED_FRAMES = 150  # 6 s at 25 fps
FPS = 25
