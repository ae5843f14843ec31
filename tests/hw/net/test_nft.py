"""Transparent mode's redirect: installed in a namespace, removed whole."""

from __future__ import annotations

import os

from hw.net.nft import Redirect
from tests.hw.net.topology import bench


def test_the_redirect_goes_in_and_comes_out_of_its_namespace():
    with bench(f"sbx-net-nft{os.getpid() % 10000}") as b:
        r = Redirect(b.rig_iface, 8080, netns=b.rig, table="sbx_tap_test")
        r.check()
        r.install()
        listed = b.run(b.rig, ["nft", "list", "table", "inet", "sbx_tap_test"]).stdout
        assert f'iifname "{b.rig_iface}"' in listed and "redirect to :8080" in listed
        r.remove()
        r.remove()                                            # idempotent
        assert "sbx_tap_test" not in b.run(b.rig, ["nft", "list", "tables"]).stdout
