"""WSGI entry point of the standalone sandbox. The settings are forced, not defaulted: a
product process (manage.py) exports its own DJANGO_SETTINGS_MODULE, and the standalone
sandbox must load nothing of the product."""

import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "partners.sandbox.standalone_settings"
# A full TikTok batch parses into ~100,000 small objects that all live to the end of the
# request: at the default threshold (700) the cyclic collector keeps re-scanning them and
# takes a third of the request's CPU time. This process makes few reference cycles.
gc.set_threshold(100_000, 50, 100)
application = get_wsgi_application()
