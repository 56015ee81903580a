"""simgrade: grade the similarity-learning homework and verify the claims behind its key.

The grader is split by verb, data flowing one way:
discover -> sandbox -> compare -> diagnose -> score -> report.
"""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
KEY_PATH = PROJECT_ROOT / "answers" / "key.toml"
