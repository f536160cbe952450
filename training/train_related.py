"""Learn the related-events ranking from the Current Events Portal's story headings.

    .venv/bin/python -m training.train_related [--work /tmp/eventsearch-related]

Data: the Portal events of 2015-2018 in training/data/portal-2010-2018.ndjson.gz, indexed
with their stories by the product's own ingest (related_stories.py says how questions are
asked and judged). For each question, every candidate `EventIndex.related_candidates` finds
gets all its parts (related.py), meaning included; a candidate under the same story
heading is a positive example, any other a negative one.

Half of the training questions (seeded) keep their story, as a labelled event would; the
other half are asked without it. So the model learns the weight of a shared story heading
and how to do without one.

Model: logistic regression over the parts (scikit-learn, the `train` extra); its
regularisation C is chosen by precision@5 on the tune year's questions, ranking every
candidate. Train: questions dated 2015-2017; tune: 2018. The test years (2019 on) are never
read here: benchmarks/related_eval.py reports them. Writes service/search/related_model.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

from service.search.engine import EventIndex
from service.search.related import MODEL_PATH, PARTS, Candidate, with_meaning
from training.related_stories import Question, build_index, precision_at_k, questions, read_events

HERE = Path(__file__).resolve().parent
PORTAL = HERE / "data" / "portal-2010-2018.ndjson.gz"
TRAIN_YEARS = range(2015, 2018)
TUNE_YEARS = range(2018, 2019)
C_GRID = (0.01, 0.1, 1.0, 10.0)
SEED = 20220701


def candidates(index: EventIndex, question: Question) -> list[Candidate]:
    found = index.related_candidates(question.event)
    with_meaning(question.event, found)
    return found


def examples(index: EventIndex, asked: list[Question], keep_story: set[str]):
    """Feature rows and labels of every candidate of every question; one group per question."""
    groups = []
    for question in asked:
        event = question.event
        if event.id in keep_story:
            event = msgspec.structs.replace(event, story=question.story)
        found = candidates(index, Question(event, question.story))
        rows = np.array([[c.parts[name] for name in PARTS] for c in found]).reshape(-1, len(PARTS))
        labels = np.array([c.event.story == question.story for c in found], dtype=int)
        groups.append((rows, labels, [c.event.story for c in found]))
    return groups


def tune_precision(model, groups, story_of: list[str]) -> float:
    """Mean precision@5 when every candidate is ranked by the model."""
    scores = []
    for (rows, _, stories), story in zip(groups, story_of, strict=True):
        if not len(rows):
            scores.append(0.0)
            continue
        order = np.argsort(-model.decision_function(rows), kind="stable")
        scores.append(precision_at_k(story, [stories[i] for i in order]))
    return statistics.mean(scores)


def main(argv: list[str] | None = None) -> int:
    from sklearn.linear_model import LogisticRegression

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=PORTAL, help="default: %(default)s")
    parser.add_argument("--work", type=Path, default=Path("/tmp/eventsearch-related"),
                        help="index of the training events, reused while they are the same")
    parser.add_argument("--train-questions", type=int, default=4000)
    parser.add_argument("--tune-questions", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    rows = read_events(args.data, TRAIN_YEARS.start, TUNE_YEARS.stop - 1)
    index = build_index(rows, args.work)
    train = questions(index, rows, TRAIN_YEARS, args.train_questions, SEED)
    tune = questions(index, rows, TUNE_YEARS, args.tune_questions, SEED)
    keep = {q.event.id for q in random.Random(SEED).sample(train, len(train) // 2)}
    train_groups = examples(index, train, keep)
    tune_groups = examples(index, tune, set())
    x = np.vstack([rows_ for rows_, _, _ in train_groups])
    y = np.concatenate([labels for _, labels, _ in train_groups])
    print(f"{len(rows)} events indexed; {len(train)} training questions ({len(x)} candidates, "
          f"{y.sum()} same story), {len(tune)} tune questions", file=sys.stderr)
    tuned = []
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        precision = tune_precision(model, tune_groups, [q.story for q in tune])
        print(f"C={c}: tune precision@5 {precision:.4f}", file=sys.stderr)
        tuned.append((precision, -c, model))
    precision, minus_c, model = max(tuned, key=lambda t: t[:2])
    result = {
        "weights": {name: round(float(w), 4) for name, w in zip(PARTS, model.coef_[0])},
        "bias": round(float(model.intercept_[0]), 4),
        "trained": {
            "by": "training/train_related.py",
            "data": f"{args.data.name}: Portal events {TRAIN_YEARS.start}-{TUNE_YEARS.stop - 1}",
            "train_questions": len(train), "train_candidates": len(x),
            "tune_questions": len(tune), "C": -minus_c,
            "tune_precision_at_5": round(precision, 4),
            "tune_precision_at_5_by_C": {str(-m): round(p, 4) for p, m, _ in tuned},
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
