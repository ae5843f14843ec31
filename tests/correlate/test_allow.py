from __future__ import annotations

from sandbox.correlate import AllowList
from sandbox.model import FlowInfo

SAMPLE = "PT1001-Biopsy"


def test_hosts_ips_cidrs():
    allow = AllowList(["lims.lab.example", "*.vendor.example", "198.51.100.0/24", "2001:db8::1", " "])
    assert allow and not AllowList([])
    assert allow.allows("lims.lab.example") and allow.allows("A.LIMS.lab.example.:443")
    assert allow.allows("x.vendor.example") and not allow.allows("vendor.example.evil.test")
    assert allow.allows("198.51.100.77") and allow.allows("198.51.100.77:8443") and not allow.allows("198.51.101.1")
    assert allow.allows("[2001:db8::1]:443") and allow.allows("2001:db8::1") and not allow.allows("2001:db8::2")
    assert not allow.allows("") and not allow.allows("evil-lims.lab.example")


def _flow(dst: str, **meta) -> FlowInfo:
    return FlowInfo(f"tcp 10.0.0.2:40000 > {dst}:443", "net", "tcp", "10.0.0.2", 40000, dst, 443,
                    destination=meta.pop("destination", dst), meta=meta)


def test_a_name_is_believed_only_where_someone_the_rig_trusts_vouched_for_the_address():
    """The instrument writes the server name and the Host: naming the allowed LIMS while sending to its
    own server must not make the flow allowed."""
    allow = AllowList(["lims.lab.example", "192.0.2.53"])
    named = {"destination": "lims.lab.example", "sni": "lims.lab.example", "names": ["lims.lab.example"]}
    assert not allow.allows_flow(_flow("203.0.113.66", **named))                      # nobody vouched
    assert allow.judge(_flow("203.0.113.66", **named)).unverified
    assert allow.judge(_flow("203.0.113.66", **named)).name == "203.0.113.66"
    bench = [["lims.lab.example", "10.20.0.1"]]                                       # the lab's resolver
    assert allow.allows_flow(_flow("203.0.113.66", resolved=bench, **named))
    assert allow.allows_flow(_flow("203.0.113.66", resolved=[["x.lims.lab.example", "192.0.2.53"]]))  # listed resolver
    rogue = [["lims.lab.example", "198.51.100.53"]]                                   # one on the internet
    assert not allow.allows_flow(_flow("203.0.113.66", resolved=rogue, **named))
    # every name it claims must be allowed: an allowed address does not vouch for an unlisted Host
    fronted = {**named, "names": ["lims.lab.example", "drop.evil.example"]}
    assert not allow.allows_flow(_flow("203.0.113.66", resolved=bench, **fronted))
    assert not allow.judge(_flow("203.0.113.66", resolved=bench, **fronted)).unverified
    assert not allow.allows_flow(_flow("203.0.113.66", resolved=bench, names_more=True, **named))
    assert allow.allows_flow(_flow("192.0.2.53", **fronted))                          # the address itself listed


def test_a_proxy_the_rig_trusts_vouches_for_the_name_it_was_asked_for():
    allow = AllowList(["lims.lab.example"])
    asked = {"destination": "lims.lab.example", "names": ["lims.lab.example"], "proxied": ["lims.lab.example"]}
    assert allow.allows_flow(_flow("127.0.0.1", **asked))                             # the rig's own proxy
    assert not allow.allows_flow(_flow("203.0.113.66", **asked))                      # anyone's "proxy"
    elsewhere = {**asked, "proxied": ["drop.evil.example"]}                           # CONNECT evil, Host: lims
    assert not allow.allows_flow(_flow("127.0.0.1", **elsewhere))
    assert allow.judge(_flow("127.0.0.1", **elsewhere)).name == "drop.evil.example"     # never by the name it claims
    assert allow.judge(_flow("203.0.113.66", **asked)).name == "203.0.113.66"          # an untrusted proxy's word


def test_a_replay_believes_the_names_its_dns_answers_vouch_for_and_no_other(gen_run, gen_index, tmp_path):
    """The LIMS at the address the bench resolver gave is allowed; the same name sent to other
    addresses (TLS server name, HTTP Host) is not, and its findings are named by those addresses."""
    import os

    from sandbox.captures.writer import PcapngWriter
    from sandbox.correlate import Correlator
    from sandbox.replay import replay
    from sandbox.simulate import wire
    from sandbox.simulate.traffic import Bench

    sealed = os.urandom(2 * Correlator([gen_index]).opaque_threshold)
    pcap = tmp_path / "spoof.pcapng"
    with PcapngWriter(pcap) as w:
        bench = Bench(w)
        bench.resolve("lims.lab.example", "198.51.100.10")
        for addr in ("198.51.100.10", "203.0.113.66"):              # the LIMS, then someone else's server
            conv = bench.connect((addr, 443))
            conv.send(wire.client_hello("lims.lab.example", os.urandom(32), os.urandom(32)))
            conv.send(wire.server_hello(os.urandom(32), os.urandom(32), b""), from_client=False)
            conv.send(wire.tls_record(wire.TLS_APPDATA, sealed))
            bench.close(conv)
        conv = bench.connect(("203.0.113.67", 80))
        conv.send(wire.http_request("POST", "/up", "lims.lab.example", body=sealed))
        bench.close(conv)
    report = replay([pcap], [gen_run.path], allow=["lims.lab.example"], cache_dir=tmp_path / "cache", jobs=1).report
    named = {(f["kind"], f["destination"]) for f in report["findings"] if f["severity"] != "info"}
    assert ("opaque-volume", "203.0.113.66") in named and ("opaque-volume", "203.0.113.67") in named
    assert not any(dest == "lims.lab.example" or dest == "198.51.100.10" for _, dest in named)
    spoofed = [f for f in report["findings"] if f["kind"] == "destination" and f["destination"] == "203.0.113.67"]
    assert spoofed[0]["detail"]["unverified_names"] == ["lims.lab.example"]
    assert report["verdict"] == "inconclusive" and not any(f["waived"] for f in report["findings"])


def test_a_waiver_by_name_holds_for_the_vouched_address_only(gen_run, tmp_path):
    """A profile waives run data to the LIMS (its sample sheet sync).  The same reads sent to another
    address under the LIMS's name are named the LIMS too, but marked unverified: they fail the test."""
    from sandbox.captures.writer import PcapngWriter
    from sandbox.replay import replay
    from sandbox.report.profile import Profile
    from sandbox.simulate import wire
    from sandbox.simulate.traffic import Bench

    reads = b"".join(b"@r%d\n%s\n+\n%s\n" % (n, r, b"I" * len(r)) for n, r in enumerate(gen_run.reads[SAMPLE][:40]))
    pcap = tmp_path / "waived.pcapng"
    with PcapngWriter(pcap) as w:
        bench = Bench(w)
        bench.resolve("lims.lab.example", "198.51.100.10")
        for addr in ("198.51.100.10", "203.0.113.67"):
            conv = bench.connect((addr, 80))
            conv.send(wire.http_request("POST", "/sync", "lims.lab.example", body=reads))
            bench.close(conv)
    profile = Profile.parse("[destinations]\nallowed = ['lims.lab.example']\n"
                            "[[waiver]]\ndestination = 'lims.lab.example'\nreason = 'LIMS sync, reviewed'")
    report = replay([pcap], [gen_run.path], cache_dir=tmp_path / "cache", jobs=1, profile=profile).report
    content = {f["flow"].split(" > ")[1]: f for f in report["findings"] if f["severity"] in ("medium", "high", "critical")}
    assert set(content) == {"198.51.100.10:80", "203.0.113.67:80"}
    assert content["198.51.100.10:80"]["waived"]["reason"] == "LIMS sync, reviewed"
    assert content["203.0.113.67:80"]["detail"]["unverified"] and content["203.0.113.67:80"]["waived"] is None
    assert report["verdict"] == "leak"
