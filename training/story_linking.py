"""Tune, calibrate and evaluate story linking (indexer/story_links.py); writes its settings.

The issue's split on the Current Events Portal archive: train 2010-2017, tune 2018, test
2019-2020 (and 2021-2025 reported too). Every evaluated event is a *labelled* one whose
story is hidden: it is left out of the neighbour pool and must get its own story back from
the other labelled events around it (leave-one-out; the pool never holds the event itself).

1. For each setting of the grid (window in days, neighbours k, vote power), the vote's
   features are computed for the hidden events of 2010-2017 (pool: labelled events up to
   2017-12-31) and a logistic regression from them to "the winner is the story" is fitted
   (scikit-learn): the confidence.
2. The setting is chosen on 2018 (pool: labelled events up to 2018-12-31): the most 2018
   events covered at precision >= 0.90 (with a threshold chosen on 2018 for that
   comparison only).
3. With that setting, the threshold is chosen *on the test years 2019-2020*, as the issue
   asks: the lowest confidence (in steps of 0.01) at which the proposals at or above it are
   >= 90% correct. Precision and coverage at it are reported for the test years, for 2018,
   for 2021-2025, and, for information only, for the held-out WikiTimes 2015-09 corpus
   (never used to choose anything).

A proposal is correct when it equals the hidden story exactly ("strict"); "outer" also
accepts the same outermost heading, case-blind. "hard" is the subset of hidden events whose
headline shares no content word with their story's text, which is how the archive's
story-less events lost theirs (the corpus README): a harder, closer stand-in for them.

    .venv/bin/python training/story_linking.py            # tune, write settings + results
    .venv/bin/python training/story_linking.py --quick    # a small grid, for a smoke run
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import itertools
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spacy.lang.en.stop_words import STOP_WORDS

from indexer.enrich.topic_embedding import embed
from indexer.story_links import (
    FEATURES,
    SETTINGS_FILE,
    Pool,
    Settings,
    day_number,
    propose,
    story_key,
)

CORPORA = REPO.parent / "shared" / "corpora"
PORTAL = CORPORA / "portal-2002-2025.ndjson.gz"
WIKITIMES = CORPORA / "wikitimes-2015-09.json"
TARGET_PRECISION = 0.90
GRID = {"window_days": (14,), "neighbours": (20,), "power": (4.0,)}
"""The setting chosen by earlier sweeps (2018 coverage at precision 0.90, `--sweep` reruns
them): windows 3 and 7 days x k 5/10/20 x powers 1/4/8 gave 0.025-0.075 (best 7/10/4);
then windows 7/14/30 x k 10/20 at power 4 gave 0.075, 0.073, 0.080, 0.082, 0.061, 0.063."""
SWEEP = {"window_days": (3, 7, 14, 30), "neighbours": (5, 10, 20), "power": (1.0, 4.0, 8.0)}
QUICK_GRID = {"window_days": (3, 7), "neighbours": (10,), "power": (4.0,)}
MIN_SIMILARITY = (0.3, 0.4, 0.5, 0.6)
"""Floors tried: on the archive, a dense pool, a floor barely matters, but in a sparse one
(a small dump) the few events in the window would otherwise win the vote with full share."""
FLOOR_TOLERANCE = 0.005
THRESHOLDS = [round(t, 2) for t in np.arange(0.0, 1.0, 0.01)]
SPLITS = {"train": (2010, 2017), "tune": (2018, 2018), "test": (2019, 2020),
          "later": (2021, 2025)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--portal", type=Path, default=PORTAL)
    parser.add_argument("--wikitimes", type=Path, default=WIKITIMES)
    parser.add_argument("--quick", action="store_true", help="a two-setting grid")
    parser.add_argument("--sweep", action="store_true", help="the whole sweep (slow)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/story_linking.json")
    parser.add_argument("--settings", type=Path, default=SETTINGS_FILE,
                        help="where the chosen settings are written")
    parser.add_argument("--without", nargs="*", default=[], choices=FEATURES,
                        help="features left out of the confidence (coefficient 0)")
    parser.add_argument("--vectors", type=Path,
                        help="a .npy file keeping the archive's headline vectors between runs")
    args = parser.parse_args()

    started = time.perf_counter()
    with gzip.open(args.portal) as lines:
        events = [json.loads(line) for line in lines]
    days = np.array([day_number(dt.date.fromisoformat(e["date"])) for e in events])
    years = np.array([int(e["date"][:4]) for e in events])
    if args.vectors and args.vectors.exists():
        vectors = np.load(args.vectors)
    else:
        vectors = embed([e["headline"] for e in events])
        if args.vectors:
            np.save(args.vectors, vectors)
    labelled = np.array([i for i, e in enumerate(events) if e.get("story")])
    stories = [events[i]["story"] for i in labelled]
    hard = [not (_content_words(events[i]["headline"]) & _content_words(events[i]["story"]))
            for i in labelled]
    print(f"{len(events)} events, {len(labelled)} with a story; embedded in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)

    def hidden(split: str) -> np.ndarray:  # positions in `labelled`
        first, last = SPLITS[split]
        return np.flatnonzero((years[labelled] >= first) & (years[labelled] <= last))

    def pool_until(year: int | None) -> tuple[Pool, np.ndarray]:
        keep = np.arange(len(labelled)) if year is None else np.flatnonzero(
            years[labelled] <= year)
        where = np.full(len(labelled), -1)
        where[keep] = np.arange(len(keep))
        pool = Pool(days[labelled[keep]], [stories[i] for i in keep], vectors[labelled[keep]])
        return pool, where

    pools = {"train": pool_until(2017), "tune": pool_until(2018), "test": pool_until(None)}
    pools["later"] = pools["test"]

    def run(split: str, config: Settings) -> list:
        pool, where = pools[split]
        targets = hidden(split)
        return propose(pool, days[labelled[targets]], vectors[labelled[targets]], config,
                       leave_out=where[targets])

    grid = QUICK_GRID if args.quick else SWEEP if args.sweep else GRID
    trials = []
    for window, k, power in itertools.product(*grid.values()):
        base = Settings(window, k, power, (0.0,) * len(FEATURES), 0.0, 0.5)
        config = calibrated(base, run("train", base), truth(stories, hidden("train")),
                            args.without)
        tune = scored(run("tune", config), truth(stories, hidden("tune")))
        threshold = choose_threshold(tune)
        trial = {"window_days": window, "neighbours": k, "power": power,
                 "min_similarity": 0.0, "tune_threshold": threshold, **at(tune, threshold)}
        trials.append((trial, config))
        print(f"window {window:>2} k {k:>2} power {power:>3}: 2018 coverage "
              f"{trial['coverage']:.3f} at precision {trial['precision']:.3f} "
              f"(threshold {threshold})", file=sys.stderr)
    best, config = max(trials, key=lambda tc: (tc[0]["coverage"], -tc[0]["window_days"]))
    # Then the similarity floor, with the best setting (MIN_SIMILARITY says why).
    for floor in MIN_SIMILARITY:
        base = Settings(config.window_days, config.neighbours, config.power,
                        (0.0,) * len(FEATURES), 0.0, 0.5, floor)
        floored = calibrated(base, run("train", base), truth(stories, hidden("train")),
                             args.without)
        tune = scored(run("tune", floored), truth(stories, hidden("tune")))
        threshold = choose_threshold(tune)
        trial = {**best, "min_similarity": floor, "tune_threshold": threshold,
                 **at(tune, threshold)}
        trials.append((trial, floored))
        print(f"min similarity {floor}: 2018 coverage {trial['coverage']:.3f} at precision "
              f"{trial['precision']:.3f} (threshold {threshold})", file=sys.stderr)
        if trial["coverage"] >= best["coverage"] - FLOOR_TOLERANCE:
            best, config = trial, floored  # the highest floor that keeps 2018's coverage

    results = {split: scored(run(split, config), truth(stories, hidden(split)),
                             [hard[i] for i in hidden(split)])
               for split in ("tune", "test", "later")}
    threshold = choose_threshold(results["test"])
    config = Settings(config.window_days, config.neighbours, config.power,
                      config.coefficients, config.intercept, threshold, config.min_similarity)
    wikitimes = wikitimes_rows(args.wikitimes, pools["test"][0], config) \
        if args.wikitimes.exists() else None
    unlabelled = story_less_coverage(events, days, years, vectors, pools["test"][0], config)

    table = {name: at(rows, threshold) for name, rows in results.items()}
    if wikitimes:
        table["wikitimes-2015-09"] = at(wikitimes, threshold)
    print_table(table, threshold, results, unlabelled)
    write_settings(args.settings, config)
    report = {
        "split": {k: f"{a}-{b}" for k, (a, b) in SPLITS.items()},
        "chosen": {"window_days": config.window_days, "neighbours": config.neighbours,
                   "power": config.power, "min_similarity": config.min_similarity,
                   "threshold": threshold,
                   "threshold_chosen_on": "test (2019-2020), precision >= 0.90",
                   "coefficients": dict(zip(FEATURES, config.coefficients)),
                   "intercept": config.intercept},
        "at_threshold": table,
        "story_less_events_suggested": unlabelled,
        "curves": {name: curve(rows) for name, rows in results.items()},
        "grid_on_2018": [t for t, _ in trials],
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} and {args.settings}", file=sys.stderr)


def truth(stories: list[str], targets: np.ndarray) -> list[str]:
    return [stories[i] for i in targets]


def calibrated(base: Settings, proposals: list, answers: list[str],
               without: list[str] = ()) -> Settings:
    """`base` with the logistic regression from vote features to correctness."""
    from sklearn.linear_model import LogisticRegression

    used = [i for i, name in enumerate(FEATURES) if name not in without]
    rows = [(p.features, p.story == a) for p, a in zip(proposals, answers) if p]
    x = np.array([f for f, _ in rows])[:, used]
    y = np.array([c for _, c in rows])
    model = LogisticRegression(C=10.0, max_iter=1000).fit(x, y)
    coefficients = [0.0] * len(FEATURES)
    for i, c in zip(used, model.coef_[0]):
        coefficients[i] = round(float(c), 4)
    return Settings(base.window_days, base.neighbours, base.power, tuple(coefficients),
                    round(float(model.intercept_[0]), 4), base.threshold, base.min_similarity)


_WORD = re.compile(r"[A-Za-z]{4,}")


def _content_words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)} - STOP_WORDS


def scored(proposals: list, answers: list[str], hard: list[bool] | None = None) -> list[dict]:
    """One row per hidden event: its proposal's confidence and whether it is right."""
    rows = []
    for i, (p, answer) in enumerate(zip(proposals, answers)):
        outer = story_key(answer.split(" > ")[0])
        rows.append({"confidence": p.confidence if p else None,
                     "strict": bool(p and p.story == answer),
                     "outer": bool(p and story_key(p.story.split(" > ")[0]) == outer),
                     "hard": bool(hard and hard[i])})
    return rows


def at(rows: list[dict], threshold: float, subset: bool = True) -> dict:
    shown = [r for r in rows if r["confidence"] is not None and r["confidence"] >= threshold]
    n = len(shown)
    result = {"events": len(rows), "suggested": n,
              "coverage": round(n / len(rows), 4) if rows else 0.0,
              "precision": round(sum(r["strict"] for r in shown) / n, 4) if n else 0.0,
              "precision_outer": round(sum(r["outer"] for r in shown) / n, 4) if n else 0.0}
    hard = [r for r in rows if r["hard"]]
    if subset and hard:
        result["hard"] = at(hard, threshold, subset=False)
    return result


def choose_threshold(rows: list[dict]) -> float:
    for threshold in THRESHOLDS:
        result = at(rows, threshold)
        if result["suggested"] and result["precision"] >= TARGET_PRECISION:
            return threshold
    return 1.0


def curve(rows: list[dict]) -> list[dict]:
    return [{"threshold": t, **at(rows, t)} for t in THRESHOLDS[::5]]


def wikitimes_rows(path: Path, pool: Pool, config: Settings) -> list[dict]:
    """WikiTimes 2015-09 events with a story, linked against the archive's labelled events
    (which lack 2015-09 itself): reported, never tuned on."""
    items = [e for e in json.loads(path.read_text()) if e.get("belongsToStory")]
    days = [day_number(dt.date.fromisoformat(e["date"][:10])) for e in items]
    vectors = embed([e["description"].strip() for e in items])
    proposals = propose(pool, days, vectors, config)
    return scored(proposals, [e["belongsToStory"]["name"] for e in items])


def story_less_coverage(events, days, years, vectors, pool: Pool, config: Settings) -> dict:
    """Share of the archive's events *without* a story that get a suggestion at or above
    the threshold, by split (their precision is unknown: nothing to compare with)."""
    out = {}
    for split, (first, last) in SPLITS.items():
        targets = np.array([i for i, e in enumerate(events)
                            if not e.get("story") and first <= years[i] <= last])
        proposals = propose(pool, days[targets], vectors[targets], config)
        shown = sum(1 for p in proposals if p and p.confidence >= config.threshold)
        out[split] = {"events": len(targets), "suggested": shown,
                      "coverage": round(shown / len(targets), 4) if len(targets) else 0.0}
    return out


def print_table(table: dict, threshold: float, results: dict, unlabelled: dict) -> None:
    print(f"\nthreshold {threshold} (chosen on the test years 2019-2020 for precision >= 0.90)")
    print(f"{'hidden stories':<26}{'events':>8}{'suggested':>11}{'coverage':>10}"
          f"{'precision':>11}{'outer':>8}")
    for name, r in table.items():
        split = {"tune": "tune 2018", "test": "test 2019-2020",
                 "later": "2021-2025"}.get(name, name)
        for label, row in ((split, r), (f"  hard ({split})", r.get("hard"))):
            if row:
                print(f"{label:<26}{row['events']:>8}{row['suggested']:>11}"
                      f"{row['coverage']:>10.3f}{row['precision']:>11.3f}"
                      f"{row['precision_outer']:>8.3f}")
    print("\ntest 2019-2020 by threshold:")
    print(f"{'threshold':>10}{'coverage':>10}{'precision':>11}{'outer':>8}")
    for point in curve(results["test"])[::2]:
        print(f"{point['threshold']:>10.2f}{point['coverage']:>10.3f}"
              f"{point['precision']:>11.3f}{point['precision_outer']:>8.3f}")
    print("\nevents without a story given a suggestion at the threshold:")
    for split, r in unlabelled.items():
        print(f"  {split:<8}{r['suggested']:>7} of {r['events']:>6} ({r['coverage']:.3f})")


def write_settings(path: Path, config: Settings) -> None:
    path.write_text(json.dumps({
        "window_days": config.window_days, "neighbours": config.neighbours,
        "power": config.power, "min_similarity": config.min_similarity,
        "coefficients": dict(zip(FEATURES, config.coefficients)),
        "intercept": config.intercept, "threshold": config.threshold,
        "trained_by": "training/story_linking.py",
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
