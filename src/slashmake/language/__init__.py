"""The chain language: text → tree.

``lexer`` splits a chain into tokens with spans, ``parser`` builds the frozen ``nodes`` tree,
``printer`` writes a tree back as text, ``deep`` runs deep nesting in a larger stack.

May import: ``slashmake.errors`` only.
"""
