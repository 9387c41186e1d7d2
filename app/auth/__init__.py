from app.auth.routes import bp
from app.auth.session import admin_required, current_user, login_required

__all__ = ["bp", "admin_required", "current_user", "login_required"]
