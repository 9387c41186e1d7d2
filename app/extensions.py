"""Flask extensions, created unbound and bound in ``create_app``."""

from flask_htmx import HTMX
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from app.models_base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
htmx = HTMX()
