"""Background jobs."""

import json
import subprocess

import httpx


async def fetch_rates(client: httpx.AsyncClient) -> dict:
    """Today's exchange rates."""
    response = await client.get("https://rates.example/today")
    return response.json()


def backup(target):
    subprocess.run(f"pg_dump shop > {target}", shell=True)


def compress(path):
    subprocess.run(["gzip", path], shell=False)


def report(rows):
    return json.dumps({"rows": rows})
