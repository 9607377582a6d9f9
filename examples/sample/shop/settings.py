"""Configuration, from the environment."""

import os

DEBUG = False
PAGE_SIZE = 50
DATABASE_URL = os.environ["DATABASE_URL"]
SECRET_KEY = os.getenv("SECRET_KEY")
TIMEOUT = int(os.environ.get("SHOP_TIMEOUT", "30"))
