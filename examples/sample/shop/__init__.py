"""The shop application."""

from flask import Flask

from shop.views import bp


def create_app() -> Flask:
    """Build the application with its blueprint mounted under /shop."""
    app = Flask(__name__)
    app.register_blueprint(bp, url_prefix="/shop")
    return app
