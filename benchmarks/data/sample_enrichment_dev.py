"""Draw the headlines of the enrichment development set (benchmarks/data/enrichment_dev.jsonl).

    .venv/bin/python benchmarks/data/sample_enrichment_dev.py [--seed 20220701] > drawn.jsonl

Real reddit headlines from ../shared/corpora/reddit-news-headlines-2022-07.json, drawn with a
fixed seed, stratified over the subreddit (`category`) with the quotas below, so that every one
of the ten topics is represented (sports from r/sports, arts-culture from r/television,
science-technology from r/technology and r/science, US state news from r/florida, ...).
Titles already in tests/data/topics_dev.jsonl (used to tune the topic rules) are excluded, and
so are titles longer than MAX_CHARS (multi-paragraph posts are not headlines).

Then a top-up stage (TOP_UP below) adds 30 titles for the rarest topic, disasters.

The output has `text`, `subreddit`, `source` (and `stage` for the top-up) only: the labels (`countries`, `topic`) are
added by hand following benchmarks/data/LABELLING.md. Re-running with the same seed gives the
same headlines in the same order.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO.parent / "shared" / "corpora" / "reddit-news-headlines-2022-07.json"
EXCLUDE = REPO / "tests" / "data" / "topics_dev.jsonl"
SOURCE = "reddit-2022-07"
MAX_CHARS = 250

QUOTAS: dict[str, int] = {
    "worldnews": 70,
    "news": 60,
    "politics": 45,
    "technology": 30,
    "science": 30,
    "sports": 30,
    "television": 25,
    "ukraine": 20,
    "nottheonion": 15,
    "UpliftingNews": 15,
    "florida": 15,
    "miami": 8,
    "FLgovernment": 7,
}
"""Headlines drawn per subreddit (370 in all)."""

TOP_UP = 30
"""Stage 2: disasters and accidents are rare in every subreddit (3 of the first 362 labelled
headlines), so 30 more are drawn, with the same generator, from the titles not yet drawn that
match TOP_UP_CUES. All 30 are labelled and kept, whatever their topic turns out to be."""

TOP_UP_CUES = re.compile(
    r"\b(earthquake|quake|floods?|flooding|flooded|wildfires?|fires?|blaze|storms?|hurricane|"
    r"typhoon|cyclone|tornado(es)?|heat ?wave|drought|landslide|avalanche|eruption|volcano|"
    r"tsunami|crash(es|ed)?|derail(ed|s)?|collapsed?|explosion|blast|capsized?|sank|sinks|"
    r"drown(s|ed|ing)?|accident|rescued?|evacuat\w*|stranded|missing)\b",
    re.IGNORECASE,
)


def draw(seed: int, corpus: Path = CORPUS, exclude: Path = EXCLUDE) -> list[dict]:
    items = json.loads(corpus.read_text(encoding="utf-8"))
    excluded = {json.loads(line)["text"].strip() for line in exclude.open(encoding="utf-8")
                if line.strip()}
    seen: set[str] = set()
    by_subreddit: dict[str, list[str]] = {}
    for item in items:
        title = " ".join(item["title"].split())
        if not title or title in excluded or title in seen or len(title) > MAX_CHARS:
            continue
        seen.add(title)
        by_subreddit.setdefault(item["category"], []).append(title)
    rng = random.Random(seed)
    out: list[dict] = []
    for subreddit, quota in QUOTAS.items():
        titles = sorted(by_subreddit.get(subreddit, []))
        for title in rng.sample(titles, min(quota, len(titles))):
            out.append({"text": title, "subreddit": subreddit, "source": SOURCE})
    drawn = {row["text"] for row in out}
    rest = sorted((title, subreddit) for subreddit, titles in by_subreddit.items()
                  for title in titles if title not in drawn and TOP_UP_CUES.search(title))
    for title, subreddit in rng.sample(rest, min(TOP_UP, len(rest))):
        out.append({"text": title, "subreddit": subreddit, "source": SOURCE, "stage": "top-up"})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=20220701)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--exclude", type=Path, default=EXCLUDE)
    args = parser.parse_args(argv)
    for row in draw(args.seed, args.corpus, args.exclude):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
