"""Where a Snakemake run's time went: job-seconds per rule, and the wall time, from its log.

    python scripts/job_times.py .snakemake/log/<run>.snakemake.log            # per rule
    python scripts/job_times.py .snakemake/log/<run>.snakemake.log --timeline # every job: start, seconds

A job's seconds run from the timestamp before its ``rule``/``localrule`` line to the one before its
``Finished jobid`` line (Snakemake's own clock, one-second resolution). The time breakdowns of the
embedded default in docs/results.md are made with it.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import re
from pathlib import Path

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):")
JOBID = re.compile(r"^\s+jobid: (\d+)")
FINISHED = re.compile(r"^Finished job(?:id:)? (\d+)")


def job_times(log: str | Path) -> tuple[float, list[tuple[float, float, str]]]:
    """(wall seconds, [(start offset, seconds, rule) of every finished job, in start order])."""
    stamp = rule = rule_stamp = None
    start, rule_of, seconds = {}, {}, {}
    for line in Path(log).read_text().splitlines():
        if m := STAMP.match(line):
            stamp = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            rule, rule_stamp = m.group(1), stamp
        elif (m := JOBID.match(line)) and rule:
            start[m.group(1)], rule_of[m.group(1)], rule = rule_stamp, rule, None
        elif (m := FINISHED.match(line)) and m.group(1) in start:
            seconds[m.group(1)] = (stamp - start[m.group(1)]).total_seconds()
    if not start:
        raise SystemExit(f"{log}: no jobs found; is it a Snakemake log?")
    t0 = min(start.values())
    jobs = sorted(((start[j] - t0).total_seconds(), s, rule_of[j]) for j, s in seconds.items())
    return (stamp - t0).total_seconds(), jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", help="a .snakemake/log/*.snakemake.log file")
    parser.add_argument("--timeline", action="store_true", help="every job with its start offset")
    args = parser.parse_args()
    wall, jobs = job_times(args.log)
    per_rule = collections.defaultdict(lambda: [0, 0.0])
    for _, s, rule in jobs:
        per_rule[rule][0] += 1
        per_rule[rule][1] += s
    print(f"wall {wall:.0f} s, {len(jobs)} jobs, {sum(s for _, s, _ in jobs):.0f} job-seconds")
    for rule, (n, s) in sorted(per_rule.items(), key=lambda kv: -kv[1][1]):
        print(f"{s:8.0f} s {n:4d} x {rule}")
    if args.timeline:
        for offset, s, rule in jobs:
            print(f"{offset:7.0f} {s:6.0f} {rule}")


if __name__ == "__main__":
    main()
