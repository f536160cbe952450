"""Enrichment quality: countries and topics against hand labels and against WikiTimes.

    .venv/bin/python benchmarks/enrichment_eval.py [--dev benchmarks/data/enrichment_dev.jsonl]
        [--wikitimes ../shared/corpora/wikitimes-2015-09.json] [--out benchmarks/results]

Runs the product's path: `load_pipeline()` and `Enricher.enrich` over `Event`s built from the
headline alone, so the figures are those of indexing. Two data sets:

dev        Our own labels (benchmarks/data/enrichment_dev.jsonl, rules in
           benchmarks/data/LABELLING.md): countries and the primary topic of each headline.
wikitimes  The WikiTimes dump, read with `indexer.readers.read_dump`. The reader maps the
           human category into `event.topics` and the enricher keeps a source topic, so the
           pipeline runs on a copy of each event holding only its headline; its topic is
           compared with the mapped category (the issue's fixed mapping, which is the reader's
           `TOPIC_OF_CATEGORY`). Gold countries are the entities whose name
           `normalise_country()` resolves ("Syria" -> SY). That gold is PARTIAL: it misses
           countries named only through a city, a demonym or an institution, and an entity may
           be linked without being in the headline, so precision is understated there.

Country figures: micro precision/recall/F1 over (event, code) pairs, and the share of events
whose set of codes is exactly right. Topic figures: accuracy of the primary topic, macro-F1 of
the primary topic over the ten topics, and how often the gold topic is among all assigned
topics. Prints the targets with PASS/FAIL, the topic confusion matrix and the worst 20 country
errors, and writes `enrichment_eval.json`, `enrichment_eval.md` and the per-headline
predictions (`enrichment_eval_dev.jsonl`, `enrichment_eval_wikitimes.jsonl`) to --out.
Deterministic: no sampling, fixed order.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import gzip
import json
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import spacy

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # training/ is beside the packages, not installed with them

from indexer.enrich.countries import normalise_country  # noqa: E402
from indexer.enrich.pipeline import Enricher, load_pipeline, model_name  # noqa: E402
from indexer.readers import read_dump  # noqa: E402
from indexer.record import TOPICS, Event  # noqa: E402
from training.train_topics import read_labelled  # noqa: E402

DEFAULT_DEV = REPO / "benchmarks" / "data" / "enrichment_dev.jsonl"
SECOND_LABELLER = REPO / "benchmarks" / "data" / "enrichment_dev_second_labeller.jsonl"
DEFAULT_WIKITIMES = REPO.parent / "shared" / "corpora" / "wikitimes-2015-09.json"
DEFAULT_PORTAL = REPO.parent / "shared" / "corpora" / "portal-2002-2025.ndjson.gz"
PORTAL_TEST_YEARS = (2019, 2020)
DEFAULT_OUT = REPO / "benchmarks" / "results"

TARGETS: dict[str, dict[str, float]] = {
    "dev": {"country_precision": 0.95, "country_recall": 0.93, "topic_accuracy": 0.85},
    "wikitimes": {"topic_accuracy": 0.80},
    "portal-test": {"topic_accuracy": 0.85},
}
"""The issue's targets: figure name -> minimum, per data set."""

_ABBREV = {
    "armed-conflicts": "conf",
    "arts-culture": "arts",
    "business-economy": "busi",
    "disasters-accidents": "disa",
    "health-environment": "heal",
    "international-relations": "intl",
    "law-crime": "law",
    "politics-elections": "poli",
    "science-technology": "sci",
    "sports": "spor",
}


@dataclass
class Item:
    """One headline with its gold labels and, after `predict`, the pipeline's."""

    text: str
    gold_countries: list[str]
    gold_topic: str | None
    pred_countries: list[str] = field(default_factory=list)
    pred_topics: list[str] = field(default_factory=list)
    note: str = ""
    year: int | None = None

    @property
    def fp(self) -> list[str]:
        return sorted(set(self.pred_countries) - set(self.gold_countries))

    @property
    def fn(self) -> list[str]:
        return sorted(set(self.gold_countries) - set(self.pred_countries))


# --- loading ---------------------------------------------------------------------------------


def load_dev(path: Path) -> list[Item]:
    return [Item(row["text"], list(row["countries"]), row["topic"]) for row in read_labelled(path)]


def load_wikitimes(path: Path) -> list[Item]:
    result = read_dump(path)
    items = []
    for event in sorted(result.events, key=lambda e: e.id):
        codes: list[str] = []
        for entity in event.entities:
            code = normalise_country(entity.name)
            if code and code not in codes:
                codes.append(code)
        items.append(Item(event.headline, codes, event.topics[0] if event.topics else None,
                          note=event.id))
    return items


def load_portal_test(path: Path) -> list[Item]:
    """The Portal archive's test years for topics: 2019 to the sections' end (November
    2020); training/README.md gives the split. Topics only: the archive has no country gold."""
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            year = int(row["date"][:4])
            if row.get("topics") and year in PORTAL_TEST_YEARS:
                items.append(Item(row["headline"], [], row["topics"][0], note=row["id"],
                                  year=year))
    return items


# --- running the product path -----------------------------------------------------------------


def predict(items: Sequence[Item], enricher: Enricher) -> None:
    """Fill in predictions through `Enricher.enrich`, on events holding only the headline."""
    day = dt.date(2000, 1, 1)
    events = (Event(id=f"eval-{i}", date=day, headline=item.text) for i, item in enumerate(items))
    for item, event in zip(items, enricher.enrich(events), strict=True):
        item.pred_countries = list(event.countries)
        item.pred_topics = list(event.topics)


# --- metrics --------------------------------------------------------------------------------


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f, 4)}


def country_scores(items: Sequence[Item]) -> dict:
    tp = sum(len(set(i.pred_countries) & set(i.gold_countries)) for i in items)
    fp = sum(len(i.fp) for i in items)
    fn = sum(len(i.fn) for i in items)
    exact = sum(set(i.pred_countries) == set(i.gold_countries) for i in items)
    fp_codes = collections.Counter(c for i in items for c in i.fp)
    fn_codes = collections.Counter(c for i in items for c in i.fn)
    return {
        **_prf(tp, fp, fn),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "events": len(items),
        "events_with_gold": sum(bool(i.gold_countries) for i in items),
        "exact_match": round(exact / len(items), 4) if items else 0.0,
        "fp_by_code": dict(sorted(fp_codes.items(), key=lambda kv: (-kv[1], kv[0]))),
        "fn_by_code": dict(sorted(fn_codes.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def topic_scores(items: Sequence[Item]) -> dict:
    scored = [i for i in items if i.gold_topic]
    primary = [(i.gold_topic, i.pred_topics[0] if i.pred_topics else None) for i in scored]
    matrix = {g: {p: 0 for p in TOPICS} for g in TOPICS}
    for gold, pred in primary:
        if pred in matrix[gold]:
            matrix[gold][pred] += 1
    per_topic = {}
    for t in TOPICS:
        tp = matrix[t][t]
        fp = sum(matrix[g][t] for g in TOPICS) - tp
        fn = sum(matrix[t].values()) - tp
        per_topic[t] = {**_prf(tp, fp, fn), "support": tp + fn}
    n = len(scored)
    correct = sum(g == p for g, p in primary)
    within = sum(i.gold_topic in i.pred_topics for i in scored)
    return {
        "events": n,
        "accuracy": round(correct / n, 4) if n else 0.0,
        "macro_f1": round(sum(s["f1"] for s in per_topic.values()) / len(TOPICS), 4),
        "label_within_assigned": round(within / n, 4) if n else 0.0,
        "mean_topics_assigned": round(sum(len(i.pred_topics) for i in scored) / n, 3) if n else 0,
        "per_topic": per_topic,
        "confusion": matrix,
        "accuracy_by_year": _accuracy_by_year(scored),
    }


def _accuracy_by_year(items: Sequence[Item]) -> dict[str, dict]:
    years = sorted({i.year for i in items if i.year is not None})
    result = {}
    for year in years:
        of_year = [i for i in items if i.year == year]
        correct = sum(bool(i.pred_topics) and i.pred_topics[0] == i.gold_topic for i in of_year)
        result[str(year)] = {"events": len(of_year), "accuracy": round(correct / len(of_year), 4)}
    return result


def worst_country_errors(items: Sequence[Item], n: int = 20, *,
                         misses_first: bool = False) -> list[dict]:
    """Headlines with the most wrong codes first; with `misses_first` (partial gold, where a
    "false positive" is often a true country the gold lacks) the most missed codes first."""
    wrong = [i for i in items if i.fp or i.fn]
    if misses_first:
        wrong.sort(key=lambda i: (-len(i.fn), -len(i.fp), i.text))
    else:
        wrong.sort(key=lambda i: (-(len(i.fp) + len(i.fn)), -len(i.fp), i.text))
    return [{"text": i.text, "gold": i.gold_countries, "pred": i.pred_countries,
             "fp": i.fp, "fn": i.fn} for i in wrong[:n]]


def check_targets(name: str, figures: dict[str, float]) -> dict[str, dict]:
    return {k: {"target": v, "value": figures[k], "pass": figures[k] >= v}
            for k, v in TARGETS.get(name, {}).items()}


def evaluate(name: str, items: Sequence[Item], *, gold_note: str = "",
             partial_gold: bool = False, countries_judged: bool = True) -> dict:
    countries = country_scores(items)
    topics = topic_scores(items)
    flat = {"country_precision": countries["precision"], "country_recall": countries["recall"],
            "topic_accuracy": topics["accuracy"]}
    return {
        "name": name,
        "countries_judged": countries_judged,
        "events": len(items),
        "countries": countries,
        "country_gold": gold_note or "hand labels",
        "partial_gold": partial_gold,
        "topics": topics,
        "targets": check_targets(name, flat),
        "worst_country_errors": worst_country_errors(items, misses_first=partial_gold),
    }


# --- reporting ------------------------------------------------------------------------------


def _verdict(targets: dict, key: str) -> str:
    t = targets.get(key)
    if not t:
        return ""
    return f"   target >= {t['target']:.2f}  {'PASS' if t['pass'] else 'FAIL'}"


def render(result: dict) -> str:
    t, tg = result["topics"], result["targets"]
    lines = [f"== {result['name']}: {result['events']} headlines ==", ""]
    if result["countries_judged"]:
        lines += _render_countries(result)
    lines.append("Topics (primary)")
    lines.append(f"  accuracy  {t['accuracy']:.3f}{_verdict(tg, 'topic_accuracy')}")
    lines.append(f"  macro-F1  {t['macro_f1']:.3f}")
    lines.append(f"  gold topic within assigned topics {t['label_within_assigned']:.3f}   "
                 f"(mean {t['mean_topics_assigned']} topics assigned)")
    for year, figures in t["accuracy_by_year"].items():
        lines.append(f"  {year}: accuracy {figures['accuracy']:.3f} ({figures['events']} events)")
    lines.append("")
    lines.append(render_confusion(t["confusion"], t["per_topic"]))
    return "\n".join(lines)


def _render_countries(result: dict) -> list[str]:
    c, tg = result["countries"], result["targets"]
    lines = [f"Countries (gold: {result['country_gold']})"]
    lower = "   (a lower bound: the gold is partial)" if result["partial_gold"] else ""
    lines.append(f"  precision {c['precision']:.3f}{_verdict(tg, 'country_precision')}{lower}")
    lines.append(f"  recall    {c['recall']:.3f}{_verdict(tg, 'country_recall')}")
    lines.append(f"  F1        {c['f1']:.3f}")
    lines.append(f"  exact set per event {c['exact_match']:.3f}   "
                 f"(tp {c['tp']}, fp {c['fp']}, fn {c['fn']})")
    lines.append("  false positives by code: " + _top(c["fp_by_code"]))
    lines.append("  false negatives by code: " + _top(c["fn_by_code"]))
    order = " (most missed codes first)" if result["partial_gold"] else ""
    lines.append(f"  worst {len(result['worst_country_errors'])} country errors{order}")
    for n, e in enumerate(result["worst_country_errors"], 1):
        lines.append(f"  {n:2d}. {_clip(e['text'], 110)}")
        lines.append(f"      gold {e['gold'] or '-'}  pred {e['pred'] or '-'}  "
                     f"FP {e['fp'] or '-'}  FN {e['fn'] or '-'}")
    lines.append("")
    return lines


def render_confusion(matrix: dict, per_topic: dict) -> str:
    cols = [_ABBREV[t] for t in TOPICS]
    head = "  gold \\ predicted    " + " ".join(f"{c:>5}" for c in cols) + "    n    P    R   F1"
    rows = [head]
    for g in TOPICS:
        cells = " ".join(f"{(matrix[g][p] or '.'):>5}" for p in TOPICS)
        scores = per_topic[g]
        rows.append(f"  {g:<20} {cells} {scores['support']:>4} {scores['precision']:.2f} "
                    f"{scores['recall']:.2f} {scores['f1']:.2f}")
    rows.append("  (columns: " + ", ".join(f"{_ABBREV[t]}={t}" for t in TOPICS) + ")")
    return "\n".join(rows)


def render_markdown(results: Sequence[dict], meta: dict) -> str:
    lines = ["# Enrichment evaluation", "",
             f"Model `{meta['model']}`, spaCy {meta['spacy']}, {meta['date']}.", "",
             "| data set | headlines | country P | country R | country F1 | exact set "
             "| topic acc. | topic macro-F1 | gold in assigned |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        c, t = r["countries"], r["topics"]
        country_cells = (f"{c['precision']:.3f} | {c['recall']:.3f} | {c['f1']:.3f} "
                         f"| {c['exact_match']:.3f}" if r["countries_judged"] else "- | - | - | -")
        lines.append(f"| {r['name']} | {r['events']} | {country_cells} | {t['accuracy']:.3f} "
                     f"| {t['macro_f1']:.3f} | {t['label_within_assigned']:.3f} |")
    lines += ["", "| data set | figure | value | target | verdict |",
              "| --- | --- | ---: | ---: | --- |"]
    for r in results:
        for key, v in r["targets"].items():
            lines.append(f"| {r['name']} | {key} | {v['value']:.3f} | >= {v['target']:.2f} "
                         f"| {'PASS' if v['pass'] else 'FAIL'} |")
    lines += ["", "WikiTimes country gold is partial: entities whose name resolves to a "
              "country; cities, demonyms and institutions are missing from it.", ""]
    if meta.get("dev_topic_human_agreement") is not None:
        lines += [f"Dev topics, human agreement: a second labeller, blind, chose the same "
                  f"primary topic for {meta['dev_topic_human_agreement']:.3f} of the headlines "
                  f"(`{SECOND_LABELLER.name}`).", ""]
    return "\n".join(lines)


def _top(counter: dict, n: int = 12) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(counter.items())[:n]) or "-"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _write_items(path: Path, items: Iterable[Item]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in items:
            row = asdict(item)
            row["fp"], row["fn"] = item.fp, item.fn
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# --- main -----------------------------------------------------------------------------------


def human_agreement(items: Sequence[Item], path: Path) -> float | None:
    """Share of dev headlines whose primary topic a second labeller, labelling blind by the
    same rules, chose as the first did: the ceiling a topic model can be held to."""
    if not path.exists():
        return None
    second = {row["text"]: row["topic"] for row in read_labelled(path)}
    pairs = [(item.gold_topic, second[item.text]) for item in items if item.text in second]
    return sum(a == b for a, b in pairs) / len(pairs) if pairs else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Country and topic quality of the enrichment pipeline, on our labelled "
                    "development set, on WikiTimes and on the Portal archive's test years.",
        epilog="Targets (from the issue): dev country precision >= 0.95, recall >= 0.93, "
               "topic accuracy >= 0.85; WikiTimes topic accuracy >= 0.80; Portal test years "
               "(2019-2020) topic accuracy >= 0.85.")
    parser.add_argument("--dev", type=Path, default=DEFAULT_DEV,
                        help="labelled development set, JSON lines (default: %(default)s)")
    parser.add_argument("--wikitimes", type=Path, default=DEFAULT_WIKITIMES,
                        help="WikiTimes dump (default: %(default)s)")
    parser.add_argument("--skip-wikitimes", action="store_true",
                        help="leave out WikiTimes")
    parser.add_argument("--portal", type=Path, default=DEFAULT_PORTAL,
                        help="Current Events Portal archive; its topic test years 2019-2020 "
                             "are evaluated (skipped if absent; default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    parser.add_argument("--model", default=None,
                        help="spaCy model (default: EVENTSEARCH_MODEL or the pinned one)")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when a target is missed")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    nlp = load_pipeline(args.model)
    enricher = Enricher(nlp)
    meta = {"model": args.model or model_name(), "spacy": spacy.__version__,
            "python": platform.python_version(), "date": dt.date.today().isoformat(),
            "pipeline": list(nlp.pipe_names), "dev": str(args.dev)}

    results = []
    dev = load_dev(args.dev)
    predict(dev, enricher)
    results.append(evaluate("dev", dev))
    meta["dev_topic_human_agreement"] = human_agreement(dev, SECOND_LABELLER)
    datasets = {"dev": dev}
    if not args.skip_wikitimes:
        wt = load_wikitimes(args.wikitimes)
        predict(wt, enricher)
        results.append(evaluate(
            "wikitimes", wt,
            gold_note="PARTIAL - WikiTimes entities whose name normalise_country() resolves",
            partial_gold=True))
        datasets["wikitimes"] = wt
        meta["wikitimes"] = str(args.wikitimes)
    if args.portal.exists():
        portal = load_portal_test(args.portal)
        predict(portal, enricher)
        results.append(evaluate("portal-test", portal, countries_judged=False))
        datasets["portal-test"] = portal
        meta["portal"] = f"{args.portal}: topics of {PORTAL_TEST_YEARS}, the test years"

    for r in results:
        print(render(r))
        print()
    missed = [f"{r['name']}.{k}" for r in results for k, v in r["targets"].items()
              if not v["pass"]]
    print("Targets: " + ("all met" if not missed else "missed " + ", ".join(missed)))
    if meta["dev_topic_human_agreement"] is not None:
        print(f"Dev topics, human agreement: a second labeller, blind, chose the same primary "
              f"topic for {meta['dev_topic_human_agreement']:.3f} of the headlines")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "enrichment_eval.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (args.out / "enrichment_eval.md").write_text(render_markdown(results, meta),
                                                  encoding="utf-8")
    for name, items in datasets.items():
        _write_items(args.out / f"enrichment_eval_{name}.jsonl", items)
    print(f"Wrote {args.out}/enrichment_eval.json, .md and per-headline predictions "
          f"({time.perf_counter() - started:.1f}s)", file=sys.stderr)
    return 1 if args.strict and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
