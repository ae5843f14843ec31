"""Traffic a healthy instrument makes, with sequences that look like DNA but are not run data: clean."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from sandbox.simulate.dna import codes_to_bytes, random_codes

from .conftest import assert_clean

pytestmark = pytest.mark.e2e

UPDATE_SIZE = 8 << 20
# Illumina TruSeq / Nextera adapters and primers: in every run, evidence of nothing.
ADAPTERS = ["AGATCGGAAGAGCACACGTCTGAACTCCAGTCA", "AGATCGGAAGAGCGTCGTGTAGGGAAAGAGTGT",
            "CTGTCTCTTATACACATCTCCGAGCCCACGAGAC", "AATGATACGGCGACCACCGAGATCTACAC"]


def test_benign_traffic_stays_clean(recorder, http_server, dns_server, sim_run, replay):
    import dns.message
    import dns.query

    rng = np.random.default_rng(2024)
    update = rng.bytes(UPDATE_SIZE)
    http_server.files["/firmware/miseq-4.1.2.bin"] = update
    genome = codes_to_bytes(random_codes(rng, 30_000))
    fasta = b">contig_1 unrelated reference\n" + b"\n".join(genome[i:i + 80] for i in range(0, len(genome), 80))
    telemetry = {"event": "heartbeat", "uptime_s": 86_400, "temperature_c": 22.5, "fluidics": "ok",
                 "software": "MCS 4.1.2", "disk_free_gb": 512.4}
    repeats = {"controls": ["A" * 150, "CAG" * 50, "T" * 120, "GC" * 75, *ADAPTERS]}
    with recorder() as rec, requests.Session() as s:
        s.trust_env = False
        for beat in range(3):
            s.post(f"{http_server.url}/telemetry", json={**telemetry, "seq": beat})
        got = s.get(f"{http_server.url}/firmware/miseq-4.1.2.bin").content
        s.post(f"{http_server.url}/reference/upload", data=fasta, headers={"Content-Type": "text/x-fasta"})
        s.post(f"{http_server.url}/controls", json=repeats)
        dns.query.udp(dns.message.make_query("lims.bench.test", "A"), dns_server.host, port=dns_server.port,
                      timeout=5)
    assert got == update
    assert json.loads(http_server.received[-1][3]) == repeats
    result = replay(rec.path, sim_run.path)
    assert_clean(result)
