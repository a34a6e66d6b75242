#!/usr/bin/env python3
"""Where a kplay run spends its time, from `kplay run --output json` events.

Usage: timeline.py EVENTS.jsonl

Prints: start-up (playbook_start -> first task_start), the tail (last host_result -> recap), and,
per module kind (the first word of the task name, as bench playbooks name their tasks), how long
a host waited between its previous result and this one: that gap is the whole per-task cost for
that host (templating, module query/apply round trips, scheduling) as the engine sees it.
"""
import collections
import datetime
import json
import statistics
import sys


def ts(event):
    return datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    events = []
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                events.append(json.loads(line))
    if not events:
        sys.exit("no events")
    start = ts(events[0])
    end = ts(events[-1])
    first_task = next((ts(e) for e in events if e["event"] == "task_start"), start)
    results = [e for e in events if e["event"] == "host_result"]
    last_result = max((ts(e) for e in results), default=end)

    per_kind = collections.defaultdict(list)
    statuses = collections.Counter()
    last_seen = {}
    for e in results:
        host = e["host"]
        t = ts(e)
        prev = last_seen.get(host, first_task)
        kind = e["task"].split()[0] if e["task"] else "?"
        per_kind[(kind, e["status"])].append((t - prev) * 1000)
        statuses[e["status"]] += 1
        last_seen[host] = t

    hosts = len(last_seen)
    print(f"events: {len(events)}, hosts: {hosts}, results: {len(results)} {dict(statuses)}")
    print(f"wall (first event -> last event): {end - start:.3f} s")
    print(f"  start-up (-> first task_start):  {first_task - start:.3f} s")
    print(f"  tasks (first task -> last result): {last_result - first_task:.3f} s")
    print(f"  tail (last result -> last event):  {end - last_result:.3f} s")
    print("per host, time since that host's previous result, by task kind and status (ms):")
    print(f"  {'kind':<12} {'status':<10} {'n':>5} {'mean':>8} {'median':>8} {'p90':>8} {'max':>8} {'sum/host (s)':>13}")
    for (kind, status), v in sorted(per_kind.items(), key=lambda kv: -sum(kv[1])):
        v_sorted = sorted(v)
        p90 = v_sorted[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"  {kind:<12} {status:<10} {len(v):>5} {statistics.mean(v):>8.2f} {statistics.median(v):>8.2f} "
              f"{p90:>8.2f} {max(v):>8.2f} {sum(v) / 1000 / max(hosts, 1):>13.3f}")


if __name__ == "__main__":
    main()
