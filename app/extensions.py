"""Flask extensions, created unbound and bound in ``create_app``."""

from flask_htmx import HTMX
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from app.models_base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
htmx = HTMX()
# Every POST needs the session's token: the hidden ``csrf_token`` field of plain forms, or the
# ``X-CSRFToken`` header htmx sends (set once on ``<body hx-headers>``).
csrf = CSRFProtect()
