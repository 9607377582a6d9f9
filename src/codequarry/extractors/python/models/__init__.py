"""Data models: candidate classes per file (:mod:`.classes`), joined across files (:mod:`.graph`)
into ORM models and fields (:mod:`.orm`) and validation schemas (:mod:`.validation`) by one
operation (:mod:`.operations`)."""
