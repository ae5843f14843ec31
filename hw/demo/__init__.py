"""The live demo: a simulated instrument misbehaving through a running rig (``sandbox demo``).

``bench`` sets up what surrounds the rig (the cloud's servers, serial cables, the USB recording),
``instrument`` is the instrument playing a scenario with real clients, ``live`` runs one session and
holds its findings to the scenario's truth, ``console`` is what the terminal shows.
"""
