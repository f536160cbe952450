"""Choose how the topic component blends its experts and cue rules, on the tune sets.

    .venv/bin/python -m training.train_topics --only blend

Two experts (topics.py): `ours`, trained on our labelled headlines, and `portal`, trained on
the Current Events Portal's sections of 2010-2017; each a textcat and an embedding head. A
topic's logit is the sum of weight * log p over the four classifiers plus rule_weight * the
cue score. Every combination of the grid below is scored on two tune sets: the Portal's
2018 (the tune year) and the held-out fifth of our reddit headlines (train_topics.
is_held_out). The blend kept is the best on the Portal's 2018 among those that score on the
reddit set within TOLERANCE of our expert alone (its earlier blend, measured in the same
run): the Portal must not cost our users' headlines more than noise.
Writes indexer/enrich/topic_blend.json with the figures; the test years are never read.
"""

from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path

import numpy as np
from spacy.language import Language

from indexer.enrich.topics import (
    DEFAULT_BLEND_PATH,
    DEFAULT_LEXICON_PATH,
    DEFAULT_PORTAL_PATH,
    DEFAULT_TEXTCAT_PATH,
    Expert,
    TopicClassifier,
    _read_lexicon,
    shadow_doc,
)
from indexer.record import TOPICS

EXPERT_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
EMBEDDING_WEIGHTS = (0.0, 0.35, 0.7, 1.0, 1.5)
RULE_WEIGHTS = (0.1, 0.3, 0.5, 0.7, 1.0)
EARLIER = {"ours": (1.0, 0.7), "portal": (0.0, 0.0), "rule_weight": 0.3}
"""The blend before the Portal expert: ours alone, chosen on the reddit set."""
TOLERANCE = 0.005
"""How far below its earlier figure the reddit tune set may fall: 9 of its 1,834 headlines.
The yardstick (benchmarks/data/enrichment_dev.jsonl, never tuned on) is the check."""


def classifier_parts(nlp: Language, rows: list[dict]) -> dict[str, np.ndarray]:
    """Each classifier's log-probabilities, the cue scores and the gold, for `rows`."""
    experts = {name: Expert.read(name, path, 1.0, 1.0) for name, path in
               (("ours", DEFAULT_TEXTCAT_PATH), ("portal", DEFAULT_PORTAL_PATH))}
    rules = TopicClassifier(nlp, "rules", _read_lexicon(DEFAULT_LEXICON_PATH))
    texts = [row["text"] for row in rows]
    docs = list(nlp.pipe(texts, batch_size=256))
    shadows = [shadow_doc(doc) for doc in docs]
    parts = {"rules": np.array([[rules.score(doc, shadow).get(t, 0.0) for t in TOPICS]
                                for doc, shadow in zip(docs, shadows, strict=True)]),
             "gold": np.array([TOPICS.index(row["topic"]) for row in rows])}
    for name, expert in experts.items():
        parts[f"{name}_textcat"] = expert.textcat_log_probabilities(shadows)
        parts[f"{name}_embedding"] = expert.head.log_probabilities(texts)
    return parts


def accuracy(parts: dict[str, np.ndarray], ours: tuple, portal: tuple, rule: float) -> float:
    logits = rule * parts["rules"]
    for name, (weight, embedding) in (("ours", ours), ("portal", portal)):
        logits = logits + weight * parts[f"{name}_textcat"] + embedding * parts[f"{name}_embedding"]
    return float(np.mean(logits.argmax(axis=1) == parts["gold"]))


def choose_blend(nlp: Language, portal_tune: list[dict], reddit_tune: list[dict],
                 out: Path = DEFAULT_BLEND_PATH) -> dict:
    sets = {"portal_2018": classifier_parts(nlp, portal_tune),
            "reddit_held_out": classifier_parts(nlp, reddit_tune)}
    earlier = {name: accuracy(parts, EARLIER["ours"], EARLIER["portal"], EARLIER["rule_weight"])
               for name, parts in sets.items()}
    pairs = list(itertools.product(EXPERT_WEIGHTS, EMBEDDING_WEIGHTS))
    scored = []
    for ours, portal, rule in itertools.product(pairs, pairs, RULE_WEIGHTS):
        figures = {name: accuracy(parts, ours, portal, rule) for name, parts in sets.items()}
        scored.append((figures["portal_2018"], figures["reddit_held_out"], ours, portal, rule))
    for tolerance in (0.0, 0.0025, 0.005, 0.01, 0.02, 1.0):
        print(f"reddit held-out within {tolerance} of before: best "
              f"{max(s for s in scored if s[1] >= earlier['reddit_held_out'] - tolerance)}",
              file=sys.stderr)
    best = max(s for s in scored if s[1] >= earlier["reddit_held_out"] - TOLERANCE)
    blend = {
        "rule_weight": best[4],
        "experts": {name: {"weight": weights[0], "embedding_weight": weights[1]}
                    for name, weights in (("ours", best[2]), ("portal", best[3]))},
        "chosen_by": "training/topic_blend.py",
        "tune_accuracy": {"portal_2018": round(best[0], 4), "reddit_held_out": round(best[1], 4)},
        "tune_accuracy_before_the_portal_expert": {k: round(v, 4) for k, v in earlier.items()},
        "tune_sizes": {"portal_2018": len(portal_tune), "reddit_held_out": len(reddit_tune)},
    }
    out.write_text(json.dumps(blend, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(blend, indent=1), file=sys.stderr)
    return blend
