"""The "DMJY videos" page of the Airflow UI (Airflow 3.1+): a connection's recent videos.

:mod:`.plugin` registers it (``airflow.plugins`` entry point ``dmjy_ui``): an external view in the
UI's Browse menu that frames the page the plugin's FastAPI app serves at ``/dmjy-ui/videos`` on the
api-server, behind Airflow's own login. :mod:`.app` is that app (built on its first request),
:mod:`.page` renders the HTML. Importing this package imports nothing else.
"""

from __future__ import annotations

__all__ = ["PAGE_PATH", "URL_PREFIX", "URL_ROUTE"]

#: Where the api-server mounts the page's app.
URL_PREFIX = "/dmjy-ui"
#: The page, relative to :data:`URL_PREFIX`.
PAGE_PATH = "/videos"
#: The UI's route to the page: ``<airflow>/plugin/dmjy-videos``.
URL_ROUTE = "dmjy-videos"
