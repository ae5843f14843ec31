"""Archives of captures replayed on Dask distributed workers, with the report one replay gives.

``groups`` says which captures go together, ``worker`` replays one group, ``merge`` checks that the
groups shared nothing and merges them as one replay would, ``cluster`` drives it all on a Dask
cluster (``sandbox replay --cluster local[:N] | tcp://SCHEDULER ARCHIVE...``).
"""

from sandbox.archive.cluster import ArchiveResult, ClusterError, parse_cluster, replay_archive

__all__ = ["ArchiveResult", "ClusterError", "parse_cluster", "replay_archive"]
