"""Pages anyone may read: official statements, per community."""

from flask import Blueprint, render_template, request

from modsys.community import default_community
from modsys.queries import statements as list_statements
from web.context import db

bp = Blueprint("public", __name__)


@bp.route("/statements")
def statements():
    """`?community=SLUG` picks the community; without it, the default (or only) one."""
    community = default_community(db(), request.args.get("community") or None)
    return render_template("statements.html", statements=list_statements(db(), community.id),
                           public_community=community)
