"""The list of blueprints the app registers, one per audience."""

# These modules add their routes to the admin blueprint when imported.
import api.admin.dispatch
import api.admin.registry
import api.admin.report
import api.supervisor.review
from api.admin.routes import blp as admin_blp
from api.auth.routes import blp as auth_blp
from api.courier.routes import blp as courier_blp
from api.meta import blp as meta_blp
from api.official.routes import blp as official_blp
from api.supervisor.routes import blp as supervisor_blp

BLUEPRINTS = [meta_blp, auth_blp, admin_blp, courier_blp, supervisor_blp, official_blp]
__all__ = ["BLUEPRINTS", "api"]
