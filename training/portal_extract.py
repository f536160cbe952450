"""Copy the train and tune years of the Current Events Portal archive into the repo.

    .venv/bin/python -m training.portal_extract [--corpus PATH]

Writes `training/data/portal-2010-2018.ndjson.gz`: every event dated 2010-01-01..2018-12-31,
with the fields the models learn from (id, date, headline, story, topics). The models are
retrained from this file alone, so one command rebuilds them on a machine without the corpus.

The split (README.md in this folder): 2010-2017 train, 2018 tune, 2019-2020 test for topics
(the Portal's sections stop in November 2020), 2019-2025 test for stories. The test years
never enter this folder.

Text: Wikipedia contributors, "Portal:Current events", CC BY-SA 4.0 (see README.md here).
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE.parents[1] / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"
OUT = HERE / "data" / "portal-2010-2018.ndjson.gz"
FIRST_YEAR, LAST_YEAR = 2010, 2018
FIELDS = ("id", "date", "headline", "story", "topics")


def train_and_tune_events(corpus: Path):
    with gzip.open(corpus, "rt", encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if FIRST_YEAR <= int(event["date"][:4]) <= LAST_YEAR:
                yield {field: event[field] for field in FIELDS if field in event}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS,
                        help="the archive beside the project (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=OUT, help="default: %(default)s")
    args = parser.parse_args(argv)
    # mtime 0: the same corpus gives the same bytes.
    with gzip.GzipFile(args.out, "wb", mtime=0) as out:
        count = 0
        for event in train_and_tune_events(args.corpus):
            out.write(json.dumps(event, ensure_ascii=False).encode() + b"\n")
            count += 1
    print(f"wrote {count} events to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
