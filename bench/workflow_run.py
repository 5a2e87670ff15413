"""Benchmark: a targeting workflow (query + segmentation + save) over N profiles.

Imports N demo profiles (1,000,000 by default) into a fresh SQLite workspace,
then times, in the same run:

- ``audiencehub``: the workflow runner (working sets in the database, one
  transaction, counts recorded);
- ``baseline``: the same three steps as hand-written SQL on the raw SQLite
  connection (temporary tables, no bookkeeping).

    python bench/workflow_run.py [--profiles N]
"""

from __future__ import annotations

import argparse
import sqlite3
import time

from audiencehub.campaign import import_profiles
from audiencehub.campaign.workflows.document import parse_workflow
from audiencehub.campaign.workflows.runner import run_workflow
from audiencehub.workspace import init_workspace
from measure import peak_mb, record, scratch_folder
from profile_import import profile_file

WORKFLOW = {
    "name": "bench",
    "activities": [
        {"id": "q", "type": "query", "filter": "country = 'FR' AND NOT email_opt_out"},
        {
            "id": "s",
            "type": "segmentation",
            "input": "q",
            "remainder": True,
            "segments": [
                {"name": "gold", "filter": "attributes.loyalty_tier = 'gold'"},
                {"name": "ten", "percent": 10},
            ],
        },
        {
            "id": "save",
            "type": "save_audience",
            "input": "s.remainder",
            "mode": "create_or_update",
            "audience": "Bench",
        },
    ],
}

BASELINE = """
CREATE TEMP TABLE q AS SELECT id FROM profiles WHERE country = 'FR' AND NOT email_opt_out;
CREATE TEMP TABLE gold AS SELECT q.id FROM q JOIN profiles p ON p.id = q.id
    WHERE json_extract(p.attributes, '$.loyalty_tier') = 'gold';
CREATE TEMP TABLE rest AS SELECT id FROM q WHERE id NOT IN (SELECT id FROM gold);
CREATE TEMP TABLE ten AS SELECT id FROM rest ORDER BY id
    LIMIT (SELECT count(*) FROM rest) / 10;
CREATE TEMP TABLE saved AS SELECT id FROM rest WHERE id NOT IN (SELECT id FROM ten);
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    args = parser.parse_args()
    data = profile_file(args.profiles)
    folder = scratch_folder("ah-bench-wf-")
    workspace = init_workspace(folder / "ws")
    import_profiles(workspace.campaign, data, rejects_path=folder / "rejects.csv")

    started = time.perf_counter()
    result = run_workflow(workspace.campaign, parse_workflow(WORKFLOW))
    ours = time.perf_counter() - started
    saved = result.activities["save"]["outputs"]["Bench"]

    connection = sqlite3.connect(folder / "ws" / "campaign.db")
    started = time.perf_counter()
    connection.executescript(BASELINE)
    baseline = time.perf_counter() - started
    expected = connection.execute("SELECT count(*) FROM saved").fetchone()[0]
    connection.close()

    print(f"\nWorkflow (query + segmentation + save), {args.profiles:,} profiles, SQLite\n")
    print(f"{'run':<12} {'seconds':>8} {'saved':>10}")
    print(f"{'baseline':<12} {baseline:>8.2f} {expected:>10,}")
    print(f"{'audiencehub':<12} {ours:>8.2f} {saved:>10,}")
    record(
        "workflow (query, segment, save)",
        args.profiles,
        engine="sql",
        backend="sqlite",
        seconds=ours,
        baseline="hand-written SQL",
        baseline_seconds=baseline,
        items=args.profiles,
        unit="profiles",
        peak_mb=peak_mb(),
    )
    if saved != expected:
        raise SystemExit(f"the workflow saved {saved:,} profiles, the baseline {expected:,}")


if __name__ == "__main__":
    main()
