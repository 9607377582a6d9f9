"""The shop's routes."""

from flask import Blueprint, jsonify
from flask_login import login_required

from shop import db

bp = Blueprint("orders", __name__)


@bp.route("/orders")
@login_required
def list_orders():
    """Every order of the customer."""
    return jsonify([])


@bp.post("/orders/<int:order_id>/cancel")
def cancel(order_id):
    return db.dump({"cancelled": order_id})


@bp.get("/health")
async def health():
    """Is the shop up?"""
    return "ok"
