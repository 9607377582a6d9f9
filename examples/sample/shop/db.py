"""Queries, some of them built the wrong way."""

import json
import sqlite3


def connect(url):
    return sqlite3.connect(url)


def search(cur, term):
    cur.execute(f"SELECT id, note FROM orders WHERE note LIKE '%{term}%'")
    return cur.fetchall()


def count(cur):
    """How many orders there are."""
    cur.execute("SELECT count(*) FROM orders")
    return cur.fetchone()[0]


def dump(rows):
    return json.dumps(rows)
