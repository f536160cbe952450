"""The API fuzzed at length against a real server: schemathesis requests for every route of
the OpenAPI document, counted per route.

    .venv/bin/python benchmarks/api_fuzz.py [--examples 300] [--seed 14] [--workers 1]
        [--out benchmarks/results] [--work-dir benchmarks/results/api-fuzz-work]

index     the bundled sample dump (samples/news/, 4,646 events) indexed once into
          WORK/sample (reused when it is there); each run fuzzes a fresh copy, WORK/run, so
          upserts, deletes and reindex jobs never touch the cached index.
server    `eventsearch serve --workers N` on a free loopback port, with an API key (admin and
          write routes are fuzzed too) and a dump directory holding a three-event dump, the
          one the OpenAPI example of a reindex request names: a generated reindex job is real.
fuzzing   for each operation of /schema/openapi.json, --examples generated requests that fit
          the schema and --examples that break it (Hypothesis, seeded by --seed), plus the
          examples of the schema; each response goes through the same checks as
          tests/test_api_fuzz.py: no 5xx, status code, content type, headers and body as
          documented, invalid requests rejected.

Prints a Markdown table (per route: requests, failures, and the checks that failed) and
writes `api_fuzz.json` and `api_fuzz.md` to --out, with one reproducing curl command per
distinct failure. Exit code 1 when anything failed.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import sys
import time
from pathlib import Path

import hypothesis
import hypothesis.errors
import schemathesis
from schemathesis.core.failures import FailureGroup

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.servers import running_server  # noqa: E402
from tests.test_api_fuzz import AUTH, KEY, not_checked, tiny_dump  # noqa: E402

SAMPLE_DUMP = REPO / "samples" / "news"


def main() -> int:
    args = _arguments()
    work = args.work_dir
    data_dir, dump_dir = _fresh_copy(work)
    env = {"EVENTSEARCH_API_KEY": KEY, "EVENTSEARCH_DUMP_DIR": str(dump_dir)}
    started = time.monotonic()
    with running_server(data_dir, env=env, workers=args.workers) as url:
        schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
        routes = [_fuzz(operation.ok(), url, args) for operation in schema.get_all_operations()]
    report = {"examples": args.examples, "seed": args.seed, "workers": args.workers,
              "seconds": round(time.monotonic() - started, 1),
              "requests": sum(r["requests"] for r in routes),
              "failures": sum(r["failures"] for r in routes), "routes": routes}
    _write(report, args.out)
    return 1 if report["failures"] else 0


def _fuzz(operation, url: str, args) -> dict:
    """Requests and failures of one operation, valid and invalid inputs."""
    counts = collections.Counter()
    failed: dict[str, str] = {}
    for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

        @hypothesis.seed(args.seed)
        @hypothesis.settings(max_examples=args.examples, database=None, deadline=None,
                             suppress_health_check=list(hypothesis.HealthCheck),
                             phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
        @hypothesis.given(operation.as_strategy(generation_mode=mode))
        def send(case):
            counts["requests"] += 1
            response = case.call(base_url=url, headers=AUTH)
            try:
                case.validate_response(response, excluded_checks=not_checked(case))
            except FailureGroup as failure:  # one exception per failed check
                counts["failures"] += 1
                for check in failure.exceptions:
                    name = type(check).__name__
                    failed.setdefault(name, _first_lines(failure))

        try:
            send()
        except hypothesis.errors.Unsatisfiable:
            pass  # nothing invalid can be written for it (no parameters, no body)
    label = operation.label
    print(f"{label}: {counts['requests']} requests, {counts['failures']} failures", flush=True)
    return {"route": label, "requests": counts["requests"], "failures": counts["failures"],
            "failed_checks": failed}


def _first_lines(failure: BaseException, lines: int = 30) -> str:
    return "\n".join(str(failure).splitlines()[:lines])


def _fresh_copy(work: Path) -> tuple[Path, Path]:
    sample = work / "sample"
    if not (sample / "CURRENT").exists():
        from indexer.ingest import IngestOptions, ingest

        shutil.rmtree(sample, ignore_errors=True)
        ingest([SAMPLE_DUMP], sample, IngestOptions())
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(sample, run / "data")
    (run / "dumps").mkdir()
    tiny_dump(run / "dumps")
    return run / "data", run / "dumps"


def _write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "api_fuzz.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [f"| {r['route']} | {r['requests']} | {r['failures']} | "
            f"{', '.join(r['failed_checks']) or '-'} |" for r in report["routes"]]
    markdown = "\n".join([
        f"API fuzzing: {report['requests']} requests, {report['failures']} failures "
        f"({report['examples']} valid and {report['examples']} invalid inputs per route, seed "
        f"{report['seed']}, {report['workers']} server worker(s), {report['seconds']} s)",
        "", "| route | requests | failures | failed checks |", "| --- | --- | --- | --- |",
        *rows, "",
        *(f"### {r['route']}: {name}\n\n```\n{text}\n```\n" for r in report["routes"]
          for name, text in r["failed_checks"].items()),
    ])
    (out / "api_fuzz.md").write_text(markdown + "\n")
    print(markdown)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--examples", type=int, default=300,
                        help="generated requests per route and kind (valid, invalid)")
    parser.add_argument("--seed", type=int, default=14, help="Hypothesis seed")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--work-dir", type=Path,
                        default=REPO / "benchmarks" / "results" / "api-fuzz-work")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
