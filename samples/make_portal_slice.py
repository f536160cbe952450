"""Cut the sample dump's slice of the Current Events Portal archive (see samples/README.md).

    .venv/bin/python samples/make_portal_slice.py                 # the bundled slice
    .venv/bin/python samples/make_portal_slice.py --help

Copies the archive's NDJSON lines dated FROM to TO (inclusive) unchanged, so the slice is
the archive's own records, and checks that it holds the seed event and says which events of
the seed page's Related list it holds. Re-running it gives the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

HERE = Path(__file__).parent
ARCHIVE = HERE.parent.parent / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"
SEED = HERE / "news" / "2016" / "11" / "21" / (
    "russia-deploys-its-s-400-missile-system-in-kaliningrad-an-exclave-between-poland-and-"
    "lithuania-in-response-to-nato-expansion-near-its-bo.md"
)
_LINK = re.compile(r"\]\(/news/\d{4}/\d{1,2}/\d{1,2}/([^)/]+)\.md\)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE, help="portal-2002-2025.ndjson.gz")
    parser.add_argument("--from", dest="start", default="2016-07-01", help="first day, YYYY-MM-DD")
    parser.add_argument("--to", dest="end", default="2017-06-30", help="last day, YYYY-MM-DD")
    parser.add_argument("--out", type=Path,
                        default=HERE / "news" / "portal-2016-07-to-2017-06.ndjson")
    args = parser.parse_args()

    ids = set()
    with gzip.open(args.archive, "rb") as archive, args.out.open("wb") as out:
        for line in archive:
            record = json.loads(line)
            if args.start <= record["date"] <= args.end:
                out.write(line)
                ids.add(record["id"])

    seed_id = SEED.stem
    related = _LINK.findall(SEED.read_text(encoding="utf-8").split("### Related:")[1])
    if seed_id not in ids:
        raise SystemExit(f"the slice lacks the seed event {seed_id}")
    held = [slug for slug in related if slug in ids]
    print(f"{args.out}: {len(ids)} events, {args.out.stat().st_size:,} bytes; "
          f"the seed event and {len(held)} of its {len(related)} related events")
    for slug in related:
        print(f"  {'held' if slug in ids else 'NOT in the archive'}: {slug}")


if __name__ == "__main__":
    main()
