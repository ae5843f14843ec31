"""The network tap: mitmproxy (in its own environment) with our addon, dumpcap, nftables, the rig's CA.

Nothing here may import from outside the standard library at module level when mitmproxy's
environment loads it: ``addon.py``, ``feed.py`` and ``reframe.py`` run inside mitmdump.
"""
