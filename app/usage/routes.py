"""Usage per key or for all of the user's keys."""

from flask import Blueprint, render_template

from app.auth import login_required

bp = Blueprint("usage", __name__, url_prefix="/usage")


@bp.get("")
@login_required
def index():
    """Placeholder until the usage page lands."""
    return render_template("usage/index.html")
