"""Learn the related-events ranking from story headings: the Current Events Portal's, and our
reddit stories grouped by hand.

    .venv/bin/python -m training.train_related [--work /tmp/eventsearch-related]

Questions (related_stories.py): an event whose story another event shares, asked without
its story; every candidate `EventIndex.related_candidates` finds gets all its parts
(related.py), meaning included, and is relevant when it sits under the same story.

- Portal: the events of 2015-2018 in training/data/portal-2010-2018.ndjson.gz, indexed with
  their stories. Training questions are dated 2015-2017 (half of them, seeded, keep their
  story, as a labelled event would, so the model learns what a shared heading is worth);
  the tune questions, 2018, choose the regularisation.
- Reddit: training/data/related_dev.jsonl (255 headlines in 26 stories, grouped by hand;
  benchmarks/data/RELATED_LABELLING.md), indexed without stories. Trained on with the same
  total weight as the Portal's questions: newswire headlines are half of what we index, and
  the Portal alone taught the ranking to ignore the headline's words (more-like-this),
  which carry reddit's stories (0.84 precision@5 there against 0.86 for the hand-set
  weights, while 0.313 against 0.255 on the Portal's 2018).

Model: pairwise logistic regression (RankNet's loss, linear): for pairs of one relevant and
one irrelevant candidate of a question (up to 30 per question, seeded), the difference of
their parts should score above zero. Every weight is held at zero or above: each part is
evidence FOR one story, and left free the weights of correlated parts (text, meaning)
trade against each other. Fitted with SciPy's L-BFGS-B (SciPy comes with scikit-learn, the
`train` extra); C is chosen by precision@5 on the Portal's 2018, ranking every candidate.
Then one more logistic regression over the ranking's score, on the Portal's training
candidates, makes the score the chance of one story. The test years (2019 on), the reddit
window set and WikiTimes are never read here: benchmarks/related_eval.py reports them.
Writes service/search/related_model.json.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from indexer.enrich.pipeline import load_pipeline
from indexer.ingest import IngestOptions, ingest
from service.search.engine import EventIndex
from service.search.related import MODEL_PATH, PARTS, Candidate, with_meaning
from training.related_stories import Question, build_index, precision_at_k, questions, read_events

HERE = Path(__file__).resolve().parent
PORTAL = HERE / "data" / "portal-2010-2018.ndjson.gz"
REDDIT = HERE / "data" / "related_dev.jsonl"
TRAIN_YEARS = range(2015, 2018)
TUNE_YEARS = range(2018, 2019)
C_GRID = (0.01, 0.1, 1.0, 10.0)
PAIRS_PER_QUESTION = 30
SEED = 20220701


@dataclass
class Group:
    """The candidates of one question: their parts (one row each), whether each is
    relevant, and each one's story."""

    parts: np.ndarray
    relevant: np.ndarray
    stories: list[str | None]
    story: str


@dataclass(frozen=True)
class NonNegativeLogistic:
    """Logistic regression whose weights are all >= 0 (the bias, if any, is free)."""

    weights: np.ndarray
    bias: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, c: float, sample_weight: np.ndarray | None = None,
            with_bias: bool = True) -> NonNegativeLogistic:
        from scipy.optimize import minimize

        s = np.ones(len(y)) if sample_weight is None else sample_weight

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:-1], theta[-1]
            z = x @ w + b
            residual = s * (1.0 / (1.0 + np.exp(-z)) - y)
            value = s @ (np.logaddexp(0.0, z) - y * z) + w @ w / (2 * c)
            return value, np.append(x.T @ residual + w / c, residual.sum() if with_bias else 0.0)

        bounds = [(0.0, None)] * x.shape[1] + [(None, None) if with_bias else (0.0, 0.0)]
        theta = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B",
                         bounds=bounds).x
        return cls(theta[:-1], float(theta[-1]))

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + self.bias


def group(index: EventIndex, event, story: str, judged: dict[str, str | None] | None) -> Group:
    """`event`'s candidates with every part; `judged` (reddit) limits them to judged events."""
    found: list[Candidate] = index.related_candidates(event)
    if judged is not None:
        found = [c for c in found if c.event.id in judged]
    with_meaning(event, found)
    stories = [judged[c.event.id] if judged is not None else c.event.story for c in found]
    parts = np.array([[c.parts[name] for name in PARTS] for c in found]).reshape(-1, len(PARTS))
    return Group(parts, np.array([s == story for s in stories], dtype=int), stories, story)


def portal_groups(index: EventIndex, asked: list[Question], keep_story: set[str]) -> list[Group]:
    result = []
    for question in asked:
        event = question.event
        if event.id in keep_story:
            event = msgspec.structs.replace(event, story=question.story)
        result.append(group(index, event, question.story, None))
    return result


def reddit_groups(path: Path, work: Path) -> list[Group]:
    """Every hand-grouped headline whose story has another, asked of an index without
    stories; headlines the labeller was unsure of are neither asked nor ranked."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    judged = {row["id"]: row["story"] for row in rows if not row.get("unsure")}
    if not (work / "data").exists():
        work.mkdir(parents=True, exist_ok=True)
        (work / "events.ndjson").write_text("".join(
            json.dumps({"id": r["id"], "date": r["date"], "headline": r["text"]}) + "\n"
            for r in rows))
        ingest([work / "events.ndjson"], work / "data", IngestOptions(nlp=load_pipeline()))
    index = EventIndex.open(work / "data")
    sizes = Counter(judged.values())
    return [group(index, index.record(id_), story, judged) for id_, story in judged.items()
            if story and sizes[story] >= 2]


def pairs(groups: list[Group], rng: random.Random) -> np.ndarray:
    """Differences of (relevant - irrelevant) parts, up to PAIRS_PER_QUESTION a question."""
    rows = []
    for g in groups:
        relevant = np.flatnonzero(g.relevant)
        irrelevant = np.flatnonzero(g.relevant == 0)
        if len(relevant) and len(irrelevant):
            for _ in range(PAIRS_PER_QUESTION):
                rows.append(g.parts[rng.choice(relevant)] - g.parts[rng.choice(irrelevant)])
    return np.array(rows).reshape(-1, len(PARTS))


def mean_precision(weights: np.ndarray, groups: list[Group]) -> float:
    """Mean precision@5 when every candidate is ranked by `weights`."""
    scores = []
    for g in groups:
        order = np.argsort(-(g.parts @ weights), kind="stable")
        scores.append(precision_at_k(g.story, [g.stories[i] for i in order]))
    return statistics.mean(scores) if scores else 0.0


def fit_ranking(portal: np.ndarray, reddit: np.ndarray, c: float) -> np.ndarray:
    """Weights from both sets of pairs, each set with the same total weight."""
    x = np.vstack([portal, reddit])
    weight = np.concatenate([np.ones(len(portal)), np.full(len(reddit), len(portal) / len(reddit))])
    symmetric = np.vstack([x, -x])
    labels = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    return NonNegativeLogistic.fit(symmetric, labels, c, np.concatenate([weight, weight]),
                                   with_bias=False).weights


def calibrated(weights: np.ndarray, groups: list[Group]) -> tuple[np.ndarray, float]:
    """The weights scaled, and a bias, so that the score is the chance of one story."""
    scores = np.concatenate([g.parts @ weights for g in groups])[:, None]
    relevant = np.concatenate([g.relevant for g in groups])
    fit = NonNegativeLogistic.fit(scores, relevant, c=100.0)
    return weights * fit.weights[0], fit.bias


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--portal", type=Path, default=PORTAL, help="default: %(default)s")
    parser.add_argument("--reddit", type=Path, default=REDDIT, help="default: %(default)s")
    parser.add_argument("--work", type=Path, default=Path("/tmp/eventsearch-related"),
                        help="indexes and candidates, reused while the inputs are the same")
    parser.add_argument("--train-questions", type=int, default=4000)
    parser.add_argument("--tune-questions", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="default: %(default)s")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    train, tune = candidate_groups(args)
    reddit = reddit_groups(args.reddit, args.work / "reddit")
    rng = random.Random(SEED)
    portal_pairs, reddit_pairs = pairs(train, rng), pairs(reddit, rng)
    print(f"{len(train)} Portal training questions ({len(portal_pairs)} pairs), {len(reddit)} "
          f"reddit ({len(reddit_pairs)} pairs), {len(tune)} Portal tune questions",
          file=sys.stderr)
    tuned = []
    for c in C_GRID:
        weights = fit_ranking(portal_pairs, reddit_pairs, c)
        precision = mean_precision(weights, tune)
        print(f"C={c}: Portal 2018 precision@5 {precision:.4f}, reddit (trained on) "
              f"{mean_precision(weights, reddit):.4f}", file=sys.stderr)
        tuned.append((precision, -c, weights))
    precision, minus_c, weights = max(tuned, key=lambda t: t[:2])
    weights, bias = calibrated(weights, train)
    result = {
        "weights": {name: round(float(w), 4) for name, w in zip(PARTS, weights, strict=True)},
        "bias": round(bias, 4),
        "trained": {
            "by": "training/train_related.py",
            "data": f"{args.portal.name} (Portal {TRAIN_YEARS.start}-{TUNE_YEARS.stop - 1}), "
                    f"{args.reddit.name}",
            "portal_train_questions": len(train), "reddit_questions": len(reddit),
            "tune_questions": len(tune), "C": -minus_c,
            "tune_precision_at_5": round(precision, 4),
            "tune_precision_at_5_by_C": {str(-m): round(p, 4) for p, m, _ in tuned},
            "seconds": round(time.perf_counter() - started, 1),
        },
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=1))
    return 0


def candidate_groups(args) -> tuple[list[Group], list[Group]]:
    """The Portal's training and tune questions with their candidates (cached in --work)."""
    rows = read_events(args.portal, TRAIN_YEARS.start, TUNE_YEARS.stop - 1)
    index = build_index(rows, args.work / "portal")
    cache = args.work / f"portal-groups-{args.train_questions}-{args.tune_questions}.pickle"
    if cache.exists() and cache.stat().st_mtime > (args.work / "portal").stat().st_mtime:
        return pickle.loads(cache.read_bytes())
    train = questions(index, rows, TRAIN_YEARS, args.train_questions, SEED)
    tune = questions(index, rows, TUNE_YEARS, args.tune_questions, SEED)
    keep = {q.event.id for q in random.Random(SEED).sample(train, len(train) // 2)}
    groups = portal_groups(index, train, keep), portal_groups(index, tune, set())
    cache.write_bytes(pickle.dumps(groups))
    return groups


if __name__ == "__main__":
    raise SystemExit(main())
