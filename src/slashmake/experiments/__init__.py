"""Experiments: the run record read back, compared, plotted, and a report's front page.

``ledger`` reads ``results/ledger.jsonl`` into pandas frames (a malformed line is skipped with a
warning naming it; rows of every schema read; ``ledger_arrow`` reads a large one's lines with
pyarrow where that gives the same frames), ``ledger_cache`` keeps those frames in
``.slashmake/ledger/`` so that a read parses only the lines appended since, ``stats`` holds the
intervals (t over seeds, paired bootstrap over examples), ``compare`` answers ``slashmake runs`` and
``slashmake compare``, ``plots`` draws them, and ``front`` writes a report's front page.

May import: ``execution`` and every stage below it; never ``api`` or ``interfaces``.
"""
