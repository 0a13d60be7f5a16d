"""A pytest plugin (pyproject.toml's ``-p``): the test run is development mode, whoever starts
it (``bin/test`` or ``python -m pytest``) and whatever the shell exports. Loaded before
pytest-django sets Django up; the servers and workers that tests start inherit it."""

import os

os.environ["DEBUG"] = "true"
