"""What a LocalCluster's fork server imports, once, before it forks any worker: Dask's pre-spawn
variables, then ``distributed`` and procrecord's worker modules, then a frozen heap. Importing it
anywhere else changes that process's environment and its garbage collector's state.

* ``distributed.nanny.pre-spawn-environ`` is set here before ``distributed`` loads numpy (thread
  counts of BLAS libraries, say), as the Nanny sets it before a spawned worker starts. It is read here,
  in the server, so that the client does not import ``dask`` just for it before it can start the server
  (a third of a CPU second on the critical path of a cold run). As before, this is the user's
  configuration only (``distributed``'s defaults load with ``distributed``), and a variable read when a
  process starts (``MALLOC_TRIM_THRESHOLD_``) has no effect set this late.
* ``gc.freeze()`` last: what is imported lives as long as the server and its workers, so the collector
  never walks it again. A fork server that imported ``distributed`` otherwise spends a fifth of a CPU
  second in its final collection when the run ends, while it still holds the client's stderr (a
  caller reading that pipe waits for it), and each worker the same when its Nanny closes it.
"""

from __future__ import annotations

import gc
import importlib
import os

import dask

for _name, _value in (dask.config.get("distributed.nanny.pre-spawn-environ", default=None) or {}).items():
    if _value is not None:
        os.environ.setdefault(_name, str(_value))

from procrecord.bulk.executors import WORKER_MODULES  # noqa: E402  (after the variables above)

for _module in WORKER_MODULES:
    importlib.import_module(_module)

gc.freeze()
