"""The user's keys: list, create, revoke."""

from flask import Blueprint, render_template

from app.auth import login_required

bp = Blueprint("keys", __name__, url_prefix="/keys")


@bp.get("")
@login_required
def index():
    """Placeholder until the key lifecycle lands."""
    return render_template("keys/index.html")
