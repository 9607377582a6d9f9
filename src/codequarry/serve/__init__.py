"""The local web UI (`quarry serve`) and the services around a store (`quarry up/down/status/logs`)."""
