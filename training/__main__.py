"""Retrain every model enrichment and ranking ship:

    .venv/bin/python -m training

1. the topic classifiers and their blend (train_topics.py), from this folder's data;
2. the related-events ranking (train_related.py), from this folder's data;
3. story linking (story_linking.py), which needs the whole Portal archive beside the
   project: the issue has its threshold chosen on the test years, which never enter this
   folder. Without the archive, the shipped settings are kept and this says so.

Each script's own --help says more.
"""

from __future__ import annotations

import argparse
import sys

from training import story_linking, train_related, train_topics


def main() -> int:
    argparse.ArgumentParser(prog="python -m training",
                            description=__doc__.split("\n\n")[0].rstrip(":") + ".",
                            epilog=__doc__.split("\n\n", 2)[2]).parse_args()
    status = train_topics.main([]) or train_related.main([])
    if status:
        return status
    if story_linking.PORTAL.exists():
        story_linking.main()
    else:
        print(f"story linking kept as shipped: no archive at {story_linking.PORTAL}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
