"""The search page's speed and weight: the HTML page against the JSON API at a million
events, and what a person waits for in Chromium.

    .venv/bin/python benchmarks/web.py [--events 1000000] [--seed 20220701] [--repeat 5]
        [--skip-browser] [--skip-http] [--out benchmarks/results]
    .venv/bin/python benchmarks/web.py --corpus portal [--portal PATH] [...]

1. HTTP, on the search benchmark's corpus (benchmarks/search.py builds it; run that first,
   or `benchmarks/search.py --build-only`): `eventsearch serve` on a loopback port, one
   keep-alive client, the search benchmark's workload. Each query is asked as the HTML page
   (`/search?...`) and as the JSON API (`/api/search?...&size=20`, the page's 20 hits with
   all facets), back to back, the order alternating, both gzip-compressed. Every pass adds
   its own `facet_size=source:N`, so neither answer comes from the facet cache (the search
   benchmark's "uncached" latency); a second set repeats the warm-up pass (cache hits).
   Reports p50/p99 of each and their ratios (targets: HTML p50 <= 1.3x, p99 <= 1.5x).
2. Weight: bytes on the wire (gzip) of each results page of the workload (target <= 30 KB)
   and of a first visit to `/`: the page, its stylesheet, scripts and icon (<= 100 KB).
3. Chromium (Debian's, driven by Playwright) on the bundled sample index, from the
   Performance API: navigation to results painted (first contentful paint of a results
   page, warm cache; <= 150 ms), keystroke to suggestions shown (a keydown to the frame
   after the listbox is filled; <= 60 ms), and a facet click to the updated results on the
   htmx path (click to the frame after htmx settles; <= 100 ms). p50 and p95 of each.
4. Prints a Markdown table and writes JSON (and the table) to --out.

--corpus portal runs 1 to 3 on the real archive (--portal PATH, default
/work/shared/corpora/portal-2002-2025.ndjson.gz; it stops if the file is missing): the index
`benchmarks/reindex.py --portal` or `benchmarks/search.py --corpus portal` left in
OUT/portal-work/ours (built there by `eventsearch reindex` when neither has run), the
search benchmark's real-archive workload (benchmarks/_portal.py's portal_workload: entity
and story names, frequent headline words and word pairs, alone and with a co-occurring
country; the count of each kind is printed), and Chromium on that index instead of the
sample. It writes web-portal.json and .md, the figures beside the last OUT/web.json's.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from _portal import (
    DEFAULT_PORTAL,
    ensure_portal_index,
    portal_headlines,
    portal_root,
    portal_workload,
    require_portal,
)
from search import (
    DEFAULT_OUT,
    Server,
    build_workload,
    code_version,
    http_params,
    others_running,
    percentile,
    summary,
)

TARGETS = {
    "html_p50_over_json": 1.3,
    "html_p99_over_json": 1.5,
    "results_page_kb": 30.0,
    "first_visit_kb": 100.0,
    "navigation_painted_p50_ms": 150.0,
    "keystroke_to_suggestions_p50_ms": 60.0,
    "facet_click_to_results_p50_ms": 100.0,
}
PAGE_SIZE = 20
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


# --- 1 and 2: HTTP ----------------------------------------------------------------------------

def page_and_api(params: list[tuple[str, str]]) -> tuple[str, str]:
    query = urlencode(params)
    return f"/search?{query}", f"/api/search?{query}&size={PAGE_SIZE}"


def run_http(data_dir: Path, queries, repeat: int, log: Path) -> dict:
    html: list[float] = []
    api: list[float] = []
    html_cached: list[float] = []
    api_cached: list[float] = []
    wire: list[int] = []
    with Server("serve", data_dir, 1, log) as server, \
            httpx.Client(base_url=server.url, timeout=60) as client:
        for query in queries:  # warm-up; also the pages the "cached" set repeats
            for path in page_and_api(http_params(query)):
                client.get(path).raise_for_status()
        for rep in range(repeat):
            for number, query in enumerate(queries):
                for variant, html_times, api_times in ((rep + 1, html, api),
                                                       (0, html_cached, api_cached)):
                    page, data = page_and_api(http_params(query, variant))
                    timings = {}
                    # Alternate which goes first, so neither is always timed on warmer caches.
                    order = ((page, html_times), (data, api_times))
                    for path, times in (order if (number + rep) % 2 else order[::-1]):
                        started = time.perf_counter()
                        response = client.get(path)
                        response.raise_for_status()
                        times.append((time.perf_counter() - started) * 1000)
                        timings[path] = response
                    if rep == 0 and variant:
                        assert timings[page].headers["content-encoding"] == "gzip"
                        wire.append(timings[page].num_bytes_downloaded)
        first_visit = first_visit_bytes(client)
    return {
        "html": summary(html), "api": summary(api),
        "html_cached": summary(html_cached), "api_cached": summary(api_cached),
        "ratio_p50": round(percentile(html, 50) / percentile(api, 50), 3),
        "ratio_p99": round(percentile(html, 99) / percentile(api, 99), 3),
        "ratio_p50_cached": round(percentile(html_cached, 50) / percentile(api_cached, 50), 3),
        "ratio_p99_cached": round(percentile(html_cached, 99) / percentile(api_cached, 99), 3),
        "results_page_bytes": {"p50": int(statistics.median(wire)), "max": max(wire),
                               "n": len(wire)},
        "first_visit": first_visit,
    }


def first_visit_bytes(client: httpx.Client) -> dict:
    """Everything a first visit to `/` downloads, as sent (gzip)."""
    from bs4 import BeautifulSoup

    home = client.get("/")
    files = {"/": home.num_bytes_downloaded}
    soup = BeautifulSoup(home.text, "html.parser")
    for tag in soup.select("link[rel=stylesheet], link[rel=icon], script[src]"):
        url = tag.get("href") or tag.get("src")
        files[url] = client.get(url).num_bytes_downloaded
    return {"bytes": sum(files.values()), "files": files}


# --- 3: Chromium --------------------------------------------------------------------------------

_KEYSTROKE_PROBE = """
() => {
  window.__suggestTimes = [];
  const box = document.getElementById("q");
  const list = document.getElementById("q-suggestions");
  let pressed = null;
  box.addEventListener("keydown", () => { pressed = performance.now(); }, true);
  new MutationObserver(() => {
    if (pressed === null || !list.children.length) return;
    const started = pressed;
    pressed = null;
    requestAnimationFrame(() => window.__suggestTimes.push(performance.now() - started));
  }).observe(list, { childList: true });
}
"""

_CLICK_PROBE = """
() => {
  window.__clickTimes = [];
  let clicked = null;
  document.addEventListener("click", () => { clicked = performance.now(); }, true);
  document.body.addEventListener("htmx:afterSettle", () => {
    if (clicked === null) return;
    const started = clicked;
    clicked = null;
    requestAnimationFrame(() => window.__clickTimes.push(performance.now() - started));
  });
}
"""


def run_browser(url: str, words: list[str], prefixes: list[str], rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    painted: list[float] = []
    clicks: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # The probes below are evaluated strings, which the pages' CSP forbids to scripts.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(f"{url}/")  # fills the cache with the static files, as a first visit does
        for _ in range(rounds):
            for word in words:
                page.goto(f"{url}/search?{urlencode({'q': word})}")
                painted.append(page.wait_for_function(
                    "performance.getEntriesByName('first-contentful-paint')[0]?.startTime"
                ).json_value())
        keystrokes = _keystroke_times(page, url, prefixes, rounds)
        for _ in range(rounds):
            for word in words:
                page.goto(f"{url}/search?{urlencode({'q': word})}")
                page.evaluate(_CLICK_PROBE)
                value = page.locator(".facet-values a:not(.on)").first
                if not value.count():
                    continue
                value.click()
                page.wait_for_function("window.__clickTimes.length > 0", timeout=5000)
                clicks.append(page.evaluate("window.__clickTimes[0]"))
        browser.close()
    return {
        "navigation_painted_ms": summary(painted),
        "keystroke_to_suggestions_ms": keystrokes,
        "facet_click_to_results_ms": summary(clicks),
        "chromium": os.popen(f"{CHROMIUM} --version 2>/dev/null").read().strip(),
    }


def _keystroke_times(page, url: str, prefixes: list[str], rounds: int) -> dict:
    """Keystroke to suggestions shown, summarised; {"error": ...} if some never show."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(f"{url}/search")
    page.evaluate(_KEYSTROKE_PROBE)
    box = page.locator("#q")
    for _ in range(rounds):
        for prefix in prefixes:
            box.fill("")
            for letter in prefix:
                before = page.evaluate("window.__suggestTimes.length")
                box.press(letter)
                try:
                    page.wait_for_function(f"window.__suggestTimes.length > {before}",
                                           timeout=5000)
                except PlaywrightTimeout:
                    typed = box.input_value()
                    status = httpx.get(f"{url}/api/suggest", params={"q": typed}).status_code
                    return {"error": f"no suggestions 5 s after typing {typed!r} "
                                     f"(GET /api/suggest answers HTTP {status})"}
    return summary(page.evaluate("window.__suggestTimes"))


def sample_index(work: Path) -> Path:
    """The bundled sample dump indexed into `work` (as `make serve` does on its first start)."""
    from indexer.ingest import IngestOptions, ingest

    data_dir = work / "sample-data"
    if not (data_dir / "CURRENT").exists():
        ingest([REPO / "samples" / "news"], data_dir, IngestOptions())
    return data_dir


def browser_workload(data_dir: Path, seed: int) -> tuple[list[str], list[str]]:
    """Words for searches (from the sample's headlines) and prefixes for typing."""
    from service.search.engine import EventIndex
    from service.search.query import SearchRequest

    headlines = [e.headline for e in EventIndex.open(data_dir).matching_events(SearchRequest())]
    rng = random.Random(f"web-{seed}")
    words = sorted({w.strip(".,;:'\"()").lower() for h in headlines for w in h.split()
                    if len(w) >= 6 and w.isascii() and w.isalpha()})
    picked = rng.sample(words, 20)
    return picked, [word[:3] for word in picked[:10]]


def _events_served(data_dir: Path) -> int:
    from service.search.engine import EventIndex

    return EventIndex.open(data_dir).count()


# --- report -------------------------------------------------------------------------------------

def verdict(value: float, target: float) -> str:
    return "PASS" if value <= target else "FAIL"


def report(results: dict) -> str:
    lines = [(f"# Search page speed and weight ({results['events']:,} events, "
              f"{results['corpus']}; browser on {results['browser_index']})"), "",
             "| measure | value | target | result |", "| --- | --- | --- | --- |"]

    def row(name: str, value: float, target_key: str, unit: str = "") -> None:
        target = TARGETS[target_key]
        lines.append(f"| {name} | {value}{unit} | <= {target}{unit} | {verdict(value, target)} |")

    http = results.get("http")
    if http:
        row("HTML p50 / JSON p50 (uncached facets)", http["ratio_p50"], "html_p50_over_json", "x")
        row("HTML p99 / JSON p99 (uncached facets)", http["ratio_p99"], "html_p99_over_json", "x")
        row("results page, gzip, largest of the workload",
            round(http["results_page_bytes"]["max"] / 1024, 1), "results_page_kb", " KB")
        row("first visit (HTML, CSS, JS, icon), gzip",
            round(http["first_visit"]["bytes"] / 1024, 1), "first_visit_kb", " KB")
    browser = results.get("browser")
    if browser:
        row("navigation to results painted, p50", browser["navigation_painted_ms"]["p50"],
            "navigation_painted_p50_ms", " ms")
        keystrokes = browser["keystroke_to_suggestions_ms"]
        if "error" in keystrokes:
            lines.append(f"| keystroke to suggestions shown, p50 | failed: {keystrokes['error']} "
                         f"| <= {TARGETS['keystroke_to_suggestions_p50_ms']} ms | FAIL |")
        else:
            row("keystroke to suggestions shown, p50", keystrokes["p50"],
                "keystroke_to_suggestions_p50_ms", " ms")
        row("facet click to updated results (htmx), p50",
            browser["facet_click_to_results_ms"]["p50"], "facet_click_to_results_p50_ms", " ms")
    if http:
        lines += ["", "| HTTP, ms | p50 | p95 | p99 |", "| --- | --- | --- | --- |"]
        for name in ("html", "api", "html_cached", "api_cached"):
            s = http[name]
            lines.append(f"| {name.replace('_', ' ')} | {s['p50']} | {s['p95']} | {s['p99']} |")
        lines.append(f"| ratio (cached) | {http['ratio_p50_cached']} | | "
                     f"{http['ratio_p99_cached']} |")
        lines.append(f"\nresults page p50 {http['results_page_bytes']['p50']:,} B gzip; first "
                     f"visit: " + ", ".join(f"{k} {v:,} B" for k, v in
                                            http["first_visit"]["files"].items()))
    if browser:
        lines += ["", "| Chromium, ms | p50 | p95 | n |", "| --- | --- | --- | --- |"]
        for name in ("navigation_painted_ms", "keystroke_to_suggestions_ms",
                     "facet_click_to_results_ms"):
            s = browser[name]
            lines.append(f"| {name[:-3].replace('_', ' ')} | " + (
                f"{s['p50']} | {s['p95']} | {s['n']} |" if "p50" in s else "failed | | |"))
        lines.append(f"\n{browser['chromium']}")
    if results["disturbed_by"]:
        lines += ["", "WARNING, disturbed by: " + "; ".join(results["disturbed_by"])]
    return "\n".join(lines)


def _figures(results: dict) -> dict[str, str]:
    """One run's figures, by the label they are compared under."""
    rows = {"events": f"{results['events']:,}", "browser on": results.get("browser_index", "")}
    http = results.get("http")
    if http:
        rows["queries (kind: count)"] = ", ".join(
            f"{k}: {n}" for k, n in results["workload"]["counts"].items())
        for name in ("html", "api", "html_cached", "api_cached"):
            rows[f"{name.replace('_', ' ')}, p50 / p99 ms"] = (
                f"{http[name]['p50']} / {http[name]['p99']}")
        rows["HTML / JSON, p50 / p99"] = f"{http['ratio_p50']} / {http['ratio_p99']}"
        rows["HTML / JSON cached, p50 / p99"] = (
            f"{http['ratio_p50_cached']} / {http['ratio_p99_cached']}")
        rows["results page gzip, p50 / max KB"] = (
            f"{http['results_page_bytes']['p50'] / 1024:.1f} / "
            f"{http['results_page_bytes']['max'] / 1024:.1f}")
        rows["first visit gzip KB"] = f"{http['first_visit']['bytes'] / 1024:.1f}"
    for name, row in results.get("browser", {}).items():
        if name.endswith("_ms"):
            rows[f"Chromium {name[:-3].replace('_', ' ')}, p50 / p95 ms"] = (
                f"{row['p50']} / {row['p95']}" if "p50" in row else f"failed: {row['error']}")
    return rows


def comparison(results: dict, synthetic: dict | None) -> str:
    """The real archive's figures beside the synthetic run's (the last web.json)."""
    ours = _figures(results)
    theirs = _figures(synthetic) if synthetic else {}
    heading = "synthetic (web.json)" if synthetic else "synthetic: no web.json in --out"
    lines = ["## Real archive beside the synthetic corpus", "",
             f"| figure | {results['corpus']} | {heading} |", "| --- | --- | --- |"]
    for label in dict.fromkeys([*ours, *theirs]):
        lines.append(f"| {label} | {ours.get(label, '-')} | {theirs.get(label, '-')} |")
    return "\n".join(lines)


def portal_index(args: argparse.Namespace, portal: Path) -> Path:
    """The archive's data directory, indexed unless reindex.py or search.py did it."""
    root = portal_root(args.out)
    ensure_portal_index(root, portal, True, None, args.processes)
    return root / "ours"


def http_corpus(args: argparse.Namespace, portal: Path | None) -> tuple[Path, list, dict]:
    """The data directory the HTTP part serves, its workload and what the workload holds."""
    if portal:
        from service.search.engine import EventIndex

        data_dir = portal_index(args, portal)
        queries, workload = portal_workload(EventIndex.open(data_dir), portal_headlines(portal),
                                            args.seed, math.ceil(args.queries / 8))
        return data_dir, queries, workload
    root = args.work_dir / f"seed{args.seed}-events{args.events}-pool{args.pool}"
    if not (root / "ours" / "built.json").exists():
        raise SystemExit(f"no corpus in {root}: run benchmarks/search.py --build-only first")
    sample = json.loads((root / "sample.json").read_text())
    queries, workload = build_workload(sample, args.seed, args.queries)
    return root / "ours", queries, workload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The search page against the JSON API at a million events (or on the "
                    "real archive), its weight, and its speed in Chromium.")
    parser.add_argument("--corpus", choices=("synthetic", "portal"), default="synthetic",
                        help="the search benchmark's generated corpus (--events, --seed, "
                             "--pool) or the real archive (--portal), whose index also serves "
                             "the browser part (default: %(default)s)")
    parser.add_argument("--portal", type=Path, default=DEFAULT_PORTAL, metavar="PATH",
                        help="the real archive, for --corpus portal (default: %(default)s)")
    parser.add_argument("--processes", type=int, default=2,
                        help="reindex NLP processes, if --corpus portal has to index the "
                             "archive (default: %(default)s)")
    parser.add_argument("--events", type=int, default=1_000_000,
                        help="size of the search benchmark's corpus to use (default: "
                             "%(default)s)")
    parser.add_argument("--seed", type=int, default=20220701,
                        help="the search benchmark's seed: corpus and workload (default: "
                             "%(default)s)")
    parser.add_argument("--pool", type=int, default=100_000,
                        help="the search benchmark's --pool (default: %(default)s)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_OUT / "search-work",
                        help="the search benchmark's work dir (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=60,
                        help="workload size, as the search benchmark's (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="timed passes over the workload through HTTP (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="passes of the browser workload (default: %(default)s)")
    parser.add_argument("--skip-http", action="store_true", help="no HTTP measurements")
    parser.add_argument("--skip-browser", action="store_true", help="no browser measurements")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="results directory (default: %(default)s)")
    args = parser.parse_args(argv)

    portal = require_portal(args.portal) if args.corpus == "portal" else None
    stem = "web-portal" if portal else "web"
    disturbed = others_running()
    code_at_start = code_version()
    results: dict = {"benchmark": "web", "code": code_at_start, "events": 0,
                     "corpus": f"real archive ({portal.name})" if portal else "synthetic",
                     "browser_index": "the real archive" if portal else "the sample index",
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                     "targets": TARGETS}
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_http:
        data_dir, queries, workload = http_corpus(args, portal)
        print(f"HTTP: {len(queries)} queries x {args.repeat} passes; {workload['counts']}",
              file=sys.stderr)
        results["http"] = run_http(data_dir, queries, args.repeat,
                                   args.out / f"{stem}-server.log")
        results["workload"] = workload
        results["events"] = _events_served(data_dir) if portal else args.events
    if not args.skip_browser:
        with tempfile.TemporaryDirectory() as work:
            data_dir = portal_index(args, portal) if portal else sample_index(Path(work))
            words, prefixes = browser_workload(data_dir, args.seed)
            print(f"Chromium: {len(words)} searches, {len(prefixes)} prefixes, "
                  f"{args.rounds} rounds", file=sys.stderr)
            with Server("serve", data_dir, 1, args.out / f"{stem}-browser-server.log") as server:
                results["browser"] = run_browser(server.url, words, prefixes, args.rounds)
    disturbed += [d for d in others_running() if d not in disturbed]
    if code_version() != code_at_start:
        disturbed.append(f"the code changed during the run: {code_at_start} -> {code_version()}")
    results["disturbed_by"] = disturbed
    results["command"] = "cd /work/main && .venv/bin/python benchmarks/web.py " + " ".join(
        sys.argv[1:] if argv is None else argv)
    text = report(results)
    if portal:
        synthetic_path = args.out / "web.json"
        synthetic = json.loads(synthetic_path.read_text()) if synthetic_path.exists() else None
        text += "\n\n" + comparison(results, synthetic)
    print(text)
    (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=str))
    (args.out / f"{stem}.md").write_text(text + "\n")
    print(f"\nwrote {args.out / stem}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
