"""The list of blueprints the app registers, one per audience."""

import api.admin.registry  # noqa: F401  (routes on the admin blueprint)
from api.admin.routes import blp as admin_blp
from api.auth.routes import blp as auth_blp
from api.courier.routes import blp as courier_blp
from api.meta import blp as meta_blp

BLUEPRINTS = [meta_blp, auth_blp, admin_blp, courier_blp]
