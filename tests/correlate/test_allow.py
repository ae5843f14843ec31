from __future__ import annotations

from sandbox.correlate import AllowList


def test_hosts_ips_cidrs():
    allow = AllowList(["lims.lab.example", "*.vendor.example", "198.51.100.0/24", "2001:db8::1", " "])
    assert allow and not AllowList([])
    assert allow.allows("lims.lab.example") and allow.allows("A.LIMS.lab.example.:443")
    assert allow.allows("x.vendor.example") and not allow.allows("vendor.example.evil.test")
    assert allow.allows("198.51.100.77") and allow.allows("198.51.100.77:8443") and not allow.allows("198.51.101.1")
    assert allow.allows("[2001:db8::1]:443") and allow.allows("2001:db8::1") and not allow.allows("2001:db8::2")
    assert not allow.allows("") and not allow.allows("evil-lims.lab.example")
