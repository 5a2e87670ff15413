"""What both apps' web pages share: templates, the stylesheet and scripts (shipped in the
package, no CDN), the security headers, background tasks with progress, and the
drawing of a workflow's graph.

A foundation package: it knows HTML and no system; each app's pages live in
its own ``web/`` package and render through :class:`Pages`.
"""

from audiencehub.webui.diagram import graph_svg
from audiencehub.webui.pages import STATIC_URL, Pages, mount_static
from audiencehub.webui.security import SecurityHeaders
from audiencehub.webui.tasks import Task, Tasks

__all__ = ["STATIC_URL", "Pages", "SecurityHeaders", "Task", "Tasks", "graph_svg", "mount_static"]
