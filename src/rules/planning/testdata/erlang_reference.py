"""Writes erlang_reference.json: Erlang C and Erlang A values computed once by
established implementations, for src/rules/planning/erlang.rs's tests.

    python3 -m venv venv && venv/bin/pip install pyworkforce==0.5.1 pyqueueing==0.1.1
    venv/bin/python erlang_reference.py > erlang_reference.json

Erlang C: pyworkforce 0.5.1 (`pyworkforce.queuing.ErlangC`). Erlang A: the
M/M/n+M birth-death solution of pyqueueing 0.1.1 (`pyqueueing.models.erlang_a`):
its P(wait), P(abandon) and mean wait of answered calls are exact; its service
level is an approximation and is not used.
"""

import json
from importlib.metadata import version

from pyqueueing.models.erlang_a import ErlangA
from pyworkforce.queuing import ErlangC

erlang_c = []
for calls, interval, aht, target in [
    (100, 30, 180, 20),
    (300, 30, 240, 20),
    (40, 15, 120, 30),
    (1000, 60, 300, 20),
    (12, 30, 600, 60),
    (2500, 30, 200, 15),
]:
    model = ErlangC(transactions=calls, aht=aht / 60, asa=target / 60, interval=interval)
    required = model.required_positions(service_level=0.8)
    low = int(model.intensity) + 1
    for positions in range(low, low + 4):
        erlang_c.append({
            "calls": calls, "interval_minutes": interval, "aht_secs": aht, "target_secs": target,
            "agents": positions,
            "wait_probability": model.waiting_probability(positions),
            "service_level": model.service_level(positions),
        })
    erlang_c[-1]["agents_for_80_percent"] = required["raw_positions"]

erlang_a = []
for per_hour, aht, patience, agents in [
    (200, 180, 60, 8), (200, 180, 60, 10), (200, 180, 60, 12),
    (600, 240, 120, 35), (600, 240, 120, 40), (600, 240, 120, 45),
    (60, 300, 30, 3), (60, 300, 30, 5),
    (2000, 200, 90, 100), (2000, 200, 90, 110), (2000, 200, 90, 120),
    (400, 180, 300, 15), (400, 180, 300, 25),
]:
    model = ErlangA(arrival_rate=per_hour / 3600, service_rate=1 / aht, servers=agents, patience_rate=1 / patience)
    erlang_a.append({
        "calls_per_hour": per_hour, "aht_secs": aht, "patience_secs": patience, "agents": agents,
        "wait_probability": model.prob_wait(),
        "abandon_probability": model.prob_abandon(),
        "mean_wait_answered_secs": model.mean_wait_answered(),
    })

print(json.dumps({
    "source": {
        "erlang_c": f"pyworkforce {version('pyworkforce')}",
        "erlang_a": f"pyqueueing {version('pyqueueing')}",
    },
    "erlang_c": erlang_c,
    "erlang_a": erlang_a,
}, indent=1))
