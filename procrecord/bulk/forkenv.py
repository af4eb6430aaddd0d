"""The first module a LocalCluster's fork server imports: it sets Dask's ``distributed.nanny.pre-spawn-environ``
variables (thread counts of BLAS libraries, say) in the server before ``distributed`` loads numpy, as the
Nanny sets them before a spawned worker starts. Importing it anywhere else changes that process's environment.

It runs in the server, not in the client, so that the client never imports ``dask`` just to read one
setting before it can start the server (a third of a second on the critical path of a cold run). As before,
this reads the user's configuration only (``distributed``'s own defaults load with ``distributed``), and a
variable read when a process starts (``MALLOC_TRIM_THRESHOLD_``) has no effect set this late.
"""

from __future__ import annotations

import os

import dask

for _name, _value in (dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}).items():
    if _value is not None:
        os.environ.setdefault(_name, str(_value))
