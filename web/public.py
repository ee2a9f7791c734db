"""Pages anyone may read: official statements."""

from flask import Blueprint, render_template

from modsys.community import default_community
from modsys.queries import statements as list_statements
from web.context import db

bp = Blueprint("public", __name__)


@bp.route("/statements")
def statements():
    community = default_community(db())
    return render_template("statements.html", statements=list_statements(db(), community.id))
