"""Admin views across users."""

from flask import Blueprint, render_template

from app.auth import admin_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/usage")
@admin_required
def usage():
    """Placeholder until the admin view lands."""
    return render_template("admin/usage.html")
