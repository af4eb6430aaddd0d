"""The bulk machinery: loading sources, running operations (in-process or a pool; room for a
distributed executor beside ``engine``), writing outputs and reports."""
