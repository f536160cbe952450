"""Draw reddit headlines for the topic classifier's own training labels (topic_train_c.jsonl).

    .venv/bin/python -m training.draw_topic_headlines [--seed 20260125] > drawn.jsonl

Why: the labellers' reddit batches (training/data/) follow the corpus, where sports,
science and disasters are rare (5 sports headlines in 800), so the classifier learnt those
topics from our written sample headlines only. This draws, with a fixed seed, from the
subreddits where those topics live (QUOTAS) plus a top-up of disaster words, excluding every
headline already labelled anywhere and every headline of the yardstick
(benchmarks/data/enrichment_dev.jsonl). The drawn titles are labelled by hand per
benchmarks/data/LABELLING.md into training/data/topic_train_c.jsonl; all are kept, whatever
their topic turns out to be.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys

from training.train_topics import REDDIT_FILES, REPO, SAMPLE_FILES, YARDSTICK, normalise

CORPUS = REPO.parent / "shared" / "corpora" / "reddit-news-headlines-2022-07.json"
SOURCE = "reddit-2022-07"
MAX_CHARS = 250
QUOTAS = {"sports": 40, "science": 30, "technology": 25, "television": 20, "worldnews": 20,
          "nottheonion": 15, "UpliftingNews": 15}
TOP_UP = 15
TOP_UP_CUES = re.compile(
    r"\b(earthquake|quake|floods?|flooding|wildfires?|fires?|blaze|storms?|hurricane|heat ?wave|"
    r"drought|landslide|eruption|crash(es|ed)?|derail(ed|s)?|collapsed?|explosion|blast|"
    r"capsized?|drown(s|ed|ing)?|accident|rescued?|evacuat\w*|stranded)\b",
    re.IGNORECASE,
)


def _unlabelled_by_subreddit() -> dict[str, list[str]]:
    excluded = set()
    for path in [*SAMPLE_FILES, *REDDIT_FILES, YARDSTICK]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                excluded.add(normalise(json.loads(line)["text"]))
    by_subreddit: dict[str, list[str]] = {}
    seen: set[str] = set()
    for item in json.loads(CORPUS.read_text(encoding="utf-8")):
        title = " ".join(item["title"].split())
        key = normalise(title)
        if not title or key in excluded or key in seen or len(title) > MAX_CHARS:
            continue
        seen.add(key)
        by_subreddit.setdefault(item["category"], []).append(title)
    return by_subreddit


def draw(seed: int) -> list[dict]:
    by_subreddit = _unlabelled_by_subreddit()
    rng = random.Random(seed)
    out = []
    for subreddit, quota in QUOTAS.items():
        titles = sorted(by_subreddit.get(subreddit, []))
        out += [{"text": t, "subreddit": subreddit, "source": SOURCE}
                for t in rng.sample(titles, min(quota, len(titles)))]
    drawn = {row["text"] for row in out}
    rest = sorted((t, s) for s, titles in by_subreddit.items() for t in titles
                  if t not in drawn and TOP_UP_CUES.search(t))
    out += [{"text": t, "subreddit": s, "source": SOURCE, "stage": "top-up"}
            for t, s in rng.sample(rest, min(TOP_UP, len(rest)))]
    return out


def draw_rest(seed: int) -> list[dict]:
    """Every headline not labelled yet, in a seeded random order (the labellers' batches H-N)."""
    titles = sorted((t, s) for s, ts in _unlabelled_by_subreddit().items() for t in ts)
    random.Random(seed).shuffle(titles)
    return [{"text": t, "subreddit": s, "source": SOURCE} for t, s in titles]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20260125)
    parser.add_argument("--rest", action="store_true",
                        help="draw every headline not labelled yet instead of the quotas")
    args = parser.parse_args(argv)
    for row in (draw_rest if args.rest else draw)(args.seed):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
