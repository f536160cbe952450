"""Retrain every model enrichment and ranking ship, from the data in this folder:

    .venv/bin/python -m training

The topic classifier first (the related-events ranking is trained on events it enriched),
then the related-events ranking. Each script's own --help says more.
"""

from __future__ import annotations

from training import train_related, train_topics


def main() -> int:
    return train_topics.main([]) or train_related.main([])


if __name__ == "__main__":
    raise SystemExit(main())
