"""The call graph: per-file facts (:mod:`.facts`), a whole-corpus points-to solver (:mod:`.pointsto`,
refined by :mod:`.merge`) and the operation that writes ``call_edges`` (:mod:`.operation`)."""
