"""Shared test settings: Hypothesis profiles.

Pick one with the environment variable ``HYPOTHESIS_PROFILE``:

* ``default`` (when the variable is unset): 25 examples per property, random each run;
* ``ci``: the same 25 examples, but derandomized (the same examples every run, so a CI
  failure can be reproduced locally) and without the example database;
* ``thorough``: 500 examples per property, for a long run before a release.

Every profile sets ``deadline=None``: the first example of a property may spend seconds
compiling Numba kernels, and with ``NUMBA_DISABLE_JIT=1`` every example runs the kernels as
plain Python, so a per-example time limit would only produce false alarms.
"""

import os

from hypothesis import settings

settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile(
    "ci", max_examples=25, deadline=None, derandomize=True, database=None, print_blob=True
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
