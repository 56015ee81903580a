#!/usr/bin/env python3
"""simgrade's command line: ``python grader.py SUBMISSION_DIR`` and the other commands of CONTRACT.md."""
import sys

from simgrade.cli import main

if __name__ == "__main__":
    sys.exit(main())
