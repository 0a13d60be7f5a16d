"""WSGI entry point of the standalone sandbox. The settings are forced, not defaulted: a
product process (manage.py) exports its own DJANGO_SETTINGS_MODULE, and the standalone
sandbox must load nothing of the product."""

import os

from django.core.wsgi import get_wsgi_application

os.environ["DJANGO_SETTINGS_MODULE"] = "partners.sandbox.standalone_settings"
application = get_wsgi_application()
